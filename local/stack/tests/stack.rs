//! The offline stack end to end: real moto, the real engine, the real function binaries.
//! Needs the function binaries built (`cargo build -p enrich -p classify -p request-approval
//! -p approve -p quarantine -p notify`); a missing binary fails the test with that hint.

use std::time::{Duration, Instant};

use cordon_stack::{Outcome, Stack, StackOptions};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = cordon_stack::find_root()
        .unwrap()
        .join("tests/events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn wait_terminal(stack: &Stack, arn: &str) -> Value {
    let start = Instant::now();
    loop {
        let d = stack
            .engine()
            .call(
                "DescribeExecution",
                serde_json::json!({"executionArn": arn}),
            )
            .await
            .unwrap();
        if d["status"] != "RUNNING" {
            return d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "execution still running: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_user_event_runs_the_functions_and_a_foreign_event_routes_nowhere() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();

    // The state machine exists, with the substitutions resolved.
    let sm = stack
        .engine()
        .call(
            "DescribeStateMachine",
            serde_json::json!({"stateMachineArn": stack.state_machine_arn()}),
        )
        .await
        .unwrap();
    let definition = sm["definition"].as_str().unwrap();
    assert!(
        !definition.contains("${"),
        "unresolved substitution in {definition}"
    );
    assert!(definition.contains("arn:aws:lambda:us-east-1:123456789012:function:cordon-enrich"));

    // The subject must exist for enrichment to see it.
    let iam = aws_sdk_iam::Client::new(stack.aws_config());
    iam.create_user()
        .user_name("bob.smith")
        .send()
        .await
        .unwrap();

    let event = fixture("cloudtrail-create-user-by-iam-user.json");
    let routed = stack.send(&event).await.unwrap();
    assert_eq!(
        routed.incident_id.as_deref(),
        Some("3b7a1f0e-2c4d-4e5f-9a8b-1c2d3e4f5a01")
    );
    assert_eq!(routed.matches.len(), 1, "{routed:?}");
    let m = &routed.matches[0];
    assert_eq!(m.rule, "cordon-create-user");
    assert_eq!(m.outcome, Outcome::Started);
    assert_eq!(
        m.execution_arn,
        "arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:3b7a1f0e-2c4d-4e5f-9a8b-1c2d3e4f5a01"
    );

    // Redelivery maps to the same execution.
    let again = stack.send(&event).await.unwrap();
    assert_eq!(again.matches[0].outcome, Outcome::Duplicate);
    assert_eq!(again.matches[0].execution_arn, m.execution_arn);

    let done = wait_terminal(&stack, &m.execution_arn).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let output: Value = serde_json::from_str(done["output"].as_str().unwrap()).unwrap();
    for key in [
        "event",
        "incident",
        "enrichment",
        "classification",
        "notification",
    ] {
        assert!(output.get(key).is_some(), "case file lacks {key}: {output}");
    }
    assert_eq!(output["event"], event);
    assert_eq!(
        output["incident"]["id"],
        "3b7a1f0e-2c4d-4e5f-9a8b-1c2d3e4f5a01"
    );
    for f in ["cordon-enrich", "cordon-classify", "cordon-notify"] {
        assert!(
            stack.lambda_host().invocations(f) >= 1,
            "{f} was not invoked"
        );
    }

    // The host runs each function within the template's ReservedConcurrentExecutions
    // (beyond it, invocations are throttled as Lambda does).
    for (binary, reserved) in [
        ("enrich", 10),
        ("classify", 10),
        ("request-approval", 10),
        ("approve", 5),
        ("quarantine", 10),
        ("notify", 10),
    ] {
        let spec = stack.function_spec(binary).unwrap();
        assert_eq!(spec.max_concurrency, Some(reserved), "{binary}");
        assert_eq!(spec.timeout, Duration::from_secs(30), "{binary}");
    }

    // An event no rule matches starts nothing.
    let foreign = serde_json::json!({
        "version": "0", "id": "x", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": "123456789012", "time": "2026-03-14T02:13:07Z",
        "region": "us-east-1", "resources": [], "detail": {"state": "running"}
    });
    let none = stack.send(&foreign).await.unwrap();
    assert!(none.matches.is_empty(), "{none:?}");

    stack.stop().await;
}
