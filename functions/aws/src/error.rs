//! SDK errors → [`PortError`]: the kind decides what the state machine does (retry, branch,
//! alert), so the mapping is deliberate and tested.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
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
    PortError::new(kind, operation, describe(&err))
}

/// The longest message a [`PortError`] carries: it is shown in the execution history, the
/// failure alert and the CLI, on one line.
const MAX_MESSAGE: usize = 300;

/// What went wrong, in one bounded line: `Code: message` when AWS said so; otherwise the
/// HTTP status and the first meaningful line of the body (an emulator's or proxy's HTML error
/// page), or what failed on the way (`connection failed: <root cause>`), never the SDK's
/// multi-line debug rendering of the request and response.
fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let described = match (err.code(), err.message(), err) {
        (Some(code), Some(message), _) => format!("{code}: {message}"),
        (Some(code), None, _) => code.to_string(),
        (None, message, SdkError::ServiceError(service)) => {
            let raw = service.raw();
            let said = message
                .map(str::to_string)
                .or_else(|| raw.body().bytes().and_then(first_meaningful_line));
            match said {
                Some(said) => format!("HTTP {}: {said}", raw.status().as_u16()),
                None => format!("HTTP {}", raw.status().as_u16()),
            }
        }
        (None, _, SdkError::DispatchFailure(failure)) => {
            let what = if failure.is_timeout() {
                "timed out"
            } else {
                "connection failed"
            };
            format!("{what}: {}", root_cause(err))
        }
        (None, _, SdkError::TimeoutError(_)) => format!("timed out: {}", root_cause(err)),
        (None, _, SdkError::ResponseError(response)) => format!(
            "unreadable response (HTTP {}): {}",
            response.raw().status().as_u16(),
            root_cause(err)
        ),
        (None, _, SdkError::ConstructionFailure(_)) => {
            format!("request not built: {}", root_cause(err))
        }
        (None, _, _) => root_cause(err),
    };
    one_line(&described)
}

/// The innermost error's own words (`Connection refused (os error 111)`), without the layers
/// of context wrapped around it.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = err;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}

/// The first line of a response body that says something once markup is stripped: the
/// `<title>` of an HTML error page, the first line of a text one.
fn first_meaningful_line(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .map(|line| strip_tags(line).trim().to_string())
        .find(|line| !line.is_empty())
}

fn strip_tags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// `text` on one line (control characters escaped) and at most [`MAX_MESSAGE`] bytes, cut
/// with `…(N bytes)` giving the full length.
pub(crate) fn one_line(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    if escaped.len() <= MAX_MESSAGE {
        return escaped;
    }
    let mut cut = MAX_MESSAGE;
    while !escaped.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…({} bytes)", &escaped[..cut], escaped.len())
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

    // --------------------------------------------------------------------------------------
    // the message people read: one bounded line
    // --------------------------------------------------------------------------------------

    use aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsError;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::retry::RetryConfig;

    /// What moto_server (Flask) answers for a route it does not have.
    const FLASK_404: &str = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n\
        <h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered \
        the URL manually please check your spelling and try again.</p>\n";

    /// `BatchUpdateFindings` answered with `status` and `body`, as the SDK reports it.
    async fn answered(status: u16, body: &str) -> SdkError<BatchUpdateFindingsError, HttpResponse> {
        let body = body.to_string();
        let rule = mock!(aws_sdk_securityhub::Client::batch_update_findings)
            .sequence()
            .http_status(status, Some(body))
            .build();
        let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(RetryConfig::disabled()));
        client
            .batch_update_findings()
            .send()
            .await
            .expect_err("an error status")
    }

    fn assert_one_line(message: &str) {
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(message.len() <= MAX_MESSAGE + 32, "{} bytes", message.len());
    }

    #[tokio::test]
    async fn an_html_404_is_its_status_and_title_not_a_debug_dump() {
        let err = port_error(
            "securityhub:BatchUpdateFindings",
            answered(404, FLASK_404).await,
        );
        assert_eq!(err.message, "HTTP 404: 404 Not Found");
        assert_eq!(err.kind, PortErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "securityhub:BatchUpdateFindings failed (NotFound): HTTP 404: 404 Not Found"
        );
    }

    #[tokio::test]
    async fn a_bodiless_or_blank_error_is_its_status() {
        let err = port_error("securityhub:BatchUpdateFindings", answered(502, "").await);
        assert_eq!(err.message, "HTTP 502");
        assert_eq!(err.kind, PortErrorKind::Transient);
        let err = port_error(
            "securityhub:BatchUpdateFindings",
            answered(500, "\n  <html><body>\n\n</body></html>\n").await,
        );
        assert_eq!(err.message, "HTTP 500");
    }

    #[tokio::test]
    async fn a_coded_error_keeps_code_and_message_on_one_line() {
        let body =
            r#"{"__type":"InvalidInputException","message":"Invalid parameter\n'Note.Text'"}"#;
        let err = port_error("securityhub:BatchUpdateFindings", answered(400, body).await);
        assert_eq!(
            err.message,
            r"InvalidInputException: Invalid parameter\n'Note.Text'"
        );
        assert_eq!(err.kind, PortErrorKind::Invalid);
    }

    #[tokio::test]
    async fn a_long_text_page_is_cut_with_its_length() {
        let page = format!("{}\nsecond line", "x".repeat(2000));
        let err = port_error(
            "securityhub:BatchUpdateFindings",
            answered(503, &page).await,
        );
        assert_one_line(&err.message);
        assert!(err.message.starts_with("HTTP 503: xxx"), "{}", err.message);
        assert!(err.message.ends_with("…(2010 bytes)"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_root_cause() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = aws_sdk_securityhub::Config::builder()
            .behavior_version(aws_sdk_securityhub::config::BehaviorVersion::latest())
            .region(aws_sdk_securityhub::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .retry_config(RetryConfig::disabled())
            .build();
        let sdk_err = aws_sdk_securityhub::Client::from_conf(config)
            .batch_update_findings()
            .send()
            .await
            .expect_err("nothing listens");
        assert!(
            matches!(sdk_err, SdkError::DispatchFailure(_)),
            "{sdk_err:?}"
        );
        let err = port_error("securityhub:BatchUpdateFindings", sdk_err);
        assert_eq!(err.kind, PortErrorKind::Transient);
        assert_one_line(&err.message);
        assert!(
            err.message.starts_with("connection failed: ")
                && err.message.to_lowercase().contains("refused"),
            "{}",
            err.message
        );
    }

    #[test]
    fn one_line_escapes_control_characters_and_bounds_the_length() {
        assert_eq!(one_line("  a\nb\tc\u{1b}[0m  "), r"a\nb\tc\u{1b}[0m");
        // 801 bytes, byte 300 inside an "é": the cut backs off to the character boundary.
        let long = format!("x{}", "é".repeat(400));
        let cut = one_line(&long);
        assert!(cut.ends_with("…(801 bytes)"), "{cut}");
        assert_eq!(cut.len(), MAX_MESSAGE - 1 + "…(801 bytes)".len());
        assert_eq!(one_line(&"y".repeat(MAX_MESSAGE)), "y".repeat(MAX_MESSAGE));
    }

    #[test]
    fn the_first_meaningful_line_strips_markup() {
        assert_eq!(
            first_meaningful_line(FLASK_404.as_bytes()).as_deref(),
            Some("404 Not Found")
        );
        assert_eq!(
            first_meaningful_line(b"<p>a &lt;b&gt; &amp; c</p>").as_deref(),
            Some("a <b> & c")
        );
        assert_eq!(first_meaningful_line(b"\n \n<br/>\n"), None);
    }
}
