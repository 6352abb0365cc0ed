//! How one execution is told: the event delivered and the rule that matched, its states as
//! they happen (with the approval when it waits for one), the verdict, the containment, the
//! alert read back and the time to containment.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::plumbing::{indent, post, read_queue, truncate};
use super::{Demo, Missing};

impl Demo<'_> {
    /// A scene's heading.
    pub(super) fn step(&self, n: &str, title: &str) {
        println!("\n{} {}", self.st.bold(n), self.st.bold(title));
    }

    /// Deliver `event` on `bus` as EventBridge would; when it was sent, the rule that matched
    /// and the incident id.
    pub(super) async fn deliver(
        &self,
        bus: &str,
        event: &Value,
        what: &str,
    ) -> Result<(Instant, cordon_stack::RuleMatch, String), Missing> {
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

    /// Follow an execution's history as it happens; approve when it waits for a decision.
    /// Returns the final DescribeExecution and the time from `sent` to the end of Quarantine.
    pub(super) async fn follow(
        &self,
        arn: &str,
        sent: Instant,
        approve_incident: Option<&str>,
    ) -> Result<(Value, Option<Duration>), Missing> {
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

    /// Approve as the local approver through the function URL, once the approval request is
    /// in the approvals queue; the approver also revokes the role's sessions.
    async fn approve(&self, execution_arn: &str, incident_id: &str) -> Result<(), Missing> {
        let st = self.st;
        let file = self.file();
        match read_queue(
            self.stack.aws_config(),
            &file.approvals_queue_url,
            "approval request",
        )
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

    /// The classification of the case file: the verdict and every reason with its points.
    pub(super) fn show_verdict(&self, output: &Value) {
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

    /// The containment actions of the case file, each with its status.
    pub(super) fn show_containment(&self, output: &Value) {
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

    /// The alert read back, the time to containment, and what is missing: no alert, or an
    /// execution that did not succeed.
    pub(super) async fn conclude(
        &self,
        scene: &str,
        done: &Value,
        contained_at: Option<Duration>,
        alert_label: &str,
        time_note: &str,
    ) -> Missing {
        let st = self.st;
        let mut missing = Vec::new();
        match read_queue(
            self.stack.aws_config(),
            &self.file().alerts_queue_url,
            "alert",
        )
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
