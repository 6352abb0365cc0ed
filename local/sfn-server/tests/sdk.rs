//! The server driven by the unmodified `aws-sdk-sfn`, only the endpoint changed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use cordon_engine::{Engine, EngineConfig, InProcessLambdas};
use cordon_sfn_server::Server;
use serde_json::{Value, json};

const DEFINITION: &str = r#"{
  "StartAt": "Mode",
  "States": {
    "Mode": {"Type": "Choice", "Choices": [{"And": [{"Variable": "$.mode", "IsPresent": true}, {"Variable": "$.mode", "StringEquals": "wait"}], "Next": "Sleep"}], "Default": "Prepare"},
    "Sleep": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
    "Prepare": {"Type": "Pass", "Result": "prepared", "ResultPath": "$.step", "Next": "Ask"},
    "Ask": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "ask", "Payload": {"token.$": "$$.Task.Token", "who.$": "$.who"}},
      "ResultPath": "$.approval",
      "Next": "Done"
    },
    "Done": {"Type": "Succeed"}
  }
}"#;

struct Fixture {
    client: Client,
    tokens: Arc<Mutex<Vec<(String, String)>>>,
    _server: Server,
}

async fn fixture() -> Fixture {
    let tokens: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let t = tokens.clone();
    let lambdas = InProcessLambdas::new().with("ask", move |ev: Value| {
        let t = t.clone();
        async move {
            t.lock().unwrap().push((
                ev["who"].as_str().unwrap_or_default().to_string(),
                ev["token"].as_str().unwrap().to_string(),
            ));
            Ok(json!({}))
        }
    });
    let engine = Engine::start(EngineConfig {
        lambda: Some(Arc::new(lambdas)),
        ..Default::default()
    })
    .await
    .unwrap();
    let server = Server::start(engine, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let creds = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(server.endpoint())
        .load()
        .await;
    Fixture {
        client: Client::new(&cfg),
        tokens,
        _server: server,
    }
}

async fn token_for(f: &Fixture, who: &str) -> String {
    for _ in 0..200 {
        if let Some((_, t)) = f.tokens.lock().unwrap().iter().find(|(w, _)| w == who) {
            return t.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no task token issued for {who}");
}

async fn wait_status(
    c: &Client,
    arn: &str,
    want: ExecutionStatus,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    for _ in 0..300 {
        let d = c
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        if d.status == want {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{arn} never reached {want:?}");
}

#[tokio::test]
async fn the_step_functions_api_over_the_json_protocol() {
    let f = fixture().await;
    let c = &f.client;
    let role = "arn:aws:iam::123456789012:role/sfn";
    let sm = c
        .create_state_machine()
        .name("approvals")
        .definition(DEFINITION)
        .role_arn(role)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sm.state_machine_arn,
        "arn:aws:states:us-east-1:123456789012:stateMachine:approvals"
    );
    let d = c
        .describe_state_machine()
        .state_machine_arn(&sm.state_machine_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (d.name.as_str(), d.definition.as_str(), d.role_arn.as_str()),
        ("approvals", DEFINITION, role)
    );
    let l = c.list_state_machines().send().await.unwrap();
    assert_eq!(
        l.state_machines
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        vec!["approvals"]
    );

    // The same name with other input is rejected (idempotency: see the test below).
    let input = r#"{"who":"alice"}"#;
    let e1 = c
        .start_execution()
        .state_machine_arn(&sm.state_machine_arn)
        .name("e1")
        .input(input)
        .send()
        .await
        .unwrap();
    let clash = c
        .start_execution()
        .state_machine_arn(&sm.state_machine_arn)
        .name("e1")
        .input(r#"{"who":"bob"}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(clash.code(), Some("ExecutionAlreadyExists"), "{clash:?}");

    let token = token_for(&f, "alice").await;
    assert_eq!(f.tokens.lock().unwrap().len(), 1, "the execution ran once");
    let d = c
        .describe_execution()
        .execution_arn(&e1.execution_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status, ExecutionStatus::Running);
    assert_eq!(d.input.as_deref(), Some(input));
    c.send_task_heartbeat()
        .task_token(&token)
        .send()
        .await
        .unwrap();
    c.send_task_success()
        .task_token(&token)
        .output(r#"{"decision":"approved"}"#)
        .send()
        .await
        .unwrap();
    let d = wait_status(c, &e1.execution_arn, ExecutionStatus::Succeeded).await;
    let out: Value = serde_json::from_str(d.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        out,
        json!({"who": "alice", "step": "prepared", "approval": {"decision": "approved"}})
    );
    let reused = c
        .send_task_success()
        .task_token(&token)
        .output("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        reused.code(),
        Some("TaskTimedOut"),
        "a finished token is rejected: {reused:?}"
    );

    // SendTaskFailure fails the execution with the given error.
    let e2 = c
        .start_execution()
        .state_machine_arn(&sm.state_machine_arn)
        .name("e2")
        .input(r#"{"who":"bob"}"#)
        .send()
        .await
        .unwrap();
    let token = token_for(&f, "bob").await;
    c.send_task_failure()
        .task_token(&token)
        .error("Rejected")
        .cause("no")
        .send()
        .await
        .unwrap();
    let d = wait_status(c, &e2.execution_arn, ExecutionStatus::Failed).await;
    assert_eq!(
        (d.error.as_deref(), d.cause.as_deref()),
        (Some("Rejected"), Some("no"))
    );

    // StopExecution aborts a waiting execution.
    let e3 = c
        .start_execution()
        .state_machine_arn(&sm.state_machine_arn)
        .input(r#"{"mode":"wait"}"#)
        .send()
        .await
        .unwrap();
    wait_status(c, &e3.execution_arn, ExecutionStatus::Running).await;
    c.stop_execution()
        .execution_arn(&e3.execution_arn)
        .error("Operator")
        .cause("test")
        .send()
        .await
        .unwrap();
    let d = wait_status(c, &e3.execution_arn, ExecutionStatus::Aborted).await;
    assert_eq!(d.error.as_deref(), Some("Operator"));

    let l = c
        .list_executions()
        .state_machine_arn(&sm.state_machine_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(l.executions.len(), 3);
    let l = c
        .list_executions()
        .state_machine_arn(&sm.state_machine_arn)
        .status_filter(ExecutionStatus::Succeeded)
        .send()
        .await
        .unwrap();
    assert_eq!(
        l.executions
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        vec!["e1"]
    );

    // GetExecutionHistory: pages of 2 add up to the whole history; reverseOrder reverses it.
    let whole = c
        .get_execution_history()
        .execution_arn(&e1.execution_arn)
        .send()
        .await
        .unwrap()
        .events;
    let types: Vec<_> = whole.iter().map(|e| e.r#type.clone()).collect();
    assert_eq!(types.first(), Some(&HistoryEventType::ExecutionStarted));
    assert_eq!(types.last(), Some(&HistoryEventType::ExecutionSucceeded));
    assert!(
        types.contains(&HistoryEventType::TaskSubmitted)
            && types.contains(&HistoryEventType::TaskSucceeded),
        "{types:?}"
    );
    let ids: Vec<i64> = whole.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=whole.len() as i64).collect::<Vec<_>>());
    let mut paged = Vec::new();
    let mut next = None;
    loop {
        let page = c
            .get_execution_history()
            .execution_arn(&e1.execution_arn)
            .max_results(2)
            .set_next_token(next)
            .send()
            .await
            .unwrap();
        assert!(page.events.len() <= 2);
        paged.extend(page.events.iter().map(|e| e.id));
        next = page.next_token;
        if next.is_none() {
            break;
        }
    }
    assert_eq!(paged, ids);
    let rev = c
        .get_execution_history()
        .execution_arn(&e1.execution_arn)
        .reverse_order(true)
        .send()
        .await
        .unwrap()
        .events;
    assert_eq!(
        rev.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids.iter().rev().copied().collect::<Vec<_>>()
    );

    let e = c
        .describe_execution()
        .execution_arn("arn:aws:states:us-east-1:123456789012:execution:approvals:nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ExecutionDoesNotExist"), "{e:?}");
    let e = c
        .send_task_success()
        .task_token("not-a-token")
        .output("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidToken"), "{e:?}");
}

/// AWS: StartExecution with the name and input of a RUNNING execution succeeds and returns
/// that execution (idempotency); other input fails with ExecutionAlreadyExists.
#[tokio::test]
async fn start_execution_is_idempotent_on_name_and_input() {
    let f = fixture().await;
    let c = &f.client;
    let sm = c
        .create_state_machine()
        .name("approvals")
        .definition(DEFINITION)
        .role_arn("arn:aws:iam::123456789012:role/sfn")
        .send()
        .await
        .unwrap();
    let input = r#"{"who":"carol"}"#;
    let e1 = c
        .start_execution()
        .state_machine_arn(&sm.state_machine_arn)
        .name("same")
        .input(input)
        .send()
        .await
        .unwrap();
    let again = c
        .start_execution()
        .state_machine_arn(&sm.state_machine_arn)
        .name("same")
        .input(input)
        .send()
        .await;
    let again = again.unwrap_or_else(|e| {
        panic!(
            "the engine rejects an idempotent StartExecution: {:?}",
            e.code()
        )
    });
    assert_eq!(again.execution_arn, e1.execution_arn);
    token_for(&f, "carol").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.tokens.lock().unwrap().len(), 1, "the execution ran once");
}

#[tokio::test]
async fn unknown_operations_and_bad_bodies_are_json_errors() {
    let engine = Engine::start(EngineConfig::default()).await.unwrap();
    let server = Server::start(engine, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.addr();
    let raw = move |target: &str, body: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let (a, b, c) = tokio::task::spawn_blocking(move || {
        (
            raw("AWSStepFunctions.FlyToTheMoon", "{}"),
            raw("AWSStepFunctions.ListStateMachines", "{nope"),
            raw("AWSStepFunctions.ListStateMachines", "{}"),
        )
    })
    .await
    .unwrap();
    assert!(a.starts_with("HTTP/1.1 400"), "{a}");
    assert!(a.contains(r#""__type":"UnknownOperationException""#), "{a}");
    assert!(a.to_lowercase().contains("x-amzn-requestid"), "{a}");
    assert!(
        b.starts_with("HTTP/1.1 400") && b.contains("SerializationException"),
        "{b}"
    );
    assert!(
        c.starts_with("HTTP/1.1 200") && c.contains(r#""stateMachines":[]"#),
        "{c}"
    );
}
