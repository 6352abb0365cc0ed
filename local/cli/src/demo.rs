//! `cordon demo`: the whole flow offline, shown as it happens, and checked in the simulated
//! account afterwards. Exit 0 only if every step really happened in moto.
//!
//! (a) an IAM user creates a suspicious user through the IAM API; the CloudTrail event built
//!     from that call is routed; the execution is followed state by state; the verdict, the
//!     containment actions and the alert (read back from the alerts queue) are shown;
//! (b) a GuardDuty credential-exfiltration finding asks for approval; the approval request is
//!     read from the approvals queue; a listed approver approves through the local function
//!     URL; the execution completes;
//! (c) organization mode: the same attack in a member account is forwarded to the central
//!     bus and contained in that account through its `cordon-responder` role, while a user of
//!     the same name in the security account stays untouched.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cordon_stack::{ASSERTED_CALLER_HEADER, DEFAULT_BUS, Stack, StackFile, StackOptions};
use serde_json::{Value, json};

use crate::audit::style::Style;
use crate::inject::{
    Caller, GdSubject, create_user_as, guardduty_event, runtime, simulate_create_user,
};

#[derive(clap::Args)]
pub struct Args {
    /// The response policy file (default: infra/policy.example.json).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Where the function binaries are (default: beside this executable).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// The suspicious user the attacker creates.
    #[arg(long, default_value = "service-x7k2qa")]
    pub user: String,
}

const EXFIL_TYPE: &str = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS";
const EXFIL_ROLE: &str = "web-app-role";
const EXFIL_PROFILE: &str = "web-app";
/// The stack's quarantine instance profile (the template's default name).
const QUARANTINE_INSTANCE_PROFILE: &str = "cordon-quarantine-instance";
const EXFIL_SEVERITY: f64 = 5.0;
/// Scene (c): the user the attacker creates in the member account, a name a colleague in the
/// security account has too.
const MEMBER_USER: &str = "support2";
const MEMBER_ATTACKER: &str = "contractor-dev";

pub fn run(args: Args) -> ExitCode {
    // Function and stack logs would drown the story: only warnings, unless RUST_LOG says more.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,cordon_lambda_host::function=off")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cordon demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let st = Style::for_stdout();
        let t = Instant::now();
        println!("{}", st.bold("cordon demo: automated incident response for identity threats, offline"));
        println!("{}", st.dim("starting moto_server (with an offline organization), the local Step Functions engine and the six function binaries..."));
        let options = StackOptions {
            policy_file: args.policy.clone(),
            bin_dir: args.bin_dir.clone(),
            // Scene (c) needs the offline organization; (a) and (b) happen in the security
            // account, where the stack runs.
            organization: true,
            ..StackOptions::default()
        };
        let stack = match Stack::start(options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cordon demo: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "stack ready in {:.1} s  (Step Functions {}, AWS {}, approve URL {})",
            t.elapsed().as_secs_f64(),
            stack.endpoints().stepfunctions,
            stack.endpoints().aws,
            stack.endpoints().approve
        );
        println!(
            "policy: {}",
            args.policy.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "infra/policy.example.json".into())
        );
        let demo = Demo { stack: &stack, st };
        let outcome = tokio::select! {
            r = demo.run(&args) => r,
            _ = crate::stack::wait_for_stop_signal() => Err(vec!["interrupted".to_string()]),
        };
        stack.stop().await;
        match outcome {
            Ok(()) => {
                println!("\n{}", st.green(&st.bold("every step happened in the simulated account: demo passed")));
                ExitCode::SUCCESS
            }
            Err(missing) => {
                println!("\n{}", st.red(&st.bold("demo failed; missing:")));
                for m in missing {
                    println!("  - {m}");
                }
                ExitCode::FAILURE
            }
        }
    })
}

struct Demo<'a> {
    stack: &'a Stack,
    st: Style,
}

impl Demo<'_> {
    fn file(&self) -> &StackFile {
        self.stack.info()
    }

    fn step(&self, n: &str, title: &str) {
        println!("\n{} {}", self.st.bold(n), self.st.bold(title));
    }

    async fn run(&self, args: &Args) -> Result<(), Vec<String>> {
        let mut missing = Vec::new();
        if let Err(m) = self.part_a(&args.user).await {
            missing.extend(m);
        }
        if let Err(m) = self.part_b().await {
            missing.extend(m);
        }
        if let Err(m) = self.part_c().await {
            missing.extend(m);
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }

    async fn part_a(&self, user: &str) -> Result<(), Vec<String>> {
        let st = self.st;
        let file = self.file();
        self.step("(a)", "an IAM user creates a suspicious user");
        println!(
            "{} ({}, long-term access key {}) calls iam:CreateUser {} through the IAM API,",
            file.attacker.user_name,
            file.attacker.arn,
            file.attacker.access_key_id,
            st.bold(user)
        );
        println!(
            "then attaches AdministratorAccess to it and creates an access key (persistence)."
        );
        let event = simulate_create_user(file, user, true)
            .await
            .map_err(|e| vec![format!("CreateUser in moto: {e}")])?;
        println!(
            "{}",
            st.dim("CloudTrail event (EventBridge envelope), built from that call:")
        );
        let d = &event["detail"];
        let summary = json!({
            "source": event["source"], "detail-type": event["detail-type"],
            "detail": {
                "eventID": d["eventID"], "eventTime": d["eventTime"], "eventName": d["eventName"],
                "userIdentity": d["userIdentity"], "sourceIPAddress": d["sourceIPAddress"],
                "userAgent": d["userAgent"], "requestParameters": d["requestParameters"],
                "responseElements": d["responseElements"], "requestID": d["requestID"],
            }
        });
        println!(
            "{}",
            indent(&serde_json::to_string_pretty(&summary).unwrap_or_default())
        );
        let (sent, m, _) = self
            .deliver(DEFAULT_BUS, &event, "the CreateUser event")
            .await?;
        let (done, contained_at) = self.follow(&m.execution_arn, sent, None).await?;
        let output = output_of(&done);
        self.show_verdict(&output);
        self.show_containment(&output);
        let mut missing = self
            .conclude(
                "(a)",
                &done,
                contained_at,
                "alert (read back from the alerts queue):",
                "",
            )
            .await;
        missing.extend(self.verify_user(user).await);
        if missing.is_empty() {
            println!("{}", st.green(&format!("verified in IAM: {user} is quarantined (policy attached, tagged, keys inactive)")));
            Ok(())
        } else {
            Err(missing)
        }
    }

    async fn part_b(&self) -> Result<(), Vec<String>> {
        let st = self.st;
        self.step(
            "(b)",
            "a GuardDuty credential-exfiltration finding that needs approval",
        );
        let iam = aws_sdk_iam::Client::new(self.stack.aws_config());
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        iam.create_role()
            .role_name(EXFIL_ROLE)
            .assume_role_policy_document(trust)
            .send()
            .await
            .map_err(|e| {
                vec![format!(
                    "CreateRole {EXFIL_ROLE}: {}",
                    aws_sdk_iam::error::DisplayErrorContext(e)
                )]
            })?;
        // Three web servers run on the role: revoking its sessions would stop all three.
        let ec2 = aws_sdk_ec2::Client::new(self.stack.aws_config());
        let servers = web_servers(&iam, &ec2).await.map_err(|e| vec![e])?;
        let mut event = guardduty_event(
            self.stack.aws_config(),
            EXFIL_TYPE,
            EXFIL_SEVERITY,
            &GdSubject::Role(EXFIL_ROLE.into()),
            None,
        )
        .await
        .map_err(|e| vec![e])?;
        // The credentials leaked from the first of them.
        let leaked = servers[0].clone();
        event["detail"]["resource"]["instanceDetails"]["instanceId"] = json!(leaked);
        let principal = event["detail"]["resource"]["accessKeyDetails"]["principalId"]
            .as_str()
            .and_then(|p| p.split_once(':'))
            .map(|(role_id, _)| format!("{role_id}:{leaked}"));
        event["detail"]["resource"]["accessKeyDetails"]["principalId"] = json!(principal);
        println!(
            "{EXFIL_ROLE} runs 3 instances ({}; two in Auto Scaling group web-app); the credentials of {leaked} were used from 198.51.100.77",
            servers.join(", ")
        );
        println!(
            "GuardDuty: {} severity {} on instance role {} (finding {})",
            st.bold(EXFIL_TYPE),
            EXFIL_SEVERITY,
            EXFIL_ROLE,
            event["detail"]["id"].as_str().unwrap_or("")
        );
        let (sent, m, incident_id) = self
            .deliver(DEFAULT_BUS, &event, "the GuardDuty finding")
            .await?;
        let execution_arn = m.execution_arn.clone();
        let (done, contained_at) = self
            .follow(&execution_arn, sent, Some(&incident_id))
            .await?;
        let output = output_of(&done);
        self.show_verdict(&output);
        if let Some(a) = output.get("approval") {
            let how = if a["verified"] == true {
                "verified by AWS"
            } else {
                "identity locally asserted, not verified: offline"
            };
            println!(
                "{} {} by {} ({how})",
                st.bold("approval:"),
                st.status(a["decision"].as_str().unwrap_or("?")),
                a["approver"].as_str().unwrap_or("-"),
            );
        }
        self.show_containment(&output);
        let mut missing = self
            .conclude(
                "(b)",
                &done,
                contained_at,
                "alert:",
                " (including the human decision)",
            )
            .await;
        missing.extend(self.verify_role(&output, &servers).await);
        if missing.is_empty() {
            println!(
                "{}",
                st.green(&format!(
                    "verified in IAM and EC2: {EXFIL_ROLE}'s sessions issued before the approval are denied (the approver chose it); {leaked} has the quarantine instance profile; the two other servers are untouched"
                ))
            );
            Ok(())
        } else {
            Err(missing)
        }
    }

    /// Follow an execution's history as it happens; approve when it waits for a decision.
    /// Returns the final DescribeExecution and the time from `sent` to the end of Quarantine.
    async fn follow(
        &self,
        arn: &str,
        sent: Instant,
        approve_incident: Option<&str>,
    ) -> Result<(Value, Option<Duration>), Vec<String>> {
        let st = self.st;
        let engine = self.stack.engine();
        let mut seen = 0usize;
        let mut contained_at = None;
        let mut approved = false;
        let limit = Instant::now();
        loop {
            let history = engine
                .call(
                    "GetExecutionHistory",
                    json!({"executionArn": arn, "maxResults": 1000}),
                )
                .await
                .map_err(|e| vec![format!("GetExecutionHistory: {e}")])?;
            let events = history["events"].as_array().cloned().unwrap_or_default();
            for ev in events.iter().skip(seen) {
                let ty = ev["type"].as_str().unwrap_or("");
                let at = format!("{:>6.2}s", sent.elapsed().as_secs_f64());
                if let Some(d) = ev.get("stateEnteredEventDetails") {
                    println!(
                        "  {} {} {}",
                        st.dim(&at),
                        st.dim("enter"),
                        d["name"].as_str().unwrap_or("")
                    );
                } else if let Some(d) = ev.get("stateExitedEventDetails") {
                    let name = d["name"].as_str().unwrap_or("");
                    println!("  {} {} {}", st.dim(&at), st.dim("exit "), name);
                    if name == "Quarantine" && contained_at.is_none() {
                        contained_at = Some(sent.elapsed());
                    }
                } else if ty.ends_with("Failed") || ty.ends_with("TimedOut") {
                    let detail = ev
                        .as_object()
                        .and_then(|o| o.iter().find(|(k, _)| k.ends_with("EventDetails")))
                        .map(|(_, v)| {
                            format!(
                                "{} {}",
                                v["error"].as_str().unwrap_or(""),
                                v["cause"].as_str().unwrap_or("")
                            )
                        })
                        .unwrap_or_default();
                    println!(
                        "  {} {} {}",
                        st.dim(&at),
                        st.red(ty),
                        truncate(&detail, 300)
                    );
                } else if ty == "TaskSubmitted" && approve_incident.is_some() && !approved {
                    println!(
                        "  {} {}",
                        st.dim(&at),
                        st.yellow("waiting for a human decision (task token)")
                    );
                }
            }
            seen = events.len();
            let d = engine
                .call("DescribeExecution", json!({"executionArn": arn}))
                .await
                .map_err(|e| vec![format!("DescribeExecution: {e}")])?;
            if d["status"] != "RUNNING" {
                println!(
                    "  execution {}",
                    st.status(d["status"].as_str().unwrap_or("?"))
                );
                return Ok((d, contained_at));
            }
            if let Some(incident) = approve_incident {
                let waiting = events.iter().any(|e| e["type"] == "TaskSubmitted");
                if waiting && !approved {
                    approved = true;
                    self.approve(arn, incident).await?;
                }
            }
            if limit.elapsed() > Duration::from_secs(180) {
                return Err(vec![format!("{arn} still RUNNING after 180 s")]);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn approve(&self, execution_arn: &str, incident_id: &str) -> Result<(), Vec<String>> {
        let st = self.st;
        let file = self.file();
        match self
            .read_queue(&file.approvals_queue_url, "approval request")
            .await
        {
            Some((subject, message)) => {
                println!(
                    "{} {}",
                    st.bold("approval request (read from the approvals queue):"),
                    subject
                );
                println!("{}", indent(&message_summary(&message)));
            }
            None => {
                return Err(vec![
                    "(b) no approval request reached the approvals queue".into(),
                ]);
            }
        }
        println!(
            "approving incident {incident_id} as {} through the local function URL {}",
            st.bold(&file.local_approver_arn),
            file.endpoints.approve
        );
        println!("{}", st.dim("(offline, the caller identity is asserted in a header; in AWS the URL's AWS_IAM auth proves it)"));
        println!(
            "{}",
            st.dim("the approver reads the blast radius and chooses to revoke the role's sessions as well (cordon approve --revoke-role-sessions): the stolen credentials stop working now, the other servers fetch fresh ones")
        );
        let body = json!({
            "executionArn": execution_arn,
            "decision": "approved",
            "reason": "cordon demo: credentials used from outside AWS, confirmed",
            "revokeRoleSessions": true,
        });
        let (status, answer) = post(
            &file.endpoints.approve,
            &file.local_approver_arn,
            &body.to_string(),
        )
        .await
        .map_err(|e| vec![format!("approve URL: {e}")])?;
        println!(
            "approve function answered {status}: {}",
            truncate(&answer, 400)
        );
        if !(200..300).contains(&status) {
            return Err(vec![format!(
                "(b) the approval was refused ({status}): {answer}"
            )]);
        }
        Ok(())
    }

    fn show_verdict(&self, output: &Value) {
        let st = self.st;
        let Some(c) = output.get("classification") else {
            println!("{}", st.red("no classification in the case file"));
            if let Some(f) = output.get("failure") {
                println!("failure: {f}");
            }
            return;
        };
        println!(
            "{} {} (severity {}, score {})",
            st.bold("verdict:"),
            st.bold(c["verdict"].as_str().unwrap_or("?")),
            c["severity"].as_str().unwrap_or("?"),
            c["score"]
        );
        for r in c["reasons"].as_array().into_iter().flatten() {
            println!(
                "  {:>+4}  {:<24} {}",
                r["points"].as_i64().unwrap_or(0),
                r["rule"].as_str().unwrap_or(""),
                r["detail"].as_str().unwrap_or("")
            );
        }
    }

    fn show_containment(&self, output: &Value) {
        let st = self.st;
        let Some(c) = output.get("containment") else {
            return;
        };
        println!(
            "{}{}",
            st.bold("containment:"),
            if c["dryRun"] == true {
                " (dry run)"
            } else {
                ""
            }
        );
        for a in c["actions"].as_array().into_iter().flatten() {
            println!(
                "  {:<8} {:<22} {} {}",
                st.status(a["status"].as_str().unwrap_or("?")),
                a["action"].as_str().unwrap_or(""),
                a["target"].as_str().unwrap_or(""),
                st.dim(a["detail"].as_str().unwrap_or(""))
            );
        }
    }

    /// One message from a queue subscribed to a topic: (Subject, Message) of the SNS envelope.
    async fn read_queue(&self, url: &str, what: &str) -> Option<(String, String)> {
        let sqs = aws_sdk_sqs::Client::new(self.stack.aws_config());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(1)
                .wait_time_seconds(1)
                .send()
                .await
                .ok()?;
            if let Some(m) = out.messages().first() {
                if let Some(h) = m.receipt_handle() {
                    let _ = sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(h)
                        .send()
                        .await;
                }
                let body = m.body().unwrap_or_default();
                let env: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                let subject = env["Subject"]
                    .as_str()
                    .unwrap_or("(no subject)")
                    .to_string();
                let message = env["Message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| body.to_string());
                return Some((subject, message));
            }
        }
        tracing::warn!(queue = url, "no {what} within 15 s");
        None
    }

    /// IAM reads: the quarantine policy attached, the tag set, every access key inactive.
    /// Deliver `event` on `bus` as EventBridge would; when it was sent, the rule that matched
    /// and the incident id.
    async fn deliver(
        &self,
        bus: &str,
        event: &Value,
        what: &str,
    ) -> Result<(Instant, cordon_stack::RuleMatch, String), Vec<String>> {
        let sent = Instant::now();
        let routed = self
            .stack
            .send_on(bus, event)
            .await
            .map_err(|e| vec![format!("routing: {e}")])?;
        let Some(m) = routed.matches.first().cloned() else {
            return Err(vec![format!(
                "{what} matched no EventBridge rule on bus {bus}"
            )]);
        };
        println!(
            "EventBridge rule {} matched → execution {}",
            self.st.bold(&m.rule),
            self.st.dim(&m.execution_arn)
        );
        let incident_id = m.incident_id.clone();
        Ok((sent, m, incident_id))
    }

    /// The alert read back, the time to containment, and what is missing: no alert, or an
    /// execution that did not succeed.
    async fn conclude(
        &self,
        scene: &str,
        done: &Value,
        contained_at: Option<Duration>,
        alert_label: &str,
        time_note: &str,
    ) -> Vec<String> {
        let st = self.st;
        let mut missing = Vec::new();
        match self
            .read_queue(&self.file().alerts_queue_url, "alert")
            .await
        {
            Some((subject, message)) => {
                println!("{} {}", st.bold(alert_label), subject);
                println!("{}", indent(&message_summary(&message)));
            }
            None => missing.push(format!("{scene} no alert reached the alerts queue")),
        }
        if let Some(at) = contained_at {
            println!(
                "{} {:.2} s{time_note}",
                st.bold("time from event to containment:"),
                at.as_secs_f64()
            );
        }
        if done["status"] != "SUCCEEDED" {
            missing.push(format!(
                "{scene} the execution ended {}",
                done["status"].as_str().unwrap_or("?")
            ));
        }
        missing
    }

    async fn verify_user(&self, user: &str) -> Vec<String> {
        let iam = aws_sdk_iam::Client::new(self.stack.aws_config());
        verify_quarantined("(a)", &iam, &self.file().quarantine_policy_arn, user).await
    }

    /// Scene (c): the same attack in a member account, contained there through its responder
    /// role, while a same-named user in the security account stays as it was.
    async fn part_c(&self) -> Result<(), Vec<String>> {
        use cordon_moto::organization::{ACCESS_ROLE, config_in_account};
        let st = self.st;
        let file = self.file();
        let Some(org) = &file.organization else {
            return Err(vec!["(c) the stack has no organization".into()]);
        };
        let member = &org.members[0];
        self.step(
            "(c)",
            &format!(
                "the same attack in member account {} ({}), answered from the security account {}",
                member.id, member.name, file.account_id
            ),
        );
        let fail = |what: &str, e: &dyn std::fmt::Display| vec![format!("(c) {what}: {e}")];
        // A colleague in the security account has the same user name.
        let here = aws_sdk_iam::Client::new(self.stack.aws_config());
        here.create_user()
            .user_name(MEMBER_USER)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("Team")
                    .value("platform")
                    .build()
                    .map_err(|e| fail("tag", &e))?,
            )
            .send()
            .await
            .map_err(|e| {
                fail(
                    "CreateUser in the security account",
                    &aws_sdk_iam::error::DisplayErrorContext(e),
                )
            })?;
        // The attacker: a contractor with a long-term key in the member account.
        let admin = config_in_account(self.stack.aws_config(), &member.id, ACCESS_ROLE)
            .await
            .map_err(|e| fail("reaching the member account", &e))?;
        let member_iam = aws_sdk_iam::Client::new(&admin);
        let created = member_iam
            .create_user()
            .user_name(MEMBER_ATTACKER)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "CreateUser contractor",
                    &aws_sdk_iam::error::DisplayErrorContext(e),
                )
            })?;
        let created = created
            .user()
            .ok_or_else(|| fail("CreateUser", &"no user"))?;
        let key = member_iam
            .create_access_key()
            .user_name(MEMBER_ATTACKER)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "CreateAccessKey",
                    &aws_sdk_iam::error::DisplayErrorContext(e),
                )
            })?;
        let key = key
            .access_key()
            .ok_or_else(|| fail("CreateAccessKey", &"no key"))?;
        let creds = aws_credential_types::Credentials::from_keys(
            key.access_key_id(),
            key.secret_access_key(),
            None,
        );
        let caller = Caller {
            config: admin
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(creds),
                )
                .build(),
            account: member.id.clone(),
            region: file.region.clone(),
            user: cordon_stack::Principal {
                user_name: MEMBER_ATTACKER.into(),
                arn: created.arn().to_string(),
                access_key_id: key.access_key_id().to_string(),
                secret_access_key: key.secret_access_key().to_string(),
            },
            principal_id: created.user_id().to_string(),
        };
        println!(
            "{} (long-term key, account {}) creates {} with AdministratorAccess and a key;",
            MEMBER_ATTACKER,
            member.id,
            st.bold(MEMBER_USER)
        );
        println!(
            "a colleague in the security account {} is also called {MEMBER_USER}.",
            file.account_id
        );
        let event = create_user_as(&caller, MEMBER_USER, true)
            .await
            .map_err(|e| fail("CreateUser in the member account", &e))?;
        println!(
            "the member's us-east-1 rule (infra/member.yaml) forwards the CloudTrail event to the bus {}",
            st.bold(&org.event_bus_name)
        );
        let (sent, m, _) = self
            .deliver(&org.event_bus_name, &event, "(c) the forwarded event")
            .await?;
        let (done, contained_at) = self.follow(&m.execution_arn, sent, None).await?;
        let output = output_of(&done);
        let scope = &output["enrichment"]["scope"];
        println!(
            "{} incident in account {}, reached through {} ({})",
            st.bold("scope:"),
            output["incident"]["account"].as_str().unwrap_or("?"),
            scope["access"].as_str().unwrap_or("?"),
            scope["detail"].as_str().unwrap_or("")
        );
        self.show_verdict(&output);
        self.show_containment(&output);
        let mut missing = self
            .conclude("(c)", &done, contained_at, "alert:", "")
            .await;
        let member_policy = format!(
            "arn:aws:iam::{}:policy/cordon-quarantine-deny-all",
            member.id
        );
        missing.extend(verify_quarantined("(c)", &member_iam, &member_policy, MEMBER_USER).await);
        // The security account's same-named user: exactly as it was.
        let untouched = async {
            let policies = here
                .list_attached_user_policies()
                .user_name(MEMBER_USER)
                .send()
                .await
                .ok()?;
            let tags = here
                .list_user_tags()
                .user_name(MEMBER_USER)
                .send()
                .await
                .ok()?;
            let tags: Vec<(String, String)> = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            Some(
                policies.attached_policies().is_empty()
                    && tags == [("Team".to_string(), "platform".to_string())],
            )
        };
        if untouched.await != Some(true) {
            missing.push(format!(
                "(c) {MEMBER_USER} in the security account {} was changed",
                file.account_id
            ));
        }
        if missing.is_empty() {
            println!(
                "{}",
                st.green(&format!(
                    "verified in IAM: {MEMBER_USER} is quarantined in {} (through cordon-responder); {MEMBER_USER} in {} is untouched",
                    member.id, file.account_id
                ))
            );
            Ok(())
        } else {
            Err(missing)
        }
    }
}

/// IAM reads: `policy` attached to `user`, the quarantine tag, every key inactive.
async fn verify_quarantined(
    scene: &str,
    iam: &aws_sdk_iam::Client,
    policy: &str,
    user: &str,
) -> Vec<String> {
    {
        let mut missing = Vec::new();
        match iam
            .list_attached_user_policies()
            .user_name(user)
            .send()
            .await
        {
            Ok(p)
                if p.attached_policies()
                    .iter()
                    .any(|a| a.policy_arn() == Some(policy)) => {}
            Ok(_) => missing.push(format!("{scene} {policy} is not attached to {user}")),
            Err(e) => missing.push(format!("{scene} ListAttachedUserPolicies {user}: {e}")),
        }
        match iam.list_user_tags().user_name(user).send().await {
            Ok(t)
                if t.tags().iter().any(|t| {
                    t.key() == cordon_core::record::TAG_SECURITY_STATUS
                        && t.value() == cordon_core::record::SECURITY_STATUS_QUARANTINED
                }) => {}
            Ok(_) => missing.push(format!(
                "{scene} {user} has no SecurityStatus=Quarantined tag"
            )),
            Err(e) => missing.push(format!("{scene} ListUserTags {user}: {e}")),
        }
        match iam.list_access_keys().user_name(user).send().await {
            Ok(k) if k.access_key_metadata().is_empty() => {
                missing.push(format!("{scene} {user} has no access key to deactivate (the simulation should have created one)"))
            }
            Ok(k) => {
                for key in k.access_key_metadata() {
                    if key.status().map(|s| s.as_str()) != Some("Inactive") {
                        missing.push(format!("{scene} access key {} of {user} is still active", key.access_key_id().unwrap_or("?")));
                    }
                }
            }
            Err(e) => missing.push(format!("{scene} ListAccessKeys {user}: {e}")),
        }
        missing
    }
}

impl Demo<'_> {
    /// IAM reads: an inline policy on the role denies sessions issued before the approval.
    async fn verify_role(&self, output: &Value, servers: &[String]) -> Vec<String> {
        let iam = aws_sdk_iam::Client::new(self.stack.aws_config());
        let ec2 = aws_sdk_ec2::Client::new(self.stack.aws_config());
        let mut missing = Vec::new();
        let quarantine = format!(
            "arn:aws:iam::{}:instance-profile/{QUARANTINE_INSTANCE_PROFILE}",
            cordon_moto::ACCOUNT_ID
        );
        for (n, id) in servers.iter().enumerate() {
            let now = instance_profile(&ec2, id).await;
            let want_quarantined = n == 0;
            if (now.as_deref() == Some(quarantine.as_str())) != want_quarantined {
                missing.push(format!(
                    "(b) {id} has instance profile {}, expected {}",
                    now.as_deref().unwrap_or("none"),
                    if want_quarantined {
                        "the quarantine profile"
                    } else {
                        "its own (untouched)"
                    }
                ));
            }
        }
        if output.get("containment").is_none() {
            missing.push("(b) nothing was contained (no containment in the case file)".to_string());
            return missing;
        }
        match iam.list_role_policies().role_name(EXFIL_ROLE).send().await {
            Ok(p) if p.policy_names().is_empty() => {
                missing.push(format!("(b) {EXFIL_ROLE} has no inline deny policy"))
            }
            Ok(p) => {
                let mut found = false;
                for name in p.policy_names() {
                    if let Ok(doc) = iam
                        .get_role_policy()
                        .role_name(EXFIL_ROLE)
                        .policy_name(name)
                        .send()
                        .await
                    {
                        let text = cordon_core::text::percent_decode(doc.policy_document());
                        if text.contains("aws:TokenIssueTime") && text.contains("Deny") {
                            found = true;
                        }
                    }
                }
                if !found {
                    missing.push(format!(
                        "(b) no inline policy of {EXFIL_ROLE} denies by aws:TokenIssueTime"
                    ));
                }
            }
            Err(e) => missing.push(format!("(b) ListRolePolicies {EXFIL_ROLE}: {e}")),
        }
        missing
    }
}

fn output_of(done: &Value) -> Value {
    done["output"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// What a person needs from a queued message: its headline, the commands it offers and its
/// console links. The message itself is the machine-readable JSON form (the SQS subscriber
/// receives the `sqs` key of the SNS message); anything else is shown as it is.
fn message_summary(message: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(message) else {
        return message.to_string();
    };
    let mut out = Vec::new();
    if let Some(h) = v["headline"].as_str() {
        out.push(h.to_string());
    }
    if let Some(b) = v["blastRadius"].as_str() {
        out.push(format!("blast radius: {b}"));
    }
    for open in v["stillOpen"].as_array().into_iter().flatten() {
        if let Some(line) = open.as_str() {
            out.push(format!("still open: {line}"));
        }
    }
    if let Some(d) = v["deadline"].as_str() {
        out.push(format!(
            "decide by {d} (then: {})",
            v["default"].as_str().unwrap_or("the policy default")
        ));
    }
    if let Some(commands) = v["commands"].as_object() {
        for c in commands.values().filter_map(Value::as_str) {
            out.push(format!("$ {c}"));
        }
    }
    for l in v["links"].as_array().into_iter().flatten() {
        if let (Some(n), Some(u)) = (l["name"].as_str(), l["url"].as_str()) {
            out.push(format!("{n}: {u}"));
        }
    }
    if out.is_empty() {
        return message.to_string();
    }
    out.join("\n")
}

/// Three running web servers on `web-app-role` (two in an Auto Scaling group), IMDSv1 allowed.
async fn web_servers(
    iam: &aws_sdk_iam::Client,
    ec2: &aws_sdk_ec2::Client,
) -> Result<Vec<String>, String> {
    use aws_sdk_ec2::types::{
        HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataOptionsRequest,
        ResourceType, Tag, TagSpecification,
    };
    let fail = |what: &str, e: String| format!("{what}: {e}");
    iam.create_instance_profile()
        .instance_profile_name(EXFIL_PROFILE)
        .send()
        .await
        .map_err(|e| {
            fail(
                "CreateInstanceProfile",
                aws_sdk_iam::error::DisplayErrorContext(e).to_string(),
            )
        })?;
    iam.add_role_to_instance_profile()
        .instance_profile_name(EXFIL_PROFILE)
        .role_name(EXFIL_ROLE)
        .send()
        .await
        .map_err(|e| {
            fail(
                "AddRoleToInstanceProfile",
                aws_sdk_iam::error::DisplayErrorContext(e).to_string(),
            )
        })?;
    let mut ids = Vec::new();
    for (name, group) in [
        ("web-app-1", Some("web-app")),
        ("web-app-2", Some("web-app")),
        ("web-app-3", None),
    ] {
        let mut tags = TagSpecification::builder()
            .resource_type(ResourceType::Instance)
            .tags(Tag::builder().key("Name").value(name).build());
        if let Some(group) = group {
            tags = tags.tags(
                Tag::builder()
                    .key("aws:autoscaling:groupName")
                    .value(group)
                    .build(),
            );
        }
        let out = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(EXFIL_PROFILE)
                    .build(),
            )
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Optional)
                    .build(),
            )
            .tag_specifications(tags.build())
            .send()
            .await
            .map_err(|e| {
                fail(
                    "RunInstances",
                    aws_sdk_ec2::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        ids.extend(
            out.instances()
                .iter()
                .filter_map(|i| i.instance_id())
                .map(str::to_string),
        );
    }
    Ok(ids)
}

/// The instance profile associated with `instance` now.
async fn instance_profile(ec2: &aws_sdk_ec2::Client, instance: &str) -> Option<String> {
    let out = ec2
        .describe_iam_instance_profile_associations()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-id")
                .values(instance)
                .build(),
        )
        .send()
        .await
        .ok()?;
    out.iam_instance_profile_associations()
        .iter()
        .find_map(|a| a.iam_instance_profile()?.arn().map(str::to_string))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// POST JSON to the local function URL with the asserted caller header (plain HTTP on
/// loopback).
async fn post(url: &str, caller: &str, body: &str) -> Result<(u16, String), String> {
    let client = reqwest::Client::new();
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .header(ASSERTED_CALLER_HEADER, caller)
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let text = r.text().await.map_err(|e| e.to_string())?;
    Ok((status, text))
}
