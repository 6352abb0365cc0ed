//! cordon's domain. No AWS SDK, no I/O: everything here is a pure function of its inputs, so
//! the same decisions are made in AWS, offline, and in tests.
//!
//! The state document that flows through the state machine is [`model::CaseFile`]: each
//! function reads it whole and returns only its own part (see DESIGN.md, "The state document").
//! What the functions need from AWS is expressed as [`ports`]; `cordon-aws` implements them.

pub mod model;
pub mod policy;
pub mod ports;

pub use model::*;
pub use policy::{Policy, PolicyError};
pub use ports::{PortError, PortErrorKind};
