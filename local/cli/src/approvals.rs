//! `cordon pending` / `approve` / `reject`: human decisions on pending incidents.
//!
//! A decision goes to the approve function URL, never straight to `SendTaskSuccess`: the
//! function checks the approver against the policy (approver list, two-person rule) and writes
//! the decision, with who made it, into the execution history. On AWS the request is signed
//! with SigV4 (service `lambda`, `AWS_IAM` auth), so AWS tells the function who the caller is.
//! Offline nobody can verify it: the caller is *asserted* in a header, and the function
//! records the decision as not verified.

use std::process::ExitCode;

use chrono::Duration;
use serde_json::{Value, json};

use crate::audit::http::{Sfn, signed_post};
use crate::audit::render::{subject_label, ts};
use crate::audit::style::Style;
use crate::audit::timeline::Timeline;
use crate::audit::{TargetArgs, block_on, fetch_timeline, resolve_execution};

/// The header carrying the asserted caller ARN to the offline approve function URL (the local
/// server puts it where AWS puts the verified caller: the request context).
pub const ASSERTED_CALLER_HEADER: &str = "x-cordon-asserted-caller";

#[derive(clap::Args)]
pub struct PendingArgs {
    /// JSON array, one object per pending incident.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(clap::Args)]
pub struct DecideArgs {
    /// The incident id (CloudTrail eventID, GuardDuty finding id) or the execution ARN.
    #[arg(value_name = "INCIDENT")]
    pub incident: String,
    /// Why: written into the execution history with the decision.
    #[arg(long)]
    pub reason: String,
    /// Offline only: the approver identity to assert [default: the stack's local approver].
    #[arg(long = "as", value_name = "ARN")]
    pub as_arn: Option<String>,
    /// Leaked instance credentials: also revoke every current session of the instance role,
    /// interrupting the other instances that use it (the approval request says how many).
    #[arg(long, conflicts_with = "keep_role_sessions")]
    pub revoke_role_sessions: bool,
    /// Leaked instance credentials: contain the instance only, never revoke the role's
    /// sessions, whatever the policy's threshold says.
    #[arg(long)]
    pub keep_role_sessions: bool,
    /// Print the function's answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub enum Verdict {
    Approve,
    Reject,
}

/// A pending incident as `cordon pending` shows it.
pub fn pending_row(t: &Timeline) -> Option<Value> {
    let (_, attempt) = t.waiting_approval()?;
    let incident = t.incident();
    let classification = t.classification();
    let timeout = attempt
        .timeout_seconds
        .or(classification.as_ref().map(|c| c.approval_timeout_seconds));
    let deadline = timeout.map(|s| attempt.scheduled_at + Duration::seconds(s as i64));
    Some(json!({
        "incidentId": incident.as_ref().map(|i| i.id.clone()),
        "account": incident.as_ref().map(|i| i.account.clone()),
        "region": incident.as_ref().map(|i| i.region.clone()),
        "subject": incident.as_ref().map(|i| subject_label(&i.subject)),
        "verdict": classification.as_ref().map(|c| format!("{:?}", c.verdict).to_lowercase()),
        "severity": classification.as_ref().map(|c| format!("{:?}", c.severity).to_lowercase()),
        "score": classification.as_ref().map(|c| c.score),
        "reasons": classification.as_ref().map(|c| c.reasons.iter().map(|r| json!({"rule": r.rule, "points": r.points, "detail": r.detail})).collect::<Vec<_>>()).unwrap_or_default(),
        "requestedAt": ts(attempt.scheduled_at),
        "deadline": deadline.map(ts),
        "defaultOnTimeout": classification.as_ref().map(|c| format!("{:?}", c.approval_default).to_lowercase()),
        "executionArn": t.execution_arn,
    }))
}

/// `cordon pending` as text: one block per incident.
pub fn pending_text(rows: &[Value], st: &Style) -> String {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let mut o = String::new();
    for r in rows {
        o += &format!(
            "{}  {} in account {} ({})\n",
            st.bold(&s(r, "incidentId")),
            s(r, "subject"),
            s(r, "account"),
            s(r, "region")
        );
        o += &format!(
            "  severity {}, score {}\n",
            s(r, "severity"),
            r.get("score")
                .map(Value::to_string)
                .unwrap_or_else(|| "-".into())
        );
        if let Some(Value::Array(reasons)) = r.get("reasons") {
            for reason in reasons {
                o += &format!(
                    "  {:>+4}  {}: {}\n",
                    reason["points"].as_i64().unwrap_or(0),
                    s(reason, "rule"),
                    s(reason, "detail")
                );
            }
        }
        o += &format!(
            "  requested {}, deadline {} (then: {})\n",
            s(r, "requestedAt"),
            st.yellow(&s(r, "deadline")),
            s(r, "defaultOnTimeout")
        );
        o += &format!("  execution {}\n", st.dim(&s(r, "executionArn")));
        let id = s(r, "incidentId");
        o += &format!(
            "  decide: cordon approve {id} --reason \"...\"  |  cordon reject {id} --reason \"...\"\n\n"
        );
    }
    o
}

pub fn pending(args: PendingArgs) -> ExitCode {
    block_on("pending", async move {
        let target = args.target.resolve().await?;
        let sfn = Sfn::new(&target.sfn);
        let running = sfn
            .executions(&target.state_machine_arn, Some("RUNNING"), 1000)
            .await
            .map_err(|e| {
                format!(
                    "cannot list the executions of {}: {e}",
                    target.state_machine_arn
                )
            })?;
        let mut rows = Vec::new();
        for e in &running {
            let Some(arn) = e.get("executionArn").and_then(Value::as_str) else {
                continue;
            };
            let t = fetch_timeline(&sfn, arn, Some("RUNNING")).await?;
            rows.extend(pending_row(&t));
        }
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&Value::Array(rows)).unwrap_or_default()
            );
        } else if rows.is_empty() {
            println!("No incident is waiting for a decision.");
        } else {
            print!("{}", pending_text(&rows, &Style::for_stdout()));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The message in a function answer (`{"message": ...}`, `{"error": ...}`, or the text).
fn answer_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => v
            .get("message")
            .or_else(|| v.get("Message"))
            .or_else(|| v.get("error"))
            .or_else(|| v.get("errorMessage"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        Err(_) => body.trim().to_string(),
    }
}

pub fn decide(args: DecideArgs, verdict: Verdict) -> ExitCode {
    let what = match verdict {
        Verdict::Approve => "approve",
        Verdict::Reject => "reject",
    };
    block_on(what, async move {
        let target = args.target.resolve().await?;
        let st = Style::for_stdout();
        let url = target
            .approve_url
            .clone()
            .ok_or("the stack has no approve function URL (output ApproveUrl)")?;
        let sfn = Sfn::new(&target.sfn);
        let execution_arn = resolve_execution(&target, &sfn, &args.incident).await?;
        // The approve function's body is exactly {executionArn, decision, reason,
        // revokeRoleSessions?}: it refuses anything else, so that no field can pose as the
        // approver's identity.
        let mut body = json!({
            "executionArn": execution_arn,
            "decision": match verdict { Verdict::Approve => "approved", Verdict::Reject => "rejected" },
            "reason": args.reason,
        });
        if args.revoke_role_sessions || args.keep_role_sessions {
            if matches!(verdict, Verdict::Reject) {
                return Err(
                    "--revoke-role-sessions and --keep-role-sessions go with `cordon approve` only"
                        .into(),
                );
            }
            body["revokeRoleSessions"] = json!(args.revoke_role_sessions);
        }
        let mut headers = vec![("content-type", "application/json".to_string())];
        let (config, asserted) = if target.offline {
            let caller = args
                .as_arn
                .clone()
                .or(target.local_approver_arn.clone())
                .ok_or("no approver identity: pass --as ARN")?;
            headers.push((ASSERTED_CALLER_HEADER, caller.clone()));
            (&target.aws, Some(caller))
        } else {
            if args.as_arn.is_some() {
                return Err("--as is for the offline stack only: on AWS your identity is the one your credentials prove".into());
            }
            (&target.aws, None)
        };
        if let Some(caller) = &asserted {
            println!(
                "{}",
                st.yellow(&format!(
                    "offline: the decision is locally asserted as {caller} (nobody verifies it; the record says verified=false)"
                ))
            );
        }
        let (status, answer) = signed_post(
            config,
            "lambda",
            &url,
            &headers,
            body.to_string().into_bytes(),
        )
        .await?;
        if args.json {
            println!("{answer}");
        }
        let message = answer_message(&answer);
        match status {
            200..=299 => {
                if !args.json {
                    let word = match verdict {
                        Verdict::Approve => st.green("approved"),
                        Verdict::Reject => st.red("rejected"),
                    };
                    println!("{word}: {message}");
                    println!("execution {}", st.dim(&execution_arn));
                }
                Ok(ExitCode::SUCCESS)
            }
            403 => Err(format!("refused (403): {message}")),
            409 => Err(format!("not waiting for a decision (409): {message}")),
            _ => Err(format!("the approve function answered {status}: {message}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::fixtures::*;

    #[test]
    fn a_waiting_execution_is_pending_with_its_deadline() {
        let t = Timeline::from_history(EXECUTION_ARN, &waiting().events);
        let row = pending_row(&t).unwrap();
        assert_eq!(row["incidentId"], "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406");
        assert_eq!(row["subject"], "IAM user service-x7k2qa");
        assert_eq!(row["requestedAt"], "2026-03-14T02:47:21.607Z");
        assert_eq!(row["deadline"], "2026-03-14T03:47:21.607Z");
        assert_eq!(row["defaultOnTimeout"], "quarantine");
        assert_eq!(row["reasons"][1]["rule"], "suspicious-user-name");
        assert_eq!(
            pending_text(&[row], &Style::PLAIN),
            "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406  IAM user service-x7k2qa in account 123456789012 (us-east-1)\n\
             \x20 severity medium, score 65\n\
             \x20  +10  new-iam-user: IAM user service-x7k2qa created by arn:aws:iam::123456789012:user/devops-tools\n\
             \x20  +40  suspicious-user-name: service-x7k2qa matches ^service-[a-z0-9]{6}$\n\
             \x20  +15  creator-without-mfa: created with long-term access keys (no MFA)\n\
             \x20 requested 2026-03-14T02:47:21.607Z, deadline 2026-03-14T03:47:21.607Z (then: quarantine)\n\
             \x20 execution arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406\n\
             \x20 decide: cordon approve c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406 --reason \"...\"  |  cordon reject c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406 --reason \"...\"\n\n"
        );
    }

    #[test]
    fn finished_executions_are_not_pending() {
        let t = Timeline::from_history(EXECUTION_ARN, &quarantined().events);
        assert_eq!(pending_row(&t), None);
        // Running, but in a task that is not the approval (Enrich): not pending either.
        let mut h = History::new();
        h.ev(
            0,
            "ExecutionStarted",
            "executionStartedEventDetails",
            json!({"input": "{}"}),
        );
        h.enter(1, "Task", "Enrich", &json!({}))
            .scheduled(2, "invoke", None);
        assert_eq!(
            pending_row(&Timeline::from_history(EXECUTION_ARN, &h.events)),
            None
        );
    }

    #[test]
    fn the_function_answer_message_is_shown() {
        assert_eq!(
            answer_message(r#"{"message":"`arn:x` is not an approver"}"#),
            "`arn:x` is not an approver"
        );
        assert_eq!(answer_message("plain text\n"), "plain text");
    }
}
