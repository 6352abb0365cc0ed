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
    let targets = PlanTargets {
        quarantine_policy_arn,
        quarantine_instance_profile_arn: None,
        approval: None,
    };
    plan_quarantine_for(incident, enrichment, policy, &targets, now)
}

/// What the deployment and the decision add to the plan's inputs.
#[derive(Debug, Clone, Copy)]
pub struct PlanTargets<'a> {
    /// The deny-all managed policy in the incident's account.
    pub quarantine_policy_arn: &'a str,
    /// The quarantine instance profile in the incident's account (`None`: not deployed, so no
    /// profile swap).
    pub quarantine_instance_profile_arn: Option<&'a str>,
    /// The human decision, if one was made (the approver may choose the role-wide revocation).
    pub approval: Option<&'a crate::model::Approval>,
}

/// [`plan_quarantine`] with the deployment's quarantine instance profile and the approval.
pub fn plan_quarantine_for(
    incident: &Incident,
    enrichment: &Enrichment,
    policy: &Policy,
    targets: &PlanTargets<'_>,
    now: DateTime<Utc>,
) -> Result<QuarantinePlan, PlanError> {
    let quarantine_policy_arn = targets.quarantine_policy_arn;
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
                "not applied to roles: it would deny fresh, legitimate sessions too (earlier sessions are revoked instead, when the blast radius allows)",
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
            let choice =
                crate::instance::revocation_choice(incident, enrichment, policy, targets.approval);
            let revoke = match &choice {
                Some(choice) if !choice.revoke => {
                    b.skip(ACT_REVOKE, role_name, &choice.why);
                    None
                }
                _ => revoke(
                    &mut b,
                    c.revoke_sessions,
                    &principal,
                    role_name,
                    now,
                    &mut record,
                ),
            };
            let instance_id = instance_id
                .clone()
                .or_else(|| enrichment.instance.as_ref().map(|i| i.instance_id.clone()));
            let instance = enrichment.instance.as_ref();
            let ctx = InstanceCtx {
                role_name,
                instance_id: instance_id.as_deref(),
                instance,
                prior,
            };
            let swap = plan_swap(
                &mut b,
                &ctx,
                c.swap_instance_profile,
                targets.quarantine_instance_profile_arn,
                &mut record,
            );
            let imds = plan_imds(&mut b, &ctx, c.enforce_imds_v2, &mut record);
            let remote_ip = incident
                .finding
                .as_ref()
                .and_then(|f| f.remote_ip.as_ref())
                .map(|r| r.ip.clone());
            let nacl = plan_nacl(
                &mut b,
                &ctx,
                c.nacl_deny_remote_ip,
                remote_ip.as_deref(),
                &mut record,
            );

            if swap.is_some() || imds.is_some() || nacl.is_some() {
                record.instance_region = Some(incident.region.clone());
            }
            b.actions.push(PlannedAction::TagQuarantined {
                principal,
                tags: record.to_tags(),
            });
            b.actions.extend(revoke);
            b.actions.extend(swap);
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
pub const ACT_SWAP: &str = "swap-instance-profile";
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
        PlannedAction::EnforceImdsV2 { instance_id, .. } => (ACT_IMDS, instance_id.clone()),
        PlannedAction::SwapInstanceProfile { instance_id, .. } => (ACT_SWAP, instance_id.clone()),
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
                    r.imds_before = prior.and_then(|p| p.imds_before.clone());
                }
                PlannedAction::SwapInstanceProfile { .. } => {
                    r.profile_swap = prior.and_then(|p| p.profile_swap.clone());
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

/// What the instance steps of a role's plan look at.
struct InstanceCtx<'a> {
    role_name: &'a str,
    instance_id: Option<&'a str>,
    instance: Option<&'a crate::model::InstanceFacts>,
    /// The principal's earlier cordon record: what it says cordon did is planned again (the
    /// adapter then reports `already`) and its "before" facts are kept, never re-read from a
    /// state cordon itself made.
    prior: Option<&'a QuarantineRecord>,
}

impl InstanceCtx<'_> {
    /// The instance and its facts, or the skip detail saying why there are none.
    fn target(&self) -> Result<(&str, &crate::model::InstanceFacts), (&str, &'static str)> {
        match (self.instance_id, self.instance) {
            (None, _) => Err((self.role_name, "the finding names no EC2 instance")),
            (Some(id), None) => Err((id, "no facts about the instance (it may no longer exist)")),
            (Some(id), Some(facts)) => Ok((id, facts)),
        }
    }
}

/// Replace the instance's profile with the quarantine profile, recording the original.
fn plan_swap(
    b: &mut Builder,
    ctx: &InstanceCtx<'_>,
    enabled: bool,
    quarantine_profile: Option<&str>,
    record: &mut QuarantineRecord,
) -> Option<PlannedAction> {
    if !enabled {
        let target = ctx.instance_id.unwrap_or(ctx.role_name);
        b.skip(
            ACT_SWAP,
            target,
            "disabled by policy (containment.swapInstanceProfile = false)",
        );
        return None;
    }
    let (id, facts) = match ctx.target() {
        Ok(t) => t,
        Err((target, why)) => {
            b.skip(ACT_SWAP, target, why);
            return None;
        }
    };
    let Some(to) = quarantine_profile else {
        b.skip(
            ACT_SWAP,
            id,
            "no quarantine instance profile is deployed (template parameter QuarantineInstanceProfileName)",
        );
        return None;
    };
    // Ours already (a retry): plan it again from the record's original.
    if let Some((_, from, _)) = ctx
        .prior
        .and_then(|p| p.profile_swap.as_deref())
        .and_then(crate::instance::parse_profile_swap)
        .filter(|(instance, _, q)| instance == id && q == to)
    {
        record.profile_swap = Some(crate::instance::profile_swap_tag(id, &from, to));
        return Some(PlannedAction::SwapInstanceProfile {
            instance_id: id.to_string(),
            from_profile_arn: from,
            to_profile_arn: to.to_string(),
        });
    }
    if let Some(other) = record
        .profile_swap
        .as_deref()
        .and_then(crate::instance::parse_profile_swap)
    {
        b.skip(
            ACT_SWAP,
            id,
            &format!(
                "the role's quarantine record already holds the profile swap of {}: release it first, or replace this instance's profile by hand",
                other.0
            ),
        );
        return None;
    }
    let Some(from) = facts.instance_profile_arn.as_deref() else {
        b.skip(ACT_SWAP, id, "the instance has no instance profile");
        return None;
    };
    if from == to {
        b.skip(
            ACT_SWAP,
            id,
            "the instance already has the quarantine instance profile",
        );
        return None;
    }
    let tag = crate::instance::profile_swap_tag(id, from, to);
    if crate::record::tag_value(&tag) != tag {
        b.skip(
            ACT_SWAP,
            id,
            "the profile ARNs do not fit an IAM tag value, so release could not restore the original: not swapped",
        );
        return None;
    }
    record.profile_swap = Some(tag);
    Some(PlannedAction::SwapInstanceProfile {
        instance_id: id.to_string(),
        from_profile_arn: from.to_string(),
        to_profile_arn: to.to_string(),
    })
}

/// Require IMDSv2 with hop limit 1, recording the options it had.
fn plan_imds(
    b: &mut Builder,
    ctx: &InstanceCtx<'_>,
    enabled: bool,
    record: &mut QuarantineRecord,
) -> Option<PlannedAction> {
    use crate::instance::{QUARANTINE_HOP_LIMIT, imds_options_tag};
    if !enabled {
        let target = ctx.instance_id.unwrap_or(ctx.role_name);
        b.skip(
            ACT_IMDS,
            target,
            "disabled by policy (containment.enforceImdsV2 = false)",
        );
        return None;
    }
    let (id, facts) = match ctx.target() {
        Ok(t) => t,
        Err((target, why)) => {
            b.skip(ACT_IMDS, target, why);
            return None;
        }
    };
    let ours = ctx
        .prior
        .is_some_and(|p| p.imdsv2_enforced_on.as_deref() == Some(id));
    let tokens = facts.metadata_http_tokens.as_deref().unwrap_or("optional");
    let hops = facts.metadata_hop_limit.unwrap_or(QUARANTINE_HOP_LIMIT);
    if !ours {
        if facts.metadata_http_endpoint.as_deref() == Some("disabled") {
            b.skip(
                ACT_IMDS,
                id,
                "the instance metadata service is disabled on the instance",
            );
            return None;
        }
        if tokens == "required" && hops <= QUARANTINE_HOP_LIMIT {
            b.skip(
                ACT_IMDS,
                id,
                "the instance already requires IMDSv2 with hop limit 1",
            );
            return None;
        }
        if record
            .imdsv2_enforced_on
            .as_deref()
            .is_some_and(|o| o != id)
        {
            b.skip(
                ACT_IMDS,
                id,
                "the role's quarantine record already holds the IMDS change of another instance: release it first, or require IMDSv2 on this instance by hand",
            );
            return None;
        }
        record.imds_before = Some(imds_options_tag(tokens, hops));
    }
    record.imdsv2_enforced_on = Some(id.to_string());
    Some(PlannedAction::EnforceImdsV2 {
        instance_id: id.to_string(),
        hop_limit: QUARANTINE_HOP_LIMIT,
    })
}

/// Deny the remote address in the subnet's network ACL at a free rule number.
fn plan_nacl(
    b: &mut Builder,
    ctx: &InstanceCtx<'_>,
    enabled: bool,
    remote_ip: Option<&str>,
    record: &mut QuarantineRecord,
) -> Option<PlannedAction> {
    use crate::instance::{NaclRule, nacl_rule};
    if !enabled {
        b.skip(
            ACT_NACL,
            remote_ip.unwrap_or(ctx.role_name),
            "disabled by policy (containment.naclDenyRemoteIp = false)",
        );
        return None;
    }
    let Some(ip) = remote_ip else {
        b.skip(
            ACT_NACL,
            ctx.role_name,
            "the finding names no remote IPv4 address",
        );
        return None;
    };
    let Some(acl) = ctx.instance.and_then(|i| i.network_acl_id.clone()) else {
        b.skip(
            ACT_NACL,
            ip,
            "no network ACL known for the instance's subnet",
        );
        return None;
    };
    let Ok(addr) = ip.parse::<std::net::Ipv4Addr>() else {
        b.skip(ACT_NACL, ip, "not an IPv4 address");
        return None;
    };
    let cidr = format!("{addr}/32");
    // Ours already (a retry): the same entry, at the number the record holds.
    let ours = ctx
        .prior
        .and_then(|p| p.nacl_entry.as_deref())
        .and_then(crate::record::parse_nacl_entry)
        .filter(|(a, _, c)| a == &acl && c == &cidr);
    let rule_number = match ours {
        Some((_, n, _)) => n,
        None => {
            if record.nacl_entry.is_some() {
                b.skip(
                    ACT_NACL,
                    ip,
                    "the role's quarantine record already holds another network ACL entry: release it first, or deny this address by hand",
                );
                return None;
            }
            let entries = &ctx
                .instance
                .map(|i| i.network_acl_entries.as_slice())
                .unwrap_or_default();
            match nacl_rule(entries, addr) {
                NaclRule::Free(n) => n,
                NaclRule::AlreadyDenied(n) => {
                    b.skip(
                        ACT_NACL,
                        ip,
                        &format!("{acl} already denies {cidr} (rule {n}, not cordon's: release leaves it)"),
                    );
                    return None;
                }
                NaclRule::NoFreeNumber(why) => {
                    b.skip(ACT_NACL, ip, &format!("{acl}: {why}"));
                    return None;
                }
            }
        }
    };
    record.nacl_entry = Some(crate::record::nacl_entry_tag(&acl, rule_number, &cidr));
    Some(PlannedAction::NaclDenyIp {
        network_acl_id: acl,
        cidr,
        rule_number,
    })
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
        imds_before: prior.and_then(|p| p.imds_before.clone()),
        profile_swap: prior.and_then(|p| p.profile_swap.clone()),
        nacl_entry: prior.and_then(|p| p.nacl_entry.clone()),
        instance_region: prior.and_then(|p| p.instance_region.clone()),
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
    /// IMDSv2 was enforced on this instance by a record that did not keep the options before
    /// (an older cordon): release reports it and leaves IMDSv2 on.
    #[serde(rename_all = "camelCase")]
    KeepImdsV2 { instance_id: String },
    /// Put the instance's IMDS options back to what they were before cordon.
    #[serde(rename_all = "camelCase")]
    RestoreImdsOptions {
        instance_id: String,
        http_tokens: String,
        hop_limit: i32,
    },
    /// Put the instance's original instance profile back in place of the quarantine profile
    /// (only if the quarantine profile is still the one associated).
    #[serde(rename_all = "camelCase")]
    RestoreInstanceProfile {
        instance_id: String,
        quarantine_profile_arn: String,
        original_profile_arn: String,
    },
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
        match record
            .imds_before
            .as_deref()
            .and_then(crate::instance::parse_imds_options)
        {
            Some((http_tokens, hop_limit)) => steps.push(ReleaseAction::RestoreImdsOptions {
                instance_id: instance_id.clone(),
                http_tokens,
                hop_limit,
            }),
            None => steps.push(ReleaseAction::KeepImdsV2 {
                instance_id: instance_id.clone(),
            }),
        }
    }
    if let Some((instance_id, original, quarantine)) = record
        .profile_swap
        .as_deref()
        .and_then(crate::instance::parse_profile_swap)
    {
        steps.push(ReleaseAction::RestoreInstanceProfile {
            instance_id,
            quarantine_profile_arn: quarantine,
            original_profile_arn: original,
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
            imds_before: None,
            profile_swap: None,
            instance_region: None,
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

    const INSTANCE: &str = "i-0a1b2c3d4e5f60718";
    const QPROFILE: &str = "arn:aws:iam::123456789012:instance-profile/cordon-quarantine-instance";

    fn acl_default() -> Vec<crate::model::AclEntry> {
        [(100, "allow"), (32767, "deny")]
            .into_iter()
            .flat_map(|(n, action)| {
                [false, true].map(|egress| crate::model::AclEntry {
                    rule_number: n,
                    egress,
                    action: action.into(),
                    cidr: Some("0.0.0.0/0".into()),
                })
            })
            .collect()
    }

    /// The exfiltration finding; `web-app-role` on the instance and `others` more.
    fn exfil_with(others: usize) -> (Incident, Enrichment) {
        let i = incident("guardduty-instance-credential-exfiltration-outside-aws.json");
        let mut e = role_enrichment("web-app-role");
        e.instance = Some(InstanceFacts {
            instance_id: INSTANCE.into(),
            metadata_http_tokens: Some("optional".into()),
            metadata_hop_limit: Some(2),
            instance_profile_arn: Some(WEB_PROFILE.into()),
            network_acl_id: Some("acl-0123456789abcdef0".into()),
            network_acl_entries: acl_default(),
            ..Default::default()
        });
        e.blast_radius = Some(blast_radius("web-app-role", INSTANCE, others));
        (i, e)
    }

    fn exfil() -> (Incident, Enrichment) {
        exfil_with(0)
    }

    fn targets(approval: Option<&crate::model::Approval>) -> PlanTargets<'_> {
        PlanTargets {
            quarantine_policy_arn: QARN,
            quarantine_instance_profile_arn: Some(QPROFILE),
            approval,
        }
    }

    fn names(plan: &QuarantinePlan) -> Vec<&'static str> {
        plan.actions
            .iter()
            .map(|a| action_name_and_target(a).0)
            .collect()
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
                ACT_SWAP,
                ACT_IMDS,
                ACT_NACL
            ]
        );
        assert_eq!(
            plan.skipped[3].detail,
            "no quarantine instance profile is deployed (template parameter QuarantineInstanceProfileName)"
        );
        assert_eq!(
            plan.skipped[4].detail,
            "disabled by policy (containment.enforceImdsV2 = false)"
        );
        assert_eq!(plan.skipped[5].target, "198.51.100.77");
    }

    #[test]
    fn one_of_three_instances_is_quarantined_alone_and_the_role_is_not_revoked() {
        // Threshold 1: two other instances are above it.
        let (i, e) = exfil_with(2);
        let mut policy = policy();
        policy.containment.enforce_imds_v2 = true;
        policy.containment.revoke_role_sessions_max_other_instances = 1;
        let now = t("2026-03-14T01:50:00Z");
        let plan = plan_quarantine_for(&i, &e, &policy, &targets(None), now).unwrap();
        assert_eq!(
            names(&plan),
            vec![ACT_TAG, ACT_SWAP, ACT_IMDS],
            "no revoke-sessions"
        );
        assert_eq!(
            plan.actions[1],
            PlannedAction::SwapInstanceProfile {
                instance_id: INSTANCE.into(),
                from_profile_arn: WEB_PROFILE.into(),
                to_profile_arn: QPROFILE.into(),
            }
        );
        assert_eq!(
            plan.actions[2],
            PlannedAction::EnforceImdsV2 {
                instance_id: INSTANCE.into(),
                hop_limit: 1
            }
        );
        let revoke = plan
            .skipped
            .iter()
            .find(|s| s.action == ACT_REVOKE)
            .unwrap();
        assert!(
            revoke.detail.starts_with("web-app-role is used by 3 running instances in us-east-1, 2 besides i-0a1b2c3d4e5f60718"),
            "{}",
            revoke.detail
        );
        assert!(
            revoke.detail.contains("more than the policy's limit of 1"),
            "{}",
            revoke.detail
        );
        let r = plan.record().unwrap();
        assert_eq!(r.revocation_policy, None);
        assert_eq!(
            r.profile_swap.as_deref(),
            Some(format!("{INSTANCE} {WEB_PROFILE} {QPROFILE}").as_str())
        );
        assert_eq!(
            r.imds_before.as_deref(),
            Some("httpTokens=optional hopLimit=2")
        );
        assert_eq!(r.instance_region.as_deref(), Some("us-east-1"));
        // Exactly undone: the ACL entry, IMDS as it was, the original profile, the tags.
        assert_eq!(
            release_plan(&r)[..2],
            [
                ReleaseAction::RestoreImdsOptions {
                    instance_id: INSTANCE.into(),
                    http_tokens: "optional".into(),
                    hop_limit: 2
                },
                ReleaseAction::RestoreInstanceProfile {
                    instance_id: INSTANCE.into(),
                    quarantine_profile_arn: QPROFILE.into(),
                    original_profile_arn: WEB_PROFILE.into()
                },
            ]
        );
    }

    #[test]
    fn a_role_used_by_one_instance_is_revoked_and_the_approver_can_choose_either_way() {
        let mut policy = policy();
        policy.containment.revoke_role_sessions_max_other_instances = 1;
        let now = t("2026-03-14T01:50:00Z");
        let (i, e) = exfil_with(0);
        let plan = plan_quarantine_for(&i, &e, &policy, &targets(None), now).unwrap();
        assert_eq!(names(&plan), vec![ACT_TAG, ACT_REVOKE, ACT_SWAP]);

        // Above the threshold, an approver chooses the revocation...
        let (i, e) = exfil_with(11);
        let mut approval = crate::model::Approval {
            decision: crate::model::Decision::Approved,
            approver: Some("arn:aws:iam::123456789012:user/alice".into()),
            verified: true,
            reason: "stolen keys in use".into(),
            decided_at: now,
            revoke_role_sessions: Some(true),
        };
        let plan = plan_quarantine_for(&i, &e, &policy, &targets(Some(&approval)), now).unwrap();
        assert_eq!(names(&plan), vec![ACT_TAG, ACT_REVOKE, ACT_SWAP]);
        // ...or, within it, chooses not to.
        let (i, e) = exfil_with(0);
        approval.revoke_role_sessions = Some(false);
        let plan = plan_quarantine_for(&i, &e, &policy, &targets(Some(&approval)), now).unwrap();
        assert_eq!(names(&plan), vec![ACT_TAG, ACT_SWAP]);
        let skipped = plan
            .skipped
            .iter()
            .find(|s| s.action == ACT_REVOKE)
            .unwrap();
        assert!(
            skipped
                .detail
                .starts_with("arn:aws:iam::123456789012:user/alice chose not to revoke"),
            "{}",
            skipped.detail
        );
        // An unknown blast radius never revokes automatically.
        let (i, mut e) = exfil_with(0);
        e.blast_radius = None;
        let plan = plan_quarantine_for(&i, &e, &policy, &targets(None), now).unwrap();
        assert_eq!(names(&plan), vec![ACT_TAG, ACT_SWAP]);
    }

    #[test]
    fn role_with_imds_and_nacl_enabled() {
        let (i, mut e) = exfil();
        // Someone's entries at the lowest numbers: the deny takes the first free one.
        let acl = &mut e.instance.as_mut().unwrap().network_acl_entries;
        for (n, egress) in [(1, false), (2, true), (3, false)] {
            acl.push(crate::model::AclEntry {
                rule_number: n,
                egress,
                action: "deny".into(),
                cidr: Some("203.0.113.0/24".into()),
            });
        }
        let mut policy = policy();
        policy.containment.enforce_imds_v2 = true;
        policy.containment.nacl_deny_remote_ip = true;
        let plan = plan_quarantine(&i, &e, &policy, QARN, t("2026-03-14T01:50:00Z")).unwrap();
        assert_eq!(
            plan.actions[2..],
            [
                PlannedAction::EnforceImdsV2 {
                    instance_id: INSTANCE.into(),
                    hop_limit: 1
                },
                PlannedAction::NaclDenyIp {
                    network_acl_id: "acl-0123456789abcdef0".into(),
                    cidr: "198.51.100.77/32".into(),
                    rule_number: 4
                },
            ]
        );
        let r = plan.record().unwrap();
        assert_eq!(r.imdsv2_enforced_on.as_deref(), Some(INSTANCE));
        assert_eq!(
            r.nacl_entry.as_deref(),
            Some("acl-0123456789abcdef0:4:198.51.100.77/32")
        );
        // A retry plans the same entry from the record, whatever the ACL holds now.
        let mut again = e.clone();
        again.quarantine = Some(r.clone());
        again
            .instance
            .as_mut()
            .unwrap()
            .network_acl_entries
            .push(crate::model::AclEntry {
                rule_number: 4,
                egress: false,
                action: "deny".into(),
                cidr: Some("198.51.100.77/32".into()),
            });
        let plan = plan_quarantine(&i, &again, &policy, QARN, t("2026-03-14T01:50:00Z")).unwrap();
        assert!(plan.actions.contains(&PlannedAction::NaclDenyIp {
            network_acl_id: "acl-0123456789abcdef0".into(),
            cidr: "198.51.100.77/32".into(),
            rule_number: 4
        }));

        // Facts missing or already in place → skipped with why.
        let (i, mut e) = exfil();
        let inst = e.instance.as_mut().unwrap();
        inst.metadata_http_tokens = Some("required".into());
        inst.metadata_hop_limit = Some(1);
        inst.network_acl_id = None;
        let plan = plan_quarantine(&i, &e, &policy, QARN, t("2026-03-14T01:50:00Z")).unwrap();
        assert_eq!(plan.actions.len(), 2);
        let details: Vec<&str> = plan.skipped.iter().map(|s| s.detail.as_str()).collect();
        assert!(
            details.contains(&"the instance already requires IMDSv2 with hop limit 1"),
            "{details:?}"
        );
        assert!(
            details.contains(&"no network ACL known for the instance's subnet"),
            "{details:?}"
        );
    }

    #[test]
    fn a_retry_plans_the_swap_and_imds_from_the_record_not_from_what_cordon_changed() {
        let (i, e) = exfil_with(0);
        let mut policy = policy();
        policy.containment.enforce_imds_v2 = true;
        let now = t("2026-03-14T01:50:00Z");
        let first = plan_quarantine_for(&i, &e, &policy, &targets(None), now).unwrap();
        let record = first.record().unwrap();
        // What AWS says after the first run: the quarantine profile, IMDSv2 with hop 1.
        let mut after = e.clone();
        after.quarantine = Some(record.clone());
        let inst = after.instance.as_mut().unwrap();
        inst.instance_profile_arn = Some(QPROFILE.into());
        inst.metadata_http_tokens = Some("required".into());
        inst.metadata_hop_limit = Some(1);
        let again = plan_quarantine_for(&i, &after, &policy, &targets(None), now).unwrap();
        assert_eq!(again.actions, first.actions);
        assert_eq!(again.record(), Some(record));
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
            imds_before: None,
            profile_swap: None,
            instance_region: None,
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
            imds_before: None,
            profile_swap: None,
            instance_region: None,
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
