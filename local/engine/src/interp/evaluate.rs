//! Evaluating one state, once: its input, what its type does (a choice, a wait, a task, a
//! fan-out), and its result, `Assign` and output, under JSONPath or JSONata. Retries, catches
//! and history around it are the state loop's ([`super::states`]).

use std::borrow::Cow;

use cordon_asl_eval::{self as eval, EvalError};
use serde_json::{Map, Value, json};

use super::data::{
    StateCtx, assign_jp, context, jsonata_scope, number, obj, output_path, path_scope, result_path,
};
use super::fail::Fail;
use super::fanout::{RunStates, run_map, run_parallel};
use super::replay::{JournaledEntropy, Run, Thread};
use super::task::run_task;
use crate::model::{Kind, NumberField, PathField, QueryLanguage, WaitSpec};
use crate::time::parse_iso;

/// What evaluating a state gave: the next state when the state chooses it (Choice), the
/// output, and the variables it assigns.
pub(super) struct Step {
    pub(super) next: Option<String>,
    pub(super) output: Value,
    pub(super) assigned: Option<Map<String, Value>>,
}

pub(super) async fn execute(
    run: &Run,
    cx: &StateCtx<'_>,
    raw_input: &Value,
    vars: &mut Map<String, Value>,
    th: &mut Thread,
    run_states: RunStates,
) -> Result<Step, Fail> {
    let st = cx.st;
    if st.ql == QueryLanguage::Jsonata {
        return execute_jsonata(run, cx, raw_input, vars, th, run_states).await;
    }
    let mut ctx = context(run, cx, None);
    // InputPath
    let input = {
        let entropy = JournaledEntropy { run, th };
        let scope = path_scope(raw_input, &ctx, vars, &entropy);
        match &st.input_path {
            PathField::Default => Cow::Borrowed(raw_input),
            PathField::Null => Cow::Owned(Value::Object(Map::new())),
            PathField::Path(p) => {
                Cow::Owned(eval::query(p, &scope, "InputPath").map_err(|e| cx.fail(e))?)
            }
        }
    };
    let mut next = None;
    let result: Option<Value> = match &st.kind {
        Kind::Pass => {
            let entropy = JournaledEntropy { run, th };
            let scope = path_scope(&input, &ctx, vars, &entropy);
            Some(match (&st.parameters, &st.result) {
                (Some(p), _) => {
                    eval::payload_template(p, &scope, "Parameters").map_err(|e| cx.fail(e))?
                }
                (None, Some(r)) => r.clone(),
                (None, None) => input.as_ref().clone(),
            })
        }
        Kind::Succeed => None,
        Kind::Fail {
            error,
            cause,
            error_path,
            cause_path,
        } => {
            let entropy = JournaledEntropy { run, th };
            let scope = path_scope(&input, &ctx, vars, &entropy);
            let pick = |lit: &Option<String>,
                        path: &Option<String>,
                        field: &str|
             -> Result<Option<String>, Fail> {
                if let Some(p) = path {
                    let v = if p.starts_with("States.") {
                        eval::intrinsic(p, &scope)
                    } else {
                        eval::query(p, &scope, field)
                    }
                    .map_err(|e| cx.fail(e))?;
                    return Ok(Some(match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }));
                }
                Ok(lit.clone())
            };
            let e = pick(error, error_path, "ErrorPath")?;
            let c = pick(cause, cause_path, "CausePath")?;
            return Err(Fail {
                error: e.unwrap_or_default(),
                cause: c,
            });
        }
        Kind::Choice { choices, default } => {
            let entropy = JournaledEntropy { run, th };
            let scope = path_scope(&input, &ctx, vars, &entropy);
            let mut chosen = None;
            let mut assign = None;
            for c in choices {
                if eval::choice_rule(c, &scope).map_err(|e| cx.fail(e))? {
                    chosen = c.get("Next").and_then(Value::as_str).map(str::to_string);
                    assign = c.get("Assign").cloned();
                    break;
                }
            }
            let chosen = match chosen.or_else(|| default.clone()) {
                Some(c) => c,
                None => {
                    return Err(Fail::new(
                        "States.NoChoiceMatched",
                        format!("No Matching Choice Rule found for state '{}'", st.name),
                    ));
                }
            };
            next = Some(chosen);
            let mut assigned = None;
            if let Some(a) = assign.as_ref().or(st.assign.as_ref()) {
                assigned = Some(obj(
                    eval::payload_template(a, &scope, "Assign").map_err(|e| cx.fail(e))?
                ));
            }
            let output = output_path(cx, &ctx, vars, &entropy, input.into_owned())?;
            return Ok(Step {
                next,
                output,
                assigned,
            });
        }
        Kind::Wait(spec) => {
            let deadline = {
                let entropy = JournaledEntropy { run, th };
                let scope = path_scope(&input, &ctx, vars, &entropy);
                match spec {
                    WaitSpec::Seconds(NumberField::Path(p)) => {
                        let v = eval::query(p, &scope, "SecondsPath").map_err(|_| {
                            cx.fail(EvalError::runtime(format!(
                                "The SecondsPath parameter does not reference an input value: {p}"
                            )))
                        })?;
                        let Some(s) = v.as_i64() else {
                            return Err(cx.fail(EvalError::runtime(format!("The SecondsPath parameter cannot be parsed as a long value: {p} == {v}"))));
                        };
                        if s < 0 {
                            return Err(cx.fail(EvalError::runtime(format!(
                                "The SecondsPath parameter references a negative value: {p} == {v}"
                            ))));
                        }
                        cx.entered_ts + s * 1000
                    }
                    WaitSpec::Seconds(n) => {
                        let s = number(n, cx, &input, &ctx, vars, &entropy, "Seconds")?;
                        cx.entered_ts + (s * 1000.0) as i64
                    }
                    WaitSpec::Timestamp(t) => parse_iso(t).unwrap_or(cx.entered_ts),
                    WaitSpec::TimestampPath(p) => {
                        let v = eval::query(p, &scope, "TimestampPath").map_err(|e| cx.fail(e))?;
                        v.as_str().and_then(parse_iso).ok_or_else(|| cx.fail(EvalError::runtime(format!("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {p} == {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))))?
                    }
                    WaitSpec::TimestampJsonata(_) => cx.entered_ts,
                }
            };
            // Everything before the wait is durable before the engine sleeps through it.
            run.durable().await;
            run.inner.clock.sleep_until_ms(deadline).await;
            None
        }
        Kind::Task(spec) => {
            // A task may wait long (task tokens): hold no context copy meanwhile.
            let had = !ctx.is_null();
            ctx = Value::Null;
            let r = run_task(run, cx, spec, &input, vars, th, None).await?;
            if had {
                ctx = context(run, cx, None);
            }
            Some(r)
        }
        Kind::Parallel { branches } => {
            // `Parameters` become each branch's input.
            let args = match &st.parameters {
                Some(p) => {
                    let entropy = JournaledEntropy { run, th };
                    let scope = path_scope(&input, &ctx, vars, &entropy);
                    Cow::Owned(
                        eval::payload_template(p, &scope, "Parameters").map_err(|e| cx.fail(e))?,
                    )
                }
                None => Cow::Borrowed(input.as_ref()),
            };
            Some(run_parallel(run, branches, &args, vars, th, run_states).await?)
        }
        Kind::Map(spec) => Some(run_map(run, cx, spec, &input, &ctx, vars, th, run_states).await?),
    };
    let entropy = JournaledEntropy { run, th };
    let (output, assigned) = match result {
        None => {
            let assigned = assign_jp(cx, &input, &ctx, vars, &entropy)?;
            (
                output_path(cx, &ctx, vars, &entropy, input.into_owned())?,
                assigned,
            )
        }
        Some(mut result) => {
            if let Some(rs) = &st.result_selector {
                let scope = path_scope(&result, &ctx, vars, &entropy);
                result =
                    eval::payload_template(rs, &scope, "ResultSelector").map_err(|e| cx.fail(e))?;
            }
            let assigned = assign_jp(cx, &result, &ctx, vars, &entropy)?;
            let with_result = match &st.result_path {
                PathField::Default => result,
                PathField::Null => raw_input.clone(),
                PathField::Path(p) => result_path(raw_input, p, result).map_err(|e| cx.fail(e))?,
            };
            (
                output_path(cx, &ctx, vars, &entropy, with_result)?,
                assigned,
            )
        }
    };
    Ok(Step {
        next,
        output,
        assigned,
    })
}

async fn execute_jsonata(
    run: &Run,
    cx: &StateCtx<'_>,
    input: &Value,
    vars: &mut Map<String, Value>,
    th: &mut Thread,
    run_states: RunStates,
) -> Result<Step, Fail> {
    let st = cx.st;
    let ctx = context(run, cx, None);
    let mut states = json!({"input": input, "context": ctx});
    let mut next = None;
    let result: Option<Value> = match &st.kind {
        Kind::Pass | Kind::Succeed => None,
        Kind::Fail { error, cause, .. } => {
            let entropy = JournaledEntropy { run, th };
            let scope = jsonata_scope(&states, vars, &entropy);
            let ev = |s: &Option<String>, f: &str| -> Result<Option<String>, Fail> {
                match s {
                    None => Ok(None),
                    Some(s) => {
                        let v = eval::jsonata_template(&Value::String(s.clone()), &scope, f)
                            .map_err(|e| cx.fail(e))?;
                        Ok(Some(match v {
                            Value::String(s) => s,
                            o => o.to_string(),
                        }))
                    }
                }
            };
            let e = ev(error, "Error")?;
            let c = ev(cause, "Cause")?;
            return Err(Fail {
                error: e.unwrap_or_default(),
                cause: c,
            });
        }
        Kind::Choice { choices, default } => {
            let entropy = JournaledEntropy { run, th };
            let scope = jsonata_scope(&states, vars, &entropy);
            let mut chosen = None;
            for c in choices {
                let cond = c.get("Condition").cloned().unwrap_or(Value::Bool(false));
                let v =
                    eval::jsonata_template(&cond, &scope, "Condition").map_err(|e| cx.fail(e))?;
                match v {
                    Value::Bool(true) => {
                        chosen = Some(c);
                        break;
                    }
                    Value::Bool(false) => {}
                    other => return Err(cx.fail(EvalError::new("States.QueryEvaluationError", format!("The JSONata expression '{}' specified for the field 'Condition' returned an unexpected result type. Expected 'boolean', but was '{other}'.", cond.as_str().unwrap_or_default())))),
                }
            }
            let (n, assign, output) = match chosen {
                Some(c) => (
                    c.get("Next").and_then(Value::as_str).map(str::to_string),
                    c.get("Assign").or(st.assign.as_ref()).cloned(),
                    c.get("Output").or(st.output.as_ref()).cloned(),
                ),
                None => match default {
                    Some(d) => (Some(d.clone()), st.assign.clone(), st.output.clone()),
                    None => {
                        return Err(Fail::new(
                            "States.NoChoiceMatched",
                            format!("No Matching Choice Rule found for state '{}'", st.name),
                        ));
                    }
                },
            };
            next = n;
            let assigned = match &assign {
                Some(a) => Some(obj(
                    eval::jsonata_template(a, &scope, "Assign").map_err(|e| cx.fail(e))?
                )),
                None => None,
            };
            let output = match &output {
                Some(o) => eval::jsonata_template(o, &scope, "Output").map_err(|e| cx.fail(e))?,
                None => input.clone(),
            };
            return Ok(Step {
                next,
                output,
                assigned,
            });
        }
        Kind::Wait(spec) => {
            let deadline = {
                let entropy = JournaledEntropy { run, th };
                match spec {
                    WaitSpec::Seconds(n) => {
                        cx.entered_ts
                            + (number(n, cx, input, &ctx, vars, &entropy, "Seconds")? * 1000.0)
                                as i64
                    }
                    WaitSpec::Timestamp(t) => parse_iso(t).unwrap_or(cx.entered_ts),
                    WaitSpec::TimestampJsonata(e) => {
                        let scope = jsonata_scope(&states, vars, &entropy);
                        let v = eval::jsonata(e, &scope).map_err(|e| cx.fail(e))?;
                        eval::jsonata_wait_timestamp(&v).map_err(|e| cx.fail(e))?
                    }
                    WaitSpec::TimestampPath(_) => cx.entered_ts,
                }
            };
            // Everything before the wait is durable before the engine sleeps through it.
            run.durable().await;
            run.inner.clock.sleep_until_ms(deadline).await;
            None
        }
        Kind::Task(spec) => Some(run_task(run, cx, spec, input, vars, th, Some(&states)).await?),
        Kind::Parallel { branches } => {
            let args = match &st.arguments {
                Some(a) => {
                    let entropy = JournaledEntropy { run, th };
                    let scope = jsonata_scope(&states, vars, &entropy);
                    eval::jsonata_template(a, &scope, "Arguments").map_err(|e| cx.fail(e))?
                }
                None => input.clone(),
            };
            Some(run_parallel(run, branches, &args, vars, th, run_states).await?)
        }
        Kind::Map(spec) => Some(run_map(run, cx, spec, input, &ctx, vars, th, run_states).await?),
    };
    if let Some(r) = &result {
        states["result"] = r.clone();
    }
    let entropy = JournaledEntropy { run, th };
    let scope = jsonata_scope(&states, vars, &entropy);
    let assigned = match &st.assign {
        Some(a) => Some(obj(
            eval::jsonata_template(a, &scope, "Assign").map_err(|e| cx.fail(e))?
        )),
        None => None,
    };
    let output = match &st.output {
        Some(o) => eval::jsonata_template(o, &scope, "Output").map_err(|e| cx.fail(e))?,
        None => result.unwrap_or_else(|| input.clone()),
    };
    Ok(Step {
        next,
        output,
        assigned,
    })
}
