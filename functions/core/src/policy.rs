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

/// Role-name prefix of cordon's own roles: always protected, so cordon never quarantines the
/// responder itself. Applies to roles only: anyone who may call `CreateUser` can name a user
/// `cordon-...`, and that must not buy the user protection.
pub const CORDON_ROLE_PREFIX: &str = "cordon-";

/// Step Functions' maximum task-token wait: one year.
pub const MAX_APPROVAL_TIMEOUT_SECONDS: u64 = 31_536_000;
/// Shorter than a minute leaves no human time to read the message.
pub const MIN_APPROVAL_TIMEOUT_SECONDS: u64 = 60;

impl Policy {
    /// Parse and validate a policy document. Every error names the field.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy =
            serde_json::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Check every field; the first problem found is returned, naming the field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |field: String, problem: String| PolicyError::Invalid { field, problem };
        for (i, pattern) in self.protected.users.iter().enumerate() {
            check_name_glob(pattern).map_err(|p| invalid(format!("protected.users[{i}]"), p))?;
        }
        for (i, pattern) in self.protected.roles.iter().enumerate() {
            check_name_glob(pattern).map_err(|p| invalid(format!("protected.roles[{i}]"), p))?;
        }
        for (i, pattern) in self.protected.arns.iter().enumerate() {
            check_arn_glob(pattern).map_err(|p| invalid(format!("protected.arns[{i}]"), p))?;
        }
        for (i, pattern) in self.trusted_creators.iter().enumerate() {
            check_arn_glob(pattern).map_err(|p| invalid(format!("trustedCreators[{i}]"), p))?;
        }
        for (i, pattern) in self.suspicious_user_name_patterns.iter().enumerate() {
            regex::Regex::new(pattern).map_err(|e| {
                invalid(
                    format!("suspiciousUserNamePatterns[{i}]"),
                    format!(
                        "not a valid regular expression: {}",
                        e.to_string().replace('\n', " ")
                    ),
                )
            })?;
        }
        let gd = &self.guard_duty;
        for (name, value) in [
            ("approvalThreshold", gd.approval_threshold),
            ("quarantineThreshold", gd.quarantine_threshold),
        ] {
            if !(0.0..=10.0).contains(&value) {
                return Err(invalid(
                    format!("guardDuty.{name}"),
                    format!("{value} is outside GuardDuty's severity range 0..=10"),
                ));
            }
        }
        if gd.approval_threshold > gd.quarantine_threshold {
            return Err(invalid(
                "guardDuty.approvalThreshold".into(),
                format!(
                    "{} is above quarantineThreshold {}: approval must not need a higher severity than automatic quarantine",
                    gd.approval_threshold, gd.quarantine_threshold
                ),
            ));
        }
        let t = self.approval.timeout_seconds;
        if !(MIN_APPROVAL_TIMEOUT_SECONDS..=MAX_APPROVAL_TIMEOUT_SECONDS).contains(&t) {
            return Err(invalid(
                "approval.timeoutSeconds".into(),
                format!(
                    "{t} is outside {MIN_APPROVAL_TIMEOUT_SECONDS}..={MAX_APPROVAL_TIMEOUT_SECONDS} (Step Functions waits at most one year for a task token)"
                ),
            ));
        }
        if self.approval.approvers.is_empty() {
            return Err(invalid(
                "approval.approvers".into(),
                "is empty: nobody could approve or reject a pending incident".into(),
            ));
        }
        for (i, pattern) in self.approval.approvers.iter().enumerate() {
            check_arn_glob(pattern).map_err(|p| invalid(format!("approval.approvers[{i}]"), p))?;
        }
        Ok(())
    }

    /// Why the subject is protected (never quarantined), or `None`.
    ///
    /// Always protected, whatever the policy says: the root user, AWS service-linked roles
    /// (path `/aws-service-role/`), AWS reserved SSO roles (`AWSReservedSSO_*`, path
    /// `/aws-reserved/`), and cordon's own roles (name prefix [`CORDON_ROLE_PREFIX`]). Then
    /// whatever the policy lists by user name, role name or ARN.
    pub fn protection(
        &self,
        subject: &crate::model::Subject,
        enrichment: Option<&crate::model::Enrichment>,
    ) -> Option<String> {
        use crate::glob::matches;
        use crate::model::Subject;
        let mut arns: Vec<String> = Vec::new();
        match subject {
            Subject::Root { account } => {
                return Some(format!(
                    "the root user of account {account} is never quarantined"
                ));
            }
            Subject::Resource { .. } => return None,
            Subject::IamUser { name, arn, .. } => {
                arns.extend(arn.clone());
                if let Some(user) = enrichment.and_then(|e| e.user.as_ref()) {
                    if !user.arn.is_empty() {
                        arns.push(user.arn.clone());
                    }
                }
                if let Some(p) = self.protected.users.iter().find(|p| matches(p, name)) {
                    return Some(format!(
                        "user `{name}` matches protected.users pattern `{p}`"
                    ));
                }
            }
            Subject::AssumedRole {
                role_name,
                role_arn,
                ..
            } => {
                arns.extend(role_arn.clone());
                let role = enrichment.and_then(|e| e.role.as_ref());
                if let Some(role) = role {
                    if !role.arn.is_empty() {
                        arns.push(role.arn.clone());
                    }
                }
                let path = role.map(|r| r.path.as_str()).unwrap_or("");
                if path.starts_with("/aws-service-role/")
                    || arns.iter().any(|a| a.contains(":role/aws-service-role/"))
                {
                    return Some(format!("`{role_name}` is an AWS service-linked role"));
                }
                if role_name.starts_with("AWSReservedSSO_")
                    || path.starts_with("/aws-reserved/")
                    || arns.iter().any(|a| a.contains(":role/aws-reserved/"))
                {
                    return Some(format!(
                        "`{role_name}` is an AWS reserved IAM Identity Center (SSO) role; manage it in Identity Center"
                    ));
                }
                if role_name.starts_with(CORDON_ROLE_PREFIX) {
                    return Some(format!(
                        "`{role_name}` is one of cordon's own roles (prefix `{CORDON_ROLE_PREFIX}`)"
                    ));
                }
                if let Some(p) = self.protected.roles.iter().find(|p| matches(p, role_name)) {
                    return Some(format!(
                        "role `{role_name}` matches protected.roles pattern `{p}`"
                    ));
                }
            }
        }
        for arn in &arns {
            if let Some(p) = self.protected.arns.iter().find(|p| matches(p, arn)) {
                return Some(format!("`{arn}` matches protected.arns pattern `{p}`"));
            }
        }
        None
    }

    /// Whether the actor is a trusted creator: its ARN or, for assumed roles and federated
    /// users, its session issuer's ARN matches a `trustedCreators` glob.
    pub fn is_trusted_creator(&self, actor: &crate::model::Actor) -> bool {
        let candidates = actor.arn.iter().chain(actor.session_issuer_arn.iter());
        candidates.into_iter().any(|arn| {
            self.trusted_creators
                .iter()
                .any(|p| crate::glob::matches(p, arn))
        })
    }

    /// Whether `arn` may approve or reject.
    pub fn is_approver(&self, arn: &str) -> bool {
        !arn.is_empty()
            && self
                .approval
                .approvers
                .iter()
                .any(|p| crate::glob::matches(p, arn))
    }
}

fn check_glob_chars(pattern: &str, extra: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty pattern".into());
    }
    for c in pattern.chars() {
        if "[]{}!".contains(c) {
            return Err(format!(
                "`{pattern}`: `{c}` is not supported; only `*` (any run) and `?` (one character) are wildcards"
            ));
        }
        if !(c.is_ascii_alphanumeric() || "*?+=,.@_-".contains(c) || extra.contains(c)) {
            return Err(format!(
                "`{pattern}`: character {c:?} cannot appear in an IAM name or ARN"
            ));
        }
    }
    Ok(())
}

/// A user or role name glob.
fn check_name_glob(pattern: &str) -> Result<(), String> {
    check_glob_chars(pattern, "")
}

/// An ARN glob: must start with `arn:` so that a stray `*` cannot match everyone.
fn check_arn_glob(pattern: &str) -> Result<(), String> {
    check_glob_chars(pattern, ":/")?;
    if !pattern.starts_with("arn:") {
        return Err(format!(
            "`{pattern}` must be an ARN pattern starting with `arn:`"
        ));
    }
    Ok(())
}
