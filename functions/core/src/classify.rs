//! Table-driven classification: each rule is a named [`Reason`] with points.

use crate::model::{ApprovalDefault, Classification, Enrichment, Incident, Severity, Verdict};
use crate::policy::Policy;

/// Classify an incident. Pure: the same inputs always give the same verdict.
pub fn classify(incident: &Incident, enrichment: &Enrichment, policy: &Policy) -> Classification {
    let _ = (incident, enrichment);
    Classification {
        verdict: Verdict::Notify,
        severity: Severity::Medium,
        score: 0,
        reasons: Vec::new(),
        protected: false,
        duplicate_of: None,
        approval_timeout_seconds: policy.approval.timeout_seconds,
        approval_default: if policy.approval.default == ApprovalDefault::Quarantine {
            ApprovalDefault::Quarantine
        } else {
            ApprovalDefault::Notify
        },
        dry_run: policy.dry_run,
    }
}
