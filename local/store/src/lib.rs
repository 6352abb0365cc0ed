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
//! - `journal_log`: append counter → execution sequence number (8 bytes, little endian)
//!   followed by the [`JournalEntry`]: every append goes to the end of one B-tree, so a commit
//!   touches few pages however many executions it covers (one row per entry: measured faster
//!   than one row per execution per commit, whose values outgrow redb's leaf pages)
//! - `journal`: (sequence number, entry index) → [`JournalEntry`], the layout of earlier
//!   files; still read (before `journal_log`), no longer written
//! - `meta`: `format` → [`FORMAT`] (this layout), `journal` → [`JOURNAL_FORMAT`] (the
//!   engine's journal entries)
//!
//! Versions: [`RedbStore::open`] refuses a file whose `format` or `journal` version is not
//! this build's, before writing any data to it, so a journal is never replayed by an engine
//! that reads it differently. A file without versions was written before they were recorded:
//! its tables and values are byte for byte what format 1 / journal format 1 write (and read),
//! so it is accepted as version 1 and stamped so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use async_trait::async_trait;
use cordon_engine::{
    ExecutionRecord, JOURNAL_FORMAT, JournalEntry, Snapshot, StateMachineRecord, Store, StoreError,
    WriteOp,
};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use tokio::sync::oneshot;

const STATE_MACHINES: TableDefinition<&str, &[u8]> = TableDefinition::new("state_machines");
const EXECUTIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("executions");
const EXECUTION_INDEX: TableDefinition<&str, u64> = TableDefinition::new("execution_index");
const JOURNAL: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("journal");
const JOURNAL_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("journal_log");
const DEFINITIONS: TableDefinition<u64, &str> = TableDefinition::new("definitions");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The version of this file layout (tables, keys, record encodings). Bump it whenever they
/// change; [`RedbStore::open`] refuses files of another version.
pub const FORMAT: u64 = 1;

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// The page cache redb may keep (its default is 1 GiB). Writes are append-mostly and reads
/// happen only at load, so a small cache costs little and keeps memory flat.
const CACHE_BYTES: usize = 4 << 20;

/// A batch of [`WriteOp`]s with their values already encoded into one buffer: encoding
/// happens on the caller's thread (one allocation per batch, not per value) so that the single
/// writer thread only inserts and commits.
struct Batch {
    buf: Vec<u8>,
    rows: Vec<Row>,
}

type At = std::ops::Range<usize>;

enum Row {
    PutStateMachine {
        arn: String,
        at: At,
    },
    DeleteStateMachine {
        arn: String,
    },
    /// `at`: `D`, 8 bytes for the definition id (filled in by the writer), the record's JSON
    /// without its definition text.
    PutExecution {
        arn: String,
        at: At,
        definition: Arc<str>,
    },
    /// Each value: 8 bytes for the execution's sequence number (filled in by the writer), then
    /// the entry's JSON.
    Append {
        arn: String,
        at: Vec<At>,
    },
}

fn encode(ops: Vec<WriteOp>) -> Batch {
    // Sized up front: a batch can be megabytes, and regrowing it copies all of it.
    let size: usize = ops
        .iter()
        .map(|op| match op {
            WriteOp::Append { entries, .. } => entries
                .iter()
                .map(|e| 8 + e.encoded().map_or(256, <[u8]>::len))
                .sum(),
            WriteOp::PutExecution(r) => {
                512 + r.input.len() + r.output.as_ref().map_or(0, String::len) * 9 / 8
            }
            _ => 512,
        })
        .sum();
    let mut buf = Vec::with_capacity(size);
    let put = |buf: &mut Vec<u8>, head: &[u8], v: &dyn erased::Ser| -> At {
        let start = buf.len();
        buf.extend_from_slice(head);
        v.ser(buf);
        start..buf.len()
    };
    let rows = ops
        .into_iter()
        .map(|op| match op {
            WriteOp::PutStateMachine(r) => Row::PutStateMachine {
                at: put(&mut buf, b"", &r),
                arn: r.arn,
            },
            WriteOp::DeleteStateMachine { arn } => Row::DeleteStateMachine { arn },
            WriteOp::PutExecution(mut r) => {
                let definition = std::mem::take(&mut r.definition);
                Row::PutExecution {
                    at: put(&mut buf, b"D\0\0\0\0\0\0\0\0", &r),
                    arn: r.arn,
                    definition,
                }
            }
            WriteOp::Append {
                execution_arn,
                entries,
            } => Row::Append {
                arn: execution_arn,
                at: entries
                    .iter()
                    .map(|e| match e.encoded() {
                        Some(bytes) => {
                            let start = buf.len();
                            buf.extend_from_slice(&[0; 8]);
                            buf.extend_from_slice(bytes);
                            start..buf.len()
                        }
                        None => put(&mut buf, &[0; 8], e),
                    })
                    .collect(),
            },
        })
        .collect();
    Batch { buf, rows }
}

mod erased {
    pub trait Ser {
        fn ser(&self, buf: &mut Vec<u8>);
    }
    impl<T: serde::Serialize> Ser for T {
        fn ser(&self, buf: &mut Vec<u8>) {
            serde_json::to_writer(buf, self).expect("store records serialise");
        }
    }
}

/// A durable [`Store`] in one redb file.
pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
    writer: Option<std_mpsc::Sender<(Batch, Reply)>>,
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

fn se(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{context}: {e}"))
}

impl RedbStore {
    /// Open (or create) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| se(&format!("cannot open store {}", path.display()), e))?;
        // Create the tables so that readers never see them missing.
        let txn = db.begin_write().map_err(|e| se("begin", e))?;
        if let Err(e) = check_versions(&txn, &path) {
            txn.abort().map_err(|e| se("abort", e))?;
            return Err(e);
        }
        {
            txn.open_table(STATE_MACHINES)
                .map_err(|e| se("open table", e))?;
            txn.open_table(EXECUTIONS)
                .map_err(|e| se("open table", e))?;
            txn.open_table(EXECUTION_INDEX)
                .map_err(|e| se("open table", e))?;
            txn.open_table(JOURNAL).map_err(|e| se("open table", e))?;
            txn.open_table(JOURNAL_LOG)
                .map_err(|e| se("open table", e))?;
            txn.open_table(DEFINITIONS)
                .map_err(|e| se("open table", e))?;
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

    fn send(
        &self,
        ops: Vec<WriteOp>,
    ) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let rows = encode(ops);
        let (tx, rx) = oneshot::channel();
        self.writer
            .as_ref()
            .ok_or_else(|| StoreError("the store is closed".into()))?
            .send((rows, tx))
            .map_err(|_| StoreError("the store writer thread has stopped".into()))?;
        Ok(rx)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Refuse a file of another format or journal format; stamp one without versions (new, or
/// written before versions were recorded: the same layout as format 1) with this build's.
fn check_versions(txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META).map_err(|e| se("open table", e))?;
    let get = |k: &str| -> Result<Option<u64>, StoreError> {
        Ok(meta
            .get(k)
            .map_err(|e| se("read meta", e))?
            .map(|v| v.value()))
    };
    match (get("format")?, get("journal")?) {
        (None, None) => {
            meta.insert("format", FORMAT).map_err(|e| se("insert", e))?;
            meta.insert("journal", JOURNAL_FORMAT)
                .map_err(|e| se("insert", e))?;
            Ok(())
        }
        (Some(FORMAT), Some(JOURNAL_FORMAT)) => Ok(()),
        (f, j) => {
            let v = |x: Option<u64>| x.map_or_else(|| "none".to_string(), |x| x.to_string());
            Err(StoreError(format!(
                "store {} has format version {} with journal format {}, but this cordon reads format version {FORMAT} with journal format {JOURNAL_FORMAT} only: its executions are not loaded, let alone replayed, and the file is left as it is. Finish or stop its executions with the cordon version that wrote it, or remove the file to start afresh (its state machines, executions and their history are then lost).",
                path.display(),
                v(f),
                v(j),
            )))
        }
    }
}

/// Rebuild the arn → sequence number index and the next journal log key from the file.
fn index(db: &Database) -> Result<Slots, StoreError> {
    let r = db.begin_read().map_err(|e| se("begin read", e))?;
    let idx = r
        .open_table(EXECUTION_INDEX)
        .map_err(|e| se("open table", e))?;
    let log = r.open_table(JOURNAL_LOG).map_err(|e| se("open table", e))?;
    let mut slots = HashMap::new();
    for row in idx.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        slots.insert(k.value().to_string(), v.value());
    }
    let next_log = match log.last().map_err(|e| se("scan", e))? {
        Some((k, _)) => k.value() + 1,
        None => 0,
    };
    let mut defs = HashMap::new();
    let dt = r.open_table(DEFINITIONS).map_err(|e| se("open table", e))?;
    for row in dt.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        defs.insert(Arc::from(v.value()), k.value());
    }
    Ok(Slots {
        next_seq: slots.values().map(|s| s + 1).max().unwrap_or(0),
        seqs: slots,
        next_log,
        next_def: defs.values().map(|d| d + 1).max().unwrap_or(0),
        defs,
        added_seqs: Vec::new(),
        added_defs: Vec::new(),
    })
}

/// Where the writer is: arn → sequence number, the next sequence number and log key.
struct Slots {
    seqs: HashMap<String, u64>,
    next_seq: u64,
    /// Definition text → id in `definitions` (executions refer to their definition by id).
    defs: HashMap<Arc<str>, u64>,
    next_def: u64,
    next_log: u64,
    /// Keys added by the transaction being built (removed again if it does not commit).
    added_seqs: Vec<String>,
    added_defs: Vec<Arc<str>>,
}

impl Slots {
    /// Run `f` on these slots; if it fails, undo what it added (the transaction is gone).
    fn transaction(
        &mut self,
        f: impl FnOnce(&mut Slots) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let (seq, log, def) = (self.next_seq, self.next_log, self.next_def);
        self.added_seqs.clear();
        self.added_defs.clear();
        let r = f(self);
        if r.is_err() {
            for k in std::mem::take(&mut self.added_seqs) {
                self.seqs.remove(&k);
            }
            for k in std::mem::take(&mut self.added_defs) {
                self.defs.remove(&k);
            }
            (self.next_seq, self.next_log, self.next_def) = (seq, log, def);
        }
        r
    }
}

fn writer_thread(db: Arc<Database>, mut slots: Slots, rx: std_mpsc::Receiver<(Batch, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        let ops_count: usize = group.iter().map(|(b, _)| b.rows.len()).sum();
        let started = std::time::Instant::now();
        // Optimistic: everything in one transaction.
        let all = commit(&db, &mut slots, group.iter_mut().map(|(ops, _)| ops));
        match all {
            Ok(()) => {
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
                for (mut ops, reply) in group {
                    let r = commit(&db, &mut slots, std::iter::once(&mut ops));
                    if let Err(e) = &r {
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
    slots: &mut Slots,
    batches: impl Iterator<Item = &'a mut Batch>,
) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(|e| se("begin write", e))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| se("durability", e))?;
    slots.transaction(|slots| {
        apply(&txn, slots, batches)?;
        txn.commit().map_err(|e| se("commit", e))
    })
}

fn apply<'a>(
    txn: &WriteTransaction,
    slots: &mut Slots,
    batches: impl Iterator<Item = &'a mut Batch>,
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
    let mut journal = txn
        .open_table(JOURNAL_LOG)
        .map_err(|e| se("open table", e))?;
    let mut defs = txn
        .open_table(DEFINITIONS)
        .map_err(|e| se("open table", e))?;
    for batch in batches {
        let buf = &mut batch.buf;
        for op in &batch.rows {
            match op {
                Row::PutStateMachine { arn, at } => {
                    sms.insert(arn.as_str(), &buf[at.clone()])
                        .map_err(|e| se("insert", e))?;
                }
                Row::DeleteStateMachine { arn } => {
                    sms.remove(arn.as_str()).map_err(|e| se("remove", e))?;
                }
                Row::PutExecution {
                    arn,
                    at,
                    definition,
                } => {
                    let seq = match slots.seqs.get(arn) {
                        Some(&s) => s,
                        None => {
                            let seq = slots.next_seq;
                            slots.next_seq += 1;
                            slots.seqs.insert(arn.clone(), seq);
                            slots.added_seqs.push(arn.clone());
                            idx.insert(arn.as_str(), seq).map_err(|e| se("insert", e))?;
                            seq
                        }
                    };
                    let def = match slots.defs.get(definition) {
                        Some(&d) => d,
                        None => {
                            let d = slots.next_def;
                            slots.next_def += 1;
                            defs.insert(d, &**definition).map_err(|e| se("insert", e))?;
                            slots.defs.insert(definition.clone(), d);
                            slots.added_defs.push(definition.clone());
                            d
                        }
                    };
                    buf[at.start + 1..at.start + 9].copy_from_slice(&def.to_le_bytes());
                    execs
                        .insert(seq, &buf[at.clone()])
                        .map_err(|e| se("insert", e))?;
                }
                Row::Append { arn, at } => {
                    let seq = *slots
                        .seqs
                        .get(arn)
                        .ok_or_else(|| StoreError(format!("append to unknown execution {arn}")))?;
                    for at in at {
                        buf[at.start..at.start + 8].copy_from_slice(&seq.to_le_bytes());
                        journal
                            .insert(slots.next_log, &buf[at.clone()])
                            .map_err(|e| se("insert", e))?;
                        slots.next_log += 1;
                    }
                }
            }
        }
    }
    Ok(())
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
    let mut definitions: HashMap<u64, Arc<str>> = HashMap::new();
    let dt = r.open_table(DEFINITIONS).map_err(|e| se("open table", e))?;
    for row in dt.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        definitions.insert(k.value(), Arc::from(v.value()));
    }
    let mut pos: HashMap<u64, usize> = HashMap::new();
    for row in execs.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        let v = v.value();
        let corrupt =
            |e: &dyn std::fmt::Display| se(&format!("corrupt execution #{}", k.value()), e);
        // `D` + definition id + JSON without the definition, or (earlier files) JSON.
        let rec: ExecutionRecord = match v.split_first() {
            Some((b'D', rest)) if rest.len() >= 8 => {
                let id = u64::from_le_bytes(rest[..8].try_into().unwrap());
                let mut rec: ExecutionRecord =
                    serde_json::from_slice(&rest[8..]).map_err(|e| corrupt(&e))?;
                rec.definition = definitions
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| corrupt(&format!("definition {id} missing")))?;
                rec
            }
            _ => serde_json::from_slice(v).map_err(|e| corrupt(&e))?,
        };
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
    drop(journal);
    // Appended in commit order: each execution's entries come in order.
    let log = r.open_table(JOURNAL_LOG).map_err(|e| se("open table", e))?;
    for row in log.iter().map_err(|e| se("scan", e))? {
        let (k, v) = row.map_err(|e| se("scan", e))?;
        let v = v.value();
        let corrupt =
            |e: &dyn std::fmt::Display| se(&format!("corrupt journal entry #{}", k.value()), e);
        let (seq, body) = v.split_at_checked(8).ok_or_else(|| corrupt(&"short"))?;
        let seq = u64::from_le_bytes(seq.try_into().unwrap());
        let entry = JournalEntry::from_stored(body).map_err(|e| corrupt(&e))?;
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
        let rx = self.send(ops)?;
        rx.await
            .map_err(|_| StoreError("the store writer thread dropped a write".into()))?
    }

    /// Encodes `ops` here and queues them for the writer thread, which commits queued batches
    /// in order (group commit) while the caller prepares the next one.
    fn submit(
        &self,
        ops: Vec<WriteOp>,
    ) -> Result<oneshot::Receiver<Result<(), StoreError>>, Vec<WriteOp>> {
        match self.send(ops) {
            Ok(rx) => Ok(rx),
            Err(e) => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Err(e));
                Ok(rx)
            }
        }
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
