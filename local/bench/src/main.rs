//! The engine benchmark: one 6-state machine (Pass → Choice → Task → Pass with
//! States.UUID/States.Format → Task → Succeed, tasks in-process) run 10,000 times on this
//! engine in memory, on this engine with the redb store, and on aws-local-stepfunctions 3.0.0
//! (Node ≥ 22) in the same invocation; then 10,000 executions waiting on task tokens (RSS) and
//! a restart with them pending.
//!
//! `cargo run --profile bench-local -p cordon-bench` (set `BENCH_N` to change 10,000). The
//! Node side lives in `$HOME/.cache/cordon/bench-node` (see BENCHMARKS.md for the install).

/// The allocator of the engine's hosting binary (`cordon`), so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_engine::{Engine, EngineConfig, InProcessLambdas, MemoryStore, Store};
use serde_json::{Value, json};

const DEFINITION: &str = r#"{
  "StartAt": "Start",
  "States": {
    "Start": {"Type": "Pass", "Parameters": {"id.$": "$.id", "kind.$": "$.kind"}, "Next": "Route"},
    "Route": {"Type": "Choice", "Choices": [{"Variable": "$.kind", "StringEquals": "odd", "Next": "Enrich"}], "Default": "Enrich"},
    "Enrich": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:enrich", "Next": "Label"},
    "Label": {"Type": "Pass", "Parameters": {"id.$": "$.id", "ref.$": "States.UUID()", "label.$": "States.Format('incident {} ({})', $.id, $.kind)"}, "Next": "Notify"},
    "Notify": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:notify", "Next": "Done"},
    "Done": {"Type": "Succeed"}
  }
}"#;

const TOKEN_DEFINITION: &str = r#"{
  "StartAt": "Ask",
  "States": {
    "Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "ask", "Payload": {"token.$": "$$.Task.Token"}}, "End": true}
  }
}"#;

fn lambdas() -> InProcessLambdas {
    InProcessLambdas::new()
        .with("enrich", |mut v: Value| async move {
            v["enriched"] = json!(true);
            Ok(v)
        })
        .with("notify", |v: Value| async move {
            Ok(json!({"notified": v["id"]}))
        })
        .with("ask", |_v: Value| async move { Ok(json!({})) })
}

async fn engine(store: Arc<dyn Store>) -> Engine {
    Engine::start(EngineConfig {
        store,
        lambda: Some(Arc::new(lambdas())),
        ..Default::default()
    })
    .await
    .expect("engine starts")
}

async fn create(engine: &Engine, name: &str, def: &str) -> String {
    engine
        .call("CreateStateMachine", json!({"name": name, "definition": def, "roleArn": "arn:aws:iam::123456789012:role/bench"}))
        .await
        .expect("state machine")["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Start `n` executions at once and wait for all; executions per second.
///
/// The driver runs as a task on the runtime, as the API server's handlers do: awaiting 10,000
/// join handles from the thread blocked in `main` would wake that thread (a futex call and a
/// context switch) once per execution, and measure the harness rather than the engine.
async fn run(engine: &Engine, n: usize) -> f64 {
    let sm = create(engine, "bench", DEFINITION).await;
    let engine = engine.clone();
    tokio::spawn(async move {
        let t = Instant::now();
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let engine = engine.clone();
            let sm = sm.clone();
            handles.push(tokio::spawn(async move {
                let input =
                    json!({"id": i, "kind": if i % 2 == 1 { "odd" } else { "even" }}).to_string();
                let out = engine
                    .call(
                        "StartExecution",
                        json!({"stateMachineArn": sm, "input": input}),
                    )
                    .await
                    .unwrap();
                let arn = out["executionArn"].as_str().unwrap();
                let status = engine.wait_for_status(arn).await.unwrap();
                assert_eq!(status, "SUCCEEDED", "{arn}");
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        n as f64 / t.elapsed().as_secs_f64()
    })
    .await
    .expect("benchmark driver")
}

/// Shut the engine down and wait until it and its store are gone, so that freeing them does
/// not overlap (and slow) the next measurement.
async fn close<S: Store + 'static>(engine: Engine, store: Arc<S>) {
    engine.shutdown().await;
    drop(engine);
    while Arc::strong_count(&store) > 1 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(store);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn node_dir() -> PathBuf {
    std::env::var_os("CORDON_BENCH_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/cordon/bench-node")
        })
}

fn aws_local_stepfunctions(n: usize) -> Result<f64, String> {
    let dir = node_dir();
    let node = dir.join("node_modules/node/bin/node");
    let modules = dir.join("node_modules");
    if !node.exists() || !modules.join("aws-local-stepfunctions").exists() {
        return Err(format!(
            "{} or aws-local-stepfunctions missing: npm install --prefix {} node@22 aws-local-stepfunctions@3.0.0",
            node.display(),
            dir.display()
        ));
    }
    let def = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(def.path(), DEFINITION).map_err(|e| e.to_string())?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js/als-bench.mjs");
    let out = std::process::Command::new(&node)
        .arg("--max-old-space-size=4096")
        .arg(&script)
        .arg(&modules)
        .arg(n.to_string())
        .arg(def.path())
        .output()
        .map_err(|e| format!("{}: {e}", node.display()))?;
    if !out.status.success() {
        return Err(format!(
            "aws-local-stepfunctions run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))?;
    v["perSecond"]
        .as_f64()
        .ok_or_else(|| format!("no perSecond in {v}"))
}

async fn token_waits(n: usize) -> (f64, f64, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.redb");
    let base = rss_mb();
    let first = engine(Arc::new(cordon_store::RedbStore::open(&path).unwrap())).await;
    let engine = first;
    let sm = create(&engine, "tokens", TOKEN_DEFINITION).await;
    let t = Instant::now();
    let mut arns = Vec::with_capacity(n);
    let mut handles = Vec::new();
    for _ in 0..n {
        let engine = engine.clone();
        let sm = sm.clone();
        handles.push(tokio::spawn(async move {
            engine
                .call(
                    "StartExecution",
                    json!({"stateMachineArn": sm, "input": "{}"}),
                )
                .await
                .unwrap()["executionArn"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    for h in handles {
        arns.push(h.await.unwrap());
    }
    // Wait until every execution has submitted its task (is waiting on its token).
    loop {
        let mut waiting = 0;
        for a in arns.iter().rev().take(50) {
            let h = engine
                .call(
                    "GetExecutionHistory",
                    json!({"executionArn": a, "reverseOrder": true, "maxResults": 1}),
                )
                .await
                .unwrap();
            if h["events"][0]["type"] == "TaskSubmitted" {
                waiting += 1;
            }
        }
        if waiting == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let setup = t.elapsed();
    let rss = rss_mb();
    engine.shutdown().await;
    drop(engine);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The engine is gone; the store file must be closed before it can be reopened.
    let t = Instant::now();
    let reopened = loop {
        match cordon_store::RedbStore::open(&path) {
            Ok(s) => break s,
            Err(e) if t.elapsed() < Duration::from_secs(5) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("reopen: {e}"),
        }
    };
    let t = Instant::now();
    let engine2 = self::engine(Arc::new(reopened)).await;
    let restart = t.elapsed();
    let d = engine2
        .call("DescribeExecution", json!({"executionArn": arns[0]}))
        .await
        .unwrap();
    assert_eq!(d["status"], "RUNNING");
    let _ = setup;
    (base, rss, setup, restart)
}

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    if std::env::args().nth(1).as_deref() == Some("tokens") {
        return tokens_main(n).await;
    }
    // BENCH_ONLY=durable (or memory) runs just that engine, for profiling.
    match std::env::var("BENCH_ONLY").as_deref() {
        Ok("memory") => {
            for _ in 0..rounds() {
                let before = rss_mb();
                let store = Arc::new(MemoryStore::new());
                let e = engine(store.clone()).await;
                let w = run(&e, n / 10).await;
                let r = run(&e, n).await;
                println!(
                    "cordon engine, in memory        : {r:>10.0} executions/s after a warm-up at {w:.0}/s (RSS {before:.0} -> {:.0} MB)",
                    rss_mb()
                );
                close(e, store).await;
            }
            return;
        }
        Ok("durable") => {
            let dir = tempfile::tempdir().unwrap();
            let store =
                Arc::new(cordon_store::RedbStore::open(dir.path().join("bench.redb")).unwrap());
            let r = run(&engine(store).await, n).await;
            return println!("cordon engine, redb (fsync'd)   : {r:>10.0} executions/s");
        }
        _ => {}
    }
    let rounds = rounds();
    println!(
        "engine benchmark: {n} executions of the 6-state machine per engine, {rounds} interleaved rounds (median), each after a warm-up of {} executions",
        n / 10
    );
    let (mut mems, mut durables, mut alss) = (Vec::new(), Vec::new(), Vec::new());
    let mut als_error = None;
    for round in 1..=rounds {
        let store = Arc::new(MemoryStore::new());
        let e = engine(store.clone()).await;
        run(&e, n / 10).await;
        let mem = run(&e, n).await;
        close(e, store).await;

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(cordon_store::RedbStore::open(dir.path().join("bench.redb")).unwrap());
        let e = engine(store.clone()).await;
        run(&e, n / 10).await;
        let durable = run(&e, n).await;
        close(e, store).await;

        let als = match aws_local_stepfunctions(n) {
            Ok(v) => format!("{v:.0}/s"),
            Err(err) => {
                als_error = Some(err);
                "not run".into()
            }
        };
        println!(
            "  round {round}: in memory {mem:.0}/s, redb {durable:.0}/s, aws-local-stepfunctions {als}"
        );
        mems.push(mem);
        durables.push(durable);
        if let Some(v) = als.strip_suffix("/s").and_then(|v| v.parse::<f64>().ok()) {
            alss.push(v);
        }
    }
    let (mem, durable) = (median(&mut mems), median(&mut durables));
    println!("cordon engine, in memory        : {mem:>10.0} executions/s");
    println!("cordon engine, redb (fsync'd)   : {durable:>10.0} executions/s");
    match als_error {
        None => {
            let als = median(&mut alss);
            println!("aws-local-stepfunctions 3.0.0   : {als:>10.0} executions/s");
            println!(
                "ratio in-memory / als           : {:>10.1}x (target >= 10x)",
                mem / als
            );
            println!(
                "ratio durable / als             : {:>10.1}x (target >= 2x)",
                durable / als
            );
        }
        Some(e) => println!("aws-local-stepfunctions: NOT RUN: {e}"),
    }

    // In a fresh process, so that RSS is not inflated by the runs above.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("tokens")
        .status()
        .unwrap();
    assert!(status.success(), "token-wait benchmark failed");
}

async fn tokens_main(n: usize) {
    let (base, rss, setup, restart) = token_waits(n).await;
    println!(
        "{n} executions waiting on task tokens (redb): RSS {rss:.0} MB (process before: {base:.0} MB; target <= 200 MB), set up in {:.2} s",
        setup.as_secs_f64()
    );
    println!(
        "restart with them pending (open + load + resume): {:.3} s (target <= 1 s)",
        restart.as_secs_f64()
    );
}
