//! Response benchmarks of the whole offline stack, printed as a Markdown table:
//! - time to contain (event in → quarantine policy attached in moto), p50/p95 over
//!   `BENCH_CONTAIN` (100) events sent one after another, for the stack's own account and,
//!   alternating with it, for a member account of an organization-mode stack (contained
//!   through its responder role), with the ratio;
//! - a burst of `BENCH_BURST` (1,000) CreateUser events delivered at once (concurrently, as
//!   EventBridge does): throughput, statuses, contained users, events lost; every failed
//!   execution by error, every failed attempt on the way (throttling retried by the ASL) by
//!   state and error, the most sandboxes each function ran at once;
//! - each Rust function's cold init (process start → first Runtime API poll, from the Lambda
//!   host's record) and warm latency, beside the Python/boto3 lab handler
//!   (`../shared/peers/python-lab/lambda_function.py`, run from there with the project
//!   virtualenv's `python -m awslambdaric`) under the same host, against the same moto.
//!
//! `cargo build --profile bench-local -p enrich -p classify -p request-approval -p approve
//! -p quarantine -p notify && cargo run --profile bench-local -p cordon-e2e --bin response-bench`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cordon_e2e::{Scenario, create_user_event};
use cordon_engine::LambdaInvoker;
use cordon_stack::{EventRouter, Outcome};
use serde_json::{Value, json};

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn admin_user(s: &Scenario, admin: &str, name: &str) {
    s.create_user(name).await;
    s.iam
        .attach_user_policy()
        .user_name(name)
        .policy_arn(admin)
        .send()
        .await
        .expect("AttachUserPolicy");
}

async fn contained(s: &Scenario, user: &str) -> bool {
    s.user_policies(user)
        .await
        .iter()
        .any(|p| p == s.quarantine_policy_arn())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let n_contain = env_n("BENCH_CONTAIN", 100);
    let n_burst = env_n("BENCH_BURST", 1000);
    let n_warm = env_n("BENCH_WARM", 50);
    let n_cold = env_n("BENCH_COLD", 5);

    let s = Scenario::start().await;
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let admin = s
        .iam
        .create_policy()
        .policy_name("AdministratorAccess")
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    println!("# cordon response benchmark (offline stack)\n");
    println!(
        "bin dir: the function binaries beside this executable; moto {}",
        s.stack.endpoints().aws
    );

    // ---------------------------------------------------------------- time to contain
    // Beside this single-account stack, an organization-mode stack: its member-account
    // incidents are looked up in Organizations and contained through the member's responder
    // role (one AssumeRole per incident). The two alternate, event by event, so both see the
    // same machine.
    let org = Scenario::start_with(cordon_stack::StackOptions {
        organization: true,
        ..cordon_stack::StackOptions::default()
    })
    .await;
    let member = cordon_moto::organization::PRODUCTION_ACCOUNT;
    let member_iam = org.iam_in(member).await;
    let member_admin = member_iam
        .create_policy()
        .policy_name("AdministratorAccess")
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let member_deny = format!("arn:aws:iam::{member}:policy/cordon-quarantine-deny-all");
    let org_bus = org
        .stack
        .info()
        .organization
        .as_ref()
        .unwrap()
        .event_bus_name
        .clone();
    let mut contain = Vec::new();
    let mut contain_member = Vec::new();
    let mut first_arn = None;
    for i in 0..n_contain {
        let user = format!("tmp-admin-c{i}");
        admin_user(&s, &admin, &user).await;
        let event = create_user_event(&user, &format!("00000000-0000-4000-8000-c{i:011}"));
        let t0 = Instant::now();
        let arn = s.send_new(&event).await;
        loop {
            if contained(&s, &user).await {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "{user} not contained"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        contain.push(t0.elapsed());
        s.wait_terminal(&arn).await;
        first_arn.get_or_insert(arn);

        // The same incident in the member account, forwarded to the organization bus.
        member_iam
            .create_user()
            .user_name(&user)
            .send()
            .await
            .unwrap();
        member_iam
            .attach_user_policy()
            .user_name(&user)
            .policy_arn(&member_admin)
            .send()
            .await
            .unwrap();
        let text = create_user_event(&user, &format!("00000000-0000-4000-8000-m{i:011}"))
            .to_string()
            .replace(cordon_moto::ACCOUNT_ID, member);
        let event: Value = serde_json::from_str(&text).unwrap();
        let t0 = Instant::now();
        let routed = org.stack.send_on(&org_bus, &event).await.unwrap();
        let arn = routed.matches[0].execution_arn.clone();
        loop {
            let attached = member_iam
                .list_attached_user_policies()
                .user_name(&user)
                .send()
                .await
                .unwrap();
            if attached
                .attached_policies()
                .iter()
                .any(|p| p.policy_arn() == Some(member_deny.as_str()))
            {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "{user} not contained in {member}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        contain_member.push(t0.elapsed());
        org.wait_terminal(&arn).await;
    }
    org.stop().await;
    contain.sort();
    contain_member.sort();
    println!("\n## Time to contain ({n_contain} events each, one at a time, alternating)\n");
    println!("| incident | p50 | p95 | max |\n|---|---|---|---|");
    for (label, d) in [
        ("single-account (its own account)", &contain),
        (
            "organization: member account via cordon-responder",
            &contain_member,
        ),
    ] {
        println!(
            "| {label} | {} | {} | {} |",
            ms(pct(d, 0.5)),
            ms(pct(d, 0.95)),
            ms(*d.last().unwrap_or(&Duration::ZERO))
        );
    }
    println!(
        "\nmember / single-account, p50: {:.2}x; p95: {:.2}x",
        pct(&contain_member, 0.5).as_secs_f64() / pct(&contain, 0.5).as_secs_f64().max(1e-9),
        pct(&contain_member, 0.95).as_secs_f64() / pct(&contain, 0.95).as_secs_f64().max(1e-9)
    );

    // ---------------------------------------------------------------- warm latency, payloads
    // The payload each function got in a real run (the Task's Parameters.Payload).
    let history = s.history(first_arn.as_ref().unwrap()).await;
    let mut payloads: BTreeMap<String, Value> = BTreeMap::new();
    for e in &history {
        if let Some(p) = e["taskScheduledEventDetails"]["parameters"].as_str() {
            let p: Value = serde_json::from_str(p).unwrap_or(Value::Null);
            if let Some(f) = p["FunctionName"].as_str() {
                let name = f.rsplit(':').next().unwrap().to_string();
                payloads.entry(name).or_insert(p["Payload"].clone());
            }
        }
    }

    // ---------------------------------------------------------------- burst
    let mut users = Vec::new();
    let setup = Instant::now();
    for i in 0..n_burst {
        let user = format!("tmp-admin-b{i}");
        admin_user(&s, &admin, &user).await;
        users.push(user);
    }
    eprintln!("burst setup: {n_burst} users in {:?}", setup.elapsed());
    let host = s.stack.lambda_host().clone();
    let function_names: Vec<String> = s
        .stack
        .functions()
        .values()
        .map(|arn| arn.rsplit(':').next().unwrap().to_string())
        .collect();
    let cold_before = host.cold_starts().len();
    // The most sandboxes (processes) each function ran at once during the burst.
    let peak: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (host, peak, sampling, names) = (
            host.clone(),
            peak.clone(),
            sampling.clone(),
            function_names.clone(),
        );
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                for name in &names {
                    let live = host.live_sandboxes(name);
                    let mut peak = peak.lock().unwrap();
                    let p = peak.entry(name.clone()).or_default();
                    *p = (*p).max(live);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // Every event delivered at once, as EventBridge does: each delivery starts the intake,
    // which starts the response named after the incident.
    let t0 = Instant::now();
    let t0_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let router = EventRouter::new(s.stack.rules().to_vec(), s.stack.state_machines().clone());
    let mut delivering = tokio::task::JoinSet::new();
    for (i, user) in users.iter().enumerate() {
        let event = create_user_event(user, &format!("00000000-0000-4000-8000-b{i:011}"));
        let (router, engine) = (router.clone(), s.stack.engine().clone());
        delivering.spawn(async move { router.send(&engine, &event).await });
    }
    let deliveries = delivering.join_all().await;
    let sent = t0.elapsed();
    let mut arns = Vec::new();
    let mut undelivered: BTreeMap<String, usize> = BTreeMap::new();
    for d in deliveries {
        match d {
            Ok(r) if r.matches.len() == 1 && r.matches[0].outcome == Outcome::Started => {
                arns.push(r.matches[0].execution_arn.clone());
            }
            Ok(r) => *undelivered.entry(format!("{r:?}")).or_default() += 1,
            Err(e) => *undelivered.entry(e.to_string()).or_default() += 1,
        }
    }
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    // Every execution that did not succeed, by its error: never hidden behind a count.
    let mut failures: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut last_stop = t0_epoch;
    for arn in &arns {
        let d = s.wait_terminal(arn).await;
        last_stop = last_stop.max(d["stopDate"].as_f64().unwrap_or(t0_epoch));
        let status = d["status"].as_str().unwrap_or_default().to_string();
        if status != "SUCCEEDED" {
            let cause = d["cause"].as_str().unwrap_or_default();
            let e = failures
                .entry(format!(
                    "{status} {}",
                    d["error"].as_str().unwrap_or_default()
                ))
                .or_insert((
                    0,
                    format!("{arn}: {}", cause.chars().take(600).collect::<String>()),
                ));
            e.0 += 1;
        }
        *statuses.entry(status).or_default() += 1;
    }
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    // From the first delivery to the last execution's stopDate (the engine's own record).
    let all_done = Duration::from_secs_f64((last_stop - t0_epoch).max(0.0));
    let mut n_contained = 0;
    let mut uncontained = Vec::new();
    for user in &users {
        if contained(&s, user).await {
            n_contained += 1;
        } else {
            uncontained.push(user.as_str());
        }
    }
    // What the executions went through on the way: every failed attempt (retried or caught),
    // by state and error, from the histories.
    // Also: the most failed attempts one execution made in one state (the retrier allows
    // MaxAttempts), and when each user was contained (Quarantine's task succeeded), counted
    // from the first delivery.
    let mut attempts: BTreeMap<String, usize> = BTreeMap::new();
    let mut most_in_one_state = (0, String::new());
    let mut contained_at = Vec::new();
    for arn in &arns {
        let history = s.history(arn).await;
        let mut state = String::new();
        let mut in_state = 0;
        for e in &history {
            if let Some(name) = e["stateEnteredEventDetails"]["name"].as_str() {
                state = name.to_string();
                in_state = 0;
            }
            if state == "Quarantine" && e["type"] == "TaskSucceeded" {
                let at = e["timestamp"].as_f64().unwrap_or(t0_epoch) - t0_epoch;
                contained_at.push(Duration::from_secs_f64(at.max(0.0)));
            }
            let kind = e["type"].as_str().unwrap_or_default();
            if kind == "ExecutionFailed"
                || !(kind.ends_with("Failed") || kind.ends_with("TimedOut"))
            {
                continue;
            }
            let error = e
                .as_object()
                .into_iter()
                .flat_map(|o| o.iter())
                .find_map(|(k, v)| {
                    k.ends_with("EventDetails")
                        .then(|| v["error"].as_str())
                        .flatten()
                })
                .unwrap_or("?");
            *attempts
                .entry(format!("{state}: {kind} {error}"))
                .or_default() += 1;
            in_state += 1;
            if in_state > most_in_one_state.0 {
                most_in_one_state = (in_state, format!("{state} of {arn}"));
            }
        }
    }
    contained_at.sort();
    let mut cold_burst: BTreeMap<String, usize> = BTreeMap::new();
    for c in &host.cold_starts()[cold_before..] {
        *cold_burst.entry(c.function.clone()).or_default() += 1;
    }
    let delivered = arns.len();
    println!("\n## Burst ({n_burst} CreateUser events delivered at once)\n");
    println!(
        "| delivered in | all executions ended in | throughput | statuses | contained | lost (not delivered) |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {:.2} s | {:.2} s | {:.1} incidents/s | {:?} | {n_contained}/{n_burst} | {} |",
        sent.as_secs_f64(),
        all_done.as_secs_f64(),
        n_burst as f64 / all_done.as_secs_f64(),
        statuses,
        n_burst - delivered
    );
    for (error, n) in &undelivered {
        println!("\n- not delivered: {n} × {error}");
    }
    for (error, (n, example)) in &failures {
        println!("\n- {n} × {error}; e.g. {example}");
    }
    if !uncontained.is_empty() {
        println!(
            "\n- not contained: {} (first: {:?})",
            uncontained.len(),
            &uncontained[..uncontained.len().min(10)]
        );
    }
    println!("\nFailed attempts on the way (retried or caught), from the histories:\n");
    if attempts.is_empty() {
        println!("- none");
    }
    for (what, n) in &attempts {
        println!("- {n} × {what}");
    }
    if most_in_one_state.0 > 0 {
        println!(
            "\nMost failed attempts of one execution in one state: {} ({})",
            most_in_one_state.0, most_in_one_state.1
        );
    }
    println!(
        "\nContained (Quarantine succeeded), from the first delivery: p50 {}, p95 {}, last {} ({} users)",
        ms(pct(&contained_at, 0.5)),
        ms(pct(&contained_at, 0.95)),
        ms(contained_at.last().copied().unwrap_or_default()),
        contained_at.len()
    );
    println!("\n| function | most sandboxes at once | cold starts |\n|---|---|---|");
    for name in &function_names {
        println!(
            "| {name} | {} | {} |",
            peak.lock().unwrap().get(name).copied().unwrap_or(0),
            cold_burst.get(name).copied().unwrap_or(0)
        );
    }

    // ---------------------------------------------------------------- functions vs python
    let root = cordon_stack::find_root().unwrap();
    let lab_dir: PathBuf = root.join("../shared/peers/python-lab");
    let python = root.join(".venv/bin/python");
    let info = s.stack.info().clone();
    let lab_spec = || {
        cordon_lambda_host::FunctionSpec {
            args: vec![
                "-m".into(),
                "awslambdaric".into(),
                "lambda_function.lambda_handler".into(),
            ],
            task_root: Some(lab_dir.clone()),
            handler: "lambda_function.lambda_handler".into(),
            ..cordon_lambda_host::FunctionSpec::new("python-lab", python.clone())
        }
        .timeout(Duration::from_secs(30))
        .env("PYTHONPATH", lab_dir.display().to_string())
        .env("SNS_TOPIC_ARN", &info.alerts_topic_arn)
        .env("QUARANTINE_POLICY_ARN", &info.quarantine_policy_arn)
        .env("AWS_ENDPOINT_URL", &info.endpoints.aws)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", &info.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &info.secret_access_key)
        .env("AWS_EC2_METADATA_DISABLED", "true")
    };
    let lab_available = python.is_file() && lab_dir.join("lambda_function.py").is_file();
    let lab_user = "tmp-admin-lab";
    admin_user(&s, &admin, lab_user).await;
    let lab_event = create_user_event(lab_user, "00000000-0000-4000-8000-1ab000000001");
    payloads.insert("python-lab".into(), lab_event);

    let rust = [
        ("enrich", "cordon-enrich"),
        ("classify", "cordon-classify"),
        ("quarantine", "cordon-quarantine"),
        ("notify", "cordon-notify"),
    ];
    let mut rows: Vec<(String, Duration, Duration, Duration, bool)> = Vec::new();
    let mut measure = |name: String, cold: Vec<Duration>, warm: Vec<Duration>, ok: bool| {
        let mut cold = cold;
        let mut warm = warm;
        cold.sort();
        warm.sort();
        rows.push((name, pct(&cold, 0.5), pct(&warm, 0.5), pct(&warm, 0.95), ok));
    };
    let mut functions: Vec<(String, String)> = rust
        .iter()
        .map(|(b, n)| (b.to_string(), n.to_string()))
        .collect();
    if lab_available {
        functions.push(("python-lab".into(), "python-lab".into()));
    } else {
        println!(
            "\n(python lab not run: needs .venv/bin/python with boto3 and awslambdaric, and {})",
            lab_dir.display()
        );
    }
    for (binary, name) in functions {
        let payload = serde_json::to_vec(&payloads[&name]).unwrap();
        let mut cold = Vec::new();
        let mut ok = true;
        for _ in 0..n_cold {
            // Re-registering kills the idle sandboxes: the next invocation starts cold.
            if binary == "python-lab" {
                host.register(lab_spec()).unwrap();
            } else {
                s.repoint_function(&binary, &info.endpoints.aws, None);
            }
            let before = host.cold_starts().len();
            let r = host.invoke(&name, payload.clone()).await.unwrap();
            ok &= r.function_error.is_none();
            if let Some(c) = host.cold_starts()[before..]
                .iter()
                .find(|c| c.function == name)
            {
                cold.push(c.duration);
            }
        }
        let mut warm = Vec::new();
        for _ in 0..n_warm {
            let t = Instant::now();
            let r = host.invoke(&name, payload.clone()).await.unwrap();
            warm.push(t.elapsed());
            if r.function_error.is_some() {
                ok = false;
                eprintln!("{name}: {}", String::from_utf8_lossy(&r.payload));
            }
        }
        measure(name, cold, warm, ok);
    }
    println!(
        "\n## Functions: cold init and warm latency ({n_cold} cold starts, {n_warm} warm invocations each)\n"
    );
    println!("| function | cold init p50 | warm p50 | warm p95 | all succeeded |");
    println!("|---|---|---|---|---|");
    for (name, cold, w50, w95, ok) in &rows {
        println!(
            "| {name} | {} | {} | {} | {ok} |",
            ms(*cold),
            ms(*w50),
            ms(*w95)
        );
    }
    if let Some(lab) = rows.iter().find(|r| r.0 == "python-lab").cloned() {
        println!("\n## Ratios (python lab ÷ Rust function)\n");
        println!("| function | cold init | warm p50 |\n|---|---|---|");
        let mut chain_warm = Duration::ZERO;
        for (name, cold, w50, _, _) in rows.iter().filter(|r| r.0 != "python-lab") {
            chain_warm += *w50;
            println!(
                "| {name} | {:.1}× | {:.1}× |",
                lab.1.as_secs_f64() / cold.as_secs_f64().max(1e-9),
                lab.2.as_secs_f64() / w50.as_secs_f64().max(1e-9)
            );
        }
        println!(
            "| enrich+classify+quarantine+notify (warm, summed) vs the lab's one handler | | {:.2}× |",
            lab.2.as_secs_f64() / chain_warm.as_secs_f64().max(1e-9)
        );
    }
    s.stop().await;
}
