//! SDK errors → [`PortError`]: the kind decides what the state machine does (retry, branch,
//! alert), so the mapping is deliberate and tested.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cordon_core::{PortError, PortErrorKind};

/// Error codes AWS services use for throttling and transient server trouble.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "EC2ThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded",
    "TransactionInProgressException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServiceFailure",
    "Unavailable",
    "InternalFailure",
    "InternalError",
    "InternalErrorException",
    "InternalException",
    "InternalServerError",
    "InternalServerErrorException",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
    // IAM: "the request was rejected because multiple requests to change this object were
    // submitted simultaneously" — retrying is the documented remedy.
    "ConcurrentModification",
    "ConcurrentModificationException",
];

const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchEntity",
    "NoSuchEntityException",
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    "ExecutionDoesNotExist",
    "StateMachineDoesNotExist",
    "TaskDoesNotExist",
];

const ACCESS_DENIED_CODES: &[&str] = &[
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "AuthFailure",
    "NotAuthorized",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
    "SignatureDoesNotMatch",
];

/// The kind of failure an AWS error code means. `status` is the HTTP status, when known.
pub fn kind_for(code: Option<&str>, status: Option<u16>) -> PortErrorKind {
    if let Some(code) = code {
        if TRANSIENT_CODES.contains(&code) {
            return PortErrorKind::Transient;
        }
        if NOT_FOUND_CODES.contains(&code) || code.ends_with(".NotFound") {
            return PortErrorKind::NotFound;
        }
        if code.starts_with("AccessDenied") || ACCESS_DENIED_CODES.contains(&code) {
            return PortErrorKind::AccessDenied;
        }
        if code.starts_with("Invalid")
            || code.starts_with("Validation")
            || code.starts_with("Malformed")
            || code.ends_with("ValidationException")
            || code.starts_with("LimitExceeded")
            || code.starts_with("EntityAlreadyExists")
            || code.starts_with("DeleteConflict")
            || code == "TaskTimedOut"
        {
            return PortErrorKind::Invalid;
        }
    }
    match status {
        Some(s) if s >= 500 || s == 429 => PortErrorKind::Transient,
        Some(403) => PortErrorKind::AccessDenied,
        Some(404) => PortErrorKind::NotFound,
        _ => PortErrorKind::Other,
    }
}

/// Map an SDK error to a [`PortError`] for `operation` (an IAM action name such as
/// `iam:GetUser`, which is also what the logs and the failure alert show).
pub fn port_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = match &err {
        // Never sent: a bug in how we built the request.
        SdkError::ConstructionFailure(_) => PortErrorKind::Other,
        // Timeouts, connection failures, unparseable/truncated responses: retry.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortErrorKind::Transient
        }
        SdkError::ServiceError(service) => {
            kind_for(err.code(), Some(service.raw().status().as_u16()))
        }
        _ => PortErrorKind::Other,
    };
    let message = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(&err).to_string(),
    };
    PortError::new(kind, operation, message)
}

/// An [`aws_smithy_types::DateTime`] as chrono's.
pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_kinds_the_state_machine_branches_on() {
        use PortErrorKind::*;
        for code in [
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
            "RequestLimitExceeded",
        ] {
            assert_eq!(kind_for(Some(code), Some(400)), Transient, "{code}");
        }
        assert_eq!(kind_for(Some("ServiceUnavailable"), Some(503)), Transient);
        assert_eq!(kind_for(None, Some(500)), Transient);
        assert_eq!(kind_for(Some("Weird"), Some(502)), Transient);
        assert_eq!(kind_for(Some("NoSuchEntity"), Some(404)), NotFound);
        assert_eq!(
            kind_for(Some("InvalidInstanceID.NotFound"), Some(400)),
            NotFound
        );
        assert_eq!(
            kind_for(Some("InvalidNetworkAclEntry.NotFound"), Some(400)),
            NotFound
        );
        assert_eq!(kind_for(Some("ExecutionDoesNotExist"), Some(400)), NotFound);
        assert_eq!(kind_for(Some("AccessDenied"), Some(403)), AccessDenied);
        assert_eq!(
            kind_for(Some("AccessDeniedException"), Some(400)),
            AccessDenied
        );
        assert_eq!(
            kind_for(Some("UnauthorizedOperation"), Some(403)),
            AccessDenied
        );
        assert_eq!(kind_for(Some("InvalidInput"), Some(400)), Invalid);
        assert_eq!(
            kind_for(Some("MalformedPolicyDocument"), Some(400)),
            Invalid
        );
        assert_eq!(kind_for(Some("SomethingElse"), Some(400)), Other);
    }
}
