//! Shared runtime state: the clock, registered state machines, running executions, task
//! tokens and the group-commit writer.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::dispatch::{LambdaInvoker, ServiceIntegration};
use crate::history::{Event, HistoryEvent};
use crate::model::Definition;
use crate::store::{ExecutionRecord, JournalEntry, StateMachineRecord, Store, WriteOp};

/// How time passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// The system clock.
    #[default]
    Real,
    /// Simulated time: run the engine on a paused tokio runtime
    /// (`Builder::new_current_thread().enable_all().start_paused(true)`); waits complete
    /// instantly and in order, timestamps show the simulated times.
    Virtual,
}

pub(crate) struct Clock {
    mode: ClockMode,
    base_ms: i64,
    start: tokio::time::Instant,
}

fn system_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    pub fn new(mode: ClockMode) -> Self {
        Self {
            mode,
            base_ms: system_ms(),
            start: tokio::time::Instant::now(),
        }
    }
    pub fn now_ms(&self) -> i64 {
        match self.mode {
            ClockMode::Real => system_ms(),
            ClockMode::Virtual => self.base_ms + self.start.elapsed().as_millis() as i64,
        }
    }
    /// Sleep until the wall-clock (or simulated) time `ms`.
    pub async fn sleep_until_ms(&self, ms: i64) {
        let d = ms - self.now_ms();
        if d > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(d as u64)).await;
        }
    }
}

pub(crate) struct SmEntry {
    pub record: StateMachineRecord,
    pub def: Arc<Definition>,
}

#[derive(Default)]
pub(crate) struct Registry {
    pub sms: BTreeMap<String, Arc<SmEntry>>,
    /// Looked up on every API call and grown on every start: foldhash, not SipHash (ARNs are
    /// long, and SipHash on them showed in the engine benchmark's profile).
    pub execs: foldhash::HashMap<String, Arc<Execution>>,
    /// Executions in start order.
    pub order: Vec<Arc<Execution>>,
}

/// What answers a waiting task token.
#[derive(Debug)]
pub(crate) enum TokenMsg {
    Success(Value),
    /// `error` empty when `SendTaskFailure` gave none.
    Failure {
        error: String,
        cause: Option<String>,
    },
    Heartbeat,
}

/// A waiting task's mailbox: answers queue here and wake the task (a few dozen bytes, where
/// a channel would allocate a block per token).
#[derive(Default)]
pub(crate) struct TokenBox {
    msgs: Mutex<std::collections::VecDeque<TokenMsg>>,
    notify: tokio::sync::Notify,
}

impl TokenBox {
    pub fn send(&self, m: TokenMsg) {
        self.msgs.lock().unwrap().push_back(m);
        self.notify.notify_one();
    }
    pub async fn recv(&self) -> TokenMsg {
        loop {
            if let Some(m) = self.msgs.lock().unwrap().pop_front() {
                return m;
            }
            self.notify.notified().await;
        }
    }
}

pub(crate) struct TokenSlot {
    /// Shared with the waiting task; when the task is gone only the slot holds it.
    pub mailbox: Arc<TokenBox>,
}

#[derive(Default)]
pub(crate) struct Tokens {
    pub live: foldhash::HashMap<String, TokenSlot>,
    /// Tokens whose task is over (answered, timed out, execution ended): `TaskTimedOut`.
    pub closed: foldhash::HashSet<String>,
}

pub(crate) enum WriterMsg {
    /// Boxed: a `WriteOp` is over 250 bytes, the other messages a pointer or two.
    Op(Box<WriteOp>),
    Flush(oneshot::Sender<()>),
    /// Once everything sent before is committed: the execution's first `n` events are.
    Committed(Arc<Execution>, usize),
    /// An execution joined [`Inner::dirty`]: journal what it emitted with the next batch.
    Dirty,
    /// Once everything sent before is committed: the execution is done.
    Done(Arc<Execution>),
}

/// Released when the batches submitted before it have committed.
enum Waiter {
    Flush(oneshot::Sender<()>),
    Committed(Arc<Execution>, usize),
    Done(Arc<Execution>),
}

impl Waiter {
    fn release(self) {
        match self {
            Waiter::Flush(tx) => {
                let _ = tx.send(());
            }
            Waiter::Committed(exec, n) => {
                exec.committed
                    .fetch_max(n, std::sync::atomic::Ordering::Release);
            }
            Waiter::Done(exec) => exec.done.set(()),
        }
    }
}

pub(crate) struct Inner {
    pub account_id: String,
    pub region: String,
    pub partition: String,
    pub clock: Clock,
    pub lambda: Option<Arc<dyn LambdaInvoker>>,
    pub services: HashMap<String, Arc<dyn ServiceIntegration>>,
    pub reg: Mutex<Registry>,
    pub tokens: Mutex<Tokens>,
    pub writer: mpsc::UnboundedSender<WriterMsg>,
    /// Executions that emitted events since the writer last took their journal (durable
    /// stores only): every event is committed with the next group commit, whether or not the
    /// execution then waits for a commit itself (a task token, a long Lambda call).
    pub dirty: Arc<Mutex<Vec<Arc<Execution>>>>,
    /// `Store::is_durable`: when false, side effects and completion do not wait for commits.
    pub durable: bool,
}

impl Inner {
    pub fn send(&self, op: WriteOp) {
        let _ = self.writer.send(WriterMsg::Op(Box::new(op)));
    }
    /// Wait until everything sent so far is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.writer.send(WriterMsg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The group-commit writer: everything queued since the last commit goes in one `write`.
/// With a store that accepts [`Store::submit`], batches are submitted as they form and the
/// next one is gathered while earlier ones commit (flush waiters are released when the last
/// batch submitted before them has committed; commits happen in submission order).
pub(crate) async fn writer_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<WriterMsg>,
    dirty: Arc<Mutex<Vec<Arc<Execution>>>>,
) {
    type Pending = (
        oneshot::Receiver<Result<(), crate::store::StoreError>>,
        Vec<Waiter>,
    );
    let mut inflight: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
    let mut open = true;
    while open || !inflight.is_empty() {
        let first = if inflight.is_empty() {
            match rx.recv().await {
                Some(m) => m,
                None => break,
            }
        } else {
            let front = &mut inflight.front_mut().unwrap().0;
            tokio::select! {
                biased;
                r = front => {
                    let (_, waiters) = inflight.pop_front().unwrap();
                    match r {
                        Ok(Err(e)) => tracing::error!(error = %e, "store write failed"),
                        Err(_) => tracing::error!("store dropped a write"),
                        Ok(Ok(())) => {}
                    }
                    for w in waiters {
                        w.release();
                    }
                    continue;
                }
                m = rx.recv(), if open => match m {
                    Some(m) => m,
                    None => { open = false; continue; }
                },
            }
        };
        let mut ops: Vec<WriteOp> = Vec::new();
        let mut waiters = Vec::new();
        let push = |m: WriterMsg, ops: &mut Vec<WriteOp>, waiters: &mut Vec<Waiter>| match m {
            WriterMsg::Op(op) => match *op {
                WriteOp::Append {
                    execution_arn,
                    entries,
                } => {
                    if let Some(WriteOp::Append {
                        execution_arn: last,
                        entries: le,
                    }) = ops.last_mut()
                        && *last == execution_arn
                    {
                        le.extend(entries);
                        return;
                    }
                    ops.push(WriteOp::Append {
                        execution_arn,
                        entries,
                    });
                }
                op => ops.push(op),
            },
            WriterMsg::Flush(tx) => waiters.push(Waiter::Flush(tx)),
            WriterMsg::Committed(exec, n) => waiters.push(Waiter::Committed(exec, n)),
            WriterMsg::Dirty => {}
            WriterMsg::Done(exec) => waiters.push(Waiter::Done(exec)),
        };
        push(first, &mut ops, &mut waiters);
        while let Ok(m) = rx.try_recv() {
            push(m, &mut ops, &mut waiters);
            if ops.len() > 4096 {
                break;
            }
        }
        for exec in std::mem::take(&mut *dirty.lock().unwrap()) {
            exec.dirty
                .store(false, std::sync::atomic::Ordering::Release);
            if let Some((_, entries, n)) = exec.take_unwritten(false) {
                ops.push(WriteOp::Append {
                    execution_arn: exec.arn.clone(),
                    entries,
                });
                waiters.push(Waiter::Committed(exec, n));
            }
        }
        if ops.is_empty() {
            match inflight.back_mut() {
                // Released once everything submitted before them has committed.
                Some((_, w)) => w.extend(waiters),
                None => {
                    for w in waiters {
                        w.release();
                    }
                }
            }
            continue;
        }
        match store.submit(ops) {
            Ok(done) => inflight.push_back((done, waiters)),
            Err(ops) => {
                // Not pipelined: earlier submissions (none for such a store) then this write.
                if let Err(e) = store.write(ops).await {
                    tracing::error!(error = %e, "store write failed");
                }
                for w in waiters {
                    w.release();
                }
            }
        }
    }
}

/// Mutable state of one execution.
pub(crate) struct ExecState {
    pub record: ExecutionRecord,
    pub history: Vec<Event>,
    /// How many of `history` were handed to the writer (the rest is the unwritten journal;
    /// events are kept once, not copied into a pending list).
    pub stored: usize,
    /// Journal values not yet handed to the writer.
    pub pending_values: Vec<JournalEntry>,
    /// The record changed since it was last handed to the writer (only used with a store that
    /// is not durable, which receives records at shutdown).
    pub record_dirty: bool,
    /// The parsed input, when `StartExecution` already parsed it (taken by the interpreter).
    pub parsed_input: Option<Value>,
    /// Task tokens this execution issued that may still be live.
    pub tokens: Vec<String>,
    /// Replay: event key -> index in `history`, values by key. Empty for a fresh execution.
    pub replay: HashMap<String, usize>,
    pub values: HashMap<String, Value>,
    /// Set when the journal cannot be replayed by this engine (an event at a replay key is not
    /// the one this engine emits there, or an entry is unreadable): the error and cause the
    /// execution fails with. From then on nothing is emitted, journaled or dispatched.
    pub broken: Option<Box<(String, String)>>,
}

pub(crate) struct Execution {
    pub arn: String,
    pub def: Arc<Definition>,
    /// `$$.Execution` and `$$.StateMachine`, built on first use.
    context: OnceLock<(Value, Value)>,
    pub state: Mutex<ExecState>,
    /// In [`Inner::dirty`] already.
    pub dirty: std::sync::atomic::AtomicBool,
    /// How many of its events the store has committed (with a durable store,
    /// `GetExecutionHistory` shows only these: what a crash would keep).
    pub committed: std::sync::atomic::AtomicUsize,
    /// Set once the execution has ended (and, with a durable store, its end is committed).
    pub done: Flag<()>,
    /// Why the execution must end now: `StopExecution`, or a broken replay.
    pub halt: Flag<Halt>,
}

/// What ends an execution from outside its states.
#[derive(Debug, Clone)]
pub(crate) enum Halt {
    /// `StopExecution`'s error and cause.
    Stop(Option<String>, Option<String>),
    /// [`ExecState::broken`] was set.
    Broken,
}

/// A value set once and awaited by any number of tasks: a few dozen bytes, where a `watch`
/// channel is several hundred (every execution, finished ones included, has two).
pub(crate) struct Flag<T> {
    value: Mutex<Option<T>>,
    notify: tokio::sync::Notify,
}

impl<T: Clone> Flag<T> {
    fn new() -> Self {
        Flag {
            value: Mutex::new(None),
            notify: tokio::sync::Notify::new(),
        }
    }

    pub fn set(&self, v: T) {
        *self.value.lock().unwrap() = Some(v);
        self.notify.notify_waiters();
    }

    pub fn get(&self) -> Option<T> {
        self.value.lock().unwrap().clone()
    }

    /// The value, once set.
    pub async fn wait(&self) -> T {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a `set` in between is not missed.
            notified.as_mut().enable();
            if let Some(v) = self.get() {
                return v;
            }
            notified.await;
        }
    }
}

impl Execution {
    pub fn new(
        record: ExecutionRecord,
        def: Arc<Definition>,
        history: Vec<HistoryEvent>,
        values: HashMap<String, Value>,
    ) -> Self {
        let replay = history
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
        let mut history: Vec<Event> = history.into_iter().map(Event::from_event).collect();
        if history.is_empty() {
            history.reserve_exact(def.history_hint.load(std::sync::atomic::Ordering::Relaxed));
        }
        let stored = history.len();
        Execution {
            arn: record.arn.clone(),
            def,
            context: OnceLock::new(),
            state: Mutex::new(ExecState {
                record,
                history,
                stored,
                pending_values: Vec::new(),
                record_dirty: false,
                parsed_input: None,
                tokens: Vec::new(),
                replay,
                values,
                broken: None,
            }),
            committed: std::sync::atomic::AtomicUsize::new(stored),
            dirty: std::sync::atomic::AtomicBool::new(false),
            done: Flag::new(),
            halt: Flag::new(),
        }
    }

    /// `($$.Execution, $$.StateMachine)`.
    pub fn context(&self) -> &(Value, Value) {
        self.context.get_or_init(|| {
            let st = self.state.lock().unwrap();
            let record = &st.record;
            let input: Value = serde_json::from_str(&record.input).unwrap_or(Value::Null);
            let sm_name = record
                .state_machine_arn
                .rsplit(':')
                .next()
                .unwrap_or_default();
            (
                json!({
                    "Id": record.arn, "Input": input, "StartTime": crate::time::iso(record.start_date_ms),
                    "Name": record.name, "RoleArn": record.role_arn, "RedriveCount": record.redrive_count,
                }),
                json!({"Id": record.state_machine_arn, "Name": sm_name}),
            )
        })
    }

    /// Hand the unwritten journal to the writer (not awaiting the commit). With a store that
    /// is not durable this waits for [`Execution::push_all`] at shutdown.
    pub fn push_pending(self: &Arc<Self>, inner: &Inner) {
        if inner.durable {
            self.push(inner, false);
        }
    }

    /// Hand everything unwritten (record included) to the writer.
    pub fn push_all(self: &Arc<Self>, inner: &Inner) {
        self.push(inner, true);
    }

    /// The journal not yet handed to the writer (and the record, if `record` and it changed),
    /// marked as handed over; with how many events that makes. `None` when there is nothing.
    fn take_unwritten(
        &self,
        record: bool,
    ) -> Option<(Option<ExecutionRecord>, Vec<JournalEntry>, usize)> {
        let mut st = self.state.lock().unwrap();
        let rec = (record && st.record_dirty).then(|| {
            st.record_dirty = false;
            st.record.clone()
        });
        let entries = if st.stored == st.history.len() && st.pending_values.is_empty() {
            Vec::new()
        } else {
            let mut entries: Vec<JournalEntry> = st.history[st.stored..]
                .iter()
                .map(JournalEntry::of_event)
                .collect();
            st.stored = st.history.len();
            entries.extend(std::mem::take(&mut st.pending_values));
            entries
        };
        (rec.is_some() || !entries.is_empty()).then_some((rec, entries, st.stored))
    }

    /// Events were emitted: with a durable store, have the writer journal them soon.
    pub fn mark_dirty(self: &Arc<Self>, inner: &Inner) {
        if inner.durable && !self.dirty.swap(true, std::sync::atomic::Ordering::AcqRel) {
            inner.dirty.lock().unwrap().push(self.clone());
            let _ = inner.writer.send(WriterMsg::Dirty);
        }
    }

    fn push(self: &Arc<Self>, inner: &Inner, record: bool) {
        let Some((rec, entries, stored)) = self.take_unwritten(record) else {
            return;
        };
        if let Some(r) = rec {
            inner.send(WriteOp::PutExecution(r));
        }
        if !entries.is_empty() {
            inner.send(WriteOp::Append {
                execution_arn: self.arn.clone(),
                entries,
            });
            let _ = inner
                .writer
                .send(WriterMsg::Committed(self.clone(), stored));
        }
    }

    /// The record changed (start, finish): durable stores get it now, others at shutdown.
    pub fn put_record(&self, inner: &Inner) {
        let mut st = self.state.lock().unwrap();
        if inner.durable {
            st.record_dirty = false;
            let r = st.record.clone();
            drop(st);
            inner.send(WriteOp::PutExecution(r));
        } else {
            st.record_dirty = true;
        }
    }
}
