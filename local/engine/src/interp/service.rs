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

/// The `Task*` events of one task: they all name the service and resource.
struct Report<'a> {
    st: &'a State,
    /// The service (`resourceType`).
    service: Value,
    /// `action[.pattern]` (`resource`).
    resource: Value,
}

impl Report<'_> {
    /// `TaskFailed`/`TaskTimedOut` with the failure; the failure.
    fn failed(
        &self,
        run: &Run,
        th: &mut Thread,
        ty: &'static str,
        details_key: &'static str,
        f: Fail,
    ) -> Result<Value, Fail> {
        let mut d = Vec::new();
        // No error at all (SendTaskFailure without one): AWS shows neither error nor cause.
        if !f.error.is_empty() {
            d.push(("error", Value::String(f.error.clone())));
        }
        if let Some(c) = &f.cause {
            d.push(("cause", Value::String(c.clone())));
        }
        d.push(("resourceType", self.service.clone()));
        d.push(("resource", self.resource.clone()));
        run.emit(th, ty, details_key, details(d), true);
        Err(f)
    }

    fn task_failed(&self, run: &Run, th: &mut Thread, f: Fail) -> Result<Value, Fail> {
        self.failed(run, th, "TaskFailed", "taskFailedEventDetails", f)
    }

    fn timed_out(&self, run: &Run, th: &mut Thread) -> Result<Value, Fail> {
        let f = Fail {
            error: "States.Timeout".into(),
            cause: None,
        };
        self.failed(run, th, "TaskTimedOut", "taskTimedOutEventDetails", f)
    }

    /// `TaskSubmitted`'s and `TaskSucceeded`'s details.
    fn output_details(&self, v: &Value) -> Details {
        details([
            ("resourceType", self.service.clone()),
            ("resource", self.resource.clone()),
            ("output", text(v)),
            ("outputDetails", NOT_TRUNCATED),
        ])
    }

    /// The task's result, unless it is over the payload quota.
    fn succeeded(&self, run: &Run, th: &mut Thread, v: Value) -> Result<Value, Fail> {
        if let Err(f) = check_size(self.st, &v) {
            return self.task_failed(run, th, f);
        }
        run.emit(
            th,
            "TaskSucceeded",
            "taskSucceededEventDetails",
            self.output_details(&v),
            true,
        );
        Ok(v)
    }
}

/// Sleep until `deadline` (epoch ms on the engine's clock); forever without one.
async fn sleep_until(inner: &Inner, deadline: Option<i64>) {
    match deadline {
        Some(d) => inner.clock.sleep_until_ms(d).await,
        None => std::future::pending::<()>().await,
    }
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
    let TaskCall {
        params,
        token,
        timeout,
        heartbeat,
    } = call;
    let report = Report {
        st,
        service: Value::String(target.service.clone()),
        resource: Value::String(target.short.clone()),
    };
    let mut d = vec![
        ("resourceType", report.service.clone()),
        ("resource", report.resource.clone()),
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
        details([
            ("resourceType", report.service.clone()),
            ("resource", report.resource.clone()),
        ]),
        true,
    );
    let deadline = timeout.map(|t| started_ts + t * 1000);
    // The token slot exists before the call: a consumer may answer at once.
    let mailbox = token.as_ref().map(|t| {
        let mailbox = Arc::new(TokenBox::default());
        run.exec.state.lock().unwrap().tokens.push(t.clone());
        inner.tokens.lock().unwrap().live.insert(
            t.clone(),
            TokenSlot {
                mailbox: mailbox.clone(),
            },
        );
        mailbox
    });
    let close = || {
        if let Some(t) = &token {
            close_token(inner, t);
        }
    };
    let submitted_ts = match run.replayed(th) {
        Some(ev) if ev.ty != "TaskSubmitted" || token.is_none() => {
            close();
            return replay_outcome(run, th, &ev, TASK_OUTCOMES).await;
        }
        Some(ev) => {
            // Submitted before the restart: keep waiting with the same token.
            drop(params);
            run.emit(
                th,
                "TaskSubmitted",
                "taskSubmittedEventDetails",
                Details::None,
                true,
            );
            if let Some(outcome) = run.replayed(th) {
                close();
                return replay_outcome(run, th, &outcome, TASK_OUTCOMES).await;
            }
            run.check_broken().await;
            ev.ts
        }
        None => {
            run.durable().await;
            let request = ServiceRequest {
                resource: spec.resource.clone(),
                service: target.service,
                action: target.action,
                pattern: target.pattern,
                parameters: params.into_owned(),
                task_token: token.clone(),
                execution_arn: run.exec.arn.clone(),
                state_name: st.name.clone(),
            };
            let r = tokio::select! {
                r = call_service(inner, request) => Some(r),
                _ = sleep_until(inner, deadline) => None,
            };
            let resp = match r {
                None => {
                    close();
                    return report.timed_out(run, th);
                }
                Some(Err(f)) => {
                    close();
                    return report.task_failed(run, th, f);
                }
                Some(Ok(v)) => v,
            };
            if token.is_none() {
                return report.succeeded(run, th, resp);
            }
            let (_, ts) = run.emit(
                th,
                "TaskSubmitted",
                "taskSubmittedEventDetails",
                report.output_details(&resp),
                true,
            );
            run.exec.push_pending(inner);
            ts
        }
    };
    let (Some(token), Some(mailbox)) = (token, mailbox) else {
        unreachable!("only a task with a token is submitted")
    };
    let heartbeat_deadline = heartbeat.map(|h| submitted_ts.max(started_ts) + h * 1000);
    let outcome = wait_for_token(inner, &mailbox, deadline, heartbeat, heartbeat_deadline).await;
    close_token(inner, &token);
    match outcome {
        None => report.timed_out(run, th),
        Some(Ok(v)) => report.succeeded(run, th, v),
        Some(Err(f)) => report.task_failed(run, th, f),
    }
}

/// Call the service: `lambda:invoke` through the Lambda service (its response shaped as the
/// integration's), any other through its integration.
async fn call_service(inner: &Inner, request: ServiceRequest) -> Result<Value, Fail> {
    if request.service != "lambda" {
        let svc = inner
            .services
            .get(&request.service)
            .cloned()
            .ok_or_else(|| {
                Fail::new(
                    "States.Runtime",
                    format!("no integration for {}", request.service),
                )
            })?;
        return svc
            .call(request)
            .await
            .map_err(|e| Fail::new(e.error, e.cause));
    }
    let params = &request.parameters;
    let lambda = inner
        .lambda
        .clone()
        .ok_or_else(|| Fail::new("States.Runtime", "no Lambda service configured"))?;
    let f = params
        .get("FunctionName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // As the Lambda integration does: a string Payload is sent as the raw request body, a
    // missing or null one as `{}`.
    let payload = match params.get("Payload") {
        Some(Value::String(t)) => t.as_bytes().to_vec(),
        Some(Value::Null) | None => b"{}".to_vec(),
        Some(p) => serde_json::to_vec(p).unwrap_or_default(),
    };
    match lambda.invoke(&f, payload).await {
        Err(e) => Err(lambda_error_fail(inner, &f, &e)),
        Ok(resp) if resp.function_error.is_some() => Err(function_error_fail(&resp.payload)),
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
}

/// Wait for the answer to a task token (holding no copy of the parameters): its result or
/// failure, or `None` when the task's timeout or heartbeat runs out first. A heartbeat moves
/// the heartbeat deadline.
async fn wait_for_token(
    inner: &Inner,
    mailbox: &TokenBox,
    deadline: Option<i64>,
    heartbeat: Option<i64>,
    mut heartbeat_deadline: Option<i64>,
) -> Option<Result<Value, Fail>> {
    loop {
        let msg = tokio::select! {
            m = mailbox.recv() => m,
            _ = sleep_until(inner, deadline) => return None,
            _ = sleep_until(inner, heartbeat_deadline) => return None,
        };
        match msg {
            TokenMsg::Heartbeat => {
                heartbeat_deadline = heartbeat.map(|h| inner.clock.now_ms() + h * 1000);
            }
            TokenMsg::Success(v) => return Some(Ok(v)),
            TokenMsg::Failure { error, cause } => return Some(Err(Fail { error, cause })),
        }
    }
}

/// A token answered, timed out or abandoned: it no longer takes answers.
pub(super) fn close_token(inner: &Inner, t: &str) {
    let mut g = inner.tokens.lock().unwrap();
    g.live.remove(t);
    g.closed.insert(t.to_string());
}
