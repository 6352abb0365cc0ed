//! What AWS says about an incident's subject right now, gathered through the ports. Every
//! independent lookup runs concurrently. Shared by the enrich function and `cordon replay`.
//!
//! A subject that no longer exists is a fact (`exists: false`); a lookup that fails for any
//! reason other than a transient one (access denied, ...) is recorded in `lookupErrors` and its
//! value left empty, so classification can see the enrichment is incomplete. A transient
//! failure aborts the whole gathering: the caller retries.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{
    BlastRadius, Enrichment, Incident, InstanceFacts, InstanceUse, LookupError, PrincipalRef,
    QuarantineRecord, RoleFacts, Subject, UserFacts,
};
use crate::plan::REVOCATION_POLICY_NAME;
use crate::policy::Policy;
use crate::ports::{AccountError, Accounts, Compute, IamRead, Organization, PortError, PortResult};
use crate::scope::{Deployment, assess};

/// Why [`gather_in_scope`] could not answer: retry, or the account could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopedError {
    #[error("transient AWS failure: {0}")]
    Transient(PortError),
    #[error("{0}")]
    Account(AccountError),
}

impl From<AccountError> for ScopedError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Transient { source, .. } => ScopedError::Transient(source),
            other => ScopedError::Account(other),
        }
    }
}

/// Decide whether the incident's account is in scope ([`crate::scope::assess`]) and only
/// then gather, with clients for that very account. An out-of-scope incident is looked up
/// nowhere: its enrichment holds only the scope. Shared by the enrich function and
/// `cordon replay`.
pub async fn gather_in_scope<A: Accounts, O: Organization>(
    accounts: &A,
    organization: &O,
    deployment: &Deployment,
    policy: Option<&Policy>,
    incident: &Incident,
) -> Result<Enrichment, ScopedError> {
    let scope = assess(deployment, policy, &incident.account, organization)
        .await
        .map_err(ScopedError::Transient)?;
    if !scope.covered || incident.is_sample() {
        // A sample finding names placeholders: nothing real to look up anywhere.
        return Ok(Enrichment {
            scope: Some(scope),
            ..Enrichment::default()
        });
    }
    let clients = accounts
        .open(&incident.account, &incident.region, &incident.id)
        .await?;
    let mut enrichment = gather(&clients.iam, &clients.compute, incident)
        .await
        .map_err(ScopedError::Transient)?;
    enrichment.scope = Some(scope);
    Ok(enrichment)
}

/// Lookup results are folded here: a transient failure aborts (retry the whole step); any
/// other failure (access denied, ...) is recorded and the lookup's value is left empty, so
/// classification can see the enrichment is incomplete.
struct Errors(Vec<LookupError>);

impl Errors {
    fn take<T: Default>(&mut self, lookup: &str, result: PortResult<T>) -> Result<T, PortError> {
        match result {
            Ok(v) => Ok(v),
            Err(e) if e.is_transient() => Err(e),
            Err(e) => {
                self.0.push(LookupError {
                    lookup: lookup.to_string(),
                    error: e.to_string(),
                });
                Ok(T::default())
            }
        }
    }
}

/// Gather the enrichment for `incident`'s subject. `Err` only for a transient failure.
pub async fn gather<I: IamRead, C: Compute>(
    iam: &I,
    compute: &C,
    incident: &Incident,
) -> Result<Enrichment, PortError> {
    let mut errors = Errors(Vec::new());
    let mut e = Enrichment::default();
    match &incident.subject {
        Subject::IamUser {
            name, arn, user_id, ..
        } => {
            let (user, tags, attached, inline, groups, keys, profile, mfa) = futures::join!(
                iam.user(name),
                iam.user_tags(name),
                iam.user_attached_policies(name),
                iam.user_inline_policies(name),
                iam.user_groups(name),
                iam.access_keys(name),
                iam.login_profile(name),
                iam.mfa_devices(name),
            );
            // GetUser refused: we cannot say the user is gone, so it is treated as present
            // (with what the event says) and the gap is recorded.
            let denied_default = || {
                Some(UserFacts {
                    name: name.clone(),
                    arn: arn.clone().unwrap_or_default(),
                    user_id: user_id.clone().unwrap_or_default(),
                    ..UserFacts::default()
                })
            };
            let user = match user {
                Ok(u) => u,
                Err(err) => {
                    errors.take::<()>("user", Err(err))?;
                    denied_default()
                }
            };
            let tags = errors.take("userTags", tags)?;
            let attached = errors.take("userAttachedPolicies", attached)?;
            let inline = errors.take("userInlinePolicies", inline)?;
            let groups = errors.take("userGroups", groups)?;
            let keys = errors.take("accessKeys", keys)?;
            let profile = errors.take("loginProfile", profile)?;
            let mfa = errors.take("mfaDevices", mfa)?;
            if let Some(mut u) = user {
                e.exists = true;
                e.quarantine = QuarantineRecord::from_tags(PrincipalRef::User(name.clone()), &tags);
                u.tags = tags;
                u.attached_policies = attached;
                u.inline_policies = inline;
                u.groups = groups;
                u.access_keys = keys;
                u.login_profile = profile;
                u.mfa_devices = mfa;
                e.user = Some(u);
            }
        }
        Subject::AssumedRole {
            role_name,
            role_arn,
            instance_id,
            ..
        } => {
            let instance = async {
                match instance_id {
                    Some(id) => compute.instance(id).await,
                    None => Ok(None),
                }
            };
            // Instance credentials: who else runs on the role (what a revocation interrupts).
            let reach = async {
                match instance_id {
                    Some(_) => match iam.instance_profiles_for_role(role_name).await {
                        Ok(profiles) if profiles.is_empty() => Ok(Some((profiles, Vec::new()))),
                        Ok(profiles) => compute
                            .instances_using_profiles(&profiles)
                            .await
                            .map(|used| Some((profiles, used))),
                        Err(e) => Err(e),
                    },
                    None => Ok(None),
                }
            };
            let (role, tags, attached, inline, revocation, instance, reach) = futures::join!(
                iam.role(role_name),
                iam.role_tags(role_name),
                iam.role_attached_policies(role_name),
                iam.role_inline_policies(role_name),
                iam.role_inline_policy(role_name, REVOCATION_POLICY_NAME),
                instance,
                reach,
            );
            let role = match role {
                Ok(r) => r,
                Err(err) => {
                    errors.take::<()>("role", Err(err))?;
                    Some(RoleFacts {
                        name: role_name.clone(),
                        arn: role_arn.clone().unwrap_or_default(),
                        ..RoleFacts::default()
                    })
                }
            };
            let tags = errors.take("roleTags", tags)?;
            let attached = errors.take("roleAttachedPolicies", attached)?;
            let inline = errors.take("roleInlinePolicies", inline)?;
            let revocation = errors.take("revocationPolicy", revocation)?;
            e.instance = errors.take("instance", instance)?;
            e.blast_radius = errors.take("blastRadius", reach)?.map(|(profiles, used)| {
                blast_radius(
                    role_name,
                    &incident.region,
                    profiles,
                    used,
                    instance_id.as_deref().unwrap_or_default(),
                )
            });
            if let Some(mut r) = role {
                e.exists = true;
                e.quarantine =
                    QuarantineRecord::from_tags(PrincipalRef::Role(role_name.clone()), &tags);
                r.tags = tags;
                r.attached_policies = attached;
                r.inline_policies = inline;
                r.sessions_revoked_before = revocation.as_ref().and_then(token_issue_time);
                e.role = Some(r);
            }
        }
        Subject::Root { .. } => {
            // Root always exists and is never touched: nothing to look up.
            e.exists = true;
        }
        Subject::Principal { .. } => {
            // Nothing cordon could look up or change (an AWS service, a federated session).
        }
        Subject::Resource { resource_type, id } => {
            if resource_type == "Instance" {
                let instance: Option<InstanceFacts> =
                    errors.take("instance", compute.instance(id).await)?;
                e.exists = instance.is_some();
                e.instance = instance;
            } else {
                e.exists = true;
            }
        }
    }
    e.lookup_errors = errors.0;
    Ok(e)
}

/// Fold the instances found on the role's profiles: exact counts, the compromised instance
/// first, at most [`BlastRadius::LISTED`] listed, names bounded.
pub fn blast_radius(
    role: &str,
    region: &str,
    instance_profiles: Vec<String>,
    mut used: Vec<InstanceUse>,
    compromised: &str,
) -> BlastRadius {
    used.sort_by(|a, b| {
        (a.instance_id != compromised, &a.instance_id)
            .cmp(&(b.instance_id != compromised, &b.instance_id))
    });
    used.dedup_by(|a, b| a.instance_id == b.instance_id);
    let running_instances = used.len();
    let other_instances = used.iter().filter(|i| i.instance_id != compromised).count();
    used.truncate(BlastRadius::LISTED);
    for i in &mut used {
        i.name = i.name.as_deref().map(|n| crate::parse::bounded(n, 128));
        i.auto_scaling_group = i
            .auto_scaling_group
            .as_deref()
            .map(|n| crate::parse::bounded(n, 255));
    }
    BlastRadius {
        role: role.to_string(),
        region: region.to_string(),
        instance_profiles,
        running_instances,
        other_instances,
        instances: used,
    }
}

/// The `aws:TokenIssueTime` bound of cordon's revocation policy.
pub fn token_issue_time(policy: &Value) -> Option<DateTime<Utc>> {
    let statements = match policy.get("Statement")? {
        Value::Array(s) => s.clone(),
        s => vec![s.clone()],
    };
    statements
        .iter()
        .filter_map(|s| s.pointer("/Condition/DateLessThan/aws:TokenIssueTime"))
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        })
        .filter_map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .max()
}
