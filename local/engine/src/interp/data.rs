//! Data flow through a state: the context object, numbers given as literals, paths or JSONata,
//! `Assign`, `ResultPath`, `OutputPath`, the payload quota, and a task's evaluated input.

use std::borrow::Cow;

use cordon_asl_eval::{self as eval, Entropy, EvalError, JsonataScope, Scope};
use serde_json::{Map, Value, json};

use super::fail::Fail;
use super::replay::Run;
use crate::model::{Kind, NumberField, PathField, State};
use crate::time::iso;

/// The payload quota (256 KiB).
pub const MAX_PAYLOAD: usize = 262_144;

/// What a state needs to know about where it runs.
pub(super) struct StateCtx<'a> {
    pub(super) st: &'a State,
    pub(super) entered_id: u64,
    pub(super) entered_ts: i64,
    pub(super) retry_count: u64,
    pub(super) item: Option<&'a Value>,
}

impl StateCtx<'_> {
    /// An evaluation error of this state as the failure AWS reports: its cause says which state
    /// (and the event that entered it).
    pub(super) fn fail(&self, e: EvalError) -> Fail {
        let name = &self.st.name;
        if e.cause
            .starts_with("An error occurred while executing the state")
        {
            return Fail::new(e.error, e.cause);
        }
        Fail::new(
            e.error,
            format!(
                "An error occurred while executing the state '{name}' (entered at the event id #{}). {}",
                self.entered_id, e.cause
            ),
        )
    }
}

pub(super) fn context(run: &Run, cx: &StateCtx, token: Option<&str>) -> Value {
    if !cx.st.uses_context {
        return Value::Null;
    }
    let mut m = Map::new();
    let (ce, csm) = run.exec.context();
    m.insert("Execution".into(), ce.clone());
    m.insert("StateMachine".into(), csm.clone());
    let mut state = json!({"Name": cx.st.name, "EnteredTime": iso(cx.entered_ts)});
    if matches!(cx.st.kind, Kind::Task(_)) {
        state["RetryCount"] = json!(cx.retry_count);
    }
    m.insert("State".into(), state);
    if let Some(t) = token {
        m.insert("Task".into(), json!({"Token": t}));
    }
    if let Some(i) = cx.item {
        m.insert("Map".into(), json!({"Item": i}));
    }
    Value::Object(m)
}

pub(super) fn size_fail(st: &State) -> Fail {
    Fail::new(
        "States.DataLimitExceeded",
        format!(
            "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
            st.name
        ),
    )
}

/// The serialised size of `v`, without building the text.
pub(super) fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

pub(super) fn check_size(st: &State, v: &Value) -> Result<(), Fail> {
    if json_len(v) > MAX_PAYLOAD {
        return Err(size_fail(st));
    }
    Ok(())
}

pub(super) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Evaluate a literal / path / JSONata number.
pub(super) fn number(
    nf: &NumberField,
    cx: &StateCtx,
    input: &Value,
    ctx: &Value,
    vars: &Map<String, Value>,
    entropy: &dyn Entropy,
    field: &str,
) -> Result<f64, Fail> {
    match nf {
        NumberField::Literal(n) => Ok(*n),
        NumberField::Path(p) => {
            let scope = path_scope(input, ctx, vars, entropy);
            let v = eval::query(p, &scope, field).map_err(|e| cx.fail(e))?;
            if matches!(
                field,
                "MaxConcurrencyPath"
                    | "ToleratedFailureCountPath"
                    | "ToleratedFailurePercentagePath"
            ) {
                return eval::map_path_number(field, p, &v).map_err(|e| cx.fail(e));
            }
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| {
                    cx.fail(EvalError::runtime(format!(
                        "Value of field '{field}' is not a number: {v}"
                    )))
                })
        }
        NumberField::Jsonata(e) => {
            let states = json!({"input": input, "context": ctx});
            let scope = jsonata_scope(&states, vars, entropy);
            let v = eval::jsonata(e, &scope).map_err(|e| cx.fail(e))?;
            v.as_f64().ok_or_else(|| cx.fail(EvalError::new("States.QueryEvaluationError", format!("The JSONata expression '{e}' specified for the field '{field}' returned an unexpected result type. Expected 'number', but was '{v}'."))))
        }
    }
}

pub(super) fn assign_jp(
    cx: &StateCtx,
    input: &Value,
    ctx: &Value,
    vars: &Map<String, Value>,
    entropy: &dyn Entropy,
) -> Result<Option<Map<String, Value>>, Fail> {
    match &cx.st.assign {
        None => Ok(None),
        Some(a) => {
            let scope = path_scope(input, ctx, vars, entropy);
            Ok(Some(obj(
                eval::payload_template(a, &scope, "Assign").map_err(|e| cx.fail(e))?
            )))
        }
    }
}

pub(super) fn output_path(
    cx: &StateCtx,
    ctx: &Value,
    vars: &Map<String, Value>,
    entropy: &dyn Entropy,
    v: Value,
) -> Result<Value, Fail> {
    match &cx.st.output_path {
        PathField::Default => Ok(v),
        PathField::Null => Ok(Value::Object(Map::new())),
        PathField::Path(p) => {
            let scope = path_scope(&v, ctx, vars, entropy);
            eval::query(p, &scope, "OutputPath").map_err(|e| cx.fail(e))
        }
    }
}

/// `ResultPath`: a plain `$.a.b` into objects is applied in place (the common case, no copy of
/// the input); anything else goes to `asl-eval` with a copy.
pub(super) fn result_path(input: &Value, p: &str, result: Value) -> Result<Value, EvalError> {
    if p == "$" {
        return Ok(result);
    }
    let simple = p.strip_prefix("$.").filter(|rest| {
        !rest.is_empty()
            && rest
                .split('.')
                .all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    });
    if let Some(rest) = simple {
        // Every step must be an object (or missing, from where objects are created).
        let mut cur = Some(input);
        let mut ok = true;
        for k in rest.split('.') {
            match cur {
                Some(Value::Object(o)) => cur = o.get(k),
                None => {}
                Some(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && input.is_object() {
            let mut out = input.clone();
            let mut node = &mut out;
            let keys: Vec<&str> = rest.split('.').collect();
            for (i, k) in keys.iter().enumerate() {
                let Value::Object(o) = node else {
                    unreachable!("checked above")
                };
                if i + 1 == keys.len() {
                    o.insert((*k).to_string(), result);
                    return Ok(out);
                }
                node = o.entry(*k).or_insert_with(|| Value::Object(Map::new()));
            }
            return Ok(out);
        }
    }
    eval::apply_result_path(input.clone(), Some(p), result)
}

/// A task's evaluated input, ready to dispatch.
pub(super) struct TaskCall<'a> {
    /// `Parameters`/`Arguments` evaluated (or the state's input).
    pub params: Cow<'a, Value>,
    /// The task token, for `.waitForTaskToken`.
    pub token: Option<String>,
    pub timeout: Option<i64>,
    pub heartbeat: Option<i64>,
}

/// What a JSONPath expression, payload template or Choice rule reads.
pub(super) fn path_scope<'a>(
    input: &'a Value,
    context: &'a Value,
    variables: &'a Map<String, Value>,
    entropy: &'a dyn Entropy,
) -> Scope<'a> {
    Scope {
        input,
        context,
        variables,
        entropy,
    }
}

/// What a JSONata expression reads: `$states` (input, context, result, errorOutput) and the
/// variables.
pub(super) fn jsonata_scope<'a>(
    states: &'a Value,
    variables: &'a Map<String, Value>,
    entropy: &'a dyn Entropy,
) -> JsonataScope<'a> {
    JsonataScope {
        states,
        variables,
        entropy,
    }
}
