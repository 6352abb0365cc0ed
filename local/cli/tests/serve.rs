//! `cordon serve` as a user runs it: the AWS CLI against it, and a SIGKILL in the middle of
//! running, retrying and token-waiting executions.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CORDON: &str = env!("CARGO_BIN_EXE_cordon");

fn root() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../..")
}

/// The lambda_runtime test function of cordon-lambda-host, built next to `cordon`.
fn test_function() -> PathBuf {
    let dir = Path::new(CORDON).parent().unwrap().to_path_buf();
    let bin = dir.join("cordon-test-function");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "cordon-lambda-host",
                "--bin",
                "cordon-test-function",
            ])
            .current_dir(root())
            .status()
            .expect("run cargo build for cordon-test-function");
        assert!(status.success(), "building cordon-test-function failed");
    }
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

struct Serve {
    child: Child,
    endpoint: String,
}

impl Serve {
    fn start(args: &[String]) -> Serve {
        let mut child = Command::new(CORDON)
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cordon serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("endpoint: ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Serve { child, endpoint }
    }

    fn sigkill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The AWS CLI (`.venv/bin/aws`, installed by `./dev setup`), unchanged but for the endpoint.
fn aws(endpoint: &str, args: &[&str]) -> Value {
    let bin = root().join(".venv/bin/aws");
    assert!(
        bin.exists(),
        "{} missing: run ./dev setup (tools/requirements.txt lists awscli)",
        bin.display()
    );
    let out = Command::new(bin)
        .arg("stepfunctions")
        .args(args)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A small HTTP client for the JSON protocol (the crash test polls a lot; the CLI is slow).
fn sfn(endpoint: &str, op: &str, body: Value) -> Result<Value, Value> {
    use std::io::{Read, Write};
    let addr = endpoint.strip_prefix("http://").unwrap();
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AWSStepFunctions.{op}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if head.starts_with("HTTP/1.1 200") {
        Ok(v)
    } else {
        Err(v)
    }
}

fn history(endpoint: &str, arn: &str) -> Vec<Value> {
    sfn(
        endpoint,
        "GetExecutionHistory",
        json!({"executionArn": arn, "maxResults": 1000}),
    )
    .unwrap()["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// Wait until `pred` holds for the execution's history; returns the history.
fn wait_history(
    endpoint: &str,
    arn: &str,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let h = history(endpoint, arn);
        if pred(&h) {
            return h;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{arn}: timed out waiting for {what}; history: {h:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(h: &[Value], ty: &str) -> usize {
    h.iter().filter(|e| e["type"] == ty).count()
}

/// The task token passed in the parameters of the last `TaskScheduled` event.
fn token_in(h: &[Value]) -> String {
    let e = h
        .iter()
        .rev()
        .find(|e| e["type"] == "TaskScheduled")
        .unwrap();
    let params: Value = serde_json::from_str(
        e["taskScheduledEventDetails"]["parameters"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    params["Payload"]["token"].as_str().unwrap().to_string()
}

fn invocations(dir: &Path, key: &str) -> usize {
    std::fs::read_to_string(dir.join(key))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

const FLOW: &str = r#"{
  "StartAt": "Count",
  "States": {
    "Count": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "fn", "Payload": {"action": "count", "key.$": "States.Format('{}-count', $.id)"}},
      "ResultSelector": {"count.$": "$.Payload.count"}, "ResultPath": "$.counted", "Next": "Flaky"
    },
    "Flaky": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "fn", "Payload": {"action": "flaky", "failures": 1, "key.$": "States.Format('{}-flaky', $.id)"}},
      "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 1.0}],
      "ResultSelector": {"attempts.$": "$.Payload.attempts"}, "ResultPath": "$.flaky", "Next": "Approve"
    },
    "Approve": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "fn", "Payload": {"action": "count", "token.$": "$$.Task.Token", "key.$": "States.Format('{}-approve', $.id)"}},
      "ResultPath": "$.approval", "Next": "Done"
    },
    "Done": {"Type": "Succeed"}
  }
}"#;

fn serve_args(dir: &Path, store: Option<&Path>) -> Vec<String> {
    let asl = dir.join("flow.asl.json");
    std::fs::write(&asl, FLOW).unwrap();
    let mut a = vec![
        "--state-machine".to_string(),
        format!("flow={}", asl.display()),
        "--function".into(),
        format!("fn={},timeout=10", test_function().display()),
        "--function-env".into(),
        format!("TEST_FUNCTION_COUNT_DIR={}", dir.display()),
    ];
    if let Some(s) = store {
        a.push("--store".into());
        a.push(s.display().to_string());
    }
    a
}

const SM: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:flow";

#[test]
fn the_aws_cli_drives_cordon_serve() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&serve_args(dir.path(), None));
    let ep = &serve.endpoint;
    let asl = dir.path().join("other.asl.json");
    std::fs::write(
        &asl,
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"End":true}}}"#,
    )
    .unwrap();
    let created = aws(
        ep,
        &[
            "create-state-machine",
            "--name",
            "other",
            "--definition",
            &format!("file://{}", asl.display()),
            "--role-arn",
            "arn:aws:iam::123456789012:role/r",
        ],
    );
    assert_eq!(
        created["stateMachineArn"],
        "arn:aws:states:us-east-1:123456789012:stateMachine:other"
    );

    let started = aws(
        ep,
        &[
            "start-execution",
            "--state-machine-arn",
            SM,
            "--name",
            "cli-1",
            "--input",
            r#"{"id":"cli"}"#,
        ],
    );
    let arn = started["executionArn"].as_str().unwrap().to_string();
    assert_eq!(
        arn,
        "arn:aws:states:us-east-1:123456789012:execution:flow:cli-1"
    );
    let h = wait_history(ep, &arn, "the approval task", |h| {
        count(h, "TaskSubmitted") == 1
    });
    let d = aws(ep, &["describe-execution", "--execution-arn", &arn]);
    assert_eq!(d["status"], "RUNNING");
    assert_eq!(d["name"], "cli-1");

    aws(
        ep,
        &[
            "send-task-success",
            "--task-token",
            &token_in(&h),
            "--task-output",
            r#"{"decision":"approved"}"#,
        ],
    );
    wait_history(ep, &arn, "success", |h| count(h, "ExecutionSucceeded") == 1);
    let d = aws(ep, &["describe-execution", "--execution-arn", &arn]);
    assert_eq!(d["status"], "SUCCEEDED");
    let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(out["approval"], json!({"decision": "approved"}));
    assert_eq!(out["flaky"], json!({"attempts": 2}));

    let h = aws(ep, &["get-execution-history", "--execution-arn", &arn]);
    let types: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    assert_eq!(
        types.iter().filter(|t| **t == "TaskFailed").count(),
        1,
        "{types:?}"
    );

    // A wrong token is an AWS-shaped error the CLI understands.
    let bin = root().join(".venv/bin/aws");
    let out = Command::new(bin)
        .args([
            "stepfunctions",
            "send-task-success",
            "--task-token",
            "nope",
            "--task-output",
            "{}",
            "--endpoint-url",
            ep,
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("InvalidToken"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigkill_and_restart_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("engine.redb");
    let args = serve_args(dir.path(), Some(&store));
    let serve = Serve::start(&args);
    let ep = serve.endpoint.clone();
    let start = |name: &str| {
        sfn(
            &ep,
            "StartExecution",
            json!({"stateMachineArn": SM, "name": name, "input": json!({"id": name}).to_string()}),
        )
        .unwrap()["executionArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // a: completed two tasks (one after a retry), now waiting for its token.
    let a = start("a");
    wait_history(&ep, &a, "a's approval task", |h| {
        count(h, "TaskSubmitted") == 1
    });
    // b: its first Flaky attempt failed; it is inside the 2 s retry interval.
    let b = start("b");
    wait_history(&ep, &b, "b's first failure", |h| {
        count(h, "TaskFailed") == 1
    });
    // GetExecutionHistory shows only committed events: the failure is on disk. Kill at once,
    // well inside b's 2 s retry interval.
    serve.sigkill();
    assert_eq!(invocations(dir.path(), "b-flaky"), 1);

    let serve = Serve::start(&args);
    let ep = serve.endpoint.clone();
    let hb = wait_history(&ep, &b, "b's approval task after the restart", |h| {
        count(h, "TaskSubmitted") == 1
    });
    let ha = history(&ep, &a);
    for (arn, h) in [(&a, &ha), (&b, &hb)] {
        sfn(
            &ep,
            "SendTaskSuccess",
            json!({"taskToken": token_in(h), "output": "{\"decision\":\"approved\"}"}),
        )
        .unwrap_or_else(|e| panic!("{arn}: token rejected after restart: {e}"));
    }
    for arn in [&a, &b] {
        let h = wait_history(&ep, arn, "success", |h| count(h, "ExecutionSucceeded") >= 1);
        let d = sfn(&ep, "DescribeExecution", json!({"executionArn": arn})).unwrap();
        assert_eq!(d["status"], "SUCCEEDED", "{arn}");
        let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
        assert_eq!(out["counted"], json!({"count": 1}), "{arn}");
        assert_eq!(out["flaky"], json!({"attempts": 2}), "{arn}");
        // The history is whole: ids 1..n, each once, one start, one success, one retry.
        let ids: Vec<u64> = h.iter().map(|e| e["id"].as_u64().unwrap()).collect();
        assert_eq!(
            ids,
            (1..=h.len() as u64).collect::<Vec<_>>(),
            "{arn}: ids not contiguous"
        );
        for (i, e) in h.iter().enumerate().skip(1) {
            assert!(
                e["previousEventId"].as_u64().unwrap() < e["id"].as_u64().unwrap(),
                "{arn}: event {i}"
            );
        }
        assert_eq!(count(&h, "ExecutionStarted"), 1, "{arn}");
        assert_eq!(count(&h, "ExecutionSucceeded"), 1, "{arn}");
        assert_eq!(count(&h, "TaskFailed"), 1, "{arn}");
        assert_eq!(count(&h, "TaskSucceeded"), 3, "{arn}");
        assert_eq!(
            count(&h, "TaskScheduled"),
            4,
            "{arn}: Count, Flaky twice, Approve"
        );
    }
    // No completed task ran again: each function call happened exactly as often as its history says.
    for id in ["a", "b"] {
        assert_eq!(
            invocations(dir.path(), &format!("{id}-count")),
            1,
            "{id}: Count ran again"
        );
        assert_eq!(
            invocations(dir.path(), &format!("{id}-flaky")),
            2,
            "{id}: Flaky ran {} times",
            invocations(dir.path(), &format!("{id}-flaky"))
        );
        assert_eq!(
            invocations(dir.path(), &format!("{id}-approve")),
            1,
            "{id}: the token task was dispatched again"
        );
    }
    // And a second restart changes nothing.
    drop(serve);
    let serve = Serve::start(&args);
    for arn in [&a, &b] {
        let d = sfn(
            &serve.endpoint,
            "DescribeExecution",
            json!({"executionArn": arn}),
        )
        .unwrap();
        assert_eq!(d["status"], "SUCCEEDED");
        let h = history(&serve.endpoint, arn);
        assert_eq!(count(&h, "ExecutionSucceeded"), 1);
    }
}
