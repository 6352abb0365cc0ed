//! Table-driven classification: every rule that fires adds a named [`Reason`] with points.
//!
//! ## How the verdict is reached
//!
//! 1. **Gates** decide outright, before any scoring, and add a 0-point reason:
//!    `failed-call`, `not-an-identity`, `archived-finding` → **ignore**.
//! 2. **Scoring rules** add points ([`RULES`]). The score is their sum, and the verdict is the
//!    band it falls in: ≥ [`QUARANTINE_SCORE`] quarantine, ≥ [`APPROVE_SCORE`] approve,
//!    ≥ [`NOTIFY_SCORE`] notify, else ignore. For GuardDuty the severity rule gives exactly the
//!    band the policy's thresholds ask for (80 / 40 / 10 points) and finding-family points are
//!    at most 15, so a family never moves a finding across one of the policy's thresholds.
//! 3. **Caps** then lower the verdict, never raise it (0-point reasons): `root-subject`,
//!    `subject-missing`, `protected`, `duplicate` and a trusted creator with risk signals cap at
//!    **notify**; a trusted creator without any risk signal caps at **ignore**; enrichment with
//!    failed lookups caps at **approve** (fail closed: no automatic quarantine on partial facts).
//!
//! Severity is the highest of: the score's band (≥ 80 high, ≥ 40 medium, else low), GuardDuty's
//! own label for the finding severity (≥ 9 critical, ≥ 7 high, ≥ 4 medium), and rule floors
//! (the root user as subject: critical; root as creator: high).

use crate::model::{
    Actor, Classification, Enrichment, Incident, IncidentSource, Reason, Severity, Subject, Verdict,
};
use crate::policy::Policy;

pub const QUARANTINE_SCORE: i32 = 80;
pub const APPROVE_SCORE: i32 = 40;
pub const NOTIFY_SCORE: i32 = 10;

// Gate and cap rules (0 points).
pub const FAILED_CALL: &str = "failed-call";
pub const NOT_AN_IDENTITY: &str = "not-an-identity";
pub const ARCHIVED_FINDING: &str = "archived-finding";
pub const ROOT_SUBJECT: &str = "root-subject";
pub const SUBJECT_MISSING: &str = "subject-missing";
pub const PROTECTED: &str = "protected";
pub const DUPLICATE: &str = "duplicate";
pub const PREVIOUSLY_QUARANTINED: &str = "previously-quarantined";
pub const TRUSTED_CREATOR: &str = "trusted-creator";
pub const INCOMPLETE_ENRICHMENT: &str = "incomplete-enrichment";

// Scoring rules.
pub const NEW_IAM_USER: &str = "new-iam-user";
pub const SUSPICIOUS_USER_NAME: &str = "suspicious-user-name";
pub const CREATOR_WITHOUT_MFA: &str = "creator-without-mfa";
pub const CREATOR_IS_ROOT: &str = "creator-is-root";
pub const UNUSUAL_USER_AGENT: &str = "unusual-user-agent";
pub const NEW_USER_ADMIN_POLICY: &str = "new-user-admin-policy";
pub const NEW_USER_ACCESS_KEYS: &str = "new-user-access-keys";
pub const GUARDDUTY_SEVERITY: &str = "guardduty-severity";
pub const FINDING_FAMILY: &str = "finding-family";

/// The scoring table: rule, points, when it fires.
pub const RULES: &[(&str, i32, &str)] = &[
    (
        NEW_IAM_USER,
        10,
        "any IAM user created by a creator the policy does not trust",
    ),
    (
        SUSPICIOUS_USER_NAME,
        40,
        "the new user's name matches suspiciousUserNamePatterns",
    ),
    (
        CREATOR_WITHOUT_MFA,
        15,
        "an IAM user (or root) created it without MFA (long-term keys count as no MFA)",
    ),
    (CREATOR_IS_ROOT, 40, "the root user created it"),
    (
        UNUSUAL_USER_AGENT,
        10,
        "an IAM user's long-term keys via CLI/SDK (10); an unknown or missing agent (20); a penetration-testing distribution (40)",
    ),
    (
        NEW_USER_ADMIN_POLICY,
        30,
        "the new user already has admin-level policies or an admin group",
    ),
    (
        NEW_USER_ACCESS_KEYS,
        15,
        "the new user already has access keys",
    ),
    (
        GUARDDUTY_SEVERITY,
        80,
        "GuardDuty severity ≥ quarantineThreshold (80), ≥ approvalThreshold (40), below (10)",
    ),
    (
        FINDING_FAMILY,
        15,
        "InstanceCredentialExfiltration, RootCredentialUsage (15); TorIPCaller, AnomalousBehavior, ConsoleLoginSuccess.B (10)",
    ),
];

/// Admin-level AWS managed policies.
const ADMIN_POLICIES: &[&str] = &["AdministratorAccess", "IAMFullAccess", "PowerUserAccess"];

/// Classify an incident. Pure: the same inputs always give the same verdict.
pub fn classify(incident: &Incident, enrichment: &Enrichment, policy: &Policy) -> Classification {
    let mut c = Classification {
        verdict: Verdict::Ignore,
        severity: Severity::Low,
        score: 0,
        reasons: Vec::new(),
        protected: false,
        duplicate_of: None,
        approval_timeout_seconds: policy.approval.timeout_seconds,
        approval_default: policy.approval.default,
        dry_run: policy.dry_run,
    };
    let add = |c: &mut Classification, rule: &str, points: i32, detail: String| {
        c.reasons.push(Reason {
            rule: rule.to_string(),
            points,
            detail,
        });
    };

    // 1. Gates.
    if let Some(f) = &incident.failed_call {
        add(
            &mut c,
            FAILED_CALL,
            0,
            format!(
                "{} failed with {}: nothing was created",
                incident.kind, f.error_code
            ),
        );
        return c;
    }
    if let Subject::Resource { resource_type, id } = &incident.subject {
        add(
            &mut c,
            NOT_AN_IDENTITY,
            0,
            format!(
                "the finding is about {resource_type} {id}, not an identity: nothing for cordon to contain"
            ),
        );
        return c;
    }
    if incident.finding.as_ref().is_some_and(|f| f.archived) {
        add(
            &mut c,
            ARCHIVED_FINDING,
            0,
            "GuardDuty archived the finding (suppression rule or analyst)".into(),
        );
        return c;
    }

    // 2. Scoring.
    let mut floor = Severity::Low;
    let mut creator_signals = false;
    if incident.source == IncidentSource::Cloudtrail {
        if let Subject::IamUser { name, .. } = &incident.subject {
            add(
                &mut c,
                NEW_IAM_USER,
                10,
                format!("IAM user `{name}` was created"),
            );
            if let Some(p) = policy
                .suspicious_user_name_patterns
                .iter()
                .find(|p| regex::Regex::new(p).is_ok_and(|r| r.is_match(name)))
            {
                add(
                    &mut c,
                    SUSPICIOUS_USER_NAME,
                    40,
                    format!("`{name}` matches suspicious pattern `{p}`"),
                );
            }
        }
        if let Some(actor) = &incident.actor {
            if actor.identity_type == "Root" {
                add(
                    &mut c,
                    CREATOR_IS_ROOT,
                    40,
                    "the root user created it (root should not be used for daily work)".into(),
                );
                floor = floor.max(Severity::High);
            }
            if matches!(actor.identity_type.as_str(), "IAMUser" | "Root")
                && actor.mfa_authenticated == Some(false)
            {
                add(
                    &mut c,
                    CREATOR_WITHOUT_MFA,
                    15,
                    format!("{} acted without MFA", actor_label(actor)),
                );
            }
            if let Some((points, detail)) = user_agent_points(actor) {
                add(&mut c, UNUSUAL_USER_AGENT, points, detail);
            }
        }
        if let Some(user) = &enrichment.user {
            let admin: Vec<&str> = user
                .attached_policies
                .iter()
                .map(|p| p.name.as_str())
                .filter(|n| ADMIN_POLICIES.contains(n) || n.to_ascii_lowercase().contains("admin"))
                .chain(
                    user.groups
                        .iter()
                        .map(String::as_str)
                        .filter(|g| g.to_ascii_lowercase().contains("admin")),
                )
                .collect();
            if !admin.is_empty() {
                add(
                    &mut c,
                    NEW_USER_ADMIN_POLICY,
                    30,
                    format!(
                        "the new user already has admin-level access: {}",
                        admin.join(", ")
                    ),
                );
            }
            if !user.access_keys.is_empty() {
                let ids: Vec<&str> = user.access_keys.iter().map(|k| k.id.as_str()).collect();
                add(
                    &mut c,
                    NEW_USER_ACCESS_KEYS,
                    15,
                    format!("the new user already has access keys: {}", ids.join(", ")),
                );
            }
        }
        creator_signals = c.reasons.iter().any(|r| r.rule != NEW_IAM_USER);
    }
    if let Some(f) = &incident.finding {
        let t = &policy.guard_duty;
        let (points, band) = if f.severity >= t.quarantine_threshold {
            (
                80,
                format!("≥ quarantineThreshold {}", t.quarantine_threshold),
            )
        } else if f.severity >= t.approval_threshold {
            (
                40,
                format!(
                    "≥ approvalThreshold {} and < quarantineThreshold {}",
                    t.approval_threshold, t.quarantine_threshold
                ),
            )
        } else {
            (10, format!("< approvalThreshold {}", t.approval_threshold))
        };
        add(
            &mut c,
            GUARDDUTY_SEVERITY,
            points,
            format!("GuardDuty severity {} {band}", f.severity),
        );
        floor = floor.max(guardduty_label(f.severity));
        if let Some((points, family)) = finding_family(&f.finding_type) {
            add(
                &mut c,
                FINDING_FAMILY,
                points,
                format!("{family} ({})", f.finding_type),
            );
        }
    }
    c.score = c.reasons.iter().map(|r| r.points).sum();
    let mut verdict = if c.score >= QUARANTINE_SCORE {
        Verdict::Quarantine
    } else if c.score >= APPROVE_SCORE {
        Verdict::Approve
    } else if c.score >= NOTIFY_SCORE {
        Verdict::Notify
    } else {
        Verdict::Ignore
    };
    let score_severity = if c.score >= QUARANTINE_SCORE {
        Severity::High
    } else if c.score >= APPROVE_SCORE {
        Severity::Medium
    } else {
        Severity::Low
    };

    // 3. Caps.
    let mut cap = |c: &mut Classification, to: Verdict, rule: &str, detail: String| {
        c.reasons.push(Reason {
            rule: rule.to_string(),
            points: 0,
            detail,
        });
        verdict = verdict.min(to);
    };
    if let Subject::Root { account } = &incident.subject {
        floor = Severity::Critical;
        cap(
            &mut c,
            Verdict::Notify,
            ROOT_SUBJECT,
            format!(
                "the root user of {account} is involved: cordon never touches root; a human must act now"
            ),
        );
    }
    if !enrichment.exists && !matches!(incident.subject, Subject::Root { .. }) {
        cap(
            &mut c,
            Verdict::Notify,
            SUBJECT_MISSING,
            "the subject no longer exists: nothing left to contain".into(),
        );
    }
    if let Some(why) = policy.protection(&incident.subject, Some(enrichment)) {
        c.protected = true;
        if !matches!(incident.subject, Subject::Root { .. }) {
            cap(&mut c, Verdict::Notify, PROTECTED, why);
        }
    }
    if let Some(q) = &enrichment.quarantine {
        if q.incident_id == incident.id {
            c.duplicate_of = Some(q.incident_id.clone());
            cap(
                &mut c,
                Verdict::Notify,
                DUPLICATE,
                format!(
                    "already quarantined for this incident at {} (a repeated or updated event)",
                    q.quarantined_at.to_rfc3339()
                ),
            );
        } else {
            c.reasons.push(Reason {
                rule: PREVIOUSLY_QUARANTINED.into(),
                points: 0,
                detail: format!(
                    "already quarantined for incident {} at {}",
                    q.incident_id,
                    q.quarantined_at.to_rfc3339()
                ),
            });
        }
    }
    if incident.source == IncidentSource::Cloudtrail {
        if let Some(actor) = incident
            .actor
            .as_ref()
            .filter(|a| policy.is_trusted_creator(a))
        {
            if creator_signals {
                cap(
                    &mut c,
                    Verdict::Notify,
                    TRUSTED_CREATOR,
                    format!(
                        "{} is a trusted creator, but risk signals are present: notify only, a trusted creator is never contained automatically",
                        actor_label(actor)
                    ),
                );
            } else {
                cap(
                    &mut c,
                    Verdict::Ignore,
                    TRUSTED_CREATOR,
                    format!(
                        "{} is a trusted creator and nothing else is suspicious: expected activity, ignored",
                        actor_label(actor)
                    ),
                );
            }
        }
    }
    if !enrichment.lookup_errors.is_empty() {
        let which: Vec<&str> = enrichment
            .lookup_errors
            .iter()
            .map(|e| e.lookup.as_str())
            .collect();
        cap(
            &mut c,
            Verdict::Approve,
            INCOMPLETE_ENRICHMENT,
            format!(
                "some lookups failed ({}): a human decides instead of automatic quarantine",
                which.join(", ")
            ),
        );
    }
    c.verdict = verdict;
    c.severity = score_severity.max(floor);
    c
}

fn actor_label(actor: &Actor) -> String {
    actor
        .arn
        .clone()
        .or_else(|| actor.name.clone())
        .unwrap_or_else(|| actor.identity_type.clone())
}

/// GuardDuty's own severity labels.
fn guardduty_label(severity: f64) -> Severity {
    if severity >= 9.0 {
        Severity::Critical
    } else if severity >= 7.0 {
        Severity::High
    } else if severity >= 4.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// Finding families that deserve more attention than their severity alone says.
fn finding_family(finding_type: &str) -> Option<(i32, &'static str)> {
    const FAMILIES: &[(&str, i32, &str)] = &[
        (
            "InstanceCredentialExfiltration",
            15,
            "instance credentials used from elsewhere",
        ),
        ("RootCredentialUsage", 15, "root credentials used"),
        ("TorIPCaller", 10, "calls from a Tor exit node"),
        ("AnomalousBehavior", 10, "anomalous API behaviour"),
        ("ConsoleLoginSuccess.B", 10, "worldwide console logins"),
    ];
    FAMILIES
        .iter()
        .find(|(key, ..)| finding_type.contains(key))
        .map(|(_, p, d)| (*p, *d))
}

/// Is the creator's user agent unusual for creating a user?
fn user_agent_points(actor: &Actor) -> Option<(i32, String)> {
    let Some(ua) = actor.user_agent.as_deref().filter(|u| !u.trim().is_empty()) else {
        if actor.identity_type == "AWSService" {
            return None;
        }
        return Some((20, "no user agent recorded".into()));
    };
    let l = ua.to_ascii_lowercase();
    if ["kali", "parrot", "pentoo"].iter().any(|d| l.contains(d)) {
        return Some((
            40,
            format!("user agent from a penetration-testing distribution: `{ua}`"),
        ));
    }
    let console = l == "aws internal"
        || l.contains("console.amazonaws.com")
        || l.contains("signin.amazonaws.com");
    let iac = [
        "terraform",
        "hashicorp",
        "cloudformation",
        "aws-cdk",
        "pulumi",
    ]
    .iter()
    .any(|k| l.contains(k));
    if console || iac {
        return None;
    }
    let programmatic = l.starts_with("aws-cli/")
        || ["boto3", "botocore", "aws-sdk-", "aws-internal/"]
            .iter()
            .any(|k| l.contains(k));
    if programmatic {
        if actor.identity_type == "IAMUser" {
            return Some((
                10,
                format!(
                    "created from the CLI/SDK with an IAM user's long-term credentials: `{ua}`"
                ),
            ));
        }
        return None;
    }
    Some((
        20,
        format!("unusual user agent for IAM administration: `{ua}`"),
    ))
}
