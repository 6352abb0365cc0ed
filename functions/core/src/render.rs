//! Messages to humans (SNS) and Security Hub.
//!
//! Everything that came from the event is escaped (`parse::escape_control`) before it reaches
//! text, so an attacker-chosen value cannot forge lines in an alert. The raw event is never
//! rendered, and no function here takes a task token, so none can leak one.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{
    ActionStatus, CaseFile, Decision, Failure, Incident, IncidentSource, Severity, Subject, Tags,
    Verdict,
};
use crate::parse::escape_control;
use crate::ports::{OutgoingMessage, SecurityHubUpdate};

/// SNS email subjects are limited to 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// Where links point and which execution this is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderContext {
    pub execution_arn: Option<String>,
    pub region: String,
    /// `https://console.aws.amazon.com`
    pub console_base: String,
}

/// A message ready to publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendered {
    /// At most 100 characters, no newlines.
    pub subject: String,
    pub text: String,
    pub json: Value,
    /// `severity`, `verdict`, `incidentId`, `source` (and `messageType`).
    pub attributes: Tags,
}

impl Rendered {
    /// The SNS message for `topic_arn`.
    pub fn to_message(&self, topic_arn: &str) -> OutgoingMessage {
        OutgoingMessage {
            topic_arn: topic_arn.to_string(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            json: self.json.clone(),
            attributes: self.attributes.clone(),
        }
    }
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Ignore => "ignore",
        Verdict::Notify => "notify",
        Verdict::Approve => "approve",
        Verdict::Quarantine => "quarantine",
    }
}

/// One line, at most 100 characters.
fn subject_line(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX_SUBJECT_CHARS {
        return one_line;
    }
    let mut out: String = one_line.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    out.push('…');
    out
}

fn subject_label(subject: &Subject) -> String {
    match subject {
        Subject::IamUser { name, .. } => format!("IAM user {}", escape_control(name)),
        Subject::AssumedRole { role_name, .. } => format!("role {}", escape_control(role_name)),
        Subject::Root { account } => format!("ROOT user of {account}"),
        Subject::Resource { resource_type, id } => format!("{resource_type} {id}"),
    }
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Console links for an incident, labelled.
fn links(
    incident: Option<&Incident>,
    execution_arn: Option<&str>,
    ctx: &RenderContext,
) -> Vec<(String, String)> {
    let base = ctx.console_base.trim_end_matches('/');
    let mut out = Vec::new();
    if let Some(i) = incident {
        let region = &i.region;
        match &i.subject {
            Subject::IamUser { name, .. } => out.push((
                "IAM user".into(),
                format!("{base}/iam/home#/users/details/{name}"),
            )),
            Subject::AssumedRole {
                role_name,
                instance_id,
                ..
            } => {
                out.push((
                    "IAM role".into(),
                    format!("{base}/iam/home#/roles/details/{role_name}"),
                ));
                if let Some(id) = instance_id {
                    out.push((
                        "EC2 instance".into(),
                        format!("{base}/ec2/home?region={region}#InstanceDetails:instanceId={id}"),
                    ));
                }
            }
            Subject::Resource { resource_type, id } if resource_type == "Instance" => {
                out.push((
                    "EC2 instance".into(),
                    format!("{base}/ec2/home?region={region}#InstanceDetails:instanceId={id}"),
                ));
            }
            _ => {}
        }
        match i.source {
            IncidentSource::Guardduty => out.push((
                "GuardDuty finding".into(),
                format!(
                    "{base}/guardduty/home?region={region}#/findings?macros=current&fId={}",
                    i.id
                ),
            )),
            IncidentSource::Cloudtrail => out.push((
                "CloudTrail event".into(),
                format!("{base}/cloudtrailv2/home?region={region}#/events/{}", i.id),
            )),
        }
    }
    if let Some(arn) = execution_arn {
        out.push((
            "Step Functions execution".into(),
            format!(
                "{base}/states/home?region={}#/v2/executions/details/{arn}",
                ctx.region
            ),
        ));
    }
    out
}

fn what_happened(i: &Incident, out: &mut String) {
    out.push_str("WHAT HAPPENED\n");
    out.push_str(&format!(
        "  {} in account {} ({}) at {}\n",
        escape_control(&i.kind),
        i.account,
        i.region,
        time(&i.observed_at)
    ));
    match &i.subject {
        Subject::IamUser {
            name,
            arn,
            access_key_id,
            ..
        } => {
            out.push_str(&format!("  Subject: IAM user `{}`", escape_control(name)));
            if let Some(arn) = arn {
                out.push_str(&format!(" ({})", escape_control(arn)));
            }
            if let Some(k) = access_key_id {
                out.push_str(&format!(", access key {k}"));
            }
            out.push('\n');
        }
        Subject::AssumedRole {
            role_name,
            session_name,
            instance_id,
            access_key_id,
            ..
        } => {
            out.push_str(&format!("  Subject: role `{}`", escape_control(role_name)));
            if let Some(s) = session_name {
                out.push_str(&format!(", session `{}`", escape_control(s)));
            }
            if let Some(id) = instance_id {
                out.push_str(&format!(", instance {id}"));
            }
            if let Some(k) = access_key_id {
                out.push_str(&format!(", temporary key {k}"));
            }
            out.push('\n');
        }
        Subject::Root { account } => {
            out.push_str(&format!("  Subject: the ROOT user of account {account}\n"))
        }
        Subject::Resource { resource_type, id } => out.push_str(&format!(
            "  Subject: {resource_type} {id} (not an identity)\n"
        )),
    }
    if let Some(f) = &i.finding {
        out.push_str(&format!(
            "  GuardDuty: {} (severity {}, seen {} time(s)",
            escape_control(&f.title),
            f.severity,
            f.count
        ));
        if let (Some(a), Some(b)) = (&f.first_seen, &f.last_seen) {
            out.push_str(&format!(", {} .. {}", time(a), time(b)));
        }
        out.push_str(")\n");
        if let Some(api) = &f.api_called {
            out.push_str(&format!("  API called: {}", escape_control(api)));
            if let Some(s) = &f.service_name {
                out.push_str(&format!(" on {}", escape_control(s)));
            }
            out.push('\n');
        }
    }
    if let Some(fc) = &i.failed_call {
        out.push_str(&format!(
            "  The call FAILED ({}): nothing was created. {}\n",
            fc.error_code,
            escape_control(&fc.error_message)
        ));
    }
    out.push_str("\nWHO AND FROM WHERE\n");
    match &i.actor {
        Some(a) => {
            let who = a.arn.as_deref().or(a.name.as_deref()).unwrap_or("unknown");
            out.push_str(&format!(
                "  Actor: {} ({})\n",
                escape_control(who),
                escape_control(&a.identity_type)
            ));
            if let Some(issuer) = &a.session_issuer_arn {
                out.push_str(&format!(
                    "  Session issued by: {}\n",
                    escape_control(issuer)
                ));
            }
            let mfa = match a.mfa_authenticated {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "unknown",
            };
            out.push_str(&format!("  MFA: {mfa}\n"));
            let remote = i.finding.as_ref().and_then(|f| f.remote_ip.as_ref());
            if let Some(r) = remote {
                let place: Vec<String> = [
                    &r.org,
                    &r.asn.as_ref().map(|a| format!("AS{a}")),
                    &r.city,
                    &r.country,
                ]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(|s| escape_control(s))
                .collect();
                out.push_str(&format!("  Source IP: {} ({})\n", r.ip, place.join(", ")));
            } else if let Some(ip) = &a.source_ip {
                out.push_str(&format!("  Source IP: {}\n", escape_control(ip)));
            }
            if let Some(ua) = &a.user_agent {
                out.push_str(&format!("  User agent: {}\n", escape_control(ua)));
            }
        }
        None => out.push_str("  Actor: not stated by the event\n"),
    }
}

fn reasons(case: &CaseFile, out: &mut String) {
    if let Some(c) = &case.classification {
        out.push_str(&format!(
            "\nVERDICT: {} (severity {}, score {})\n",
            verdict_str(c.verdict),
            sev(c.severity),
            c.score
        ));
        for r in &c.reasons {
            out.push_str(&format!(
                "  - {} ({:+}): {}\n",
                r.rule,
                r.points,
                escape_control(&r.detail)
            ));
        }
    }
}

/// The alert after a run: what happened, who, what cordon did, what to do next.
pub fn alert(case: &CaseFile, ctx: &RenderContext) -> Rendered {
    let incident = case.incident.as_ref();
    let class = case.classification.as_ref();
    let containment = case.containment.as_ref();
    let severity = class.map(|c| c.severity).unwrap_or(Severity::High);
    let verdict = class.map(|c| c.verdict);
    let label = incident
        .map(|i| subject_label(&i.subject))
        .unwrap_or_else(|| "unparsed event".into());
    let kind = incident
        .map(|i| escape_control(&i.kind))
        .unwrap_or_default();

    let any_failed =
        containment.is_some_and(|c| c.actions.iter().any(|a| a.status == ActionStatus::Failed));
    let contained = containment.is_some_and(|c| {
        !c.dry_run
            && c.actions
                .iter()
                .any(|a| matches!(a.status, ActionStatus::Done | ActionStatus::Already))
    });
    let outcome = match (&case.approval, containment, verdict) {
        (_, Some(_), _) if any_failed => "quarantine INCOMPLETE".to_string(),
        (_, Some(c), _) if c.dry_run => "DRY RUN (nothing changed)".to_string(),
        (_, Some(_), _) if contained => "quarantined".to_string(),
        (Some(a), None, _) if a.decision == Decision::Rejected => "quarantine rejected".to_string(),
        (Some(a), None, _) if a.decision == Decision::TimedOut => "approval timed out".to_string(),
        (_, _, Some(Verdict::Ignore)) => "ignored".to_string(),
        _ => "needs attention".to_string(),
    };
    let headline = format!("{}: {label}", outcome);
    let subject = subject_line(&format!(
        "[cordon] {} {headline} - {kind}",
        sev(severity).to_uppercase()
    ));

    let mut text = format!(
        "cordon: {headline}\nSeverity: {}\n\n",
        sev(severity).to_uppercase()
    );
    match incident {
        Some(i) => what_happened(i, &mut text),
        None => text
            .push_str("The event could not be parsed into an incident; see the execution input.\n"),
    }
    reasons(case, &mut text);
    if let Some(a) = &case.approval {
        let decision = match a.decision {
            Decision::Approved => "APPROVED",
            Decision::Rejected => "REJECTED",
            Decision::TimedOut => "TIMED OUT (nobody decided)",
        };
        text.push_str(&format!("\nAPPROVAL: {decision}"));
        if let Some(who) = &a.approver {
            text.push_str(&format!(
                " by {} ({})",
                escape_control(who),
                if a.verified {
                    "verified by AWS"
                } else {
                    "asserted, not verified"
                }
            ));
        }
        text.push_str(&format!(" at {}", time(&a.decided_at)));
        if !a.reason.is_empty() {
            text.push_str(&format!(": \"{}\"", escape_control(&a.reason)));
        }
        text.push('\n');
    }
    text.push_str("\nWHAT CORDON DID\n");
    match containment {
        Some(c) => {
            if c.dry_run {
                text.push_str("  DRY RUN: the policy asks for a plan only; nothing was changed.\n");
            }
            for a in &c.actions {
                let status = match a.status {
                    ActionStatus::Done => "done",
                    ActionStatus::Already => "already in place",
                    ActionStatus::Skipped => "skipped",
                    ActionStatus::Failed => "FAILED",
                };
                text.push_str(&format!(
                    "  - {} {}: {status}",
                    a.action,
                    escape_control(&a.target)
                ));
                if !a.detail.is_empty() {
                    text.push_str(&format!(" ({})", escape_control(&a.detail)));
                }
                text.push('\n');
            }
        }
        None => text.push_str("  Nothing was changed in the account.\n"),
    }
    text.push_str("\nWHAT TO DO NEXT\n");
    for step in next_steps(case, contained, any_failed) {
        text.push_str(&format!("  * {step}\n"));
    }
    let links = links(incident, ctx.execution_arn.as_deref(), ctx);
    if !links.is_empty() {
        text.push_str("\nLINKS\n");
        for (name, url) in &links {
            text.push_str(&format!("  {name}: {url}\n"));
        }
    }
    if let Some(i) = incident {
        text.push_str(&format!("\nIncident id: {}\n", i.id));
    }

    let json = json!({
        "messageType": "alert",
        "headline": headline,
        "severity": sev(severity),
        "verdict": verdict.map(verdict_str),
        "incident": case.incident,
        "classification": case.classification,
        "approval": case.approval,
        "containment": case.containment,
        "links": links.iter().map(|(k, v)| json!({"name": k, "url": v})).collect::<Vec<_>>(),
        "executionArn": ctx.execution_arn,
    });
    Rendered {
        subject,
        text,
        json,
        attributes: attributes(case, severity, "alert"),
    }
}

fn next_steps(case: &CaseFile, contained: bool, any_failed: bool) -> Vec<String> {
    let mut steps = Vec::new();
    let Some(i) = &case.incident else {
        steps.push("Open the execution, read the event, and handle it by hand.".into());
        return steps;
    };
    let class = case.classification.as_ref();
    let id = &i.id;
    if any_failed {
        steps.push("Some containment actions FAILED: complete them by hand (see the list above), then check the principal's tags and policies.".into());
    }
    if let Subject::Root { account } = &i.subject {
        steps.push(format!(
            "Root credentials of {account} are in use: confirm with the account owner NOW."
        ));
        steps.push("If not expected: change the root password, delete any root access keys, check the root MFA devices, and review CloudTrail for the root user's calls.".into());
        return steps;
    }
    if class.is_some_and(|c| c.verdict == Verdict::Ignore) {
        steps.push("Nothing to do: cordon ignored this event for the reasons above.".into());
        return steps;
    }
    if let Some(dup) = class.and_then(|c| c.duplicate_of.as_ref()) {
        steps.push(format!("Already quarantined for incident {dup}: follow up on that incident; nothing new was done."));
        return steps;
    }
    if class.is_some_and(|c| c.protected) {
        steps.push("The subject is protected, so cordon did not contain it: investigate by hand and contain it yourself if it is malicious.".into());
    }
    if contained {
        match &i.subject {
            Subject::IamUser { name, .. } => {
                let who = i
                    .actor
                    .as_ref()
                    .and_then(|a| a.arn.clone().or(a.name.clone()));
                if let Some(who) = who.filter(|_| i.source == IncidentSource::Cloudtrail) {
                    steps.push(format!(
                        "Ask the creator ({}) whether user `{name}` was expected.",
                        escape_control(&who)
                    ));
                }
                steps.push(format!("Review what `{name}` did: CloudTrail event history filtered by user name `{name}`."));
            }
            Subject::AssumedRole {
                role_name,
                instance_id,
                ..
            } => {
                steps.push(format!("Sessions of role `{role_name}` issued before the quarantine are denied; find how its credentials leaked (SSRF, IMDSv1, exposed logs)."));
                if let Some(id) = instance_id {
                    steps.push(format!("Consider isolating or replacing instance {id}."));
                }
            }
            _ => {}
        }
        steps.push(format!("If it was legitimate: `cordon release {id}` undoes exactly what cordon did (a deleted console password must be reset, it cannot be restored)."));
    } else if case.containment.as_ref().is_some_and(|c| c.dry_run) {
        steps.push("Dry run: decide whether to contain the subject by hand, or turn dryRun off in the policy.".into());
    } else if case
        .approval
        .as_ref()
        .is_some_and(|a| a.decision == Decision::Rejected)
    {
        steps.push(
            "An approver rejected the quarantine: make sure the follow-up they promised happens."
                .into(),
        );
    } else {
        steps.push("Review the incident; if it is malicious, contain the subject by hand (deny policy, deactivate keys, revoke sessions).".into());
    }
    steps
}

fn attributes(case: &CaseFile, severity: Severity, message_type: &str) -> Tags {
    let mut t = Tags::new();
    t.insert("severity".into(), sev(severity).into());
    t.insert(
        "verdict".into(),
        case.classification
            .as_ref()
            .map(|c| verdict_str(c.verdict))
            .unwrap_or("unknown")
            .into(),
    );
    t.insert(
        "incidentId".into(),
        case.incident
            .as_ref()
            .map(|i| i.id.clone())
            .unwrap_or_else(|| "unknown".into()),
    );
    t.insert(
        "source".into(),
        match case.incident.as_ref().map(|i| i.source) {
            Some(IncidentSource::Cloudtrail) => "cloudtrail",
            Some(IncidentSource::Guardduty) => "guardduty",
            None => "unknown",
        }
        .into(),
    );
    t.insert("messageType".into(), message_type.into());
    t
}

/// "cordon FAILED to respond": which state failed, the error, what may be half-done, what to check.
pub fn failure_alert(case: &CaseFile, failure: &Failure, ctx: &RenderContext) -> Rendered {
    let incident = case.incident.as_ref();
    let label = incident
        .map(|i| subject_label(&i.subject))
        .unwrap_or_else(|| "unparsed event".into());
    let state = failure.state.as_deref().unwrap_or("an unknown state");
    let severity = case
        .classification
        .as_ref()
        .map(|c| c.severity.max(Severity::High))
        .unwrap_or(Severity::High);
    let subject = subject_line(&format!(
        "[cordon] FAILED to respond: {label} ({})",
        escape_control(state)
    ));
    let cause: String = escape_control(&failure.cause).chars().take(2000).collect();

    let mut text = format!(
        "cordon FAILED to respond to an incident. A human must take over.\n\n\
         FAILED STATE: {}\nERROR: {}\nCAUSE: {}\n\n",
        escape_control(state),
        escape_control(&failure.error),
        if cause.is_empty() {
            "(none given)".to_string()
        } else {
            cause
        }
    );
    text.push_str("WHAT MAY BE HALF-DONE\n");
    let lower = state.to_ascii_lowercase();
    let half_done = if lower.contains("quarantine") || lower.contains("contain") {
        "Containment may be PARTLY applied: check the principal's tags (SecurityStatus, QuarantineIncident, CordonDeactivatedKeys, ...), attached policies, access keys and the inline policy cordon-revoke-sessions."
    } else if lower.contains("approval") {
        "Approvers may not have been asked, and nothing was contained."
    } else if lower.contains("notif") {
        "Containment (if any) is done; the alert or the Security Hub update may not have been sent."
    } else {
        "Nothing was changed in the account (the failure came before containment)."
    };
    text.push_str(&format!("  {half_done}\n"));
    if let Some(c) = &case.containment {
        for a in &c.actions {
            text.push_str(&format!(
                "  - {} {}: {:?}\n",
                a.action,
                escape_control(&a.target),
                a.status
            ));
        }
    }
    text.push('\n');
    match incident {
        Some(i) => what_happened(i, &mut text),
        None => text.push_str(
            "The event was not parsed into an incident; read it in the execution input.\n",
        ),
    }
    reasons(case, &mut text);
    text.push_str("\nWHAT TO CHECK\n");
    text.push_str("  * The execution history (link below): the failed state's input and error.\n");
    text.push_str("  * The function's CloudWatch logs for the failed step.\n");
    text.push_str("  * Handle the incident by hand: cordon will not retry it on its own.\n");
    let links = links(incident, ctx.execution_arn.as_deref(), ctx);
    text.push_str("\nLINKS\n");
    for (name, url) in &links {
        text.push_str(&format!("  {name}: {url}\n"));
    }
    if let Some(i) = incident {
        text.push_str(&format!("\nIncident id: {}\n", i.id));
    }
    let json = json!({
        "messageType": "failure",
        "failure": failure,
        "severity": sev(severity),
        "incident": case.incident,
        "classification": case.classification,
        "containment": case.containment,
        "executionArn": ctx.execution_arn,
    });
    Rendered {
        subject,
        text,
        json,
        attributes: attributes(case, severity, "failure"),
    }
}

/// The message asking approvers to decide. Never contains a task token.
pub fn approval_request(
    case: &CaseFile,
    execution_arn: &str,
    deadline: DateTime<Utc>,
    ctx: &RenderContext,
) -> Rendered {
    let incident = case.incident.as_ref();
    let id = incident.map(|i| i.id.as_str()).unwrap_or("unknown");
    let label = incident
        .map(|i| subject_label(&i.subject))
        .unwrap_or_else(|| "unparsed event".into());
    let class = case.classification.as_ref();
    let severity = class.map(|c| c.severity).unwrap_or(Severity::High);
    let kind = incident
        .map(|i| escape_control(&i.kind))
        .unwrap_or_default();
    let subject = subject_line(&format!(
        "[cordon] APPROVAL NEEDED: quarantine {label}? - {kind}"
    ));
    let mut text = format!(
        "cordon asks: quarantine {label}?\nSeverity: {}\n\n",
        sev(severity).to_uppercase()
    );
    if let Some(i) = incident {
        what_happened(i, &mut text);
    }
    reasons(case, &mut text);
    let default = match class.map(|c| c.approval_default) {
        Some(crate::model::ApprovalDefault::Quarantine) => "QUARANTINE the subject",
        _ => "only notify (no quarantine)",
    };
    text.push_str(&format!(
        "\nDECIDE BEFORE {} — if nobody decides, cordon will {default}.\n\n",
        time(&deadline)
    ));
    text.push_str("To approve the quarantine:\n");
    text.push_str(&format!("  cordon approve {id} --reason \"...\"\n"));
    text.push_str("To reject it:\n");
    text.push_str(&format!("  cordon reject {id} --reason \"...\"\n\n"));
    text.push_str(&format!("Execution: {execution_arn}\n"));
    text.push_str("Your identity is taken from your AWS credentials; only approvers listed in the policy may decide, and not the person who created the user.\n");
    let links = links(incident, Some(execution_arn), ctx);
    text.push_str("\nLINKS\n");
    for (name, url) in &links {
        text.push_str(&format!("  {name}: {url}\n"));
    }
    let json = json!({
        "messageType": "approval-request",
        "incidentId": id,
        "executionArn": execution_arn,
        "deadline": time(&deadline),
        "default": class.map(|c| c.approval_default),
        "commands": {
            "approve": format!("cordon approve {id} --reason \"...\""),
            "reject": format!("cordon reject {id} --reason \"...\""),
        },
        "incident": case.incident,
        "classification": case.classification,
    });
    Rendered {
        subject,
        text,
        json,
        attributes: attributes(case, severity, "approval-request"),
    }
}

fn asff_label(s: Severity) -> &'static str {
    match s {
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The latest time the case knows of (ASFF `UpdatedAt` must grow with each update; core has
/// no clock, so it uses the case's own timestamps).
fn latest_time(case: &CaseFile, incident: &Incident) -> DateTime<Utc> {
    let mut t = incident.observed_at;
    if let Some(a) = &case.approval {
        t = t.max(a.decided_at);
    }
    if let Some(r) = case.containment.as_ref().and_then(|c| c.record.as_ref()) {
        t = t.max(r.quarantined_at);
    }
    t
}

/// What to tell Security Hub, if anything: a note on the GuardDuty finding, or a new ASFF
/// finding for a CreateUser incident. Nothing for ignored incidents.
pub fn security_hub_update(case: &CaseFile, ctx: &RenderContext) -> Option<SecurityHubUpdate> {
    let incident = case.incident.as_ref()?;
    let class = case.classification.as_ref()?;
    if class.verdict == Verdict::Ignore {
        return None;
    }
    let contained = case.containment.as_ref().is_some_and(|c| {
        !c.dry_run
            && c.actions
                .iter()
                .any(|a| matches!(a.status, ActionStatus::Done | ActionStatus::Already))
            && c.actions.iter().all(|a| a.status != ActionStatus::Failed)
    });
    let summary = {
        let did = if contained {
            "quarantined the subject".to_string()
        } else if case.containment.as_ref().is_some_and(|c| c.dry_run) {
            "planned a quarantine (dry run, nothing changed)".to_string()
        } else {
            format!(
                "notified responders (verdict {})",
                verdict_str(class.verdict)
            )
        };
        format!(
            "cordon {did}; severity {}, score {}; rules: {}",
            sev(class.severity),
            class.score,
            class
                .reasons
                .iter()
                .map(|r| r.rule.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut fields = Tags::new();
    fields.insert("cordonIncident".into(), incident.id.clone());
    fields.insert("cordonVerdict".into(), verdict_str(class.verdict).into());
    if let Some(arn) = &ctx.execution_arn {
        fields.insert("cordonExecution".into(), arn.clone());
    }
    match incident.source {
        IncidentSource::Guardduty => {
            // Security Hub ids GuardDuty findings by the finding ARN, carried in the event.
            let finding_arn = case
                .event
                .pointer("/detail/arn")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!(
                        "arn:aws:guardduty:{}:{}:detector/unknown/finding/{}",
                        incident.region, incident.account, incident.id
                    )
                });
            Some(SecurityHubUpdate::AnnotateFinding {
                finding_id: finding_arn,
                product_arn: format!(
                    "arn:aws:securityhub:{}::product/aws/guardduty",
                    incident.region
                ),
                note: summary.chars().take(512).collect(),
                workflow_status: if contained { "RESOLVED" } else { "NOTIFIED" }.into(),
                user_defined_fields: fields,
            })
        }
        IncidentSource::Cloudtrail => {
            let Subject::IamUser {
                name, arn, user_id, ..
            } = &incident.subject
            else {
                return None;
            };
            let account = &incident.account;
            let region = &incident.region;
            let user_arn = arn
                .clone()
                .unwrap_or_else(|| format!("arn:aws:iam::{account}:user/{name}"));
            let updated = time(&latest_time(case, incident));
            let creator = incident
                .actor
                .as_ref()
                .and_then(|a| a.arn.clone().or(a.name.clone()))
                .unwrap_or_else(|| "an unknown actor".into());
            let mut details = json!({ "UserName": name });
            if let Some(uid) = user_id {
                details["UserId"] = json!(uid);
            }
            let mut finding = json!({
                "SchemaVersion": "2018-10-08",
                "Id": format!("cordon/{account}/{region}/{}", incident.id),
                "ProductArn": format!("arn:aws:securityhub:{region}:{account}:product/{account}/default"),
                "GeneratorId": "cordon",
                "AwsAccountId": account,
                "Region": region,
                "Types": ["TTPs/Persistence/IAM.CreateUser", "Unusual Behaviors/User"],
                "FirstObservedAt": time(&incident.observed_at),
                "CreatedAt": time(&incident.observed_at),
                "UpdatedAt": updated,
                "Severity": { "Label": asff_label(class.severity) },
                "Title": format!("cordon: suspicious IAM user {name} created").chars().take(256).collect::<String>(),
                "Description": format!("IAM user {name} was created by {}. {summary}", escape_control(&creator)).chars().take(1024).collect::<String>(),
                "ProductName": "cordon",
                "CompanyName": "cordon",
                "Resources": [{
                    "Type": "AwsIamUser",
                    "Id": user_arn,
                    "Partition": "aws",
                    "Region": region,
                    "Details": { "AwsIamUser": details },
                }],
                "Workflow": { "Status": if contained { "RESOLVED" } else { "NEW" } },
                "RecordState": "ACTIVE",
                "ProductFields": {
                    "cordon/incidentId": incident.id,
                    "cordon/verdict": verdict_str(class.verdict),
                    "cordon/score": class.score.to_string(),
                },
                "UserDefinedFields": fields,
            });
            if let Some(arn) = &ctx.execution_arn {
                finding["SourceUrl"] = json!(format!(
                    "{}/states/home?region={}#/v2/executions/details/{arn}",
                    ctx.console_base.trim_end_matches('/'),
                    ctx.region
                ));
            }
            Some(SecurityHubUpdate::ImportFinding { finding })
        }
    }
}
