//! Messages to humans (SNS) and Security Hub.
//!
//! Everything that came from the event is escaped (`parse::escape_control`) before it reaches
//! text, so an attacker-chosen value cannot forge lines in an alert. The raw event is never
//! rendered, and no function here takes a task token, so none can leak one.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::Channel;
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
    /// The account cordon runs in (`CORDON_HOME_ACCOUNT`): findings cordon imports into
    /// Security Hub are reported by it, whichever account they are about, because
    /// BatchImportFindings accepts the default product only for the calling account.
    pub home_account: Option<String>,
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
        Subject::Resource { resource_type, id } => {
            format!("{} {}", escape_control(resource_type), escape_control(id))
        }
        Subject::Principal {
            principal_type,
            name,
            ..
        } => match name {
            Some(n) => format!("{} {}", escape_control(principal_type), escape_control(n)),
            None => escape_control(principal_type),
        },
    }
}

/// The subject with the account it is in: role and user names repeat across an
/// organization's accounts, and the responder must know where to look.
fn subject_in_account(i: &Incident) -> String {
    match &i.subject {
        Subject::Root { .. } => subject_label(&i.subject),
        other => format!("{} in {}", subject_label(other), i.account),
    }
}

/// The `cordon release` command that undoes this incident's quarantine.
fn release_command(i: &Incident) -> Option<String> {
    let (name, role) = match &i.subject {
        Subject::IamUser { name, .. } => (name, ""),
        Subject::AssumedRole { role_name, .. } => (role_name, " --role"),
        Subject::Root { .. } | Subject::Resource { .. } | Subject::Principal { .. } => return None,
    };
    Some(format!(
        "cordon release {}{role} --account {} --reason \"...\"",
        escape_control(name),
        i.account
    ))
}

/// The finding type without its `ThreatPurpose:ResourceType/` prefix, for short subjects.
fn short_kind(i: &Incident) -> String {
    escape_control(i.kind.rsplit('/').next().unwrap_or(&i.kind))
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
            IncidentSource::SecurityHub => out.push((
                "Security Hub findings".into(),
                format!("{base}/securityhub/home?region={region}#/findings"),
            )),
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
            "  Subject: {} {} (not an identity)\n",
            escape_control(resource_type),
            escape_control(id)
        )),
        Subject::Principal {
            principal_type,
            name,
            principal_id,
            access_key_id,
        } => {
            out.push_str(&format!(
                "  Subject: a principal of type {} cordon cannot contain",
                escape_control(principal_type)
            ));
            for (what, v) in [
                ("name", name),
                ("principal id", principal_id),
                ("access key", access_key_id),
            ] {
                if let Some(v) = v {
                    out.push_str(&format!(", {what} `{}`", escape_control(v)));
                }
            }
            out.push('\n');
        }
    }
    if let Some(via) = &i.via {
        out.push_str(&match via.channel {
            Channel::SecurityHubImport => "  Received from Security Hub (imported finding)\n".into(),
            Channel::SecurityHubCustomAction => format!(
                "  An analyst sent it to the Security Hub action `{}`: a request to contain, which still needs an approval\n",
                escape_control(via.action_name.as_deref().unwrap_or("unknown"))
            ),
        });
    }
    if let Some(seq) = i.finding.as_ref().and_then(|f| f.sequence.as_ref()) {
        out.push_str(&format!(
            "  Attack sequence principals: {}\n  Signals: {}\n",
            list_or_none(&seq.principals),
            list_or_none(&seq.signals)
        ));
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

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none named".into()
    } else {
        items
            .iter()
            .map(|s| escape_control(s))
            .collect::<Vec<_>>()
            .join("; ")
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
        .map(subject_in_account)
        .unwrap_or_else(|| "unparsed event".into());
    let kind = incident.map(short_kind).unwrap_or_default();

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
        _ if incident.is_some_and(|i| matches!(i.subject, Subject::Principal { .. })) => {
            "cannot be contained, needs attention".to_string()
        }
        _ => "needs attention".to_string(),
    };
    let sample = incident.is_some_and(Incident::is_sample);
    let headline = if sample {
        "GuardDuty sample finding: cordon received it; nothing was contained".to_string()
    } else {
        format!("{}: {label}", outcome)
    };
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
    let (reach, still_open) = instance_credentials(case);
    if let Some(reach) = &reach {
        text.push_str(&format!("\nBLAST RADIUS\n  {}\n", escape_control(reach)));
    }
    if !still_open.is_empty() {
        text.push_str("\nSTILL OPEN\n");
        for line in &still_open {
            text.push_str(&format!("  ! {}\n", escape_control(line)));
        }
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
        "blastRadius": reach,
        "stillOpen": still_open,
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

/// For leaked instance credentials: the blast radius sentence, and what stays open after what
/// cordon did (IMDSv1, the profile, the stolen credentials).
fn instance_credentials(case: &CaseFile) -> (Option<String>, Vec<String>) {
    let Some(incident) = case.incident.as_ref() else {
        return (None, Vec::new());
    };
    let enrichment = case.enrichment.clone().unwrap_or_default();
    let (Some(instance), Subject::AssumedRole { role_name, .. }) = (
        crate::instance::compromised_instance(incident, &enrichment),
        &incident.subject,
    ) else {
        return (None, Vec::new());
    };
    let reach = enrichment
        .blast_radius
        .as_ref()
        .map(|b| crate::instance::blast_radius_sentence(b, &instance));
    let Some(containment) = case.containment.as_ref().filter(|c| !c.dry_run) else {
        return (reach, Vec::new());
    };
    let done = |name: &str| {
        containment.actions.iter().any(|a| {
            a.action == name && matches!(a.status, ActionStatus::Done | ActionStatus::Already)
        })
    };
    let open = crate::instance::still_open(
        role_name,
        &instance,
        enrichment.instance.as_ref(),
        done(crate::plan::ACT_IMDS),
        done(crate::plan::ACT_SWAP),
        done(crate::plan::ACT_REVOKE),
    );
    (reach, open)
}

fn next_steps(case: &CaseFile, contained: bool, any_failed: bool) -> Vec<String> {
    let mut steps = Vec::new();
    let Some(i) = &case.incident else {
        steps.push("Open the execution, read the event, and handle it by hand.".into());
        return steps;
    };
    let class = case.classification.as_ref();
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
                let revoked = case.containment.as_ref().is_some_and(|c| {
                    c.actions.iter().any(|a| {
                        a.action == crate::plan::ACT_REVOKE
                            && matches!(a.status, ActionStatus::Done | ActionStatus::Already)
                    })
                });
                if revoked {
                    steps.push(format!("Sessions of role `{role_name}` issued before the quarantine are denied; find how its credentials leaked (SSRF, IMDSv1, exposed logs)."));
                } else {
                    steps.push(format!("Find how the credentials of role `{role_name}` leaked (SSRF, IMDSv1, exposed logs), and read STILL OPEN above."));
                }
                if let Some(id) = instance_id {
                    steps.push(format!(
                        "Investigate instance {id} (snapshot its volumes before you replace it)."
                    ));
                }
            }
            _ => {}
        }
        if let Some(command) = release_command(i) {
            steps.push(format!("If it was legitimate: `{command}` undoes exactly what cordon did (a deleted console password must be reset, it cannot be restored)."));
        }
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
            Some(IncidentSource::SecurityHub) => "securityhub",
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
        .map(subject_in_account)
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
        .map(subject_in_account)
        .unwrap_or_else(|| "unparsed event".into());
    let class = case.classification.as_ref();
    let severity = class.map(|c| c.severity).unwrap_or(Severity::High);
    let kind = incident.map(short_kind).unwrap_or_default();
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
    let (reach, _) = instance_credentials(case);
    if let Some(b) = &reach {
        text.push_str(&format!(
            "Leaked instance credentials. {}.\n",
            escape_control(b)
        ));
        text.push_str("To approve and also revoke every current session of the role (the credentials already stolen stop working; so do the role's other instances until their credentials rotate):\n");
        text.push_str(&format!(
            "  cordon approve {id} --revoke-role-sessions --reason \"...\"\n"
        ));
        text.push_str("To approve the instance's containment only (the stolen credentials stay valid until they expire):\n");
        text.push_str(&format!(
            "  cordon approve {id} --keep-role-sessions --reason \"...\"\n"
        ));
    }
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
            "approveAndRevokeRoleSessions": reach.as_ref().map(|_| format!("cordon approve {id} --revoke-role-sessions --reason \"...\"")),
            "approveInstanceOnly": reach.as_ref().map(|_| format!("cordon approve {id} --keep-role-sessions --reason \"...\"")),
        },
        "blastRadius": reach,
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

/// Where the response stands, in one word, for Security Hub's `UserDefinedFields` and the
/// finding's note.
pub fn containment_status(case: &CaseFile) -> &'static str {
    let class = case.classification.as_ref();
    match (&case.containment, &case.approval) {
        (Some(c), _) if c.dry_run => "dry-run",
        (Some(c), _) if c.actions.iter().any(|a| a.status == ActionStatus::Failed) => "incomplete",
        (Some(c), _)
            if c.actions
                .iter()
                .any(|a| matches!(a.status, ActionStatus::Done | ActionStatus::Already)) =>
        {
            // Leaked instance credentials with something left open (the stolen credentials
            // not revoked, IMDSv1 on, the profile not swapped) are not resolved.
            if instance_credentials(case).1.is_empty() {
                "contained"
            } else {
                "partly-contained"
            }
        }
        (Some(_), _) => "not-contained",
        (None, Some(a)) if a.decision == Decision::Rejected => "rejected",
        (None, Some(a)) if a.decision == Decision::TimedOut => "approval-timed-out",
        (None, None) if class.is_some_and(|c| c.verdict == Verdict::Approve) => "awaiting-approval",
        _ => "not-contained",
    }
}

/// What to tell Security Hub, if anything: on a GuardDuty finding (however it reached cordon),
/// a note, `UserDefinedFields` and the workflow status (`NOTIFIED` when a human is asked or
/// alerted, `RESOLVED` only when containment succeeded, never `SUPPRESSED`); for a CreateUser
/// incident, a cordon finding of its own. Nothing for ignored incidents.
///
/// Called twice per response: when approval is requested (the finding shows that a human is
/// asked) and at the end.
pub fn security_hub_update(case: &CaseFile, ctx: &RenderContext) -> Option<SecurityHubUpdate> {
    let incident = case.incident.as_ref()?;
    let class = case.classification.as_ref()?;
    if class.verdict == Verdict::Ignore {
        return None;
    }
    let status = containment_status(case);
    let contained = status == "contained";
    let summary = {
        let did = match status {
            "contained" => "quarantined the subject".to_string(),
            "partly-contained" => {
                "contained the instance, with gaps left open (see the alert's STILL OPEN)"
                    .to_string()
            }
            "dry-run" => "planned a quarantine (dry run, nothing changed)".to_string(),
            "incomplete" => "started a quarantine that is INCOMPLETE (see the alert)".to_string(),
            "awaiting-approval" => "asked a human to approve a quarantine".to_string(),
            "rejected" => "was refused the quarantine by an approver; responders notified".into(),
            "approval-timed-out" => "got no approval in time; responders notified".into(),
            _ => format!(
                "notified responders (verdict {})",
                verdict_str(class.verdict)
            ),
        };
        let top: Vec<String> = class
            .reasons
            .iter()
            .take(3)
            .map(|r| {
                format!(
                    "{}: {}",
                    r.rule,
                    crate::parse::bounded(&escape_control(&r.detail), 90)
                )
            })
            .collect();
        format!(
            "cordon {did}; verdict {}, severity {}, score {}. {}",
            verdict_str(class.verdict),
            sev(class.severity),
            class.score,
            top.join("; ")
        )
    };
    let mut fields = Tags::new();
    fields.insert("cordonIncident".into(), incident.id.clone());
    fields.insert("cordonVerdict".into(), verdict_str(class.verdict).into());
    fields.insert("cordonContainment".into(), status.into());
    if let Some(arn) = &ctx.execution_arn {
        fields.insert("cordonExecution".into(), arn.clone());
    }
    match incident.source {
        IncidentSource::SecurityHub => None,
        IncidentSource::Guardduty => {
            let target = incident.finding.as_ref()?.security_hub.as_ref()?;
            // Security Hub's note is at most 512 characters: the execution link goes first
            // into UserDefinedFields, and the note ends with it when it fits.
            let link = ctx.execution_arn.as_ref().map(|arn| {
                format!(
                    " Execution: {}/states/home?region={}#/v2/executions/details/{arn}",
                    ctx.console_base.trim_end_matches('/'),
                    ctx.region
                )
            });
            let mut note = summary;
            if let Some(link) = link {
                let room = 512usize.saturating_sub(link.chars().count());
                if note.chars().count() > room {
                    note = note
                        .chars()
                        .take(room.saturating_sub(1))
                        .collect::<String>()
                        + "…";
                }
                note.push_str(&link);
            }
            Some(SecurityHubUpdate::AnnotateFinding {
                finding_id: target.id.clone(),
                product_arn: target.product_arn.clone(),
                note: note.chars().take(512).collect(),
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
            let reporter = ctx.home_account.as_deref().unwrap_or(account);
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
                "ProductArn": format!("arn:aws:securityhub:{region}:{reporter}:product/{reporter}/default"),
                "GeneratorId": "cordon",
                "AwsAccountId": reporter,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionOutcome, Approval, Containment};
    use crate::parse::tests::{fixture, incident};
    use crate::testkit::*;

    const EXEC: &str =
        "arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:c1d2e3f4";

    fn ctx() -> RenderContext {
        RenderContext {
            home_account: None,
            execution_arn: Some(EXEC.into()),
            region: "us-east-1".into(),
            console_base: "https://console.aws.amazon.com".into(),
        }
    }

    fn case(fixture_name: &str, admin: bool) -> CaseFile {
        let i = incident(fixture_name);
        let mut e = enrichment_for(&i);
        if admin {
            e.user
                .as_mut()
                .unwrap()
                .attached_policies
                .push(admin_policy());
        }
        let c = crate::classify::classify(&i, &e, &policy());
        CaseFile {
            event: fixture(fixture_name),
            incident: Some(i),
            enrichment: Some(e),
            classification: Some(c),
            ..Default::default()
        }
    }

    fn outcome(action: &str, target: &str, status: ActionStatus) -> ActionOutcome {
        ActionOutcome {
            action: action.into(),
            target: target.into(),
            status,
            detail: String::new(),
        }
    }

    fn quarantined_case() -> CaseFile {
        let mut c = case(
            "cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
            true,
        );
        c.containment = Some(Containment {
            dry_run: false,
            actions: vec![
                outcome(
                    "attach-quarantine-policy",
                    "service-x7k2qa",
                    ActionStatus::Done,
                ),
                outcome("tag-quarantined", "service-x7k2qa", ActionStatus::Done),
                outcome("revoke-sessions", "service-x7k2qa", ActionStatus::Done),
            ],
            record: None,
        });
        c
    }

    #[test]
    fn alert_for_a_quarantined_user() {
        let r = alert(&quarantined_case(), &ctx());
        println!("{}\n{}", r.subject, r.text);
        assert_eq!(
            r.subject,
            "[cordon] HIGH quarantined: IAM user service-x7k2qa in 123456789012 - CreateUser"
        );
        for line in [
            "cordon: quarantined: IAM user service-x7k2qa in 123456789012\n",
            "  CreateUser in account 123456789012 (us-east-1) at 2026-03-14T02:47:13Z\n",
            "  Subject: IAM user `service-x7k2qa` (arn:aws:iam::123456789012:user/service-x7k2qa)\n",
            "  Actor: arn:aws:iam::123456789012:user/devops-tools (IAMUser)\n",
            "  MFA: NO\n",
            "  Source IP: 185.220.101.34\n",
            "VERDICT: quarantine (severity high, score 105)\n",
            "  - suspicious-user-name (+40): `service-x7k2qa` matches suspicious pattern `^(svc|service)-[a-z0-9]{6}$`\n",
            "  - attach-quarantine-policy service-x7k2qa: done\n",
            "  * Ask the creator (arn:aws:iam::123456789012:user/devops-tools) whether user `service-x7k2qa` was expected.\n",
            "`cordon release service-x7k2qa --account 123456789012 --reason \"...\"`",
            "  IAM user: https://console.aws.amazon.com/iam/home#/users/details/service-x7k2qa\n",
            "  CloudTrail event: https://console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406\n",
            "  Step Functions execution: https://console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:c1d2e3f4\n",
        ] {
            assert!(r.text.contains(line), "missing {line:?} in\n{}", r.text);
        }
        let expected: Tags = [
            ("incidentId", "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"),
            ("messageType", "alert"),
            ("severity", "high"),
            ("source", "cloudtrail"),
            ("verdict", "quarantine"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(r.attributes, expected);
        assert_eq!(r.json["messageType"], "alert");
        assert_eq!(
            r.json["incident"]["id"],
            "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"
        );
        assert!(r.json.get("event").is_none());
    }

    #[test]
    fn alert_for_a_guardduty_role() {
        let r = alert(
            &case(
                "guardduty-instance-credential-exfiltration-outside-aws.json",
                false,
            ),
            &ctx(),
        );
        assert_eq!(
            r.subject,
            "[cordon] HIGH needs attention: role web-app-role in 123456789012 - InstanceCredentialExfiltration.O…"
        );
        assert!(r.text.contains("  Source IP: 198.51.100.77 (Example Hosting Ltd, AS64500, Amsterdam, Netherlands)\n"), "{}", r.text);
        assert!(r.text.contains("  GuardDuty finding: https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=a4c5d6e7f8091a2b3c4d5e6f708192a3\n"));
        assert!(r.text.contains(
            "  IAM role: https://console.aws.amazon.com/iam/home#/roles/details/web-app-role\n"
        ));
        assert!(r.text.contains("  EC2 instance: https://console.aws.amazon.com/ec2/home?region=us-east-1#InstanceDetails:instanceId=i-0a1b2c3d4e5f60718\n"));
        assert!(r.text.contains("  Nothing was changed in the account.\n"));
    }

    #[test]
    fn an_instance_contained_alone_says_its_blast_radius_and_what_stays_open() {
        let mut c = case(
            "guardduty-instance-credential-exfiltration-outside-aws.json",
            false,
        );
        let e = c.enrichment.as_mut().unwrap();
        e.blast_radius = Some(blast_radius("web-app-role", "i-0a1b2c3d4e5f60718", 2));
        e.instance = Some(crate::model::InstanceFacts {
            instance_id: "i-0a1b2c3d4e5f60718".into(),
            metadata_http_tokens: Some("optional".into()),
            ..Default::default()
        });
        c.containment = Some(Containment {
            dry_run: false,
            actions: vec![
                outcome("tag-quarantined", "web-app-role", ActionStatus::Done),
                outcome(
                    "swap-instance-profile",
                    "i-0a1b2c3d4e5f60718",
                    ActionStatus::Done,
                ),
                outcome(
                    "enforce-imds-v2",
                    "i-0a1b2c3d4e5f60718",
                    ActionStatus::Skipped,
                ),
                outcome("revoke-sessions", "web-app-role", ActionStatus::Skipped),
            ],
            record: None,
        });
        let r = alert(&c, &ctx());
        assert!(r.text.contains("\nBLAST RADIUS\n  web-app-role is used by 3 running instances in us-east-1, 2 besides i-0a1b2c3d4e5f60718 (i-00000000000000001 \"web-1\" in Auto Scaling group web-asg, i-00000000000000002 \"web-2\" in Auto Scaling group web-asg); revoking its sessions interrupts all of them until their credentials rotate (up to ~1 h)\n"), "{}", r.text);
        assert!(r.text.contains("\nSTILL OPEN\n  ! IMDSv1 stays enabled on i-0a1b2c3d4e5f60718: whatever made it leak credentials (an SSRF, a proxy) can still fetch fresh credentials"), "{}", r.text);
        assert!(r.text.contains("  ! The credentials already taken from i-0a1b2c3d4e5f60718 stay valid until they expire"), "{}", r.text);
        assert!(
            !r.text
                .contains("still runs with web-app-role's instance profile"),
            "swapped: {}",
            r.text
        );
        assert!(
            !r.text.contains("issued before the quarantine are denied"),
            "not revoked: {}",
            r.text
        );

        // Not resolved in Security Hub: the stolen credentials are still valid.
        assert_eq!(containment_status(&c), "partly-contained");
        match security_hub_update(&c, &ctx()) {
            Some(SecurityHubUpdate::AnnotateFinding {
                workflow_status,
                note,
                ..
            }) => {
                assert_eq!(workflow_status, "NOTIFIED");
                assert!(
                    note.starts_with("cordon contained the instance, with gaps left open"),
                    "{note}"
                );
            }
            other => panic!("{other:?}"),
        }
        let a = approval_request(&c, EXEC, t("2026-03-14T03:00:00Z"), &ctx());
        assert!(
            a.text.contains(
                "Leaked instance credentials. web-app-role is used by 3 running instances"
            ),
            "{}",
            a.text
        );
        assert!(a.text.contains("  cordon approve a4c5d6e7f8091a2b3c4d5e6f708192a3 --revoke-role-sessions --reason \"...\"\n"), "{}", a.text);
        assert!(a.text.contains("  cordon approve a4c5d6e7f8091a2b3c4d5e6f708192a3 --keep-role-sessions --reason \"...\"\n"), "{}", a.text);
    }

    #[test]
    fn subjects_are_short_single_lines_and_text_is_escaped() {
        let mut c = case(
            "cloudtrail-create-user-control-chars-in-user-agent.json",
            false,
        );
        let long = "a".repeat(64);
        if let Some(Subject::IamUser { name, .. }) = c.incident.as_mut().map(|i| &mut i.subject) {
            *name = long.clone();
        }
        let f = Failure {
            state: Some("Quarantine\nX".into()),
            error: "States.TaskFailed".into(),
            cause: "boom".into(),
        };
        for r in [
            alert(&c, &ctx()),
            failure_alert(&c, &f, &ctx()),
            approval_request(&c, EXEC, t("2026-03-14T03:55:00Z"), &ctx()),
        ] {
            assert!(r.subject.chars().count() <= 100, "{}", r.subject);
            assert!(
                !r.subject.contains('\n') && !r.subject.contains('\r'),
                "{:?}",
                r.subject
            );
            assert!(!r.text.contains("\r\nX-Injected"), "{}", r.text);
        }
        assert!(
            alert(&c, &ctx())
                .text
                .contains("  User agent: curl/8.5.0\\u{d}\\u{a}X-Injected: yes\n")
        );
    }

    #[test]
    fn failure_alert_says_what_failed_and_what_to_check() {
        let mut c = quarantined_case();
        c.containment.as_mut().unwrap().actions[2].status = ActionStatus::Failed;
        let f = Failure {
            state: Some("Quarantine".into()),
            error: "Transient".into(),
            cause: "iam:PutUserPolicy failed (Transient): Rate exceeded".into(),
        };
        let r = failure_alert(&c, &f, &ctx());
        assert_eq!(
            r.subject,
            "[cordon] FAILED to respond: IAM user service-x7k2qa in 123456789012 (Quarantine)"
        );
        for line in [
            "cordon FAILED to respond to an incident. A human must take over.\n",
            "FAILED STATE: Quarantine\nERROR: Transient\nCAUSE: iam:PutUserPolicy failed (Transient): Rate exceeded\n",
            "Containment may be PARTLY applied",
            "  - revoke-sessions service-x7k2qa: Failed\n",
            "  Step Functions execution: https://console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/",
        ] {
            assert!(r.text.contains(line), "missing {line:?} in\n{}", r.text);
        }
        assert_eq!(r.attributes["messageType"], "failure");
        assert_eq!(r.attributes["severity"], "high");
        let r = failure_alert(
            &CaseFile::default(),
            &Failure {
                state: None,
                error: "States.Runtime".into(),
                cause: String::new(),
            },
            &ctx(),
        );
        assert_eq!(
            r.subject,
            "[cordon] FAILED to respond: unparsed event (an unknown state)"
        );
        assert!(r.text.contains("Nothing was changed in the account"));
    }

    #[test]
    fn approval_request_has_commands_and_never_a_token() {
        let mut c = case("guardduty-tor-ip-caller.json", false);
        let token = "AQCEAAAAKgAAAAMAAAAAAAAAAc1TaskTokenSecretValue";
        c.event["taskToken"] = serde_json::json!(token);
        let r = approval_request(&c, EXEC, t("2026-03-14T02:45:12Z"), &ctx());
        println!("{}\n{}", r.subject, r.text);
        assert_eq!(
            r.subject,
            "[cordon] APPROVAL NEEDED: quarantine IAM user dev-bob in 123456789012? - TorIPCaller"
        );
        for line in [
            "  cordon approve c6e7f8091a2b3c4d5e6f708192a3b4c5 --reason \"...\"\n",
            "  cordon reject c6e7f8091a2b3c4d5e6f708192a3b4c5 --reason \"...\"\n",
            "Execution: arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:c1d2e3f4\n",
            "DECIDE BEFORE 2026-03-14T02:45:12Z — if nobody decides, cordon will QUARANTINE the subject.\n",
            "  - guardduty-severity (+40): GuardDuty severity 5",
        ] {
            assert!(r.text.contains(line), "missing {line:?} in\n{}", r.text);
        }
        assert!(!r.text.contains(token) && !r.json.to_string().contains(token));
        assert!(!r.text.to_lowercase().contains("tasktoken"));
        assert_eq!(
            r.json["commands"]["approve"],
            "cordon approve c6e7f8091a2b3c4d5e6f708192a3b4c5 --reason \"...\""
        );
    }

    #[test]
    fn alert_after_rejection_and_dry_run() {
        let mut c = case("guardduty-tor-ip-caller.json", false);
        c.approval = Some(Approval {
            decision: Decision::Rejected,
            approver: Some("arn:aws:iam::123456789012:user/alice".into()),
            verified: true,
            reason: "known pentest".into(),
            decided_at: t("2026-03-14T02:00:00Z"),
            revoke_role_sessions: None,
        });
        let r = alert(&c, &ctx());
        assert!(
            r.subject
                .starts_with("[cordon] MEDIUM quarantine rejected: IAM user dev-bob"),
            "{}",
            r.subject
        );
        assert!(r.text.contains(
            "APPROVAL: REJECTED by arn:aws:iam::123456789012:user/alice (verified by AWS) at 2026-03-14T02:00:00Z: \"known pentest\"\n"
        ));
        let mut c = quarantined_case();
        c.containment.as_mut().unwrap().dry_run = true;
        let r = alert(&c, &ctx());
        assert!(
            r.subject
                .starts_with("[cordon] HIGH DRY RUN (nothing changed): IAM user service-x7k2qa"),
            "{}",
            r.subject
        );
        assert!(
            r.text
                .contains("  DRY RUN: the policy asks for a plan only; nothing was changed.\n")
        );
    }

    #[test]
    fn security_hub_for_guardduty_annotates_the_finding() {
        let c = case("guardduty-tor-ip-caller.json", false);
        let Some(SecurityHubUpdate::AnnotateFinding {
            finding_id,
            product_arn,
            note,
            workflow_status,
            user_defined_fields,
        }) = security_hub_update(&c, &ctx())
        else {
            panic!()
        };
        assert_eq!(
            finding_id,
            "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0/finding/c6e7f8091a2b3c4d5e6f708192a3b4c5"
        );
        assert_eq!(
            product_arn,
            "arn:aws:securityhub:us-east-1::product/aws/guardduty"
        );
        assert_eq!(workflow_status, "NOTIFIED");
        // Approval asked, not yet decided (the request-approval write-back): the note gives
        // the verdict, the top reasons and the execution link, within Security Hub's 512.
        assert!(
            note.starts_with("cordon asked a human to approve a quarantine; verdict approve, severity medium, score 50. guardduty-severity: GuardDuty severity 5"),
            "{note}"
        );
        assert!(
            note.ends_with(&format!("#/v2/executions/details/{EXEC}")),
            "{note}"
        );
        assert!(note.chars().count() <= 512);
        assert_eq!(
            user_defined_fields["cordonContainment"],
            "awaiting-approval"
        );
        assert_eq!(
            user_defined_fields["cordonIncident"],
            "c6e7f8091a2b3c4d5e6f708192a3b4c5"
        );
        assert_eq!(user_defined_fields["cordonExecution"], EXEC);
        let mut c = case(
            "guardduty-instance-credential-exfiltration-outside-aws.json",
            false,
        );
        let workflow = |c: &CaseFile| match security_hub_update(c, &ctx()) {
            Some(SecurityHubUpdate::AnnotateFinding {
                workflow_status, ..
            }) => workflow_status,
            other => panic!("{other:?}"),
        };
        // Sessions revoked but the instance still on the role's profile: not resolved.
        let mut actions = vec![outcome(
            "revoke-sessions",
            "web-app-role",
            ActionStatus::Done,
        )];
        c.containment = Some(Containment {
            dry_run: false,
            actions: actions.clone(),
            record: None,
        });
        assert_eq!(workflow(&c), "NOTIFIED");
        actions.push(outcome(
            "swap-instance-profile",
            "i-0a1b2c3d4e5f60718",
            ActionStatus::Done,
        ));
        c.containment.as_mut().unwrap().actions = actions;
        assert_eq!(workflow(&c), "RESOLVED");
    }

    #[test]
    fn security_hub_for_create_user_imports_an_asff_finding() {
        let c = quarantined_case();
        let Some(SecurityHubUpdate::ImportFinding { finding }) = security_hub_update(&c, &ctx())
        else {
            panic!()
        };
        assert_eq!(finding["SchemaVersion"], "2018-10-08");
        assert_eq!(
            finding["Id"],
            "cordon/123456789012/us-east-1/c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"
        );
        assert_eq!(
            finding["ProductArn"],
            "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
        );
        assert_eq!(finding["GeneratorId"], "cordon");
        assert_eq!(finding["AwsAccountId"], "123456789012");
        assert_eq!(
            finding["Types"],
            serde_json::json!(["TTPs/Persistence/IAM.CreateUser", "Unusual Behaviors/User"])
        );
        assert_eq!(finding["Severity"]["Label"], "HIGH");
        assert_eq!(finding["CreatedAt"], "2026-03-14T02:47:13Z");
        assert_eq!(finding["UpdatedAt"], "2026-03-14T02:47:13Z");
        assert_eq!(finding["Resources"][0]["Type"], "AwsIamUser");
        assert_eq!(
            finding["Resources"][0]["Id"],
            "arn:aws:iam::123456789012:user/service-x7k2qa"
        );
        assert_eq!(
            finding["Resources"][0]["Details"]["AwsIamUser"]["UserName"],
            "service-x7k2qa"
        );
        assert_eq!(finding["Workflow"]["Status"], "RESOLVED");
        assert_eq!(
            finding["Title"],
            "cordon: suspicious IAM user service-x7k2qa created"
        );
        for key in [
            "SchemaVersion",
            "Id",
            "ProductArn",
            "GeneratorId",
            "AwsAccountId",
            "Types",
            "CreatedAt",
            "UpdatedAt",
            "Severity",
            "Title",
            "Description",
            "Resources",
        ] {
            assert!(finding.get(key).is_some(), "ASFF requires {key}");
        }
    }

    #[test]
    fn a_member_accounts_finding_is_imported_by_the_account_cordon_runs_in() {
        let text = serde_json::to_string(&quarantined_case())
            .unwrap()
            .replace("123456789012", "210987654321");
        let c: CaseFile = serde_json::from_str(&text).unwrap();
        let mut central = ctx();
        central.home_account = Some("123456789012".into());
        let Some(SecurityHubUpdate::ImportFinding { finding }) = security_hub_update(&c, &central)
        else {
            panic!()
        };
        // BatchImportFindings takes the default product only from the calling account.
        assert_eq!(
            finding["ProductArn"],
            "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
        );
        assert_eq!(finding["AwsAccountId"], "123456789012");
        // What it is about stays the member's.
        assert_eq!(
            finding["Id"],
            "cordon/210987654321/us-east-1/c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"
        );
        assert_eq!(
            finding["Resources"][0]["Id"],
            "arn:aws:iam::210987654321:user/service-x7k2qa"
        );
    }

    #[test]
    fn security_hub_ignores_ignored_incidents() {
        assert_eq!(
            security_hub_update(
                &case("cloudtrail-create-user-access-denied.json", false),
                &ctx()
            ),
            None
        );
        assert_eq!(
            security_hub_update(&case("guardduty-ec2-port-probe.json", false), &ctx()),
            None
        );
        assert_eq!(security_hub_update(&CaseFile::default(), &ctx()), None);
    }
}
