//! The redb store keeps everything across a reopen, and group commit keeps batches atomic.

use std::sync::Arc;

use cordon_engine::history::HistoryEvent;
use cordon_engine::{ExecutionRecord, JournalEntry, StateMachineRecord, Store, WriteOp};
use cordon_store::RedbStore;
use serde_json::json;

fn sm(n: u32) -> StateMachineRecord {
    StateMachineRecord {
        arn: format!("arn:aws:states:us-east-1:123456789012:stateMachine:sm{n}"),
        name: format!("sm{n}"),
        definition: r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#.into(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
        kind: "STANDARD".into(),
        creation_date_ms: 1_700_000_000_000 + i64::from(n),
    }
}

fn exec(n: u32, status: &str) -> ExecutionRecord {
    ExecutionRecord {
        arn: format!("arn:aws:states:us-east-1:123456789012:execution:sm0:e{n}"),
        name: format!("e{n}"),
        state_machine_arn: sm(0).arn,
        definition: sm(0).definition,
        role_arn: sm(0).role_arn,
        status: status.into(),
        input: format!("{{\"n\":{n}}}"),
        output: None,
        error: None,
        cause: None,
        start_date_ms: 1_700_000_000_000,
        stop_date_ms: None,
        redrive_count: 0,
    }
}

fn event(id: u64) -> JournalEntry {
    JournalEntry::Event(HistoryEvent {
        id,
        previous_event_id: id.saturating_sub(1),
        timestamp_ms: 1_700_000_000_000 + id as i64,
        event_type: "PassStateEntered".into(),
        details_key: "stateEnteredEventDetails".into(),
        details: json!({"name": "P", "input": "{}"}),
        key: format!("0/{id}"),
    })
}

#[tokio::test]
async fn reopen_after_drop_returns_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.redb");
    {
        let store = Arc::new(RedbStore::open(&path).unwrap());
        store
            .write(vec![
                WriteOp::PutStateMachine(sm(0)),
                WriteOp::PutStateMachine(sm(1)),
            ])
            .await
            .unwrap();
        store
            .write(vec![WriteOp::DeleteStateMachine { arn: sm(1).arn }])
            .await
            .unwrap();
        // 50 executions written concurrently (group commit), each with 3 appends.
        let mut tasks = Vec::new();
        for n in 0..50u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(vec![WriteOp::PutExecution(exec(n, "RUNNING"))])
                    .await
                    .unwrap();
                for id in 1..=3u64 {
                    let arn = exec(n, "RUNNING").arn;
                    store
                        .write(vec![WriteOp::Append {
                            execution_arn: arn,
                            entries: vec![event(id)],
                        }])
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut done = exec(7, "SUCCEEDED");
        done.output = Some("{\"ok\":true}".into());
        store
            .write(vec![
                WriteOp::PutExecution(done),
                WriteOp::Append {
                    execution_arn: exec(7, "RUNNING").arn,
                    entries: vec![JournalEntry::Value {
                        key: "uuid/1".into(),
                        value: json!("u-1"),
                    }],
                },
            ])
            .await
            .unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    let snap = store.load().await.unwrap();
    assert_eq!(snap.state_machines, vec![sm(0)]);
    assert_eq!(snap.executions.len(), 50);
    for (rec, journal) in &snap.executions {
        let n: u32 = rec.name[1..].parse().unwrap();
        let expected_len = if n == 7 { 4 } else { 3 };
        assert_eq!(journal.len(), expected_len, "{}", rec.name);
        assert_eq!(&journal[..3], &[event(1), event(2), event(3)]);
        if n == 7 {
            assert_eq!(rec.status, "SUCCEEDED");
            assert_eq!(rec.output.as_deref(), Some("{\"ok\":true}"));
            assert_eq!(
                journal[3],
                JournalEntry::Value {
                    key: "uuid/1".into(),
                    value: json!("u-1")
                }
            );
        } else {
            assert_eq!(rec, &exec(n, "RUNNING"));
        }
    }
    // Appends after a reopen continue each journal where it stopped.
    store
        .write(vec![WriteOp::Append {
            execution_arn: exec(3, "RUNNING").arn,
            entries: vec![event(4)],
        }])
        .await
        .unwrap();
    drop(store);
    let snap = RedbStore::open(&path).unwrap().load().await.unwrap();
    let (_, j) = snap
        .executions
        .iter()
        .find(|(r, _)| r.name == "e3")
        .unwrap();
    assert_eq!(j, &vec![event(1), event(2), event(3), event(4)]);
}

#[tokio::test]
async fn a_bad_batch_fails_alone_and_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("s.redb")).unwrap());
    let good = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(vec![WriteOp::PutExecution(exec(1, "RUNNING"))])
                .await
        })
    };
    let bad = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(vec![
                WriteOp::PutExecution(exec(2, "RUNNING")),
                WriteOp::Append {
                    execution_arn: "arn:nope".into(),
                    entries: vec![event(1)],
                },
            ])
            .await
        })
    };
    good.await.unwrap().unwrap();
    let e = bad.await.unwrap().unwrap_err();
    assert!(e.0.contains("append to unknown execution arn:nope"), "{e}");
    let snap = store.load().await.unwrap();
    let names: Vec<_> = snap
        .executions
        .iter()
        .map(|(r, _)| r.name.as_str())
        .collect();
    assert_eq!(names, vec!["e1"], "the failed batch left nothing behind");
}

#[test]
fn open_names_the_file_it_could_not_open() {
    let err = RedbStore::open("/nonexistent-dir/x.redb").err().unwrap();
    assert!(err.0.contains("/nonexistent-dir/x.redb"), "{err}");
}
