//! Who may decide on a pending incident.

use crate::model::Incident;
use crate::policy::Policy;

/// Why a decision was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("`{0}` is not an approver in the response policy")]
    NotAnApprover(String),
    #[error(
        "two-person rule: `{approver}` is the actor who created the subject ({actor}) and cannot decide on it"
    )]
    SelfApproval { approver: String, actor: String },
    #[error("`{approver}` is the subject of this incident and cannot decide on its own quarantine")]
    SubjectItself { approver: String },
    #[error("`{0}` is not an IAM/STS ARN")]
    InvalidArn(String),
}

/// Check that `approver_arn` may decide on `incident`.
pub fn check_decision(
    policy: &Policy,
    approver_arn: &str,
    incident: &Incident,
) -> Result<(), Refusal> {
    let _ = (policy, incident);
    Err(Refusal::NotAnApprover(approver_arn.to_string()))
}
