//! Durability. The engine is event-sourced: for every execution the store keeps the history
//! events exactly as `GetExecutionHistory` returns them plus a few private journal values
//! (entropy drawn by `States.UUID`/`States.MathRandom`, retry jitter, task tokens issued).
//! Everything else an execution needs to resume (wait deadlines, task outcomes, times) is
//! derivable from its events. On restart the engine re-runs every unfinished execution from
//! its start, consuming the journal instead of dispatching, sleeping or emitting, and continues
//! live once the journal is exhausted.
//!
//! Writes reach the store through [`Store::write`] in batches: the engine's writer task groups
//! whatever all executions produced since the last commit into one call (group commit), so a
//! durable implementation pays one fsync per batch, not per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{Event, HistoryEvent};

pub use crate::journal::JOURNAL_FORMAT;

/// A store failure; the engine reports it as `InternalServerError`... or stops writing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// A state machine as `CreateStateMachine` recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMachineRecord {
    pub arn: String,
    pub name: String,
    /// The definition text exactly as given (shared: every execution refers to it).
    pub definition: Arc<str>,
    pub role_arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub kind: String,
    /// Epoch milliseconds.
    pub creation_date_ms: i64,
}

/// One execution's summary (everything `DescribeExecution` shows). Its history lives in the
/// journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub arn: String,
    pub name: String,
    pub state_machine_arn: String,
    /// A copy of the state machine's definition at start (`DescribeStateMachineForExecution`,
    /// and recovery after the state machine was deleted). Shared with the state machine's
    /// record, not copied.
    pub definition: Arc<str>,
    pub role_arn: String,
    /// Stored (and shown by the API) as `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`,
    /// `ABORTED`.
    pub status: ExecutionStatus,
    /// The input text exactly as given to `StartExecution`.
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_date_ms: i64,
    pub stop_date_ms: Option<i64>,
    pub redrive_count: u32,
}

impl ExecutionRecord {
    pub fn is_finished(&self) -> bool {
        self.status != ExecutionStatus::Running
    }
}

/// An execution's status. It serialises as the API's string (`RUNNING`, `TIMED_OUT`, ...), so
/// records are stored exactly as when the status was a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ExecutionStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ExecutionStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One append-only journal entry of an execution.
#[derive(Debug, Clone, Deserialize)]
pub enum JournalEntry {
    /// A history event (carries its private replay key).
    Event(HistoryEvent),
    /// A non-deterministic value the execution drew, by replay key.
    Value { key: String, value: Value },
    /// An `Event` the engine has encoded already, in its compact binary form (never starting
    /// with `{`): a store writes [`JournalEntry::encoded`] as it is and gives it back as
    /// `Encoded` (the engine decodes it); it serialises as the `Event` it holds. The engine
    /// journals every event this way, so that a durable store neither rebuilds nor
    /// serialises them.
    #[serde(skip)]
    Encoded(Box<[u8]>),
}

impl JournalEntry {
    /// The entry for an event the engine emitted: `Event` of it, encoded straight from the
    /// engine's compact form.
    pub(crate) fn of_event(e: &Event) -> JournalEntry {
        JournalEntry::Encoded(crate::journal::encode(e).into_boxed_slice())
    }

    /// The entry an `Encoded` one stands for (others as they are).
    pub fn decode(self) -> Result<JournalEntry, StoreError> {
        match self {
            JournalEntry::Encoded(bytes) => crate::journal::decode(&bytes)
                .map(JournalEntry::Event)
                .map_err(|e| StoreError(format!("corrupt journal entry: {e}"))),
            e => Ok(e),
        }
    }

    /// The bytes, when the engine encoded the entry already.
    pub fn encoded(&self) -> Option<&[u8]> {
        match self {
            JournalEntry::Encoded(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// A stored entry: JSON (`{...}`) or the engine's encoded form.
    pub fn from_stored(bytes: &[u8]) -> Result<JournalEntry, StoreError> {
        match bytes.first() {
            Some(&crate::journal::ENCODED_EVENT) => Ok(JournalEntry::Encoded(bytes.into())),
            // The range kept for encoded events: another encoding of a later or earlier engine.
            Some(&b @ 0xE0..=0xEF) => Err(StoreError(format!(
                "journal entry in encoding {b:#x}, which this engine does not read (it reads {:#x}): written by a different engine version",
                crate::journal::ENCODED_EVENT
            ))),
            _ => serde_json::from_slice(bytes)
                .map_err(|e| StoreError(format!("corrupt journal entry: {e}"))),
        }
    }
}

impl PartialEq for JournalEntry {
    fn eq(&self, other: &Self) -> bool {
        match (self.clone().decode(), other.clone().decode()) {
            (Ok(JournalEntry::Event(a)), Ok(JournalEntry::Event(b))) => a == b,
            (
                Ok(JournalEntry::Value { key: a, value: x }),
                Ok(JournalEntry::Value { key: b, value: y }),
            ) => a == b && x == y,
            _ => false,
        }
    }
}

impl Serialize for JournalEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStructVariant;
        match self {
            JournalEntry::Event(e) => s.serialize_newtype_variant("JournalEntry", 0, "Event", e),
            JournalEntry::Value { key, value } => {
                let mut v = s.serialize_struct_variant("JournalEntry", 1, "Value", 2)?;
                v.serialize_field("key", key)?;
                v.serialize_field("value", value)?;
                v.end()
            }
            JournalEntry::Encoded(_) => self
                .clone()
                .decode()
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
        }
    }
}

/// One write of a batch. A batch is applied atomically and in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteOp {
    PutStateMachine(StateMachineRecord),
    DeleteStateMachine {
        arn: String,
    },
    /// Create or replace an execution's summary (status changes).
    PutExecution(ExecutionRecord),
    /// Append to an execution's journal.
    Append {
        execution_arn: String,
        entries: Vec<JournalEntry>,
    },
}

/// Everything the engine needs back after a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub state_machines: Vec<StateMachineRecord>,
    /// Every execution with its journal, in start order (finished ones too, so that
    /// `DescribeExecution`/`GetExecutionHistory` keep working after a restart).
    pub executions: Vec<(ExecutionRecord, Vec<JournalEntry>)>,
}

/// Where the engine keeps state machines, executions and journals.
#[async_trait]
pub trait Store: Send + Sync {
    /// Apply `ops` atomically and durably (for a durable store: return after the commit).
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Load everything (called once, by `Engine::start`).
    async fn load(&self) -> Result<Snapshot, StoreError>;
    /// Whether a commit survives the process. A store that is not durable lets executions
    /// dispatch tasks and report completion without waiting for the writer (nothing could
    /// be recovered from it after a crash anyway); writes still reach it in order.
    fn is_durable(&self) -> bool {
        true
    }
    /// Optional pipelining: start applying `ops` now — after every batch submitted before, in
    /// call order — and return a receiver that reports the commit. A store that can do this
    /// lets the engine's writer prepare the next batch while this one commits. `Err(ops)`
    /// (the default) hands the batch back: the engine then calls [`Store::write`] and waits.
    #[allow(clippy::type_complexity)]
    fn submit(
        &self,
        ops: Vec<WriteOp>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), StoreError>>, Vec<WriteOp>> {
        Err(ops)
    }
}

/// A store in memory: nothing survives the process. The default for tests and benchmarks.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    state_machines: Vec<StateMachineRecord>,
    executions: Vec<(ExecutionRecord, Vec<JournalEntry>)>,
    index: HashMap<String, usize>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        for op in ops {
            match op {
                WriteOp::PutStateMachine(r) => {
                    g.state_machines.retain(|s| s.arn != r.arn);
                    g.state_machines.push(r);
                }
                WriteOp::DeleteStateMachine { arn } => g.state_machines.retain(|s| s.arn != arn),
                WriteOp::PutExecution(r) => match g.index.get(&r.arn).copied() {
                    Some(i) => g.executions[i].0 = r,
                    None => {
                        let i = g.executions.len();
                        g.index.insert(r.arn.clone(), i);
                        g.executions.push((r, Vec::new()));
                    }
                },
                WriteOp::Append {
                    execution_arn,
                    entries,
                } => {
                    let Some(i) = g.index.get(&execution_arn).copied() else {
                        return Err(StoreError(format!(
                            "append to unknown execution {execution_arn}"
                        )));
                    };
                    g.executions[i].1.extend(entries);
                }
            }
        }
        Ok(())
    }

    async fn load(&self) -> Result<Snapshot, StoreError> {
        let g = self.inner.lock().unwrap();
        Ok(Snapshot {
            state_machines: g.state_machines.clone(),
            executions: g.executions.clone(),
        })
    }

    fn is_durable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::ExecutionStatus;

    /// Statuses are stored and shown as the strings they were before they had a type.
    #[test]
    fn statuses_keep_their_strings() {
        for (s, name) in [
            (ExecutionStatus::Running, "RUNNING"),
            (ExecutionStatus::Succeeded, "SUCCEEDED"),
            (ExecutionStatus::Failed, "FAILED"),
            (ExecutionStatus::TimedOut, "TIMED_OUT"),
            (ExecutionStatus::Aborted, "ABORTED"),
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<ExecutionStatus>(&format!("\"{name}\"")).unwrap(),
                s
            );
            assert_eq!(s.to_string(), name);
            assert!(s == name);
        }
    }
}
