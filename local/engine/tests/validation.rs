//! `CreateStateMachine` refuses the definitions AWS Step Functions refuses, with AWS's
//! `InvalidDefinition` message shape: `Invalid State Machine Definition: '<CODE>: <message> at
//! <path>'` (several findings joined with ", "), and accepts the legal near-misses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cordon_engine::{ApiError, Engine, MemoryStore};
use serde_json::{Value, json};

mod support;

use support::{ROLE, create_state_machine, engine_with, rt, start_execution};

const ECHO: &str = "arn:aws:lambda:us-east-1:123456789012:function:echo";

async fn engine() -> Engine {
    engine_with(Arc::new(MemoryStore::new()), Arc::default()).await
}

fn create(def: &Value) -> Result<Value, ApiError> {
    rt().block_on(async {
        let e = engine().await;
        e.call(
            "CreateStateMachine",
            json!({"name": "v", "definition": def.to_string(), "roleArn": ROLE}),
        )
        .await
    })
}

/// Creates and runs `def` on `input`; returns the execution's description.
fn run(def: &Value, input: Value) -> Value {
    rt().block_on(async {
        let e = engine().await;
        let sm = create_state_machine(&e, "v", def).await;
        let arn = start_execution(&e, &sm, json!({"input": input.to_string()})).await;
        // Time is paused: an execution that can never end (its task lost) reaches this bound at
        // once instead of hanging the test.
        tokio::time::timeout(
            std::time::Duration::from_secs(86_400),
            e.wait_for_execution(&arn),
        )
        .await
        .expect("the execution never ended")
        .unwrap()
    })
}

/// The `InvalidDefinition` message for `def`, which must be refused.
fn refused(def: &Value) -> String {
    let err = create(def).expect_err("the definition must be refused");
    assert_eq!(err.code, "InvalidDefinition", "{}", err.message);
    assert!(
        err.message
            .starts_with("Invalid State Machine Definition: '")
            && err.message.ends_with('\''),
        "{}",
        err.message
    );
    err.message
}

/// One finding `<code>: ...<words>... at <path>` is in `message`.
fn has(message: &str, code: &str, words: &str, path: &str) {
    let inner = message
        .strip_prefix("Invalid State Machine Definition: '")
        .and_then(|m| m.strip_suffix('\''))
        .unwrap_or(message);
    let found = findings(inner).iter().any(|f| {
        f.starts_with(&format!("{code}: "))
            && f.contains(words)
            && f.ends_with(&format!(" at {path}"))
    });
    assert!(
        found,
        "no finding {code} mentioning {words:?} at {path} in:\n{message}"
    );
}

/// The findings of a message: they are joined with ", ", and each starts with its code.
fn findings(inner: &str) -> Vec<&str> {
    let starts: Vec<usize> = inner
        .match_indices(", ")
        .map(|(i, _)| i)
        .filter(|&i| {
            let rest = &inner[i + 2..];
            let code: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            code.len() > 3 && rest[code.len()..].starts_with(": ")
        })
        .collect();
    let mut out = Vec::new();
    let mut from = 0;
    for i in starts {
        out.push(&inner[from..i]);
        from = i + 2;
    }
    out.push(&inner[from..]);
    out
}

fn accepted(def: &Value) {
    if let Err(e) = create(def) {
        panic!("the definition must be accepted: {}: {}", e.code, e.message);
    }
}

fn pass_with(fields: Value) -> Value {
    let mut s = json!({"Type": "Pass", "End": true});
    for (k, v) in fields.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({"StartAt": "P", "States": {"P": s}})
}

fn one_state(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

// ---------------------------------------------------------------------------------------------
// 1. JSONata expressions are parsed at creation

#[test]
fn jsonata_syntax_error_is_refused_with_the_field_path() {
    let m = refused(
        &json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"v": "{% 1 + %}"}, "End": true}}}),
    );
    has(
        &m,
        "INVALID_JSONATA_EXPRESSION",
        "end of expression",
        "/States/P/Output/v",
    );
    let m = refused(
        &json!({"QueryLanguage": "JSONata", "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.a = %}", "Next": "E"}],
              "Default": "E"},
        "E": {"Type": "Succeed"}}}),
    );
    has(
        &m,
        "INVALID_JSONATA_EXPRESSION",
        "",
        "/States/C/Choices[0]/Condition",
    );
    // per-state QueryLanguage, inside a Map's processor, in Arguments lists
    let m = refused(
        &json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "QueryLanguage": "JSONata",
            "Resource": ECHO, "Arguments": {"list": ["ok", "{% $states.input.x[1,2) %}"]}, "End": true}}}}}}),
    );
    has(
        &m,
        "INVALID_JSONATA_EXPRESSION",
        "",
        "/States/M/ItemProcessor/States/T/Arguments/list[1]",
    );
}

#[test]
fn jsonata_strings_in_a_jsonpath_state_are_literals() {
    accepted(&pass_with(json!({"Result": {"v": "{% 1 + %}"}})));
    accepted(
        &json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Comment": "{% not an expression", "Output": "{% $states.input %}",
              "Assign": {"n": "{% $count([1, 2]) %}"}, "End": true}}}),
    );
}

// ---------------------------------------------------------------------------------------------
// 2. "key.$" values must be a path or an intrinsic function call

#[test]
fn invalid_dollar_values_are_refused() {
    for bad in [
        json!("not a path"),
        json!("$.a[?("),
        json!("States.Nope($.a)"),
        json!("States.Format('{}'"),
        json!(7),
        // AWS refuses `\"` inside an intrinsic's string literal (recorded case)
        json!("States.StringToJson('{\"text\":\"An \\\"escaped\\\" quote\"}')"),
    ] {
        let m = refused(&pass_with(
            json!({"Parameters": {"ok": 1, "nested": {"parsed.$": bad}}}),
        ));
        has(
            &m,
            "SCHEMA_VALIDATION_FAILED",
            "The value for the field 'parsed.$' must be a valid JSONPath or a valid intrinsic function call",
            "/States/P/Parameters/nested",
        );
    }
    let m = refused(&one_state(
        json!({"Type": "Task", "Resource": ECHO, "End": true,
        "ResultSelector": {"x.$": "Payload"}}),
    ));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "'x.$'",
        "/States/S/ResultSelector",
    );
    let m = refused(&pass_with(json!({"Assign": {"v.$": "$$$"}})));
    has(&m, "SCHEMA_VALIDATION_FAILED", "'v.$'", "/States/P/Assign");
    let m = refused(
        &json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemSelector": {"i.$": "$$.Map.Item.Value", "bad.$": "Map.Item"},
        "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}}),
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "'bad.$'",
        "/States/M/ItemSelector",
    );
}

#[test]
fn legal_dollar_values_and_literal_results_are_accepted() {
    // In a Pass state's Result a "key.$" is a plain key (recorded AWS case)
    let def = pass_with(json!({"Result": {
        "not_an_intrinsic_function.$": "States.StringToJson('{\"text\":\"An \\\"escaped double quote\\\" here\"}')",
        "also.$": "not a path"}}));
    let d = run(&def, json!({}));
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(out["also.$"], "not a path");
    accepted(&pass_with(json!({"Parameters": {
        "a.$": "$", "b.$": "$.x[0].y", "c.$": "$$.Execution.Id", "d.$": "$['a b']",
        "e.$": "States.Format('{} \\'q\\' \\{\\}', $.x)", "f.$": "States.Array(States.UUID(), 1, true, null)",
        "g.$": "$.items[?(@.n > 1)]", "h": {"i.$": "$.deep"}, "l": [{"m.$": "$.inarray"}]}})));
    accepted(&json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"v": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"v.$": "$v", "w.$": "$v.field"}, "End": true}}}));
}

// ---------------------------------------------------------------------------------------------
// 3. Unknown fields

#[test]
fn unknown_state_and_top_level_fields_are_refused() {
    let m = refused(&pass_with(json!({"Resultt": {}})));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'Resultt' is not supported",
        "/States/P",
    );
    let m = refused(
        &json!({"StartAt": "P", "Coment": "typo", "States": {"P": {"Type": "Pass", "End": true}}}),
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'Coment' is not supported",
        "/",
    );
    // fields of another state type (AWS: TimeoutSeconds on Map and Parallel, Catch on Pass)
    let m = refused(
        &json!({"StartAt": "M", "States": {"M": {"Type": "Map", "TimeoutSeconds": 5, "End": true,
        "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}}),
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'TimeoutSeconds' is not supported",
        "/States/M",
    );
    let m = refused(&pass_with(
        json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "P"}]}),
    ));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'Catch' is not supported",
        "/States/P",
    );
    let m = refused(&one_state(
        json!({"Type": "Fail", "Error": "E", "OutputPath": "$"}),
    ));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'OutputPath' is not supported",
        "/States/S",
    );
    let m = refused(&one_state(json!({"Type": "Succeed", "Assign": {"a": 1}})));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'Assign' is not supported",
        "/States/S",
    );
    let m = refused(&json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "E"}], "End": true},
        "E": {"Type": "Succeed"}}}));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'End' is not supported",
        "/States/C",
    );
    // inside a catcher, a retrier and a branch
    let m = refused(&one_state(
        json!({"Type": "Task", "Resource": ECHO, "End": true,
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempt": 2}]}),
    ));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'MaxAttempt' is not supported",
        "/States/S/Retry[0]",
    );
    let m = refused(
        &json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
        "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Succeed"}}, "Next": "Y"}]}}}),
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'Next' is not supported",
        "/States/P/Branches[0]",
    );
}

#[test]
fn query_language_specific_fields_are_refused_in_the_other_language() {
    // AWS's wording, located at the state (measured with ValidateStateMachineDefinition).
    let m = refused(
        &json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": ECHO, "TimeoutSecondsPath": "$.t", "ResultPath": "$.r", "End": true}}}),
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "The QueryLanguage is set to 'JSONata', but field 'TimeoutSecondsPath' is only supported for the 'JSONPath' QueryLanguage",
        "/States/S",
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "The QueryLanguage is set to 'JSONata', but field 'ResultPath' is only supported for the 'JSONPath' QueryLanguage",
        "/States/S",
    );
    let m = refused(&pass_with(json!({"Output": {"a": 1}})));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' QueryLanguage",
        "/States/P",
    );
    let m = refused(
        &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "QueryLanguage": "JSONata",
        "SecondsPath": "$.s", "End": true}}}),
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "but field 'SecondsPath' is only supported for the 'JSONPath' QueryLanguage",
        "/States/W",
    );
}

#[test]
fn a_state_may_not_be_jsonpath_in_a_jsonata_machine() {
    let m = refused(
        &json!({"QueryLanguage": "JSONata", "StartAt": "X", "States": {
        "X": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}}),
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
        "/States/X",
    );
}

/// A Map's or Parallel's own `QueryLanguage` is not its inner machine's: those states take the
/// machine's language (as AWS does), and a processor may not declare one.
#[test]
fn inner_machines_take_the_machine_language_not_the_map_or_parallel_one() {
    let m = refused(&json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "QueryLanguage": "JSONata", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Output": "{% $states.input %}", "End": true}}}}}}));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' QueryLanguage",
        "/States/M/ItemProcessor/States/P",
    );
    let m = refused(
        &json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"QueryLanguage": "JSONata", "StartAt": "P", "States": {
            "P": {"Type": "Pass", "End": true}}}}}}),
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'QueryLanguage' is not supported",
        "/States/M/ItemProcessor",
    );
    let m = refused(&json!({"StartAt": "B", "States": {"B": {"Type": "Parallel",
        "QueryLanguage": "JSONata", "End": true, "Branches": [{"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Output": "{% 1 %}", "End": true}}}]}}}));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "field 'Output' is only supported for the 'JSONata' QueryLanguage",
        "/States/B/Branches[0]/States/P",
    );
    // inner states that declare JSONata themselves are JSONata
    accepted(&json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "QueryLanguage": "JSONata", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {
            "P": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input %}", "End": true}}}}}}));
}

#[test]
fn the_fields_each_state_type_allows_are_accepted() {
    accepted(
        &json!({"Comment": "c", "Version": "1.0", "TimeoutSeconds": 60, "QueryLanguage": "JSONPath",
        "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Comment": "c", "InputPath": "$", "OutputPath": "$", "ResultPath": null,
              "Parameters": {"a": 1}, "Assign": {"x": 1}, "Next": "T"},
        "T": {"Type": "Task", "Resource": ECHO, "TimeoutSecondsPath": "$.t", "HeartbeatSeconds": 5,
              "ResultSelector": {"p.$": "$"}, "ResultPath": "$.r", "Retry": [{"ErrorEquals": ["States.ALL"],
              "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.5, "MaxDelaySeconds": 3,
              "JitterStrategy": "FULL", "Comment": "r"}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Assign": {"f": 1}, "Next": "F"}],
              "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$$.Execution.Id", "IsPresent": true, "Next": "W",
              "Assign": {"y.$": "$.a"}}], "Default": "M", "InputPath": "$", "Assign": {"z": 2}},
        "W": {"Type": "Wait", "TimestampPath": "$.ts", "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"v.$": "$$.Map.Item.Value"},
              "MaxConcurrencyPath": "$.mc", "ToleratedFailurePercentage": 100, "ToleratedFailureCount": 0,
              "Label": "l", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "X",
              "States": {"X": {"Type": "Pass", "End": true}}}, "Next": "Par"},
        "Par": {"Type": "Parallel", "Parameters": {"a.$": "$"}, "Branches": [{"StartAt": "Y", "Comment": "b",
              "States": {"Y": {"Type": "Succeed", "OutputPath": "$"}}}], "Next": "S"},
        "S": {"Type": "Succeed", "InputPath": "$"},
        "F": {"Type": "Fail", "ErrorPath": "$.e.Error", "Cause": "c", "Comment": "f"}}}),
    );
    accepted(
        &json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"a": 1}, "Assign": {"x": 1}, "Next": "T"},
        "T": {"Type": "Task", "Resource": ECHO, "Arguments": {"a": "{% $x %}"}, "TimeoutSeconds": "{% 5 %}",
              "Output": "{% $states.result %}",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% $states.errorOutput %}", "Next": "F"}],
              "Next": "M"},
        "M": {"Type": "Map", "Items": "{% [1, 2] %}", "ItemSelector": {"v": "{% $states.context.Map.Item.Value %}"},
              "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}, "Next": "W"},
        "W": {"Type": "Wait", "Seconds": "{% 1 %}", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "S", "Output": {"o": 1}}],
              "Default": "F", "Output": "{% $states.input %}"},
        "S": {"Type": "Succeed", "Output": {"done": true}},
        "F": {"Type": "Fail", "Error": "{% 'E' %}", "Cause": "c"}}}),
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Mutually exclusive fields

#[test]
fn mutually_exclusive_fields_are_refused() {
    let m = refused(&one_state(
        json!({"Type": "Fail", "Cause": "c", "CausePath": "$.c"}),
    ));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Only one of 'Cause' and 'CausePath'",
        "/States/S/CausePath",
    );
    let m = refused(&one_state(
        json!({"Type": "Fail", "Error": "e", "ErrorPath": "$.e"}),
    ));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Only one of 'Error' and 'ErrorPath'",
        "/States/S/ErrorPath",
    );
    let m = refused(&one_state(
        json!({"Type": "Task", "Resource": ECHO, "End": true,
        "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t", "HeartbeatSeconds": 1, "HeartbeatSecondsPath": "$.h"}),
    ));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Only one of 'TimeoutSeconds' and 'TimeoutSecondsPath'",
        "/States/S/TimeoutSecondsPath",
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Only one of 'HeartbeatSeconds' and 'HeartbeatSecondsPath'",
        "/States/S/HeartbeatSecondsPath",
    );
    let proc_ = json!({"StartAt": "X", "States": {"X": {"Type": "Succeed"}}});
    let m = refused(&one_state(
        json!({"Type": "Map", "End": true, "ItemProcessor": proc_, "Iterator": proc_,
        "MaxConcurrency": 1, "MaxConcurrencyPath": "$.m",
        "ToleratedFailureCount": 1, "ToleratedFailureCountPath": "$.c",
        "ToleratedFailurePercentage": 1, "ToleratedFailurePercentagePath": "$.p",
        "ItemSelector": {}, "Parameters": {},
        "ItemBatcher": {"MaxItemsPerBatch": 2, "MaxItemsPerBatchPath": "$.b",
                        "MaxInputBytesPerBatch": 10, "MaxInputBytesPerBatchPath": "$.y"},
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"MaxItems": 1, "MaxItemsPath": "$.i"}}}),
    ));
    for (a, b, at) in [
        ("ItemProcessor", "Iterator", "/States/S/Iterator"),
        (
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "/States/S/MaxConcurrencyPath",
        ),
        (
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "/States/S/ToleratedFailureCountPath",
        ),
        (
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "/States/S/ToleratedFailurePercentagePath",
        ),
        ("ItemSelector", "Parameters", "/States/S/Parameters"),
        (
            "MaxItemsPerBatch",
            "MaxItemsPerBatchPath",
            "/States/S/ItemBatcher/MaxItemsPerBatchPath",
        ),
        (
            "MaxInputBytesPerBatch",
            "MaxInputBytesPerBatchPath",
            "/States/S/ItemBatcher/MaxInputBytesPerBatchPath",
        ),
        (
            "MaxItems",
            "MaxItemsPath",
            "/States/S/ItemReader/ReaderConfig/MaxItemsPath",
        ),
    ] {
        has(
            &m,
            "SCHEMA_VALIDATION_FAILED",
            &format!("Only one of '{a}' and '{b}'"),
            at,
        );
    }
}

#[test]
fn a_wait_state_takes_exactly_one_duration() {
    let m = refused(&one_state(
        json!({"Type": "Wait", "Seconds": 1, "TimestampPath": "$.t", "End": true}),
    ));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Only one of 'Seconds', 'SecondsPath', 'Timestamp' and 'TimestampPath'",
        "/States/S/TimestampPath",
    );
    let m = refused(&one_state(json!({"Type": "Wait", "End": true})));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
        "/States/S",
    );
    accepted(&one_state(
        json!({"Type": "Wait", "SecondsPath": "$.s", "End": true}),
    ));
}

// ---------------------------------------------------------------------------------------------
// 5. Ranges

#[test]
fn tolerated_failure_percentage_outside_0_to_100_is_refused() {
    let map = |p: Value| {
        one_state(
            json!({"Type": "Map", "End": true, "ToleratedFailurePercentage": p,
            "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}),
        )
    };
    let m = refused(&map(json!(101)));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Maximum value is 100",
        "/States/S/ToleratedFailurePercentage",
    );
    let m = refused(&map(json!(-1)));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Minimum value is 0",
        "/States/S/ToleratedFailurePercentage",
    );
    accepted(&map(json!(0)));
    accepted(&map(json!(100)));
    accepted(&map(json!(12.5)));
}

// ---------------------------------------------------------------------------------------------
// 6. Reachability, terminal states, unique names

#[test]
fn unreachable_states_are_refused() {
    let m = refused(&json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": true},
        "B": {"Type": "Pass", "Next": "A"}}}));
    has(
        &m,
        "MISSING_TRANSITION_TARGET",
        "State \"B\" is not reachable.",
        "/States/B",
    );
    // a loop nothing enters is unreachable too; inside a branch the path says where
    let m = refused(
        &json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "X", "States": {"X": {"Type": "Succeed"},
            "L1": {"Type": "Pass", "Next": "L2"}, "L2": {"Type": "Pass", "Next": "L1"}}}]}}}),
    );
    has(
        &m,
        "MISSING_TRANSITION_TARGET",
        "State \"L1\" is not reachable.",
        "/States/P/Branches[0]/States/L1",
    );
    has(
        &m,
        "MISSING_TRANSITION_TARGET",
        "State \"L2\" is not reachable.",
        "/States/P/Branches[0]/States/L2",
    );
    // with a missing target, as AWS reports both (recorded message)
    let m = refused(&json!({"StartAt": "pass1", "States": {
        "pass1": {"Type": "Pass", "Next": "pass3"}, "pass2": {"Type": "Pass", "End": true}}}));
    has(
        &m,
        "MISSING_TRANSITION_TARGET",
        "Missing 'Next' target: pass3",
        "/States/pass1/Next",
    );
    has(
        &m,
        "MISSING_TRANSITION_TARGET",
        "State \"pass2\" is not reachable.",
        "/States/pass2",
    );
}

#[test]
fn states_reached_through_choices_defaults_and_catchers_are_reachable() {
    accepted(&json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": ECHO, "Next": "C",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "Yes"}], "Default": "No"},
        "Yes": {"Type": "Succeed"}, "No": {"Type": "Pass", "Next": "Loop"},
        "Loop": {"Type": "Pass", "Next": "C"},
        "Caught": {"Type": "Fail", "Error": "E"}}}));
}

#[test]
fn a_machine_without_terminal_state_is_refused() {
    let m = refused(&json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}));
    has(
        &m,
        "MISSING_END_STATE",
        "Workflow has no terminal state",
        "null",
    );
    // AWS reports the missing terminal state alone, not the states nothing reaches.
    let m = refused(&json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"},
        "C": {"Type": "Pass", "Next": "A"}}}));
    has(
        &m,
        "MISSING_END_STATE",
        "Workflow has no terminal state",
        "null",
    );
    assert!(!m.contains("not reachable"), "{m}");
    // With a terminal state nothing reaches, that state is the finding.
    let m = refused(&json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"},
        "C": {"Type": "Succeed"}}}));
    has(
        &m,
        "MISSING_TRANSITION_TARGET",
        "State \"C\" is not reachable.",
        "/States/C",
    );
    assert!(!m.contains("MISSING_END_STATE"), "{m}");
    let m = refused(
        &json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}}}}),
    );
    has(
        &m,
        "MISSING_END_STATE",
        "Workflow has no terminal state",
        "/States/M/ItemProcessor",
    );
    let m = refused(
        &json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}},
        {"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [
            {"Variable": "$.a", "IsPresent": true, "Next": "A"}], "Default": "A"}}}]}}}),
    );
    has(
        &m,
        "MISSING_END_STATE",
        "Workflow has no terminal state",
        "/States/P/Branches[1]",
    );
}

#[test]
fn state_names_must_be_unique_across_the_whole_definition() {
    // the same object twice (JSON parsers keep one of them)
    let text = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Succeed"}, "A": {"Type": "Pass", "Next": "B"}}}"#;
    let err = rt().block_on(async {
        engine()
            .await
            .call(
                "CreateStateMachine",
                json!({"name": "v", "definition": text, "roleArn": ROLE}),
            )
            .await
            .unwrap_err()
    });
    assert_eq!(err.code, "InvalidDefinition");
    has(
        &err.message,
        "DUPLICATE_STATE_NAME",
        "Duplicate State name: A",
        "/States/A",
    );
    // inside a Parallel branch and a Map processor
    let m = refused(&json!({"StartAt": "A", "States": {
        "A": {"Type": "Parallel", "Next": "M", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "M"}, "M": {"Type": "Succeed"}}}]},
        "M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}}}}));
    has(
        &m,
        "DUPLICATE_STATE_NAME",
        "Duplicate State name: M",
        "/States/M",
    );
    has(
        &m,
        "DUPLICATE_STATE_NAME",
        "Duplicate State name: A",
        "/States/M/ItemProcessor/States/A",
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Choice Variable

#[test]
fn an_intrinsic_function_as_choice_variable_is_refused() {
    let m = refused(&json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.ok", "IsPresent": true, "Next": "E"},
            {"And": [{"Variable": "$.a", "IsPresent": true},
                     {"Variable": "States.ArrayLength($.a)", "NumericEquals": 1}], "Next": "E"},
            {"Variable": "States.Format('{}', $.a)", "StringEquals": "x", "Next": "E"}], "Default": "E"},
        "E": {"Type": "Succeed"}}}));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Value is not a Reference Path",
        "/States/C/Choices[1]/And[1]/Variable",
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "intrinsic function",
        "/States/C/Choices[2]/Variable",
    );
    let m = refused(&json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.a", "StringEqualsPath": "States.UUID()", "Next": "E"}], "Default": "E"},
        "E": {"Type": "Succeed"}}}));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Value is not a Reference Path",
        "/States/C/Choices[0]/StringEqualsPath",
    );
}

#[test]
fn context_and_variable_references_are_legal_choice_variables() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"flag": true}, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$$.Execution.Id", "IsPresent": true, "Next": "D"}], "Default": "F"},
        "D": {"Type": "Choice", "Choices": [
            {"Variable": "$flag", "BooleanEquals": true, "Next": "S"}], "Default": "F"},
        "S": {"Type": "Succeed"}, "F": {"Type": "Fail"}}});
    assert_eq!(run(&def, json!({}))["status"], "SUCCEEDED");
}

// ---------------------------------------------------------------------------------------------
// 8. ResultPath

#[test]
fn a_variable_or_context_result_path_is_refused() {
    let m = refused(&pass_with(json!({"ResultPath": "$foo"})));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Value is not a Reference Path",
        "/States/P/ResultPath",
    );
    assert!(m.contains("variable 'foo'"), "{m}");
    let m = refused(&pass_with(json!({"ResultPath": "$$.Execution"})));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "context object",
        "/States/P/ResultPath",
    );
    let m = refused(&pass_with(json!({"ResultPath": "$.a[*]"})));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "not a definite path",
        "/States/P/ResultPath",
    );
    let m = refused(&json!({"StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": ECHO, "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$err", "Next": "F"}]},
        "F": {"Type": "Fail"}}}));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Value is not a Reference Path",
        "/States/S/Catch[0]/ResultPath",
    );
}

#[test]
fn legal_result_paths_are_accepted() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": 1, "ResultPath": null, "Next": "B"},
        "B": {"Type": "Pass", "Result": 2, "ResultPath": "$.b", "Next": "C"},
        "C": {"Type": "Pass", "Result": 3, "ResultPath": "$['c d'].e", "Next": "D"},
        "D": {"Type": "Pass", "Result": {"whole": true}, "ResultPath": "$", "End": true}}});
    let d = run(&def, json!({"x": 0}));
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
}

// ---------------------------------------------------------------------------------------------
// 9. Parallel Branches

#[test]
fn badly_written_branches_are_refused() {
    let par = |b: Option<Value>| {
        let mut s = json!({"Type": "Parallel", "End": true});
        if let Some(b) = b {
            s["Branches"] = b;
        }
        one_state(s)
    };
    let m = refused(&par(None));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "These fields are required: [Branches]",
        "/States/S",
    );
    let m = refused(&par(Some(json!([]))));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Value cannot be empty",
        "/States/S/Branches",
    );
    let m = refused(&par(Some(
        json!({"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}),
    )));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "'Branches' must be an array",
        "/States/S/Branches",
    );
    let m = refused(&par(Some(json!(["X"]))));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "must be an object with StartAt and States",
        "/States/S/Branches[0]",
    );
    let m = refused(&par(Some(json!([{"States": {"X": {"Type": "Succeed"}}}]))));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "These fields are required: [StartAt]",
        "/States/S/Branches[0]",
    );
    let m = refused(&par(Some(json!([{"StartAt": "X"}]))));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "These fields are required: [States]",
        "/States/S/Branches[0]",
    );
}

#[test]
fn a_well_written_parallel_runs_its_branches() {
    let def = one_state(json!({"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "X", "States": {"X": {"Type": "Pass", "Result": 1, "End": true}}},
        {"StartAt": "Y", "States": {"Y": {"Type": "Pass", "Result": 2, "End": true}}}]}));
    let d = run(&def, json!({}));
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(d["output"], "[1,2]");
}

// ---------------------------------------------------------------------------------------------
// Everything is reported, not only the first finding

#[test]
fn findings_are_joined() {
    let m = refused(&json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": true, "Bogus": 1},
        "B": {"Type": "Fail", "Cause": "c", "CausePath": "$.c"}}}));
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Field 'Bogus' is not supported",
        "/States/A",
    );
    has(
        &m,
        "SCHEMA_VALIDATION_FAILED",
        "Only one of 'Cause' and 'CausePath'",
        "/States/B/CausePath",
    );
    has(
        &m,
        "MISSING_TRANSITION_TARGET",
        "State \"B\" is not reachable.",
        "/States/B",
    );
}

// ---------------------------------------------------------------------------------------------
// What AWS accepted stays accepted

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/asl-conformance")
}

/// Every definition of the conformance corpus was accepted by AWS (it was recorded there).
#[test]
fn every_corpus_definition_is_accepted() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        eprintln!("skipped: no corpus at {}", dir.display());
        return;
    }
    let mut n = 0;
    let mut refusals = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("json")
            || p.file_name().and_then(|f| f.to_str()) == Some("manifest.json")
        {
            continue;
        }
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let cases = file
            .as_array()
            .or_else(|| file.get("cases").and_then(Value::as_array))
            .cloned()
            .unwrap_or_default();
        for c in cases {
            let Some(def) = c.get("definition") else {
                continue;
            };
            let text = match def {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            n += 1;
            if let Err(e) = cordon_engine::model::parse(&text, &|_| true) {
                refusals.push(format!("{}: {e}", c["id"]));
            }
        }
    }
    assert!(n > 1000, "only {n} corpus definitions found");
    assert!(refusals.is_empty(), "{}", refusals.join("\n"));
}

/// The project's own state machines validate (with their substitutions filled in).
#[test]
fn the_project_state_machines_are_accepted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../statemachine");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if !p.to_string_lossy().ends_with(".asl.json") {
            continue;
        }
        let mut text = std::fs::read_to_string(&p).unwrap();
        while let Some(start) = text.find("${") {
            let end = start + text[start..].find('}').unwrap();
            let name = text[start + 2..end].to_string();
            text.replace_range(
                start..=end,
                &format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
            );
        }
        n += 1;
        if let Err(e) = cordon_engine::model::parse(&text, &|_| true) {
            panic!("{}: {e}", p.display());
        }
    }
    assert!(n >= 2);
}

/// The parent operator `%` is valid JSONata, so creation accepts it; the JSONata library this
/// engine uses cannot evaluate it (it panics): the execution fails with a
/// `States.QueryEvaluationError` saying so, instead of losing its task and staying `RUNNING`.
#[test]
fn jsonata_the_engine_cannot_evaluate_fails_the_execution_instead_of_hanging() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": "{% $states.input.a.b.%.c %}", "End": true}}});
    let d = run(&def, json!({"a": {"b": {"c": 1}}}));
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "States.QueryEvaluationError", "{d}");
    let cause = d["cause"].as_str().unwrap();
    assert!(cause.contains("parent operator"), "{cause}");
    assert!(cause.contains("$states.input.a.b.%.c"), "{cause}");
}
