//! What the engine's integration tests share: a paused runtime, an engine on the virtual clock
//! with in-process Lambdas and an SQS stub, a store that claims durability, and the API calls
//! every test makes.

#![allow(dead_code, reason = "each test file uses its own part of this module")]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cordon_engine::{
    ClockMode, Engine, EngineConfig, InProcessLambdas, MemoryStore, ServiceIntegration,
    ServiceRequest, Snapshot, Store, StoreError, TaskError, WriteOp,
};
use serde_json::{Value, json};

pub const ROLE: &str = "arn:aws:iam::123456789012:role/test";

/// A current-thread runtime with time paused (the virtual clock follows it).
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// In-process functions: `echo` returns its input, `flaky` fails with `Transient` on its first
/// two calls (counted in `calls`), `boom` always fails with `SubjectNotFound`.
pub fn lambdas(calls: Arc<AtomicUsize>) -> InProcessLambdas {
    InProcessLambdas::new()
        .with("echo", |v| async move { Ok(v) })
        .with("flaky", move |v| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(("Transient".to_string(), "try again".to_string()))
                } else {
                    Ok(v)
                }
            }
        })
        .with("boom", |_| async move {
            Err(("SubjectNotFound".to_string(), "no such user".to_string()))
        })
}

/// `sqs:sendMessage` that accepts every message.
pub struct Sqs;

#[async_trait::async_trait]
impl ServiceIntegration for Sqs {
    async fn call(&self, _r: ServiceRequest) -> Result<Value, TaskError> {
        Ok(json!({"MessageId": "m-1"}))
    }
}

/// A `MemoryStore` that claims durability: executions then wait for commits before side
/// effects and completion, and the journal reaches the store as they run (the redb path).
pub struct DurableMemory(pub MemoryStore);

#[async_trait::async_trait]
impl Store for DurableMemory {
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.0.write(ops).await
    }
    async fn load(&self) -> Result<Snapshot, StoreError> {
        self.0.load().await
    }
}

/// An engine on the virtual clock over `store`, with [`lambdas`] and [`Sqs`].
pub async fn engine_with(store: Arc<dyn Store>, calls: Arc<AtomicUsize>) -> Engine {
    let mut services: HashMap<String, Arc<dyn ServiceIntegration>> = HashMap::new();
    services.insert("sqs".into(), Arc::new(Sqs));
    Engine::start(EngineConfig {
        clock: ClockMode::Virtual,
        store,
        lambda: Some(Arc::new(lambdas(calls))),
        services,
        ..EngineConfig::default()
    })
    .await
    .unwrap()
}

/// `CreateStateMachine`; the state machine's ARN.
pub async fn create_state_machine(e: &Engine, name: &str, def: &Value) -> String {
    let sm = e
        .call(
            "CreateStateMachine",
            json!({"name": name, "definition": def.to_string(), "roleArn": ROLE}),
        )
        .await
        .unwrap();
    sm["stateMachineArn"].as_str().unwrap().to_string()
}

/// `StartExecution` of `sm` with the request's other fields (`name`, `input`); the execution's
/// ARN.
pub async fn start_execution(e: &Engine, sm: &str, fields: Value) -> String {
    let mut request = json!({"stateMachineArn": sm});
    for (k, v) in fields.as_object().into_iter().flatten() {
        request[k] = v.clone();
    }
    let ex = e.call("StartExecution", request).await.unwrap();
    ex["executionArn"].as_str().unwrap().to_string()
}

/// The execution's whole history.
pub async fn history(e: &Engine, arn: &str) -> Vec<Value> {
    let h = e
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "maxResults": 1000}),
        )
        .await
        .unwrap();
    h["events"].as_array().unwrap().clone()
}

/// The events' types, in order.
pub fn types(h: &[Value]) -> Vec<&str> {
    h.iter().map(|e| e["type"].as_str().unwrap()).collect()
}
