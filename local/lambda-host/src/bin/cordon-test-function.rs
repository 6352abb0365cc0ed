//! A real `lambda_runtime` function for the host's tests and the CLI crash test.
//!
//! Init behaviour comes from `TEST_FUNCTION_INIT`: unset (start normally), `exit` (exit with
//! status 3 before polling), `post-error` (post `/runtime/init/error` then exit).
//! Each event selects what to do with `{"action": ...}`:
//! - `echo` (default): return the event;
//! - `fail`: a typed error (`errorType` = the event's `errorType`, default `TestFailure`);
//! - `sleep`: sleep `ms` milliseconds, then echo;
//! - `panic`: panic inside the handler;
//! - `exit`: exit the process with status 2 mid-invocation;
//! - `env`: return the standard Lambda environment variables and the context;
//! - `flaky`: append a line to `$TEST_FUNCTION_COUNT_DIR/<key>`; fail with `Flaky` while the
//!   count is below `failures`, then return `{"attempts": n}`.
//! - `count`: append to `$TEST_FUNCTION_COUNT_DIR/<key>` and echo.

use std::io::Write;

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[derive(Debug)]
struct Typed(String, String);

impl From<Typed> for Diagnostic {
    fn from(t: Typed) -> Self {
        Diagnostic {
            error_type: t.0,
            error_message: t.1,
        }
    }
}

fn bump(key: &str) -> u64 {
    let dir = std::env::var("TEST_FUNCTION_COUNT_DIR").unwrap_or_else(|_| ".".into());
    let path = std::path::Path::new(&dir).join(key);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(f, "x").unwrap();
    f.sync_all().unwrap();
    std::fs::read_to_string(&path).unwrap().lines().count() as u64
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Typed> {
    let (payload, ctx) = event.into_parts();
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("echo");
    eprintln!("handling action={action} request_id={}", ctx.request_id);
    match action {
        "fail" => Err(Typed(
            payload
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("TestFailure")
                .into(),
            "the test function failed on purpose".into(),
        )),
        "sleep" => {
            let ms = payload.get("ms").and_then(Value::as_u64).unwrap_or(1000);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(payload)
        }
        "panic" => panic!("the test function panicked on purpose"),
        "exit" => std::process::exit(2),
        "env" => {
            let var = |k: &str| std::env::var(k).ok();
            Ok(json!({
                "AWS_LAMBDA_FUNCTION_NAME": var("AWS_LAMBDA_FUNCTION_NAME"),
                "AWS_LAMBDA_FUNCTION_VERSION": var("AWS_LAMBDA_FUNCTION_VERSION"),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                "AWS_REGION": var("AWS_REGION"),
                "_HANDLER": var("_HANDLER"),
                "LAMBDA_TASK_ROOT": var("LAMBDA_TASK_ROOT"),
                "CUSTOM": var("CUSTOM"),
                "requestId": ctx.request_id,
                "invokedFunctionArn": ctx.invoked_function_arn,
                "deadlineMs": ctx.deadline,
                "xrayTraceId": ctx.xray_trace_id,
                "pid": std::process::id(),
            }))
        }
        "flaky" => {
            let key = payload
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("flaky");
            let failures = payload.get("failures").and_then(Value::as_u64).unwrap_or(1);
            let n = bump(key);
            if n <= failures {
                Err(Typed(
                    "Flaky".into(),
                    format!("attempt {n} fails on purpose"),
                ))
            } else {
                Ok(json!({"attempts": n}))
            }
        }
        "count" => {
            let key = payload
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("count");
            let n = bump(key);
            let mut out = payload.clone();
            out["count"] = json!(n);
            Ok(out)
        }
        _ => Ok(payload),
    }
}

fn post_init_error() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    let body = r#"{"errorType":"Runtime.ConfigError","errorMessage":"TEST_SETTING is not set"}"#;
    let req = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = std::net::TcpStream::connect(&api).expect("connect to the Runtime API");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut out);
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    match std::env::var("TEST_FUNCTION_INIT").as_deref() {
        Ok("exit") => {
            eprintln!("init: exiting on purpose");
            std::process::exit(3);
        }
        Ok("post-error") => {
            post_init_error();
            std::process::exit(1);
        }
        _ => {}
    }
    println!("init: test function ready");
    lambda_runtime::run(service_fn(handle)).await
}
