//! classify: the pure verdict. The policy was read at init; if it could not be, every
//! invocation fails with `PolicyInvalid` (fail closed: the state machine routes it to a human,
//! and nothing is quarantined on a guess).

use cordon_core::{CaseFile, Classification, Policy};

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("response policy unusable, refusing to classify: {0}")]
    PolicyInvalid(String),
    #[error("invalid state document: {0}")]
    InvalidEvent(String),
}

impl ClassifyError {
    pub fn error_type(&self) -> &'static str {
        match self {
            ClassifyError::PolicyInvalid(_) => "PolicyInvalid",
            ClassifyError::InvalidEvent(_) => "InvalidEvent",
        }
    }
}

pub fn handle(
    policy: Result<&Policy, &str>,
    case: &CaseFile,
) -> Result<Classification, ClassifyError> {
    let policy = policy.map_err(|e| ClassifyError::PolicyInvalid(e.to_string()))?;
    let incident = case
        .incident
        .as_ref()
        .ok_or_else(|| ClassifyError::InvalidEvent("no `incident` (enrich has not run)".into()))?;
    let enrichment = case.enrichment.as_ref().ok_or_else(|| {
        ClassifyError::InvalidEvent("no `enrichment` (enrich has not run)".into())
    })?;
    let c = cordon_core::classify(incident, enrichment, policy);
    tracing::info!(incident_id = %incident.id, verdict = ?c.verdict, severity = ?c.severity, score = c.score, protected = c.protected, "classified");
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_aws::Config;
    use cordon_core::{Enrichment, Verdict};
    use serde_json::Value;

    fn policy_text() -> String {
        std::fs::read_to_string(format!(
            "{}/../../infra/policy.example.json",
            std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
        ))
        .unwrap()
    }

    fn case() -> CaseFile {
        let path = format!(
            "{}/../../tests/events/cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
            std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
        );
        let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let incident = cordon_core::parse_event(&event).unwrap();
        CaseFile {
            event,
            incident: Some(incident),
            enrichment: Some(Enrichment {
                exists: true,
                ..Enrichment::default()
            }),
            ..CaseFile::default()
        }
    }

    #[test]
    fn a_valid_policy_gives_the_domain_classification() {
        let policy = Policy::from_json(&policy_text()).unwrap();
        let case = case();
        let c = handle(Ok(&policy), &case).unwrap();
        let expected = cordon_core::classify(
            case.incident.as_ref().unwrap(),
            case.enrichment.as_ref().unwrap(),
            &policy,
        );
        assert_eq!(c, expected);
        assert_ne!(
            c.verdict,
            Verdict::Ignore,
            "a suspicious user created without MFA from the CLI"
        );
        assert_eq!(c.approval_timeout_seconds, 3600);
    }

    #[test]
    fn an_unreadable_policy_fails_closed_on_every_invocation_naming_the_variable() {
        let config = Config::from_lookup(|k| {
            (k == "CORDON_POLICY").then(|| "{\"approval\": {}}".to_string())
        });
        let err = config.policy().unwrap_err().to_string();
        for _ in 0..2 {
            let e = handle(Err(&err), &case()).unwrap_err();
            assert_eq!(e.error_type(), "PolicyInvalid");
            assert!(e.to_string().contains("CORDON_POLICY"), "{e}");
        }
        let missing = Config::from_lookup(|_| None)
            .policy()
            .unwrap_err()
            .to_string();
        let e = handle(Err(&missing), &case()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "response policy unusable, refusing to classify: CORDON_POLICY is not set"
        );
    }

    #[test]
    fn a_state_without_enrichment_is_invalid() {
        let policy = Policy::from_json(&policy_text()).unwrap();
        let mut c = case();
        c.enrichment = None;
        assert_eq!(
            handle(Ok(&policy), &c).unwrap_err().error_type(),
            "InvalidEvent"
        );
    }
}
