//! cordon's domain. No AWS SDK, no I/O: everything here is a pure function of its inputs, so
//! the same decisions are made in AWS, offline, and in tests.
//!
//! The state document that flows through the state machine is [`model::CaseFile`]: each
//! function reads it whole and returns only its own part (see ARCHITECTURE.md).
//! What the functions need from AWS is expressed as [`ports`]; `cordon-aws` implements them.
//! The only code here that reaches AWS does so through those traits ([`enrich::gather`]):
//! it decides what to look up and folds the answers, the adapters do the calls.

pub mod approval;
pub mod classify;
pub mod enrich;
mod glob;
pub mod instance;
pub mod model;
pub mod parse;
pub mod plan;
pub mod policy;
pub mod ports;
pub mod record;
pub mod render;
pub mod scope;
#[cfg(test)]
mod testkit;
pub mod text;

pub use approval::{Refusal, check_decision};
pub use classify::classify;
pub use model::*;
pub use parse::{MAX_EVENT_BYTES, ParseError, parse_event};
pub use plan::{
    PlanError, PlanTargets, REVOCATION_POLICY_NAME, ReleaseAction, plan_quarantine,
    plan_quarantine_for, release_plan, revocation_policy_document,
};
pub use policy::{Policy, PolicyError};
pub use ports::{PortError, PortErrorKind};
pub use render::{
    RenderContext, Rendered, alert, approval_request, failure_alert, security_hub_update,
};
pub use scope::{Deployment, Scope};
