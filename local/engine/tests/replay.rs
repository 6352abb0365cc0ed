//! Replay checks every journaled event against what the engine emits now: a journal written
//! by an engine that emits other events (or in another order) fails the execution with
//! `Engine.ReplayMismatch` instead of being replayed wrong; a journal that matches resumes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cordon_engine::history::HistoryEvent;
use cordon_engine::{JournalEntry, MemoryStore, Store, WriteOp};
use serde_json::{Value, json};

mod support;

use support::{
    DurableMemory, create_state_machine, engine_with as engine, history, rt, start_execution, types,
};

/// A Lambda task retried twice, a Pass, then a long Wait.
fn definition() -> Value {
    json!({"StartAt":"T","States":{
        "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:flaky","Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":5}],"Next":"P"},
        "P":{"Type":"Pass","Next":"W"},
        "W":{"Type":"Wait","Seconds":1000,"End":true}}})
}

/// Start an execution of `def` and stop the engine after `secs` (virtual) seconds, with
/// the execution still running.
fn run_then_stop(store: Arc<dyn Store>, calls: Arc<AtomicUsize>, def: Value, secs: u64) -> String {
    rt().block_on(async {
        let e = engine(store, calls).await;
        let sm = create_state_machine(&e, "rp", &def).await;
        let arn = start_execution(&e, &sm, json!({"name": "x1", "input": "{}"})).await;
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        e.shutdown().await;
        arn
    })
}

/// A copy of `store` whose (only) execution's journaled events went through `edit`: what
/// another engine version would have written.
fn rewritten(store: &dyn Store, mut edit: impl FnMut(&mut Vec<HistoryEvent>)) -> Arc<dyn Store> {
    rt().block_on(async {
        let snap = store.load().await.unwrap();
        let out = DurableMemory(MemoryStore::new());
        let mut ops: Vec<WriteOp> = snap
            .state_machines
            .into_iter()
            .map(WriteOp::PutStateMachine)
            .collect();
        assert_eq!(snap.executions.len(), 1);
        for (rec, journal) in snap.executions {
            let mut events = Vec::new();
            let mut values = Vec::new();
            for j in journal {
                match j.decode().unwrap() {
                    JournalEntry::Event(e) => events.push(e),
                    v => values.push(v),
                }
            }
            edit(&mut events);
            let arn = rec.arn.clone();
            ops.push(WriteOp::PutExecution(rec));
            let mut entries: Vec<JournalEntry> =
                events.into_iter().map(JournalEntry::Event).collect();
            entries.extend(values);
            ops.push(WriteOp::Append {
                execution_arn: arn,
                entries,
            });
        }
        out.write(ops).await.unwrap();
        Arc::new(out) as Arc<dyn Store>
    })
}

fn journaled_events(store: &dyn Store) -> Vec<HistoryEvent> {
    rt().block_on(async {
        let snap = store.load().await.unwrap();
        snap.executions[0]
            .1
            .iter()
            .filter_map(|j| match j.clone().decode().unwrap() {
                JournalEntry::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    })
}

/// Resume `store`'s execution; its `DescribeExecution` and history once it ended.
fn resume(store: Arc<dyn Store>, calls: Arc<AtomicUsize>, arn: &str) -> (Value, Vec<Value>) {
    rt().block_on(async {
        let e = engine(store, calls).await;
        let d = e.wait_for_execution(arn).await.unwrap();
        (d, history(&e, arn).await)
    })
}

fn position(events: &[HistoryEvent], ty: &str) -> usize {
    events
        .iter()
        .position(|e| e.event_type == ty)
        .unwrap_or_else(|| panic!("no {ty} in the journal"))
}

/// The execution failed with `Engine.ReplayMismatch` after exactly the journaled events:
/// nothing was replayed past the mismatch, no task ran again.
fn assert_refused(
    d: &Value,
    h: &[Value],
    journal: &[HistoryEvent],
    calls: &AtomicUsize,
    cause_has: &[&str],
) {
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "Engine.ReplayMismatch", "{d}");
    let cause = d["cause"].as_str().unwrap();
    for part in cause_has
        .iter()
        .chain(&["different engine version", "cordon version that started"])
    {
        assert!(cause.contains(part), "{part:?} not in {cause}");
    }
    assert_eq!(h.len(), journal.len() + 1, "{h:?}");
    let journaled: Vec<&str> = journal.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types(&h[..journal.len()]), journaled);
    let last = h.last().unwrap();
    assert_eq!(last["type"], "ExecutionFailed");
    assert_eq!(last["id"], journal.len() as u64 + 1);
    assert_eq!(
        last["executionFailedEventDetails"]["error"],
        "Engine.ReplayMismatch"
    );
    assert_eq!(last["executionFailedEventDetails"]["cause"], cause);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "no task ran again");
}

#[test]
fn a_journal_with_another_emit_order_fails_the_execution_instead_of_replaying() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store: Arc<dyn Store> = Arc::new(DurableMemory(MemoryStore::new()));
    let arn = run_then_stop(store.clone(), calls.clone(), definition(), 500);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // An engine that emitted the Pass state's exit before its entry.
    let mut seq = String::new();
    let swapped = rewritten(&*store, |ev| {
        let entered = position(ev, "PassStateEntered");
        let exited = position(ev, "PassStateExited");
        let (a, b) = (ev[entered].key.clone(), ev[exited].key.clone());
        seq = a.rsplit(':').next().unwrap().to_string();
        ev[entered].key = b;
        ev[exited].key = a;
    });
    let journal = journaled_events(&*swapped);
    let (d, h) = resume(swapped.clone(), calls.clone(), &arn);
    let exited_id = journal[position(&journal, "PassStateExited")].id;
    assert_refused(
        &d,
        &h,
        &journal,
        &calls,
        &[
            &format!("event {exited_id} (thread 'r', seq {seq})"),
            "the journal holds PassStateExited (stateExitedEventDetails, state 'P')",
            "this engine emits PassStateEntered (stateEnteredEventDetails, state 'P')",
        ],
    );
    assert!(!types(&h).contains(&"WaitStateExited"));

    // The failure is durable: the next start shows it and replays nothing.
    let (d2, h2) = resume(swapped, calls.clone(), &arn);
    assert_eq!(d2, d);
    assert_eq!(h2, h);
}

#[test]
fn a_journal_naming_another_state_at_a_replay_key_is_refused() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let arn = run_then_stop(store.clone(), calls.clone(), definition(), 500);
    let renamed = rewritten(&*store, |ev| {
        let i = position(ev, "WaitStateEntered");
        ev[i].details["name"] = json!("Later");
    });
    let journal = journaled_events(&*renamed);
    let (d, h) = resume(renamed, calls.clone(), &arn);
    assert_refused(
        &d,
        &h,
        &journal,
        &calls,
        &[
            "the journal holds WaitStateEntered (stateEnteredEventDetails, state 'Later')",
            "this engine emits WaitStateEntered (stateEnteredEventDetails, state 'W')",
        ],
    );
}

#[test]
fn a_task_outcome_of_another_kind_is_refused() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store: Arc<dyn Store> = Arc::new(DurableMemory(MemoryStore::new()));
    let arn = run_then_stop(store.clone(), calls.clone(), definition(), 500);
    // Where this engine journals the Lambda's outcome, another one had a service task's.
    let other = rewritten(&*store, |ev| {
        let i = position(ev, "LambdaFunctionSucceeded");
        ev[i].event_type = "TaskSucceeded".into();
        ev[i].details_key = "taskSucceededEventDetails".into();
    });
    let journal = journaled_events(&*other);
    let (d, h) = resume(other, calls.clone(), &arn);
    assert_refused(
        &d,
        &h,
        &journal,
        &calls,
        &[
            "the journal holds TaskSucceeded (taskSucceededEventDetails)",
            "this engine emits one of LambdaFunctionSucceeded, LambdaFunctionFailed, LambdaFunctionTimedOut",
        ],
    );
}

#[test]
fn an_unreadable_journal_entry_fails_the_execution() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let arn = run_then_stop(store.clone(), calls.clone(), definition(), 500);
    let cut = rt().block_on(async {
        let snap = store.load().await.unwrap();
        let out = MemoryStore::new();
        let (rec, mut journal) = snap.executions.into_iter().next().unwrap();
        // An encoded event cut short.
        journal[3] = JournalEntry::Encoded(vec![0xE1, 0x04].into_boxed_slice());
        out.write(vec![
            WriteOp::PutExecution(rec.clone()),
            WriteOp::Append {
                execution_arn: rec.arn,
                entries: journal,
            },
        ])
        .await
        .unwrap();
        Arc::new(out) as Arc<dyn Store>
    });
    let (d, h) = resume(cut, calls.clone(), &arn);
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "Engine.JournalUnreadable", "{d}");
    assert!(
        d["cause"].as_str().unwrap().contains("Entry 3"),
        "{}",
        d["cause"]
    );
    assert_eq!(types(&h).last(), Some(&"ExecutionFailed"));
    assert!(!types(&h).contains(&"WaitStateExited"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn a_matching_journal_resumes_and_finishes() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store: Arc<dyn Store> = Arc::new(DurableMemory(MemoryStore::new()));
    let arn = run_then_stop(store.clone(), calls.clone(), definition(), 500);
    let copy = rewritten(&*store, |_| {});
    let (d, h) = resume(copy, calls.clone(), &arn);
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(types(&h).last(), Some(&"ExecutionSucceeded"));
    assert_eq!(
        types(&h)
            .iter()
            .filter(|t| **t == "PassStateEntered")
            .count(),
        1
    );
    for (i, e) in h.iter().enumerate() {
        assert_eq!(e["id"].as_u64().unwrap(), i as u64 + 1);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// An execution waiting for a task token (an approval) across a restart keeps waiting and
/// takes the answer: its `TaskSubmitted` is recognised on replay.
#[test]
fn a_task_waiting_for_its_token_resumes_after_a_restart() {
    let store: Arc<dyn Store> = Arc::new(DurableMemory(MemoryStore::new()));
    let def = json!({"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters":{"QueueUrl":"q","MessageBody":{"TaskToken.$":"$$.Task.Token"}},"Next":"Done"},
        "Done":{"Type":"Pass","End":true}}});
    let arn = run_then_stop(store.clone(), Arc::default(), def, 5);
    let journal = journaled_events(&*store);
    assert_eq!(journal.last().unwrap().event_type, "TaskSubmitted");
    let token = {
        let scheduled = &journal[position(&journal, "TaskScheduled")];
        let p: Value =
            serde_json::from_str(scheduled.details["parameters"].as_str().unwrap()).unwrap();
        p["MessageBody"]["TaskToken"].as_str().unwrap().to_string()
    };
    rt().block_on(async {
        let e = engine(store.clone(), Arc::default()).await;
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let d = e
            .call("DescribeExecution", json!({"executionArn": arn}))
            .await
            .unwrap();
        assert_eq!(d["status"], "RUNNING", "{d}");
        e.call(
            "SendTaskSuccess",
            json!({"taskToken": token, "output": "{\"approved\":true}"}),
        )
        .await
        .unwrap();
        let d = e.wait_for_execution(&arn).await.unwrap();
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        assert_eq!(d["output"], "{\"approved\":true}");
        let h = e
            .call("GetExecutionHistory", json!({"executionArn": arn}))
            .await
            .unwrap();
        let h = h["events"].as_array().unwrap();
        assert_eq!(
            types(h),
            [
                "ExecutionStarted",
                "TaskStateEntered",
                "TaskScheduled",
                "TaskStarted",
                "TaskSubmitted",
                "TaskSucceeded",
                "TaskStateExited",
                "PassStateEntered",
                "PassStateExited",
                "ExecutionSucceeded"
            ]
        );
    });
}
