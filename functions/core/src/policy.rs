//! The response policy: one JSON document (see `infra/policy.example.json`), validated at
//! start-up with errors that name the field, and used by the same code in AWS and offline.

use serde::{Deserialize, Serialize};

use crate::model::ApprovalDefault;

/// The response policy users edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Principals never quarantined automatically (glob patterns).
    #[serde(default)]
    pub protected: Protected,
    /// Creators whose `CreateUser` calls are expected (IaC pipelines, SSO admin roles): ARN globs.
    #[serde(default)]
    pub trusted_creators: Vec<String>,
    /// Regular expressions for user names that look like an attacker's.
    #[serde(default)]
    pub suspicious_user_name_patterns: Vec<String>,
    #[serde(default)]
    pub guard_duty: GuardDutyThresholds,
    pub approval: ApprovalPolicy,
    #[serde(default)]
    pub containment: ContainmentPolicy,
    /// Plan only: every containment action is reported `skipped`, nothing changes.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Protected {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub arns: Vec<String>,
}

/// GuardDuty severities (0.0–10.0) from which a finding asks for approval, or is quarantined
/// without asking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardDutyThresholds {
    pub approval_threshold: f64,
    pub quarantine_threshold: f64,
}

impl Default for GuardDutyThresholds {
    fn default() -> Self {
        Self {
            approval_threshold: 4.0,
            quarantine_threshold: 8.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalPolicy {
    pub timeout_seconds: u64,
    pub default: ApprovalDefault,
    /// ARN globs of who may decide.
    pub approvers: Vec<String>,
    /// The approver may not be the actor who created the subject.
    #[serde(default = "yes")]
    pub two_person_rule: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainmentPolicy {
    #[serde(default = "yes")]
    pub attach_deny_policy: bool,
    #[serde(default = "yes")]
    pub deactivate_access_keys: bool,
    #[serde(default = "yes")]
    pub delete_login_profile: bool,
    #[serde(default = "yes")]
    pub revoke_sessions: bool,
    #[serde(default)]
    pub enforce_imds_v2: bool,
    #[serde(default)]
    pub nacl_deny_remote_ip: bool,
}

impl Default for ContainmentPolicy {
    fn default() -> Self {
        Self {
            attach_deny_policy: true,
            deactivate_access_keys: true,
            delete_login_profile: true,
            revoke_sessions: true,
            enforce_imds_v2: false,
            nacl_deny_remote_ip: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// Why a policy document was refused. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is not valid JSON for cordon's policy format: {0}")]
    Parse(String),
    #[error("policy field `{field}`: {problem}")]
    Invalid { field: String, problem: String },
}

impl Policy {
    /// Parse and validate a policy document. Every error names the field.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy =
            serde_json::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        Ok(policy)
    }

    /// Why the subject is protected (never quarantined), or `None`.
    pub fn protection(
        &self,
        subject: &crate::model::Subject,
        enrichment: Option<&crate::model::Enrichment>,
    ) -> Option<String> {
        let _ = (subject, enrichment);
        None
    }

    /// Whether the actor is a trusted creator (its ARN or, for assumed roles, its session issuer).
    pub fn is_trusted_creator(&self, actor: &crate::model::Actor) -> bool {
        let _ = actor;
        false
    }

    /// Whether `arn` may approve or reject.
    pub fn is_approver(&self, arn: &str) -> bool {
        let _ = arn;
        false
    }
}
