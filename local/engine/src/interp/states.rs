//! The state loop: enter a state, evaluate it (JSONPath or JSONata), retry or catch its
//! failure, exit, and go on to the next.

use std::sync::Arc;

use cordon_asl_eval::{self as eval, Entropy};
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::data::{
    MAX_PAYLOAD, StateCtx, context, jsonata_scope, obj, path_scope, result_path, size_fail,
};
use super::evaluate::execute;
use super::fail::{Fail, error_matches};
use super::replay::{JournaledEntropy, Run, Thread};
use crate::history::{Details, NOT_TRUNCATED, details, state_event, text};
use crate::model::{Kind, PathField, QueryLanguage, State, States};

pub(super) fn run_states<'a>(
    run: &'a Run,
    states: &'a Arc<States>,
    input: Value,
    vars: &'a mut Map<String, Value>,
    th: &'a mut Thread,
    item: Option<&'a Value>,
) -> BoxFuture<'a, Result<Value, Fail>> {
    Box::pin(async move {
        let mut cur: &str = &states.start_at;
        let mut input = input;
        // The previous state's output text is the next state's input text.
        let mut input_text: Option<String> = None;
        loop {
            // A broken replay emits nothing more: its states must not run on.
            run.check_broken().await;
            let Some(st) = states.states.get(cur) else {
                return Err(Fail::new(
                    "States.Runtime",
                    format!("State '{cur}' does not exist"),
                ));
            };
            let (next, out, out_text) =
                run_state(run, st, input, input_text.take(), vars, th, item).await?;
            match next {
                Some(n) => {
                    cur = states
                        .states
                        .get_key_value(n.as_str())
                        .map(|(k, _)| k.as_str())
                        .unwrap_or("");
                    if cur.is_empty() {
                        return Err(Fail::new(
                            "States.Runtime",
                            format!("State '{n}' does not exist"),
                        ));
                    }
                    input = out;
                    input_text = out_text;
                }
                None => return Ok(out),
            }
        }
    })
}

pub(super) async fn run_state(
    run: &Run,
    st: &State,
    input: Value,
    input_text: Option<String>,
    vars: &mut Map<String, Value>,
    th: &mut Thread,
    item: Option<&Value>,
) -> Result<(Option<String>, Value, Option<String>), Fail> {
    let ty = st.type_name;
    let entered_prev = th.last;
    let input_text = match input_text {
        Some(t) => Value::String(t),
        None => text(&input),
    };
    let (entered_id, entered_ts) = run.emit(
        th,
        state_event(ty, "Entered"),
        "stateEnteredEventDetails",
        details([
            ("name", Value::String(st.name.clone())),
            ("input", input_text),
            ("inputDetails", NOT_TRUNCATED),
        ]),
        true,
    );
    let mut cx = StateCtx {
        st,
        entered_id,
        entered_ts,
        retry_count: 0,
        item,
    };
    let mut attempts = vec![0u64; st.retry.len()];
    loop {
        let r = execute(run, &cx, &input, vars, th, run_states).await;
        // The output text serves the size check, the exited event and the next state's
        // entered event.
        let r = match r {
            Ok(step) => {
                let t = serde_json::to_string(&step.output).unwrap_or_default();
                if t.len() > MAX_PAYLOAD {
                    Err(size_fail(st))
                } else {
                    Ok((step, t))
                }
            }
            Err(f) => Err(f),
        };
        match r {
            Ok((step, out_text)) => {
                if let Some(a) = &step.assigned {
                    for (k, v) in a {
                        vars.insert(k.clone(), v.clone());
                    }
                }
                let next = if st.end || matches!(st.kind, Kind::Succeed) {
                    None
                } else {
                    step.next.or_else(|| st.next.clone())
                };
                let out_text = if !matches!(st.kind, Kind::Fail { .. }) {
                    emit_exited(
                        run,
                        th,
                        st,
                        Value::String(out_text.clone()),
                        step.assigned.as_ref(),
                    );
                    next.is_some().then_some(out_text)
                } else {
                    None
                };
                return Ok((next, step.output, out_text));
            }
            Err(f) => {
                if matches!(st.kind, Kind::Fail { .. }) {
                    state_failed(run, th, st, entered_prev, &f);
                    return Err(f);
                }
                if let Some(i) = st
                    .retry
                    .iter()
                    .position(|r| error_matches(&r.error_equals, &f.error))
                {
                    let r = &st.retry[i];
                    if attempts[i] < r.max_attempts {
                        let mut delay =
                            r.interval_seconds * r.backoff_rate.powi(attempts[i] as i32);
                        if let Some(m) = r.max_delay_seconds {
                            delay = delay.min(m);
                        }
                        if r.jitter_full {
                            let entropy = JournaledEntropy { run, th };
                            let x = entropy.next_u64();
                            delay *= (x % 1_000_000) as f64 / 1_000_000.0;
                        }
                        attempts[i] += 1;
                        cx.retry_count += 1;
                        // A replayed retry needs no sleep: the next attempt's events are in the
                        // journal with their own timestamps.
                        if run.replayed(th).is_none() {
                            // The failed attempt is history: durable before the wait, or a
                            // crash during the backoff would lose it and run the task again.
                            run.durable().await;
                            tokio::time::sleep(std::time::Duration::from_millis(
                                (delay * 1000.0) as u64,
                            ))
                            .await;
                        }
                        continue;
                    }
                }
                state_failed(run, th, st, entered_prev, &f);
                if let Some(c) = st
                    .catch
                    .iter()
                    .find(|c| error_matches(&c.error_equals, &f.error))
                {
                    let eo = f.output();
                    let (output, assigned) = if st.ql == QueryLanguage::Jsonata {
                        let ctx = context(run, &cx, None);
                        let states = json!({"input": input, "context": ctx, "errorOutput": eo});
                        let entropy = JournaledEntropy { run, th };
                        let scope = jsonata_scope(&states, vars, &entropy);
                        let assigned = match &c.assign {
                            Some(a) => Some(obj(eval::jsonata_template(a, &scope, "Assign")
                                .map_err(|e| cx.fail(e))?)),
                            None => None,
                        };
                        let output = match &c.output {
                            Some(o) => eval::jsonata_template(o, &scope, "Output")
                                .map_err(|e| cx.fail(e))?,
                            None => eo,
                        };
                        (output, assigned)
                    } else {
                        let ctx = context(run, &cx, None);
                        let entropy = JournaledEntropy { run, th };
                        let assigned = match &c.assign {
                            Some(a) => {
                                let scope = path_scope(&eo, &ctx, vars, &entropy);
                                Some(obj(eval::payload_template(a, &scope, "Assign")
                                    .map_err(|e| cx.fail(e))?))
                            }
                            None => None,
                        };
                        let output = match &c.result_path {
                            PathField::Default => eo,
                            PathField::Null => input.clone(),
                            PathField::Path(p) => {
                                result_path(&input, p, eo).map_err(|e| cx.fail(e))?
                            }
                        };
                        (output, assigned)
                    };
                    if let Some(a) = &assigned {
                        for (k, v) in a {
                            vars.insert(k.clone(), v.clone());
                        }
                    }
                    emit_exited(run, th, st, text(&output), assigned.as_ref());
                    return Ok((Some(c.next.clone()), output, None));
                }
                // A state whose failure ends a Parallel branch is reported aborted.
                if th
                    .prefix
                    .rsplit('/')
                    .next()
                    .is_some_and(|seg| seg.starts_with('b'))
                {
                    run.emit(th, state_event(ty, "Aborted"), "", Details::None, false);
                }
                return Err(f);
            }
        }
    }
}

/// Events of a state failing for good (not retried): `EvaluationFailed` for a query error,
/// `MapStateFailed`/`ParallelStateFailed`.
pub(super) fn state_failed(run: &Run, th: &mut Thread, st: &State, entered_prev: u64, f: &Fail) {
    if f.error == "States.QueryEvaluationError" {
        let mut d = vec![("error", Value::String(f.error.clone()))];
        if let Some(c) = &f.cause {
            d.push(("cause", Value::String(c.clone())));
            if let Some(i) = c.find("specified for the field '") {
                let rest = &c[i + 25..];
                if let Some(j) = rest.find('\'') {
                    d.push(("location", Value::String(rest[..j].to_string())));
                }
            } else if c.contains("The Timestamp field cannot be parsed") {
                d.push(("location", Value::String("Timestamp".into())));
            }
        }
        d.push(("state", Value::String(st.name.clone())));
        let saved = th.last;
        // A Wait's JSONata Timestamp failure follows the state's entered event.
        if !matches!(st.kind, Kind::Wait(_)) {
            th.last = entered_prev;
        }
        run.emit(
            th,
            "EvaluationFailed",
            "evaluationFailedEventDetails",
            details(d),
            true,
        );
        if saved > th.last {
            th.last = saved;
        }
    }
    match st.kind {
        // A Map failing on its own configuration (States.Runtime) ends without MapStateFailed.
        Kind::Map(_) if f.error != "States.Runtime" => {
            run.emit(th, "MapStateFailed", "", Details::None, true);
        }
        Kind::Parallel { .. } => {
            run.emit(th, "ParallelStateFailed", "", Details::None, true);
        }
        _ => {}
    }
}

pub(super) fn emit_exited(
    run: &Run,
    th: &mut Thread,
    st: &State,
    output_text: Value,
    assigned: Option<&Map<String, Value>>,
) {
    let mut d = vec![
        ("name", Value::String(st.name.clone())),
        ("output", output_text),
        ("outputDetails", NOT_TRUNCATED),
    ];
    // AWS leaves out an empty assignment.
    if let Some(a) = assigned.filter(|a| !a.is_empty()) {
        let m: Map<String, Value> = a.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        d.push(("assignedVariables", Value::Object(m)));
        d.push(("assignedVariablesDetails", NOT_TRUNCATED));
    }
    run.emit(
        th,
        state_event(st.type_name, "Exited"),
        "stateExitedEventDetails",
        details(d),
        true,
    );
}
