//! Messages to humans (SNS) and Security Hub.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{CaseFile, Failure, Tags};
use crate::ports::SecurityHubUpdate;

/// Where links point and which execution this is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderContext {
    pub execution_arn: Option<String>,
    pub region: String,
    /// `https://console.aws.amazon.com`
    pub console_base: String,
}

/// A message ready to publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendered {
    /// At most 100 characters, no newlines.
    pub subject: String,
    pub text: String,
    pub json: Value,
    /// `severity`, `verdict`, `incidentId`, `source`.
    pub attributes: Tags,
}

/// The alert after a run: what happened, who, what cordon did, what to do next.
pub fn alert(case: &CaseFile, ctx: &RenderContext) -> Rendered {
    let _ = ctx;
    Rendered {
        subject: "[cordon] alert".into(),
        text: String::new(),
        json: json!({"case": case}),
        attributes: Tags::new(),
    }
}

/// "cordon FAILED to respond".
pub fn failure_alert(case: &CaseFile, failure: &Failure, ctx: &RenderContext) -> Rendered {
    let _ = (case, ctx);
    Rendered {
        subject: "[cordon] FAILED to respond".into(),
        text: failure.error.clone(),
        json: json!({}),
        attributes: Tags::new(),
    }
}

/// The message asking approvers to decide. Never contains a task token.
pub fn approval_request(
    case: &CaseFile,
    execution_arn: &str,
    deadline: DateTime<Utc>,
    ctx: &RenderContext,
) -> Rendered {
    let _ = (case, ctx, deadline);
    Rendered {
        subject: "[cordon] approval needed".into(),
        text: execution_arn.to_string(),
        json: json!({}),
        attributes: Tags::new(),
    }
}

/// What to tell Security Hub, if anything.
pub fn security_hub_update(case: &CaseFile, ctx: &RenderContext) -> Option<SecurityHubUpdate> {
    let _ = (case, ctx);
    None
}
