//! cordon-store: the engine's [`Store`] on [redb](https://docs.rs/redb), an embedded,
//! crash-safe key-value store in one file.
//!
//! Durability: [`Store::write`] returns only after the transaction holding its operations has
//! been committed with `Durability::Immediate` (fsync'd). Throughput: writes are group
//! committed — a dedicated writer thread takes every batch that arrived while the previous
//! commit was running and applies them all in one transaction, so N concurrent writers pay one
//! fsync, not N. Each batch stays atomic: if a batch is invalid (an append to an unknown
//! execution) the combined transaction is abandoned and the batches are retried one by one, so
//! only the bad batch fails.
//!
//! Layout (all values JSON):
//! - `state_machines`: arn → [`StateMachineRecord`]
//! - `executions`: start sequence number → [`ExecutionRecord`] (so `load` returns start order)
//! - `execution_index`: arn → start sequence number
//! - `journal`: (sequence number, entry index) → [`JournalEntry`]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use async_trait::async_trait;
use cordon_engine::{
    ExecutionRecord, JournalEntry, Snapshot, StateMachineRecord, Store, StoreError, WriteOp,
};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use tokio::sync::oneshot;

const STATE_MACHINES: TableDefinition<&str, &[u8]> = TableDefinition::new("state_machines");
const EXECUTIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("executions");
const EXECUTION_INDEX: TableDefinition<&str, u64> = TableDefinition::new("execution_index");
const JOURNAL: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("journal");

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// A durable [`Store`] in one redb file.
pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
    writer: Option<std_mpsc::Sender<(Vec<WriteOp>, Reply)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RedbStore {
    /// Stop the writer thread so the file is closed (and can be reopened) when this returns.
    fn drop(&mut self) {
        self.writer.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where each execution's rows are: its sequence number and the next journal index.
#[derive(Clone, Copy)]
struct Slot {
    seq: u64,
    next: u32,
}

fn se(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{context}: {e}"))
}

impl RedbStore {
    /// Open (or create) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = Database::create(&path)
            .map_err(|e| se(&format!("cannot open store {}", path.display()), e))?;
        // Create the tables so that readers never see them missing.
        let txn = db.begin_write().map_err(|e| se("begin", e))?;
        {
            txn.open_table(STATE_MACHINES)
                .map_err(|e| se("open table", e))?;
            txn.open_table(EXECUTIONS)
                .map_err(|e| se("open table", e))?;
            txn.open_table(EXECUTION_INDEX)
                .map_err(|e| se("open table", e))?;
            txn.open_table(JOURNAL).map_err(|e| se("open table", e))?;
        }
        txn.commit().map_err(|e| se("commit", e))?;
        let db = Arc::new(db);
        let slots = index(&db)?;
        let (writer, rx) = std_mpsc::channel();
        let wdb = db.clone();
        let thread = std::thread::Builder::new()
            .name("cordon-store-writer".into())
            .spawn(move || writer_thread(wdb, slots, rx))
            .map_err(|e| se("cannot start the store writer thread", e))?;
        tracing::info!(path = %path.display(), "store opened");
        Ok(RedbStore {
            db,
            path,
            writer: Some(writer),
            thread: Some(thread),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Rebuild the arn → slot index from the file.
fn index(db: &Database) -> Result<HashMap<String, Slot>, StoreError> {
    let r = db.begin_read().map_err(|e| se("begin read", e))?;
    let idx = r
        .open_table(EXECUTION_INDEX)
        .map_err(|e| se("open table", e))?;
    let journal = r.open_table(JOURNAL).map_err(|e| se("open table", e))?;
    let mut by_seq: HashMap<u64, String> = HashMap::new();
    for row in idx.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        by_seq.insert(v.value(), k.value().to_string());
    }
    let mut next: HashMap<u64, u32> = HashMap::new();
    for row in journal.iter().map_err(|e| se("scan", e))? {
        let (k, _) = row.map_err(|e| se("scan", e))?;
        let (seq, i) = k.value();
        let n = next.entry(seq).or_default();
        *n = (*n).max(i + 1);
    }
    Ok(by_seq
        .into_iter()
        .map(|(seq, arn)| {
            (
                arn,
                Slot {
                    seq,
                    next: next.get(&seq).copied().unwrap_or(0),
                },
            )
        })
        .collect())
}

fn writer_thread(
    db: Arc<Database>,
    mut slots: HashMap<String, Slot>,
    rx: std_mpsc::Receiver<(Vec<WriteOp>, Reply)>,
) {
    let mut next_seq = slots.values().map(|s| s.seq + 1).max().unwrap_or(0);
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        let ops_count: usize = group.iter().map(|(ops, _)| ops.len()).sum();
        let started = std::time::Instant::now();
        // Optimistic: everything in one transaction.
        let mut trial_slots = slots.clone();
        let mut trial_seq = next_seq;
        let all = commit(
            &db,
            &mut trial_slots,
            &mut trial_seq,
            group.iter().map(|(ops, _)| ops),
        );
        match all {
            Ok(()) => {
                slots = trial_slots;
                next_seq = trial_seq;
                tracing::trace!(
                    batches = group.len(),
                    ops = ops_count,
                    commit_us = started.elapsed().as_micros() as u64,
                    "group committed"
                );
                for (_, reply) in group {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) if group.len() == 1 => {
                tracing::warn!(error = %e, "store write failed");
                let (_, reply) = group.pop().unwrap();
                let _ = reply.send(Err(e));
            }
            Err(_) => {
                // Isolate the failing batch: one transaction per batch.
                for (ops, reply) in group {
                    let mut s = slots.clone();
                    let mut q = next_seq;
                    let r = commit(&db, &mut s, &mut q, std::iter::once(&ops));
                    if r.is_ok() {
                        slots = s;
                        next_seq = q;
                    } else if let Err(e) = &r {
                        tracing::warn!(error = %e, "store write failed");
                    }
                    let _ = reply.send(r);
                }
            }
        }
    }
    tracing::debug!("store writer stopped");
}

fn commit<'a>(
    db: &Database,
    slots: &mut HashMap<String, Slot>,
    next_seq: &mut u64,
    batches: impl Iterator<Item = &'a Vec<WriteOp>>,
) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(|e| se("begin write", e))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| se("durability", e))?;
    apply(&txn, slots, next_seq, batches)?;
    txn.commit().map_err(|e| se("commit", e))
}

fn apply<'a>(
    txn: &WriteTransaction,
    slots: &mut HashMap<String, Slot>,
    next_seq: &mut u64,
    batches: impl Iterator<Item = &'a Vec<WriteOp>>,
) -> Result<(), StoreError> {
    let mut sms = txn
        .open_table(STATE_MACHINES)
        .map_err(|e| se("open table", e))?;
    let mut execs = txn
        .open_table(EXECUTIONS)
        .map_err(|e| se("open table", e))?;
    let mut idx = txn
        .open_table(EXECUTION_INDEX)
        .map_err(|e| se("open table", e))?;
    let mut journal = txn.open_table(JOURNAL).map_err(|e| se("open table", e))?;
    for ops in batches {
        for op in ops {
            match op {
                WriteOp::PutStateMachine(r) => {
                    sms.insert(r.arn.as_str(), json(r).as_slice())
                        .map_err(|e| se("insert", e))?;
                }
                WriteOp::DeleteStateMachine { arn } => {
                    sms.remove(arn.as_str()).map_err(|e| se("remove", e))?;
                }
                WriteOp::PutExecution(r) => {
                    let seq = match slots.get(&r.arn) {
                        Some(s) => s.seq,
                        None => {
                            let seq = *next_seq;
                            *next_seq += 1;
                            slots.insert(r.arn.clone(), Slot { seq, next: 0 });
                            idx.insert(r.arn.as_str(), seq)
                                .map_err(|e| se("insert", e))?;
                            seq
                        }
                    };
                    execs
                        .insert(seq, json(r).as_slice())
                        .map_err(|e| se("insert", e))?;
                }
                WriteOp::Append {
                    execution_arn,
                    entries,
                } => {
                    let slot = slots.get_mut(execution_arn).ok_or_else(|| {
                        StoreError(format!("append to unknown execution {execution_arn}"))
                    })?;
                    for entry in entries {
                        journal
                            .insert((slot.seq, slot.next), json(entry).as_slice())
                            .map_err(|e| se("insert", e))?;
                        slot.next += 1;
                    }
                }
            }
        }
    }
    Ok(())
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("store records serialise")
}

fn load_blocking(db: &Database) -> Result<Snapshot, StoreError> {
    let r = db.begin_read().map_err(|e| se("begin read", e))?;
    let sms = r
        .open_table(STATE_MACHINES)
        .map_err(|e| se("open table", e))?;
    let execs = r.open_table(EXECUTIONS).map_err(|e| se("open table", e))?;
    let journal = r.open_table(JOURNAL).map_err(|e| se("open table", e))?;
    let mut snapshot = Snapshot::default();
    for row in sms.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        let rec: StateMachineRecord = serde_json::from_slice(v.value())
            .map_err(|e| se(&format!("corrupt state machine {}", k.value()), e))?;
        snapshot.state_machines.push(rec);
    }
    snapshot.state_machines.sort_by_key(|s| s.creation_date_ms);
    let mut pos: HashMap<u64, usize> = HashMap::new();
    for row in execs.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        let rec: ExecutionRecord = serde_json::from_slice(v.value())
            .map_err(|e| se(&format!("corrupt execution #{}", k.value()), e))?;
        pos.insert(k.value(), snapshot.executions.len());
        snapshot.executions.push((rec, Vec::new()));
    }
    // Keys are (seq, index): one ordered scan yields every journal in order.
    for row in journal.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        let (seq, i) = k.value();
        let entry: JournalEntry = serde_json::from_slice(v.value())
            .map_err(|e| se(&format!("corrupt journal entry #{seq}/{i}"), e))?;
        if let Some(&p) = pos.get(&seq) {
            snapshot.executions[p].1.push(entry);
        }
    }
    Ok(snapshot)
}

#[async_trait]
impl Store for RedbStore {
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.writer
            .as_ref()
            .ok_or_else(|| StoreError("the store is closed".into()))?
            .send((ops, tx))
            .map_err(|_| StoreError("the store writer thread has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError("the store writer thread dropped a write".into()))?
    }

    async fn load(&self) -> Result<Snapshot, StoreError> {
        let db = self.db.clone();
        let started = std::time::Instant::now();
        let snapshot = tokio::task::spawn_blocking(move || load_blocking(&db))
            .await
            .map_err(|e| se("load task", e))??;
        tracing::info!(
            path = %self.path.display(),
            state_machines = snapshot.state_machines.len(),
            executions = snapshot.executions.len(),
            load_ms = started.elapsed().as_millis() as u64,
            "store loaded"
        );
        Ok(snapshot)
    }
}
