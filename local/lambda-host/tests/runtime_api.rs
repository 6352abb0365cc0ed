//! The host against a real `lambda_runtime` function binary (`cordon-test-function`).

use std::time::{Duration, Instant};

use cordon_engine::{LambdaInvokeError, LambdaInvoker, LambdaResponse};
use cordon_lambda_host::{FunctionSpec, HostConfig, LambdaHost};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_cordon-test-function");

fn host_with(spec: FunctionSpec) -> LambdaHost {
    let host = LambdaHost::new(HostConfig::default());
    host.register(spec).unwrap();
    host
}

async fn call(host: &LambdaHost, f: &str, event: Value) -> (Value, Option<String>) {
    let LambdaResponse {
        payload,
        function_error,
        executed_version,
    } = host
        .invoke(f, serde_json::to_vec(&event).unwrap())
        .await
        .unwrap();
    assert_eq!(executed_version, "$LATEST");
    (serde_json::from_slice(&payload).unwrap(), function_error)
}

#[tokio::test]
async fn echoes_and_sets_the_lambda_environment() {
    let host = host_with(FunctionSpec::new("echo", BIN).env("CUSTOM", "yes"));
    let (out, err) = call(&host, "echo", json!({"hello": "world"})).await;
    assert_eq!(err, None);
    assert_eq!(out, json!({"hello": "world"}));

    let arn = "arn:aws:lambda:us-east-1:123456789012:function:echo";
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let (env, err) = call(&host, arn, json!({"action": "env"})).await;
    assert_eq!(err, None);
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "echo");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["_HANDLER"], "bootstrap");
    assert_eq!(env["CUSTOM"], "yes");
    assert!(
        env["LAMBDA_TASK_ROOT"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(env["invokedFunctionArn"], arn);
    assert!(env["xrayTraceId"].as_str().unwrap().starts_with("Root=1-"));
    let deadline = env["deadlineMs"].as_u64().unwrap();
    let expected = before.as_millis() as u64 + 3000;
    assert!(
        deadline >= expected - 50 && deadline <= expected + 2000,
        "deadline {deadline} vs {expected}"
    );
    assert_eq!(
        host.live_sandboxes("echo"),
        1,
        "the second call reused the warm sandbox"
    );
    assert_eq!(host.cold_starts().len(), 1);
}

#[tokio::test]
async fn typed_errors_and_panics_are_unhandled_function_errors() {
    let host = host_with(FunctionSpec::new("f", BIN));
    let (out, err) = call(
        &host,
        "f",
        json!({"action": "fail", "errorType": "SubjectNotFound"}),
    )
    .await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(out["errorType"], "SubjectNotFound");
    assert_eq!(out["errorMessage"], "the test function failed on purpose");

    let (out, err) = call(&host, "f", json!({"action": "panic"})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("panicked on purpose"),
        "{out}"
    );
    // The runtime survives a handler panic: same sandbox answers next.
    let (out, err) = call(&host, "f", json!({"n": 1})).await;
    assert_eq!((out, err), (json!({"n": 1}), None));
    assert_eq!(host.cold_starts().len(), 1);
}

#[tokio::test]
async fn timeout_kills_the_sandbox_and_reports_sandbox_timedout() {
    let host = host_with(FunctionSpec::new("slow", BIN).timeout(Duration::from_secs(1)));
    call(&host, "slow", json!({})).await; // warm up
    let t = Instant::now();
    let (out, err) = call(&host, "slow", json!({"action": "sleep", "ms": 5000})).await;
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(990) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(out["errorType"], "Sandbox.Timedout");
    let msg = out["errorMessage"].as_str().unwrap();
    assert!(
        msg.starts_with("RequestId: ") && msg.ends_with("Error: Task timed out after 1.00 seconds"),
        "{msg}"
    );
    // The process is gone, and the next invocation gets a fresh one.
    for _ in 0..50 {
        if host.live_sandboxes("slow") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(host.live_sandboxes("slow"), 0);
    let (out, err) = call(&host, "slow", json!({"again": true})).await;
    assert_eq!((out, err), (json!({"again": true}), None));
    assert_eq!(host.cold_starts().len(), 2);
}

#[tokio::test]
async fn a_crash_is_runtime_exit_error() {
    let host = host_with(FunctionSpec::new("crash", BIN));
    let (out, err) = call(&host, "crash", json!({"action": "exit"})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(out["errorType"], "Runtime.ExitError");
    let msg = out["errorMessage"].as_str().unwrap();
    assert!(
        msg.ends_with("Error: Runtime exited with error: exit status 2"),
        "{msg}"
    );
    let (out, err) = call(&host, "crash", json!({"after": "crash"})).await;
    assert_eq!((out, err), (json!({"after": "crash"}), None));
}

#[tokio::test]
async fn init_failures() {
    let host = host_with(FunctionSpec::new("dies", BIN).env("TEST_FUNCTION_INIT", "exit"));
    let (out, err) = call(&host, "dies", json!({})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(out["errorType"], "Runtime.ExitError");
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("exit status 3"),
        "{out}"
    );

    let host = host_with(FunctionSpec::new("posts", BIN).env("TEST_FUNCTION_INIT", "post-error"));
    let (out, err) = call(&host, "posts", json!({})).await;
    assert_eq!(err.as_deref(), Some("Unhandled"));
    assert_eq!(
        out,
        json!({"errorType": "Runtime.ConfigError", "errorMessage": "TEST_SETTING is not set"})
    );
}

#[tokio::test]
async fn busy_sandboxes_make_the_host_start_more() {
    let host = host_with(FunctionSpec::new("par", BIN));
    let t = Instant::now();
    let calls = (0..3).map(|i| {
        let host = host.clone();
        async move { call(&host, "par", json!({"action": "sleep", "ms": 700, "i": i})).await }
    });
    let outs = futures_join(calls).await;
    assert!(
        t.elapsed() < Duration::from_millis(2000),
        "ran concurrently: {:?}",
        t.elapsed()
    );
    for (i, (out, err)) in outs.into_iter().enumerate() {
        assert_eq!(err, None);
        assert_eq!(out["i"], i);
    }
    assert_eq!(host.live_sandboxes("par"), 3);
    assert_eq!(host.cold_starts().len(), 3);
    // All three are warm now: three more calls start nothing.
    let outs = futures_join((0..3).map(|_| {
        let host = host.clone();
        async move { call(&host, "par", json!({"action": "sleep", "ms": 100})).await }
    }))
    .await;
    assert_eq!(outs.len(), 3);
    assert_eq!(host.cold_starts().len(), 3);
    assert_eq!(host.invocations("par"), 6);
}

#[tokio::test]
async fn beyond_the_reserved_concurrency_invocations_are_throttled() {
    let host = host_with(FunctionSpec::new("narrow", BIN).max_concurrency(2));
    let outs = futures_join((0..6).map(|i| {
        let host = host.clone();
        async move {
            let payload = serde_json::to_vec(&json!({"action": "sleep", "ms": 1500, "i": i}));
            host.invoke("narrow", payload.unwrap()).await
        }
    }))
    .await;
    let mut ok = 0;
    for out in outs {
        match out {
            Ok(r) => {
                assert_eq!(r.function_error, None);
                ok += 1;
            }
            Err(LambdaInvokeError::Service { error, message }) => {
                assert_eq!(error, "TooManyRequestsException", "{message}");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    // Six invocations arrived together: two ran, four were refused, none queued.
    assert_eq!(ok, 2);
    assert_eq!(host.cold_starts().len(), 2);
    assert_eq!(host.live_sandboxes("narrow"), 2);
    // Once they are free, the two warm sandboxes serve again.
    let (out, err) = call(
        &host,
        "narrow",
        json!({"action": "sleep", "ms": 10, "i": 9}),
    )
    .await;
    assert_eq!((out["i"].clone(), err), (json!(9), None));
}

async fn futures_join<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn unknown_function_is_resource_not_found() {
    let host = LambdaHost::new(HostConfig::default());
    let err = host.invoke("nope", b"{}".to_vec()).await.unwrap_err();
    match err {
        LambdaInvokeError::ResourceNotFound { message } => {
            assert!(message.contains("function:nope"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        host.register(FunctionSpec::new("x", "/nonexistent/bootstrap"))
            .is_err()
    );
}
