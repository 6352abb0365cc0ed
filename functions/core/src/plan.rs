//! Containment planning: what quarantine will do, in order, and what release undoes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{
    Enrichment, Incident, KeyStatus, PlannedAction, PrincipalRef, QuarantinePlan, QuarantineRecord,
    SkippedAction, Subject,
};
use crate::policy::Policy;

/// The inline policy cordon puts on a principal to revoke its earlier sessions.
pub const REVOCATION_POLICY_NAME: &str = "cordon-revoke-sessions";

/// Why no quarantine can be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the subject is protected: {0}")]
    Protected(String),
    #[error("the subject is the account root user: cordon never touches root")]
    Root,
    #[error("the subject is not an identity ({0}): nothing to quarantine")]
    NotAnIdentity(String),
    #[error("the subject no longer exists")]
    SubjectMissing,
    #[error("the account is out of scope: {0}")]
    OutOfScope(String),
    #[error("enrichment lacks the facts needed to plan: {0}")]
    MissingFacts(String),
}

/// Plan the quarantine of the incident's subject.
///
/// The order matters: the record tags go on right after the deny policy, so that a run that
/// fails half-way still leaves on the principal what `release` needs. The record lists what
/// this plan will change, merged with any earlier cordon record on the same principal (so a
/// second quarantine never forgets keys the first one deactivated).
///
/// `policy.dry_run` is not looked at here: the quarantine function reports a dry-run plan's
/// actions as `skipped` instead of executing them.
pub fn plan_quarantine(
    incident: &Incident,
    enrichment: &Enrichment,
    policy: &Policy,
    quarantine_policy_arn: &str,
    now: DateTime<Utc>,
) -> Result<QuarantinePlan, PlanError> {
    if let Some(scope) = enrichment.scope.as_ref().filter(|s| !s.covered) {
        return Err(PlanError::OutOfScope(scope.detail.clone()));
    }
    match &incident.subject {
        Subject::Root { .. } => return Err(PlanError::Root),
        Subject::Resource { resource_type, id } => {
            return Err(PlanError::NotAnIdentity(format!("{resource_type} {id}")));
        }
        Subject::Principal { principal_type, .. } => {
            return Err(PlanError::NotAnIdentity(format!(
                "a principal of type {principal_type}"
            )));
        }
        _ => {}
    }
    if incident.is_sample() {
        return Err(PlanError::NotAnIdentity(
            "a GuardDuty sample finding's placeholder principal".into(),
        ));
    }
    if let Some(reason) =
        policy.protection_in(&incident.account, &incident.subject, Some(enrichment))
    {
        return Err(PlanError::Protected(reason));
    }
    if !enrichment.exists {
        return Err(PlanError::SubjectMissing);
    }
    let mut b = Builder {
        actions: Vec::new(),
        skipped: Vec::new(),
    };
    let c = &policy.containment;
    let reason = quarantine_reason(incident);
    match &incident.subject {
        Subject::IamUser { name, .. } => {
            let user = enrichment
                .user
                .as_ref()
                .ok_or_else(|| PlanError::MissingFacts("enrichment.user is absent".into()))?;
            let principal = PrincipalRef::User(name.clone());
            let prior = prior_record(enrichment, &principal);
            let mut record = new_record(incident, &principal, reason, now, prior);

            if !c.attach_deny_policy {
                b.skip(
                    ACT_ATTACH,
                    name,
                    "disabled by policy (containment.attachDenyPolicy = false)",
                );
            } else if user
                .attached_policies
                .iter()
                .any(|p| p.arn == quarantine_policy_arn)
            {
                b.skip(
                    ACT_ATTACH,
                    name,
                    &format!("{quarantine_policy_arn} is already attached"),
                );
            } else {
                b.actions.push(PlannedAction::AttachQuarantinePolicy {
                    user: name.clone(),
                    policy_arn: quarantine_policy_arn.to_string(),
                });
                record.attached_policy_arn = Some(quarantine_policy_arn.to_string());
            }

            let mut keys = Vec::new();
            if !c.deactivate_access_keys {
                b.skip(
                    ACT_DEACTIVATE,
                    name,
                    "disabled by policy (containment.deactivateAccessKeys = false)",
                );
            } else if user.access_keys.is_empty() {
                b.skip(ACT_DEACTIVATE, name, "the user has no access keys");
            } else {
                for key in &user.access_keys {
                    if key.status == KeyStatus::Active {
                        keys.push(PlannedAction::DeactivateAccessKey {
                            user: name.clone(),
                            access_key_id: key.id.clone(),
                        });
                        if !record.deactivated_keys.contains(&key.id) {
                            record.deactivated_keys.push(key.id.clone());
                        }
                    } else {
                        b.skip(
                            ACT_DEACTIVATE,
                            &key.id,
                            "already inactive (not recorded: release leaves it inactive)",
                        );
                    }
                }
            }

            let mut profile = None;
            if !c.delete_login_profile {
                b.skip(
                    ACT_DELETE_PROFILE,
                    name,
                    "disabled by policy (containment.deleteLoginProfile = false)",
                );
            } else if user.login_profile.is_none() {
                b.skip(ACT_DELETE_PROFILE, name, "the user has no console password");
            } else {
                profile = Some(PlannedAction::DeleteLoginProfile { user: name.clone() });
                record.login_profile_deleted = true;
            }

            let revoke = revoke(
                &mut b,
                c.revoke_sessions,
                &principal,
                name,
                now,
                &mut record,
            );
            b.skip(
                ACT_IMDS,
                name,
                "not applicable: the subject is an IAM user, not instance credentials",
            );
            b.skip(
                ACT_NACL,
                name,
                "not applicable: the subject is an IAM user, not instance credentials",
            );

            // After the attach (if any), the record tags, then the rest.
            b.actions.push(PlannedAction::TagQuarantined {
                principal,
                tags: record.to_tags(),
            });
            b.actions.extend(keys);
            b.actions.extend(profile);
            b.actions.extend(revoke);
        }
        Subject::AssumedRole {
            role_name,
            instance_id,
            ..
        } => {
            // Without the role's facts its path (service-linked? SSO?) is unknown: refuse.
            enrichment
                .role
                .as_ref()
                .ok_or_else(|| PlanError::MissingFacts("enrichment.role is absent".into()))?;
            let principal = PrincipalRef::Role(role_name.clone());
            let prior = prior_record(enrichment, &principal);
            let mut record = new_record(incident, &principal, reason, now, prior);
            b.skip(
                ACT_ATTACH,
                role_name,
                "not applied to roles: it would deny fresh, legitimate sessions too; earlier sessions are revoked instead",
            );
            b.skip(
                ACT_DEACTIVATE,
                role_name,
                "not applicable: roles have no long-term access keys",
            );
            b.skip(
                ACT_DELETE_PROFILE,
                role_name,
                "not applicable: roles have no console password",
            );
            let revoke = revoke(
                &mut b,
                c.revoke_sessions,
                &principal,
                role_name,
                now,
                &mut record,
            );

            let instance_id = instance_id
                .clone()
                .or_else(|| enrichment.instance.as_ref().map(|i| i.instance_id.clone()));
            let instance = enrichment.instance.as_ref();
            let mut imds = None;
            if !c.enforce_imds_v2 {
                b.skip(
                    ACT_IMDS,
                    instance_id.as_deref().unwrap_or(role_name),
                    "disabled by policy (containment.enforceImdsV2 = false)",
                );
            } else {
                match (&instance_id, instance) {
                    (None, _) => b.skip(ACT_IMDS, role_name, "the finding names no EC2 instance"),
                    (Some(id), None) => b.skip(
                        ACT_IMDS,
                        id,
                        "no facts about the instance (it may no longer exist)",
                    ),
                    (Some(id), Some(facts))
                        if facts.metadata_http_tokens.as_deref() == Some("required") =>
                    {
                        b.skip(ACT_IMDS, id, "the instance already requires IMDSv2")
                    }
                    (Some(id), Some(_)) => {
                        imds = Some(PlannedAction::EnforceImdsV2 {
                            instance_id: id.clone(),
                        });
                        record.imdsv2_enforced_on = Some(id.clone());
                    }
                }
            }

            let mut nacl = None;
            let remote_ip = incident
                .finding
                .as_ref()
                .and_then(|f| f.remote_ip.as_ref())
                .map(|r| r.ip.clone());
            if !c.nacl_deny_remote_ip {
                b.skip(
                    ACT_NACL,
                    remote_ip.as_deref().unwrap_or(role_name),
                    "disabled by policy (containment.naclDenyRemoteIp = false)",
                );
            } else {
                let acl = instance.and_then(|i| i.network_acl_id.clone());
                match (&remote_ip, acl) {
                    (None, _) => b.skip(
                        ACT_NACL,
                        role_name,
                        "the finding names no remote IPv4 address",
                    ),
                    (Some(ip), None) => b.skip(
                        ACT_NACL,
                        ip,
                        "no network ACL known for the instance's subnet",
                    ),
                    (Some(ip), Some(_)) if ip.parse::<std::net::Ipv4Addr>().is_err() => {
                        b.skip(ACT_NACL, ip, "not an IPv4 address")
                    }
                    (Some(ip), Some(acl)) => {
                        let cidr = format!("{ip}/32");
                        let rule_number = nacl_rule_number(ip);
                        record.nacl_entry =
                            Some(crate::record::nacl_entry_tag(&acl, rule_number, &cidr));
                        nacl = Some(PlannedAction::NaclDenyIp {
                            network_acl_id: acl,
                            cidr,
                            rule_number,
                        });
                    }
                }
            }

            b.actions.push(PlannedAction::TagQuarantined {
                principal,
                tags: record.to_tags(),
            });
            b.actions.extend(revoke);
            b.actions.extend(imds);
            b.actions.extend(nacl);
        }
        Subject::Root { .. } | Subject::Resource { .. } | Subject::Principal { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(QuarantinePlan {
        incident_id: incident.id.clone(),
        actions: b.actions,
        skipped: b.skipped,
    })
}

/// Action names as reported in `skipped` and in the containment outcomes.
pub const ACT_ATTACH: &str = "attach-quarantine-policy";
pub const ACT_TAG: &str = "tag-quarantined";
pub const ACT_DEACTIVATE: &str = "deactivate-access-key";
pub const ACT_DELETE_PROFILE: &str = "delete-login-profile";
pub const ACT_REVOKE: &str = "revoke-sessions";
pub const ACT_IMDS: &str = "enforce-imds-v2";
pub const ACT_NACL: &str = "nacl-deny-ip";
/// Not a containment action: the record tags rewritten after some actions failed.
pub const ACT_CORRECT_RECORD: &str = "correct-quarantine-record";

/// The kebab-case name and the target of a planned action (for outcomes and messages).
pub fn action_name_and_target(action: &PlannedAction) -> (&'static str, String) {
    match action {
        PlannedAction::AttachQuarantinePolicy { user, .. } => (ACT_ATTACH, user.clone()),
        PlannedAction::TagQuarantined { principal, .. } => (ACT_TAG, principal.name().to_string()),
        PlannedAction::DeactivateAccessKey { access_key_id, .. } => {
            (ACT_DEACTIVATE, access_key_id.clone())
        }
        PlannedAction::DeleteLoginProfile { user } => (ACT_DELETE_PROFILE, user.clone()),
        PlannedAction::RevokeSessions { principal, .. } => {
            (ACT_REVOKE, principal.name().to_string())
        }
        PlannedAction::EnforceImdsV2 { instance_id } => (ACT_IMDS, instance_id.clone()),
        PlannedAction::NaclDenyIp {
            network_acl_id,
            cidr,
            ..
        } => (ACT_NACL, format!("{network_acl_id} {cidr}")),
    }
}

impl QuarantinePlan {
    /// The quarantine record this plan writes (read back from its tag action).
    pub fn record(&self) -> Option<QuarantineRecord> {
        self.actions.iter().find_map(|a| match a {
            PlannedAction::TagQuarantined { principal, tags } => {
                QuarantineRecord::from_tags(principal.clone(), tags)
            }
            _ => None,
        })
    }

    /// The record once the plan has run and the `failed` actions did not happen.
    ///
    /// The record tags are written before the other actions, so that a crash midway leaves a
    /// record release can undo from; after a failure they would claim what was not done. Here
    /// each failed action's fact goes back to what the principal's earlier record (in
    /// `enrichment`, the view the plan was made from) said, or to absent. `None` when the plan
    /// writes no record.
    pub fn record_after(
        &self,
        failed: &[&PlannedAction],
        enrichment: &Enrichment,
    ) -> Option<QuarantineRecord> {
        let mut r = self.record()?;
        let prior = prior_record(enrichment, &r.principal);
        for action in failed {
            match action {
                PlannedAction::AttachQuarantinePolicy { .. } => {
                    r.attached_policy_arn = prior.and_then(|p| p.attached_policy_arn.clone());
                }
                PlannedAction::DeactivateAccessKey { access_key_id, .. } => {
                    if !prior.is_some_and(|p| p.deactivated_keys.contains(access_key_id)) {
                        r.deactivated_keys.retain(|k| k != access_key_id);
                    }
                }
                PlannedAction::DeleteLoginProfile { .. } => {
                    r.login_profile_deleted = prior.is_some_and(|p| p.login_profile_deleted);
                }
                PlannedAction::RevokeSessions { .. } => {
                    r.revocation_policy = prior.and_then(|p| p.revocation_policy.clone());
                }
                PlannedAction::EnforceImdsV2 { .. } => {
                    r.imdsv2_enforced_on = prior.and_then(|p| p.imdsv2_enforced_on.clone());
                }
                PlannedAction::NaclDenyIp { .. } => {
                    r.nacl_entry = prior.and_then(|p| p.nacl_entry.clone());
                }
                PlannedAction::TagQuarantined { .. } => {}
            }
        }
        Some(r)
    }
}

/// A NACL rule number for `ip`: deterministic (a retry reuses it) and within 1..=90, so it is
/// evaluated before the conventional allow rules that start at 100.
pub fn nacl_rule_number(ip: &str) -> i32 {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in ip.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    1 + (h % 90) as i32
}

struct Builder {
    actions: Vec<PlannedAction>,
    skipped: Vec<SkippedAction>,
}

impl Builder {
    fn skip(&mut self, action: &str, target: &str, detail: &str) {
        self.skipped.push(SkippedAction {
            action: action.to_string(),
            target: target.to_string(),
            detail: detail.to_string(),
        });
    }
}

fn revoke(
    b: &mut Builder,
    enabled: bool,
    principal: &PrincipalRef,
    name: &str,
    now: DateTime<Utc>,
    record: &mut QuarantineRecord,
) -> Option<PlannedAction> {
    if !enabled {
        b.skip(
            ACT_REVOKE,
            name,
            "disabled by policy (containment.revokeSessions = false)",
        );
        return None;
    }
    record.revocation_policy = Some(REVOCATION_POLICY_NAME.to_string());
    Some(PlannedAction::RevokeSessions {
        principal: principal.clone(),
        policy_name: REVOCATION_POLICY_NAME.to_string(),
        before: now,
    })
}

fn prior_record<'a>(
    enrichment: &'a Enrichment,
    principal: &PrincipalRef,
) -> Option<&'a QuarantineRecord> {
    enrichment
        .quarantine
        .as_ref()
        .filter(|r| &r.principal == principal)
}

fn new_record(
    incident: &Incident,
    principal: &PrincipalRef,
    reason: String,
    now: DateTime<Utc>,
    prior: Option<&QuarantineRecord>,
) -> QuarantineRecord {
    // Keep what an earlier quarantine did, so release still undoes it.
    QuarantineRecord {
        incident_id: incident.id.clone(),
        principal: principal.clone(),
        reason,
        quarantined_at: now,
        attached_policy_arn: prior.and_then(|p| p.attached_policy_arn.clone()),
        deactivated_keys: prior
            .map(|p| p.deactivated_keys.clone())
            .unwrap_or_default(),
        login_profile_deleted: prior.is_some_and(|p| p.login_profile_deleted),
        revocation_policy: prior.and_then(|p| p.revocation_policy.clone()),
        imdsv2_enforced_on: prior.and_then(|p| p.imdsv2_enforced_on.clone()),
        nacl_entry: prior.and_then(|p| p.nacl_entry.clone()),
    }
}

/// A short reason for the `QuarantineReason` tag.
fn quarantine_reason(incident: &Incident) -> String {
    match &incident.finding {
        Some(f) => format!("GuardDuty {} severity {}", f.finding_type, f.severity),
        None => {
            let by = incident
                .actor
                .as_ref()
                .and_then(|a| a.arn.clone().or_else(|| a.name.clone()))
                .unwrap_or_else(|| "unknown actor".into());
            format!("{} by {by}", incident.kind)
        }
    }
}

/// Deny every action on every resource for sessions issued before `before`.
pub fn revocation_policy_document(before: DateTime<Utc>) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CordonRevokeOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "DateLessThan": {
                    "aws:TokenIssueTime": before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                }
            }
        }]
    })
}

/// One step of `cordon release`: the inverse of one quarantine action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum ReleaseAction {
    /// Detach the quarantine managed policy cordon attached.
    #[serde(rename_all = "camelCase")]
    DetachQuarantinePolicy { user: String, policy_arn: String },
    /// Reactivate a key cordon deactivated (only those that were active before).
    #[serde(rename_all = "camelCase")]
    ReactivateAccessKey { user: String, access_key_id: String },
    /// Delete the session-revocation inline policy.
    #[serde(rename_all = "camelCase")]
    DeleteRevocationPolicy {
        principal: PrincipalRef,
        policy_name: String,
    },
    /// Remove the NACL deny entry cordon added.
    #[serde(rename_all = "camelCase")]
    RemoveNaclEntry {
        network_acl_id: String,
        rule_number: i32,
    },
    /// IMDSv2 was enforced on this instance. Release reports it and leaves IMDSv2 on: going
    /// back to IMDSv1 is a security regression a human must choose.
    #[serde(rename_all = "camelCase")]
    KeepImdsV2 { instance_id: String },
    /// The console password was deleted: it cannot be restored, only reset by an admin.
    #[serde(rename_all = "camelCase")]
    ResetLoginProfileManually { user: String },
    /// Remove the quarantine record tags (last, so an interrupted release can be retried).
    #[serde(rename_all = "camelCase")]
    UntagQuarantined {
        principal: PrincipalRef,
        keys: Vec<String>,
    },
}

/// Exactly the inverse of what the record says, in reverse order of the quarantine, with the
/// record tags removed last (so an interrupted release can be retried from the tags). Keys are
/// reactivated while the deny policy is still attached, then the policy is detached.
pub fn release_plan(record: &QuarantineRecord) -> Vec<ReleaseAction> {
    let mut steps = Vec::new();
    if let Some((network_acl_id, rule_number, _)) = record
        .nacl_entry
        .as_deref()
        .and_then(crate::record::parse_nacl_entry)
    {
        steps.push(ReleaseAction::RemoveNaclEntry {
            network_acl_id,
            rule_number,
        });
    }
    if let Some(instance_id) = &record.imdsv2_enforced_on {
        steps.push(ReleaseAction::KeepImdsV2 {
            instance_id: instance_id.clone(),
        });
    }
    if let Some(policy_name) = &record.revocation_policy {
        steps.push(ReleaseAction::DeleteRevocationPolicy {
            principal: record.principal.clone(),
            policy_name: policy_name.clone(),
        });
    }
    if let PrincipalRef::User(user) = &record.principal {
        if record.login_profile_deleted {
            steps.push(ReleaseAction::ResetLoginProfileManually { user: user.clone() });
        }
        for key in &record.deactivated_keys {
            steps.push(ReleaseAction::ReactivateAccessKey {
                user: user.clone(),
                access_key_id: key.clone(),
            });
        }
        if let Some(policy_arn) = &record.attached_policy_arn {
            steps.push(ReleaseAction::DetachQuarantinePolicy {
                user: user.clone(),
                policy_arn: policy_arn.clone(),
            });
        }
    }
    steps.push(ReleaseAction::UntagQuarantined {
        principal: record.principal.clone(),
        keys: record.to_tags().into_keys().collect(),
    });
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccessKey, InstanceFacts, LoginProfile, PolicyRef, Tags};
    use crate::parse::tests::incident;
    use crate::testkit::*;

    const QARN: &str = "arn:aws:iam::123456789012:policy/cordon-quarantine";

    fn key(id: &str, status: KeyStatus) -> AccessKey {
        AccessKey {
            id: id.into(),
            status,
            created_at: None,
            last_used_at: None,
            last_used_service: None,
            last_used_region: None,
        }
    }

    fn suspicious() -> (Incident, Enrichment) {
        let i = incident("cloudtrail-create-user-suspicious-name-no-mfa-cli.json");
        let mut e = user_enrichment("service-x7k2qa");
        let u = e.user.as_mut().unwrap();
        u.access_keys = vec![
            key("AKIAACTIVE0000000001", KeyStatus::Active),
            key("AKIAINACTIVE00000002", KeyStatus::Inactive),
        ];
        u.login_profile = Some(LoginProfile {
            created_at: None,
            password_reset_required: false,
        });
        (i, e)
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn user_with_active_and_inactive_key_and_password() {
        let (i, e) = suspicious();
        let now = t("2026-03-14T02:50:00Z");
        let plan = plan_quarantine(&i, &e, &policy(), QARN, now).unwrap();
        let user = "service-x7k2qa".to_string();
        assert_eq!(plan.incident_id, "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406");
        assert_eq!(
            plan.actions,
            vec![
                PlannedAction::AttachQuarantinePolicy {
                    user: user.clone(),
                    policy_arn: QARN.into()
                },
                PlannedAction::TagQuarantined {
                    principal: PrincipalRef::User(user.clone()),
                    tags: tags(&[
                        ("SecurityStatus", "Quarantined"),
                        (
                            "QuarantineReason",
                            "CreateUser by arn:aws:iam::123456789012:user/devops-tools"
                        ),
                        ("QuarantineTime", "2026-03-14T02:50:00Z"),
                        ("QuarantineIncident", "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"),
                        ("CordonAttachedPolicy", QARN),
                        ("CordonDeactivatedKeys", "AKIAACTIVE0000000001"),
                        ("CordonLoginProfileDeleted", "true"),
                        ("CordonRevocationPolicy", "cordon-revoke-sessions"),
                    ]),
                },
                PlannedAction::DeactivateAccessKey {
                    user: user.clone(),
                    access_key_id: "AKIAACTIVE0000000001".into()
                },
                PlannedAction::DeleteLoginProfile { user: user.clone() },
                PlannedAction::RevokeSessions {
                    principal: PrincipalRef::User(user.clone()),
                    policy_name: REVOCATION_POLICY_NAME.into(),
                    before: now
                },
            ]
        );
        let skipped: Vec<(&str, &str)> = plan
            .skipped
            .iter()
            .map(|s| (s.action.as_str(), s.target.as_str()))
            .collect();
        assert_eq!(
            skipped,
            vec![
                (ACT_DEACTIVATE, "AKIAINACTIVE00000002"),
                (ACT_IMDS, "service-x7k2qa"),
                (ACT_NACL, "service-x7k2qa")
            ]
        );
        assert_eq!(
            plan.skipped[0].detail,
            "already inactive (not recorded: release leaves it inactive)"
        );
        let record = plan.record().unwrap();
        assert_eq!(
            record.deactivated_keys,
            vec!["AKIAACTIVE0000000001".to_string()]
        );
        assert!(record.login_profile_deleted);
    }

    #[test]
    fn already_attached_policy_is_not_attached_twice() {
        let (i, mut e) = suspicious();
        e.user.as_mut().unwrap().attached_policies.push(PolicyRef {
            name: "cordon-quarantine".into(),
            arn: QARN.into(),
        });
        let plan = plan_quarantine(&i, &e, &policy(), QARN, t("2026-03-14T02:50:00Z")).unwrap();
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(a, PlannedAction::AttachQuarantinePolicy { .. }))
        );
        assert!(matches!(
            plan.actions[0],
            PlannedAction::TagQuarantined { .. }
        ));
        assert_eq!(plan.skipped[0].action, ACT_ATTACH);
        assert_eq!(
            plan.skipped[0].detail,
            format!("{QARN} is already attached")
        );
        assert_eq!(plan.record().unwrap().attached_policy_arn, None);
    }

    #[test]
    fn policy_toggles_become_skipped_with_reasons() {
        let (i, e) = suspicious();
        let mut policy = policy();
        policy.containment.attach_deny_policy = false;
        policy.containment.deactivate_access_keys = false;
        policy.containment.delete_login_profile = false;
        policy.containment.revoke_sessions = false;
        let plan = plan_quarantine(&i, &e, &policy, QARN, t("2026-03-14T02:50:00Z")).unwrap();
        assert_eq!(plan.actions.len(), 1);
        assert!(matches!(
            plan.actions[0],
            PlannedAction::TagQuarantined { .. }
        ));
        let skipped: Vec<(&str, &str)> = plan
            .skipped
            .iter()
            .map(|s| (s.action.as_str(), s.detail.as_str()))
            .collect();
        assert_eq!(
            skipped[..4],
            [
                (
                    ACT_ATTACH,
                    "disabled by policy (containment.attachDenyPolicy = false)"
                ),
                (
                    ACT_DEACTIVATE,
                    "disabled by policy (containment.deactivateAccessKeys = false)"
                ),
                (
                    ACT_DELETE_PROFILE,
                    "disabled by policy (containment.deleteLoginProfile = false)"
                ),
                (
                    ACT_REVOKE,
                    "disabled by policy (containment.revokeSessions = false)"
                ),
            ]
        );
        let r = plan.record().unwrap();
        assert_eq!(
            (
                r.attached_policy_arn,
                r.deactivated_keys.len(),
                r.login_profile_deleted,
                r.revocation_policy
            ),
            (None, 0, false, None)
        );
    }

    /// An earlier incident's record on the suspicious user: one key deactivated.
    fn earlier_record() -> QuarantineRecord {
        QuarantineRecord {
            incident_id: "earlier".into(),
            principal: PrincipalRef::User("service-x7k2qa".into()),
            reason: "r".into(),
            quarantined_at: t("2026-03-01T00:00:00Z"),
            attached_policy_arn: None,
            deactivated_keys: vec!["AKIAEARLIER000000001".into()],
            login_profile_deleted: false,
            revocation_policy: None,
            imdsv2_enforced_on: None,
            nacl_entry: None,
        }
    }

    #[test]
    fn earlier_record_is_kept() {
        let (i, mut e) = suspicious();
        e.quarantine = Some(QuarantineRecord {
            attached_policy_arn: Some(QARN.into()),
            ..earlier_record()
        });
        let r = plan_quarantine(&i, &e, &policy(), QARN, t("2026-03-14T02:50:00Z"))
            .unwrap()
            .record()
            .unwrap();
        assert_eq!(
            r.deactivated_keys,
            vec![
                "AKIAEARLIER000000001".to_string(),
                "AKIAACTIVE0000000001".to_string()
            ]
        );
        assert_eq!(r.incident_id, "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406");
    }

    #[test]
    fn failed_actions_fall_back_to_the_earlier_record() {
        let (i, mut e) = suspicious();
        e.quarantine = Some(QuarantineRecord {
            revocation_policy: Some("cordon-revoke-sessions".into()),
            ..earlier_record()
        });
        let plan = plan_quarantine(&i, &e, &policy(), QARN, t("2026-03-14T02:50:00Z")).unwrap();
        // Every action but the tagging failed.
        let failed: Vec<&PlannedAction> = plan
            .actions
            .iter()
            .filter(|a| !matches!(a, PlannedAction::TagQuarantined { .. }))
            .collect();
        assert_eq!(failed.len(), 4);
        let r = plan.record_after(&failed, &e).unwrap();
        assert_eq!(r.incident_id, "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406");
        assert_eq!(r.attached_policy_arn, None);
        assert_eq!(r.deactivated_keys, vec!["AKIAEARLIER000000001".to_string()]);
        assert!(!r.login_profile_deleted);
        // The earlier revocation policy is still in place.
        assert_eq!(
            r.revocation_policy.as_deref(),
            Some("cordon-revoke-sessions")
        );
        // Nothing failed: the plan's record as it is.
        assert_eq!(plan.record_after(&[], &e), plan.record());

        // The correction blanks what the record no longer holds, and reads back the same.
        let tags = r.correction_tags();
        assert_eq!(tags["CordonAttachedPolicy"], "");
        assert_eq!(tags["CordonLoginProfileDeleted"], "");
        assert_eq!(tags["CordonNaclEntry"], "");
        assert_eq!(
            QuarantineRecord::from_tags(r.principal.clone(), &tags),
            Some(r)
        );
    }

    fn exfil() -> (Incident, Enrichment) {
        let i = incident("guardduty-instance-credential-exfiltration-outside-aws.json");
        let mut e = role_enrichment("web-app-role");
        e.instance = Some(InstanceFacts {
            instance_id: "i-0a1b2c3d4e5f60718".into(),
            metadata_http_tokens: Some("optional".into()),
            network_acl_id: Some("acl-0123456789abcdef0".into()),
            ..Default::default()
        });
        (i, e)
    }

    #[test]
    fn role_revokes_sessions_and_tags_by_default() {
        let (i, e) = exfil();
        let now = t("2026-03-14T01:50:00Z");
        let plan = plan_quarantine(&i, &e, &policy(), QARN, now).unwrap();
        let role = PrincipalRef::Role("web-app-role".into());
        assert_eq!(plan.actions.len(), 2);
        assert!(
            matches!(&plan.actions[0], PlannedAction::TagQuarantined { principal, .. } if *principal == role)
        );
        assert_eq!(
            plan.actions[1],
            PlannedAction::RevokeSessions {
                principal: role,
                policy_name: REVOCATION_POLICY_NAME.into(),
                before: now
            }
        );
        let skipped: Vec<&str> = plan.skipped.iter().map(|s| s.action.as_str()).collect();
        assert_eq!(
            skipped,
            vec![
                ACT_ATTACH,
                ACT_DEACTIVATE,
                ACT_DELETE_PROFILE,
                ACT_IMDS,
                ACT_NACL
            ]
        );
        assert_eq!(
            plan.skipped[3].detail,
            "disabled by policy (containment.enforceImdsV2 = false)"
        );
        assert_eq!(plan.skipped[4].target, "198.51.100.77");
    }

    #[test]
    fn role_with_imds_and_nacl_enabled() {
        let (i, e) = exfil();
        let mut policy = policy();
        policy.containment.enforce_imds_v2 = true;
        policy.containment.nacl_deny_remote_ip = true;
        let plan = plan_quarantine(&i, &e, &policy, QARN, t("2026-03-14T01:50:00Z")).unwrap();
        let rule = nacl_rule_number("198.51.100.77");
        assert!((1..=90).contains(&rule));
        assert_eq!(
            plan.actions[2..],
            [
                PlannedAction::EnforceImdsV2 {
                    instance_id: "i-0a1b2c3d4e5f60718".into()
                },
                PlannedAction::NaclDenyIp {
                    network_acl_id: "acl-0123456789abcdef0".into(),
                    cidr: "198.51.100.77/32".into(),
                    rule_number: rule
                },
            ]
        );
        let r = plan.record().unwrap();
        assert_eq!(r.imdsv2_enforced_on.as_deref(), Some("i-0a1b2c3d4e5f60718"));
        assert_eq!(
            r.nacl_entry,
            Some(format!("acl-0123456789abcdef0:{rule}:198.51.100.77/32"))
        );

        // Facts missing or already in place → skipped with why.
        let (i, mut e) = exfil();
        let inst = e.instance.as_mut().unwrap();
        inst.metadata_http_tokens = Some("required".into());
        inst.network_acl_id = None;
        let plan = plan_quarantine(&i, &e, &policy, QARN, t("2026-03-14T01:50:00Z")).unwrap();
        assert_eq!(plan.actions.len(), 2);
        let details: Vec<&str> = plan.skipped.iter().map(|s| s.detail.as_str()).collect();
        assert!(
            details.contains(&"the instance already requires IMDSv2"),
            "{details:?}"
        );
        assert!(
            details.contains(&"no network ACL known for the instance's subnet"),
            "{details:?}"
        );
    }

    #[test]
    fn refusals() {
        let p = policy();
        let now = t("2026-03-14T01:50:00Z");
        let root = incident("guardduty-root-credential-usage.json");
        assert_eq!(
            plan_quarantine(&root, &enrichment_for(&root), &p, QARN, now),
            Err(PlanError::Root)
        );
        let probe = incident("guardduty-ec2-port-probe.json");
        assert_eq!(
            plan_quarantine(&probe, &enrichment_for(&probe), &p, QARN, now),
            Err(PlanError::NotAnIdentity(
                "Instance i-0123456789abcdef0".into()
            ))
        );
        let (mut i, _) = suspicious();
        i.subject = Subject::IamUser {
            name: "break-glass-2".into(),
            arn: None,
            user_id: None,
            access_key_id: None,
        };
        assert_eq!(
            plan_quarantine(&i, &user_enrichment("break-glass-2"), &p, QARN, now),
            Err(PlanError::Protected(
                "user `break-glass-2` matches protected.users pattern `break-glass-*`".into()
            ))
        );
        let (i, mut e) = suspicious();
        e.exists = false;
        assert_eq!(
            plan_quarantine(&i, &e, &p, QARN, now),
            Err(PlanError::SubjectMissing)
        );
        // An account out of scope is refused first, whatever else the enrichment says.
        let (i, mut e) = suspicious();
        e.scope = Some(crate::scope::Scope {
            account: "999988887777".into(),
            home_account: "123456789012".into(),
            deployment: "single-account".into(),
            covered: false,
            access: None,
            rule: Some(crate::scope::OTHER_ACCOUNT.into()),
            detail: "covers only 123456789012".into(),
            ancestry: vec![],
        });
        assert_eq!(
            plan_quarantine(&i, &e, &p, QARN, now),
            Err(PlanError::OutOfScope("covers only 123456789012".into()))
        );
        let (i, mut e) = exfil();
        e.role = None;
        assert_eq!(
            plan_quarantine(&i, &e, &p, QARN, now),
            Err(PlanError::MissingFacts("enrichment.role is absent".into()))
        );
        let (i, mut e) = exfil();
        e.role.as_mut().unwrap().path = "/aws-reserved/sso.amazonaws.com/".into();
        assert!(matches!(
            plan_quarantine(&i, &e, &p, QARN, now),
            Err(PlanError::Protected(_))
        ));
    }

    #[test]
    fn revocation_document() {
        assert_eq!(
            revocation_policy_document(t("2026-03-14T01:50:00Z")),
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "CordonRevokeOlderSessions",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": { "DateLessThan": { "aws:TokenIssueTime": "2026-03-14T01:50:00Z" } }
                }]
            })
        );
    }

    #[test]
    fn release_is_the_exact_inverse() {
        let record = QuarantineRecord {
            incident_id: "inc".into(),
            principal: PrincipalRef::User("u".into()),
            reason: "r".into(),
            quarantined_at: t("2026-03-14T01:50:00Z"),
            attached_policy_arn: Some(QARN.into()),
            deactivated_keys: vec!["AKIA1".into(), "AKIA2".into()],
            login_profile_deleted: true,
            revocation_policy: Some(REVOCATION_POLICY_NAME.into()),
            imdsv2_enforced_on: None,
            nacl_entry: None,
        };
        let u = PrincipalRef::User("u".into());
        assert_eq!(
            release_plan(&record),
            vec![
                ReleaseAction::DeleteRevocationPolicy {
                    principal: u.clone(),
                    policy_name: REVOCATION_POLICY_NAME.into()
                },
                ReleaseAction::ResetLoginProfileManually { user: "u".into() },
                ReleaseAction::ReactivateAccessKey {
                    user: "u".into(),
                    access_key_id: "AKIA1".into()
                },
                ReleaseAction::ReactivateAccessKey {
                    user: "u".into(),
                    access_key_id: "AKIA2".into()
                },
                ReleaseAction::DetachQuarantinePolicy {
                    user: "u".into(),
                    policy_arn: QARN.into()
                },
                ReleaseAction::UntagQuarantined {
                    principal: u,
                    keys: [
                        "CordonAttachedPolicy",
                        "CordonDeactivatedKeys",
                        "CordonLoginProfileDeleted",
                        "CordonRevocationPolicy",
                        "QuarantineIncident",
                        "QuarantineReason",
                        "QuarantineTime",
                        "SecurityStatus"
                    ]
                    .map(String::from)
                    .to_vec(),
                },
            ]
        );
        let role = QuarantineRecord {
            principal: PrincipalRef::Role("web-app-role".into()),
            attached_policy_arn: None,
            deactivated_keys: vec![],
            login_profile_deleted: false,
            imdsv2_enforced_on: Some("i-1".into()),
            nacl_entry: Some("acl-1:7:198.51.100.77/32".into()),
            ..record
        };
        let steps = release_plan(&role);
        assert_eq!(
            steps[0],
            ReleaseAction::RemoveNaclEntry {
                network_acl_id: "acl-1".into(),
                rule_number: 7
            }
        );
        assert_eq!(
            steps[1],
            ReleaseAction::KeepImdsV2 {
                instance_id: "i-1".into()
            }
        );
        assert_eq!(steps.len(), 4);
    }
}
