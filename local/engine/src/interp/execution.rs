//! An execution from start to end: `ExecutionStarted`, the top-level state loop raced against
//! a stop request and the execution timeout, and the terminal event and record.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::data::MAX_PAYLOAD;
use super::fail::Fail;
use super::replay::{Run, Thread};
use super::states::run_states;
use crate::history::{Event, NOT_TRUNCATED, details, text};
use crate::runtime::{Execution, Halt, Inner, WriterMsg};
use crate::store::ExecutionStatus;

pub(crate) async fn run_execution(inner: Arc<Inner>, exec: Arc<Execution>) {
    let run = Run {
        inner: inner.clone(),
        exec: exec.clone(),
    };
    let mut th = Thread::new("r".into(), 0);
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
            ("inputDetails", NOT_TRUNCATED),
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
                details([("output", o.clone()), ("outputDetails", NOT_TRUNCATED)]),
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
pub(super) fn fail_broken(run: &Run) {
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
        st.history.push(Event {
            id,
            prev: id - 1,
            ts: run.inner.clock.now_ms(),
            ty: Cow::Borrowed("ExecutionFailed"),
            details_key: Cow::Borrowed("executionFailedEventDetails"),
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

pub(super) fn fail_execution(run: &Run, th: &mut Thread, f: &Fail) {
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

pub(super) fn finish(
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
