//! Lambda functions called by a legacy function ARN (`LambdaFunction*` events), and the
//! helpers the `lambda:invoke` integration shares with it.

use serde_json::{Value, json};

use super::data::{MAX_PAYLOAD, TaskCall, json_len};
use super::fail::Fail;
use super::replay::{LAMBDA_OUTCOMES, Run, Thread, replay_outcome};
use crate::dispatch::{LambdaInvokeError, LambdaValueResponse};
use crate::history::{Details, NOT_TRUNCATED, details, text};
use crate::model::TaskSpec;
use crate::runtime::Inner;

/// Run a Task whose resource is a function ARN: schedule, start, invoke (or recognise the
/// journaled outcome), and report.
pub(super) async fn run_function(
    run: &Run,
    th: &mut Thread,
    spec: &TaskSpec,
    call: TaskCall<'_>,
) -> Result<Value, Fail> {
    let inner = &run.inner;
    let TaskCall {
        params, timeout, ..
    } = call;
    let mut d = vec![
        ("input", text(&params)),
        ("inputDetails", NOT_TRUNCATED),
        ("resource", Value::String(spec.resource.clone())),
    ];
    if let Some(t) = timeout {
        d.push(("timeoutInSeconds", Value::from(t)));
    }
    run.emit(
        th,
        "LambdaFunctionScheduled",
        "lambdaFunctionScheduledEventDetails",
        details(d),
        true,
    );
    let (_, started_ts) = run.emit(th, "LambdaFunctionStarted", "", Details::None, true);
    if let Some(ev) = run.replayed(th) {
        return replay_outcome(run, th, &ev, LAMBDA_OUTCOMES).await;
    }
    run.durable().await;
    let lambda = inner
        .lambda
        .clone()
        .ok_or_else(|| Fail::new("States.Runtime", "no Lambda service configured"))?;
    // In-process functions take the value itself; others get the JSON bytes.
    let call = async {
        if let Some(f) = lambda.invoke_value(&spec.resource, &params) {
            return f.await.map(|r| match r {
                LambdaValueResponse::Value(v) => (None, Some(v)),
                LambdaValueResponse::Response(r) => (Some(r), None),
            });
        }
        let payload = serde_json::to_vec(&params).unwrap_or_default();
        lambda
            .invoke(&spec.resource, payload)
            .await
            .map(|r| (Some(r), None))
    };
    let r = match timeout {
        Some(t) => {
            let deadline = started_ts + t * 1000;
            tokio::select! {
                r = call => Some(r),
                _ = inner.clock.sleep_until_ms(deadline) => None,
            }
        }
        None => Some(call.await),
    };
    let fail = |run: &Run,
                th: &mut Thread,
                ty: &'static str,
                dk: &'static str,
                f: Fail|
     -> Result<Value, Fail> {
        let mut d = vec![("error", Value::String(f.error.clone()))];
        if let Some(c) = &f.cause {
            d.push(("cause", Value::String(c.clone())));
        }
        run.emit(th, ty, dk, details(d), true);
        Err(f)
    };
    match r {
        None => fail(
            run,
            th,
            "LambdaFunctionTimedOut",
            "lambdaFunctionTimedOutEventDetails",
            Fail {
                error: "States.Timeout".into(),
                cause: None,
            },
        ),
        Some(Err(e)) => fail(
            run,
            th,
            "LambdaFunctionFailed",
            "lambdaFunctionFailedEventDetails",
            lambda_error_fail(inner, &spec.resource, &e),
        ),
        Some(Ok((resp, value))) => {
            if let Some(resp) = resp.as_ref().filter(|r| r.function_error.is_some()) {
                return fail(
                    run,
                    th,
                    "LambdaFunctionFailed",
                    "lambdaFunctionFailedEventDetails",
                    function_error_fail(&resp.payload),
                );
            }
            let size = match (&resp, &value) {
                (_, Some(v)) => json_len(v),
                (Some(r), None) => r.payload.len(),
                (None, None) => 0,
            };
            if size > MAX_PAYLOAD {
                return fail(
                    run,
                    th,
                    "LambdaFunctionFailed",
                    "lambdaFunctionFailedEventDetails",
                    Fail::new(
                        "States.DataLimitExceeded",
                        format!(
                            "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                            spec.resource
                        ),
                    ),
                );
            }
            let out: Value = match (value, resp) {
                (Some(v), _) => v,
                (None, Some(resp)) => serde_json::from_slice(&resp.payload).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&resp.payload).into_owned())
                }),
                (None, None) => Value::Null,
            };
            run.emit(
                th,
                "LambdaFunctionSucceeded",
                "lambdaFunctionSucceededEventDetails",
                details([("output", text(&out)), ("outputDetails", NOT_TRUNCATED)]),
                true,
            );
            Ok(out)
        }
    }
}

pub(super) fn lambda_service_response(
    payload: &[u8],
    executed_version: &str,
    request_id: &str,
) -> Value {
    let p: Value = serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
    let len = payload.len().to_string();
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    json!({
        "ExecutedVersion": executed_version,
        "Payload": p,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": [executed_version],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Length": [len],
                "Date": [date],
                "X-Amzn-Trace-Id": [format!("Root=1-{}", &request_id.replace('-', "")[..24.min(request_id.replace('-', "").len())])],
                "Content-Type": ["application/json"],
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": len,
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": executed_version,
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id,
                "X-Amzn-Trace-Id": format!("Root=1-{}", &request_id.replace('-', "")[..24.min(request_id.replace('-', "").len())]),
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    })
}

pub(super) fn function_arn(inner: &Inner, f: &str) -> String {
    if f.starts_with("arn:") {
        if f.split(':').count() == 7 {
            format!("{f}:$LATEST")
        } else {
            f.to_string()
        }
    } else {
        let (name, q) = f.split_once(':').unwrap_or((f, "$LATEST"));
        format!(
            "arn:{}:lambda:{}:{}:function:{}:{}",
            inner.partition, inner.region, inner.account_id, name, q
        )
    }
}

pub(super) fn lambda_error_fail(inner: &Inner, function: &str, e: &LambdaInvokeError) -> Fail {
    match e {
        LambdaInvokeError::ResourceNotFound { .. } => Fail::new(
            "Lambda.ResourceNotFoundException",
            format!(
                "Function not found: {} (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: {}; Proxy: null)",
                function_arn(inner, function),
                uuid::Uuid::new_v4()
            ),
        ),
        LambdaInvokeError::Service { error, message } => {
            Fail::new(format!("Lambda.{error}"), message.clone())
        }
    }
}

pub(super) fn function_error_fail(payload: &[u8]) -> Fail {
    let text = String::from_utf8_lossy(payload).into_owned();
    let error = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Exception".to_string());
    Fail::new(error, text)
}
