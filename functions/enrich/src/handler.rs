//! enrich: parse the EventBridge event into an incident and gather what AWS says about its
//! subject right now. Every independent lookup runs concurrently.

use chrono::{DateTime, Utc};
use cordon_core::ports::{Compute, IamRead, PortResult};
use cordon_core::{
    CaseFile, Enrichment, Incident, InstanceFacts, LookupError, ParseError, PortError,
    PrincipalRef, QuarantineRecord, REVOCATION_POLICY_NAME, RoleFacts, Subject, UserFacts,
    parse_event,
};
use serde::Serialize;
use serde_json::Value;

/// What enrich adds to the state document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub incident: Incident,
    pub enrichment: Enrichment,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The event is not one cordon understands (or is malformed): retrying cannot help.
    #[error("invalid event: {0}")]
    InvalidEvent(#[from] ParseError),
    /// The state document itself is not what the state machine sends.
    #[error("invalid state document: {0}")]
    InvalidInput(#[from] serde_json::Error),
    /// A lookup was throttled or AWS had a transient problem: the state machine retries.
    #[error("transient AWS failure: {0}")]
    Transient(PortError),
}

impl EnrichError {
    /// The `errorType` the state machine matches.
    pub fn error_type(&self) -> &'static str {
        match self {
            EnrichError::InvalidEvent(_) | EnrichError::InvalidInput(_) => "InvalidEvent",
            EnrichError::Transient(_) => "Transient",
        }
    }
}

/// Lookup results are folded here: a transient failure aborts (retry the whole step); any
/// other failure (access denied, ...) is recorded and the lookup's value is left empty, so
/// classification can see the enrichment is incomplete.
struct Errors(Vec<LookupError>);

impl Errors {
    fn take<T: Default>(&mut self, lookup: &str, result: PortResult<T>) -> Result<T, EnrichError> {
        match result {
            Ok(v) => Ok(v),
            Err(e) if e.is_transient() => Err(EnrichError::Transient(e)),
            Err(e) => {
                tracing::warn!(lookup, error = %e, "lookup failed; recorded in lookupErrors");
                self.0.push(LookupError {
                    lookup: lookup.to_string(),
                    error: e.to_string(),
                });
                Ok(T::default())
            }
        }
    }
}

pub async fn handle<I: IamRead, C: Compute>(
    iam: &I,
    compute: &C,
    case: &CaseFile,
) -> Result<Output, EnrichError> {
    let incident = parse_event(&case.event)?;
    tracing::info!(incident_id = %incident.id, kind = %incident.kind, "parsed event");
    let enrichment = enrich(iam, compute, &incident).await?;
    tracing::info!(incident_id = %incident.id, exists = enrichment.exists, lookup_errors = enrichment.lookup_errors.len(), "enriched");
    Ok(Output {
        incident,
        enrichment,
    })
}

pub async fn enrich<I: IamRead, C: Compute>(
    iam: &I,
    compute: &C,
    incident: &Incident,
) -> Result<Enrichment, EnrichError> {
    let mut errors = Errors(Vec::new());
    let mut e = Enrichment::default();
    match &incident.subject {
        Subject::IamUser {
            name, arn, user_id, ..
        } => {
            let (user, tags, attached, inline, groups, keys, profile, mfa) = tokio::join!(
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
            let (role, tags, attached, inline, revocation, instance) = tokio::join!(
                iam.role(role_name),
                iam.role_tags(role_name),
                iam.role_attached_policies(role_name),
                iam.role_inline_policies(role_name),
                iam.role_inline_policy(role_name, REVOCATION_POLICY_NAME),
                instance,
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

#[cfg(test)]
mod tests;
