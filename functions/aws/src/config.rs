//! Configuration read once, at init, from the environment. Every error names the variable.

use cordon_core::{Deployment, Policy, PolicyError};

pub const POLICY: &str = "CORDON_POLICY";
/// The name of an SSM parameter holding the policy; when set, [`POLICY`] is not used.
pub const POLICY_PARAMETER: &str = "CORDON_POLICY_PARAMETER";
pub const ALERTS_TOPIC_ARN: &str = "CORDON_ALERTS_TOPIC_ARN";
pub const APPROVALS_TOPIC_ARN: &str = "CORDON_APPROVALS_TOPIC_ARN";
pub const QUARANTINE_POLICY_ARN: &str = "CORDON_QUARANTINE_POLICY_ARN";
pub const STATE_MACHINE_ARN: &str = "CORDON_STATE_MACHINE_ARN";
/// `single-account` (default) or `organization`.
pub const DEPLOYMENT: &str = "CORDON_DEPLOYMENT";
/// The account the stack runs in (the template passes `AWS::AccountId`).
pub const HOME_ACCOUNT: &str = "CORDON_HOME_ACCOUNT";
/// The member accounts' responder role (organization mode); default `cordon-responder`.
pub const MEMBER_ROLE_NAME: &str = "CORDON_MEMBER_ROLE_NAME";
/// The deny-all policy `infra/member.yaml` creates in each member account.
pub const MEMBER_QUARANTINE_POLICY_NAME: &str = "CORDON_MEMBER_QUARANTINE_POLICY_NAME";
/// The instance profile (a plain name, no path) quarantine swaps onto an instance whose
/// credentials leaked, in the stack's account and, under the same name, in each member account
/// (`infra/member.yaml`). Unset or empty: no instance quarantine profile, no swap.
pub const QUARANTINE_INSTANCE_PROFILE_NAME: &str = "CORDON_QUARANTINE_INSTANCE_PROFILE_NAME";

pub const DEFAULT_MEMBER_ROLE_NAME: &str = "cordon-responder";
pub const DEFAULT_MEMBER_QUARANTINE_POLICY_NAME: &str = "cordon-quarantine-deny-all";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{var} is not an ARN: {value:?}")]
    NotAnArn { var: &'static str, value: String },
    #[error("{var} is {value:?}: expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{var} {name:?}: the parameter cannot be read: {message}")]
    PolicyParameter {
        var: &'static str,
        name: String,
        message: String,
    },
    #[error("{var}: {source}")]
    Policy {
        var: &'static str,
        source: PolicyError,
    },
}

/// The environment as the functions see it. Variables a function does not need may be absent;
/// the accessors fail, naming the variable, when a function asks for one that is missing.
#[derive(Debug, Clone)]
pub struct Config {
    policy: Result<Policy, ConfigError>,
    /// Which version of the policy was read (see [`Config::policy_version`]).
    policy_version: Option<String>,
    policy_parameter: Option<String>,
    alerts_topic_arn: Option<String>,
    approvals_topic_arn: Option<String>,
    quarantine_policy_arn: Option<String>,
    state_machine_arn: Option<String>,
    deployment: Option<String>,
    home_account: Option<String>,
    member_role_name: Option<String>,
    member_quarantine_policy_name: Option<String>,
    quarantine_instance_profile_name: Option<String>,
}

impl Config {
    /// Read the process environment (once, at init).
    pub fn from_env() -> Config {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read configuration from any lookup (tests pass a map: the environment is process-wide).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Config {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let policy_text = get(POLICY);
        let policy = match &policy_text {
            None => Err(ConfigError::Missing(POLICY)),
            Some(text) => Policy::from_json(text).map_err(|source| ConfigError::Policy {
                var: POLICY,
                source,
            }),
        };
        Config {
            policy,
            policy_version: policy_text.map(|t| format!("inline:sha256:{}", short_hash(&t))),
            policy_parameter: get(POLICY_PARAMETER),
            alerts_topic_arn: get(ALERTS_TOPIC_ARN),
            approvals_topic_arn: get(APPROVALS_TOPIC_ARN),
            quarantine_policy_arn: get(QUARANTINE_POLICY_ARN),
            state_machine_arn: get(STATE_MACHINE_ARN),
            deployment: get(DEPLOYMENT),
            home_account: get(HOME_ACCOUNT),
            member_role_name: get(MEMBER_ROLE_NAME),
            member_quarantine_policy_name: get(MEMBER_QUARANTINE_POLICY_NAME),
            quarantine_instance_profile_name: get(QUARANTINE_INSTANCE_PROFILE_NAME),
        }
    }

    /// Read the environment, then, when [`POLICY_PARAMETER`] names one, the policy from SSM
    /// Parameter Store (once, at init). A parameter that cannot be read or does not hold a
    /// valid policy is kept as the policy's error: the functions fail closed.
    pub async fn load(sdk: &aws_config::SdkConfig) -> Config {
        let mut config = Self::from_env();
        if let Some(name) = config.policy_parameter.clone() {
            let read = crate::parameters::AwsParameters::from_conf(sdk)
                .get(&name)
                .await;
            config.use_parameter(&name, read);
        }
        config
    }

    /// The policy from the parameter `name` (its text and version, or why it was not read).
    pub fn use_parameter(&mut self, name: &str, read: Result<(String, i64), String>) {
        match read {
            Ok((text, version)) => {
                self.policy = Policy::from_json(&text).map_err(|source| ConfigError::Policy {
                    var: POLICY_PARAMETER,
                    source,
                });
                self.policy_version = Some(format!("ssm:{name}:{version}"));
            }
            Err(message) => {
                self.policy = Err(ConfigError::PolicyParameter {
                    var: POLICY_PARAMETER,
                    name: name.to_string(),
                    message,
                });
                self.policy_version = None;
            }
        }
    }

    /// `ssm:<name>:<version>` or `inline:sha256:<12 hex>`: recorded with each decision.
    pub fn policy_version(&self) -> Option<&str> {
        self.policy_version.as_deref()
    }

    /// The validated response policy, or why it could not be read. Functions that need it
    /// keep this error and fail every invocation with it (fail closed), rather than exit.
    pub fn policy(&self) -> Result<&Policy, ConfigError> {
        self.policy.as_ref().map_err(Clone::clone)
    }

    pub fn alerts_topic_arn(&self) -> Result<&str, ConfigError> {
        arn(ALERTS_TOPIC_ARN, &self.alerts_topic_arn)
    }

    pub fn approvals_topic_arn(&self) -> Result<&str, ConfigError> {
        arn(APPROVALS_TOPIC_ARN, &self.approvals_topic_arn)
    }

    pub fn quarantine_policy_arn(&self) -> Result<&str, ConfigError> {
        arn(QUARANTINE_POLICY_ARN, &self.quarantine_policy_arn)
    }

    pub fn state_machine_arn(&self) -> Result<&str, ConfigError> {
        arn(STATE_MACHINE_ARN, &self.state_machine_arn)
    }

    /// Which accounts cordon may act in. The home account is required: without it no
    /// incident's account can be told apart from the stack's own.
    pub fn deployment(&self) -> Result<Deployment, ConfigError> {
        let home = self
            .home_account
            .clone()
            .ok_or(ConfigError::Missing(HOME_ACCOUNT))?;
        if home.len() != 12 || !home.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid {
                var: HOME_ACCOUNT,
                value: home,
                expected: "a 12-digit AWS account id",
            });
        }
        match self.deployment.as_deref().unwrap_or("single-account") {
            "single-account" => Ok(Deployment::SingleAccount { home }),
            "organization" => {
                let member_role = self
                    .member_role_name
                    .clone()
                    .unwrap_or_else(|| DEFAULT_MEMBER_ROLE_NAME.to_string());
                if !member_role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
                {
                    return Err(ConfigError::Invalid {
                        var: MEMBER_ROLE_NAME,
                        value: member_role,
                        expected: "an IAM role name",
                    });
                }
                Ok(Deployment::Organization { home, member_role })
            }
            other => Err(ConfigError::Invalid {
                var: DEPLOYMENT,
                value: other.to_string(),
                expected: "`single-account` or `organization`",
            }),
        }
    }

    /// The deny-all managed policy's name in member accounts.
    pub fn member_quarantine_policy_name(&self) -> &str {
        self.member_quarantine_policy_name
            .as_deref()
            .unwrap_or(DEFAULT_MEMBER_QUARANTINE_POLICY_NAME)
    }

    /// The quarantine instance profile's name ([`QUARANTINE_INSTANCE_PROFILE_NAME`]); `None`
    /// when unset or blank (the deployment has none: the profile swap is skipped).
    pub fn quarantine_instance_profile_name(&self) -> Option<&str> {
        self.quarantine_instance_profile_name.as_deref()
    }
}

fn short_hash(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn arn<'a>(var: &'static str, value: &'a Option<String>) -> Result<&'a str, ConfigError> {
    match value {
        None => Err(ConfigError::Missing(var)),
        Some(v) if v.starts_with("arn:") => Ok(v),
        Some(v) => Err(ConfigError::NotAnArn {
            var,
            value: v.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn missing_and_malformed_variables_are_named() {
        let c = config(&[(ALERTS_TOPIC_ARN, "not-an-arn")]);
        assert_eq!(
            c.policy().unwrap_err(),
            ConfigError::Missing("CORDON_POLICY")
        );
        assert_eq!(
            c.policy().unwrap_err().to_string(),
            "CORDON_POLICY is not set"
        );
        assert_eq!(
            c.alerts_topic_arn().unwrap_err().to_string(),
            "CORDON_ALERTS_TOPIC_ARN is not an ARN: \"not-an-arn\""
        );
        assert_eq!(
            c.approvals_topic_arn().unwrap_err(),
            ConfigError::Missing("CORDON_APPROVALS_TOPIC_ARN")
        );
        assert_eq!(
            c.quarantine_policy_arn().unwrap_err(),
            ConfigError::Missing("CORDON_QUARANTINE_POLICY_ARN")
        );
        assert_eq!(
            c.state_machine_arn().unwrap_err(),
            ConfigError::Missing("CORDON_STATE_MACHINE_ARN")
        );
    }

    #[test]
    fn an_invalid_policy_is_kept_as_an_error_naming_the_variable() {
        let c = config(&[(POLICY, "{\"approval\": 3}")]);
        let err = c.policy().unwrap_err().to_string();
        assert!(err.starts_with("CORDON_POLICY: "), "{err}");
    }

    #[test]
    fn the_deployment_needs_the_home_account_and_a_known_mode() {
        assert_eq!(
            config(&[]).deployment().unwrap_err(),
            ConfigError::Missing("CORDON_HOME_ACCOUNT")
        );
        assert_eq!(
            config(&[(HOME_ACCOUNT, "123456789012")])
                .deployment()
                .unwrap(),
            Deployment::SingleAccount {
                home: "123456789012".into()
            }
        );
        assert_eq!(
            config(&[(HOME_ACCOUNT, "123456789012"), (DEPLOYMENT, "organization")])
                .deployment()
                .unwrap(),
            Deployment::Organization {
                home: "123456789012".into(),
                member_role: "cordon-responder".into()
            }
        );
        let err = config(&[(HOME_ACCOUNT, "123456789012"), (DEPLOYMENT, "org")])
            .deployment()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "CORDON_DEPLOYMENT is \"org\": expected `single-account` or `organization`"
        );
        let err = config(&[(HOME_ACCOUNT, "12345")]).deployment().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CORDON_HOME_ACCOUNT is \"12345\"")
        );
    }

    #[test]
    fn a_policy_parameter_replaces_the_inline_policy_and_names_its_version() {
        let inline = r#"{"approval":{"timeoutSeconds":600,"default":"notify","approvers":["arn:aws:iam::123456789012:role/responder"]}}"#;
        let mut c = config(&[(POLICY, inline), (POLICY_PARAMETER, "cordon/policy")]);
        assert!(c.policy_version().unwrap().starts_with("inline:sha256:"));
        assert_eq!(
            c.policy_version().unwrap().len(),
            "inline:sha256:".len() + 12
        );
        let stored = inline.replace("600", "900");
        c.use_parameter("cordon/policy", Ok((stored, 7)));
        assert_eq!(c.policy().unwrap().approval.timeout_seconds, 900);
        assert_eq!(c.policy_version(), Some("ssm:cordon/policy:7"));

        c.use_parameter("cordon/policy", Err("ParameterNotFound".into()));
        assert_eq!(
            c.policy().unwrap_err().to_string(),
            "CORDON_POLICY_PARAMETER \"cordon/policy\": the parameter cannot be read: ParameterNotFound"
        );
        assert_eq!(c.policy_version(), None);
        c.use_parameter("cordon/policy", Ok(("{}".into(), 8)));
        assert!(
            c.policy()
                .unwrap_err()
                .to_string()
                .starts_with("CORDON_POLICY_PARAMETER: "),
            "an invalid stored policy names where it came from"
        );
    }

    #[test]
    fn the_quarantine_instance_profile_is_optional_and_blank_is_none() {
        assert_eq!(config(&[]).quarantine_instance_profile_name(), None);
        assert_eq!(
            config(&[(QUARANTINE_INSTANCE_PROFILE_NAME, "  ")]).quarantine_instance_profile_name(),
            None
        );
        assert_eq!(
            config(&[(
                QUARANTINE_INSTANCE_PROFILE_NAME,
                " cordon-quarantine-instance "
            )])
            .quarantine_instance_profile_name(),
            Some("cordon-quarantine-instance")
        );
    }

    #[test]
    fn present_values_are_returned() {
        let c = config(&[(
            APPROVALS_TOPIC_ARN,
            " arn:aws:sns:us-east-1:123456789012:approvals ",
        )]);
        assert_eq!(
            c.approvals_topic_arn().unwrap(),
            "arn:aws:sns:us-east-1:123456789012:approvals"
        );
    }
}
