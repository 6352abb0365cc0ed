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

mod cache;
mod choice;
mod compiled;
mod intrinsic;
mod json;
mod jsonata;
mod path;

pub use choice::{parse_timestamp, string_matches};
pub use compiled::{CompiledPath, CompiledTemplate};
pub use json::{compact, java_string, json_eq, number_from_f64, type_name};

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

/// Source of randomness for `States.UUID`, `States.MathRandom` and JSONata's `$uuid()` and
/// `$random()` (and, optionally, the clock for `$now()`/`$millis()`).
pub trait Entropy {
    /// A random (v4) UUID in its hyphenated lower-case form.
    fn uuid(&self) -> String;
    /// A uniformly random 64-bit value.
    fn next_u64(&self) -> u64;
    /// The current time in epoch milliseconds for JSONata's `$now()` and `$millis()`, drawn once
    /// per expression evaluation, so an engine can journal it (or serve a virtual clock).
    /// `None` (the default) leaves those functions on the system clock.
    fn now_millis(&self) -> Option<i64> {
        None
    }
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

/// Evaluates a JSONPath / reference path (`$` input, `$$` context, `$name` variables) against
/// `scope`. A definite (reference) path returns the single value; a path with wildcards, filters,
/// slices, unions or `..` returns the array of its matches (possibly empty).
///
/// `field` names the ASL field (e.g. `InputPath`, `ItemsPath`, `value.$`) for AWS's wording when
/// nothing matches. Causes are the part AWS writes after
/// `An error occurred while executing the state '<name>' (entered at the event id #<n>). `.
pub fn query(path: &str, scope: &Scope, field: &str) -> Result<Value, EvalError> {
    let parsed =
        cache::path(path).map_err(|m| EvalError::runtime(format!("Invalid path '{path}': {m}")))?;
    query_parsed(path, &parsed, scope, field)
}

fn query_parsed(
    path: &str,
    parsed: &path::Path,
    scope: &Scope,
    field: &str,
) -> Result<Value, EvalError> {
    match path::eval(parsed, scope.input, scope.context, scope.variables) {
        path::Found::Value(v) => Ok(v),
        path::Found::Missing => {
            let root = match &parsed.root {
                path::Root::Input => scope.input,
                path::Root::Context => scope.context,
                path::Root::Variable(v) => scope.variables.get(v).unwrap_or(&Value::Null),
            };
            Err(EvalError::runtime(path::missing_cause(
                path,
                Some(parsed),
                field,
                root,
                scope.input,
            )))
        }
        path::Found::NoVariable(name) => Err(EvalError::runtime(format!(
            "The JSONPath '{path}' specified for the field '{field}' could not be found: the variable '{name}' is not defined"
        ))),
    }
}

/// Applies `ResultPath`: `None` (`"ResultPath": null`) discards the result and returns the input,
/// `"$"` replaces the input, `"$.a.b"` stores the result there, creating missing objects.
pub fn apply_result_path(
    input: Value,
    path: Option<&str>,
    result: Value,
) -> Result<Value, EvalError> {
    let Some(p) = path else { return Ok(input) };
    let parsed = cache::path(p).map_err(|m| {
        EvalError::new(
            "States.ResultPathMatchFailure",
            format!("Invalid ResultPath '{p}': {m}"),
        )
    })?;
    if parsed.root != path::Root::Input || !parsed.is_definite() {
        return Err(EvalError::new(
            "States.ResultPathMatchFailure",
            format!(
                "Invalid ResultPath '{p}': a ResultPath must be a reference path into the state input"
            ),
        ));
    }
    if parsed.segs.is_empty() {
        return Ok(result);
    }
    let fail = || {
        EvalError::new(
            "States.ResultPathMatchFailure",
            format!(
                "Unable to apply ResultPath \"{p}\" to input {}",
                compact(&input)
            ),
        )
    };
    let mut out = input.clone();
    let mut cur = &mut out;
    let n = parsed.segs.len();
    for (i, seg) in parsed.segs.iter().enumerate() {
        let last = i + 1 == n;
        match seg {
            path::Seg::Child(k) => {
                let Value::Object(o) = cur else {
                    return Err(fail());
                };
                if last {
                    o.insert(k.clone(), result);
                    return Ok(out);
                }
                let e = o
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !e.is_object() && !e.is_array() {
                    *e = Value::Object(Map::new());
                }
                cur = e;
            }
            path::Seg::Index(ix) => {
                let Value::Array(a) = cur else {
                    return Err(fail());
                };
                let idx = if *ix < 0 { a.len() as i64 + ix } else { *ix };
                if idx < 0 || idx as usize >= a.len() {
                    return Err(fail());
                }
                if last {
                    a[idx as usize] = result;
                    return Ok(out);
                }
                cur = &mut a[idx as usize];
            }
            _ => return Err(fail()),
        }
    }
    Ok(out)
}

/// Evaluates a JSONPath-mode payload template (Parameters, ResultSelector, ItemSelector,
/// Assign): keys ending in `.$` take a path or an intrinsic function, nested objects and arrays
/// are evaluated recursively, everything else is kept.
#[allow(clippy::only_used_in_recursion)] // `field` is part of the public signature
pub fn payload_template(template: &Value, scope: &Scope, field: &str) -> Result<Value, EvalError> {
    match template {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                if let Some(name) = k.strip_suffix(".$") {
                    let Value::String(expr) = v else {
                        return Err(EvalError::runtime(format!(
                            "The value for the field '{k}' must be a STRING that contains a JSONPath or an intrinsic function, but was {}",
                            compact(v)
                        )));
                    };
                    let val = if expr.trim_start().starts_with("States.") {
                        intrinsic_for_field(expr, scope, k)?
                    } else {
                        query(expr, scope, k)?
                    };
                    out.insert(name.to_string(), val);
                } else {
                    out.insert(k.clone(), payload_template(v, scope, field)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => Ok(Value::Array(
            a.iter()
                .map(|v| payload_template(v, scope, field))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

fn intrinsic_for_field(expr: &str, scope: &Scope, field: &str) -> Result<Value, EvalError> {
    let call =
        cache::intrinsic(expr.trim()).map_err(|m| EvalError::new("States.IntrinsicFailure", m))?;
    intrinsic_call_for_field(&call, expr, scope, field)
}

fn intrinsic_call_for_field(
    call: &intrinsic::Call,
    expr: &str,
    scope: &Scope,
    field: &str,
) -> Result<Value, EvalError> {
    intrinsic::eval_call(call, scope, field).map_err(|mut e| {
        // path arguments report the intrinsic's field
        if e.error == "States.IntrinsicFailure" {
            e.cause = e
                .cause
                .replacen(&format!("'{field}'"), &format!("'{}'", expr.trim()), 1);
        }
        e
    })
}

/// Evaluates one `States.*` intrinsic function call (JSONPath mode).
pub fn intrinsic(expr: &str, scope: &Scope) -> Result<Value, EvalError> {
    let e = expr.trim();
    let call = cache::intrinsic(e).map_err(|m| EvalError::new("States.IntrinsicFailure", m))?;
    intrinsic::eval_call(&call, scope, e)
}

/// Evaluates a JSONPath-mode Choice rule (the rule object; `Next` is ignored).
pub fn choice_rule(rule: &Value, scope: &Scope) -> Result<bool, EvalError> {
    choice::eval(rule, scope)
}

/// Evaluates one JSONata expression (without the `{% %}` delimiters). Undefined results are a
/// `States.QueryEvaluationError`; use [`jsonata_field`] to have the field named in the cause.
pub fn jsonata(expr: &str, scope: &JsonataScope) -> Result<Value, EvalError> {
    jsonata::evaluate(expr, scope, "")
}

/// [`jsonata`] with the ASL field (e.g. `Output/result`) named in error causes, as AWS does.
pub fn jsonata_field(expr: &str, scope: &JsonataScope, field: &str) -> Result<Value, EvalError> {
    jsonata::evaluate(expr, scope, field)
}

/// Recursively evaluates `"{% expr %}"` strings inside `value`; other values are kept. `field`
/// is the top-level field name (`Output`, `Arguments`, `Assign`...); nested keys are appended
/// as `field/key`.
pub fn jsonata_template(
    value: &Value,
    scope: &JsonataScope,
    field: &str,
) -> Result<Value, EvalError> {
    jsonata::template(value, scope, field)
}

/// Whether `s` is a JSONata expression string `{% ... %}` (no surrounding whitespace allowed).
pub fn is_jsonata_expression(s: &str) -> bool {
    s.len() >= 4 && s.starts_with("{%") && s.ends_with("%}")
}

/// Validates a path at definition time; the error says what is wrong.
pub fn validate_path(p: &str) -> Result<(), String> {
    path::parse(p).map(|_| ())
}

/// Validates a `ResultPath` at definition time: a reference path (no wildcards, filters, slices
/// or unions) into the state's data, `$` or `$.a.b[0]`; the context object (`$$`) and variables
/// (`$name`) are not places a result can be written to.
pub fn validate_result_path(p: &str) -> Result<(), String> {
    let parsed = path::parse(p)?;
    match &parsed.root {
        path::Root::Input => {}
        path::Root::Context => {
            return Err(format!(
                "'{p}' refers to the context object; a ResultPath must refer to the state's data ('$' or '$.field')"
            ));
        }
        path::Root::Variable(v) => {
            return Err(format!(
                "'{p}' refers to the variable '{v}'; a ResultPath must refer to the state's data ('$' or '$.field')"
            ));
        }
    }
    if !parsed.is_definite() || parsed.segs.iter().any(|s| matches!(s, path::Seg::Length)) {
        return Err(format!(
            "'{p}' is not a definite path; a ResultPath cannot contain wildcards, filters, slices or unions"
        ));
    }
    Ok(())
}

/// Validates one JSONata expression (with or without its `{% %}` delimiters) at definition
/// time. The error is the parser's message as AWS reports it (`Unexpected end of expression`).
pub fn validate_jsonata(expr: &str) -> Result<(), String> {
    jsonata::check_syntax(expr)
}

/// Validates an intrinsic function call at definition time (name, arity, syntax, paths).
pub fn validate_intrinsic(e: &str) -> Result<(), String> {
    let call = intrinsic::parse(e.trim())?;
    fn check(c: &intrinsic::Call) -> Result<(), String> {
        for a in &c.args {
            match a {
                intrinsic::Arg::Path(p) => validate_path(p)?,
                intrinsic::Arg::Call(c) => check(c)?,
                _ => {}
            }
        }
        Ok(())
    }
    check(&call)
}

/// The error AWS reports when a JSONata field returned a value of the wrong type, e.g. for
/// `Items`: `The JSONata expression '1' specified for the field 'Items' returned an unexpected
/// result type. Expected 'array', but was 'number' for value: 1`.
pub fn jsonata_type_error(expr: &str, field: &str, expected: &str, value: &Value) -> EvalError {
    EvalError::new(
        "States.QueryEvaluationError",
        format!(
            "The JSONata expression '{expr}' specified for the field '{field}' returned an unexpected result type. Expected '{expected}', but was '{}' for value: {}",
            type_name(value),
            compact(value)
        ),
    )
}

/// Parses a Wait `Timestamp` as Step Functions accepts it: an ISO-8601 extended offset
/// date-time (`2016-03-14T01:59:00Z`, `...T01:59:00.243167252+01:00`), with the `T`
/// separator. Returns epoch milliseconds (sub-millisecond digits are dropped).
pub fn wait_timestamp_millis(s: &str) -> Option<i64> {
    if !s.contains('T') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Checks the value a JSONata Wait `Timestamp` evaluated to; the error is AWS's
/// (`States.QueryEvaluationError`, reported with `"location": "Timestamp"` in the
/// `EvaluationFailed` event, e.g. `The Timestamp field cannot be parsed as an ISO-8601 extended
/// offset date-time format string: 2016-12-05T21:29:29`).
pub fn jsonata_wait_timestamp(value: &Value) -> Result<i64, EvalError> {
    if let Some(ms) = value.as_str().and_then(wait_timestamp_millis) {
        return Ok(ms);
    }
    let text = match value {
        Value::String(s) => s.clone(),
        other => compact(other),
    };
    Err(EvalError::new(
        "States.QueryEvaluationError",
        format!(
            "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {text}"
        ),
    ))
}

/// Checks the value a Map state's `MaxConcurrencyPath`, `ToleratedFailureCountPath` or
/// `ToleratedFailurePercentagePath` (`field`, `path` as written) selected, with AWS's
/// `States.Runtime` causes: `The ToleratedFailureCountPath field refers to value "NoNumber"
/// which is not a valid integer: $.ToleratedFailureCount` (`... valid float` for the
/// percentage), `ToleratedFailureCount cannot be negative.`,
/// `ToleratedFailurePercentage must be between 0 and 100.`. Numeric strings are accepted.
pub fn map_path_number(field: &str, path: &str, value: &Value) -> Result<f64, EvalError> {
    let float = field == "ToleratedFailurePercentagePath";
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite() && (float || n.fract() == 0.0));
    let Some(n) = n else {
        let text = match value {
            Value::String(s) => s.clone(),
            other => compact(other),
        };
        let kind = if float { "float" } else { "integer" };
        return Err(EvalError::runtime(format!(
            "The {field} field refers to value \"{text}\" which is not a valid {kind}: {path}"
        )));
    };
    match field {
        "ToleratedFailureCountPath" if n < 0.0 => Err(EvalError::runtime(
            "ToleratedFailureCount cannot be negative.",
        )),
        "ToleratedFailurePercentagePath" if !(0.0..=100.0).contains(&n) => Err(EvalError::runtime(
            "ToleratedFailurePercentage must be between 0 and 100.",
        )),
        _ => Ok(n),
    }
}
