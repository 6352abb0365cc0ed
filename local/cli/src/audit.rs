//! `cordon incidents` / `cordon history`: for auditors. Both read Step Functions (the
//! executions and their histories): the case file each execution builds is the record.

pub mod http;
pub mod render;
pub mod style;
pub mod timeline;

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::target::Target;
use http::Sfn;
use style::{Style, pad};
use timeline::{Timeline, event_time};

/// Which stack a command acts on (every approver/auditor command takes these).
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// Act on the stack deployed in AWS (default credentials and region) instead of the
    /// offline stack started by `cordon up`.
    #[arg(long)]
    pub aws: bool,
    /// The CloudFormation stack name (with --aws).
    #[arg(long, value_name = "NAME", requires = "aws")]
    pub stack_name: Option<String>,
}

impl TargetArgs {
    pub async fn resolve(&self) -> Result<Target, String> {
        Target::resolve(self.aws, self.stack_name.as_deref())
            .await
            .map_err(|e| e.to_string())
    }
}

#[derive(clap::Args)]
pub struct IncidentsArgs {
    /// How many of the most recent executions to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// One JSON object per incident, in an array.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// For a terminal.
    Text,
    /// The case file plus the timeline.
    Json,
    /// A report to paste.
    Markdown,
    /// A mermaid `flowchart` of the state machine, the path taken highlighted.
    Mermaid,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The incident id (CloudTrail eventID, GuardDuty finding id) or the execution ARN.
    #[arg(value_name = "INCIDENT")]
    pub incident: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Run an async command body on a small runtime; print its error and exit 1 on failure.
pub fn block_on<F>(what: &str, fut: F) -> ExitCode
where
    F: std::future::Future<Output = Result<ExitCode, String>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cordon {what}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            let st = Style::for_stderr();
            eprintln!("{} {e}", st.red(&format!("cordon {what}:")));
            ExitCode::FAILURE
        }
    }
}

/// The execution of `incident` (an execution ARN, or an incident id).
///
/// Offline, executions are named after their incident. On AWS, EventBridge names them, so the
/// most recent executions are read and their input (the event) parsed for its incident id.
pub async fn resolve_execution(
    target: &Target,
    sfn: &Sfn,
    incident: &str,
) -> Result<String, String> {
    if incident.starts_with("arn:") {
        return Ok(incident.to_string());
    }
    if target.offline {
        let arn = target.execution_arn_for_incident(incident);
        match sfn
            .call("DescribeExecution", json!({"executionArn": arn}))
            .await
        {
            Ok(_) => return Ok(arn),
            Err(e) if e.code == "ExecutionDoesNotExist" => {}
            Err(e) => return Err(format!("{arn}: {e}")),
        }
    }
    let executions = sfn
        .executions(&target.state_machine_arn, None, 1000)
        .await
        .map_err(|e| e.to_string())?;
    for e in executions {
        let Some(arn) = e.get("executionArn").and_then(Value::as_str) else {
            continue;
        };
        let d = sfn
            .call("DescribeExecution", json!({"executionArn": arn}))
            .await
            .map_err(|e| e.to_string())?;
        let input: Value = d
            .get("input")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        if cordon_core::parse_event(&input).is_ok_and(|i| i.id == incident) {
            return Ok(arn.to_string());
        }
    }
    Err(format!(
        "no execution of {} is about incident {incident}",
        target.state_machine_arn
    ))
}

/// The timeline of one execution; `status` from the listing when known.
pub async fn fetch_timeline(
    sfn: &Sfn,
    arn: &str,
    status: Option<&str>,
) -> Result<Timeline, String> {
    let events = sfn.history(arn).await.map_err(|e| format!("{arn}: {e}"))?;
    Ok(Timeline::from_history(arn, &events).with_status(status))
}

/// One row of `cordon incidents`.
pub fn incident_row(t: &Timeline) -> Value {
    let incident = t.incident();
    let classification = t.classification();
    let approval = t.approval();
    json!({
        "incidentId": incident.as_ref().map(|i| i.id.clone()),
        "kind": incident.as_ref().map(|i| i.kind.clone()),
        "account": incident.as_ref().map(|i| i.account.clone()),
        "region": incident.as_ref().map(|i| i.region.clone()),
        "subject": incident.as_ref().map(|i| render::subject_label(&i.subject)),
        "verdict": classification.as_ref().map(|c| format!("{:?}", c.verdict).to_lowercase()),
        "severity": classification.as_ref().map(|c| format!("{:?}", c.severity).to_lowercase()),
        "status": if t.waiting_approval().is_some() { "WAITING_FOR_APPROVAL".to_string() } else { t.status.clone() },
        "approver": approval.as_ref().and_then(|a| a.approver.clone()),
        "approvalVerified": approval.as_ref().map(|a| a.verified),
        "decision": approval.as_ref().map(|a| serde_json::to_value(a.decision).unwrap_or(Value::Null)),
        "startedAt": t.started_at.map(render::ts),
        "stoppedAt": t.stopped_at.map(render::ts),
        "executionArn": t.execution_arn,
    })
}

/// `cordon incidents` as a table.
pub fn incidents_table(rows: &[Value], st: &Style) -> String {
    let cols = [
        ("INCIDENT", "incidentId"),
        ("VERDICT", "verdict"),
        ("ACCOUNT", "account"),
        ("SUBJECT", "subject"),
        ("STATUS", "status"),
        ("APPROVER", "approver"),
        ("STARTED", "startedAt"),
        ("STOPPED", "stoppedAt"),
    ];
    let cell = |r: &Value, k: &str| -> String {
        match r.get(k) {
            Some(Value::String(s)) => s.clone(),
            _ => "-".into(),
        }
    };
    let widths: Vec<usize> = cols
        .iter()
        .map(|(h, k)| {
            rows.iter()
                .map(|r| cell(r, k).chars().count())
                .max()
                .unwrap_or(0)
                .max(h.len())
        })
        .collect();
    let mut o = String::new();
    let header: Vec<String> = cols
        .iter()
        .zip(&widths)
        .map(|((h, _), w)| pad(h, *w))
        .collect();
    o += &st.bold(header.join("  ").trim_end());
    o += "\n";
    for r in rows {
        let line: Vec<String> = cols
            .iter()
            .zip(&widths)
            .map(|((_, k), w)| {
                let v = cell(r, k);
                let painted = if *k == "status" {
                    st.status(&v)
                } else {
                    v.clone()
                };
                format!(
                    "{painted}{}",
                    " ".repeat(w.saturating_sub(v.chars().count()))
                )
            })
            .collect();
        o += line.join("  ").trim_end();
        o += "\n";
    }
    o
}

pub fn incidents(args: IncidentsArgs) -> ExitCode {
    block_on("incidents", async move {
        let target = args.target.resolve().await?;
        let sfn = Sfn::new(&target.sfn);
        let executions = sfn
            .executions(&target.state_machine_arn, None, args.limit)
            .await
            .map_err(|e| {
                format!(
                    "cannot list the executions of {}: {e}",
                    target.state_machine_arn
                )
            })?;
        let mut rows = Vec::new();
        for e in &executions {
            let Some(arn) = e.get("executionArn").and_then(Value::as_str) else {
                continue;
            };
            let status = e.get("status").and_then(Value::as_str);
            let mut t = fetch_timeline(&sfn, arn, status).await?;
            if t.started_at.is_none() {
                t.started_at = e.get("startDate").and_then(event_time);
            }
            rows.push(incident_row(&t));
        }
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&Value::Array(rows)).unwrap_or_default()
            );
        } else if rows.is_empty() {
            println!(
                "No incidents yet ({} has no executions).",
                target.state_machine_arn
            );
        } else {
            print!("{}", incidents_table(&rows, &Style::for_stdout()));
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn history(args: HistoryArgs) -> ExitCode {
    block_on("history", async move {
        let target = args.target.resolve().await?;
        let sfn = Sfn::new(&target.sfn);
        let arn = resolve_execution(&target, &sfn, &args.incident).await?;
        let described = sfn
            .call("DescribeExecution", json!({"executionArn": arn}))
            .await
            .map_err(|e| format!("{arn}: {e}"))?;
        let status = described.get("status").and_then(Value::as_str);
        let t = fetch_timeline(&sfn, &arn, status).await?;
        let out = match args.format {
            Format::Text => render::text(&t, &Style::for_stdout()),
            Format::Markdown => render::markdown(&t),
            Format::Json => {
                serde_json::to_string_pretty(&render::json(&t)).unwrap_or_default() + "\n"
            }
            Format::Mermaid => {
                // The definition this execution ran, not the state machine's current one.
                let d = sfn
                    .call(
                        "DescribeStateMachineForExecution",
                        json!({"executionArn": arn}),
                    )
                    .await
                    .map_err(|e| format!("{arn}: {e}"))?;
                let definition: Value = d
                    .get("definition")
                    .and_then(Value::as_str)
                    .and_then(|s| serde_json::from_str(s).ok())
                    .ok_or_else(|| format!("{arn}: the definition is not JSON"))?;
                render::mermaid(&t, &definition)
            }
        };
        print!("{out}");
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
