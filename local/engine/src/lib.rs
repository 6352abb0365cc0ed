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
mod error;
pub mod history;
mod interp;
pub mod journal;
pub mod lambdas;
pub mod model;
mod runtime;
pub mod store;
pub mod time;

pub use api::{Engine, EngineConfig};
pub use dispatch::{
    IntegrationPattern, LambdaInvokeError, LambdaInvoker, LambdaResponse, LambdaValueResponse,
    ServiceIntegration, ServiceRequest, TaskError,
};
pub use error::ApiError;
pub use interp::{JOURNAL_UNREADABLE, REPLAY_MISMATCH};
pub use lambdas::InProcessLambdas;
pub use runtime::ClockMode;
pub use store::{
    ExecutionRecord, ExecutionStatus, JOURNAL_FORMAT, JournalEntry, MemoryStore, Snapshot,
    StateMachineRecord, Store, StoreError, WriteOp,
};
pub use time::epoch_seconds;
