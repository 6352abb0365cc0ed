//! cordon's ports ([`cordon_core::ports`]) implemented with the AWS SDK for Rust.
//!
//! Every adapter holds its SDK client in a field named for the service (`iam`, `ec2`, `sns`,
//! `securityhub`, `sfn`, `sts`, `organizations`, `ssm`) and calls it as `self.<client>.<operation>()`; the infra test relies
//! on that to check [`permissions::actions_for`] against the code. SDK errors become
//! [`cordon_core::PortError`]s with a deliberate kind ([`error::port_error`]).

pub mod accounts;
pub mod config;
pub mod ec2;
pub mod error;
pub mod iam;
pub mod parameters;
pub mod permissions;
pub mod securityhub;
pub mod sfn;
pub mod sns;

pub use accounts::{AwsAccounts, AwsOrganization};
pub use config::{Config, ConfigError};
pub use ec2::AwsCompute;
pub use iam::AwsIam;
pub use securityhub::AwsSecurityHub;
pub use sfn::AwsExecutions;
pub use sns::AwsNotifier;

/// The SDK configuration from the environment (region, credentials, and `AWS_ENDPOINT_URL`
/// when the offline stack points the functions at moto). Built once, at init.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
