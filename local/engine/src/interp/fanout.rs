//! Fan-out: Parallel branches and Map iterations, each a [`Thread`] of its own running an
//! inner state machine through the state loop it is given.

use std::sync::{Arc, Mutex};

use cordon_asl_eval::{self as eval, EvalError};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::data::{StateCtx, jsonata_scope, number, path_scope};
use super::fail::Fail;
use super::replay::{JournaledEntropy, Run, Thread};
use crate::history::{Details, details};
use crate::model::{MapSpec, NumberField, PathField, QueryLanguage, States};
use crate::time::iso;

/// The state loop: runs an inner state machine (a branch, an iteration) on a thread. Given to
/// the fan-out by the state loop itself, so that this module does not depend on it.
pub(super) type RunStates = for<'a> fn(
    &'a Run,
    &'a Arc<States>,
    Value,
    &'a mut Map<String, Value>,
    &'a mut Thread,
    Option<&'a Value>,
) -> BoxFuture<'a, Result<Value, Fail>>;

pub(super) async fn run_parallel(
    run: &Run,
    branches: &[Arc<States>],
    input: &Value,
    vars: &Map<String, Value>,
    th: &mut Thread,
    run_states: RunStates,
) -> Result<Value, Fail> {
    let (started, _) = run.emit(th, "ParallelStateStarted", "", Details::None, true);
    let base = format!("{}:{}", th.prefix, th.seq);
    let last = Mutex::new(started);
    let futs = branches.iter().enumerate().map(|(i, b)| {
        let base = &base;
        let last = &last;
        async move {
            let mut bth = Thread::new(format!("{base}/b{i}"), started);
            let mut bvars = vars.clone();
            let r = run_states(run, b, input.clone(), &mut bvars, &mut bth, None).await;
            let mut l = last.lock().unwrap();
            *l = (*l).max(bth.last);
            r
        }
    });
    let results = futures::future::join_all(futs).await;
    th.last = *last.lock().unwrap();
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(v) => out.push(v),
            Err(f) => return Err(f),
        }
    }
    run.emit(th, "ParallelStateSucceeded", "", Details::None, false);
    Ok(Value::Array(out))
}

#[expect(
    clippy::too_many_arguments,
    reason = "the state's run, context, data and variables, its thread and the state loop"
)]
pub(super) async fn run_map(
    run: &Run,
    cx: &StateCtx<'_>,
    spec: &MapSpec,
    input: &Value,
    ctx: &Value,
    vars: &Map<String, Value>,
    th: &mut Thread,
    run_states: RunStates,
) -> Result<Value, Fail> {
    let st = cx.st;
    let jsonata = st.ql == QueryLanguage::Jsonata;
    let (items, max_conc) = {
        let entropy = JournaledEntropy { run, th };
        let items = if jsonata {
            match &spec.items {
                Some(i) => {
                    let states = json!({"input": input, "context": ctx});
                    let scope = jsonata_scope(&states, vars, &entropy);
                    eval::jsonata_template(i, &scope, "Items").map_err(|e| cx.fail(e))?
                }
                None => input.clone(),
            }
        } else {
            match (&spec.items_path, &spec.items) {
                (_, Some(i)) => {
                    let scope = path_scope(input, ctx, vars, &entropy);
                    eval::payload_template(i, &scope, "Items").map_err(|e| cx.fail(e))?
                }
                (PathField::Path(p), None) => {
                    let scope = path_scope(input, ctx, vars, &entropy);
                    eval::query(p, &scope, "ItemsPath").map_err(|e| cx.fail(e))?
                }
                _ => input.clone(),
            }
        };
        let mc = spec
            .max_concurrency
            .as_ref()
            .map(|n| number(n, cx, input, ctx, vars, &entropy, "MaxConcurrencyPath"))
            .transpose()?;
        (items, mc)
    };
    if jsonata
        && !items.is_array()
        && let Some(Value::String(expr)) = &spec.items
    {
        let e = expr
            .trim()
            .trim_start_matches("{%")
            .trim_end_matches("%}")
            .trim();
        let ty = match &items {
            Value::Object(_) => "object",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            _ => "null",
        };
        return Err(cx.fail(EvalError::new(
            "States.QueryEvaluationError",
            format!("The JSONata expression '{e}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '{ty}' for value: {items}"),
        )));
    }
    let Value::Array(mut items) = items else {
        let f = cx.fail(EvalError::new(
            if jsonata {
                "States.QueryEvaluationError"
            } else {
                "States.Runtime"
            },
            format!("Map state input must be an array but was: {}", items),
        ));
        return Err(f);
    };
    if let Some(b) = &spec.item_batcher {
        let max_items = b
            .get("MaxItemsPerBatch")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
            .max(1) as usize;
        let batch_input = b.get("BatchInput").cloned();
        items = items
            .chunks(max_items)
            .map(|c| {
                let mut m = match &batch_input {
                    Some(Value::Object(o)) => o.clone(),
                    _ => Map::new(),
                };
                m.insert("Items".into(), Value::Array(c.to_vec()));
                Value::Object(m)
            })
            .collect();
    }
    let n = items.len();
    let (started, _) = run.emit(
        th,
        "MapStateStarted",
        "mapStateStartedEventDetails",
        details([("length", Value::from(n))]),
        true,
    );
    // AWS reads the tolerated-failure paths once the Map has started.
    let (tol_count, tol_pct) = {
        let entropy = JournaledEntropy { run, th };
        let read = |field: &Option<NumberField>, name: &str| {
            field
                .as_ref()
                .map(|n| number(n, cx, input, ctx, vars, &entropy, name))
                .transpose()
        };
        (
            read(&spec.tolerated_count, "ToleratedFailureCountPath")?,
            read(&spec.tolerated_percentage, "ToleratedFailurePercentagePath")?,
        )
    };
    let base = format!("{}:{}", th.prefix, th.seq);
    let pointer = Mutex::new(started);
    let last_succeeded = Mutex::new(started);
    let last_succeeded = &last_succeeded;
    let failures = Mutex::new(0usize);
    let tolerated = |fails: usize| -> bool {
        let by_count = tol_count.map(|c| (fails as f64) <= c).unwrap_or(false);
        let by_pct = tol_pct
            .map(|p| n > 0 && (fails as f64) * 100.0 / (n as f64) <= p)
            .unwrap_or(false);
        by_count || by_pct
    };
    let conc = match max_conc {
        Some(c) if c >= 1.0 => c as usize,
        _ => n.max(1),
    };
    let name = Value::String(st.name.clone());
    let iters = items.into_iter().enumerate().map(|(i, item)| {
        let base = &base;
        let pointer = &pointer;
        let failures = &failures;
        let name = name.clone();
        let tolerated = &tolerated;
        async move {
            let prev = *pointer.lock().unwrap();
            let mut ith = Thread::new(format!("{base}/m{i}"), prev);
            let d = details([("index", Value::from(i)), ("name", name.clone())]);
            run.emit(&mut ith, "MapIterationStarted", "mapIterationStartedEventDetails", d.clone(), true);
            let item_ctx = json!({"Index": i, "Value": item});
            let entropy = JournaledEntropy { run, th: &ith };
            let sel = match &spec.item_selector {
                Some(s) if jsonata => {
                    let mut c2 = ctx.clone();
                    if let Value::Object(o) = &mut c2 {
                        o.insert("Map".into(), json!({"Item": item_ctx}));
                    }
                    let states = json!({"input": input, "context": c2});
                    let scope = jsonata_scope(&states, vars, &entropy);
                    eval::jsonata_template(s, &scope, "ItemSelector").map_err(|e| cx.fail(e))
                }
                Some(s) => {
                    let mut c2 = if ctx.is_null() {
                        json!({"Execution": run.exec.context().0, "StateMachine": run.exec.context().1, "State": {"Name": st.name, "EnteredTime": iso(cx.entered_ts)}})
                    } else {
                        ctx.clone()
                    };
                    if let Value::Object(o) = &mut c2 {
                        o.insert("Map".into(), json!({"Item": item_ctx}));
                    }
                    let scope = path_scope(input, &c2, vars, &entropy);
                    eval::payload_template(s, &scope, "ItemSelector").map_err(|e| cx.fail(e))
                }
                None => Ok(item.clone()),
            };
            let mut ivars = vars.clone();
            let r = match sel {
                Ok(v) => run_states(run, &spec.processor, v, &mut ivars, &mut ith, None).await,
                Err(f) => Err(f),
            };
            let out = match r {
                Ok(v) => {
                    let (id, _) = run.emit(&mut ith, "MapIterationSucceeded", "mapIterationSucceededEventDetails", d, false);
                    let mut ls = last_succeeded.lock().unwrap();
                    *ls = (*ls).max(id);
                    Ok(v)
                }
                Err(f) => {
                    run.emit(&mut ith, "MapIterationFailed", "mapIterationFailedEventDetails", d, false);
                    let mut fl = failures.lock().unwrap();
                    *fl += 1;
                    if tolerated(*fl) { Ok(f.output()) } else { Err(f) }
                }
            };
            *pointer.lock().unwrap() = ith.last;
            out
        }
    });
    let mut stream = futures::stream::iter(iters).buffered(conc);
    let mut results = Vec::with_capacity(n);
    let mut failed = None;
    while let Some(r) = stream.next().await {
        match r {
            Ok(v) => results.push(v),
            Err(f) => {
                failed = Some(f);
                break;
            }
        }
    }
    drop(stream);
    th.last = *pointer.lock().unwrap();
    if let Some(mut f) = failed {
        if tol_count.is_some() || tol_pct.is_some() {
            f = Fail::new(
                "States.ExceedToleratedFailureThreshold",
                "The specified tolerated failure threshold was exceeded",
            );
        }
        return Err(f);
    }
    th.last = *last_succeeded.lock().unwrap();
    run.emit(th, "MapStateSucceeded", "", Details::None, false);
    Ok(Value::Array(results))
}
