//! Runs cases against the engine: one fresh engine per case on a paused (virtual-time)
//! current-thread runtime, a bounded pool of OS threads, a wall-clock limit per case.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use cordon_engine::{Engine, EngineConfig, LambdaInvoker, ServiceIntegration};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::case::Case;
use crate::compare::{self, Observed};
use crate::normalise;
use crate::stubs::{StandInLambdas, StandInService, Submitted};

pub const ACCOUNT: &str = "111111111111";
pub const REGION: &str = "us-east-1";
pub const PARTITION: &str = "aws";

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub threads: usize,
    pub wall_timeout: Duration,
    /// Simulated time after which a still-running execution is given up.
    pub virtual_limit: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8);
        Self {
            threads,
            wall_timeout: Duration::from_secs(60),
            virtual_limit: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub id: String,
    pub file: String,
    /// The definition uses JSONata somewhere.
    pub jsonata: bool,
    /// `None` = passed.
    pub strict: Option<String>,
    pub shape: Option<String>,
    /// Harness-level problem (engine error, timeout, panic) — the case then fails both.
    pub error: Option<String>,
    pub observed: Option<Observed>,
    pub elapsed: Duration,
}

impl CaseResult {
    pub fn strict_passed(&self) -> bool {
        self.error.is_none() && self.strict.is_none()
    }
    pub fn shape_passed(&self) -> bool {
        self.error.is_none() && self.shape.is_none()
    }
    /// One-line reason for failing strict.
    pub fn reason(&self) -> String {
        self.error
            .clone()
            .or_else(|| self.strict.clone())
            .unwrap_or_default()
    }
}

/// What happened while driving one execution (before normalisation).
#[derive(Debug, Default)]
pub struct RawRun {
    pub status: String,
    pub events: Vec<Value>,
    pub notes: Vec<String>,
}

fn api_err(op: &str, e: cordon_engine::ApiError) -> String {
    format!("{op} failed: {}: {}", e.code, e.message)
}

/// Drives one case's execution on the current (paused) runtime.
pub async fn drive(case: &Case, index: usize, virtual_limit: Duration) -> Result<RawRun, String> {
    let (tx, rx) = mpsc::unbounded_channel::<Submitted>();
    let lambda: Option<Arc<dyn LambdaInvoker>> = Some(Arc::new(StandInLambdas::new(
        case.lambdas.clone().unwrap_or_default(),
        REGION,
        ACCOUNT,
    )));
    let mut services: HashMap<String, Arc<dyn ServiceIntegration>> = HashMap::new();
    let stubs = case.service_stubs.clone().unwrap_or_default();
    let consumer = case.callbacks.as_ref().map(|_| tx.clone());
    let shared: Arc<dyn ServiceIntegration> = Arc::new(StandInService::new(stubs, consumer));
    services.insert("sqs".into(), shared.clone());
    services.insert("sns".into(), shared);
    // Every field is set today; the rest stays the engine's default when its configuration grows.
    #[allow(clippy::needless_update)]
    let cfg = EngineConfig {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        partition: PARTITION.into(),
        clock: cordon_engine::ClockMode::Virtual,
        store: Arc::new(cordon_engine::MemoryStore::new()),
        lambda,
        services,
        ..Default::default()
    };
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| api_err("Engine::start", e))?;

    let sm_name = case
        .ctx("stateMachineName")
        .map(str::to_string)
        .unwrap_or_else(|| format!("conformance_sm_{index}"));
    let role = case
        .ctx("roleArn")
        .map(str::to_string)
        .unwrap_or_else(|| format!("arn:aws:iam::{ACCOUNT}:role/conformance-sfn-role"));
    let exec_name = case
        .ctx("executionName")
        .map(str::to_string)
        .unwrap_or_else(|| format!("conformance_exec_{index}"));
    let created = engine
        .call(
            "CreateStateMachine",
            json!({"name": sm_name, "definition": serde_json::to_string(&case.definition).unwrap(), "roleArn": role, "type": "STANDARD"}),
        )
        .await
        .map_err(|e| api_err("CreateStateMachine", e))?;
    let sm_arn = created
        .get("stateMachineArn")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let started = engine
        .call(
            "StartExecution",
            json!({"stateMachineArn": sm_arn, "name": exec_name, "input": case.input_text}),
        )
        .await
        .map_err(|e| api_err("StartExecution", e))?;
    let exec_arn = started
        .get("executionArn")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();

    let notes = Arc::new(Mutex::new(Vec::new()));
    if let Some(cb) = &case.callbacks {
        tokio::spawn(consume(
            engine.clone(),
            cb.clone(),
            rx,
            exec_arn.clone(),
            notes.clone(),
        ));
    }
    drop(tx);

    let waited = tokio::time::timeout(virtual_limit, engine.wait_for_execution(&exec_arn)).await;
    let mut run = RawRun::default();
    match waited {
        Err(_) => run.notes.push(format!(
            "execution still running after {}s of simulated time",
            virtual_limit.as_secs()
        )),
        Ok(Err(e)) => run.notes.push(api_err("wait_for_execution", e)),
        Ok(Ok(_)) => {}
    }
    run.events = fetch_history(&engine, &exec_arn, case.history_request.as_ref()).await?;
    let described = engine
        .call("DescribeExecution", json!({"executionArn": exec_arn}))
        .await
        .map_err(|e| api_err("DescribeExecution", e))?;
    run.status = described
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    run.notes.extend(notes.lock().unwrap().drain(..));
    engine.shutdown().await;
    Ok(run)
}

async fn fetch_history(
    engine: &Engine,
    arn: &str,
    extra: Option<&Map<String, Value>>,
) -> Result<Vec<Value>, String> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1000 {
        let mut req =
            json!({"executionArn": arn, "maxResults": 1000, "includeExecutionData": true});
        if let Some(extra) = extra {
            for (k, v) in extra {
                req[k] = v.clone();
            }
        }
        if let Some(t) = &token {
            req["nextToken"] = Value::String(t.clone());
        }
        let page = engine
            .call("GetExecutionHistory", req)
            .await
            .map_err(|e| api_err("GetExecutionHistory", e))?;
        if let Some(Value::Array(evs)) = page.get("events") {
            events.extend(evs.iter().cloned());
        }
        match page.get("nextToken").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(events)
}

/// How many `TaskSubmitted` events the history holds.
async fn submitted_count(engine: &Engine, arn: &str) -> usize {
    match engine
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "maxResults": 1000, "includeExecutionData": false}),
        )
        .await
    {
        Ok(page) => page
            .get("events")
            .and_then(Value::as_array)
            .map(|evs| {
                evs.iter()
                    .filter(|e| e.get("type").and_then(Value::as_str) == Some("TaskSubmitted"))
                    .count()
            })
            .unwrap_or(0),
        Err(_) => 0,
    }
}

/// A callback consumer: for every submitted message, performs the case's `actions`.
async fn consume(
    engine: Engine,
    cb: Value,
    mut rx: mpsc::UnboundedReceiver<Submitted>,
    exec_arn: String,
    notes: Arc<Mutex<Vec<String>>>,
) {
    let actions: Vec<Value> = cb
        .get("actions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut ordinal = 0usize;
    while let Some(sub) = rx.recv().await {
        ordinal += 1;
        let engine = engine.clone();
        let actions = actions.clone();
        let notes = notes.clone();
        let arn = if sub.execution_arn.is_empty() {
            exec_arn.clone()
        } else {
            sub.execution_arn.clone()
        };
        tokio::spawn(async move {
            // The consumer reads the message after the task was submitted (TaskSubmitted recorded).
            let mut spins = 0;
            while submitted_count(&engine, &arn).await < ordinal && spins < 200 {
                spins += 1;
                tokio::task::yield_now().await;
            }
            let message: Value = serde_json::from_str(&sub.message_text)
                .unwrap_or(Value::String(sub.message_text.clone()));
            for action in &actions {
                let repeat = action.get("repeat").and_then(Value::as_u64).unwrap_or(1);
                for _ in 0..repeat {
                    if let Some(d) = action.get("delay_seconds").and_then(Value::as_f64) {
                        tokio::time::sleep(Duration::from_secs_f64(d)).await;
                    }
                    let call = action
                        .get("call")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let token = match action.get("taskToken") {
                        Some(Value::Object(t)) => {
                            match t.get("message_field").and_then(Value::as_str) {
                                Some(f) => message.get(f).cloned().unwrap_or(Value::Null),
                                None => t.get("literal").cloned().unwrap_or(Value::Null),
                            }
                        }
                        Some(Value::String(s)) => Value::String(s.clone()),
                        _ => Value::Null,
                    };
                    let mut req = json!({"taskToken": token});
                    match call {
                        "SendTaskSuccess" => {
                            let out = action
                                .get("output")
                                .cloned()
                                .unwrap_or(json!({"literal": "{}"}));
                            let text = if let Some(f) = out
                                .get("json_text_of_message_field")
                                .and_then(Value::as_str)
                            {
                                crate::pyjson::dumps(message.get(f).unwrap_or(&Value::Null), true)
                            } else if out.get("message_text").is_some() {
                                sub.message_text.clone()
                            } else {
                                out.get("literal")
                                    .and_then(Value::as_str)
                                    .unwrap_or("{}")
                                    .to_string()
                            };
                            req["output"] = Value::String(text);
                        }
                        "SendTaskFailure" => {
                            for k in ["error", "cause"] {
                                if let Some(v) = action.get(k) {
                                    req[k] = v.clone();
                                }
                            }
                        }
                        _ => {}
                    }
                    if let Err(e) = engine.call(call, req).await {
                        notes
                            .lock()
                            .unwrap()
                            .push(format!("consumer {call}: {}: {}", e.code, e.message));
                    }
                }
            }
        });
    }
}

/// Runs, normalises and compares one case on a fresh paused runtime (blocking).
pub fn run_case_blocking(case: &Case, index: usize, opts: &RunOptions) -> CaseResult {
    let started = Instant::now();
    let mut result = CaseResult {
        id: case.id.clone(),
        file: case.file().to_string(),
        jsonata: case.uses_jsonata(),
        strict: None,
        shape: None,
        error: None,
        observed: None,
        elapsed: Duration::ZERO,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            result.error = Some(format!("runtime: {e}"));
            return result;
        }
    };
    let raw = rt.block_on(drive(case, index, opts.virtual_limit));
    drop(rt);
    match raw {
        Err(e) => result.error = Some(e),
        Ok(raw) => {
            match normalise::normalise_history_lenient(&case.normalization_steps, &raw.events) {
                Err(e) => result.error = Some(format!("normalisation: {e}")),
                Ok((history, warning)) => {
                    let obs = Observed {
                        status: raw.status.clone(),
                        history,
                    };
                    result.strict = compare::strict(case, &obs);
                    if let Some(w) = warning {
                        result.strict = Some(result.strict.take().unwrap_or(w));
                    }
                    result.shape = compare::shape(case, &obs);
                    if !raw.notes.is_empty() && result.strict.is_some() {
                        let note = raw.notes.join("; ");
                        result.strict = result.strict.map(|s| format!("{s} [{note}]"));
                    }
                    result.observed = Some(obs);
                }
            }
        }
    }
    result.elapsed = started.elapsed();
    result
}

/// Runs every case (bounded concurrency, wall-clock limit per case). Results are in input order.
/// `progress` is called after each case.
pub fn run_cases(
    cases: &[Case],
    opts: &RunOptions,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Vec<CaseResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaseResult>>> = Mutex::new(vec![None; cases.len()]);
    let shared: Arc<Vec<Case>> = Arc::new(cases.to_vec());
    std::thread::scope(|scope| {
        for _ in 0..opts.threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= cases.len() {
                        break;
                    }
                    let (tx, rx) = std_mpsc::channel();
                    let all = shared.clone();
                    let o = opts.clone();
                    // A case runs on its own thread so that a hung or spinning case is abandoned
                    // (and reported) instead of stalling the run.
                    let spawned = std::thread::Builder::new()
                        .name(format!("case-{i}"))
                        .stack_size(16 * 1024 * 1024)
                        .spawn(move || {
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                run_case_blocking(&all[i], i, &o)
                            }));
                            let _ = tx.send(r);
                        });
                    let case = &cases[i];
                    let failed = |msg: String| CaseResult {
                        id: case.id.clone(),
                        file: case.file().to_string(),
                        jsonata: case.uses_jsonata(),
                        strict: None,
                        shape: None,
                        error: Some(msg),
                        observed: None,
                        elapsed: opts.wall_timeout,
                    };
                    let r = match spawned {
                        Err(e) => failed(format!("cannot spawn thread: {e}")),
                        Ok(_) => match rx.recv_timeout(opts.wall_timeout) {
                            Ok(Ok(r)) => r,
                            Ok(Err(p)) => {
                                let msg = p
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_else(|| "panic".into());
                                failed(format!("panicked: {}", msg.lines().next().unwrap_or("")))
                            }
                            Err(_) => failed(format!(
                                "hung: no result after {}s wall clock",
                                opts.wall_timeout.as_secs()
                            )),
                        },
                    };
                    progress(&r);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}
