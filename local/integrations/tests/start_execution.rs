//! `arn:aws:states:::states:startExecution` through `aws-sdk-sfn` against the local engine's
//! own API server: one state machine starts another, and a second start under the same name
//! is refused with `StepFunctions.ExecutionAlreadyExistsException`, which ASL can catch. This
//! is the deduplication cordon's intake state machine relies on.

use std::collections::HashMap;
use std::sync::Arc;

use cordon_engine::{Engine, EngineConfig, ServiceIntegration};
use cordon_integrations::StepFunctions;
use cordon_sfn_server::Server;
use serde_json::{Value, json};

const CHILD: &str = r#"{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}"#;

fn parent(child_arn: &str) -> String {
    json!({
        "StartAt": "Start",
        "States": {
            "Start": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {"StateMachineArn": child_arn, "Name.$": "$.name", "Input.$": "$"},
                "ResultSelector": {"executionArn.$": "$.ExecutionArn"},
                "Catch": [{
                    "ErrorEquals": ["StepFunctions.ExecutionAlreadyExistsException"],
                    "ResultPath": "$.duplicate",
                    "Next": "Duplicate"
                }],
                "End": true
            },
            "Duplicate": {"Type": "Succeed"}
        }
    })
    .to_string()
}

async fn call(engine: &Engine, op: &str, req: Value) -> Value {
    engine
        .call(op, req)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

async fn run(engine: &Engine, machine: &str, input: Value) -> Value {
    let started = call(
        engine,
        "StartExecution",
        json!({"stateMachineArn": machine, "input": input.to_string()}),
    )
    .await;
    let arn = started["executionArn"].as_str().unwrap().to_string();
    engine.wait_for_execution(&arn).await.unwrap()
}

#[tokio::test]
async fn starts_a_named_execution_once_and_reports_the_duplicate() {
    let sfn = StepFunctions::unconnected();
    let mut services: HashMap<String, Arc<dyn ServiceIntegration>> = HashMap::new();
    services.insert("states".into(), Arc::new(sfn.clone()));
    let engine = Engine::start(EngineConfig {
        services,
        ..Default::default()
    })
    .await
    .unwrap();
    let server = Server::start(engine.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    sfn.connect(&cordon_integrations::sdk_config(&server.endpoint(), "us-east-1").await);

    let role = "arn:aws:iam::123456789012:role/test";
    let child = call(
        &engine,
        "CreateStateMachine",
        json!({"name": "child", "definition": CHILD, "roleArn": role}),
    )
    .await;
    let child_arn = child["stateMachineArn"].as_str().unwrap().to_string();
    let parent = call(
        &engine,
        "CreateStateMachine",
        json!({"name": "parent", "definition": parent(&child_arn), "roleArn": role}),
    )
    .await;
    let parent_arn = parent["stateMachineArn"].as_str().unwrap().to_string();

    // First delivery: the child execution is started under the incident's name.
    let first = run(&engine, &parent_arn, json!({"name": "incident-1", "n": 1})).await;
    assert_eq!(first["status"], "SUCCEEDED", "{first}");
    let output: Value = serde_json::from_str(first["output"].as_str().unwrap()).unwrap();
    let expected_child = format!(
        "{}:incident-1",
        child_arn.replace(":stateMachine:", ":execution:")
    );
    assert_eq!(output, json!({"executionArn": expected_child}));
    engine.wait_for_execution(&expected_child).await.unwrap();

    // A later delivery with other input (a GuardDuty update): refused, caught, no second child.
    let second = run(&engine, &parent_arn, json!({"name": "incident-1", "n": 2})).await;
    assert_eq!(second["status"], "SUCCEEDED", "{second}");
    let output: Value = serde_json::from_str(second["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        output["duplicate"]["Error"], "StepFunctions.ExecutionAlreadyExistsException",
        "{output}"
    );
    let children = call(
        &engine,
        "ListExecutions",
        json!({"stateMachineArn": child_arn}),
    )
    .await;
    assert_eq!(
        children["executions"].as_array().unwrap().len(),
        1,
        "{children}"
    );
}

#[tokio::test]
async fn an_unconnected_endpoint_is_a_task_error_not_a_hang() {
    let sfn = StepFunctions::unconnected();
    let err = sfn
        .call(cordon_engine::ServiceRequest {
            resource: "arn:aws:states:::states:startExecution".into(),
            service: "states".into(),
            action: "startExecution".into(),
            pattern: cordon_engine::IntegrationPattern::RequestResponse,
            parameters: json!({"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"}),
            task_token: None,
            execution_arn: "arn:aws:states:us-east-1:123456789012:execution:p:e".into(),
            state_name: "Start".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.error, "StepFunctions.SdkClientException");
}
