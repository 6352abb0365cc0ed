//! The Step Functions API's error, named as AWS names its exceptions.

/// An error of the Step Functions API, named as AWS names it (`ExecutionDoesNotExist`,
/// `InvalidToken`, `TaskTimedOut`, `ValidationException`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The exception name; the server puts it in `__type`.
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}
