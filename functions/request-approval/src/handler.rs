//! request-approval: tell approvers a decision is needed. Invoked with `.waitForTaskToken`:
//! the task token is only *received* here (the `approve` function completes it after reading
//! it back from the execution history); it is never put in the message.

use chrono::{DateTime, Duration, Utc};
use cordon_core::ports::{Notifier, SecurityHub, report_to_security_hub};
use cordon_core::{CaseFile, PortError, PortErrorKind, RenderContext, SecurityHubOutcome};
use serde::{Deserialize, Serialize};

/// `{"taskToken.$": "$$.Task.Token", "executionArn.$": "$$.Execution.Id", "state.$": "$"}`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub task_token: String,
    pub execution_arn: String,
    pub state: CaseFile,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub message_id: String,
    pub deadline: DateTime<Utc>,
    /// The finding in Security Hub now says a human is asked (`NOTIFIED`); never fatal.
    pub security_hub: SecurityHubOutcome,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("invalid input: {0}")]
    InvalidEvent(String),
    #[error("could not publish the approval request: {0}")]
    Publish(PortError),
    #[error("refusing to publish: the rendered approval request contains the task token")]
    TokenInMessage,
}

impl RequestError {
    pub fn error_type(&self) -> &'static str {
        match self {
            RequestError::InvalidEvent(_) => "InvalidEvent",
            RequestError::Publish(e) if e.kind == PortErrorKind::Transient => "Transient",
            RequestError::Publish(e) if e.kind == PortErrorKind::AccessDenied => "AccessDenied",
            RequestError::Publish(_) => "NotificationFailed",
            RequestError::TokenInMessage => "NotificationFailed",
        }
    }
}

pub async fn handle<N: Notifier, H: SecurityHub>(
    notifier: &N,
    hub: &H,
    topic_arn: &str,
    ctx: &RenderContext,
    input: &Input,
    now: DateTime<Utc>,
) -> Result<Output, RequestError> {
    let class = input.state.classification.as_ref().ok_or_else(|| {
        RequestError::InvalidEvent("state has no `classification` (classify has not run)".into())
    })?;
    let timeout = i64::try_from(class.approval_timeout_seconds).map_err(|_| {
        RequestError::InvalidEvent("classification.approvalTimeoutSeconds is too large".into())
    })?;
    let deadline = now + Duration::seconds(timeout);
    let ctx = RenderContext {
        execution_arn: Some(input.execution_arn.clone()),
        ..ctx.clone()
    };
    let rendered =
        cordon_core::approval_request(&input.state, &input.execution_arn, deadline, &ctx);
    // Defence in depth: whoever holds the token can decide, so it must never travel by mail.
    let token = input.task_token.as_str();
    if !token.is_empty()
        && (rendered.text.contains(token)
            || rendered.subject.contains(token)
            || rendered.json.to_string().contains(token))
    {
        return Err(RequestError::TokenInMessage);
    }
    let message_id = notifier
        .publish(&rendered.to_message(topic_arn))
        .await
        .map_err(RequestError::Publish)?;
    tracing::info!(execution_arn = %input.execution_arn, %message_id, %deadline, "approval requested");
    // Only after the request is out: people looking at the finding in Security Hub see that a
    // human is asked (Workflow NOTIFIED, the note, UserDefinedFields).
    let security_hub =
        report_to_security_hub(hub, cordon_core::security_hub_update(&input.state, &ctx)).await;
    if security_hub.status == "failed" {
        tracing::warn!(execution_arn = %input.execution_arn, detail = %security_hub.detail, "Security Hub update failed (not fatal)");
    } else {
        tracing::info!(execution_arn = %input.execution_arn, status = %security_hub.status, detail = %security_hub.detail, "Security Hub");
    }
    Ok(Output {
        message_id,
        deadline,
        security_hub,
    })
}

#[cfg(test)]
mod tests;
