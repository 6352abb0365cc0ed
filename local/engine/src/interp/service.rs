//! Service integrations (`arn:aws:states:::service:action[.pattern]`, `lambda:invoke`
//! included): `Task*` events, the request-response, `.sync` and `.waitForTaskToken` patterns,
//! heartbeats and timeouts.

use std::sync::Arc;

use serde_json::Value;

use super::data::{MAX_PAYLOAD, TaskCall, check_size};
use super::fail::Fail;
use super::lambda::{function_error_fail, lambda_error_fail, lambda_service_response};
use super::replay::{Run, TASK_OUTCOMES, Thread, replay_outcome};
use crate::dispatch::{IntegrationPattern, ServiceRequest};
use crate::history::{Details, NOT_TRUNCATED, details, text};
use crate::model::{State, TaskSpec};
use crate::runtime::{Inner, TokenBox, TokenMsg, TokenSlot};

/// The service a Task calls, from its resource.
pub(super) struct Service {
    pub service: String,
    pub action: String,
    /// `service:action[.pattern]` as history events name the resource.
    pub short: String,
    pub pattern: IntegrationPattern,
}

/// Run a Task that calls a service integration: schedule, start, call (or recognise the
/// journaled outcome), wait for its task token if it has one, and report.
pub(super) async fn run_service_task(
    run: &Run,
    th: &mut Thread,
    st: &State,
    spec: &TaskSpec,
    target: Service,
    call: TaskCall<'_>,
) -> Result<Value, Fail> {
    let inner = &run.inner;
    let Service {
        service,
        action,
        short,
        pattern,
    } = target;
    let TaskCall {
        params,
        token,
        timeout,
        heartbeat,
    } = call;
    let rt = Value::String(service.clone());
    let rs = Value::String(short.clone());
    let mut d = vec![
        ("resourceType", rt.clone()),
        ("resource", rs.clone()),
        ("region", Value::String(inner.region.clone())),
        ("parameters", text(&params)),
    ];
    if let Some(t) = timeout {
        d.push(("timeoutInSeconds", Value::from(t)));
    }
    if let Some(h) = heartbeat {
        d.push(("heartbeatInSeconds", Value::from(h)));
    }
    run.emit(
        th,
        "TaskScheduled",
        "taskScheduledEventDetails",
        details(d),
        true,
    );
    let (_, started_ts) = run.emit(
        th,
        "TaskStarted",
        "taskStartedEventDetails",
        details([("resourceType", rt.clone()), ("resource", rs.clone())]),
        true,
    );
    let task_fail = |run: &Run,
                     th: &mut Thread,
                     ty: &'static str,
                     dk: &'static str,
                     f: Fail|
     -> Result<Value, Fail> {
        let mut d = Vec::new();
        // No error at all (SendTaskFailure without one): AWS shows neither error nor cause.
        if !f.error.is_empty() {
            d.push(("error", Value::String(f.error.clone())));
        }
        if let Some(c) = &f.cause {
            d.push(("cause", Value::String(c.clone())));
        }
        d.push(("resourceType", Value::String(service.clone())));
        d.push(("resource", Value::String(short.clone())));
        run.emit(th, ty, dk, details(d), true);
        Err(f)
    };
    let timed_out = |run: &Run, th: &mut Thread| {
        let f = Fail {
            error: "States.Timeout".into(),
            cause: None,
        };
        task_fail(run, th, "TaskTimedOut", "taskTimedOutEventDetails", f)
    };
    // TaskSubmitted's and TaskSucceeded's details.
    let output_details = |v: &Value| {
        details([
            ("resourceType", rt.clone()),
            ("resource", rs.clone()),
            ("output", text(v)),
            ("outputDetails", NOT_TRUNCATED),
        ])
    };
    // The task's result, unless it is over the payload quota.
    let succeeded = |run: &Run, th: &mut Thread, v: Value| {
        if let Err(f) = check_size(st, &v) {
            return task_fail(run, th, "TaskFailed", "taskFailedEventDetails", f);
        }
        run.emit(
            th,
            "TaskSucceeded",
            "taskSucceededEventDetails",
            output_details(&v),
            true,
        );
        Ok(v)
    };
    let deadline = timeout.map(|t| started_ts + t * 1000);
    let sleep_deadline = |d: Option<i64>| async move {
        match d {
            Some(d) => inner.clock.sleep_until_ms(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    // The token slot exists before the call: a consumer may answer at once.
    let mut token_rx = None;
    if let Some(t) = &token {
        let mailbox = Arc::new(TokenBox::default());
        run.exec.state.lock().unwrap().tokens.push(t.clone());
        inner.tokens.lock().unwrap().live.insert(
            t.clone(),
            TokenSlot {
                mailbox: mailbox.clone(),
            },
        );
        token_rx = Some(mailbox);
    }
    let replayed_next = run.replayed(th);
    let submitted_ts;
    match replayed_next {
        Some(ev) if ev.ty != "TaskSubmitted" || token.is_none() => {
            if let Some(t) = &token {
                close_token(inner, t);
            }
            return replay_outcome(run, th, &ev, TASK_OUTCOMES).await;
        }
        Some(ev) => {
            // Submitted before the restart: keep waiting with the same token.
            submitted_ts = ev.ts;
            run.emit(
                th,
                "TaskSubmitted",
                "taskSubmittedEventDetails",
                Details::None,
                true,
            );
            if let Some(ev2) = run.replayed(th) {
                if let Some(t) = &token {
                    close_token(inner, t);
                }
                return replay_outcome(run, th, &ev2, TASK_OUTCOMES).await;
            }
            run.check_broken().await;
        }
        None => {
            run.durable().await;
            let call = async {
                if service == "lambda" {
                    let lambda = inner.lambda.clone().ok_or_else(|| {
                        Fail::new("States.Runtime", "no Lambda service configured")
                    })?;
                    let f = params
                        .get("FunctionName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    // As the Lambda integration does: a string Payload is sent as the
                    // raw request body, a missing or null one as `{}`.
                    let payload = match params.get("Payload") {
                        Some(Value::String(t)) => t.as_bytes().to_vec(),
                        Some(Value::Null) | None => b"{}".to_vec(),
                        Some(p) => serde_json::to_vec(p).unwrap_or_default(),
                    };
                    match lambda.invoke(&f, payload).await {
                        Err(e) => Err(lambda_error_fail(inner, &f, &e)),
                        Ok(resp) if resp.function_error.is_some() => {
                            Err(function_error_fail(&resp.payload))
                        }
                        Ok(resp) if resp.payload.len() > MAX_PAYLOAD => Err(Fail::new(
                            "States.DataLimitExceeded",
                            "The state/task 'lambda' returned a result with a size exceeding the maximum number of bytes service limit.",
                        )),
                        Ok(resp) => Ok(lambda_service_response(
                            &resp.payload,
                            &resp.executed_version,
                            &uuid::Uuid::new_v4().to_string(),
                        )),
                    }
                } else {
                    let svc = inner.services.get(&service).cloned().ok_or_else(|| {
                        Fail::new("States.Runtime", format!("no integration for {service}"))
                    })?;
                    svc.call(ServiceRequest {
                        resource: spec.resource.clone(),
                        service: service.clone(),
                        action: action.clone(),
                        pattern,
                        parameters: params.clone().into_owned(),
                        task_token: token.clone(),
                        execution_arn: run.exec.arn.clone(),
                        state_name: st.name.clone(),
                    })
                    .await
                    .map_err(|e| Fail::new(e.error, e.cause))
                }
            };
            let r = tokio::select! {
                r = call => Some(r),
                _ = sleep_deadline(deadline) => None,
            };
            let resp = match r {
                None => {
                    if let Some(t) = &token {
                        close_token(inner, t);
                    }
                    return timed_out(run, th);
                }
                Some(Err(f)) => {
                    if let Some(t) = &token {
                        close_token(inner, t);
                    }
                    return task_fail(run, th, "TaskFailed", "taskFailedEventDetails", f);
                }
                Some(Ok(v)) => v,
            };
            if token.is_none() {
                return succeeded(run, th, resp);
            }
            let (_, ts) = run.emit(
                th,
                "TaskSubmitted",
                "taskSubmittedEventDetails",
                output_details(&resp),
                true,
            );
            submitted_ts = ts;
            run.exec.push_pending(inner);
        }
    }
    // Wait for the token (holding no copy of the parameters).
    drop(params);
    let tok = token.clone().unwrap_or_default();
    let rx = token_rx.expect("token slot");
    let mut hb_deadline = heartbeat.map(|h| submitted_ts.max(started_ts) + h * 1000);
    loop {
        let msg = tokio::select! {
            m = rx.recv() => Some(m),
            _ = sleep_deadline(deadline) => {
                close_token(inner, &tok);
                return timed_out(run, th);
            }
            _ = sleep_deadline(hb_deadline) => {
                close_token(inner, &tok);
                return timed_out(run, th);
            }
        };
        match msg {
            Some(TokenMsg::Heartbeat) => {
                hb_deadline = heartbeat.map(|h| inner.clock.now_ms() + h * 1000);
            }
            Some(TokenMsg::Success(v)) => {
                close_token(inner, &tok);
                return succeeded(run, th, v);
            }
            Some(TokenMsg::Failure { error, cause }) => {
                close_token(inner, &tok);
                return task_fail(
                    run,
                    th,
                    "TaskFailed",
                    "taskFailedEventDetails",
                    Fail { error, cause },
                );
            }
            None => std::future::pending::<()>().await,
        }
    }
}

/// A token answered, timed out or abandoned: it no longer takes answers.
pub(super) fn close_token(inner: &Inner, t: &str) {
    let mut g = inner.tokens.lock().unwrap();
    g.live.remove(t);
    g.closed.insert(t.to_string());
}
