//! approve: a human decision on a pending approval, through a Lambda function URL with
//! `AWS_IAM` auth. The approver is the caller AWS authenticated (request context), never a
//! claim in the body: a body field `approver` is refused (400), so a client that tries to
//! assert an identity learns it does not work instead of silently being ignored.

use chrono::{DateTime, Utc};
use cordon_core::ports::Executions;
use cordon_core::{Approval, Decision, Incident, Policy, PortErrorKind};
use lambda_http::request::RequestContext;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum BodyDecision {
    Approved,
    Rejected,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    execution_arn: String,
    decision: BodyDecision,
    #[serde(default)]
    reason: String,
    /// Instance credentials: also revoke (true) or not (false) the role's sessions, whatever
    /// the policy's blast-radius threshold says. Only with `approved`.
    #[serde(default)]
    revoke_role_sessions: Option<bool>,
}

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

fn refuse(status: u16, error: &str, message: impl Into<String>) -> Reply {
    let message = message.into();
    tracing::warn!(status, error, %message, "decision refused");
    Reply {
        status,
        body: json!({"error": error, "message": message}),
    }
}

/// The caller ARN AWS put in the request context (function URL / HTTP API: `authorizer.iam`;
/// REST API: `identity.userArn`).
pub fn caller_arn(ctx: Option<&RequestContext>) -> Option<String> {
    let arn = match ctx? {
        RequestContext::ApiGatewayV2(c) => c.authorizer.as_ref()?.iam.as_ref()?.user_arn.clone(),
        RequestContext::ApiGatewayV1(c) => c.identity.user_arn.clone(),
        _ => None,
    };
    arn.filter(|a| !a.trim().is_empty())
}

/// The execution belongs to cordon's state machine (`...:stateMachine:NAME` →
/// `...:execution:NAME:...`): the endpoint decides only cordon's approvals.
fn belongs_to(execution_arn: &str, state_machine_arn: &str) -> bool {
    let prefix = format!(
        "{}:",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    );
    execution_arn.starts_with(&prefix) && execution_arn.len() > prefix.len()
}

/// [`decide_as`] with the caller authenticated by AWS (what the tests exercise most).
#[cfg(test)]
pub async fn decide<E: Executions>(
    executions: &E,
    policy: Result<&Policy, &str>,
    state_machine_arn: Option<&str>,
    caller: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Reply {
    decide_as(
        executions,
        policy,
        state_machine_arn,
        caller,
        IdentitySource::AwsIam,
        body,
        now,
    )
    .await
}

/// Who vouches for the caller ARN in the request context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// AWS: the function URL's `AWS_IAM` auth authenticated the caller (`verified: true`).
    AwsIam,
    /// Offline: the local function URL only relays what the client asserts
    /// (`verified: false`, so the record says the decision was locally asserted).
    Asserted,
}

impl IdentitySource {
    /// `CORDON_APPROVER_IDENTITY=asserted` (set only by the offline stack); AWS otherwise.
    pub fn from_env() -> Self {
        match std::env::var("CORDON_APPROVER_IDENTITY").as_deref() {
            Ok("asserted") => IdentitySource::Asserted,
            _ => IdentitySource::AwsIam,
        }
    }
}

/// Decide on a pending approval: check the caller (as `identity` vouches for it) against the
/// approver list and the two-person rule, then complete the task with the decision.
pub async fn decide_as<E: Executions>(
    executions: &E,
    policy: Result<&Policy, &str>,
    state_machine_arn: Option<&str>,
    caller: Option<&str>,
    identity: IdentitySource,
    body: &[u8],
    now: DateTime<Utc>,
) -> Reply {
    let Some(caller) = caller else {
        return refuse(
            401,
            "Unauthenticated",
            "no IAM identity in the request context: call the function URL with SigV4 (AWS_IAM auth)",
        );
    };
    let policy = match policy {
        Ok(p) => p,
        Err(e) => {
            return refuse(
                500,
                "PolicyInvalid",
                format!("response policy unusable, no decision accepted: {e}"),
            );
        }
    };
    let raw: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return refuse(
                400,
                "BadRequest",
                "the body must be a JSON object {executionArn, decision, reason}",
            );
        }
        Err(e) => return refuse(400, "BadRequest", format!("the body is not JSON: {e}")),
    };
    if raw.get("approver").is_some() {
        return refuse(
            400,
            "BadRequest",
            "`approver` is not accepted: the approver is the AWS-authenticated caller",
        );
    }
    let body: Body = match serde_json::from_value(raw) {
        Ok(b) => b,
        Err(e) => {
            return refuse(
                400,
                "BadRequest",
                format!(
                    "bad body: {e} (expected {{executionArn, decision: approved|rejected, reason, revokeRoleSessions?}})"
                ),
            );
        }
    };
    if matches!(body.decision, BodyDecision::Rejected) && body.revoke_role_sessions.is_some() {
        return refuse(
            400,
            "BadRequest",
            "`revokeRoleSessions` goes with `approved` only: a rejection contains nothing",
        );
    }
    let reason = body.reason.trim();
    if reason.is_empty() {
        return refuse(
            400,
            "BadRequest",
            "`reason` is required: say why, for the audit trail",
        );
    }
    if let Some(sm) = state_machine_arn
        && !belongs_to(&body.execution_arn, sm)
    {
        return refuse(
            404,
            "NotFound",
            format!("{} is not an execution of {sm}", body.execution_arn),
        );
    }
    let pending = match executions.pending_approval(&body.execution_arn).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return refuse(
                409,
                "NotWaiting",
                format!("{} is not waiting for an approval", body.execution_arn),
            );
        }
        Err(e) if e.kind == PortErrorKind::NotFound => {
            return refuse(404, "NotFound", e.to_string());
        }
        Err(e) if e.kind == PortErrorKind::Invalid => {
            return refuse(400, "BadRequest", e.to_string());
        }
        Err(e) if e.is_transient() => return refuse(503, "Transient", e.to_string()),
        Err(e) => return refuse(502, "StepFunctionsError", e.to_string()),
    };
    let incident: Incident = match pending
        .input
        .get("incident")
        .cloned()
        .map(serde_json::from_value)
    {
        Some(Ok(i)) => i,
        _ => {
            return refuse(
                500,
                "NoIncident",
                "the pending approval task's input has no readable incident: cannot check the decision",
            );
        }
    };
    if let Err(refusal) = cordon_core::check_decision(policy, caller, &incident) {
        return refuse(403, "Forbidden", refusal.to_string());
    }
    let approval = Approval {
        decision: match body.decision {
            BodyDecision::Approved => Decision::Approved,
            BodyDecision::Rejected => Decision::Rejected,
        },
        approver: Some(caller.to_string()),
        verified: identity == IdentitySource::AwsIam,
        reason: reason.to_string(),
        decided_at: now,
        revoke_role_sessions: body.revoke_role_sessions,
    };
    let output = serde_json::to_value(&approval).unwrap_or(Value::Null);
    match executions
        .send_task_success(&pending.task_token, &output)
        .await
    {
        Ok(()) => {
            tracing::info!(execution_arn = %body.execution_arn, approver = caller, decision = ?approval.decision, incident_id = %incident.id, "decision recorded");
            Reply {
                status: 200,
                body: output,
            }
        }
        Err(e) if matches!(e.kind, PortErrorKind::NotFound | PortErrorKind::Invalid) => refuse(
            409,
            "NotWaiting",
            format!("the approval task is no longer waiting: {e}"),
        ),
        Err(e) if e.is_transient() => refuse(503, "Transient", e.to_string()),
        Err(e) => refuse(502, "StepFunctionsError", e.to_string()),
    }
}

#[cfg(test)]
mod tests;
