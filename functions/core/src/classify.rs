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
pub const SAMPLE_FINDING: &str = "sample-finding";
pub const PRINCIPAL_NOT_CONTAINABLE: &str = "principal-not-containable";
pub const NOT_A_GUARDDUTY_FINDING: &str = "not-a-guardduty-finding";
pub const ATTACK_SEQUENCE: &str = "attack-sequence";
pub const CONTAINMENT_REQUESTED: &str = "containment-requested";
/// Instance credentials: what revoking the role's sessions would interrupt, and the path chosen.
pub const BLAST_RADIUS: &str = "blast-radius";

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
        policy_version: None,
    };
    let add = |c: &mut Classification, rule: &str, points: i32, detail: String| {
        c.reasons.push(Reason {
            rule: rule.to_string(),
            points,
            detail,
        });
    };

    // 1. Gates.
    if incident.is_sample() {
        // `aws guardduty create-sample-findings`: placeholders, nothing real. Said plainly so
        // whoever tests a new deployment sees it arrived, and nobody hunts a phantom.
        add(
            &mut c,
            SAMPLE_FINDING,
            0,
            format!(
                "GuardDuty sample finding ({}): its principal is a placeholder; cordon received it and contained nothing",
                incident.kind
            ),
        );
        c.verdict = Verdict::Notify;
        return c;
    }
    if incident.source == IncidentSource::SecurityHub {
        add(
            &mut c,
            NOT_A_GUARDDUTY_FINDING,
            0,
            format!(
                "{}: cordon responds to GuardDuty's identity findings only",
                subject_detail(&incident.subject)
            ),
        );
        return c;
    }
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
    if let Some(scope) = enrichment.scope.as_ref().filter(|s| !s.covered) {
        // Out of scope: nothing was looked up, and nothing may be changed. A human hears of
        // it (the incident may be real), at GuardDuty's own severity for a finding.
        add(
            &mut c,
            scope.rule.as_deref().unwrap_or(crate::scope::OTHER_ACCOUNT),
            0,
            scope.detail.clone(),
        );
        c.verdict = Verdict::Notify;
        c.severity = incident.finding.as_ref().map_or(Severity::Medium, |f| {
            guardduty_label(f.severity).max(Severity::Medium)
        });
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
    if let Subject::Principal {
        principal_type,
        name,
        ..
    } = &incident.subject
    {
        let sequence = incident.finding.as_ref().and_then(|f| f.sequence.as_ref());
        let (rule, detail) = match (principal_type.as_str(), sequence) {
            ("AttackSequence", seq) => (
                ATTACK_SEQUENCE,
                format!(
                    "GuardDuty attack sequence naming no single principal cordon could contain; principals: {}; signals: {}. A human must review the sequence",
                    seq.map_or("none named".into(), |s| named(&s.principals)),
                    seq.map_or("none named".into(), |s| named(&s.signals)),
                ),
            ),
            (t, _) => (
                PRINCIPAL_NOT_CONTAINABLE,
                not_containable(t, name.as_deref()),
            ),
        };
        add(&mut c, rule, 0, detail);
        c.verdict = Verdict::Notify;
        c.severity = incident.finding.as_ref().map_or(Severity::Medium, |f| {
            guardduty_label(f.severity).max(Severity::Medium)
        });
        if rule == ATTACK_SEQUENCE {
            c.severity = Severity::Critical;
        }
        return c;
    }
    if incident.finding.as_ref().is_some_and(|f| f.archived) && !incident.is_containment_request() {
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
        if let Some(seq) = &f.sequence {
            // The sequence names exactly one principal (else the gate above decided).
            add(
                &mut c,
                ATTACK_SEQUENCE,
                0,
                format!(
                    "GuardDuty attack sequence; principals: {}; signals: {}",
                    named(&seq.principals),
                    named(&seq.signals)
                ),
            );
            floor = Severity::Critical;
        }
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
    if let Some(why) = policy.protection_in(&incident.account, &incident.subject, Some(enrichment))
    {
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
    if incident.source == IncidentSource::Cloudtrail
        && let Some(actor) = incident
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
    if let Some(choice) = crate::instance::revocation_choice(incident, enrichment, policy, None)
        .filter(|_| enrichment.exists && c.duplicate_of.is_none() && !c.protected)
    {
        let ask = choice.withheld
            && policy.containment.above_revocation_threshold
                == crate::policy::AboveRevocationThreshold::AskApprover;
        let path = if choice.revoke {
            "instance quarantine and role-wide session revocation"
        } else {
            "instance quarantine without role-wide session revocation"
        };
        let detail = format!("{path}: {}", choice.why);
        if ask {
            cap(&mut c, Verdict::Approve, BLAST_RADIUS, detail);
        } else {
            c.reasons.push(Reason {
                rule: BLAST_RADIUS.into(),
                points: 0,
                detail,
            });
        }
    }
    if let Some(via) = incident
        .via
        .as_ref()
        .filter(|_| incident.is_containment_request())
    {
        // An analyst asked: a reason to ask for approval, never an approval. What a cap
        // decided (root, protected, gone, already quarantined) still stands.
        const HARD: &[&str] = &[ROOT_SUBJECT, SUBJECT_MISSING, PROTECTED, DUPLICATE];
        let capped = c.reasons.iter().any(|r| HARD.contains(&r.rule.as_str()));
        c.reasons.push(Reason {
            rule: CONTAINMENT_REQUESTED.into(),
            points: 0,
            detail: format!(
                "an analyst sent the finding to the Security Hub action `{}`: containment needs an approver's decision",
                via.action_name.as_deref().unwrap_or("unknown")
            ),
        });
        if !capped {
            verdict = Verdict::Approve;
        }
    }
    c.verdict = verdict;
    c.severity = score_severity.max(floor);
    c
}

/// A list of names for a reason, or "none named".
fn named(items: &[String]) -> String {
    if items.is_empty() {
        "none named".into()
    } else {
        items.join(", ")
    }
}

fn subject_detail(subject: &Subject) -> String {
    match subject {
        Subject::Resource { resource_type, id } => format!("{resource_type} {id}"),
        other => format!("{other:?}"),
    }
}

/// Why a principal type cannot be contained, and what a human should look at instead.
fn not_containable(principal_type: &str, name: Option<&str>) -> String {
    let who = name.map(|n| format!(" `{n}`")).unwrap_or_default();
    match principal_type {
        "AWSService" => format!(
            "the calls were made by an AWS service{who} on the account's behalf: there is no user or role of the attacker's to quarantine; look at what configured the service to act (its role, the resource policy, the pipeline) in CloudTrail"
        ),
        "Federated" | "FederatedUser" => format!(
            "a federated user session{who} (GetFederationToken): cordon cannot quarantine a federated session; find the IAM user that issued it (the identity broker) and revoke its sessions, or deny the session name"
        ),
        other => format!(
            "a principal of type `{other}`{who} that cordon does not know how to contain: a human must identify the credentials (access key, principal id) in the finding and act"
        ),
    }
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
    if ua.chars().count() > crate::parse::USER_AGENT_CHARS {
        // Cut by the parser (`…(N bytes)`): no client sends a user agent this long; an
        // attacker padding it must not look like a known tool.
        return Some((20, format!("an oversized user agent (cut here): `{ua}`")));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccessKey, KeyStatus, LookupError, PrincipalRef, QuarantineRecord};
    use crate::parse::tests::incident;
    use crate::testkit::*;

    fn rules(c: &Classification) -> Vec<(&str, i32)> {
        c.reasons
            .iter()
            .map(|r| (r.rule.as_str(), r.points))
            .collect()
    }

    struct Case {
        fixture: &'static str,
        tweak: fn(&mut Incident, &mut Enrichment),
        verdict: Verdict,
        severity: Severity,
        score: i32,
        rules: &'static [(&'static str, i32)],
    }

    fn none(_: &mut Incident, _: &mut Enrichment) {}

    #[test]
    fn an_account_out_of_scope_is_notify_only_whatever_else_is_suspicious() {
        let i = incident("guardduty-instance-credential-exfiltration-outside-aws.json");
        let e = Enrichment {
            scope: Some(crate::scope::Scope {
                account: "999988887777".into(),
                home_account: "123456789012".into(),
                deployment: "single-account".into(),
                covered: false,
                access: None,
                rule: Some(crate::scope::OTHER_ACCOUNT.into()),
                detail: "the incident is about account 999988887777, but ...".into(),
                ancestry: vec![],
            }),
            ..Enrichment::default()
        };
        let c = classify(&i, &e, &policy());
        assert_eq!(c.verdict, Verdict::Notify);
        assert_eq!(rules(&c), vec![(crate::scope::OTHER_ACCOUNT, 0)]);
        assert_eq!(
            c.severity,
            Severity::High,
            "GuardDuty's own label (8.0) is kept"
        );
        assert!(!c.protected);
    }

    const CASES: &[Case] = &[
        Case {
            fixture: "cloudtrail-create-user-by-iam-user.json",
            tweak: none,
            verdict: Verdict::Notify,
            severity: Severity::Low,
            score: 10,
            rules: &[(NEW_IAM_USER, 10)],
        },
        Case {
            fixture: "cloudtrail-create-user-by-sso-admin.json",
            tweak: none,
            verdict: Verdict::Notify,
            severity: Severity::Low,
            score: 10,
            rules: &[(NEW_IAM_USER, 10)],
        },
        Case {
            fixture: "cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
            tweak: none,
            verdict: Verdict::Approve,
            severity: Severity::Medium,
            score: 75,
            rules: &[
                (NEW_IAM_USER, 10),
                (SUSPICIOUS_USER_NAME, 40),
                (CREATOR_WITHOUT_MFA, 15),
                (UNUSUAL_USER_AGENT, 10),
            ],
        },
        Case {
            fixture: "cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
            tweak: |_, e| {
                e.user
                    .as_mut()
                    .unwrap()
                    .attached_policies
                    .push(admin_policy())
            },
            verdict: Verdict::Quarantine,
            severity: Severity::High,
            score: 105,
            rules: &[
                (NEW_IAM_USER, 10),
                (SUSPICIOUS_USER_NAME, 40),
                (CREATOR_WITHOUT_MFA, 15),
                (UNUSUAL_USER_AGENT, 10),
                (NEW_USER_ADMIN_POLICY, 30),
            ],
        },
        Case {
            fixture: "cloudtrail-create-user-by-iam-user.json",
            tweak: |_, e| {
                let u = e.user.as_mut().unwrap();
                u.groups.push("Admins".into());
                u.access_keys.push(AccessKey {
                    id: "AKIANEWKEY0000000001".into(),
                    status: KeyStatus::Active,
                    created_at: None,
                    last_used_at: None,
                    last_used_service: None,
                    last_used_region: None,
                });
            },
            verdict: Verdict::Approve,
            severity: Severity::Medium,
            score: 55,
            rules: &[
                (NEW_IAM_USER, 10),
                (NEW_USER_ADMIN_POLICY, 30),
                (NEW_USER_ACCESS_KEYS, 15),
            ],
        },
        Case {
            fixture: "cloudtrail-create-user-by-ci-pipeline.json",
            tweak: none,
            verdict: Verdict::Ignore,
            severity: Severity::Low,
            score: 10,
            rules: &[(NEW_IAM_USER, 10), (TRUSTED_CREATOR, 0)],
        },
        Case {
            fixture: "cloudtrail-create-user-by-ci-pipeline.json",
            tweak: |_, e| {
                e.user
                    .as_mut()
                    .unwrap()
                    .attached_policies
                    .push(admin_policy())
            },
            verdict: Verdict::Notify,
            severity: Severity::Medium,
            score: 40,
            rules: &[
                (NEW_IAM_USER, 10),
                (NEW_USER_ADMIN_POLICY, 30),
                (TRUSTED_CREATOR, 0),
            ],
        },
        Case {
            fixture: "cloudtrail-create-user-by-root.json",
            tweak: none,
            verdict: Verdict::Approve,
            severity: Severity::High,
            score: 50,
            rules: &[(NEW_IAM_USER, 10), (CREATOR_IS_ROOT, 40)],
        },
        Case {
            fixture: "cloudtrail-create-user-access-denied.json",
            tweak: none,
            verdict: Verdict::Ignore,
            severity: Severity::Low,
            score: 0,
            rules: &[(FAILED_CALL, 0)],
        },
        Case {
            fixture: "cloudtrail-create-user-control-chars-in-user-agent.json",
            tweak: none,
            verdict: Verdict::Approve,
            severity: Severity::Medium,
            score: 45,
            rules: &[
                (NEW_IAM_USER, 10),
                (CREATOR_WITHOUT_MFA, 15),
                (UNUSUAL_USER_AGENT, 20),
            ],
        },
        Case {
            fixture: "cloudtrail-create-user-by-iam-user.json",
            tweak: |i, _| {
                i.actor.as_mut().unwrap().user_agent =
                    Some("aws-cli/2.15 exe/x86_64.kali.2024".into())
            },
            verdict: Verdict::Approve,
            severity: Severity::Medium,
            score: 50,
            rules: &[(NEW_IAM_USER, 10), (UNUSUAL_USER_AGENT, 40)],
        },
        Case {
            fixture: "cloudtrail-create-user-by-iam-user.json",
            tweak: |_, e| e.exists = false,
            verdict: Verdict::Notify,
            severity: Severity::Low,
            score: 10,
            rules: &[(NEW_IAM_USER, 10), (SUBJECT_MISSING, 0)],
        },
        Case {
            fixture: "guardduty-instance-credential-exfiltration-outside-aws.json",
            tweak: none,
            verdict: Verdict::Quarantine,
            severity: Severity::High,
            score: 95,
            rules: &[
                (GUARDDUTY_SEVERITY, 80),
                (FINDING_FAMILY, 15),
                (BLAST_RADIUS, 0),
            ],
        },
        Case {
            fixture: "guardduty-instance-credential-exfiltration-inside-aws.json",
            tweak: none,
            verdict: Verdict::Quarantine,
            severity: Severity::High,
            score: 95,
            rules: &[
                (GUARDDUTY_SEVERITY, 80),
                (FINDING_FAMILY, 15),
                (BLAST_RADIUS, 0),
            ],
        },
        Case {
            fixture: "guardduty-instance-credential-exfiltration-outside-aws-updated.json",
            tweak: |i, e| {
                e.quarantine = Some(QuarantineRecord {
                    incident_id: i.id.clone(),
                    principal: PrincipalRef::Role("web-app-role".into()),
                    reason: "r".into(),
                    quarantined_at: t("2026-03-14T01:46:00Z"),
                    attached_policy_arn: None,
                    deactivated_keys: vec![],
                    login_profile_deleted: false,
                    revocation_policy: Some("cordon-revoke-sessions".into()),
                    imdsv2_enforced_on: None,
                    imds_before: None,
                    profile_swap: None,
                    instance_region: None,
                    nacl_entry: None,
                })
            },
            verdict: Verdict::Notify,
            severity: Severity::High,
            score: 95,
            rules: &[
                (GUARDDUTY_SEVERITY, 80),
                (FINDING_FAMILY, 15),
                (DUPLICATE, 0),
            ],
        },
        Case {
            fixture: "guardduty-instance-credential-exfiltration-outside-aws.json",
            tweak: |_, e| {
                e.lookup_errors.push(LookupError {
                    lookup: "role_tags".into(),
                    error: "AccessDenied".into(),
                })
            },
            verdict: Verdict::Approve,
            severity: Severity::High,
            score: 95,
            rules: &[
                (GUARDDUTY_SEVERITY, 80),
                (FINDING_FAMILY, 15),
                (INCOMPLETE_ENRICHMENT, 0),
                (BLAST_RADIUS, 0),
            ],
        },
        Case {
            fixture: "guardduty-tor-ip-caller.json",
            tweak: none,
            verdict: Verdict::Approve,
            severity: Severity::Medium,
            score: 50,
            rules: &[(GUARDDUTY_SEVERITY, 40), (FINDING_FAMILY, 10)],
        },
        Case {
            fixture: "guardduty-console-login-success-b.json",
            tweak: none,
            verdict: Verdict::Approve,
            severity: Severity::Medium,
            score: 50,
            rules: &[(GUARDDUTY_SEVERITY, 40), (FINDING_FAMILY, 10)],
        },
        Case {
            fixture: "guardduty-anomalous-behavior.json",
            tweak: none,
            verdict: Verdict::Approve,
            severity: Severity::Medium,
            score: 50,
            rules: &[(GUARDDUTY_SEVERITY, 40), (FINDING_FAMILY, 10)],
        },
        Case {
            fixture: "guardduty-low-severity.json",
            tweak: none,
            verdict: Verdict::Notify,
            severity: Severity::Low,
            score: 20,
            rules: &[(GUARDDUTY_SEVERITY, 10), (FINDING_FAMILY, 10)],
        },
        Case {
            fixture: "guardduty-root-credential-usage.json",
            tweak: none,
            verdict: Verdict::Notify,
            severity: Severity::Critical,
            score: 25,
            rules: &[
                (GUARDDUTY_SEVERITY, 10),
                (FINDING_FAMILY, 15),
                (ROOT_SUBJECT, 0),
            ],
        },
        Case {
            fixture: "guardduty-archived.json",
            tweak: none,
            verdict: Verdict::Ignore,
            severity: Severity::Low,
            score: 0,
            rules: &[(ARCHIVED_FINDING, 0)],
        },
        Case {
            fixture: "guardduty-ec2-port-probe.json",
            tweak: none,
            verdict: Verdict::Ignore,
            severity: Severity::Low,
            score: 0,
            rules: &[(NOT_AN_IDENTITY, 0)],
        },
        Case {
            fixture: "guardduty-tor-ip-caller.json",
            tweak: |i, e| {
                i.subject = Subject::IamUser {
                    name: "break-glass-1".into(),
                    arn: None,
                    user_id: None,
                    access_key_id: None,
                };
                *e = user_enrichment("break-glass-1");
            },
            verdict: Verdict::Notify,
            severity: Severity::Medium,
            score: 50,
            rules: &[
                (GUARDDUTY_SEVERITY, 40),
                (FINDING_FAMILY, 10),
                (PROTECTED, 0),
            ],
        },
        Case {
            fixture: "guardduty-instance-credential-exfiltration-outside-aws.json",
            tweak: |_, e| e.role.as_mut().unwrap().path = "/aws-service-role/".into(),
            verdict: Verdict::Notify,
            severity: Severity::High,
            score: 95,
            rules: &[
                (GUARDDUTY_SEVERITY, 80),
                (FINDING_FAMILY, 15),
                (PROTECTED, 0),
            ],
        },
        Case {
            fixture: "guardduty-tor-ip-caller.json",
            tweak: |i, e| {
                e.quarantine = Some(QuarantineRecord {
                    incident_id: "older-incident".into(),
                    principal: PrincipalRef::User("dev-bob".into()),
                    reason: "r".into(),
                    quarantined_at: t("2026-03-01T00:00:00Z"),
                    attached_policy_arn: None,
                    deactivated_keys: vec![],
                    login_profile_deleted: false,
                    revocation_policy: None,
                    imdsv2_enforced_on: None,
                    imds_before: None,
                    profile_swap: None,
                    instance_region: None,
                    nacl_entry: None,
                });
                let _ = i;
            },
            verdict: Verdict::Approve,
            severity: Severity::Medium,
            score: 50,
            rules: &[
                (GUARDDUTY_SEVERITY, 40),
                (FINDING_FAMILY, 10),
                (PREVIOUSLY_QUARANTINED, 0),
            ],
        },
    ];

    #[test]
    fn table() {
        let policy = policy();
        for (n, case) in CASES.iter().enumerate() {
            let mut i = incident(case.fixture);
            let mut e = enrichment_for(&i);
            (case.tweak)(&mut i, &mut e);
            let c = classify(&i, &e, &policy);
            let ctx = format!("case {n} ({}): {c:#?}", case.fixture);
            assert_eq!(c.verdict, case.verdict, "{ctx}");
            assert_eq!(c.severity, case.severity, "{ctx}");
            assert_eq!(c.score, case.score, "{ctx}");
            assert_eq!(rules(&c), case.rules.to_vec(), "{ctx}");
            assert_eq!(c.approval_timeout_seconds, 3600);
            assert_eq!(
                c.approval_default,
                crate::model::ApprovalDefault::Quarantine
            );
            assert!(!c.dry_run);
        }
    }

    #[test]
    fn details_say_why() {
        let policy = policy();
        let i = incident("cloudtrail-create-user-by-ci-pipeline.json");
        let c = classify(&i, &enrichment_for(&i), &policy);
        assert_eq!(
            c.reasons[1].detail,
            "arn:aws:sts::123456789012:assumed-role/terraform-deployer/GitHubActions-8812345 is a trusted creator and nothing else is suspicious: expected activity, ignored"
        );
        let i = incident("cloudtrail-create-user-suspicious-name-no-mfa-cli.json");
        let c = classify(&i, &enrichment_for(&i), &policy);
        assert_eq!(
            c.reasons[1].detail,
            "`service-x7k2qa` matches suspicious pattern `^(svc|service)-[a-z0-9]{6}$`"
        );
        let i = incident("guardduty-tor-ip-caller.json");
        let c = classify(&i, &enrichment_for(&i), &policy);
        assert_eq!(
            c.reasons[0].detail,
            "GuardDuty severity 5 ≥ approvalThreshold 4 and < quarantineThreshold 8"
        );
    }

    fn blast_radius_reason(c: &Classification) -> String {
        c.reasons
            .iter()
            .find(|r| r.rule == BLAST_RADIUS)
            .map(|r| r.detail.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_shared_instance_role_above_the_threshold_asks_a_human_unless_the_policy_says_not_to() {
        let i = incident("guardduty-instance-credential-exfiltration-outside-aws.json");
        let mut e = enrichment_for(&i);
        e.blast_radius = Some(blast_radius("web-app-role", "i-0a1b2c3d4e5f60718", 11));
        let mut policy = policy();
        let c = classify(&i, &e, &policy);
        assert_eq!(c.verdict, Verdict::Approve, "{c:?}");
        let why = blast_radius_reason(&c);
        assert!(
            why.starts_with("instance quarantine without role-wide session revocation: web-app-role is used by 12 running instances in us-east-1, 11 besides i-0a1b2c3d4e5f60718"),
            "{why}"
        );
        assert!(
            why.ends_with("an approver decides whether to revoke the role's sessions as well"),
            "{why}"
        );
        policy.containment.above_revocation_threshold =
            crate::policy::AboveRevocationThreshold::ContainInstanceOnly;
        let c = classify(&i, &e, &policy);
        assert_eq!(c.verdict, Verdict::Quarantine);
        policy.containment.revoke_role_sessions_max_other_instances = 11;
        let why = blast_radius_reason(&classify(&i, &e, &policy));
        assert!(
            why.starts_with("instance quarantine and role-wide session revocation"),
            "{why}"
        );
    }

    #[test]
    fn policy_thresholds_and_dry_run_are_honoured() {
        let mut policy = policy();
        policy.guard_duty.quarantine_threshold = 5.0;
        policy.dry_run = true;
        policy.approval.timeout_seconds = 900;
        policy.approval.default = crate::model::ApprovalDefault::Notify;
        let i = incident("guardduty-tor-ip-caller.json");
        let c = classify(&i, &enrichment_for(&i), &policy);
        assert_eq!((c.verdict, c.score), (Verdict::Quarantine, 90));
        assert!(c.dry_run);
        assert_eq!(c.approval_timeout_seconds, 900);
        assert_eq!(c.approval_default, crate::model::ApprovalDefault::Notify);
        policy.guard_duty.approval_threshold = 6.0;
        policy.guard_duty.quarantine_threshold = 9.0;
        let c = classify(&i, &enrichment_for(&i), &policy);
        assert_eq!((c.verdict, c.score), (Verdict::Notify, 20));
    }

    #[test]
    fn invariants_over_every_fixture_and_variant() {
        let policy = policy();
        let dir = format!(
            "{}/../../tests/events",
            std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
        );
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".json") || name.starts_with("malformed-") {
                continue;
            }
            let base = incident(&name);
            for variant in 0..4 {
                let mut i = base.clone();
                let mut e = enrichment_for(&i);
                match variant {
                    1 => e
                        .user
                        .get_or_insert_with(Default::default)
                        .attached_policies
                        .push(admin_policy()),
                    2 => {
                        if let Subject::IamUser { name, .. } = &mut i.subject {
                            *name = "emergency-admin".into();
                        }
                        if let Subject::AssumedRole { role_name, .. } = &mut i.subject {
                            *role_name = "cordon-quarantine-function".into();
                        }
                    }
                    3 => {
                        if let Some(f) = i.finding.as_mut() {
                            f.severity = 10.0;
                        }
                    }
                    _ => {}
                }
                let c = classify(&i, &e, &policy);
                if c.protected {
                    assert!(
                        c.verdict <= Verdict::Notify,
                        "{name}/{variant}: protected but {:?}",
                        c.verdict
                    );
                }
                if matches!(i.subject, Subject::Root { .. }) {
                    assert!(
                        c.verdict <= Verdict::Notify,
                        "{name}/{variant}: root but {:?}",
                        c.verdict
                    );
                    assert_eq!(c.severity, Severity::Critical);
                }
                if i.failed_call.is_some() {
                    assert_eq!(c.verdict, Verdict::Ignore, "{name}/{variant}");
                }
                assert_eq!(c.score, c.reasons.iter().map(|r| r.points).sum::<i32>());
            }
        }
    }
}
