//! Failures travelling up through states: what ASL `ErrorEquals` matches, and how a
//! failure becomes a Catch's error output.

use serde_json::{Map, Value};

/// A failure travelling up: what ASL `ErrorEquals` matches.
#[derive(Debug, Clone)]
pub(crate) struct Fail {
    pub error: String,
    pub cause: Option<String>,
}

impl Fail {
    pub(super) fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }
    pub(super) fn output(&self) -> Value {
        let mut m = Map::new();
        if self.error.is_empty() && self.cause.is_none() {
            // A task failure reported without error or cause (SendTaskFailure).
            m.insert("Error".into(), Value::Null);
            m.insert("Cause".into(), Value::Null);
            return Value::Object(m);
        }
        m.insert("Error".into(), Value::String(self.error.clone()));
        m.insert(
            "Cause".into(),
            Value::String(self.cause.clone().unwrap_or_default()),
        );
        Value::Object(m)
    }
}

/// Whether a Retrier's or Catcher's `ErrorEquals` matches `error`.
pub(super) fn error_matches(error_equals: &[String], error: &str) -> bool {
    if error == "States.Runtime" {
        return false;
    }
    error_equals.iter().any(|e| {
        e == error
            || (e == "States.ALL" && error != "States.Runtime")
            || (e == "States.TaskFailed"
                && !matches!(
                    error,
                    "States.Timeout" | "States.Runtime" | "States.HeartbeatTimeout"
                )
                && !error.starts_with("States."))
    })
}
