//! Containment planning: what quarantine will do, in order, and what release undoes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{Enrichment, Incident, PrincipalRef, QuarantinePlan, QuarantineRecord};
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
    #[error("enrichment lacks the facts needed to plan: {0}")]
    MissingFacts(String),
}

/// Plan the quarantine of the incident's subject.
pub fn plan_quarantine(
    incident: &Incident,
    enrichment: &Enrichment,
    policy: &Policy,
    quarantine_policy_arn: &str,
    now: DateTime<Utc>,
) -> Result<QuarantinePlan, PlanError> {
    let _ = (enrichment, policy, quarantine_policy_arn, now);
    Err(PlanError::MissingFacts(format!(
        "not implemented yet ({})",
        incident.id
    )))
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

/// Exactly the inverse of what the record says was done, in reverse order.
pub fn release_plan(record: &QuarantineRecord) -> Vec<ReleaseAction> {
    let _ = record;
    Vec::new()
}
