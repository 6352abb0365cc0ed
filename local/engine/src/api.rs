//! The engine facade: the Step Functions API as `call(operation, request)`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::dispatch::{LambdaInvoker, ServiceIntegration};
use crate::error::ApiError;
use crate::history::HistoryEvent;
use crate::interp;
use crate::model::{self, Definition};
use crate::runtime::{
    Clock, ClockMode, Execution, Halt, Inner, Registry, SmEntry, TokenMsg, Tokens, writer_loop,
};
use crate::store::{
    ExecutionRecord, ExecutionStatus, JournalEntry, MemoryStore, StateMachineRecord, Store, WriteOp,
};
use crate::time::epoch_seconds;

/// Engine configuration.
pub struct EngineConfig {
    pub account_id: String,
    pub region: String,
    pub partition: String,
    pub clock: ClockMode,
    pub store: Arc<dyn Store>,
    /// The Lambda service; `None` makes Lambda resources invalid in definitions.
    pub lambda: Option<Arc<dyn LambdaInvoker>>,
    /// Service integrations by service name (`sns`, `sqs`, ...).
    pub services: HashMap<String, Arc<dyn ServiceIntegration>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            clock: ClockMode::Real,
            store: Arc::new(MemoryStore::new()),
            lambda: None,
            services: HashMap::new(),
        }
    }
}

/// A running engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    tasks: Arc<Mutex<Tasks>>,
}

/// Abort handles of the running execution tasks (for shutdown). A task removes its own
/// handle when it ends, so a finished execution's task memory is freed at once instead of
/// being held by its handle.
#[derive(Default)]
struct Tasks {
    handles: HashMap<u64, tokio::task::AbortHandle>,
    next: u64,
}

fn err(code: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(code, msg)
}

fn req_str<'a>(req: &'a Value, k: &str) -> Result<&'a str, ApiError> {
    req.get(k).and_then(Value::as_str).ok_or_else(|| {
        err("ValidationException", format!("1 validation error detected: Value null at '{k}' failed to satisfy constraint: Member must not be null"))
    })
}

/// Characters AWS refuses in state machine and execution names (besides whitespace and
/// control characters).
const NAME_FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 80
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || NAME_FORBIDDEN.contains(c))
}

impl Engine {
    /// Start the engine: load the store and resume every unfinished execution.
    pub async fn start(cfg: EngineConfig) -> Result<Engine, ApiError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let dirty = Arc::new(Mutex::new(Vec::new()));
        let inner = Arc::new(Inner {
            account_id: cfg.account_id,
            region: cfg.region,
            partition: cfg.partition,
            clock: Clock::new(cfg.clock),
            lambda: cfg.lambda,
            services: cfg.services,
            reg: Mutex::new(Registry::default()),
            tokens: Mutex::new(Tokens::default()),
            writer: tx,
            dirty: dirty.clone(),
            durable: cfg.store.is_durable(),
        });
        let snapshot = cfg
            .store
            .load()
            .await
            .map_err(|e| err("InternalServerError", e.to_string()))?;
        tokio::spawn(writer_loop(cfg.store.clone(), rx, dirty));
        let engine = Engine {
            inner: inner.clone(),
            tasks: Arc::default(),
        };
        for rec in snapshot.state_machines {
            let def = match engine.parse(&rec.definition) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(arn = %rec.arn, error = %e.message, "stored definition no longer valid");
                    continue;
                }
            };
            inner.reg.lock().unwrap().sms.insert(
                rec.arn.clone(),
                Arc::new(SmEntry {
                    record: rec,
                    def: Arc::new(def),
                }),
            );
        }
        // Executions of one state machine share its definition: parsed once, not per execution.
        let mut parsed: HashMap<Arc<str>, Arc<Definition>> = HashMap::new();
        for (rec, journal) in snapshot.executions {
            let def = match parsed.get(&rec.definition) {
                Some(d) => d.clone(),
                None => match engine.parse(&rec.definition) {
                    Ok(d) => {
                        let d = Arc::new(d);
                        parsed.insert(rec.definition.clone(), d.clone());
                        d
                    }
                    Err(e) => {
                        tracing::warn!(arn = %rec.arn, error = %e.message, "execution's definition no longer valid: not resumed");
                        continue;
                    }
                },
            };
            let mut history = Vec::new();
            let mut values = HashMap::new();
            let mut unreadable = None;
            for (i, j) in journal.into_iter().enumerate() {
                match j.decode() {
                    Ok(JournalEntry::Event(e)) => history.push(e),
                    Ok(JournalEntry::Value { key, value }) => {
                        values.insert(key, value);
                    }
                    Ok(JournalEntry::Encoded(_)) => {
                        unreadable.get_or_insert_with(|| (i, "not decoded".to_string()));
                    }
                    Err(e) => {
                        unreadable.get_or_insert((i, e.0));
                    }
                }
            }
            let finished = rec.is_finished();
            if let Some((i, e)) = &unreadable {
                tracing::error!(execution = %rec.arn, entry = i, error = %e, "unreadable journal entry");
            }
            let exec = engine.make_execution(rec, def, history, values);
            // Replaying without the entry would run the execution wrong: it fails instead.
            if let (Some((i, e)), false) = (unreadable, finished) {
                exec.state.lock().unwrap().broken = Some(Box::new((
                    interp::JOURNAL_UNREADABLE.to_string(),
                    format!(
                        "Entry {i} of this execution's journal cannot be read ({e}), so the execution cannot be resumed from its journal and is failed instead of being replayed without it. Start the execution again."
                    ),
                )));
            }
            inner.reg.lock().unwrap().order.push(exec.clone());
            inner
                .reg
                .lock()
                .unwrap()
                .execs
                .insert(exec.arn.clone(), exec.clone());
            if finished {
                exec.done.set(());
            } else {
                engine.spawn(exec);
            }
        }
        Ok(engine)
    }

    fn parse(&self, text: &str) -> Result<Definition, ApiError> {
        let inner = &self.inner;
        let can = |r: &str| interp::can_dispatch(inner, r);
        model::parse(text, &can).map_err(|m| err("InvalidDefinition", m))
    }

    fn make_execution(
        &self,
        record: ExecutionRecord,
        def: Arc<Definition>,
        history: Vec<HistoryEvent>,
        values: HashMap<String, Value>,
    ) -> Arc<Execution> {
        Arc::new(Execution::new(record, def, history, values))
    }

    fn spawn(&self, exec: Arc<Execution>) {
        let tasks = self.tasks.clone();
        // Held across the spawn: a task that ends at once waits for its handle to be listed
        // before it removes it.
        let mut t = self.tasks.lock().unwrap();
        let id = t.next;
        t.next += 1;
        let run = interp::run_execution(self.inner.clone(), exec);
        let h = tokio::spawn(async move {
            run.await;
            tasks.lock().unwrap().handles.remove(&id);
        });
        t.handles.insert(id, h.abort_handle());
    }

    /// Wait until the execution is no longer running; returns its status (`SUCCEEDED`, ...).
    pub async fn wait_for_status(&self, execution_arn: &str) -> Result<String, ApiError> {
        let exec = self.exec(execution_arn)?;
        exec.done.wait().await;
        let status = exec.state.lock().unwrap().record.status;
        Ok(status.to_string())
    }

    /// Wait until the execution is no longer running; returns its `DescribeExecution`.
    pub async fn wait_for_execution(&self, execution_arn: &str) -> Result<Value, ApiError> {
        self.wait_for_status(execution_arn).await?;
        self.describe_execution(&json!({"executionArn": execution_arn}))
    }

    /// Stop running executions (they stay `RUNNING` in the store and resume at the next
    /// `start`) and commit everything written so far.
    pub async fn shutdown(&self) {
        for (_, h) in self.tasks.lock().unwrap().handles.drain() {
            h.abort();
        }
        // In start order: a store that is not durable receives executions only now.
        let execs: Vec<_> = {
            let reg = self.inner.reg.lock().unwrap();
            reg.order.clone()
        };
        for e in execs {
            e.push_all(&self.inner);
        }
        self.inner.flush().await;
    }

    /// One Step Functions API operation, request and response as in the AWS JSON protocol.
    pub async fn call(&self, operation: &str, request: Value) -> Result<Value, ApiError> {
        let r = &request;
        match operation {
            "CreateStateMachine" => self.create_state_machine(r).await,
            "DescribeStateMachine" => self.describe_state_machine(r),
            "ListStateMachines" => self.list_state_machines(r),
            "DeleteStateMachine" => self.delete_state_machine(r).await,
            "StartExecution" => self.start_execution(r).await,
            "DescribeExecution" => self.describe_execution(r),
            "ListExecutions" => self.list_executions(r),
            "GetExecutionHistory" => self.get_execution_history(r),
            "StopExecution" => self.stop_execution(r).await,
            "SendTaskSuccess" => self.send_task(r, "success"),
            "SendTaskFailure" => self.send_task(r, "failure"),
            "SendTaskHeartbeat" => self.send_task(r, "heartbeat"),
            "DescribeStateMachineForExecution" => self.describe_sm_for_execution(r),
            _ => Err(err(
                "UnknownOperationException",
                format!("Operation {operation} is not supported"),
            )),
        }
    }

    fn sm_arn(&self, name: &str) -> String {
        let i = &self.inner;
        format!(
            "arn:{}:states:{}:{}:stateMachine:{}",
            i.partition, i.region, i.account_id, name
        )
    }

    async fn create_state_machine(&self, r: &Value) -> Result<Value, ApiError> {
        let name = req_str(r, "name")?;
        let definition = req_str(r, "definition")?;
        let role_arn = req_str(r, "roleArn")?;
        if !valid_name(name) {
            return Err(err("InvalidName", format!("Invalid Name: '{name}'")));
        }
        let kind = r
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("STANDARD")
            .to_string();
        if kind != "STANDARD" && kind != "EXPRESS" {
            return Err(err(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{kind}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
                ),
            ));
        }
        if !role_arn.starts_with("arn:") {
            return Err(err(
                "InvalidArn",
                format!("Invalid Arn: 'Resource type not valid in this context: {role_arn}'"),
            ));
        }
        let def = self.parse(definition)?;
        let arn = self.sm_arn(name);
        {
            let reg = self.inner.reg.lock().unwrap();
            if let Some(e) = reg.sms.get(&arn) {
                if *e.record.definition == *definition
                    && e.record.role_arn == role_arn
                    && e.record.kind == kind
                {
                    return Ok(
                        json!({"stateMachineArn": arn, "creationDate": epoch_seconds(e.record.creation_date_ms)}),
                    );
                }
                return Err(err(
                    "StateMachineAlreadyExists",
                    format!("State Machine Already Exists: '{arn}'"),
                ));
            }
        }
        let record = StateMachineRecord {
            arn: arn.clone(),
            name: name.to_string(),
            definition: Arc::from(definition),
            role_arn: role_arn.to_string(),
            kind,
            creation_date_ms: self.inner.clock.now_ms(),
        };
        let created = record.creation_date_ms;
        self.inner.reg.lock().unwrap().sms.insert(
            arn.clone(),
            Arc::new(SmEntry {
                record: record.clone(),
                def: Arc::new(def),
            }),
        );
        self.inner.send(WriteOp::PutStateMachine(record));
        self.inner.flush().await;
        Ok(json!({"stateMachineArn": arn, "creationDate": epoch_seconds(created)}))
    }

    fn sm(&self, arn: &str) -> Result<Arc<SmEntry>, ApiError> {
        if !arn.starts_with("arn:") || !arn.contains(":stateMachine:") {
            return Err(err(
                "InvalidArn",
                format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
            ));
        }
        self.inner
            .reg
            .lock()
            .unwrap()
            .sms
            .get(arn)
            .cloned()
            .ok_or_else(|| {
                err(
                    "StateMachineDoesNotExist",
                    format!("State Machine Does Not Exist: '{arn}'"),
                )
            })
    }

    fn describe_state_machine(&self, r: &Value) -> Result<Value, ApiError> {
        let e = self.sm(req_str(r, "stateMachineArn")?)?;
        let rec = &e.record;
        Ok(json!({
            "stateMachineArn": rec.arn, "name": rec.name, "status": "ACTIVE", "definition": rec.definition,
            "roleArn": rec.role_arn, "type": rec.kind, "creationDate": epoch_seconds(rec.creation_date_ms),
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
            "tracingConfiguration": {"enabled": false},
        }))
    }

    fn list_state_machines(&self, r: &Value) -> Result<Value, ApiError> {
        let all: Vec<Value> = self
            .inner
            .reg
            .lock()
            .unwrap()
            .sms
            .values()
            .map(|e| {
                json!({
                    "stateMachineArn": e.record.arn, "name": e.record.name, "type": e.record.kind,
                    "creationDate": epoch_seconds(e.record.creation_date_ms),
                })
            })
            .collect();
        let (page, next) = paginate(all, r)?;
        let mut out = json!({"stateMachines": page});
        if let Some(n) = next {
            out["nextToken"] = Value::String(n);
        }
        Ok(out)
    }

    async fn delete_state_machine(&self, r: &Value) -> Result<Value, ApiError> {
        let arn = req_str(r, "stateMachineArn")?;
        if !arn.starts_with("arn:") || !arn.contains(":stateMachine:") {
            return Err(err(
                "InvalidArn",
                format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
            ));
        }
        let removed = self.inner.reg.lock().unwrap().sms.remove(arn).is_some();
        if removed {
            self.inner.send(WriteOp::DeleteStateMachine {
                arn: arn.to_string(),
            });
            self.inner.flush().await;
        }
        Ok(json!({}))
    }

    async fn start_execution(&self, r: &Value) -> Result<Value, ApiError> {
        let sm = self.sm(req_str(r, "stateMachineArn")?)?;
        let name = match r.get("name").and_then(Value::as_str) {
            Some(n) => n.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        if !valid_name(&name) {
            return Err(err("InvalidName", format!("Invalid Name: '{name}'")));
        }
        let input_text = match r.get("input") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        let Ok(parsed_input) = serde_json::from_str::<Value>(&input_text) else {
            return Err(err(
                "InvalidExecutionInput",
                format!("Invalid execution input: {input_text}"),
            ));
        };
        if input_text.len() > 262144 {
            return Err(err(
                "InvalidExecutionInput",
                "Execution input exceeds the maximum size of 262144 bytes",
            ));
        }
        let i = &self.inner;
        let arn = format!(
            "arn:{}:states:{}:{}:execution:{}:{}",
            i.partition, i.region, i.account_id, sm.record.name, name
        );
        if let Some(existing) = i.reg.lock().unwrap().execs.get(&arn).cloned() {
            let st = existing.state.lock().unwrap();
            if st.record.input == input_text && st.record.status == ExecutionStatus::Running {
                return Ok(
                    json!({"executionArn": arn, "startDate": epoch_seconds(st.record.start_date_ms)}),
                );
            }
            return Err(err(
                "ExecutionAlreadyExists",
                format!("Execution Already Exists: '{arn}'"),
            ));
        }
        let record = ExecutionRecord {
            arn: arn.clone(),
            name,
            state_machine_arn: sm.record.arn.clone(),
            definition: sm.record.definition.clone(),
            role_arn: sm.record.role_arn.clone(),
            status: ExecutionStatus::Running,
            input: input_text,
            output: None,
            error: None,
            cause: None,
            start_date_ms: i.clock.now_ms(),
            stop_date_ms: None,
            redrive_count: 0,
        };
        let start = record.start_date_ms;
        let exec = self.make_execution(record, sm.def.clone(), Vec::new(), HashMap::new());
        {
            let mut reg = i.reg.lock().unwrap();
            if reg.execs.contains_key(&arn) {
                return Err(err(
                    "ExecutionAlreadyExists",
                    format!("Execution Already Exists: '{arn}'"),
                ));
            }
            reg.execs.insert(arn.clone(), exec.clone());
            reg.order.push(exec.clone());
        }
        exec.state.lock().unwrap().parsed_input = Some(parsed_input);
        exec.put_record(i);
        self.spawn(exec);
        Ok(json!({"executionArn": arn, "startDate": epoch_seconds(start)}))
    }

    fn exec(&self, arn: &str) -> Result<Arc<Execution>, ApiError> {
        if !arn.starts_with("arn:") || !arn.contains(":execution:") {
            return Err(err(
                "InvalidArn",
                format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
            ));
        }
        self.inner
            .reg
            .lock()
            .unwrap()
            .execs
            .get(arn)
            .cloned()
            .ok_or_else(|| {
                err(
                    "ExecutionDoesNotExist",
                    format!("Execution Does Not Exist: '{arn}'"),
                )
            })
    }

    /// The status to show: with a durable store an execution's end is shown once it is
    /// committed (with its last events), so a reader who sees it ended also sees the whole
    /// history. Until then it is `RUNNING`.
    fn shown_status(&self, exec: &Execution, rec: &ExecutionRecord) -> ExecutionStatus {
        if self.inner.durable && rec.is_finished() && exec.done.get().is_none() {
            ExecutionStatus::Running
        } else {
            rec.status
        }
    }

    fn describe_execution(&self, r: &Value) -> Result<Value, ApiError> {
        let exec = self.exec(req_str(r, "executionArn")?)?;
        let st = exec.state.lock().unwrap();
        let rec = &st.record;
        let status = self.shown_status(&exec, rec);
        let mut o = json!({
            "executionArn": rec.arn, "stateMachineArn": rec.state_machine_arn, "name": rec.name,
            "status": status.as_str(), "startDate": epoch_seconds(rec.start_date_ms),
            "input": rec.input, "inputDetails": {"included": true},
            "redriveCount": rec.redrive_count, "redriveStatus": "NOT_REDRIVABLE",
        });
        if status == ExecutionStatus::Running {
            return Ok(o);
        }
        if let Some(s) = rec.stop_date_ms {
            o["stopDate"] = epoch_seconds(s);
        }
        if let Some(out) = &rec.output {
            o["output"] = Value::String(out.clone());
            o["outputDetails"] = json!({"included": true});
        }
        if let Some(e) = &rec.error {
            o["error"] = Value::String(e.clone());
        }
        if let Some(c) = &rec.cause {
            o["cause"] = Value::String(c.clone());
        }
        Ok(o)
    }

    fn list_executions(&self, r: &Value) -> Result<Value, ApiError> {
        let sm_arn = req_str(r, "stateMachineArn")?;
        self.sm(sm_arn)?;
        let filter = r.get("statusFilter").and_then(Value::as_str);
        let reg = self.inner.reg.lock().unwrap();
        let mut all = Vec::new();
        for e in reg.order.iter().rev() {
            let st = e.state.lock().unwrap();
            let rec = &st.record;
            let status = self.shown_status(e, rec);
            if rec.state_machine_arn != sm_arn || filter.is_some_and(|f| status != f) {
                continue;
            }
            let mut o = json!({"executionArn": rec.arn, "stateMachineArn": rec.state_machine_arn, "name": rec.name, "status": status.as_str(), "startDate": epoch_seconds(rec.start_date_ms)});
            if let (Some(s), false) = (rec.stop_date_ms, status == ExecutionStatus::Running) {
                o["stopDate"] = epoch_seconds(s);
            }
            all.push(o);
        }
        drop(reg);
        let (page, next) = paginate(all, r)?;
        let mut out = json!({"executions": page});
        if let Some(n) = next {
            out["nextToken"] = Value::String(n);
        }
        Ok(out)
    }

    fn get_execution_history(&self, r: &Value) -> Result<Value, ApiError> {
        let exec = self.exec(req_str(r, "executionArn")?)?;
        let include = r
            .get("includeExecutionData")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let reverse = r
            .get("reverseOrder")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut events: Vec<Value> = {
            let st = exec.state.lock().unwrap();
            // With a durable store, only what is committed: what a crash would keep, so no
            // reader acts on an event that may still vanish.
            let shown = if self.inner.durable {
                exec.committed
                    .load(std::sync::atomic::Ordering::Acquire)
                    .min(st.history.len())
            } else {
                st.history.len()
            };
            st.history[..shown]
                .iter()
                .map(|e| e.to_api(include))
                .collect()
        };
        if reverse {
            events.reverse();
        }
        let (page, next) = paginate(events, r)?;
        let mut out = json!({"events": page});
        if let Some(n) = next {
            out["nextToken"] = Value::String(n);
        }
        Ok(out)
    }

    async fn stop_execution(&self, r: &Value) -> Result<Value, ApiError> {
        let exec = self.exec(req_str(r, "executionArn")?)?;
        let error = r.get("error").and_then(Value::as_str).map(str::to_string);
        let cause = r.get("cause").and_then(Value::as_str).map(str::to_string);
        let running = exec.state.lock().unwrap().record.status == ExecutionStatus::Running;
        if running {
            exec.halt.set(Halt::Stop(error, cause));
            exec.done.wait().await;
        }
        let st = exec.state.lock().unwrap();
        Ok(
            json!({"stopDate": epoch_seconds(st.record.stop_date_ms.unwrap_or_else(|| self.inner.clock.now_ms()))}),
        )
    }

    fn send_task(&self, r: &Value, what: &str) -> Result<Value, ApiError> {
        let token = req_str(r, "taskToken")?;
        if !interp::token_well_formed(token) {
            return Err(err("InvalidToken", "Invalid token"));
        }
        let msg = match what {
            "success" => {
                let out = req_str(r, "output")?;
                match serde_json::from_str::<Value>(out) {
                    Ok(v) => TokenMsg::Success(v),
                    Err(_) => return Err(err("InvalidOutput", format!("Invalid output: {out}"))),
                }
            }
            "failure" => TokenMsg::Failure {
                error: r
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                cause: r.get("cause").and_then(Value::as_str).map(str::to_string),
            },
            _ => TokenMsg::Heartbeat,
        };
        let mut t = self.inner.tokens.lock().unwrap();
        if t.closed.contains(token) {
            return Err(err(
                "TaskTimedOut",
                "Task Timed Out: 'Provided task does not exist anymore'",
            ));
        }
        let Some(slot) = t.live.get(token) else {
            return Err(err(
                "TaskDoesNotExist",
                "Task Does Not Exist: 'Provided task does not exist'",
            ));
        };
        let finishing = !matches!(msg, TokenMsg::Heartbeat);
        if Arc::strong_count(&slot.mailbox) < 2 {
            t.live.remove(token);
            t.closed.insert(token.to_string());
            return Err(err(
                "TaskTimedOut",
                "Task Timed Out: 'Provided task does not exist anymore'",
            ));
        }
        slot.mailbox.send(msg);
        if finishing {
            t.live.remove(token);
            t.closed.insert(token.to_string());
        }
        Ok(json!({}))
    }

    fn describe_sm_for_execution(&self, r: &Value) -> Result<Value, ApiError> {
        let exec = self.exec(req_str(r, "executionArn")?)?;
        // The execution's state is released before the registry is taken: the lock order is
        // registry → execution state, never the other way round.
        let rec = exec.state.lock().unwrap().record.clone();
        let name = rec.state_machine_arn.rsplit(':').next().unwrap_or_default();
        let update = self
            .inner
            .reg
            .lock()
            .unwrap()
            .sms
            .get(&rec.state_machine_arn)
            .map(|e| e.record.creation_date_ms)
            .unwrap_or(rec.start_date_ms);
        Ok(json!({
            "stateMachineArn": rec.state_machine_arn, "name": name, "definition": rec.definition,
            "roleArn": rec.role_arn, "updateDate": epoch_seconds(update),
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
            "tracingConfiguration": {"enabled": false},
        }))
    }
}

fn paginate(all: Vec<Value>, r: &Value) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let max = match r.get("maxResults").and_then(Value::as_u64) {
        None | Some(0) => 100,
        Some(m) if m > 1000 => {
            return Err(err(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{m}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"
                ),
            ));
        }
        Some(m) => m as usize,
    };
    let start = match r.get("nextToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| err("InvalidToken", format!("Invalid Token: '{t}'")))?,
    };
    let end = (start + max).min(all.len());
    let next = (end < all.len()).then(|| format!("page-{end}"));
    let page = all
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    Ok((page, next))
}

#[allow(dead_code)]
fn _obj() -> Map<String, Value> {
    Map::new()
}
