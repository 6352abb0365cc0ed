//! Pure evaluation for the Amazon States Language: JSONPath / reference paths, payload
//! templates (`"key.$"`), `States.*` intrinsic functions, Choice rules and JSONata.
//!
//! Everything here is a pure function of its inputs: no clock, no I/O. The only source of
//! non-determinism (`States.UUID`, `States.MathRandom`) comes through [`Entropy`], so the engine
//! can journal it and replay an execution identically after a restart.
//!
//! Errors carry the error name Step Functions reports (`States.Runtime`,
//! `States.IntrinsicFailure`, `States.QueryEvaluationError`, ...) and a cause worded as AWS
//! words it, because both end up in the execution history.

use serde_json::{Map, Value};

/// An evaluation failure as Step Functions reports it in `ExecutionFailed`/`*Failed` events.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct EvalError {
    /// The error name ASL `ErrorEquals` matches, e.g. `States.Runtime`.
    pub error: String,
    /// Human-readable cause, as AWS words it.
    pub cause: String,
}

impl EvalError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new("States.Runtime", cause)
    }
}

/// Source of randomness for `States.UUID` and `States.MathRandom`.
pub trait Entropy {
    /// A random (v4) UUID in its hyphenated lower-case form.
    fn uuid(&self) -> String;
    /// A uniformly random 64-bit value.
    fn next_u64(&self) -> u64;
}

/// Entropy from the operating system, for callers that do not journal.
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn uuid(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
    fn next_u64(&self) -> u64 {
        let b = uuid::Uuid::new_v4();
        u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("16-byte uuid"))
    }
}

/// What a JSONPath-mode expression can see.
pub struct Scope<'a> {
    /// The state's effective input (`$`).
    pub input: &'a Value,
    /// The context object (`$$`).
    pub context: &'a Value,
    /// Variables (`$name`) visible to this state.
    pub variables: &'a Map<String, Value>,
    pub entropy: &'a dyn Entropy,
}

/// What a JSONata expression can see: `$states` and the variables.
pub struct JsonataScope<'a> {
    /// The `$states` object: `{input, context, result?, errorOutput?}`.
    pub states: &'a Value,
    pub variables: &'a Map<String, Value>,
    pub entropy: &'a dyn Entropy,
}

fn not_implemented(what: &str) -> EvalError {
    EvalError::runtime(format!("{what} is not implemented yet"))
}

/// Evaluates a JSONPath / reference path (`$`, `$$` context, `$var` variables) against `scope`.
/// `field` names the ASL field (e.g. `InputPath`) for AWS's error wording.
pub fn query(path: &str, scope: &Scope, field: &str) -> Result<Value, EvalError> {
    let _ = (path, scope, field);
    Err(not_implemented("query"))
}

/// Applies `ResultPath`: `None` discards the result (returns the input), `"$"` replaces.
pub fn apply_result_path(
    input: Value,
    path: Option<&str>,
    result: Value,
) -> Result<Value, EvalError> {
    let _ = (input, path, result);
    Err(not_implemented("ResultPath"))
}

/// Evaluates a JSONPath-mode payload template (Parameters, ResultSelector, ItemSelector, Assign).
pub fn payload_template(template: &Value, scope: &Scope, field: &str) -> Result<Value, EvalError> {
    let _ = (template, scope, field);
    Err(not_implemented("payload template"))
}

/// Evaluates one `States.*` intrinsic function call.
pub fn intrinsic(expr: &str, scope: &Scope) -> Result<Value, EvalError> {
    let _ = (expr, scope);
    Err(not_implemented("intrinsic"))
}

/// Evaluates a JSONPath-mode Choice rule.
pub fn choice_rule(rule: &Value, scope: &Scope) -> Result<bool, EvalError> {
    let _ = (rule, scope);
    Err(not_implemented("choice rule"))
}

/// Evaluates one JSONata expression (without the `{% %}` delimiters).
pub fn jsonata(expr: &str, scope: &JsonataScope) -> Result<Value, EvalError> {
    let _ = (expr, scope);
    Err(not_implemented("jsonata"))
}

/// Recursively evaluates `"{% expr %}"` strings inside `value`; other values are kept.
pub fn jsonata_template(
    value: &Value,
    scope: &JsonataScope,
    field: &str,
) -> Result<Value, EvalError> {
    let _ = (value, scope, field);
    Err(not_implemented("jsonata template"))
}

/// Whether `s` is a JSONata expression string `{% ... %}`.
pub fn is_jsonata_expression(s: &str) -> bool {
    let t = s;
    t.starts_with("{%") && t.ends_with("%}") && t.len() >= 4
}

/// Validates a path at definition time; the error says what is wrong.
pub fn validate_path(p: &str) -> Result<(), String> {
    if p.starts_with('$') {
        Ok(())
    } else {
        Err(format!("The value for the field must start with '$': {p}"))
    }
}

/// Validates an intrinsic function call at definition time.
pub fn validate_intrinsic(e: &str) -> Result<(), String> {
    if e.starts_with("States.") {
        Ok(())
    } else {
        Err(format!("Invalid intrinsic function: {e}"))
    }
}
