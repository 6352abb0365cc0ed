//! Emission and replay. Every emission point has a replay key (`<thread>:<seq>`): a
//! [`Thread`] is the top level, a Parallel branch or a Map iteration, and its sequence numbers
//! are deterministic given the journal, so an event already in the history is recognised
//! instead of re-emitted, and a task whose outcome event exists is not dispatched again. The
//! journaled event must be the one emitted now: otherwise the execution fails with
//! [`REPLAY_MISMATCH`].

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use cordon_asl_eval::Entropy;
use serde_json::Value;

use super::fail::Fail;
use crate::history::{Details, Event};
use crate::runtime::{Execution, Halt, Inner};
use crate::store::JournalEntry;

/// The error a resumed execution fails with when its journal holds, at a replay key, another
/// event than the one this engine emits there (a journal written by another engine version).
pub const REPLAY_MISMATCH: &str = "Engine.ReplayMismatch";

/// The error a resumed execution fails with when an entry of its journal cannot be read.
pub const JOURNAL_UNREADABLE: &str = "Engine.JournalUnreadable";

/// Details that identify an event besides its type: compared on replay when both the
/// journaled event and the one emitted now carry them.
pub(super) const IDENTITY: [&str; 2] = ["name", "index"];

/// How a mismatch describes an event: its type, details key and identity.
pub(super) fn describe(ty: &str, details_key: &str, d: &Details) -> String {
    let mut parts = vec![if details_key.is_empty() {
        "no details".to_string()
    } else {
        details_key.to_string()
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
pub(super) fn mismatch_cause(journaled: &Event, emitted: &str) -> String {
    let seq = if journaled.seq == u32::MAX {
        "none".to_string()
    } else {
        journaled.seq.to_string()
    };
    format!(
        "Replay mismatch at event {} (thread '{}', seq {seq}): the journal holds {}, but this engine emits {emitted} there. The journal was written by a different engine version whose states emit other events or emit them in another order; replaying it would run the execution wrong, so the execution fails instead. Finish or stop executions with the cordon version that started them before upgrading; to run this one again, start a new execution with its input.",
        journaled.id,
        journaled.thread,
        describe(&journaled.ty, &journaled.details_key, &journaled.details),
    )
}

/// Why the journaled event `e` is not the event `(ty, details_key, d)` emitted now, if it is not.
pub(super) fn mismatch(e: &Event, ty: &str, details_key: &str, d: &Details) -> Option<String> {
    let same = e.ty == ty
        && e.details_key == details_key
        && IDENTITY
            .iter()
            .all(|k| match (e.details.ident(k), d.ident(k)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            });
    (!same).then(|| mismatch_cause(e, &describe(ty, details_key, d)))
}

pub(super) struct Thread {
    pub(super) prefix: Arc<str>,
    pub(super) seq: u32,
    pub(super) vseq: AtomicU32,
    pub(super) last: u64,
}

impl Thread {
    pub(super) fn new(prefix: String, last: u64) -> Self {
        Self {
            prefix: Arc::from(prefix),
            seq: 0,
            vseq: AtomicU32::new(0),
            last,
        }
    }
    pub(super) fn peek_key(&self) -> String {
        format!("{}:{}", self.prefix, self.seq)
    }
}

pub(super) struct Run {
    pub(super) inner: Arc<Inner>,
    pub(super) exec: Arc<Execution>,
}

/// Entropy journaled per thread, so replay draws the same values.
pub(super) struct JournaledEntropy<'a> {
    pub(super) run: &'a Run,
    pub(super) th: &'a Thread,
}

impl JournaledEntropy<'_> {
    pub(super) fn draw(&self, fresh: impl FnOnce() -> Value) -> Value {
        let n = self.th.vseq.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}:v{}", self.th.prefix, n);
        self.run.value(key, fresh)
    }
}

impl Entropy for JournaledEntropy<'_> {
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
    pub(super) fn emit(
        &self,
        th: &mut Thread,
        ty: impl Into<Cow<'static, str>>,
        details_key: impl Into<Cow<'static, str>>,
        d: Details,
        chain: bool,
    ) -> (u64, i64) {
        let seq = th.seq;
        th.seq += 1;
        let (ty, details_key) = (ty.into(), details_key.into());
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
                if let Some(cause) = mismatch(e, &ty, &details_key, &d) {
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
        st.history.push(Event {
            id,
            prev: th.last,
            ts,
            ty,
            details_key,
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
    pub(super) fn broken(&self, cause: String) {
        let mut st = self.exec.state.lock().unwrap();
        if st.broken.is_none() {
            tracing::error!(execution = %self.exec.arn, %cause, "replay mismatch");
            st.broken = Some(Box::new((REPLAY_MISMATCH.to_string(), cause)));
        }
        drop(st);
        self.exec.halt.set(Halt::Broken);
    }

    /// Whether the execution stopped on a broken replay.
    pub(super) fn is_broken(&self) -> bool {
        self.exec.state.lock().unwrap().broken.is_some()
    }

    /// Never returns once the replay is broken (the run loop then drops the execution's
    /// future): called where an execution would go on to a side effect or another state.
    pub(super) async fn check_broken(&self) {
        if self.is_broken() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether the journaled task outcome `ev` is one of `expected` (the events that can
    /// follow the task's start); if not, the replay is broken.
    pub(super) fn expect_outcome(&self, ev: &Event, expected: &[&str]) -> bool {
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
    pub(super) fn replayed(&self, th: &Thread) -> Option<Event> {
        let st = self.exec.state.lock().unwrap();
        if st.replay.is_empty() {
            return None;
        }
        st.replay
            .get(&th.peek_key())
            .map(|&i| st.history[i].clone())
    }

    pub(super) fn value(&self, key: String, fresh: impl FnOnce() -> Value) -> Value {
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
    pub(super) async fn durable(&self) {
        self.check_broken().await;
        if self.inner.durable {
            self.exec.push_pending(&self.inner);
            self.inner.flush().await;
        }
    }
}

/// What the journal may hold after `LambdaFunctionStarted`.
pub(super) const LAMBDA_OUTCOMES: &[&str] = &[
    "LambdaFunctionSucceeded",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
];

/// What the journal may hold after `TaskStarted` (`TaskSubmitted` only for a task that waits
/// for a token) or `TaskSubmitted`.
pub(super) const TASK_OUTCOMES: &[&str] = &["TaskSucceeded", "TaskFailed", "TaskTimedOut"];

/// A task outcome already in the journal: re-emit (recognise) it and return its result. An
/// event that is not one of `expected` breaks the replay (this then never returns).
pub(super) async fn replay_outcome(
    run: &Run,
    th: &mut Thread,
    ev: &Event,
    expected: &[&str],
) -> Result<Value, Fail> {
    if !run.expect_outcome(ev, expected) {
        std::future::pending::<()>().await;
    }
    run.emit(
        th,
        ev.ty.clone(),
        ev.details_key.clone(),
        Details::None,
        true,
    );
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
