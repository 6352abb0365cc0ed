//! `cordon history` formats: text (a terminal), markdown (a report to paste), json (the case
//! file plus the timeline) and mermaid (the state machine with the path taken).
//!
//! Pure functions of a [`Timeline`] (and, for mermaid, the definition), tested on
//! recorded-shaped histories.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use cordon_core::{ActionStatus, Decision, IncidentSource, Subject};

use super::style::{Style, pad};
use super::timeline::{Step, StepStatus, Timeline};

/// `2026-03-14T02:49:58.120Z` (milliseconds), as the history records it.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ts_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(ts).unwrap_or_else(|| "-".into())
}

/// A duration for people: `120ms`, `2.3s`, `4m05s`, `1h02m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

/// A subject in a few words: `IAM user alice`, `role web (i-0abc...)`, `root`.
pub fn subject_label(s: &Subject) -> String {
    match s {
        Subject::IamUser { name, .. } => format!("IAM user {name}"),
        Subject::AssumedRole {
            role_name,
            instance_id,
            ..
        } => match instance_id {
            Some(i) => format!("role {role_name} (instance {i})"),
            None => format!("role {role_name}"),
        },
        Subject::Root { account } => format!("root user of {account}"),
        Subject::Resource { resource_type, id } => format!("{resource_type} {id}"),
        Subject::Principal {
            principal_type,
            name,
            ..
        } => match name {
            Some(n) => format!("{principal_type} {n} (not containable)"),
            None => format!("{principal_type} (not containable)"),
        },
    }
}

pub fn source_label(s: IncidentSource) -> &'static str {
    match s {
        IncidentSource::Cloudtrail => "CloudTrail",
        IncidentSource::Guardduty => "GuardDuty",
        IncidentSource::SecurityHub => "Security Hub",
    }
}

fn decision_word(d: Decision) -> &'static str {
    match d {
        Decision::Approved => "approved",
        Decision::Rejected => "rejected",
        Decision::TimedOut => "timed-out",
    }
}

fn action_status_word(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::Done => "done",
        ActionStatus::Already => "already",
        ActionStatus::Skipped => "skipped",
        ActionStatus::Failed => "failed",
    }
}

fn step_status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Succeeded => "succeeded",
        StepStatus::Caught => "caught",
        StepStatus::Failed => "failed",
        StepStatus::Running => "running",
    }
}

fn verified_word(verified: bool) -> &'static str {
    if verified {
        "verified by AWS"
    } else {
        "locally asserted, not verified by AWS"
    }
}

/// One line per failed attempt: `attempt 1 failed after 1.0s: Transient: throttled`.
fn attempt_lines(step: &Step) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in step.attempts.iter().enumerate() {
        if let Some(e) = &a.error {
            let took = a
                .ended_at
                .map(|x| {
                    format!(
                        " after {}",
                        duration((x - a.scheduled_at).num_milliseconds())
                    )
                })
                .unwrap_or_default();
            let then = if i + 1 < step.attempts.len() {
                ", retried"
            } else if step.status == StepStatus::Caught {
                ", caught"
            } else {
                ""
            };
            let cause = if e.cause.is_empty() {
                String::new()
            } else {
                format!(": {}", e.cause)
            };
            out.push(format!(
                "attempt {} failed{took}{then}: {}{cause}",
                i + 1,
                e.error
            ));
        }
    }
    out
}

/// The text for a terminal.
pub fn text(t: &Timeline, st: &Style) -> String {
    let mut o = String::new();
    let incident = t.incident();
    let id = incident
        .as_ref()
        .map(|i| i.id.as_str())
        .unwrap_or("(unknown)");
    o += &format!("{} {}\n", st.bold("Incident"), st.bold(id));
    if let Some(i) = &incident {
        o += &format!(
            "  kind        {} ({} in {} {})\n",
            i.kind,
            source_label(i.source),
            i.account,
            i.region
        );
        o += &format!("  subject     {}\n", subject_label(&i.subject));
        if let Some(a) = &i.actor {
            o += &format!(
                "  actor       {}\n",
                a.arn
                    .clone()
                    .or(a.name.clone())
                    .unwrap_or(a.identity_type.clone())
            );
        }
        o += &format!("  observed    {}\n", ts(i.observed_at));
    }
    o += &format!("  execution   {}\n", t.execution_arn);
    let took = match (t.started_at, t.stopped_at) {
        (Some(a), Some(b)) => format!(" in {}", duration((b - a).num_milliseconds())),
        _ => String::new(),
    };
    o += &format!(
        "  status      {} (started {}, stopped {}{took})\n",
        st.status(&t.status),
        ts_opt(t.started_at),
        ts_opt(t.stopped_at)
    );
    if let Some(e) = &t.end_error {
        o += &format!("  error       {}: {}\n", st.red(&e.error), e.cause);
    }

    o += &format!("\n{}\n", st.bold("Timeline"));
    let width = t
        .steps
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    for s in &t.steps {
        let dur = s.duration_ms().map(duration).unwrap_or_else(|| "…".into());
        let attempts = match s.attempts.len() {
            0 | 1 => String::new(),
            n => format!(" ({n} attempts)"),
        };
        o += &format!(
            "  {}  {}  {}  {}  {}{attempts}\n",
            s.entered_at.format("%H:%M:%S%.3f"),
            pad(&s.name, width),
            pad(&s.state_type, 7),
            pad(&dur, 6),
            st.status(step_status_word(s.status)),
        );
        for line in attempt_lines(s) {
            o += &format!("      {}\n", st.dim(&line));
        }
    }

    if let Some(c) = t.classification() {
        o += &format!("\n{}\n", st.bold("Classification"));
        o += &format!(
            "  verdict {}, severity {}, score {}{}\n",
            st.bold(&format!("{:?}", c.verdict).to_lowercase()),
            format!("{:?}", c.severity).to_lowercase(),
            c.score,
            if c.protected {
                ", protected subject"
            } else {
                ""
            }
        );
        let w = c.reasons.iter().map(|r| r.rule.len()).max().unwrap_or(0);
        for r in &c.reasons {
            o += &format!("  {:>+4}  {}  {}\n", r.points, pad(&r.rule, w), r.detail);
        }
        if let Some(d) = &c.duplicate_of {
            o += &format!("  duplicate of incident {d}\n");
        }
    }

    if let Some(a) = t.approval() {
        o += &format!("\n{}\n", st.bold("Approval"));
        let who = a.approver.as_deref().unwrap_or("nobody");
        o += &format!(
            "  {} by {who} at {} ({})\n",
            st.status(decision_word(a.decision)),
            ts(a.decided_at),
            verified_word(a.verified)
        );
        if !a.reason.is_empty() {
            o += &format!("  reason: {}\n", a.reason);
        }
    } else if let Some((_, attempt)) = t.waiting_approval() {
        o += &format!("\n{}\n", st.bold("Approval"));
        o += &format!(
            "  {} since {}\n",
            st.yellow("waiting for a decision"),
            ts(attempt.scheduled_at)
        );
    }

    if let Some(c) = t.containment() {
        o += &format!(
            "\n{}{}\n",
            st.bold("Containment"),
            if c.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            }
        );
        let w = c.actions.iter().map(|a| a.action.len()).max().unwrap_or(0);
        for a in &c.actions {
            let detail = if a.detail.is_empty() {
                String::new()
            } else {
                format!("  {}", a.detail)
            };
            o += &format!(
                "  {}  {}  {}{detail}\n",
                pad(
                    &st.status(action_status_word(a.status)),
                    7 + st_extra(st, a.status)
                ),
                pad(&a.action, w),
                a.target
            );
        }
    }

    if let Some(n) = t.notification() {
        o += &format!("\n{}\n", st.bold("Notification"));
        o += &format!("  alert \"{}\" (message {})\n", n.subject, n.message_id);
        let detail = if n.security_hub.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", n.security_hub.detail)
        };
        o += &format!("  Security Hub {}{detail}\n", n.security_hub.status);
    }

    if let Some(f) = t.failure() {
        o += &format!("\n{}\n", st.bold("Failure"));
        o += &format!(
            "  {} failed: {}: {}\n",
            f.state.as_deref().unwrap_or("a step"),
            st.red(&f.error),
            f.cause
        );
    }
    o
}

/// The width colour codes add to a coloured status word (so columns still line up).
fn st_extra(st: &Style, s: ActionStatus) -> usize {
    let w = action_status_word(s);
    st.status(w).len() - w.len()
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A report an auditor can paste (GitHub-flavoured markdown).
pub fn markdown(t: &Timeline) -> String {
    let mut o = String::new();
    let incident = t.incident();
    let id = incident
        .as_ref()
        .map(|i| i.id.as_str())
        .unwrap_or("(unknown)");
    o += &format!("# Incident `{id}`\n\n");
    o += "| | |\n|---|---|\n";
    if let Some(i) = &incident {
        o += &format!("| Kind | {} |\n", md_cell(&i.kind));
        o += &format!("| Account / region | {} / {} |\n", i.account, i.region);
        o += &format!("| Subject | {} |\n", md_cell(&subject_label(&i.subject)));
        if let Some(a) = &i.actor {
            let who = a
                .arn
                .clone()
                .or(a.name.clone())
                .unwrap_or(a.identity_type.clone());
            o += &format!("| Actor | `{}` |\n", md_cell(&who));
        }
        o += &format!("| Observed | {} |\n", ts(i.observed_at));
    }
    o += &format!("| Execution | `{}` |\n", t.execution_arn);
    o += &format!("| Status | **{}** |\n", t.status);
    o += &format!("| Started | {} |\n", ts_opt(t.started_at));
    o += &format!("| Stopped | {} |\n", ts_opt(t.stopped_at));
    if let Some(e) = &t.end_error {
        o += &format!(
            "| Error | `{}`: {} |\n",
            md_cell(&e.error),
            md_cell(&e.cause)
        );
    }

    o += "\n## Timeline\n\n| Entered | State | Type | Duration | Status | Notes |\n|---|---|---|---|---|---|\n";
    for s in &t.steps {
        let notes = attempt_lines(s).join("; ");
        o += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            ts(s.entered_at),
            md_cell(&s.name),
            s.state_type,
            s.duration_ms().map(duration).unwrap_or_else(|| "—".into()),
            step_status_word(s.status),
            md_cell(&notes)
        );
    }

    if let Some(c) = t.classification() {
        o += "\n## Classification\n\n";
        o += &format!(
            "Verdict **{}**, severity **{}**, score **{}**{}.\n\n",
            format!("{:?}", c.verdict).to_lowercase(),
            format!("{:?}", c.severity).to_lowercase(),
            c.score,
            if c.protected {
                " (protected subject)"
            } else {
                ""
            }
        );
        o += "| Points | Rule | Detail |\n|---:|---|---|\n";
        for r in &c.reasons {
            o += &format!(
                "| {:+} | `{}` | {} |\n",
                r.points,
                r.rule,
                md_cell(&r.detail)
            );
        }
    }

    if let Some(a) = t.approval() {
        o += "\n## Approval\n\n";
        o += &format!(
            "**{}** by `{}` at {} ({}).\n",
            decision_word(a.decision),
            a.approver.as_deref().unwrap_or("nobody"),
            ts(a.decided_at),
            verified_word(a.verified)
        );
        if !a.reason.is_empty() {
            o += &format!("\n> {}\n", a.reason.replace('\n', "\n> "));
        }
    } else if let Some((_, attempt)) = t.waiting_approval() {
        o += &format!(
            "\n## Approval\n\nWaiting for a decision since {}.\n",
            ts(attempt.scheduled_at)
        );
    }

    if let Some(c) = t.containment() {
        o += "\n## Containment\n\n";
        if c.dry_run {
            o += "Dry run: nothing was changed.\n\n";
        }
        o += "| Status | Action | Target | Detail |\n|---|---|---|---|\n";
        for a in &c.actions {
            o += &format!(
                "| {} | `{}` | `{}` | {} |\n",
                action_status_word(a.status),
                a.action,
                md_cell(&a.target),
                md_cell(&a.detail)
            );
        }
    }

    if let Some(n) = t.notification() {
        o += "\n## Notification\n\n";
        o += &format!(
            "- Alert \"{}\" (SNS message `{}`)\n- Security Hub: {}{}\n",
            n.subject,
            n.message_id,
            n.security_hub.status,
            if n.security_hub.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", n.security_hub.detail)
            }
        );
    }

    if let Some(f) = t.failure() {
        o += &format!(
            "\n## Failure\n\n{} failed: `{}`: {}\n",
            f.state.as_deref().unwrap_or("A step"),
            f.error,
            f.cause
        );
    }
    o
}

/// The case file plus the timeline, for scripts.
pub fn json(t: &Timeline) -> Value {
    json!({
        "executionArn": t.execution_arn,
        "status": t.status,
        "startedAt": t.started_at.map(ts),
        "stoppedAt": t.stopped_at.map(ts),
        "error": t.end_error,
        "caseFile": t.case,
        "timeline": t.steps.iter().map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.insert("durationMs".into(), json!(s.duration_ms()));
                o.insert("retries".into(), json!(s.retries()));
            }
            v
        }).collect::<Vec<_>>(),
    })
}

/// A mermaid id for a state name (mermaid ids are word characters; `end` is a keyword).
fn node_id(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.eq_ignore_ascii_case("end") || id.is_empty() {
        format!("s_{id}")
    } else {
        id
    }
}

fn node_label(name: &str) -> String {
    name.replace('"', "#quot;")
}

/// What a Choice rule tests, short: the compared value (`quarantine`, `true`), else `rule N`.
fn choice_label(rule: &Value, i: usize) -> String {
    let obj = rule.as_object();
    if let Some(o) = obj {
        // A boolean test reads best as the variable's name: `verified`, `not verified`.
        if let (Some(var), Some(b)) = (
            o.get("Variable").and_then(Value::as_str),
            o.get("BooleanEquals").and_then(Value::as_bool),
        ) {
            let name = var.rsplit('.').next().unwrap_or(var);
            return if b {
                name.to_string()
            } else {
                format!("not {name}")
            };
        }
        for (k, v) in o {
            if k.ends_with("Equals") || k.starts_with("String") || k.starts_with("Numeric") {
                if let Some(s) = v.as_str() {
                    return s.to_string();
                }
                if !v.is_object() && !v.is_array() {
                    return v.to_string();
                }
            }
        }
        if let Some(Value::Array(all)) = o.get("And") {
            let parts: Vec<String> = all.iter().map(|r| choice_label(r, i)).collect();
            return parts.join(" and ");
        }
    }
    format!("rule {}", i + 1)
}

/// A `flowchart` of the state machine with the path taken highlighted: visited states
/// (`visited`), states that failed or whose failure was caught (`failed`), the state the
/// execution is in (`current`), and the transitions taken (thick links).
pub fn mermaid(t: &Timeline, definition: &Value) -> String {
    let mut o = String::from("flowchart TD\n");
    let states = definition.get("States").and_then(Value::as_object);
    let start = definition
        .get("StartAt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    o += "  start((start))\n  finish((end))\n";
    if let Some(states) = states {
        for (name, s) in states {
            let label = node_label(name);
            let id = node_id(name);
            let shape = match s.get("Type").and_then(Value::as_str).unwrap_or_default() {
                "Choice" => format!("{id}{{\"{label}\"}}"),
                "Succeed" | "Fail" => format!("{id}([\"{label}\"])"),
                "Pass" => format!("{id}(\"{label}\")"),
                _ => format!("{id}[\"{label}\"]"),
            };
            o += &format!("  {shape}\n");
        }
    }
    // Edges, in a fixed order, so that `linkStyle` can name the taken ones by index.
    let mut edges: Vec<(String, String, String, bool)> = Vec::new(); // from, to, label, dotted
    edges.push(("start".into(), node_id(start), String::new(), false));
    let mut edge_names: Vec<(Option<String>, Option<String>)> =
        vec![(None, Some(start.to_string()))];
    if let Some(states) = states {
        for (name, s) in states {
            let mut add = |to: &str, label: String, dotted: bool| {
                edges.push((node_id(name), node_id(to), label, dotted));
                edge_names.push((Some(name.clone()), Some(to.to_string())));
            };
            if let Some(Value::Array(choices)) = s.get("Choices") {
                for (i, c) in choices.iter().enumerate() {
                    if let Some(next) = c.get("Next").and_then(Value::as_str) {
                        add(next, choice_label(c, i), false);
                    }
                }
            }
            if let Some(d) = s.get("Default").and_then(Value::as_str) {
                add(d, "default".into(), false);
            }
            if let Some(n) = s.get("Next").and_then(Value::as_str) {
                add(n, String::new(), false);
            }
            if let Some(Value::Array(catches)) = s.get("Catch") {
                for c in catches {
                    if let Some(n) = c.get("Next").and_then(Value::as_str) {
                        let errors: Vec<&str> = c
                            .get("ErrorEquals")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        add(n, errors.join(", "), true);
                    }
                }
            }
            if s.get("End").and_then(Value::as_bool) == Some(true) {
                edges.push((node_id(name), "finish".into(), String::new(), false));
                edge_names.push((Some(name.clone()), None));
            }
        }
    }
    for (from, to, label, dotted) in &edges {
        let arrow = match (dotted, label.is_empty()) {
            (false, true) => " --> ".to_string(),
            (false, false) => format!(" -- \"{}\" --> ", node_label(label)),
            (true, true) => " -.-> ".to_string(),
            (true, false) => format!(" -. \"{}\" .-> ", node_label(label)),
        };
        o += &format!("  {from}{arrow}{to}\n");
    }

    // The transitions taken: start → first, each step → the next, last → end on success.
    let mut taken: Vec<(Option<String>, Option<String>)> = Vec::new();
    if let Some(first) = t.steps.first() {
        taken.push((None, Some(first.name.clone())));
    }
    for w in t.steps.windows(2) {
        taken.push((Some(w[0].name.clone()), Some(w[1].name.clone())));
    }
    if t.status == "SUCCEEDED"
        && let Some(last) = t.steps.last()
    {
        taken.push((Some(last.name.clone()), None));
    }
    let mut taken_idx: Vec<usize> = Vec::new();
    for tr in &taken {
        if let Some(i) = edge_names.iter().position(|e| e == tr)
            && !taken_idx.contains(&i)
        {
            taken_idx.push(i);
        }
    }
    taken_idx.sort_unstable();

    o += "  classDef visited fill:#d8f5d8,stroke:#2e7d32,stroke-width:2px\n";
    o += "  classDef failed fill:#fbd5d5,stroke:#c62828,stroke-width:2px\n";
    o += "  classDef current fill:#fff4c2,stroke:#b08800,stroke-width:2px\n";
    let mut visited: Vec<String> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for s in &t.steps {
        let id = node_id(&s.name);
        let bucket = match s.status {
            StepStatus::Caught | StepStatus::Failed => &mut failed,
            StepStatus::Running => &mut current,
            StepStatus::Succeeded => &mut visited,
        };
        if !bucket.contains(&id) {
            bucket.push(id);
        }
    }
    // A state visited twice and failed once is shown failed.
    visited.retain(|v| !failed.contains(v) && !current.contains(v));
    let mut first_visited = vec!["start".to_string()];
    let ended = t.steps.last().map(|s| (Some(s.name.clone()), None));
    if t.status == "SUCCEEDED" && ended.is_some_and(|e| edge_names.contains(&e)) {
        first_visited.push("finish".into());
    }
    first_visited.extend(visited);
    for (class, ids) in [
        ("visited", first_visited),
        ("failed", failed),
        ("current", current),
    ] {
        if !ids.is_empty() {
            o += &format!("  class {} {class}\n", ids.join(","));
        }
    }
    if !taken_idx.is_empty() {
        let list: Vec<String> = taken_idx.iter().map(usize::to_string).collect();
        o += &format!(
            "  linkStyle {} stroke:#2e7d32,stroke-width:3px\n",
            list.join(",")
        );
    }
    o
}
