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
    /// Organization mode: which accounts cordon covers, and per-account protected principals.
    /// Ignored by a single-account deployment (which covers only its own account).
    #[serde(default)]
    pub organization: OrganizationPolicy,
}

/// Which of the organization's accounts are covered, and what is protected in each.
///
/// An account is covered when it is included (by id, by `*`, or because one of its ancestor
/// OUs or the root is listed) and not excluded (by id, or by an ancestor OU). Exclusion wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationPolicy {
    /// Account ids, or `*` for every account of the organization.
    #[serde(default = "every_account")]
    pub include_accounts: Vec<String>,
    #[serde(default)]
    pub exclude_accounts: Vec<String>,
    /// OU ids (`ou-…`) or the root id (`r-…`): every account below them, at any depth.
    #[serde(default)]
    pub include_organizational_units: Vec<String>,
    #[serde(default)]
    pub exclude_organizational_units: Vec<String>,
    /// Per-account additions to `protected` (they add to it, never replace it).
    #[serde(default)]
    pub accounts: std::collections::BTreeMap<String, AccountOverrides>,
}

impl Default for OrganizationPolicy {
    fn default() -> Self {
        Self {
            include_accounts: every_account(),
            exclude_accounts: Vec::new(),
            include_organizational_units: Vec::new(),
            exclude_organizational_units: Vec::new(),
            accounts: Default::default(),
        }
    }
}

fn every_account() -> Vec<String> {
    vec!["*".into()]
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountOverrides {
    #[serde(default)]
    pub protected: Protected,
}

impl OrganizationPolicy {
    /// Why `account` (with its `ancestry`: parent OUs up to the root) is not covered, or
    /// `Ok` with why it is.
    pub fn coverage(&self, account: &str, ancestry: &[String]) -> Result<String, String> {
        if self.exclude_accounts.iter().any(|a| a == account) {
            return Err(format!(
                "account {account} is listed in organization.excludeAccounts"
            ));
        }
        if let Some(ou) = ancestry
            .iter()
            .find(|ou| self.exclude_organizational_units.contains(ou))
        {
            return Err(format!(
                "account {account} is below {ou}, listed in organization.excludeOrganizationalUnits"
            ));
        }
        if self.include_accounts.iter().any(|a| a == account) {
            return Ok(format!(
                "account {account} is listed in organization.includeAccounts"
            ));
        }
        if let Some(ou) = ancestry
            .iter()
            .find(|ou| self.include_organizational_units.contains(ou))
        {
            return Ok(format!(
                "account {account} is below {ou}, listed in organization.includeOrganizationalUnits"
            ));
        }
        if self.include_accounts.iter().any(|a| a == "*") {
            return Ok(
                "organization.includeAccounts covers every account of the organization".to_string(),
            );
        }
        Err(format!(
            "account {account} is in neither organization.includeAccounts nor below an OU in organization.includeOrganizationalUnits"
        ))
    }
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
    /// Instance credentials: replace the compromised instance's instance profile with the
    /// deployment's quarantine instance profile, so that the instance (and an SSRF through it)
    /// can no longer fetch the role's credentials. Other instances are untouched.
    #[serde(default = "yes")]
    pub swap_instance_profile: bool,
    /// Instance credentials: revoke the role's sessions (every current session of the role,
    /// on every instance) only when at most this many *other* running instances use the role.
    /// 0: only when the compromised instance is the role's only user.
    #[serde(default)]
    pub revoke_role_sessions_max_other_instances: u32,
    /// What happens when the role has more other users than that: ask an approver (who may
    /// choose the revocation), or contain the instance alone without asking.
    #[serde(default)]
    pub above_revocation_threshold: AboveRevocationThreshold,
}

/// What cordon does when revoking an instance role's sessions would interrupt more instances
/// than the policy allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AboveRevocationThreshold {
    /// The verdict is at most `approve`: a human sees the blast radius and may choose the
    /// revocation (`revokeRoleSessions`); approving without it contains the instance alone.
    #[default]
    AskApprover,
    /// Contain the instance (swap, IMDSv2, NACL) without asking; the role's sessions are not
    /// revoked and the alert says the stolen credentials stay valid until they expire.
    ContainInstanceOnly,
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
            swap_instance_profile: true,
            revoke_role_sessions_max_other_instances: 0,
            above_revocation_threshold: AboveRevocationThreshold::AskApprover,
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

/// Roles that run the organization itself (account access from the management account,
/// StackSets, Control Tower): quarantining one breaks the organization's administration, and
/// a compromised one is a case for humans. Always protected, whatever the policy says.
pub const ALWAYS_PROTECTED_ROLES: &[&str] = &[
    "OrganizationAccountAccessRole",
    "AWSCloudFormationStackSetExecutionRole",
    "stacksets-exec-*",
    "AWSControlTower*",
    "aws-controltower-*",
];

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
        let org = &self.organization;
        for (i, a) in org.include_accounts.iter().enumerate() {
            if a != "*" {
                check_account_id(a)
                    .map_err(|p| invalid(format!("organization.includeAccounts[{i}]"), p))?;
            }
        }
        for (i, a) in org.exclude_accounts.iter().enumerate() {
            check_account_id(a)
                .map_err(|p| invalid(format!("organization.excludeAccounts[{i}]"), p))?;
        }
        for (field, list) in [
            (
                "includeOrganizationalUnits",
                &org.include_organizational_units,
            ),
            (
                "excludeOrganizationalUnits",
                &org.exclude_organizational_units,
            ),
        ] {
            for (i, id) in list.iter().enumerate() {
                check_ou_id(id).map_err(|p| invalid(format!("organization.{field}[{i}]"), p))?;
            }
        }
        for (account, overrides) in &org.accounts {
            check_account_id(account)
                .map_err(|p| invalid(format!("organization.accounts.{account}"), p))?;
            let at = |list: &str, i: usize| {
                format!("organization.accounts.{account}.protected.{list}[{i}]")
            };
            for (i, pattern) in overrides.protected.users.iter().enumerate() {
                check_name_glob(pattern).map_err(|p| invalid(at("users", i), p))?;
            }
            for (i, pattern) in overrides.protected.roles.iter().enumerate() {
                check_name_glob(pattern).map_err(|p| invalid(at("roles", i), p))?;
            }
            for (i, pattern) in overrides.protected.arns.iter().enumerate() {
                check_arn_glob(pattern).map_err(|p| invalid(at("arns", i), p))?;
            }
        }
        Ok(())
    }

    /// [`Policy::protection`], plus what `organization.accounts.<account>.protected` adds for
    /// the account the incident is about. This is the check every decision uses.
    pub fn protection_in(
        &self,
        account: &str,
        subject: &crate::model::Subject,
        enrichment: Option<&crate::model::Enrichment>,
    ) -> Option<String> {
        if let Some(why) = self.protection(subject, enrichment) {
            return Some(why);
        }
        let extra = &self.organization.accounts.get(account)?.protected;
        protected_by(extra, subject, enrichment)
            .map(|why| format!("{why} (organization.accounts.{account}.protected)"))
    }

    /// Why the subject is protected (never quarantined), or `None`.
    ///
    /// Always protected, whatever the policy says: the root user, AWS service-linked roles
    /// (path `/aws-service-role/`), AWS reserved SSO roles (`AWSReservedSSO_*`, path
    /// `/aws-reserved/`), organization administration roles ([`ALWAYS_PROTECTED_ROLES`]) and
    /// cordon's own roles (name prefix [`CORDON_ROLE_PREFIX`]). Then
    /// whatever the policy lists by user name, role name or ARN.
    pub fn protection(
        &self,
        subject: &crate::model::Subject,
        enrichment: Option<&crate::model::Enrichment>,
    ) -> Option<String> {
        use crate::glob::matches;
        use crate::model::Subject;
        match subject {
            Subject::Root { account } => {
                return Some(format!(
                    "the root user of account {account} is never quarantined"
                ));
            }
            Subject::Resource { .. } | Subject::Principal { .. } | Subject::IamUser { .. } => {}
            Subject::AssumedRole { role_name, .. } => {
                let arns = subject_arns(subject, enrichment);
                let path = enrichment
                    .and_then(|e| e.role.as_ref())
                    .map(|r| r.path.as_str())
                    .unwrap_or("");
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
                if let Some(p) = ALWAYS_PROTECTED_ROLES
                    .iter()
                    .find(|p| matches(p, role_name))
                {
                    return Some(format!(
                        "`{role_name}` is an organization administration role (`{p}`): cordon never quarantines it"
                    ));
                }
                if role_name.starts_with(CORDON_ROLE_PREFIX) {
                    return Some(format!(
                        "`{role_name}` is one of cordon's own roles (prefix `{CORDON_ROLE_PREFIX}`)"
                    ));
                }
            }
        }
        protected_by(&self.protected, subject, enrichment)
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

/// The ARNs a subject is known by: from the event, and from what IAM said.
fn subject_arns(
    subject: &crate::model::Subject,
    enrichment: Option<&crate::model::Enrichment>,
) -> Vec<String> {
    use crate::model::Subject;
    let mut arns = Vec::new();
    match subject {
        Subject::IamUser { arn, .. } => {
            arns.extend(arn.clone());
            arns.extend(
                enrichment
                    .and_then(|e| e.user.as_ref())
                    .map(|u| u.arn.clone())
                    .filter(|a| !a.is_empty()),
            );
        }
        Subject::AssumedRole { role_arn, .. } => {
            arns.extend(role_arn.clone());
            arns.extend(
                enrichment
                    .and_then(|e| e.role.as_ref())
                    .map(|r| r.arn.clone())
                    .filter(|a| !a.is_empty()),
            );
        }
        Subject::Root { .. } | Subject::Resource { .. } | Subject::Principal { .. } => {}
    }
    arns
}

/// Whether one `protected` list (the policy's, or an account's additions) names the subject.
/// A tag on the principal never counts: a compromised principal can tag itself.
fn protected_by(
    list: &Protected,
    subject: &crate::model::Subject,
    enrichment: Option<&crate::model::Enrichment>,
) -> Option<String> {
    use crate::glob::matches;
    use crate::model::Subject;
    match subject {
        Subject::IamUser { name, .. } => {
            if let Some(p) = list.users.iter().find(|p| matches(p, name)) {
                return Some(format!(
                    "user `{name}` matches protected.users pattern `{p}`"
                ));
            }
        }
        Subject::AssumedRole { role_name, .. } => {
            if let Some(p) = list.roles.iter().find(|p| matches(p, role_name)) {
                return Some(format!(
                    "role `{role_name}` matches protected.roles pattern `{p}`"
                ));
            }
        }
        Subject::Root { .. } | Subject::Resource { .. } | Subject::Principal { .. } => return None,
    }
    for arn in subject_arns(subject, enrichment) {
        if let Some(p) = list.arns.iter().find(|p| matches(p, &arn)) {
            return Some(format!("`{arn}` matches protected.arns pattern `{p}`"));
        }
    }
    None
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

fn check_account_id(id: &str) -> Result<(), String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("`{id}` is not a 12-digit AWS account id"))
    }
}

/// An organizational unit id (`ou-abcd-12345678`) or a root id (`r-abcd`).
fn check_ou_id(id: &str) -> Result<(), String> {
    let ok = |rest: &str| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    match (id.strip_prefix("ou-"), id.strip_prefix("r-")) {
        (Some(rest), _) | (_, Some(rest)) if ok(rest) => Ok(()),
        _ => Err(format!(
            "`{id}` is not an organizational unit id (`ou-…`) or a root id (`r-…`)"
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, Subject};
    use crate::testkit::*;
    use serde_json::{Value, json};

    fn with(f: impl FnOnce(&mut Value)) -> Result<Policy, PolicyError> {
        let mut v: Value = serde_json::from_str(POLICY_JSON).unwrap();
        f(&mut v);
        Policy::from_json(&v.to_string())
    }

    fn field_of(r: Result<Policy, PolicyError>) -> String {
        match r {
            Err(PolicyError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn example_policy_is_valid() {
        let path = format!(
            "{}/../../infra/policy.example.json",
            std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
        );
        if let Ok(text) = std::fs::read_to_string(path) {
            Policy::from_json(&text).unwrap();
        }
        let p = policy();
        assert_eq!(p.guard_duty.approval_threshold, 4.0);
        assert!(p.containment.attach_deny_policy && !p.containment.enforce_imds_v2);
    }

    #[test]
    fn every_field_is_validated_by_name() {
        type Mutation = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "protected.users[0]",
                Box::new(|v| v["protected"]["users"][0] = json!("bad[0-9]")),
            ),
            (
                "protected.roles[1]",
                Box::new(|v| v["protected"]["roles"][1] = json!("")),
            ),
            (
                "protected.arns[0]",
                Box::new(|v| v["protected"]["arns"][0] = json!("*")),
            ),
            (
                "trustedCreators[1]",
                Box::new(|v| v["trustedCreators"][1] = json!("terraform-*")),
            ),
            (
                "suspiciousUserNamePatterns[1]",
                Box::new(|v| v["suspiciousUserNamePatterns"][1] = json!("(unclosed")),
            ),
            (
                "guardDuty.approvalThreshold",
                Box::new(|v| v["guardDuty"]["approvalThreshold"] = json!(-1)),
            ),
            (
                "guardDuty.quarantineThreshold",
                Box::new(|v| v["guardDuty"]["quarantineThreshold"] = json!(10.5)),
            ),
            (
                "guardDuty.approvalThreshold",
                Box::new(|v| v["guardDuty"]["approvalThreshold"] = json!(9)),
            ),
            (
                "approval.timeoutSeconds",
                Box::new(|v| v["approval"]["timeoutSeconds"] = json!(59)),
            ),
            (
                "approval.timeoutSeconds",
                Box::new(|v| v["approval"]["timeoutSeconds"] = json!(31_536_001)),
            ),
            (
                "approval.approvers",
                Box::new(|v| v["approval"]["approvers"] = json!([])),
            ),
            (
                "approval.approvers[0]",
                Box::new(|v| {
                    v["approval"]["approvers"][0] = json!("arn:aws:sts::*:assumed-role/{a,b}/*")
                }),
            ),
        ];
        for (field, f) in cases {
            assert_eq!(field_of(with(f)), field);
        }
        assert!(with(|v| v["approval"]["timeoutSeconds"] = json!(31_536_000)).is_ok());
        assert!(with(|v| v["approval"]["timeoutSeconds"] = json!(60)).is_ok());
        assert!(
            with(|v| v["guardDuty"] = json!({"approvalThreshold": 8, "quarantineThreshold": 8}))
                .is_ok()
        );
    }

    #[test]
    fn messages_name_the_field_and_problem() {
        let e = with(|v| v["guardDuty"]["approvalThreshold"] = json!(9)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "policy field `guardDuty.approvalThreshold`: 9 is above quarantineThreshold 8: approval must not need a higher severity than automatic quarantine"
        );
        let e = with(|v| v["approval"]["approvers"] = json!([])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "policy field `approval.approvers`: is empty: nobody could approve or reject a pending incident"
        );
        let e = with(|v| v["approvel"] = json!({})).unwrap_err();
        assert!(
            matches!(&e, PolicyError::Parse(m) if m.contains("unknown field `approvel`")),
            "{e}"
        );
        let e = with(|v| {
            v.as_object_mut().unwrap().remove("approval");
        })
        .unwrap_err();
        assert!(
            matches!(&e, PolicyError::Parse(m) if m.contains("missing field `approval`")),
            "{e}"
        );
        let e = with(|v| v["guardDuty"]["approvalThreshold"] = json!("high")).unwrap_err();
        assert!(matches!(&e, PolicyError::Parse(_)), "{e}");
    }

    fn user(name: &str) -> Subject {
        Subject::IamUser {
            name: name.into(),
            arn: None,
            user_id: None,
            access_key_id: None,
        }
    }

    fn role(name: &str) -> Subject {
        Subject::AssumedRole {
            role_name: name.into(),
            role_arn: None,
            session_name: None,
            instance_id: None,
            access_key_id: None,
        }
    }

    #[test]
    fn protection() {
        let p = policy();
        assert_eq!(
            p.protection(
                &Subject::Root {
                    account: ACCOUNT.into()
                },
                None
            )
            .as_deref(),
            Some("the root user of account 123456789012 is never quarantined")
        );
        let mut slr = role_enrichment("AWSServiceRoleForSupport");
        slr.role.as_mut().unwrap().path = "/aws-service-role/support.amazonaws.com/".into();
        assert_eq!(
            p.protection(&role("AWSServiceRoleForSupport"), Some(&slr))
                .as_deref(),
            Some("`AWSServiceRoleForSupport` is an AWS service-linked role")
        );
        assert!(
            p.protection(&role("AWSReservedSSO_ReadOnly_0123"), None)
                .unwrap()
                .contains("reserved IAM Identity Center")
        );
        assert_eq!(
            p.protection(&role("cordon-quarantine"), None).as_deref(),
            Some("`cordon-quarantine` is one of cordon's own roles (prefix `cordon-`)")
        );
        // A *user* named cordon-* gets no protection: anyone who can CreateUser could pick it.
        assert_eq!(
            p.protection(
                &user("cordon-helper"),
                Some(&user_enrichment("cordon-helper"))
            ),
            None
        );
        assert!(p.protection(&user("break-glass-7"), None).is_some());
        assert_eq!(p.protection(&user("break-glass"), None), None);
        assert!(p.protection(&role("legacy-role-1"), None).is_some());
        assert_eq!(p.protection(&role("legacy-role-12"), None), None);
        let mut e = user_enrichment("svc");
        e.user.as_mut().unwrap().arn = "arn:aws:iam::123456789012:user/protected/svc".into();
        assert_eq!(
            p.protection(&user("svc"), Some(&e)).as_deref(),
            Some(
                "`arn:aws:iam::123456789012:user/protected/svc` matches protected.arns pattern `arn:aws:iam::*:user/protected/*`"
            )
        );
        assert_eq!(
            p.protection(&user("bob.smith"), Some(&user_enrichment("bob.smith"))),
            None
        );
        assert_eq!(
            p.protection(
                &Subject::Resource {
                    resource_type: "Instance".into(),
                    id: "i-1".into()
                },
                None
            ),
            None
        );
    }

    fn actor(arn: Option<&str>, issuer: Option<&str>) -> Actor {
        Actor {
            identity_type: "AssumedRole".into(),
            arn: arn.map(Into::into),
            principal_id: None,
            account_id: None,
            name: None,
            session_issuer_arn: issuer.map(Into::into),
            access_key_id: None,
            source_ip: None,
            user_agent: None,
            mfa_authenticated: None,
            invoked_by: None,
        }
    }

    #[test]
    fn trusted_creators_and_approvers() {
        let p = policy();
        assert!(p.is_trusted_creator(&actor(
            Some("arn:aws:sts::123456789012:assumed-role/terraform-deployer/run-1"),
            None
        )));
        assert!(p.is_trusted_creator(&actor(
            Some("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_IdentityAdmin_99/jane"),
            Some("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_IdentityAdmin_99")
        )));
        assert!(!p.is_trusted_creator(&actor(
            Some("arn:aws:sts::123456789012:assumed-role/terraform-deployer-x/run"),
            None
        )));
        assert!(!p.is_trusted_creator(&actor(None, None)));
        assert!(p.is_approver("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SecurityResponder_ab12/ann@example.com"));
        assert!(p.is_approver("arn:aws:iam::123456789012:user/alice"));
        assert!(!p.is_approver("arn:aws:iam::123456789012:user/alice2"));
        assert!(!p.is_approver(""));
    }

    #[test]
    fn organization_roles_are_always_protected_and_account_overrides_add_to_the_policy() {
        let p = with(|v| {
            v["protected"]["roles"] = json!([]);
            v["organization"] = json!({
                "excludeOrganizationalUnits": ["ou-ab12-sandbox1"],
                "accounts": {"999988887777": {"protected": {"users": ["payments-batch"], "roles": ["db-*"]}}}
            });
        })
        .unwrap();
        for name in [
            "OrganizationAccountAccessRole",
            "stacksets-exec-0123456789abcdef",
            "AWSControlTowerExecution",
            "AWSCloudFormationStackSetExecutionRole",
            "cordon-responder",
        ] {
            assert!(p.protection(&role(name), None).is_some(), "{name}");
        }
        // the override applies in its account only
        assert!(
            p.protection_in("999988887777", &user("payments-batch"), None)
                .unwrap()
                .contains("organization.accounts.999988887777")
        );
        assert!(
            p.protection_in("999988887777", &role("db-admin"), None)
                .is_some()
        );
        assert_eq!(
            p.protection_in("111122223333", &user("payments-batch"), None),
            None
        );
        // the default section still applies everywhere
        assert!(
            p.protection_in("111122223333", &user("break-glass-1"), None)
                .is_some()
        );
        // the organization section is validated by field
        assert_eq!(
            field_of(with(
                |v| v["organization"] = json!({"includeAccounts": ["12345"]})
            )),
            "organization.includeAccounts[0]"
        );
        assert_eq!(
            field_of(with(
                |v| v["organization"] = json!({"excludeOrganizationalUnits": ["sandbox"]})
            )),
            "organization.excludeOrganizationalUnits[0]"
        );
        assert_eq!(
            field_of(with(
                |v| v["organization"] =
                    json!({"accounts": {"999988887777": {"protected": {"arns": ["*"]}}}})
            )),
            "organization.accounts.999988887777.protected.arns[0]"
        );
        // defaults: every account of the organization
        assert_eq!(
            policy().organization.include_accounts,
            vec!["*".to_string()]
        );
    }

    #[test]
    fn globs() {
        use crate::glob::matches;
        assert!(matches("a*c", "abbbc"));
        assert!(matches("a*c", "ac"));
        assert!(!matches("a*c", "abd"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*", ""));
        assert!(matches("arn:*:role/*", "arn:aws:iam::1:role/x"));
        assert!(!matches("abc", "abcd"));
    }
}
