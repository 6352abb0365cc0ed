//! Engine behaviour through `Engine::call`, in-process Lambdas and the virtual clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cordon_engine::{Engine, MemoryStore, Store};
use serde_json::{Value, json};

mod support;

use support::{
    DurableMemory, ROLE, create_state_machine, engine_with, history, rt, start_execution, types,
};

async fn engine() -> Engine {
    engine_with(Arc::new(MemoryStore::new()), Arc::default()).await
}

async fn run(e: &Engine, def: Value, input: Value) -> (Value, Vec<Value>) {
    let sm = create_state_machine(e, &format!("sm{}", uuid_like()), &def).await;
    let arn = start_execution(e, &sm, json!({"input": input.to_string()})).await;
    let d = e.wait_for_execution(&arn).await.unwrap();
    (d, history(e, &arn).await)
}

fn uuid_like() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn pass_chain_succeeds_with_history() {
    rt().block_on(async {
        let e = engine().await;
        let (d, h) = run(&e, json!({"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"x":1},"ResultPath":"$.r","Next":"B"},"B":{"Type":"Succeed"}}}), json!({"a":1})).await;
        assert_eq!(d["status"], "SUCCEEDED");
        assert_eq!(serde_json::from_str::<Value>(d["output"].as_str().unwrap()).unwrap(), json!({"a":1,"r":{"x":1}}));
        assert_eq!(types(&h), ["ExecutionStarted", "PassStateEntered", "PassStateExited", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]);
        let prev: Vec<u64> = h.iter().map(|e| e["previousEventId"].as_u64().unwrap()).collect();
        assert_eq!(prev, [0, 0, 2, 3, 4, 5]);
        assert_eq!(h[0]["executionStartedEventDetails"]["roleArn"], ROLE);
    });
}

#[test]
fn fail_state_fails_execution() {
    rt().block_on(async {
        let e = engine().await;
        let (d, h) = run(
            &e,
            json!({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Bad","Cause":"because"}}}),
            json!({}),
        )
        .await;
        assert_eq!(d["status"], "FAILED");
        assert_eq!(d["error"], "Bad");
        assert_eq!(
            types(&h),
            ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
        );
        assert_eq!(
            h[2]["executionFailedEventDetails"],
            json!({"error":"Bad","cause":"because"})
        );
    });
}

#[test]
fn wait_state_advances_virtual_time() {
    rt().block_on(async {
        let e = engine().await;
        let (d, h) = run(
            &e,
            json!({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}),
            json!({}),
        )
        .await;
        assert_eq!(d["status"], "SUCCEEDED");
        let t = |i: usize| h[i]["timestamp"].as_f64().unwrap();
        assert!((t(2) - t(1) - 3600.0).abs() < 0.01, "{} {}", t(1), t(2));
    });
}

#[test]
fn legacy_lambda_task_and_retry_backoff() {
    rt().block_on(async {
        let e = engine().await;
        let def = json!({"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:flaky",
            "Retry":[{"ErrorEquals":["Transient"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":3}],"End":true}}});
        let (d, h) = run(&e, def, json!({"v":1})).await;
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        assert_eq!(types(&h), ["ExecutionStarted", "TaskStateEntered",
            "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed",
            "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed",
            "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
            "TaskStateExited", "ExecutionSucceeded"]);
        let t = |i: usize| h[i]["timestamp"].as_f64().unwrap();
        assert!((t(5) - t(4) - 2.0).abs() < 0.01);
        assert!((t(8) - t(7) - 6.0).abs() < 0.01);
        assert_eq!(h[4]["lambdaFunctionFailedEventDetails"]["error"], "Transient");
    });
}

#[test]
fn service_lambda_invoke_catch() {
    rt().block_on(async {
        let e = engine().await;
        let def = json!({"StartAt":"T","States":{
            "T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"boom","Payload.$":"$"},
                 "Catch":[{"ErrorEquals":["SubjectNotFound"],"ResultPath":"$.err","Next":"P"}],"End":true},
            "P":{"Type":"Pass","End":true}}});
        let (d, h) = run(&e, def, json!({"v":1})).await;
        assert_eq!(d["status"], "SUCCEEDED");
        assert_eq!(types(&h), ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]);
        let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
        assert_eq!(out["err"]["Error"], "SubjectNotFound");
        let (d, h) = run(&e, json!({"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"echo","Payload":{"a":1}},"End":true}}}), json!({})).await;
        let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
        assert_eq!(out["Payload"], json!({"a":1}));
        assert_eq!(out["StatusCode"], 200);
        assert_eq!(h[2]["taskScheduledEventDetails"]["resource"], "invoke");
        assert_eq!(h[2]["taskScheduledEventDetails"]["resourceType"], "lambda");
    });
}

#[test]
fn parallel_and_map_events() {
    rt().block_on(async {
        let e = engine().await;
        let (d, h) = run(&e, json!({"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
            {"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},{"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}}]}}}), json!(1)).await;
        assert_eq!(d["status"], "SUCCEEDED");
        assert_eq!(d["output"], "[1,1]");
        assert_eq!(types(&h)[..4], ["ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted", "PassStateEntered"]);
        assert_eq!(types(&h)[h.len() - 3..], ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]);
        let (d, h) = run(&e, json!({"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"End":true,
            "ItemProcessor":{"StartAt":"H","States":{"H":{"Type":"Pass","End":true}}}}}}), json!([1,2])).await;
        assert_eq!(d["output"], "[1,2]");
        assert_eq!(types(&h), ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapIterationStarted", "PassStateEntered", "PassStateExited", "MapIterationSucceeded",
            "MapIterationStarted", "PassStateEntered", "PassStateExited", "MapIterationSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]);
        let prev: Vec<u64> = h.iter().map(|e| e["previousEventId"].as_u64().unwrap()).collect();
        assert_eq!(prev, [0, 0, 2, 3, 4, 5, 6, 6, 8, 9, 10, 11, 11, 13]);
    });
}

async fn token_engine(store: Arc<dyn Store>) -> Engine {
    engine_with(store, Arc::default()).await
}

fn token_def(hb: Option<u64>) -> Value {
    let mut t = json!({"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters":{"QueueUrl":"q","MessageBody":{"TaskToken.$":"$$.Task.Token"}},"End":true});
    if let Some(h) = hb {
        t["HeartbeatSeconds"] = json!(h);
    }
    json!({"StartAt":"T","States":{"T":t}})
}

async fn start(e: &Engine, def: Value) -> String {
    let sm = create_state_machine(e, &format!("tk{}", uuid_like()), &def).await;
    start_execution(e, &sm, json!({"name": "x"})).await
}

async fn token_of(e: &Engine, arn: &str) -> String {
    for _ in 0..100 {
        let h = e
            .call("GetExecutionHistory", json!({"executionArn": arn}))
            .await
            .unwrap();
        for ev in h["events"].as_array().unwrap() {
            if ev["type"] == "TaskScheduled" {
                let p: Value = serde_json::from_str(
                    ev["taskScheduledEventDetails"]["parameters"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap();
                return p["MessageBody"]["TaskToken"].as_str().unwrap().to_string();
            }
        }
        tokio::task::yield_now().await;
    }
    panic!("no token");
}

#[test]
fn task_token_success_failure_and_errors() {
    rt().block_on(async {
        let e = token_engine(Arc::new(MemoryStore::new())).await;
        let arn = start(&e, token_def(None)).await;
        let tok = token_of(&e, &arn).await;
        e.call("SendTaskHeartbeat", json!({"taskToken": tok}))
            .await
            .unwrap();
        e.call(
            "SendTaskSuccess",
            json!({"taskToken": tok, "output": "{\"ok\":true}"}),
        )
        .await
        .unwrap();
        let d = e.wait_for_execution(&arn).await.unwrap();
        assert_eq!(d["status"], "SUCCEEDED");
        assert_eq!(d["output"], "{\"ok\":true}");
        let err = e
            .call("SendTaskSuccess", json!({"taskToken": tok, "output": "{}"}))
            .await
            .unwrap_err();
        assert_eq!(err.code, "TaskTimedOut");
        let err = e
            .call(
                "SendTaskSuccess",
                json!({"taskToken": "garbage", "output": "{}"}),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, "InvalidToken");
        let err = e
            .call(
                "SendTaskFailure",
                json!({"taskToken": format!("AAAA{}", "0".repeat(64))}),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, "TaskDoesNotExist");

        let arn = start(&e, token_def(None)).await;
        let tok = token_of(&e, &arn).await;
        e.call(
            "SendTaskFailure",
            json!({"taskToken": tok, "error": "Rejected", "cause": "no"}),
        )
        .await
        .unwrap();
        let d = e.wait_for_execution(&arn).await.unwrap();
        assert_eq!(d["status"], "FAILED");
        assert_eq!(d["error"], "Rejected");
    });
}

#[test]
fn heartbeat_timeout() {
    rt().block_on(async {
        let e = token_engine(Arc::new(MemoryStore::new())).await;
        let arn = start(&e, token_def(Some(10))).await;
        let d = e.wait_for_execution(&arn).await.unwrap();
        assert_eq!(d["status"], "FAILED");
        // Real AWS reports a heartbeat timeout as States.Timeout (corpus test_heartbeat_timeout).
        assert_eq!(d["error"], "States.Timeout");
        let h = e
            .call("GetExecutionHistory", json!({"executionArn": arn}))
            .await
            .unwrap();
        assert_eq!(
            types(h["events"].as_array().unwrap()),
            [
                "ExecutionStarted",
                "TaskStateEntered",
                "TaskScheduled",
                "TaskStarted",
                "TaskSubmitted",
                "TaskTimedOut",
                "ExecutionFailed"
            ]
        );
    });
}

#[test]
fn api_errors() {
    rt().block_on(async {
        let e = engine().await;
        let err = e.call("CreateStateMachine", json!({"name":"a","definition":"{\"StartAt\":\"X\",\"States\":{}}","roleArn":ROLE})).await.unwrap_err();
        assert_eq!(err.code, "InvalidDefinition");
        let err = e.call("CreateStateMachine", json!({"name":"a","definition":"{\"StartAt\":\"X\",\"States\":{\"X\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::nope:do\",\"End\":true}}}","roleArn":ROLE})).await.unwrap_err();
        assert!(err.message.contains("arn:aws:states:::nope:do"), "{}", err.message);
        let err = e.call("DescribeExecution", json!({"executionArn":"arn:aws:states:us-east-1:123456789012:execution:a:b"})).await.unwrap_err();
        assert_eq!(err.code, "ExecutionDoesNotExist");
        let def = json!({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}}).to_string();
        let sm = e.call("CreateStateMachine", json!({"name":"w","definition":def,"roleArn":ROLE})).await.unwrap();
        let smarn = sm["stateMachineArn"].clone();
        let a = e.call("StartExecution", json!({"stateMachineArn": smarn, "name":"n1", "input":"{}"})).await.unwrap();
        let b = e.call("StartExecution", json!({"stateMachineArn": smarn, "name":"n1", "input":"{}"})).await.unwrap();
        assert_eq!(a, b);
        let err = e.call("StartExecution", json!({"stateMachineArn": smarn, "name":"n1", "input":"{\"a\":1}"})).await.unwrap_err();
        assert_eq!(err.code, "ExecutionAlreadyExists");
        let long = "x".repeat(81);
        for bad in ["bad name", "a/b", "a\\b", "a:b", "a{b", "tab\there", "", long.as_str()] {
            let err = e.call("StartExecution", json!({"stateMachineArn": smarn, "name": bad})).await.unwrap_err();
            assert_eq!(err.code, "InvalidName", "{bad:?}");
        }
        // 80 characters, and non-ASCII letters, are allowed.
        for good in ["y".repeat(80), "café-été_1".to_string()] {
            e.call("StartExecution", json!({"stateMachineArn": smarn, "name": good})).await.unwrap();
        }
        e.call("StopExecution", json!({"executionArn": a["executionArn"], "error":"E"})).await.unwrap();
        let d = e.call("DescribeExecution", json!({"executionArn": a["executionArn"]})).await.unwrap();
        assert_eq!(d["status"], "ABORTED");
        let l = e.call("ListExecutions", json!({"stateMachineArn": smarn, "statusFilter":"ABORTED"})).await.unwrap();
        assert_eq!(l["executions"].as_array().unwrap().len(), 1);
    });
}

#[test]
fn recovery_resumes_wait_and_token_without_rerunning_tasks() {
    recovery(Arc::new(MemoryStore::new()));
}

#[test]
fn recovery_with_a_durable_store() {
    let store = Arc::new(DurableMemory(MemoryStore::new()));
    assert!(store.is_durable());
    recovery(store);
}

fn recovery(store: Arc<dyn Store>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let arn = rt().block_on(async {
        let e = engine_with(store.clone(), calls.clone()).await;
        let def = json!({"StartAt":"T","States":{
            "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:flaky","Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":5}],"Next":"W"},
            "W":{"Type":"Wait","Seconds":1000,"End":true}}});
        let sm = e.call("CreateStateMachine", json!({"name":"rec","definition":def.to_string(),"roleArn":ROLE})).await.unwrap();
        let ex = e.call("StartExecution", json!({"stateMachineArn": sm["stateMachineArn"], "name":"r1"})).await.unwrap();
        let arn = ex["executionArn"].as_str().unwrap().to_string();
        // let it reach the Wait
        tokio::time::sleep(std::time::Duration::from_secs(500)).await;
        e.shutdown().await;
        arn
    });
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    rt().block_on(async {
        let e = engine_with(store.clone(), calls.clone()).await;
        let d = e.wait_for_execution(&arn).await.unwrap();
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        let h = e
            .call("GetExecutionHistory", json!({"executionArn": arn}))
            .await
            .unwrap();
        let ev = h["events"].as_array().unwrap();
        assert_eq!(
            types(ev)
                .iter()
                .filter(|t| **t == "WaitStateExited")
                .count(),
            1
        );
        assert_eq!(
            types(ev)
                .iter()
                .filter(|t| **t == "ExecutionStarted")
                .count(),
            1
        );
        for (i, e) in ev.iter().enumerate() {
            assert_eq!(e["id"].as_u64().unwrap(), i as u64 + 1);
        }
    });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "no completed task runs again"
    );
}

#[test]
fn durable_store_has_the_journal_when_completion_is_reported() {
    rt().block_on(async {
        let store = Arc::new(DurableMemory(MemoryStore::new()));
        let e = engine_with(store.clone(), Arc::default()).await;
        let def = json!({"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","End":true}}});
        let sm = e.call("CreateStateMachine", json!({"name":"dj","definition":def.to_string(),"roleArn":ROLE})).await.unwrap();
        let ex = e.call("StartExecution", json!({"stateMachineArn": sm["stateMachineArn"], "name":"d1"})).await.unwrap();
        let arn = ex["executionArn"].as_str().unwrap();
        let d = e.wait_for_execution(arn).await.unwrap();
        assert_eq!(d["status"], "SUCCEEDED");
        let snap = store.load().await.unwrap();
        let (rec, journal) = &snap.executions[0];
        assert_eq!(rec.status, "SUCCEEDED");
        let events = journal
            .iter()
            .filter(|j| matches!((*j).clone().decode(), Ok(cordon_engine::JournalEntry::Event(_))))
            .count();
        assert_eq!(events, 6);
    });
}

/// A durable store whose commits wait until the test opens the gate.
struct GatedStore {
    inner: MemoryStore,
    open: tokio::sync::watch::Receiver<bool>,
}

#[async_trait::async_trait]
impl Store for GatedStore {
    async fn write(
        &self,
        ops: Vec<cordon_engine::WriteOp>,
    ) -> Result<(), cordon_engine::StoreError> {
        let mut open = self.open.clone();
        while !*open.borrow_and_update() {
            open.changed().await.unwrap();
        }
        self.inner.write(ops).await
    }
    async fn load(&self) -> Result<cordon_engine::Snapshot, cordon_engine::StoreError> {
        self.inner.load().await
    }
}

/// An engine on a [`GatedStore`], and the gate (open).
async fn gated_engine() -> (Engine, tokio::sync::watch::Sender<bool>) {
    let (gate, open) = tokio::sync::watch::channel(true);
    let store = Arc::new(GatedStore {
        inner: MemoryStore::new(),
        open,
    });
    (engine_with(store, Arc::default()).await, gate)
}

#[test]
fn history_shows_only_committed_events_and_events_commit_without_a_task_waiting() {
    rt().block_on(async {
        let (e, gate) = gated_engine().await;
        // A task waiting for its token: nothing after `TaskSubmitted` forces a commit.
        let def = json!({"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"echo","Payload":{"t.$":"$$.Task.Token"}},"End":true}}});
        let sm = e.call("CreateStateMachine", json!({"name":"gated","definition":def.to_string(),"roleArn":ROLE})).await.unwrap();
        let types = |h: &Value| -> Vec<String> {
            h["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
        };
        gate.send_replace(false);
        let ex = e.call("StartExecution", json!({"stateMachineArn": sm["stateMachineArn"], "name":"g1"})).await.unwrap();
        let arn = ex["executionArn"].as_str().unwrap().to_string();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let h = e.call("GetExecutionHistory", json!({"executionArn": arn})).await.unwrap();
        assert!(types(&h).is_empty(), "uncommitted events shown: {h}");
        gate.send_replace(true);
        let mut seen = Vec::new();
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            let h = e.call("GetExecutionHistory", json!({"executionArn": arn})).await.unwrap();
            seen = types(&h);
            if seen.last().map(String::as_str) == Some("TaskSubmitted") {
                break;
            }
        }
        assert_eq!(seen.last().map(String::as_str), Some("TaskSubmitted"), "{seen:?}");
    });
}

#[test]
fn an_execution_is_shown_ended_only_once_its_end_is_committed() {
    rt().block_on(async {
        let (e, gate) = gated_engine().await;
        let def =
            json!({"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Succeed"}}});
        let sm = e
            .call(
                "CreateStateMachine",
                json!({"name":"ended","definition":def.to_string(),"roleArn":ROLE}),
            )
            .await
            .unwrap();
        gate.send_replace(false);
        let ex = e
            .call(
                "StartExecution",
                json!({"stateMachineArn": sm["stateMachineArn"], "name":"e1"}),
            )
            .await
            .unwrap();
        let arn = ex["executionArn"].as_str().unwrap().to_string();
        // The interpreter is done (no side effect waits for the store), the commit is not.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let d = e
            .call("DescribeExecution", json!({"executionArn": arn}))
            .await
            .unwrap();
        assert_eq!(d["status"], "RUNNING", "{d}");
        assert!(
            d.get("output").is_none() && d.get("stopDate").is_none(),
            "{d}"
        );
        let l = e
            .call(
                "ListExecutions",
                json!({"stateMachineArn": sm["stateMachineArn"], "statusFilter": "SUCCEEDED"}),
            )
            .await
            .unwrap();
        assert_eq!(l["executions"].as_array().unwrap().len(), 0, "{l}");
        gate.send_replace(true);
        let d = e.wait_for_execution(&arn).await.unwrap();
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        let h = e
            .call("GetExecutionHistory", json!({"executionArn": arn}))
            .await
            .unwrap();
        assert_eq!(
            h["events"].as_array().unwrap().last().unwrap()["type"],
            "ExecutionSucceeded",
            "{h}"
        );
    });
}
