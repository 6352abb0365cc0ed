//! The redb store keeps everything across a reopen, and group commit keeps batches atomic.

use std::sync::Arc;

use cordon_engine::history::HistoryEvent;
use cordon_engine::{
    ExecutionRecord, ExecutionStatus, JournalEntry, StateMachineRecord, Store, WriteOp,
};
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

fn exec(n: u32, status: ExecutionStatus) -> ExecutionRecord {
    ExecutionRecord {
        arn: format!("arn:aws:states:us-east-1:123456789012:execution:sm0:e{n}"),
        name: format!("e{n}"),
        state_machine_arn: sm(0).arn,
        definition: sm(0).definition,
        role_arn: sm(0).role_arn,
        status,
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
                    .write(vec![WriteOp::PutExecution(exec(
                        n,
                        ExecutionStatus::Running,
                    ))])
                    .await
                    .unwrap();
                for id in 1..=3u64 {
                    let arn = exec(n, ExecutionStatus::Running).arn;
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
        let mut done = exec(7, ExecutionStatus::Succeeded);
        done.output = Some("{\"ok\":true}".into());
        store
            .write(vec![
                WriteOp::PutExecution(done),
                WriteOp::Append {
                    execution_arn: exec(7, ExecutionStatus::Running).arn,
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
            assert_eq!(rec, &exec(n, ExecutionStatus::Running));
        }
    }
    // Appends after a reopen continue each journal where it stopped.
    store
        .write(vec![WriteOp::Append {
            execution_arn: exec(3, ExecutionStatus::Running).arn,
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
            s.write(vec![WriteOp::PutExecution(exec(
                1,
                ExecutionStatus::Running,
            ))])
            .await
        })
    };
    let bad = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(vec![
                WriteOp::PutExecution(exec(2, ExecutionStatus::Running)),
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

/// The store's `meta` table, as the store writes it.
const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");

/// Write `versions` into the file's `meta` table (`None`: remove the entry), as another
/// cordon version would have.
fn set_versions(path: &std::path::Path, versions: &[(&str, Option<u64>)]) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        for (k, v) in versions {
            match v {
                Some(v) => {
                    meta.insert(*k, *v).unwrap();
                }
                None => {
                    meta.remove(*k).unwrap();
                }
            }
        }
    }
    txn.commit().unwrap();
}

fn versions(path: &std::path::Path) -> (Option<u64>, Option<u64>) {
    use redb::ReadableDatabase;
    let db = redb::Database::create(path).unwrap();
    let r = db.begin_read().unwrap();
    let meta = r.open_table(META).unwrap();
    let get = |k: &str| meta.get(k).unwrap().map(|v| v.value());
    (get("format"), get("journal"))
}

/// A store holding one running execution with a short journal.
async fn one_execution(path: &std::path::Path) {
    let store = RedbStore::open(path).unwrap();
    store
        .write(vec![
            WriteOp::PutStateMachine(sm(0)),
            WriteOp::PutExecution(exec(1, ExecutionStatus::Running)),
            WriteOp::Append {
                execution_arn: exec(1, ExecutionStatus::Running).arn,
                entries: vec![event(1), event(2)],
            },
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_store_records_its_format_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.redb");
    one_execution(&path).await;
    assert_eq!(
        versions(&path),
        (
            Some(cordon_store::FORMAT),
            Some(cordon_engine::JOURNAL_FORMAT)
        )
    );
    assert_eq!(
        (cordon_store::FORMAT, cordon_engine::JOURNAL_FORMAT),
        (1, 1)
    );
}

#[tokio::test]
async fn a_store_of_another_format_version_is_refused() {
    for (versions_written, found) in [
        (
            [("format", Some(2)), ("journal", Some(1))],
            "format version 2 with journal format 1",
        ),
        (
            [("format", Some(1)), ("journal", Some(7))],
            "format version 1 with journal format 7",
        ),
        (
            [("format", Some(1)), ("journal", None)],
            "format version 1 with journal format none",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.redb");
        one_execution(&path).await;
        set_versions(&path, &versions_written);
        let before = versions(&path);
        let err = RedbStore::open(&path).err().expect("refused");
        for part in [
            path.display().to_string().as_str(),
            found,
            "this cordon reads format version 1 with journal format 1 only",
            "not loaded, let alone replayed",
            "Finish or stop its executions with the cordon version that wrote it",
            "remove the file",
        ] {
            assert!(err.0.contains(part), "{part:?} not in {err}");
        }
        assert_eq!(versions(&path), before, "the versions are left as they are");
    }
}

#[tokio::test]
async fn a_store_without_versions_is_read_as_format_1_and_stamped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.redb");
    one_execution(&path).await;
    // What files written before versions were recorded look like.
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(META).unwrap());
        txn.commit().unwrap();
    }
    let snap = RedbStore::open(&path).unwrap().load().await.unwrap();
    assert_eq!(snap.executions.len(), 1);
    assert_eq!(snap.executions[0].1, vec![event(1), event(2)]);
    assert_eq!(versions(&path), (Some(1), Some(1)));
}

#[test]
fn a_journal_entry_in_another_encoding_is_named_as_such() {
    let err = JournalEntry::from_stored(&[0xE2, 1, 2, 3]).unwrap_err();
    assert!(err.0.contains("encoding 0xe2"), "{err}");
    assert!(err.0.contains("different engine version"), "{err}");
}
