//! [`Executions`] with `aws-sdk-sfn`: find the approval task an execution waits on (from its
//! history) and complete it.

use async_trait::async_trait;
use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType as T};
use cordon_core::ports::{Executions, PendingApproval, PortResult};
use cordon_core::{PortError, PortErrorKind};
use serde_json::Value;

use crate::error::{port_error, to_chrono};

/// The service integration the approval task uses.
pub const APPROVAL_RESOURCE_TYPE: &str = "lambda";
pub const APPROVAL_RESOURCE: &str = "invoke.waitForTaskToken";

#[derive(Debug, Clone)]
pub struct AwsExecutions {
    sfn: aws_sdk_sfn::Client,
}

impl AwsExecutions {
    pub fn new(sfn: aws_sdk_sfn::Client) -> Self {
        Self { sfn }
    }

    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_sfn::Client::new(config))
    }
}

fn is_approval(resource_type: &str, resource: &str) -> bool {
    resource_type == APPROVAL_RESOURCE_TYPE && resource == APPROVAL_RESOURCE
}

/// What one history event (read newest first) says about a pending approval.
enum Seen {
    /// The execution ended, or the latest approval task already completed: nothing pending.
    Closed,
    /// The approval task was scheduled and nothing newer closed it.
    Scheduled(PendingApproval),
    Irrelevant,
}

fn inspect(execution_arn: &str, e: &HistoryEvent) -> Result<Seen, PortError> {
    let completed = |rt: &str, r: &str| {
        if is_approval(rt, r) {
            Seen::Closed
        } else {
            Seen::Irrelevant
        }
    };
    Ok(match e.r#type() {
        T::ExecutionSucceeded | T::ExecutionFailed | T::ExecutionAborted | T::ExecutionTimedOut => {
            Seen::Closed
        }
        T::TaskSucceeded => e
            .task_succeeded_event_details()
            .map_or(Seen::Irrelevant, |d| {
                completed(d.resource_type(), d.resource())
            }),
        T::TaskFailed => e.task_failed_event_details().map_or(Seen::Irrelevant, |d| {
            completed(d.resource_type(), d.resource())
        }),
        T::TaskTimedOut => e
            .task_timed_out_event_details()
            .map_or(Seen::Irrelevant, |d| {
                completed(d.resource_type(), d.resource())
            }),
        T::TaskStartFailed => e
            .task_start_failed_event_details()
            .map_or(Seen::Irrelevant, |d| {
                completed(d.resource_type(), d.resource())
            }),
        T::TaskSubmitFailed => e
            .task_submit_failed_event_details()
            .map_or(Seen::Irrelevant, |d| {
                completed(d.resource_type(), d.resource())
            }),
        T::TaskScheduled => match e.task_scheduled_event_details() {
            Some(d) if is_approval(d.resource_type(), d.resource()) => {
                let parameters: Value = serde_json::from_str(d.parameters()).map_err(|err| {
                    PortError::new(
                        PortErrorKind::Other,
                        "states:GetExecutionHistory",
                        format!("approval task parameters are not JSON: {err}"),
                    )
                })?;
                let payload = parameters.get("Payload").cloned().unwrap_or(Value::Null);
                let Some(token) = payload.get("taskToken").and_then(Value::as_str) else {
                    return Err(PortError::new(
                        PortErrorKind::Other,
                        "states:GetExecutionHistory",
                        "approval task parameters have no Payload.taskToken",
                    ));
                };
                Seen::Scheduled(PendingApproval {
                    execution_arn: execution_arn.to_string(),
                    task_token: token.to_string(),
                    input: payload
                        .get("state")
                        .cloned()
                        .unwrap_or_else(|| payload.clone()),
                    requested_at: to_chrono(e.timestamp()).unwrap_or_default(),
                })
            }
            _ => Seen::Irrelevant,
        },
        _ => Seen::Irrelevant,
    })
}

#[async_trait]
impl Executions for AwsExecutions {
    async fn pending_approval(&self, execution_arn: &str) -> PortResult<Option<PendingApproval>> {
        let op = self.sfn.get_execution_history();
        let mut events = op
            .execution_arn(execution_arn)
            .reverse_order(true)
            .include_execution_data(true)
            .into_paginator()
            .items()
            .send();
        // Newest first: stop at the first event that settles the question, so a long history
        // is read only as far as needed.
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| port_error("states:GetExecutionHistory", e))?;
            match inspect(execution_arn, &event)? {
                Seen::Closed => return Ok(None),
                Seen::Scheduled(p) => return Ok(Some(p)),
                Seen::Irrelevant => {}
            }
        }
        Ok(None)
    }

    async fn send_task_success(&self, task_token: &str, output: &Value) -> PortResult<()> {
        let op = self.sfn.send_task_success();
        op.task_token(task_token)
            .output(output.to_string())
            .send()
            .await
            .map_err(|e| port_error("states:SendTaskSuccess", e))?;
        tracing::info!("sent task success");
        Ok(())
    }
}
