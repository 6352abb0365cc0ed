//! enrich: parse the EventBridge event into an incident and gather what AWS says about its
//! subject right now (`cordon_core::enrich`: every independent lookup runs concurrently).

use cordon_core::ports::{Compute, IamRead};
use cordon_core::{CaseFile, Enrichment, Incident, ParseError, PortError, parse_event};
use serde::Serialize;

/// What enrich adds to the state document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub incident: Incident,
    pub enrichment: Enrichment,
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
}

impl EnrichError {
    /// The `errorType` the state machine matches.
    pub fn error_type(&self) -> &'static str {
        match self {
            EnrichError::InvalidEvent(_) | EnrichError::InvalidInput(_) => "InvalidEvent",
            EnrichError::Transient(_) => "Transient",
        }
    }
}

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
        incident,
        enrichment,
    })
}

/// The enrichment for `incident` (see `cordon_core::enrich::gather`).
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
