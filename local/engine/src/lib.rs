//! cordon-engine: a local AWS Step Functions engine.
//!
//! Architecture invariant: this crate knows nothing about security or about cordon. It runs
//! any Amazon States Language definition, records an AWS-shaped execution history and talks
//! to the outside only through [`dispatch`] (Lambda, service integrations) and [`store`].
//!
//! The public surface is deliberately the Step Functions API itself: [`Engine::call`] takes an
//! operation name (`"StartExecution"`) and its JSON request exactly as the AWS JSON protocol
//! carries it, and returns the JSON response or an [`ApiError`] named like AWS's exceptions.
//! The HTTP server, the CLI and the conformance harness all go through it.

pub mod api;
pub mod dispatch;
pub mod history;
mod interp;
pub mod lambdas;
pub mod model;
mod runtime;
pub mod store;

pub use api::{Engine, EngineConfig, epoch_seconds};
pub use dispatch::{
    IntegrationPattern, LambdaInvokeError, LambdaInvoker, LambdaResponse, LambdaValueResponse,
    ServiceIntegration, ServiceRequest, TaskError,
};
pub use interp::{JOURNAL_UNREADABLE, REPLAY_MISMATCH};
pub use lambdas::InProcessLambdas;
pub use runtime::ClockMode;
pub use store::{
    ExecutionRecord, ExecutionStatus, JOURNAL_FORMAT, JournalEntry, MemoryStore, Snapshot,
    StateMachineRecord, Store, StoreError, WriteOp,
};

/// An error of the Step Functions API, named as AWS names it (`ExecutionDoesNotExist`,
/// `InvalidToken`, `TaskTimedOut`, `ValidationException`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The exception name; the server puts it in `__type`.
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}
