//! One account's IAM and EC2 in moto, as cordon left them: what `cordon demo` and the
//! end-to-end tests read to decide whether a containment really happened.
//!
//! [`AccountView`] holds an IAM and an EC2 client acting in one account (the stack's own, or a
//! member's through its access role). It reads what a containment may change on a user, a role
//! or an instance into typed states ([`UserState`], [`RoleState`], [`InstanceState`],
//! [`NetworkAcl`]) — `observe`; decides from a state what is still missing from a containment
//! ([`Gap`]s) — `check`, pure, unit-tested here; and arranges the instance roles and running
//! instances a scene needs — `arrange`. Every call answers a `Result` with the failed AWS call
//! named ([`CallError`]): the demo reports it as a missing step, a test expects it away.

mod arrange;
mod check;
mod observe;

pub use check::{ExpectedProfile, Gap, revokes_sessions_by_issue_time};
pub use observe::{AclEntry, InstanceState, NetworkAcl, RoleState, UserState};

/// IAM and EC2 clients acting in one account.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
}

impl AccountView {
    /// IAM and EC2 with `config` (its credentials decide the account).
    pub fn new(config: &aws_config::SdkConfig) -> AccountView {
        AccountView {
            iam: aws_sdk_iam::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
        }
    }
}

/// An AWS call that failed, or answered without what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} {target}: {message}")]
pub struct CallError {
    /// The API operation (`ListUserTags`, `DescribeInstances`, ...).
    pub call: &'static str,
    /// What it was about (a user, a role, an instance).
    pub target: String,
    pub message: String,
}

impl CallError {
    /// An SDK error (IAM's or EC2's), with its whole chain of causes (`DisplayErrorContext` is
    /// the smithy type every SDK crate re-exports).
    fn sdk(call: &'static str, target: &str, e: impl std::error::Error) -> CallError {
        CallError {
            call,
            target: target.to_string(),
            message: aws_sdk_iam::error::DisplayErrorContext(e).to_string(),
        }
    }

    /// An answer without what was asked for.
    fn missing(call: &'static str, target: &str, what: &str) -> CallError {
        CallError {
            call,
            target: target.to_string(),
            message: what.to_string(),
        }
    }
}

/// The ARN of the instance profile `name` in `account`.
pub fn instance_profile_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:instance-profile/{name}")
}

/// An EC2 Describe* filter with one value.
fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}
