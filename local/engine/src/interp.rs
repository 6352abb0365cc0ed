//! The interpreter: runs an execution's states, emits history, dispatches tasks, and replays
//! from the journal after a restart (see [`crate::store`]).
//!
//! Every emission point has a replay key (`<thread>:<seq>`): a thread is the top level, a
//! Parallel branch or a Map iteration, and its sequence numbers are deterministic given the
//! journal, so an event already in the history is recognised instead of re-emitted, and a task
//! whose outcome event exists is not dispatched again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use cordon_asl_eval::{self as eval, Entropy, EvalError, JsonataScope, Scope};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::dispatch::{IntegrationPattern, LambdaInvokeError, ServiceRequest};
use crate::history::{Det, Ev, NT, details, state_event, text};
use crate::model::{
    Kind, MapSpec, NumberField, PathField, QueryLanguage, State, States, TaskSpec, WaitSpec,
};
use crate::runtime::{Execution, Halt, Inner, TokenMsg, TokenSlot, WriterMsg};
use crate::store::{ExecutionStatus, JournalEntry};

/// The payload quota (256 KiB).
pub const MAX_PAYLOAD: usize = 262_144;

/// The error a resumed execution fails with when its journal holds, at a replay key, another
/// event than the one this engine emits there (a journal written by another engine version).
pub const REPLAY_MISMATCH: &str = "Engine.ReplayMismatch";

/// The error a resumed execution fails with when an entry of its journal cannot be read.
pub const JOURNAL_UNREADABLE: &str = "Engine.JournalUnreadable";

/// Details that identify an event besides its type: compared on replay when both the
/// journaled event and the one emitted now carry them.
const IDENTITY: [&str; 2] = ["name", "index"];

/// How a mismatch describes an event: its type, details key and identity.
fn describe(ty: &str, dkey: &str, d: &Det) -> String {
    let mut parts = vec![if dkey.is_empty() {
        "no details".to_string()
    } else {
        dkey.to_string()
    }];
    for k in IDENTITY {
        if let Some(v) = d.ident(k) {
            parts.push(match k {
                "name" => format!("state '{v}'"),
                _ => format!("{k} {v}"),
            });
        }
    }
    format!("{ty} ({})", parts.join(", "))
}

/// The cause of a [`REPLAY_MISMATCH`].
fn mismatch_cause(journaled: &Ev, emitted: &str) -> String {
    let seq = if journaled.seq == u32::MAX {
        "none".to_string()
    } else {
        journaled.seq.to_string()
    };
    format!(
        "Replay mismatch at event {} (thread '{}', seq {seq}): the journal holds {}, but this engine emits {emitted} there. The journal was written by a different engine version whose states emit other events or emit them in another order; replaying it would run the execution wrong, so the execution fails instead. Finish or stop executions with the cordon version that started them before upgrading; to run this one again, start a new execution with its input.",
        journaled.id,
        journaled.thread,
        describe(&journaled.ty, &journaled.dkey, &journaled.details),
    )
}

/// Why the journaled event `e` is not the event `(ty, dkey, d)` emitted now, if it is not.
fn mismatch(e: &Ev, ty: &str, dkey: &str, d: &Det) -> Option<String> {
    let same = e.ty == ty
        && e.dkey == dkey
        && IDENTITY
            .iter()
            .all(|k| match (e.details.ident(k), d.ident(k)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            });
    (!same).then(|| mismatch_cause(e, &describe(ty, dkey, d)))
}

/// A failure travelling up: what ASL `ErrorEquals` matches.
#[derive(Debug, Clone)]
pub(crate) struct Fail {
    pub error: String,
    pub cause: Option<String>,
}

impl Fail {
    fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }
    fn output(&self) -> Value {
        let mut m = Map::new();
        if self.error.is_empty() && self.cause.is_none() {
            // A task failure reported without error or cause (SendTaskFailure).
            m.insert("Error".into(), Value::Null);
            m.insert("Cause".into(), Value::Null);
            return Value::Object(m);
        }
        m.insert("Error".into(), Value::String(self.error.clone()));
        m.insert(
            "Cause".into(),
            Value::String(self.cause.clone().unwrap_or_default()),
        );
        Value::Object(m)
    }
}

pub(crate) fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn parse_iso(s: &str) -> Option<i64> {
    // AWS wants the extended format with a `T` (chrono also accepts a space).
    if !s.contains('T') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

// ---------------------------------------------------------------------------------------------
// Resources

pub(crate) enum Resource {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`
    LegacyLambda,
    /// `arn:aws:states:::service:action[.pattern]`
    Service {
        service: String,
        action: String,
        short: String,
        pattern: IntegrationPattern,
    },
}

pub(crate) fn parse_resource(r: &str) -> Option<Resource> {
    let mut parts = [""; 6];
    let mut n = 0;
    for (i, p) in r.splitn(6, ':').enumerate() {
        parts[i] = p;
        n = i + 1;
    }
    if n < 6 || parts[0] != "arn" {
        return None;
    }
    if parts[2] == "lambda" && parts[5].starts_with("function:") {
        return Some(Resource::LegacyLambda);
    }
    if parts[2] == "states" && parts[3].is_empty() && parts[4].is_empty() {
        let (service, rest) = parts[5].split_once(':')?;
        let (action, pattern) = if let Some(a) = rest.strip_suffix(".waitForTaskToken") {
            (a, IntegrationPattern::WaitForTaskToken)
        } else if let Some((a, _)) = rest.split_once(".sync") {
            (a, IntegrationPattern::Sync)
        } else {
            (rest, IntegrationPattern::RequestResponse)
        };
        return Some(Resource::Service {
            service: service.to_string(),
            action: action.to_string(),
            short: rest.to_string(),
            pattern,
        });
    }
    None
}

pub(crate) fn can_dispatch(inner: &Inner, r: &str) -> bool {
    match parse_resource(r) {
        Some(Resource::LegacyLambda) => inner.lambda.is_some(),
        Some(Resource::Service {
            service,
            action,
            pattern,
            ..
        }) => {
            if service == "lambda" {
                inner.lambda.is_some() && action == "invoke" && pattern != IntegrationPattern::Sync
            } else if service == "aws-sdk" {
                // AWS accepts any SDK integration; without one configured it fails when run.
                true
            } else {
                inner.services.contains_key(&service)
            }
        }
        None => false,
    }
}

/// Task tokens: `AAAA` + 64 hex digits.
pub(crate) fn token_well_formed(t: &str) -> bool {
    t.len() == 68 && t.starts_with("AAAA") && t[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------------
// Threads and emission

struct Th {
    prefix: Arc<str>,
    seq: u32,
    vseq: AtomicU32,
    last: u64,
}

impl Th {
    fn new(prefix: String, last: u64) -> Self {
        Self {
            prefix: Arc::from(prefix),
            seq: 0,
            vseq: AtomicU32::new(0),
            last,
        }
    }
    fn peek_key(&self) -> String {
        format!("{}:{}", self.prefix, self.seq)
    }
}

struct Run {
    inner: Arc<Inner>,
    exec: Arc<Execution>,
}

/// Entropy journaled per thread, so replay draws the same values.
struct JEntropy<'a> {
    run: &'a Run,
    th: &'a Th,
}

impl JEntropy<'_> {
    fn draw(&self, fresh: impl FnOnce() -> Value) -> Value {
        let n = self.th.vseq.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}:v{}", self.th.prefix, n);
        self.run.value(key, fresh)
    }
}

impl Entropy for JEntropy<'_> {
    fn uuid(&self) -> String {
        self.draw(|| Value::String(uuid::Uuid::new_v4().to_string()))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    fn next_u64(&self) -> u64 {
        self.draw(|| {
            let b = uuid::Uuid::new_v4();
            Value::from(u64::from_le_bytes(
                b.as_bytes()[..8].try_into().expect("16 bytes"),
            ))
        })
        .as_u64()
        .unwrap_or(0)
    }
}

impl Run {
    /// Emit an event (or recognise it in the journal). `chain`: whether it becomes the
    /// thread's previous event (the `*Succeeded` events of Map/Parallel/iterations do not).
    fn emit(
        &self,
        th: &mut Th,
        ty: impl Into<Cow<'static, str>>,
        dkey: impl Into<Cow<'static, str>>,
        d: Det,
        chain: bool,
    ) -> (u64, i64) {
        let seq = th.seq;
        th.seq += 1;
        let (ty, dkey) = (ty.into(), dkey.into());
        let mut st = self.exec.state.lock().unwrap();
        // Only a resumed execution has a journal to recognise events in. The journaled event
        // must be the one emitted now: otherwise the journal is another engine's, and the
        // execution stops here (nothing more is emitted) and fails.
        if !st.replay.is_empty() {
            if st.broken.is_some() {
                return (0, self.inner.clock.now_ms());
            }
            if let Some(&i) = st.replay.get(&format!("{}:{}", th.prefix, seq)) {
                let e = &st.history[i];
                if let Some(cause) = mismatch(e, &ty, &dkey, &d) {
                    drop(st);
                    self.broken(cause);
                    return (0, self.inner.clock.now_ms());
                }
                let r = (e.id, e.ts);
                if chain {
                    th.last = e.id;
                }
                return r;
            }
        }
        let id = st.history.len() as u64 + 1;
        let ts = self.inner.clock.now_ms();
        st.history.push(Ev {
            id,
            prev: th.last,
            ts,
            ty,
            dkey,
            details: d,
            thread: th.prefix.clone(),
            seq,
        });
        drop(st);
        self.exec.mark_dirty(&self.inner);
        if chain {
            th.last = id;
        }
        (id, ts)
    }

    /// The journal does not match this engine: fail the execution with a
    /// [`REPLAY_MISMATCH`] (the first one found counts). The run loop ends the execution.
    fn broken(&self, cause: String) {
        let mut st = self.exec.state.lock().unwrap();
        if st.broken.is_none() {
            tracing::error!(execution = %self.exec.arn, %cause, "replay mismatch");
            st.broken = Some(Box::new((REPLAY_MISMATCH.to_string(), cause)));
        }
        drop(st);
        self.exec.halt.set(Halt::Broken);
    }

    /// Whether the execution stopped on a broken replay.
    fn is_broken(&self) -> bool {
        self.exec.state.lock().unwrap().broken.is_some()
    }

    /// Never returns once the replay is broken (the run loop then drops the execution's
    /// future): called where an execution would go on to a side effect or another state.
    async fn check_broken(&self) {
        if self.is_broken() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether the journaled task outcome `ev` is one of `expected` (the events that can
    /// follow the task's start); if not, the replay is broken.
    fn expect_outcome(&self, ev: &Ev, expected: &[&str]) -> bool {
        if expected.contains(&&*ev.ty) {
            return true;
        }
        self.broken(mismatch_cause(
            ev,
            &format!("one of {}", expected.join(", ")),
        ));
        false
    }

    /// The journaled event at the thread's next key, if replaying.
    fn replayed(&self, th: &Th) -> Option<Ev> {
        let st = self.exec.state.lock().unwrap();
        if st.replay.is_empty() {
            return None;
        }
        st.replay
            .get(&th.peek_key())
            .map(|&i| st.history[i].clone())
    }

    fn value(&self, key: String, fresh: impl FnOnce() -> Value) -> Value {
        let mut st = self.exec.state.lock().unwrap();
        if let Some(v) = st.values.get(&key) {
            return v.clone();
        }
        if st.broken.is_some() {
            // Nothing more is journaled for an execution that stopped on a broken replay.
            return fresh();
        }
        // Keys are unique per thread, so only journaled values are ever looked up again.
        let v = fresh();
        st.pending_values.push(JournalEntry::Value {
            key,
            value: v.clone(),
        });
        v
    }

    /// Make everything so far durable (before a side effect).
    async fn durable(&self) {
        self.check_broken().await;
        if self.inner.durable {
            self.exec.push_pending(&self.inner);
            self.inner.flush().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Execution

pub(crate) async fn run_execution(inner: Arc<Inner>, exec: Arc<Execution>) {
    let run = Run {
        inner: inner.clone(),
        exec: exec.clone(),
    };
    let mut th = Th::new("r".into(), 0);
    let (input_text, role_arn, start_ms, parsed) = {
        let mut st = exec.state.lock().unwrap();
        (
            st.record.input.clone(),
            st.record.role_arn.clone(),
            st.record.start_date_ms,
            st.parsed_input.take(),
        )
    };
    let input: Value =
        parsed.unwrap_or_else(|| serde_json::from_str(&input_text).unwrap_or(Value::Null));
    if run.is_broken() {
        // Its journal could not be read: nothing is replayed.
        fail_broken(&run);
        return;
    }
    run.emit(
        &mut th,
        "ExecutionStarted",
        "executionStartedEventDetails",
        details([
            ("input", Value::String(input_text)),
            ("inputDetails", NT),
            ("roleArn", Value::String(role_arn)),
        ]),
        false,
    );
    let timeout_at = exec
        .def
        .timeout_seconds
        .map(|t| start_ms + (t as i64) * 1000);
    let root = exec.def.root.clone();
    let mut vars = Map::new();
    enum End {
        Done(Result<Value, Fail>),
        Stopped(Option<String>, Option<String>),
        TimedOut,
    }
    let end = {
        let fut = run_states(&run, &root, input, &mut vars, &mut th, None);
        tokio::pin!(fut);
        let halt = exec.halt.wait();
        let timeout = async {
            match timeout_at {
                Some(t) => inner.clock.sleep_until_ms(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = &mut fut => End::Done(r),
            h = halt => match h {
                Halt::Stop(e, c) => End::Stopped(e, c),
                // Handled below.
                Halt::Broken => End::Stopped(None, None),
            },
            _ = timeout => End::TimedOut,
        }
    };
    // A broken replay ends the execution however the run ended (nothing after the mismatch
    // was emitted).
    if run.is_broken() {
        fail_broken(&run);
        return;
    }
    // Events of a cancelled branch may have advanced `last`; the terminal event follows the
    // last event of the execution.
    let last_id = exec.state.lock().unwrap().history.len() as u64;
    let (status, output, error, cause) = match end {
        End::Done(Ok(out)) => {
            let o = text(&out);
            if let Value::String(s) = &o
                && s.len() > MAX_PAYLOAD
            {
                let f = Fail::new(
                    "States.DataLimitExceeded",
                    "The state/task 'Execution' returned a result with a size exceeding the maximum number of bytes service limit.",
                );
                fail_execution(&run, &mut th, &f);
                finish(&run, ExecutionStatus::Failed, None, Some(f.error), f.cause);
                return;
            }
            run.emit(
                &mut th,
                "ExecutionSucceeded",
                "executionSucceededEventDetails",
                details([("output", o.clone()), ("outputDetails", NT)]),
                true,
            );
            (
                ExecutionStatus::Succeeded,
                o.as_str().map(str::to_string),
                None,
                None,
            )
        }
        End::Done(Err(f)) => {
            fail_execution(&run, &mut th, &f);
            (
                ExecutionStatus::Failed,
                None,
                Some(f.error).filter(|e| !e.is_empty()),
                f.cause,
            )
        }
        End::Stopped(e, c) => {
            th.last = last_id;
            let mut d = Vec::new();
            if let Some(e) = &e {
                d.push(("error", Value::String(e.clone())));
            }
            if let Some(c) = &c {
                d.push(("cause", Value::String(c.clone())));
            }
            run.emit(
                &mut th,
                "ExecutionAborted",
                "executionAbortedEventDetails",
                details(d),
                true,
            );
            (ExecutionStatus::Aborted, None, e, c)
        }
        End::TimedOut => {
            th.last = last_id;
            run.emit(
                &mut th,
                "ExecutionTimedOut",
                "executionTimedOutEventDetails",
                details([("error", json!("States.Timeout"))]),
                true,
            );
            (
                ExecutionStatus::TimedOut,
                None,
                Some("States.Timeout".to_string()),
                None,
            )
        }
    };
    finish(&run, status, output, error, cause);
}

/// End an execution whose replay broke: `ExecutionFailed` with the error and cause, after
/// everything in its journal (the journal's events stay its history). The event is appended
/// directly, not through [`Run::emit`], under a replay key no journaled event has.
fn fail_broken(run: &Run) {
    let (error, cause) = {
        let mut st = run.exec.state.lock().unwrap();
        let (error, cause) = *st.broken.clone().expect("broken");
        let root: Arc<str> = Arc::from("r");
        let seq = st
            .history
            .iter()
            .filter(|e| *e.thread == *root && e.seq != u32::MAX)
            .map(|e| e.seq + 1)
            .max()
            .unwrap_or(0);
        let id = st.history.len() as u64 + 1;
        st.history.push(Ev {
            id,
            prev: id - 1,
            ts: run.inner.clock.now_ms(),
            ty: Cow::Borrowed("ExecutionFailed"),
            dkey: Cow::Borrowed("executionFailedEventDetails"),
            details: details([
                ("error", Value::String(error.clone())),
                ("cause", Value::String(cause.clone())),
            ]),
            thread: root,
            seq,
        });
        (error, cause)
    };
    run.exec.mark_dirty(&run.inner);
    finish(run, ExecutionStatus::Failed, None, Some(error), Some(cause));
}

fn fail_execution(run: &Run, th: &mut Th, f: &Fail) {
    let mut d = Vec::new();
    if !f.error.is_empty() {
        d.push(("error", Value::String(f.error.clone())));
    }
    if let Some(c) = &f.cause {
        d.push(("cause", Value::String(c.clone())));
    }
    run.emit(
        th,
        "ExecutionFailed",
        "executionFailedEventDetails",
        details(d),
        true,
    );
}

fn finish(
    run: &Run,
    status: ExecutionStatus,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
) {
    let exec = &run.exec;
    let mine = {
        let mut st = exec.state.lock().unwrap();
        let stop = st
            .history
            .last()
            .map(|e| e.ts)
            .unwrap_or_else(|| run.inner.clock.now_ms());
        st.record.status = status;
        st.record.output = output;
        st.record.error = error;
        st.record.cause = cause;
        st.record.stop_date_ms = Some(stop);
        exec.def
            .history_hint
            .store(st.history.len(), std::sync::atomic::Ordering::Relaxed);
        st.replay = HashMap::new();
        st.values = HashMap::new();
        std::mem::take(&mut st.tokens)
    };
    exec.push_pending(&run.inner);
    exec.put_record(&run.inner);
    if !mine.is_empty() {
        let mut t = run.inner.tokens.lock().unwrap();
        for k in mine {
            if t.live.remove(&k).is_some() {
                t.closed.insert(k);
            }
        }
    }
    if !run.inner.durable {
        exec.done.set(());
        return;
    }
    // Report completion once it is durable.
    let _ = run.inner.writer.send(WriterMsg::Done(exec.clone()));
}

// ---------------------------------------------------------------------------------------------
// States

fn run_states<'a>(
    run: &'a Run,
    states: &'a Arc<States>,
    input: Value,
    vars: &'a mut Map<String, Value>,
    th: &'a mut Th,
    item: Option<&'a Value>,
) -> BoxFuture<'a, Result<Value, Fail>> {
    Box::pin(async move {
        let mut cur: &str = &states.start_at;
        let mut input = input;
        // The previous state's output text is the next state's input text.
        let mut input_text: Option<String> = None;
        loop {
            // A broken replay emits nothing more: its states must not run on.
            run.check_broken().await;
            let Some(st) = states.states.get(cur) else {
                return Err(Fail::new(
                    "States.Runtime",
                    format!("State '{cur}' does not exist"),
                ));
            };
            let (next, out, out_text) =
                run_state(run, st, input, input_text.take(), vars, th, item).await?;
            match next {
                Some(n) => {
                    cur = states
                        .states
                        .get_key_value(n.as_str())
                        .map(|(k, _)| k.as_str())
                        .unwrap_or("");
                    if cur.is_empty() {
                        return Err(Fail::new(
                            "States.Runtime",
                            format!("State '{n}' does not exist"),
                        ));
                    }
                    input = out;
                    input_text = out_text;
                }
                None => return Ok(out),
            }
        }
    })
}

/// What a state needs to know about where it runs.
struct Cx<'a> {
    st: &'a State,
    entered_id: u64,
    entered_ts: i64,
    retry_count: u64,
    item: Option<&'a Value>,
}

impl Cx<'_> {
    fn rt(&self, e: EvalError) -> Fail {
        let name = &self.st.name;
        if e.cause
            .starts_with("An error occurred while executing the state")
        {
            return Fail::new(e.error, e.cause);
        }
        Fail::new(
            e.error,
            format!(
                "An error occurred while executing the state '{name}' (entered at the event id #{}). {}",
                self.entered_id, e.cause
            ),
        )
    }
}

fn context(run: &Run, cx: &Cx, token: Option<&str>) -> Value {
    if !cx.st.uses_context {
        return Value::Null;
    }
    let mut m = Map::new();
    let (ce, csm) = run.exec.context();
    m.insert("Execution".into(), ce.clone());
    m.insert("StateMachine".into(), csm.clone());
    let mut state = json!({"Name": cx.st.name, "EnteredTime": iso(cx.entered_ts)});
    if matches!(cx.st.kind, Kind::Task(_)) {
        state["RetryCount"] = json!(cx.retry_count);
    }
    m.insert("State".into(), state);
    if let Some(t) = token {
        m.insert("Task".into(), json!({"Token": t}));
    }
    if let Some(i) = cx.item {
        m.insert("Map".into(), json!({"Item": i}));
    }
    Value::Object(m)
}

fn err_matches(ee: &[String], error: &str) -> bool {
    if error == "States.Runtime" {
        return false;
    }
    ee.iter().any(|e| {
        e == error
            || (e == "States.ALL" && error != "States.Runtime")
            || (e == "States.TaskFailed"
                && !matches!(
                    error,
                    "States.Timeout" | "States.Runtime" | "States.HeartbeatTimeout"
                )
                && !error.starts_with("States."))
    })
}

struct Step {
    next: Option<String>,
    output: Value,
    assigned: Option<Map<String, Value>>,
}

fn size_fail(st: &State) -> Fail {
    Fail::new(
        "States.DataLimitExceeded",
        format!(
            "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
            st.name
        ),
    )
}

/// The serialised size of `v`, without building the text.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

fn check_size(st: &State, v: &Value) -> Result<(), Fail> {
    if json_len(v) > MAX_PAYLOAD {
        return Err(size_fail(st));
    }
    Ok(())
}

async fn run_state(
    run: &Run,
    st: &State,
    input: Value,
    input_text: Option<String>,
    vars: &mut Map<String, Value>,
    th: &mut Th,
    item: Option<&Value>,
) -> Result<(Option<String>, Value, Option<String>), Fail> {
    let ty = st.type_name;
    let entered_prev = th.last;
    let input_text = match input_text {
        Some(t) => Value::String(t),
        None => text(&input),
    };
    let (entered_id, entered_ts) = run.emit(
        th,
        state_event(ty, "Entered"),
        "stateEnteredEventDetails",
        details([
            ("name", Value::String(st.name.clone())),
            ("input", input_text),
            ("inputDetails", NT),
        ]),
        true,
    );
    let mut cx = Cx {
        st,
        entered_id,
        entered_ts,
        retry_count: 0,
        item,
    };
    let mut attempts = vec![0u64; st.retry.len()];
    loop {
        let r = execute(run, &cx, &input, vars, th).await;
        // The output text serves the size check, the exited event and the next state's
        // entered event.
        let r = match r {
            Ok(step) => {
                let t = serde_json::to_string(&step.output).unwrap_or_default();
                if t.len() > MAX_PAYLOAD {
                    Err(size_fail(st))
                } else {
                    Ok((step, t))
                }
            }
            Err(f) => Err(f),
        };
        match r {
            Ok((step, out_text)) => {
                if let Some(a) = &step.assigned {
                    for (k, v) in a {
                        vars.insert(k.clone(), v.clone());
                    }
                }
                let next = if st.end || matches!(st.kind, Kind::Succeed) {
                    None
                } else {
                    step.next.or_else(|| st.next.clone())
                };
                let out_text = if !matches!(st.kind, Kind::Fail { .. }) {
                    emit_exited(
                        run,
                        th,
                        st,
                        Value::String(out_text.clone()),
                        step.assigned.as_ref(),
                    );
                    next.is_some().then_some(out_text)
                } else {
                    None
                };
                return Ok((next, step.output, out_text));
            }
            Err(f) => {
                if matches!(st.kind, Kind::Fail { .. }) {
                    state_failed(run, th, st, entered_prev, &f);
                    return Err(f);
                }
                if let Some(i) = st
                    .retry
                    .iter()
                    .position(|r| err_matches(&r.error_equals, &f.error))
                {
                    let r = &st.retry[i];
                    if attempts[i] < r.max_attempts {
                        let mut delay =
                            r.interval_seconds * r.backoff_rate.powi(attempts[i] as i32);
                        if let Some(m) = r.max_delay_seconds {
                            delay = delay.min(m);
                        }
                        if r.jitter_full {
                            let ent = JEntropy { run, th };
                            let x = ent.next_u64();
                            delay *= (x % 1_000_000) as f64 / 1_000_000.0;
                        }
                        attempts[i] += 1;
                        cx.retry_count += 1;
                        // A replayed retry needs no sleep: the next attempt's events are in the
                        // journal with their own timestamps.
                        if run.replayed(th).is_none() {
                            // The failed attempt is history: durable before the wait, or a
                            // crash during the backoff would lose it and run the task again.
                            run.durable().await;
                            tokio::time::sleep(std::time::Duration::from_millis(
                                (delay * 1000.0) as u64,
                            ))
                            .await;
                        }
                        continue;
                    }
                }
                state_failed(run, th, st, entered_prev, &f);
                if let Some(c) = st
                    .catch
                    .iter()
                    .find(|c| err_matches(&c.error_equals, &f.error))
                {
                    let eo = f.output();
                    let (output, assigned) =
                        if st.ql == QueryLanguage::Jsonata {
                            let ctx = context(run, &cx, None);
                            let states = json!({"input": input, "context": ctx, "errorOutput": eo});
                            let ent = JEntropy { run, th };
                            let sc = JsonataScope {
                                states: &states,
                                variables: vars,
                                entropy: &ent,
                            };
                            let assigned = match &c.assign {
                                Some(a) => Some(obj(eval::jsonata_template(a, &sc, "Assign")
                                    .map_err(|e| cx.rt(e))?)),
                                None => None,
                            };
                            let output = match &c.output {
                                Some(o) => eval::jsonata_template(o, &sc, "Output")
                                    .map_err(|e| cx.rt(e))?,
                                None => eo,
                            };
                            (output, assigned)
                        } else {
                            let ctx = context(run, &cx, None);
                            let ent = JEntropy { run, th };
                            let assigned = match &c.assign {
                                Some(a) => {
                                    let sc = Scope {
                                        input: &eo,
                                        context: &ctx,
                                        variables: vars,
                                        entropy: &ent,
                                    };
                                    Some(obj(eval::payload_template(a, &sc, "Assign")
                                        .map_err(|e| cx.rt(e))?))
                                }
                                None => None,
                            };
                            let output = match &c.result_path {
                                PathField::Default => eo,
                                PathField::Null => input.clone(),
                                PathField::Path(p) => {
                                    result_path(&input, p, eo).map_err(|e| cx.rt(e))?
                                }
                            };
                            (output, assigned)
                        };
                    if let Some(a) = &assigned {
                        for (k, v) in a {
                            vars.insert(k.clone(), v.clone());
                        }
                    }
                    emit_exited(run, th, st, text(&output), assigned.as_ref());
                    return Ok((Some(c.next.clone()), output, None));
                }
                // A state whose failure ends a Parallel branch is reported aborted.
                if th
                    .prefix
                    .rsplit('/')
                    .next()
                    .is_some_and(|seg| seg.starts_with('b'))
                {
                    run.emit(th, state_event(ty, "Aborted"), "", Det::None, false);
                }
                return Err(f);
            }
        }
    }
}

/// Events of a state failing for good (not retried): `EvaluationFailed` for a query error,
/// `MapStateFailed`/`ParallelStateFailed`.
fn state_failed(run: &Run, th: &mut Th, st: &State, entered_prev: u64, f: &Fail) {
    if f.error == "States.QueryEvaluationError" {
        let mut d = vec![("error", Value::String(f.error.clone()))];
        if let Some(c) = &f.cause {
            d.push(("cause", Value::String(c.clone())));
            if let Some(i) = c.find("specified for the field '") {
                let rest = &c[i + 25..];
                if let Some(j) = rest.find('\'') {
                    d.push(("location", Value::String(rest[..j].to_string())));
                }
            } else if c.contains("The Timestamp field cannot be parsed") {
                d.push(("location", Value::String("Timestamp".into())));
            }
        }
        d.push(("state", Value::String(st.name.clone())));
        let saved = th.last;
        // A Wait's JSONata Timestamp failure follows the state's entered event.
        if !matches!(st.kind, Kind::Wait(_)) {
            th.last = entered_prev;
        }
        run.emit(
            th,
            "EvaluationFailed",
            "evaluationFailedEventDetails",
            details(d),
            true,
        );
        if saved > th.last {
            th.last = saved;
        }
    }
    match st.kind {
        // A Map failing on its own configuration (States.Runtime) ends without MapStateFailed.
        Kind::Map(_) if f.error != "States.Runtime" => {
            run.emit(th, "MapStateFailed", "", Det::None, true);
        }
        Kind::Parallel { .. } => {
            run.emit(th, "ParallelStateFailed", "", Det::None, true);
        }
        _ => {}
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn emit_exited(
    run: &Run,
    th: &mut Th,
    st: &State,
    output_text: Value,
    assigned: Option<&Map<String, Value>>,
) {
    let mut d = vec![
        ("name", Value::String(st.name.clone())),
        ("output", output_text),
        ("outputDetails", NT),
    ];
    // AWS leaves out an empty assignment.
    if let Some(a) = assigned.filter(|a| !a.is_empty()) {
        let m: Map<String, Value> = a.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        d.push(("assignedVariables", Value::Object(m)));
        d.push(("assignedVariablesDetails", NT));
    }
    run.emit(
        th,
        state_event(st.type_name, "Exited"),
        "stateExitedEventDetails",
        details(d),
        true,
    );
}

/// Evaluate a literal / path / JSONata number.
fn number(
    nf: &NumberField,
    cx: &Cx,
    input: &Value,
    ctx: &Value,
    vars: &Map<String, Value>,
    ent: &dyn Entropy,
    field: &str,
) -> Result<f64, Fail> {
    match nf {
        NumberField::Literal(n) => Ok(*n),
        NumberField::Path(p) => {
            let sc = Scope {
                input,
                context: ctx,
                variables: vars,
                entropy: ent,
            };
            let v = eval::query(p, &sc, field).map_err(|e| cx.rt(e))?;
            if matches!(
                field,
                "MaxConcurrencyPath"
                    | "ToleratedFailureCountPath"
                    | "ToleratedFailurePercentagePath"
            ) {
                return eval::map_path_number(field, p, &v).map_err(|e| cx.rt(e));
            }
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| {
                    cx.rt(EvalError::runtime(format!(
                        "Value of field '{field}' is not a number: {v}"
                    )))
                })
        }
        NumberField::Jsonata(e) => {
            let states = json!({"input": input, "context": ctx});
            let sc = JsonataScope {
                states: &states,
                variables: vars,
                entropy: ent,
            };
            let v = eval::jsonata(e, &sc).map_err(|e| cx.rt(e))?;
            v.as_f64().ok_or_else(|| cx.rt(EvalError::new("States.QueryEvaluationError", format!("The JSONata expression '{e}' specified for the field '{field}' returned an unexpected result type. Expected 'number', but was '{v}'."))))
        }
    }
}

async fn execute(
    run: &Run,
    cx: &Cx<'_>,
    raw_input: &Value,
    vars: &mut Map<String, Value>,
    th: &mut Th,
) -> Result<Step, Fail> {
    let st = cx.st;
    if st.ql == QueryLanguage::Jsonata {
        return execute_jsonata(run, cx, raw_input, vars, th).await;
    }
    let mut ctx = context(run, cx, None);
    // InputPath
    let input = {
        let ent = JEntropy { run, th };
        let sc = Scope {
            input: raw_input,
            context: &ctx,
            variables: vars,
            entropy: &ent,
        };
        match &st.input_path {
            PathField::Default => Cow::Borrowed(raw_input),
            PathField::Null => Cow::Owned(Value::Object(Map::new())),
            PathField::Path(p) => {
                Cow::Owned(eval::query(p, &sc, "InputPath").map_err(|e| cx.rt(e))?)
            }
        }
    };
    let mut next = None;
    let result: Option<Value> = match &st.kind {
        Kind::Pass => {
            let ent = JEntropy { run, th };
            let sc = Scope {
                input: &input,
                context: &ctx,
                variables: vars,
                entropy: &ent,
            };
            Some(match (&st.parameters, &st.result) {
                (Some(p), _) => {
                    eval::payload_template(p, &sc, "Parameters").map_err(|e| cx.rt(e))?
                }
                (None, Some(r)) => r.clone(),
                (None, None) => input.as_ref().clone(),
            })
        }
        Kind::Succeed => None,
        Kind::Fail {
            error,
            cause,
            error_path,
            cause_path,
        } => {
            let ent = JEntropy { run, th };
            let sc = Scope {
                input: &input,
                context: &ctx,
                variables: vars,
                entropy: &ent,
            };
            let pick = |lit: &Option<String>,
                        path: &Option<String>,
                        field: &str|
             -> Result<Option<String>, Fail> {
                if let Some(p) = path {
                    let v = if p.starts_with("States.") {
                        eval::intrinsic(p, &sc)
                    } else {
                        eval::query(p, &sc, field)
                    }
                    .map_err(|e| cx.rt(e))?;
                    return Ok(Some(match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }));
                }
                Ok(lit.clone())
            };
            let e = pick(error, error_path, "ErrorPath")?;
            let c = pick(cause, cause_path, "CausePath")?;
            return Err(Fail {
                error: e.unwrap_or_default(),
                cause: c,
            });
        }
        Kind::Choice { choices, default } => {
            let ent = JEntropy { run, th };
            let sc = Scope {
                input: &input,
                context: &ctx,
                variables: vars,
                entropy: &ent,
            };
            let mut chosen = None;
            let mut assign = None;
            for c in choices {
                if eval::choice_rule(c, &sc).map_err(|e| cx.rt(e))? {
                    chosen = c.get("Next").and_then(Value::as_str).map(str::to_string);
                    assign = c.get("Assign").cloned();
                    break;
                }
            }
            let chosen = match chosen.or_else(|| default.clone()) {
                Some(c) => c,
                None => {
                    return Err(Fail::new(
                        "States.NoChoiceMatched",
                        format!("No Matching Choice Rule found for state '{}'", st.name),
                    ));
                }
            };
            next = Some(chosen);
            let mut assigned = None;
            if let Some(a) = assign.as_ref().or(st.assign.as_ref()) {
                assigned = Some(obj(
                    eval::payload_template(a, &sc, "Assign").map_err(|e| cx.rt(e))?
                ));
            }
            let output = output_path(cx, &ctx, vars, &ent, input.into_owned())?;
            return Ok(Step {
                next,
                output,
                assigned,
            });
        }
        Kind::Wait(spec) => {
            let deadline = {
                let ent = JEntropy { run, th };
                let sc = Scope {
                    input: &input,
                    context: &ctx,
                    variables: vars,
                    entropy: &ent,
                };
                match spec {
                    WaitSpec::Seconds(NumberField::Path(p)) => {
                        let v = eval::query(p, &sc, "SecondsPath").map_err(|_| {
                            cx.rt(EvalError::runtime(format!(
                                "The SecondsPath parameter does not reference an input value: {p}"
                            )))
                        })?;
                        let Some(s) = v.as_i64() else {
                            return Err(cx.rt(EvalError::runtime(format!("The SecondsPath parameter cannot be parsed as a long value: {p} == {v}"))));
                        };
                        if s < 0 {
                            return Err(cx.rt(EvalError::runtime(format!(
                                "The SecondsPath parameter references a negative value: {p} == {v}"
                            ))));
                        }
                        cx.entered_ts + s * 1000
                    }
                    WaitSpec::Seconds(n) => {
                        let s = number(n, cx, &input, &ctx, vars, &ent, "Seconds")?;
                        cx.entered_ts + (s * 1000.0) as i64
                    }
                    WaitSpec::Timestamp(t) => parse_iso(t).unwrap_or(cx.entered_ts),
                    WaitSpec::TimestampPath(p) => {
                        let v = eval::query(p, &sc, "TimestampPath").map_err(|e| cx.rt(e))?;
                        v.as_str().and_then(parse_iso).ok_or_else(|| cx.rt(EvalError::runtime(format!("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {p} == {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))))?
                    }
                    WaitSpec::TimestampJsonata(_) => cx.entered_ts,
                }
            };
            // Everything before the wait is durable before the engine sleeps through it.
            run.durable().await;
            run.inner.clock.sleep_until_ms(deadline).await;
            None
        }
        Kind::Task(spec) => {
            // A task may wait long (task tokens): hold no context copy meanwhile.
            let had = !ctx.is_null();
            ctx = Value::Null;
            let r = run_task(run, cx, spec, &input, vars, th, None).await?;
            if had {
                ctx = context(run, cx, None);
            }
            Some(r)
        }
        Kind::Parallel { branches } => {
            // `Parameters` become each branch's input.
            let args = match &st.parameters {
                Some(p) => {
                    let ent = JEntropy { run, th };
                    let sc = Scope {
                        input: &input,
                        context: &ctx,
                        variables: vars,
                        entropy: &ent,
                    };
                    Cow::Owned(eval::payload_template(p, &sc, "Parameters").map_err(|e| cx.rt(e))?)
                }
                None => Cow::Borrowed(input.as_ref()),
            };
            Some(run_parallel(run, cx, branches, &args, &ctx, vars, th).await?)
        }
        Kind::Map(spec) => Some(run_map(run, cx, spec, &input, &ctx, vars, th).await?),
    };
    let ent = JEntropy { run, th };
    let (output, assigned) = match result {
        None => {
            let assigned = assign_jp(cx, &input, &ctx, vars, &ent)?;
            (
                output_path(cx, &ctx, vars, &ent, input.into_owned())?,
                assigned,
            )
        }
        Some(mut result) => {
            if let Some(rs) = &st.result_selector {
                let sc = Scope {
                    input: &result,
                    context: &ctx,
                    variables: vars,
                    entropy: &ent,
                };
                result = eval::payload_template(rs, &sc, "ResultSelector").map_err(|e| cx.rt(e))?;
            }
            let assigned = assign_jp(cx, &result, &ctx, vars, &ent)?;
            let with_result = match &st.result_path {
                PathField::Default => result,
                PathField::Null => raw_input.clone(),
                PathField::Path(p) => result_path(raw_input, p, result).map_err(|e| cx.rt(e))?,
            };
            (output_path(cx, &ctx, vars, &ent, with_result)?, assigned)
        }
    };
    Ok(Step {
        next,
        output,
        assigned,
    })
}

fn assign_jp(
    cx: &Cx,
    input: &Value,
    ctx: &Value,
    vars: &Map<String, Value>,
    ent: &dyn Entropy,
) -> Result<Option<Map<String, Value>>, Fail> {
    match &cx.st.assign {
        None => Ok(None),
        Some(a) => {
            let sc = Scope {
                input,
                context: ctx,
                variables: vars,
                entropy: ent,
            };
            Ok(Some(obj(
                eval::payload_template(a, &sc, "Assign").map_err(|e| cx.rt(e))?
            )))
        }
    }
}

fn output_path(
    cx: &Cx,
    ctx: &Value,
    vars: &Map<String, Value>,
    ent: &dyn Entropy,
    v: Value,
) -> Result<Value, Fail> {
    match &cx.st.output_path {
        PathField::Default => Ok(v),
        PathField::Null => Ok(Value::Object(Map::new())),
        PathField::Path(p) => {
            let sc = Scope {
                input: &v,
                context: ctx,
                variables: vars,
                entropy: ent,
            };
            eval::query(p, &sc, "OutputPath").map_err(|e| cx.rt(e))
        }
    }
}

async fn execute_jsonata(
    run: &Run,
    cx: &Cx<'_>,
    input: &Value,
    vars: &mut Map<String, Value>,
    th: &mut Th,
) -> Result<Step, Fail> {
    let st = cx.st;
    let ctx = context(run, cx, None);
    let mut states = json!({"input": input, "context": ctx});
    let mut next = None;
    let result: Option<Value> = match &st.kind {
        Kind::Pass | Kind::Succeed => None,
        Kind::Fail { error, cause, .. } => {
            let ent = JEntropy { run, th };
            let sc = JsonataScope {
                states: &states,
                variables: vars,
                entropy: &ent,
            };
            let ev = |s: &Option<String>, f: &str| -> Result<Option<String>, Fail> {
                match s {
                    None => Ok(None),
                    Some(s) => {
                        let v = eval::jsonata_template(&Value::String(s.clone()), &sc, f)
                            .map_err(|e| cx.rt(e))?;
                        Ok(Some(match v {
                            Value::String(s) => s,
                            o => o.to_string(),
                        }))
                    }
                }
            };
            let e = ev(error, "Error")?;
            let c = ev(cause, "Cause")?;
            return Err(Fail {
                error: e.unwrap_or_default(),
                cause: c,
            });
        }
        Kind::Choice { choices, default } => {
            let ent = JEntropy { run, th };
            let sc = JsonataScope {
                states: &states,
                variables: vars,
                entropy: &ent,
            };
            let mut chosen = None;
            for c in choices {
                let cond = c.get("Condition").cloned().unwrap_or(Value::Bool(false));
                let v = eval::jsonata_template(&cond, &sc, "Condition").map_err(|e| cx.rt(e))?;
                match v {
                    Value::Bool(true) => {
                        chosen = Some(c);
                        break;
                    }
                    Value::Bool(false) => {}
                    other => return Err(cx.rt(EvalError::new("States.QueryEvaluationError", format!("The JSONata expression '{}' specified for the field 'Condition' returned an unexpected result type. Expected 'boolean', but was '{other}'.", cond.as_str().unwrap_or_default())))),
                }
            }
            let (n, assign, output) = match chosen {
                Some(c) => (
                    c.get("Next").and_then(Value::as_str).map(str::to_string),
                    c.get("Assign").or(st.assign.as_ref()).cloned(),
                    c.get("Output").or(st.output.as_ref()).cloned(),
                ),
                None => match default {
                    Some(d) => (Some(d.clone()), st.assign.clone(), st.output.clone()),
                    None => {
                        return Err(Fail::new(
                            "States.NoChoiceMatched",
                            format!("No Matching Choice Rule found for state '{}'", st.name),
                        ));
                    }
                },
            };
            next = n;
            let assigned = match &assign {
                Some(a) => Some(obj(
                    eval::jsonata_template(a, &sc, "Assign").map_err(|e| cx.rt(e))?
                )),
                None => None,
            };
            let output = match &output {
                Some(o) => eval::jsonata_template(o, &sc, "Output").map_err(|e| cx.rt(e))?,
                None => input.clone(),
            };
            return Ok(Step {
                next,
                output,
                assigned,
            });
        }
        Kind::Wait(spec) => {
            let deadline = {
                let ent = JEntropy { run, th };
                match spec {
                    WaitSpec::Seconds(n) => {
                        cx.entered_ts
                            + (number(n, cx, input, &ctx, vars, &ent, "Seconds")? * 1000.0) as i64
                    }
                    WaitSpec::Timestamp(t) => parse_iso(t).unwrap_or(cx.entered_ts),
                    WaitSpec::TimestampJsonata(e) => {
                        let sc = JsonataScope {
                            states: &states,
                            variables: vars,
                            entropy: &ent,
                        };
                        let v = eval::jsonata(e, &sc).map_err(|e| cx.rt(e))?;
                        eval::jsonata_wait_timestamp(&v).map_err(|e| cx.rt(e))?
                    }
                    WaitSpec::TimestampPath(_) => cx.entered_ts,
                }
            };
            // Everything before the wait is durable before the engine sleeps through it.
            run.durable().await;
            run.inner.clock.sleep_until_ms(deadline).await;
            None
        }
        Kind::Task(spec) => Some(run_task(run, cx, spec, input, vars, th, Some(&states)).await?),
        Kind::Parallel { branches } => {
            let args = match &st.arguments {
                Some(a) => {
                    let ent = JEntropy { run, th };
                    let sc = JsonataScope {
                        states: &states,
                        variables: vars,
                        entropy: &ent,
                    };
                    eval::jsonata_template(a, &sc, "Arguments").map_err(|e| cx.rt(e))?
                }
                None => input.clone(),
            };
            Some(run_parallel(run, cx, branches, &args, &ctx, vars, th).await?)
        }
        Kind::Map(spec) => Some(run_map(run, cx, spec, input, &ctx, vars, th).await?),
    };
    if let Some(r) = &result {
        states["result"] = r.clone();
    }
    let ent = JEntropy { run, th };
    let sc = JsonataScope {
        states: &states,
        variables: vars,
        entropy: &ent,
    };
    let assigned = match &st.assign {
        Some(a) => Some(obj(
            eval::jsonata_template(a, &sc, "Assign").map_err(|e| cx.rt(e))?
        )),
        None => None,
    };
    let output = match &st.output {
        Some(o) => eval::jsonata_template(o, &sc, "Output").map_err(|e| cx.rt(e))?,
        None => result.unwrap_or_else(|| input.clone()),
    };
    Ok(Step {
        next,
        output,
        assigned,
    })
}

// ---------------------------------------------------------------------------------------------
// Tasks

fn lambda_service_response(payload: &[u8], executed_version: &str, request_id: &str) -> Value {
    let p: Value = serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
    let len = payload.len().to_string();
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    json!({
        "ExecutedVersion": executed_version,
        "Payload": p,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": [executed_version],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Length": [len],
                "Date": [date],
                "X-Amzn-Trace-Id": [format!("Root=1-{}", &request_id.replace('-', "")[..24.min(request_id.replace('-', "").len())])],
                "Content-Type": ["application/json"],
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": len,
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": executed_version,
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id,
                "X-Amzn-Trace-Id": format!("Root=1-{}", &request_id.replace('-', "")[..24.min(request_id.replace('-', "").len())]),
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    })
}

fn function_arn(inner: &Inner, f: &str) -> String {
    if f.starts_with("arn:") {
        if f.split(':').count() == 7 {
            format!("{f}:$LATEST")
        } else {
            f.to_string()
        }
    } else {
        let (name, q) = f.split_once(':').unwrap_or((f, "$LATEST"));
        format!(
            "arn:{}:lambda:{}:{}:function:{}:{}",
            inner.partition, inner.region, inner.account_id, name, q
        )
    }
}

fn lambda_error_fail(inner: &Inner, function: &str, e: &LambdaInvokeError) -> Fail {
    match e {
        LambdaInvokeError::ResourceNotFound { .. } => Fail::new(
            "Lambda.ResourceNotFoundException",
            format!(
                "Function not found: {} (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: {}; Proxy: null)",
                function_arn(inner, function),
                uuid::Uuid::new_v4()
            ),
        ),
        LambdaInvokeError::Service { error, message } => {
            Fail::new(format!("Lambda.{error}"), message.clone())
        }
    }
}

fn function_error_fail(payload: &[u8]) -> Fail {
    let text = String::from_utf8_lossy(payload).into_owned();
    let error = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Exception".to_string());
    Fail::new(error, text)
}

/// Run a Task: evaluate its input, dispatch, wait, and report through history events.
async fn run_task(
    run: &Run,
    cx: &Cx<'_>,
    spec: &TaskSpec,
    input: &Value,
    vars: &Map<String, Value>,
    th: &mut Th,
    jsonata_states: Option<&Value>,
) -> Result<Value, Fail> {
    let st = cx.st;
    let inner = &run.inner;
    let res = parse_resource(&spec.resource).ok_or_else(|| {
        Fail::new(
            "States.Runtime",
            format!("Unsupported resource {}", spec.resource),
        )
    })?;
    let wait_token = matches!(
        &res,
        Resource::Service {
            pattern: IntegrationPattern::WaitForTaskToken,
            ..
        }
    );
    let token = if wait_token {
        let n = th.vseq.fetch_add(1, Ordering::Relaxed);
        let v = run.value(format!("{}:v{}", th.prefix, n), || {
            Value::String(format!(
                "AAAA{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ))
        });
        v.as_str().map(str::to_string)
    } else {
        None
    };
    let (params, timeout, heartbeat) = {
        // Scoped: the context must not live across the wait below.
        let ctx = if cx.st.uses_context {
            context(run, cx, token.as_deref())
        } else {
            Value::Null
        };
        let ent = JEntropy { run, th };
        let (params, [timeout_field, heartbeat_field]) = match jsonata_states {
            Some(states) => {
                let mut states = states.clone();
                states["context"] = ctx.clone();
                let sc = JsonataScope {
                    states: &states,
                    variables: vars,
                    entropy: &ent,
                };
                let p = match &st.arguments {
                    Some(a) => Cow::Owned(
                        eval::jsonata_template(a, &sc, "Arguments").map_err(|e| cx.rt(e))?,
                    ),
                    None => Cow::Borrowed(input),
                };
                (p, ["TimeoutSeconds", "HeartbeatSeconds"])
            }
            None => {
                let sc = Scope {
                    input,
                    context: &ctx,
                    variables: vars,
                    entropy: &ent,
                };
                let p = match &st.parameters {
                    Some(p) => Cow::Owned(
                        eval::payload_template(p, &sc, "Parameters").map_err(|e| cx.rt(e))?,
                    ),
                    None => Cow::Borrowed(input),
                };
                (p, ["TimeoutSecondsPath", "HeartbeatSecondsPath"])
            }
        };
        let seconds = |n: &Option<NumberField>, field| {
            n.as_ref()
                .map(|n| number(n, cx, input, &ctx, vars, &ent, field))
                .transpose()
        };
        let t = seconds(&spec.timeout, timeout_field)?;
        let h = seconds(&spec.heartbeat, heartbeat_field)?;
        (params, t.map(|x| x as i64), h.map(|x| x as i64))
    };
    match res {
        Resource::LegacyLambda => {
            let mut d = vec![
                ("input", text(&params)),
                ("inputDetails", NT),
                ("resource", Value::String(spec.resource.clone())),
            ];
            if let Some(t) = timeout {
                d.push(("timeoutInSeconds", Value::from(t)));
            }
            run.emit(
                th,
                "LambdaFunctionScheduled",
                "lambdaFunctionScheduledEventDetails",
                details(d),
                true,
            );
            let (_, started_ts) = run.emit(th, "LambdaFunctionStarted", "", Det::None, true);
            if let Some(ev) = run.replayed(th) {
                return replay_outcome(run, th, &ev, LAMBDA_OUTCOMES).await;
            }
            run.durable().await;
            let lambda = inner
                .lambda
                .clone()
                .ok_or_else(|| Fail::new("States.Runtime", "no Lambda service configured"))?;
            // In-process functions take the value itself; others get the JSON bytes.
            let call = async {
                if let Some(f) = lambda.invoke_value(&spec.resource, &params) {
                    return f.await.map(|r| match r {
                        crate::dispatch::LambdaValueResponse::Value(v) => (None, Some(v)),
                        crate::dispatch::LambdaValueResponse::Response(r) => (Some(r), None),
                    });
                }
                let payload = serde_json::to_vec(&params).unwrap_or_default();
                lambda
                    .invoke(&spec.resource, payload)
                    .await
                    .map(|r| (Some(r), None))
            };
            let r = match timeout {
                Some(t) => {
                    let deadline = started_ts + t * 1000;
                    tokio::select! {
                        r = call => Some(r),
                        _ = inner.clock.sleep_until_ms(deadline) => None,
                    }
                }
                None => Some(call.await),
            };
            let fail = |run: &Run,
                        th: &mut Th,
                        ty: &'static str,
                        dk: &'static str,
                        f: Fail|
             -> Result<Value, Fail> {
                let mut d = vec![("error", Value::String(f.error.clone()))];
                if let Some(c) = &f.cause {
                    d.push(("cause", Value::String(c.clone())));
                }
                run.emit(th, ty, dk, details(d), true);
                Err(f)
            };
            match r {
                None => fail(
                    run,
                    th,
                    "LambdaFunctionTimedOut",
                    "lambdaFunctionTimedOutEventDetails",
                    Fail {
                        error: "States.Timeout".into(),
                        cause: None,
                    },
                ),
                Some(Err(e)) => fail(
                    run,
                    th,
                    "LambdaFunctionFailed",
                    "lambdaFunctionFailedEventDetails",
                    lambda_error_fail(inner, &spec.resource, &e),
                ),
                Some(Ok((resp, value))) => {
                    if let Some(resp) = resp.as_ref().filter(|r| r.function_error.is_some()) {
                        return fail(
                            run,
                            th,
                            "LambdaFunctionFailed",
                            "lambdaFunctionFailedEventDetails",
                            function_error_fail(&resp.payload),
                        );
                    }
                    let size = match (&resp, &value) {
                        (_, Some(v)) => json_len(v),
                        (Some(r), None) => r.payload.len(),
                        (None, None) => 0,
                    };
                    if size > MAX_PAYLOAD {
                        return fail(
                            run,
                            th,
                            "LambdaFunctionFailed",
                            "lambdaFunctionFailedEventDetails",
                            Fail::new(
                                "States.DataLimitExceeded",
                                format!(
                                    "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                                    spec.resource
                                ),
                            ),
                        );
                    }
                    let out: Value = match (value, resp) {
                        (Some(v), _) => v,
                        (None, Some(resp)) => {
                            serde_json::from_slice(&resp.payload).unwrap_or_else(|_| {
                                Value::String(String::from_utf8_lossy(&resp.payload).into_owned())
                            })
                        }
                        (None, None) => Value::Null,
                    };
                    run.emit(
                        th,
                        "LambdaFunctionSucceeded",
                        "lambdaFunctionSucceededEventDetails",
                        details([("output", text(&out)), ("outputDetails", NT)]),
                        true,
                    );
                    Ok(out)
                }
            }
        }
        Resource::Service {
            service,
            action,
            short,
            pattern,
        } => {
            let rt = Value::String(service.clone());
            let rs = Value::String(short.clone());
            let mut d = vec![
                ("resourceType", rt.clone()),
                ("resource", rs.clone()),
                ("region", Value::String(inner.region.clone())),
                ("parameters", text(&params)),
            ];
            if let Some(t) = timeout {
                d.push(("timeoutInSeconds", Value::from(t)));
            }
            if let Some(h) = heartbeat {
                d.push(("heartbeatInSeconds", Value::from(h)));
            }
            run.emit(
                th,
                "TaskScheduled",
                "taskScheduledEventDetails",
                details(d),
                true,
            );
            let (_, started_ts) = run.emit(
                th,
                "TaskStarted",
                "taskStartedEventDetails",
                details([("resourceType", rt.clone()), ("resource", rs.clone())]),
                true,
            );
            let task_fail = |run: &Run,
                             th: &mut Th,
                             ty: &'static str,
                             dk: &'static str,
                             f: Fail|
             -> Result<Value, Fail> {
                let mut d = Vec::new();
                // No error at all (SendTaskFailure without one): AWS shows neither error nor cause.
                if !f.error.is_empty() {
                    d.push(("error", Value::String(f.error.clone())));
                }
                if let Some(c) = &f.cause {
                    d.push(("cause", Value::String(c.clone())));
                }
                d.push(("resourceType", Value::String(service.clone())));
                d.push(("resource", Value::String(short.clone())));
                run.emit(th, ty, dk, details(d), true);
                Err(f)
            };
            let timed_out = |run: &Run, th: &mut Th| {
                let f = Fail {
                    error: "States.Timeout".into(),
                    cause: None,
                };
                task_fail(run, th, "TaskTimedOut", "taskTimedOutEventDetails", f)
            };
            // TaskSubmitted's and TaskSucceeded's details.
            let output_details = |v: &Value| {
                details([
                    ("resourceType", rt.clone()),
                    ("resource", rs.clone()),
                    ("output", text(v)),
                    ("outputDetails", NT),
                ])
            };
            // The task's result, unless it is over the payload quota.
            let succeeded = |run: &Run, th: &mut Th, v: Value| {
                if let Err(f) = check_size(st, &v) {
                    return task_fail(run, th, "TaskFailed", "taskFailedEventDetails", f);
                }
                run.emit(
                    th,
                    "TaskSucceeded",
                    "taskSucceededEventDetails",
                    output_details(&v),
                    true,
                );
                Ok(v)
            };
            let deadline = timeout.map(|t| started_ts + t * 1000);
            let sleep_deadline = |d: Option<i64>| async move {
                match d {
                    Some(d) => inner.clock.sleep_until_ms(d).await,
                    None => std::future::pending::<()>().await,
                }
            };
            // The token slot exists before the call: a consumer may answer at once.
            let mut token_rx = None;
            if let Some(t) = &token {
                let mailbox = Arc::new(crate::runtime::TokenBox::default());
                run.exec.state.lock().unwrap().tokens.push(t.clone());
                inner.tokens.lock().unwrap().live.insert(
                    t.clone(),
                    TokenSlot {
                        mailbox: mailbox.clone(),
                    },
                );
                token_rx = Some(mailbox);
            }
            let replayed_next = run.replayed(th);
            let submitted_ts;
            match replayed_next {
                Some(ev) if ev.ty != "TaskSubmitted" || token.is_none() => {
                    if let Some(t) = &token {
                        close_token(inner, t);
                    }
                    return replay_outcome(run, th, &ev, TASK_OUTCOMES).await;
                }
                Some(ev) => {
                    // Submitted before the restart: keep waiting with the same token.
                    submitted_ts = ev.ts;
                    run.emit(
                        th,
                        "TaskSubmitted",
                        "taskSubmittedEventDetails",
                        Det::None,
                        true,
                    );
                    if let Some(ev2) = run.replayed(th) {
                        if let Some(t) = &token {
                            close_token(inner, t);
                        }
                        return replay_outcome(run, th, &ev2, TASK_OUTCOMES).await;
                    }
                    run.check_broken().await;
                }
                None => {
                    run.durable().await;
                    let call = async {
                        if service == "lambda" {
                            let lambda = inner.lambda.clone().ok_or_else(|| {
                                Fail::new("States.Runtime", "no Lambda service configured")
                            })?;
                            let f = params
                                .get("FunctionName")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string();
                            // As the Lambda integration does: a string Payload is sent as the
                            // raw request body, a missing or null one as `{}`.
                            let payload = match params.get("Payload") {
                                Some(Value::String(t)) => t.as_bytes().to_vec(),
                                Some(Value::Null) | None => b"{}".to_vec(),
                                Some(p) => serde_json::to_vec(p).unwrap_or_default(),
                            };
                            match lambda.invoke(&f, payload).await {
                                Err(e) => Err(lambda_error_fail(inner, &f, &e)),
                                Ok(resp) if resp.function_error.is_some() => {
                                    Err(function_error_fail(&resp.payload))
                                }
                                Ok(resp) if resp.payload.len() > MAX_PAYLOAD => Err(Fail::new(
                                    "States.DataLimitExceeded",
                                    "The state/task 'lambda' returned a result with a size exceeding the maximum number of bytes service limit.",
                                )),
                                Ok(resp) => Ok(lambda_service_response(
                                    &resp.payload,
                                    &resp.executed_version,
                                    &uuid::Uuid::new_v4().to_string(),
                                )),
                            }
                        } else {
                            let svc = inner.services.get(&service).cloned().ok_or_else(|| {
                                Fail::new("States.Runtime", format!("no integration for {service}"))
                            })?;
                            svc.call(ServiceRequest {
                                resource: spec.resource.clone(),
                                service: service.clone(),
                                action: action.clone(),
                                pattern,
                                parameters: params.clone().into_owned(),
                                task_token: token.clone(),
                                execution_arn: run.exec.arn.clone(),
                                state_name: st.name.clone(),
                            })
                            .await
                            .map_err(|e| Fail::new(e.error, e.cause))
                        }
                    };
                    let r = tokio::select! {
                        r = call => Some(r),
                        _ = sleep_deadline(deadline) => None,
                    };
                    let resp = match r {
                        None => {
                            if let Some(t) = &token {
                                close_token(inner, t);
                            }
                            return timed_out(run, th);
                        }
                        Some(Err(f)) => {
                            if let Some(t) = &token {
                                close_token(inner, t);
                            }
                            return task_fail(run, th, "TaskFailed", "taskFailedEventDetails", f);
                        }
                        Some(Ok(v)) => v,
                    };
                    if token.is_none() {
                        return succeeded(run, th, resp);
                    }
                    let (_, ts) = run.emit(
                        th,
                        "TaskSubmitted",
                        "taskSubmittedEventDetails",
                        output_details(&resp),
                        true,
                    );
                    submitted_ts = ts;
                    run.exec.push_pending(inner);
                }
            }
            // Wait for the token (holding no copy of the parameters).
            drop(params);
            let tok = token.clone().unwrap_or_default();
            let rx = token_rx.expect("token slot");
            let mut hb_deadline = heartbeat.map(|h| submitted_ts.max(started_ts) + h * 1000);
            loop {
                let msg = tokio::select! {
                    m = rx.recv() => Some(m),
                    _ = sleep_deadline(deadline) => {
                        close_token(inner, &tok);
                        return timed_out(run, th);
                    }
                    _ = sleep_deadline(hb_deadline) => {
                        close_token(inner, &tok);
                        return timed_out(run, th);
                    }
                };
                match msg {
                    Some(TokenMsg::Heartbeat) => {
                        hb_deadline = heartbeat.map(|h| inner.clock.now_ms() + h * 1000);
                    }
                    Some(TokenMsg::Success(v)) => {
                        close_token(inner, &tok);
                        return succeeded(run, th, v);
                    }
                    Some(TokenMsg::Failure { error, cause }) => {
                        close_token(inner, &tok);
                        return task_fail(
                            run,
                            th,
                            "TaskFailed",
                            "taskFailedEventDetails",
                            Fail { error, cause },
                        );
                    }
                    None => std::future::pending::<()>().await,
                }
            }
        }
    }
}

fn close_token(inner: &Inner, t: &str) {
    let mut g = inner.tokens.lock().unwrap();
    g.live.remove(t);
    g.closed.insert(t.to_string());
}

/// What the journal may hold after `LambdaFunctionStarted`.
const LAMBDA_OUTCOMES: &[&str] = &[
    "LambdaFunctionSucceeded",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
];

/// What the journal may hold after `TaskStarted` (`TaskSubmitted` only for a task that waits
/// for a token) or `TaskSubmitted`.
const TASK_OUTCOMES: &[&str] = &["TaskSucceeded", "TaskFailed", "TaskTimedOut"];

/// A task outcome already in the journal: re-emit (recognise) it and return its result. An
/// event that is not one of `expected` breaks the replay (this then never returns).
async fn replay_outcome(run: &Run, th: &mut Th, ev: &Ev, expected: &[&str]) -> Result<Value, Fail> {
    if !run.expect_outcome(ev, expected) {
        std::future::pending::<()>().await;
    }
    run.emit(th, ev.ty.clone(), ev.dkey.clone(), Det::None, true);
    let d = &ev.details;
    if ev.ty.ends_with("Succeeded") {
        let out = d
            .get_str("output")
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        Ok(out)
    } else {
        Err(Fail {
            error: d.get_str("error").unwrap_or_default().to_string(),
            cause: d.get_str("cause").map(str::to_string),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Parallel and Map

async fn run_parallel(
    run: &Run,
    cx: &Cx<'_>,
    branches: &[Arc<States>],
    input: &Value,
    _ctx: &Value,
    vars: &Map<String, Value>,
    th: &mut Th,
) -> Result<Value, Fail> {
    let (started, _) = run.emit(th, "ParallelStateStarted", "", Det::None, true);
    let base = format!("{}:{}", th.prefix, th.seq);
    let last = Mutex::new(started);
    let futs = branches.iter().enumerate().map(|(i, b)| {
        let base = &base;
        let last = &last;
        async move {
            let mut bth = Th::new(format!("{base}/b{i}"), started);
            let mut bvars = vars.clone();
            let r = run_states(run, b, input.clone(), &mut bvars, &mut bth, None).await;
            let mut l = last.lock().unwrap();
            *l = (*l).max(bth.last);
            r
        }
    });
    let results = futures::future::join_all(futs).await;
    th.last = *last.lock().unwrap();
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(v) => out.push(v),
            Err(f) => return Err(f),
        }
    }
    run.emit(th, "ParallelStateSucceeded", "", Det::None, false);
    let _ = cx;
    Ok(Value::Array(out))
}

async fn run_map(
    run: &Run,
    cx: &Cx<'_>,
    spec: &MapSpec,
    input: &Value,
    ctx: &Value,
    vars: &Map<String, Value>,
    th: &mut Th,
) -> Result<Value, Fail> {
    let st = cx.st;
    let jsonata = st.ql == QueryLanguage::Jsonata;
    let (items, max_conc) = {
        let ent = JEntropy { run, th };
        let items = if jsonata {
            match &spec.items {
                Some(i) => {
                    let states = json!({"input": input, "context": ctx});
                    let sc = JsonataScope {
                        states: &states,
                        variables: vars,
                        entropy: &ent,
                    };
                    eval::jsonata_template(i, &sc, "Items").map_err(|e| cx.rt(e))?
                }
                None => input.clone(),
            }
        } else {
            match (&spec.items_path, &spec.items) {
                (_, Some(i)) => {
                    let sc = Scope {
                        input,
                        context: ctx,
                        variables: vars,
                        entropy: &ent,
                    };
                    eval::payload_template(i, &sc, "Items").map_err(|e| cx.rt(e))?
                }
                (PathField::Path(p), None) => {
                    let sc = Scope {
                        input,
                        context: ctx,
                        variables: vars,
                        entropy: &ent,
                    };
                    eval::query(p, &sc, "ItemsPath").map_err(|e| cx.rt(e))?
                }
                _ => input.clone(),
            }
        };
        let mc = spec
            .max_concurrency
            .as_ref()
            .map(|n| number(n, cx, input, ctx, vars, &ent, "MaxConcurrencyPath"))
            .transpose()?;
        (items, mc)
    };
    if jsonata
        && !items.is_array()
        && let Some(Value::String(expr)) = &spec.items
    {
        let e = expr
            .trim()
            .trim_start_matches("{%")
            .trim_end_matches("%}")
            .trim();
        let ty = match &items {
            Value::Object(_) => "object",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            _ => "null",
        };
        return Err(cx.rt(EvalError::new(
            "States.QueryEvaluationError",
            format!("The JSONata expression '{e}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '{ty}' for value: {items}"),
        )));
    }
    let Value::Array(mut items) = items else {
        let f = cx.rt(EvalError::new(
            if jsonata {
                "States.QueryEvaluationError"
            } else {
                "States.Runtime"
            },
            format!("Map state input must be an array but was: {}", items),
        ));
        return Err(f);
    };
    if let Some(b) = &spec.item_batcher {
        let max_items = b
            .get("MaxItemsPerBatch")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
            .max(1) as usize;
        let batch_input = b.get("BatchInput").cloned();
        items = items
            .chunks(max_items)
            .map(|c| {
                let mut m = match &batch_input {
                    Some(Value::Object(o)) => o.clone(),
                    _ => Map::new(),
                };
                m.insert("Items".into(), Value::Array(c.to_vec()));
                Value::Object(m)
            })
            .collect();
    }
    let n = items.len();
    let (started, _) = run.emit(
        th,
        "MapStateStarted",
        "mapStateStartedEventDetails",
        details([("length", Value::from(n))]),
        true,
    );
    // AWS reads the tolerated-failure paths once the Map has started.
    let (tol_count, tol_pct) = {
        let ent = JEntropy { run, th };
        let tc = spec
            .tolerated_count
            .as_ref()
            .map(|n| number(n, cx, input, ctx, vars, &ent, "ToleratedFailureCountPath"))
            .transpose()?;
        let tp = spec
            .tolerated_percentage
            .as_ref()
            .map(|n| {
                number(
                    n,
                    cx,
                    input,
                    ctx,
                    vars,
                    &ent,
                    "ToleratedFailurePercentagePath",
                )
            })
            .transpose()?;
        (tc, tp)
    };
    let base = format!("{}:{}", th.prefix, th.seq);
    let pointer = Mutex::new(started);
    let last_succeeded = Mutex::new(started);
    let last_succeeded = &last_succeeded;
    let failures = Mutex::new(0usize);
    let tolerated = |fails: usize| -> bool {
        let by_count = tol_count.map(|c| (fails as f64) <= c).unwrap_or(false);
        let by_pct = tol_pct
            .map(|p| n > 0 && (fails as f64) * 100.0 / (n as f64) <= p)
            .unwrap_or(false);
        by_count || by_pct
    };
    let conc = match max_conc {
        Some(c) if c >= 1.0 => c as usize,
        _ => n.max(1),
    };
    let name = Value::String(st.name.clone());
    let iters = items.into_iter().enumerate().map(|(i, item)| {
        let base = &base;
        let pointer = &pointer;
        let failures = &failures;
        let name = name.clone();
        let tolerated = &tolerated;
        async move {
            let prev = *pointer.lock().unwrap();
            let mut ith = Th::new(format!("{base}/m{i}"), prev);
            let d = details([("index", Value::from(i)), ("name", name.clone())]);
            run.emit(&mut ith, "MapIterationStarted", "mapIterationStartedEventDetails", d.clone(), true);
            let item_ctx = json!({"Index": i, "Value": item});
            let ent = JEntropy { run, th: &ith };
            let sel = match &spec.item_selector {
                Some(s) if jsonata => {
                    let mut c2 = ctx.clone();
                    if let Value::Object(o) = &mut c2 {
                        o.insert("Map".into(), json!({"Item": item_ctx}));
                    }
                    let states = json!({"input": input, "context": c2});
                    let sc = JsonataScope { states: &states, variables: vars, entropy: &ent };
                    eval::jsonata_template(s, &sc, "ItemSelector").map_err(|e| cx.rt(e))
                }
                Some(s) => {
                    let mut c2 = if ctx.is_null() {
                        json!({"Execution": run.exec.context().0, "StateMachine": run.exec.context().1, "State": {"Name": st.name, "EnteredTime": iso(cx.entered_ts)}})
                    } else {
                        ctx.clone()
                    };
                    if let Value::Object(o) = &mut c2 {
                        o.insert("Map".into(), json!({"Item": item_ctx}));
                    }
                    let sc = Scope { input, context: &c2, variables: vars, entropy: &ent };
                    eval::payload_template(s, &sc, "ItemSelector").map_err(|e| cx.rt(e))
                }
                None => Ok(item.clone()),
            };
            let mut ivars = vars.clone();
            let r = match sel {
                Ok(v) => run_states(run, &spec.processor, v, &mut ivars, &mut ith, None).await,
                Err(f) => Err(f),
            };
            let out = match r {
                Ok(v) => {
                    let (id, _) = run.emit(&mut ith, "MapIterationSucceeded", "mapIterationSucceededEventDetails", d, false);
                    let mut ls = last_succeeded.lock().unwrap();
                    *ls = (*ls).max(id);
                    Ok(v)
                }
                Err(f) => {
                    run.emit(&mut ith, "MapIterationFailed", "mapIterationFailedEventDetails", d, false);
                    let mut fl = failures.lock().unwrap();
                    *fl += 1;
                    if tolerated(*fl) { Ok(f.output()) } else { Err(f) }
                }
            };
            *pointer.lock().unwrap() = ith.last;
            out
        }
    });
    let mut stream = futures::stream::iter(iters).buffered(conc);
    let mut results = Vec::with_capacity(n);
    let mut failed = None;
    while let Some(r) = stream.next().await {
        match r {
            Ok(v) => results.push(v),
            Err(f) => {
                failed = Some(f);
                break;
            }
        }
    }
    drop(stream);
    th.last = *pointer.lock().unwrap();
    if let Some(mut f) = failed {
        if tol_count.is_some() || tol_pct.is_some() {
            f = Fail::new(
                "States.ExceedToleratedFailureThreshold",
                "The specified tolerated failure threshold was exceeded",
            );
        }
        return Err(f);
    }
    th.last = *last_succeeded.lock().unwrap();
    run.emit(th, "MapStateSucceeded", "", Det::None, false);
    Ok(Value::Array(results))
}

/// `ResultPath`: a plain `$.a.b` into objects is applied in place (the common case, no copy of
/// the input); anything else goes to `asl-eval` with a copy.
fn result_path(input: &Value, p: &str, result: Value) -> Result<Value, EvalError> {
    if p == "$" {
        return Ok(result);
    }
    let simple = p.strip_prefix("$.").filter(|rest| {
        !rest.is_empty()
            && rest
                .split('.')
                .all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    });
    if let Some(rest) = simple {
        // Every step must be an object (or missing, from where objects are created).
        let mut cur = Some(input);
        let mut ok = true;
        for k in rest.split('.') {
            match cur {
                Some(Value::Object(o)) => cur = o.get(k),
                None => {}
                Some(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && input.is_object() {
            let mut out = input.clone();
            let mut node = &mut out;
            let keys: Vec<&str> = rest.split('.').collect();
            for (i, k) in keys.iter().enumerate() {
                let Value::Object(o) = node else {
                    unreachable!("checked above")
                };
                if i + 1 == keys.len() {
                    o.insert((*k).to_string(), result);
                    return Ok(out);
                }
                node = o.entry(*k).or_insert_with(|| Value::Object(Map::new()));
            }
            return Ok(out);
        }
    }
    eval::apply_result_path(input.clone(), Some(p), result)
}
