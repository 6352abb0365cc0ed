//! How Task states reach the outside world. The engine owns the Step Functions side of a
//! task (resource ARN parsing, `Payload` wrapping, history events, error names); these traits
//! are the services behind it, so the Lambda Runtime API host, in-process handlers, SDK-backed
//! SNS/SQS and the conformance harness's recorded stand-ins are interchangeable.

use async_trait::async_trait;
use serde_json::Value;

/// What the Lambda service answers to a synchronous `Invoke`.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaResponse {
    /// The payload bytes exactly as the function returned them (may be any text, or invalid).
    pub payload: Vec<u8>,
    /// `Some("Unhandled")` when the function reported an error or crashed (`X-Amz-Function-Error`);
    /// the payload then holds `{"errorType", "errorMessage", ...}`.
    pub function_error: Option<String>,
    /// `X-Amz-Executed-Version`, normally `$LATEST`.
    pub executed_version: String,
}

/// `Invoke` failed at the Lambda service itself (not inside the function).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LambdaInvokeError {
    /// No such function: Step Functions reports `Lambda.ResourceNotFoundException`.
    #[error("function not found: {message}")]
    ResourceNotFound { message: String },
    /// Any other service-side failure; `error` is the exception name without the `Lambda.`
    /// prefix (`ServiceException`, `TooManyRequestsException`, `SdkClientException`, ...).
    #[error("{error}: {message}")]
    Service { error: String, message: String },
}

/// What [`LambdaInvoker::invoke_value`] answers.
#[derive(Debug, Clone, PartialEq)]
pub enum LambdaValueResponse {
    /// The function succeeded with this result (what its payload bytes would parse to).
    Value(Value),
    /// Anything else (a function error, a non-JSON payload), as `invoke` would answer.
    Response(LambdaResponse),
}

/// The Lambda service as Step Functions sees it.
#[async_trait]
pub trait LambdaInvoker: Send + Sync {
    /// Invoke `function` (a name, a name with `:qualifier`, or a full ARN) synchronously.
    async fn invoke(
        &self,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<LambdaResponse, LambdaInvokeError>;

    /// Optional fast path for functions that live in the process: invoke with the payload as
    /// a value (exactly what the bytes of `invoke` would parse to), skipping the JSON text
    /// both ways. `None` (the default): not offered, the engine calls `invoke`.
    fn invoke_value<'a>(
        &'a self,
        _function: &'a str,
        _payload: &'a Value,
    ) -> Option<futures::future::BoxFuture<'a, Result<LambdaValueResponse, LambdaInvokeError>>>
    {
        None
    }
}

/// `arn:aws:states:::service:action[.waitForTaskToken|.sync]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationPattern {
    RequestResponse,
    WaitForTaskToken,
    Sync,
}

/// A call to a service integration (`arn:aws:states:::sns:publish`, `...:sqs:sendMessage`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRequest {
    /// The whole resource ARN as written in the definition.
    pub resource: String,
    /// `sns`, `sqs`, ...
    pub service: String,
    /// `publish`, `sendMessage`, ...
    pub action: String,
    pub pattern: IntegrationPattern,
    /// The evaluated `Parameters`/`Arguments` (with the task token already substituted).
    pub parameters: Value,
    pub task_token: Option<String>,
    pub execution_arn: String,
    pub state_name: String,
}

/// A task failure as ASL sees it: `Error` is what `ErrorEquals` matches.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

/// A service behind `arn:aws:states:::<service>:<action>`.
#[async_trait]
pub trait ServiceIntegration: Send + Sync {
    /// Perform the call. The value returned is the service response (the `TaskSucceeded`
    /// output, or for `.waitForTaskToken` the `TaskSubmitted` output).
    async fn call(&self, request: ServiceRequest) -> Result<Value, TaskError>;
}
