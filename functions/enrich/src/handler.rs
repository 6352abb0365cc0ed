//! enrich: parse the EventBridge event into an incident and gather what AWS says about its
//! subject right now (`cordon_core::enrich`: every independent lookup runs concurrently).

use cordon_core::enrich::ScopedError;
use cordon_core::ports::{AccountError, Accounts, Organization};
#[cfg(test)]
use cordon_core::ports::{Compute, IamRead};
use cordon_core::{
    CaseFile, Deployment, Enrichment, Incident, ParseError, Policy, PortError, parse_event,
};
use serde::Serialize;

/// What enrich opens the case file with: the event as the case file keeps it (bounded, see
/// `cordon_core::parse::bounded_event`), the incident, and the enrichment. The state machine
/// adds `executionArn`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub event: serde_json::Value,
    pub incident: Incident,
    pub enrichment: Enrichment,
}

/// The enrich step's input: the event as delivered (the execution's input, passed untouched so
/// nothing grows before it is bounded), or a case file holding it under `event`.
pub fn case_from_input(input: serde_json::Value) -> Result<CaseFile, EnrichError> {
    let is_case_file = input.as_object().is_some_and(|m| {
        m.contains_key("event") && !m.contains_key("detail-type") && !m.contains_key("detail")
    });
    if is_case_file {
        Ok(serde_json::from_value(input)?)
    } else {
        Ok(CaseFile {
            event: input,
            ..CaseFile::default()
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The event is not one cordon understands (or is malformed): retrying cannot help.
    #[error("invalid event: {0}")]
    InvalidEvent(#[from] ParseError),
    /// The state document itself is not what the state machine sends.
    #[error("invalid state document: {0}")]
    InvalidInput(#[from] serde_json::Error),
    /// A lookup was throttled or AWS had a transient problem: the state machine retries.
    #[error("transient AWS failure: {0}")]
    Transient(PortError),
    /// The incident's account could not be reached (its responder role is missing or does
    /// not trust cordon): a named failure that ends in a failure alert, never a fall-back.
    #[error("{0}")]
    Account(AccountError),
}

/// Read once at init.
#[derive(Debug, Clone)]
pub struct Settings {
    pub deployment: Deployment,
    /// The response policy (organization coverage), `None` if it cannot be read: then no
    /// member account is covered (fail closed).
    pub policy: Option<Policy>,
}

impl EnrichError {
    /// The `errorType` the state machine matches.
    pub fn error_type(&self) -> &'static str {
        match self {
            EnrichError::InvalidEvent(_) | EnrichError::InvalidInput(_) => "InvalidEvent",
            EnrichError::Transient(_) => "Transient",
            EnrichError::Account(AccountError::MemberRoleUnavailable { .. }) => {
                "MemberRoleUnavailable"
            }
            EnrichError::Account(_) => "OutOfScope",
        }
    }
}

/// Parse the event, decide whether its account is in scope, and only then look the subject
/// up, with clients for that account. An out-of-scope incident is looked up nowhere.
pub async fn respond<A: Accounts, O: Organization>(
    accounts: &A,
    organization: &O,
    settings: &Settings,
    case: &CaseFile,
) -> Result<Output, EnrichError> {
    let incident = parse_event(&case.event)?;
    tracing::info!(incident_id = %incident.id, kind = %incident.kind, account = %incident.account, region = %incident.region, "parsed event");
    let enrichment = cordon_core::enrich::gather_in_scope(
        accounts,
        organization,
        &settings.deployment,
        settings.policy.as_ref(),
        &incident,
    )
    .await
    .map_err(|e| match e {
        ScopedError::Transient(e) => EnrichError::Transient(e),
        ScopedError::Account(e) => EnrichError::Account(e),
    })?;
    match &enrichment.scope {
        Some(scope) if !scope.covered => {
            tracing::warn!(incident_id = %incident.id, account = %incident.account, rule = scope.rule.as_deref().unwrap_or(""), "account out of scope: nothing looked up")
        }
        _ => {
            tracing::info!(incident_id = %incident.id, account = %incident.account, exists = enrichment.exists, lookup_errors = enrichment.lookup_errors.len(), "enriched")
        }
    }
    Ok(Output {
        event: cordon_core::parse::bounded_event(&case.event),
        incident,
        enrichment,
    })
}

/// Parse and enrich with clients already for the incident's account (the tests' entry).
#[cfg(test)]
pub async fn handle<I: IamRead, C: Compute>(
    iam: &I,
    compute: &C,
    case: &CaseFile,
) -> Result<Output, EnrichError> {
    let incident = parse_event(&case.event)?;
    tracing::info!(incident_id = %incident.id, kind = %incident.kind, "parsed event");
    let enrichment = enrich(iam, compute, &incident).await?;
    tracing::info!(incident_id = %incident.id, exists = enrichment.exists, lookup_errors = enrichment.lookup_errors.len(), "enriched");
    Ok(Output {
        event: cordon_core::parse::bounded_event(&case.event),
        incident,
        enrichment,
    })
}

/// The enrichment for `incident` (see `cordon_core::enrich::gather`).
#[cfg(test)]
pub async fn enrich<I: IamRead, C: Compute>(
    iam: &I,
    compute: &C,
    incident: &Incident,
) -> Result<Enrichment, EnrichError> {
    cordon_core::enrich::gather(iam, compute, incident)
        .await
        .map_err(EnrichError::Transient)
}

#[cfg(test)]
mod tests;
