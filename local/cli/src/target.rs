//! How a command reaches the stack it acts on: the offline stack (`cordon up`) or, with
//! `--aws`, a deployed one (CloudFormation stack outputs).
//!
//! Offline, everything comes from the stack file `cordon up` writes (`.cordon/stack.json` in
//! the current directory or a parent): the AWS APIs are moto, Step Functions is the local
//! engine, and the approve "function URL" is a local HTTP server that trusts the caller
//! identity the client asserts. With `--aws`, the deployed stack's outputs give the ARNs and
//! URL and the default credential chain signs the requests.

use std::path::PathBuf;

use aws_config::SdkConfig;
use cordon_stack::StackFile;

/// The CloudFormation stack name `sam deploy` uses by default.
pub const DEFAULT_STACK_NAME: &str = "cordon";

/// Why no stack could be reached.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no offline stack is running: run `cordon up` (or `./dev demo`)")]
    NotRunning,
    #[error(
        "the offline stack recorded in {path} is not running (process {pid} is gone): \
         run `cordon down` then `cordon up`"
    )]
    Stale { path: PathBuf, pid: u32 },
    #[error("cannot read the stack file {path}: {error}")]
    StackFile {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read the outputs of CloudFormation stack {stack}: {error}")]
    CloudFormation { stack: String, error: String },
    #[error("CloudFormation stack {stack} has no output {output} (is it a cordon stack?)")]
    MissingOutput { stack: String, output: &'static str },
}

/// The stack a command acts on.
#[derive(Debug, Clone)]
pub struct Target {
    /// True for the offline stack.
    pub offline: bool,
    /// SDK configuration for the AWS APIs (IAM, SNS, SQS, Security Hub): moto offline.
    pub aws: SdkConfig,
    /// SDK configuration for Step Functions: the local engine offline.
    pub sfn: SdkConfig,
    pub state_machine_arn: String,
    /// The approve function URL (offline: the local function URL).
    pub approve_url: Option<String>,
    pub alerts_topic_arn: Option<String>,
    pub quarantine_policy_arn: Option<String>,
    /// Offline only: the caller identity the local approver asserts by default.
    pub local_approver_arn: Option<String>,
    /// Offline only: the whole stack file.
    pub stack: Option<StackFile>,
}

impl Target {
    /// `aws == false`: the offline stack of the current directory (or a parent).
    /// `aws == true`: the deployed CloudFormation stack `stack_name` (default `cordon`),
    /// reached with the default credential chain and region.
    pub async fn resolve(aws: bool, stack_name: Option<&str>) -> Result<Target, TargetError> {
        if aws {
            Self::deployed(stack_name.unwrap_or(DEFAULT_STACK_NAME)).await
        } else {
            let cwd = std::env::current_dir().map_err(|error| TargetError::StackFile {
                path: PathBuf::from("."),
                error,
            })?;
            let path = StackFile::locate(&cwd).ok_or(TargetError::NotRunning)?;
            let file = StackFile::read(&path).map_err(|error| TargetError::StackFile {
                path: path.clone(),
                error,
            })?;
            if !process_alive(file.pid) {
                return Err(TargetError::Stale {
                    path,
                    pid: file.pid,
                });
            }
            Ok(Self::offline(file).await)
        }
    }

    /// The target for a stack file (no liveness check).
    pub async fn offline(file: StackFile) -> Target {
        let creds = aws_credential_types::Credentials::from_keys(
            file.access_key_id.clone(),
            file.secret_access_key.clone(),
            None,
        );
        let base = |endpoint: &str| {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(file.region.clone()))
                .credentials_provider(creds.clone())
                .endpoint_url(endpoint)
                .load()
        };
        let aws = base(&file.endpoints.aws).await;
        let sfn = base(&file.endpoints.stepfunctions).await;
        Target {
            offline: true,
            aws,
            sfn,
            state_machine_arn: file.state_machine_arn.clone(),
            approve_url: Some(file.endpoints.approve.clone()),
            alerts_topic_arn: Some(file.alerts_topic_arn.clone()),
            quarantine_policy_arn: Some(file.quarantine_policy_arn.clone()),
            local_approver_arn: Some(file.local_approver_arn.clone()),
            stack: Some(file),
        }
    }

    async fn deployed(stack: &str) -> Result<Target, TargetError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let cfn = aws_sdk_cloudformation::Client::new(&config);
        let out = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| TargetError::CloudFormation {
                stack: stack.to_string(),
                error: aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string(),
            })?;
        let outputs: Vec<(String, String)> = out
            .stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_string(), o.output_value()?.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let get = |k: &str| {
            outputs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let state_machine_arn = get("StateMachineArn").ok_or(TargetError::MissingOutput {
            stack: stack.to_string(),
            output: "StateMachineArn",
        })?;
        Ok(Target {
            offline: false,
            sfn: config.clone(),
            aws: config,
            state_machine_arn,
            approve_url: get("ApproveUrl"),
            alerts_topic_arn: get("AlertsTopicArn"),
            quarantine_policy_arn: get("QuarantinePolicyArn"),
            local_approver_arn: None,
            stack: None,
        })
    }

    /// The execution the offline stack started for an incident (CloudTrail `eventID`,
    /// GuardDuty finding `id`): offline executions are named after their incident. On AWS,
    /// EventBridge names executions itself, so this ARN only exists offline; look the
    /// incident up in the executions' input there.
    pub fn execution_arn_for_incident(&self, incident_id: &str) -> String {
        cordon_stack::execution_arn(&self.state_machine_arn, incident_id)
    }
}

/// Whether a process with this id exists (Linux/Unix: `/proc/PID`, else `kill -0`).
pub fn process_alive(pid: u32) -> bool {
    if std::path::Path::new("/proc").is_dir() {
        return std::path::Path::new(&format!("/proc/{pid}")).exists();
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
