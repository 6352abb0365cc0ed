//! Configuration read once, at init, from the environment. Every error names the variable.

use cordon_core::{Policy, PolicyError};

pub const POLICY: &str = "CORDON_POLICY";
pub const ALERTS_TOPIC_ARN: &str = "CORDON_ALERTS_TOPIC_ARN";
pub const APPROVALS_TOPIC_ARN: &str = "CORDON_APPROVALS_TOPIC_ARN";
pub const QUARANTINE_POLICY_ARN: &str = "CORDON_QUARANTINE_POLICY_ARN";
pub const STATE_MACHINE_ARN: &str = "CORDON_STATE_MACHINE_ARN";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{var} is not an ARN: {value:?}")]
    NotAnArn { var: &'static str, value: String },
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
    alerts_topic_arn: Option<String>,
    approvals_topic_arn: Option<String>,
    quarantine_policy_arn: Option<String>,
    state_machine_arn: Option<String>,
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
        let policy = match get(POLICY) {
            None => Err(ConfigError::Missing(POLICY)),
            Some(text) => Policy::from_json(&text).map_err(|source| ConfigError::Policy {
                var: POLICY,
                source,
            }),
        };
        Config {
            policy,
            alerts_topic_arn: get(ALERTS_TOPIC_ARN),
            approvals_topic_arn: get(APPROVALS_TOPIC_ARN),
            quarantine_policy_arn: get(QUARANTINE_POLICY_ARN),
            state_machine_arn: get(STATE_MACHINE_ARN),
        }
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
