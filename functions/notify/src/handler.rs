//! notify: tell people (SNS alerts topic) and Security Hub what happened.
//!
//! Two paths, one function: the normal end of a run (`render::alert`) and the failure notifier
//! (`render::failure_alert`, when the state machine's Catch put `failure` into the document).
//! The SNS alert is what must not be lost, so its failure fails the step (the state machine
//! retries `Transient`); Security Hub is secondary: its failure is reported in
//! `notification.securityHub`, never fatal.

use cordon_core::ports::{Notifier, SecurityHub, report_to_security_hub};
use cordon_core::render::{self, RenderContext};
use cordon_core::{CaseFile, Notification, PortError, PortErrorKind, SecurityHubOutcome};
use serde::Deserialize;

/// What the state machine passes: the whole state document. `executionArn` is optional: when
/// the state machine adds it, the alert links to the execution.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    #[serde(flatten)]
    pub case: CaseFile,
    #[serde(default)]
    pub execution_arn: Option<String>,
}

/// Read once at init.
#[derive(Debug, Clone)]
pub struct Settings {
    pub alerts_topic_arn: String,
    /// The account cordon runs in, when known (see `RenderContext::home_account`).
    pub home_account: Option<String>,
    pub region: String,
    pub console_base: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The input is not a state document.
    #[error("invalid state document: {0}")]
    InvalidInput(#[from] serde_json::Error),
    /// SNS throttled or had a transient problem: the state machine retries.
    #[error("transient SNS failure, alert not sent: {0}")]
    Transient(PortError),
    /// The topic does not exist (a deployment problem).
    #[error("alerts topic not found, alert not sent: {0}")]
    TopicNotFound(PortError),
    /// The function may not publish to the topic (a deployment problem).
    #[error("not allowed to publish the alert: {0}")]
    AccessDenied(PortError),
    /// Anything else SNS refused.
    #[error("alert not sent: {0}")]
    PublishFailed(PortError),
}

impl NotifyError {
    /// The `errorType` the state machine matches.
    pub fn error_type(&self) -> &'static str {
        match self {
            NotifyError::InvalidInput(_) => "InvalidInput",
            NotifyError::Transient(_) => "Transient",
            NotifyError::TopicNotFound(_) => "TopicNotFound",
            NotifyError::AccessDenied(_) => "AccessDenied",
            NotifyError::PublishFailed(_) => "PublishFailed",
        }
    }

    fn from_publish(e: PortError) -> NotifyError {
        match e.kind {
            PortErrorKind::Transient => NotifyError::Transient(e),
            PortErrorKind::NotFound => NotifyError::TopicNotFound(e),
            PortErrorKind::AccessDenied => NotifyError::AccessDenied(e),
            PortErrorKind::Invalid | PortErrorKind::Other => NotifyError::PublishFailed(e),
        }
    }
}

pub async fn handle<N: Notifier, H: SecurityHub>(
    notifier: &N,
    hub: &H,
    settings: &Settings,
    input: &Input,
) -> Result<Notification, NotifyError> {
    let case = &input.case;
    let ctx = RenderContext {
        home_account: settings.home_account.clone(),
        execution_arn: input.execution_arn.clone(),
        region: settings.region.clone(),
        console_base: settings.console_base.clone(),
    };
    let incident_id = case
        .incident
        .as_ref()
        .map(|i| i.id.as_str())
        .unwrap_or("unknown");
    let rendered = match &case.failure {
        Some(failure) => render::failure_alert(case, failure, &ctx),
        None => render::alert(case, &ctx),
    };
    let message = rendered.to_message(&settings.alerts_topic_arn);
    let message_id = notifier
        .publish(&message)
        .await
        .map_err(NotifyError::from_publish)?;
    tracing::info!(
        incident_id,
        message_id = %message_id,
        topic_arn = %settings.alerts_topic_arn,
        failure = case.failure.is_some(),
        "alert published"
    );

    // Only after the alert is out: a retry after an SNS failure then never submits twice.
    let security_hub = if case.failure.is_some() {
        // The run did not finish: what render::security_hub_update would say (contained, or
        // "notified responders") is not known to be true. The failure alert asks a human.
        SecurityHubOutcome {
            status: "skipped".into(),
            detail:
                "the response failed; Security Hub is left to the human handling the failure alert"
                    .into(),
        }
    } else {
        let outcome = report_to_security_hub(hub, render::security_hub_update(case, &ctx)).await;
        log_security_hub(incident_id, &outcome);
        outcome
    };
    Ok(Notification {
        message_id,
        subject: message.subject,
        security_hub,
    })
}

/// The Security Hub outcome in the function's log (it is also in the case file).
pub fn log_security_hub(incident_id: &str, outcome: &SecurityHubOutcome) {
    if outcome.status == "failed" {
        tracing::warn!(incident_id, detail = %outcome.detail, "Security Hub update failed (not fatal)");
    } else {
        tracing::info!(incident_id, status = %outcome.status, detail = %outcome.detail, "Security Hub");
    }
}

#[cfg(test)]
mod tests;
