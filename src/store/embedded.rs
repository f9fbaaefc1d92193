//! The default store: the in-process index of [`super::local`], made durable in a redb file.
//!
//! Article records stay in the file: the index in memory holds postings, clusters of two or more,
//! forwards and the time index by slot, rebuilt from the records when the store opens, and reads a
//! record from the file when a call needs it. What a call wrote and the journal has not committed
//! yet is read from an overlay (`DiskRecords`), dropped once it is durable.
//!
//! Writes go to a journal thread that commits them to redb (fsync'd, `Durability::Immediate`) and
//! only then lets the call return, so an acknowledged article survives a crash. The thread takes
//! every change that queued up while the previous commit ran into the next transaction (group
//! commit): under load, one fsync covers many articles.
//!
//! Kept texts (`--keep-text`) are journaled like records and live only in the file: `Explain` reads
//! them from it, and a removal of an article removes its text in the same transaction.
//!
//! Only article records (by slot, with an id → slot table), cluster forwards, moderation verdicts and
//! kept texts are persisted; postings, cluster member lists and the time index that retention reads
//! are derived from the records when the store opens. A merge journals a forward and rewrites no
//! member's record: a record's cluster is resolved through forwards when read. An expired
//! article is journaled as a removal, like a delete, so a restart does not bring it back; redb frees
//! the pages its record used and reuses them for later writes (the file does not shrink, it stops
//! growing once retention removes as much as is ingested). redb locks its file, so a second process
//! opening the same data directory fails with [`Error::Unavailable`] naming the directory.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, Verdict, now_micros};
use crate::error::{Error, Result};
use crate::int_map::IntMap;

use super::feed::{DuplicateEvent, EventCursor, FeedBounds, FeedTrim, LocalFeed};
use super::local::{Change, LocalIndex, Records, Slot};
use super::verify::{Inventory, Problem, Verify};
use super::{Assigned, Expired, Inserted, Lookup, Split, Store, Visitor};

/// Slot → postcard-encoded [`StoredArticle`], its cluster as it was put in (see [`LocalIndex`]).
const RECORDS: TableDefinition<u32, &[u8]> = TableDefinition::new("records");
/// Article id → its slot in [`RECORDS`].
const IDS: TableDefinition<&str, u32> = TableDefinition::new("ids");
/// The file's bookkeeping: `layout` → the layout of its tables.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The layout this version reads and writes: records by slot, ids beside them. A file without a
/// layout has layout 1 ([`ARTICLES`]) and is converted when opened.
const LAYOUT: u64 = 2;
/// Layout 1: article id → postcard-encoded [`StoredArticle`].
const ARTICLES: TableDefinition<&str, &[u8]> = TableDefinition::new("articles");
/// Merged cluster id → the cluster it was merged into.
const FORWARDS: TableDefinition<&str, &str> = TableDefinition::new("forwards");
/// Ids of the articles pinned as their cluster's canonical.
const PINS: TableDefinition<&str, ()> = TableDefinition::new("pins");
/// (cluster, cluster) pairs kept apart, both ways.
const APART: TableDefinition<(&str, &str), ()> = TableDefinition::new("apart");
/// The verdict log: seq → postcard-encoded [`Verdict`].
const VERDICTS: TableDefinition<u64, &[u8]> = TableDefinition::new("verdicts");

/// The duplicate feed: cursor ([`EventCursor::as_u128`]) → [`DuplicateEvent::encode`].
const FEED_EVENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("feed_events");
/// The duplicate feed's bookkeeping: `trimmed` → the largest cursor trimmed away.
const FEED_META: TableDefinition<&str, u128> = TableDefinition::new("feed_meta");
/// Article id → its kept text (`--keep-text`), as the engine encodes it. Read from disk when asked
/// for, never loaded into memory.
const TEXTS: TableDefinition<&str, &[u8]> = TableDefinition::new("texts");

/// redb's page cache: small, since records are read one at a time and the operating system's page
/// cache holds the file anyway (redb's default, 1 GiB, would fill with the records read at open).
const CACHE_BYTES: usize = 16 << 20;

/// The file inside the data directory.
pub const DATA_FILE: &str = "dedupd.redb";

/// Changes of one call, and where to report that they are durable.
struct Batch {
    /// The index's sequence number for the batch ([`Records::seal`]); `None` for the feed's.
    seq: Option<u64>,
    changes: Vec<Change>,
    done: oneshot::Sender<Result<()>>,
}

/// `embedded://`: the in-process index, with every change journalled to a redb file before the
/// call that made it returns.
pub struct EmbeddedStore {
    index: Mutex<LocalIndex>,
    journal: Option<mpsc::Sender<Batch>>,
    writer: Option<JoinHandle<()>>,
    /// Set when a commit failed: memory is then ahead of the disk, so every later call is refused.
    failed: std::sync::Arc<AtomicBool>,
    path: PathBuf,
    /// The duplicate feed, all in memory like the index, journalled to [`FEED_EVENTS`].
    feed: Mutex<LocalFeed>,
    /// The file, for reading kept texts (the journal thread writes to it).
    db: Arc<Database>,
}

fn storage_error(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::Internal(format!("embedded store {}: {error}", path.display()))
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `data_dir`, loading the index into memory. Articles
    /// whose ingest was cut short between its two steps (never acknowledged) are dropped.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with(data_dir, Interrupted::Drop)
    }

    /// Opens the store for `dedupd verify`: articles whose ingest was cut short stay, unassigned, for
    /// the check to report and a repair to remove.
    pub fn open_for_verify(data_dir: &Path) -> Result<Self> {
        Self::open_with(data_dir, Interrupted::Keep)
    }

    fn open_with(data_dir: &Path, interrupted: Interrupted) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::Unavailable(format!("cannot create data directory {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DATA_FILE);
        let db = redb::Builder::new().set_cache_size(CACHE_BYTES).create(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => {
                Error::Unavailable(format!("data directory {} is in use by another dedupd process", data_dir.display()))
            }
            other => storage_error(&path, other),
        })?;
        let db = Arc::new(db);
        let durable = Arc::new(AtomicU64::new(0));
        let index = load(&db, &path, interrupted, &durable)?;
        let feed = load_feed(&db, &path)?;
        let writer_db = db.clone();
        tracing::info!(path = %path.display(), articles = index.len(), feed_events = feed.len(), "embedded store opened");
        let (journal, queue) = mpsc::channel::<Batch>();
        let failed = std::sync::Arc::new(AtomicBool::new(false));
        let writer_failed = failed.clone();
        let writer_path = path.clone();
        let writer = std::thread::Builder::new()
            .name("dedupd-journal".into())
            .spawn(move || write_journal(&writer_db, queue, writer_failed, durable, writer_path))
            .map_err(|e| storage_error(&path, e))?;
        Ok(EmbeddedStore {
            index: Mutex::new(index),
            journal: Some(journal),
            writer: Some(writer),
            failed,
            path,
            feed: Mutex::new(feed),
            db,
        })
    }

    /// Runs `f` on the index, hands the changes it made to the journal, and waits until they are
    /// durable.
    async fn write<T>(&self, f: impl FnOnce(&mut LocalIndex, &mut Vec<Change>) -> T) -> Result<T> {
        let (value, durable) = self.apply(f)?;
        wait(durable, &self.path).await?;
        Ok(value)
    }

    /// Runs `f` on the index and queues the changes it made, without waiting for them to be durable.
    fn apply<T>(
        &self,
        f: impl FnOnce(&mut LocalIndex, &mut Vec<Change>) -> T,
    ) -> Result<(T, oneshot::Receiver<Result<()>>)> {
        {
            let mut index = self.lock()?;
            let mut changes = Vec::new();
            let value = f(&mut index, &mut changes);
            let seq = index.records().seal();
            if let Some(error) = index.records().take_error() {
                // the call may have changed the index on a failed read: memory is not the disk's any more
                self.failed.store(true, Ordering::Release);
                return Err(storage_error(&self.path, error));
            }
            // sent even when empty: what this call read may have been written by a call whose commit
            // is still queued, and the journal answers in order, so waiting on it waits for those too
            let (done, durable) = oneshot::channel();
            // sent while the lock is held, so the journal sees changes in the order they were made
            let journal = self.journal.as_ref().ok_or_else(|| storage_error(&self.path, "journal closed"))?;
            journal
                .send(Batch { seq: Some(seq), changes, done })
                .map_err(|_| storage_error(&self.path, "journal thread stopped"))?;
            Ok((value, durable))
        }
    }

    /// Locks the index, caught up with what the journal has committed.
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, LocalIndex>> {
        if self.failed.load(Ordering::Acquire) {
            return Err(storage_error(&self.path, "a previous write failed; restart dedupd to reload from disk"));
        }
        let mut index = self.index.lock().map_err(|_| storage_error(&self.path, "index lock poisoned"))?;
        index.records().sync();
        Ok(index)
    }

    /// Runs `f` on the index, which writes nothing; fails if a record could not be read.
    fn read<T>(&self, f: impl FnOnce(&LocalIndex) -> T) -> Result<T> {
        let mut index = self.lock()?;
        let value = f(&index);
        match index.records().take_error() {
            Some(error) => Err(storage_error(&self.path, error)),
            None => Ok(value),
        }
    }
}

impl Drop for EmbeddedStore {
    /// Closes the journal and waits for it to commit what is queued and release the file lock, so the
    /// directory can be reopened as soon as the store is dropped.
    fn drop(&mut self) {
        self.journal.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Waits until the journal has made a batch (and every batch before it) durable.
async fn wait(durable: oneshot::Receiver<Result<()>>, path: &Path) -> Result<()> {
    durable.await.map_err(|_| storage_error(path, "journal thread stopped"))?
}

/// What opening does with articles whose ingest was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupted {
    Drop,
    Keep,
}

fn load(db: &Arc<Database>, path: &Path, interrupted: Interrupted, durable: &Arc<AtomicU64>) -> Result<LocalIndex> {
    migrate(db, path)?;
    // create the tables on first open, so the read below finds them
    let txn = db.begin_write().map_err(|e| storage_error(path, e))?;
    txn.open_table(RECORDS).map_err(|e| storage_error(path, e))?;
    txn.open_table(IDS).map_err(|e| storage_error(path, e))?;
    txn.open_table(FORWARDS).map_err(|e| storage_error(path, e))?;
    txn.open_table(PINS).map_err(|e| storage_error(path, e))?;
    txn.open_table(APART).map_err(|e| storage_error(path, e))?;
    txn.open_table(VERDICTS).map_err(|e| storage_error(path, e))?;
    txn.open_table(TEXTS).map_err(|e| storage_error(path, e))?;
    txn.commit().map_err(|e| storage_error(path, e))?;

    let records = DiskRecords::open(db.clone(), durable.clone()).map_err(|e| storage_error(path, e))?;
    let mut index = LocalIndex::with_records(Box::new(records));
    let mut unassigned: Vec<Change> = Vec::new();
    let read = db.begin_read().map_err(|e| storage_error(path, e))?;
    load_verdicts(&read, &mut index).map_err(|e| storage_error(path, e))?;
    // forwards before the records, whose clusters resolve through them
    let forwards = read.open_table(FORWARDS).map_err(|e| storage_error(path, e))?;
    for entry in forwards.iter().map_err(|e| storage_error(path, e))? {
        let (from, into) = entry.map_err(|e| storage_error(path, e))?;
        index.restore_forward(ClusterId(from.value().to_string()), ClusterId(into.value().to_string()));
    }
    let records = read.open_table(RECORDS).map_err(|e| storage_error(path, e))?;
    for entry in records.iter().map_err(|e| storage_error(path, e))? {
        let (slot, bytes) = entry.map_err(|e| storage_error(path, e))?;
        let slot = slot.value();
        let article: StoredArticle = postcard::from_bytes(bytes.value())
            .map_err(|e| storage_error(path, format!("record {slot} is corrupt: {e}")))?;
        if article.cluster_id.is_none() && interrupted == Interrupted::Drop {
            // inserted but never assigned: the ingest was cut short and never acknowledged
            unassigned.push(Change::Remove { slot, id: article.meta.id });
            continue;
        }
        index.restore(slot, &article);
    }
    index.restored();
    drop(read);
    if !unassigned.is_empty() {
        tracing::warn!(count = unassigned.len(), "dropping articles whose ingest was interrupted");
        commit(db, &[unassigned]).map_err(|e| storage_error(path, e))?;
    }
    // the opening is batch 1: read the records as committed now
    durable.store(1, Ordering::Release);
    index.records().sync();
    if let Some(error) = index.records().take_error() {
        return Err(storage_error(path, error));
    }
    Ok(index)
}

/// Converts a file of layout 1 (articles by id) to [`LAYOUT`] in one transaction; sets up a new file.
fn migrate(db: &Database, path: &Path) -> Result<()> {
    let txn = db.begin_write().map_err(|e| storage_error(path, e))?;
    let layout = {
        let meta = txn.open_table(META).map_err(|e| storage_error(path, e))?;
        meta.get("layout").map_err(|e| storage_error(path, e))?.map(|layout| layout.value())
    };
    match layout {
        Some(LAYOUT) => return Ok(()),
        Some(other) => {
            return Err(Error::Unavailable(format!(
                "embedded store {} has layout {other}, which this dedupd does not read (it reads {LAYOUT}): run the dedupd that wrote it",
                path.display()
            )));
        }
        None => {}
    }
    let converted = (|| -> std::result::Result<u32, String> {
        let articles = txn.open_table(ARTICLES).map_err(|e| e.to_string())?;
        let mut records = txn.open_table(RECORDS).map_err(|e| e.to_string())?;
        let mut ids = txn.open_table(IDS).map_err(|e| e.to_string())?;
        let mut slot: u32 = 0;
        for entry in articles.iter().map_err(|e| e.to_string())? {
            let (id, bytes) = entry.map_err(|e| e.to_string())?;
            records.insert(slot, bytes.value()).map_err(|e| e.to_string())?;
            ids.insert(id.value(), slot).map_err(|e| e.to_string())?;
            slot = slot.checked_add(1).ok_or("more than 2^32 articles")?;
        }
        Ok(slot)
    })()
    .map_err(|e| storage_error(path, format!("converting to layout {LAYOUT}: {e}")))?;
    txn.delete_table(ARTICLES).map_err(|e| storage_error(path, e))?;
    txn.open_table(META)
        .and_then(|mut meta| meta.insert("layout", LAYOUT).map(drop).map_err(Into::into))
        .map_err(|e| storage_error(path, e))?;
    txn.commit().map_err(|e| storage_error(path, e))?;
    if converted > 0 {
        tracing::info!(path = %path.display(), articles = converted, layout = LAYOUT, "embedded store converted");
    }
    Ok(())
}

fn commit(db: &Database, batches: &[Vec<Change>]) -> std::result::Result<(), String> {
    // only the last write of each slot and of each id in the transaction matters: an ingest's insert
    // is followed by its assignment, which rewrites the record, often in the same group commit; and
    // of each text: the last keep or removal of its article
    let mut last_write: IntMap<Slot, usize> = IntMap::default();
    let mut last_id: HashMap<&str, usize> = HashMap::new();
    let mut last_text: HashMap<&str, usize> = HashMap::new();
    for (position, change) in batches.iter().flatten().enumerate() {
        match change {
            Change::Put { slot, article } => {
                last_write.insert(*slot, position);
                last_id.insert(article.meta.id.as_str(), position);
            }
            Change::Remove { slot, id } => {
                last_write.insert(*slot, position);
                last_id.insert(id.as_str(), position);
                last_text.insert(id.as_str(), position);
            }
            Change::PutText { id, .. } => {
                last_text.insert(id.as_str(), position);
            }
            // texts and records only; the other kinds are written whole
            _ => {}
        }
    }
    let superseded = |position: usize, slot: Slot| last_write.get(&slot).is_some_and(|&last| last != position);
    let id_superseded = |position: usize, id: &str| last_id.get(id).is_some_and(|&last| last != position);
    let text_superseded = |position: usize, id: &str| last_text.get(id).is_some_and(|&last| last != position);
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut records = txn.open_table(RECORDS).map_err(|e| e.to_string())?;
        let mut ids = txn.open_table(IDS).map_err(|e| e.to_string())?;
        let mut forwards = txn.open_table(FORWARDS).map_err(|e| e.to_string())?;
        let mut verdicts = Verdicts::open(&txn)?;
        let mut texts = txn.open_table(TEXTS).map_err(|e| e.to_string())?;
        for (position, change) in batches.iter().flatten().enumerate() {
            match change {
                Change::Put { slot, article } => {
                    if !superseded(position, *slot) {
                        let bytes = postcard::to_stdvec(article).map_err(|e| e.to_string())?;
                        records.insert(*slot, bytes.as_slice()).map_err(|e| e.to_string())?;
                    }
                    if !id_superseded(position, &article.meta.id) {
                        ids.insert(article.meta.id.as_str(), *slot).map_err(|e| e.to_string())?;
                    }
                }
                Change::Remove { slot, id } => {
                    if !superseded(position, *slot) {
                        records.remove(*slot).map_err(|e| e.to_string())?;
                    }
                    if !id_superseded(position, id) {
                        ids.remove(id.as_str()).map_err(|e| e.to_string())?;
                    }
                    if !text_superseded(position, id) {
                        texts.remove(id.as_str()).map_err(|e| e.to_string())?;
                    }
                }
                Change::PutText { id, .. } if text_superseded(position, id) => {}
                Change::PutText { id, text } => {
                    texts.insert(id.as_str(), text.as_slice()).map_err(|e| e.to_string())?;
                }
                Change::Forward { from, into } => {
                    forwards.insert(from.as_str(), into.as_str()).map_err(|e| e.to_string())?;
                }
                Change::FeedEvent { .. } | Change::FeedTrim(_) => {}
                other => verdicts.write(other)?,
            }
        }
    }
    commit_feed(&txn, batches)?;
    txn.commit().map_err(|e| e.to_string())
}

/// The journal thread: commits queued batches, as many per transaction as have queued up.
fn write_journal(
    db: &Database,
    queue: mpsc::Receiver<Batch>,
    failed: std::sync::Arc<AtomicBool>,
    durable: Arc<AtomicU64>,
    path: PathBuf,
) {
    while let Ok(first) = queue.recv() {
        let mut waiting = vec![first];
        waiting.extend(queue.try_iter());
        let changes: Vec<Vec<Change>> = waiting.iter_mut().map(|batch| std::mem::take(&mut batch.changes)).collect();
        let outcome = if failed.load(Ordering::Acquire) {
            // never commit past a failed batch: later changes may depend on it
            Err("an earlier commit failed".to_string())
        } else if changes.iter().all(Vec::is_empty) {
            // only waits for earlier batches, which are committed by now
            Ok(())
        } else {
            commit(db, &changes)
        };
        match &outcome {
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "embedded store commit failed");
                failed.store(true, Ordering::Release);
            }
            Ok(()) => {
                if let Some(seq) = waiting.iter().filter_map(|batch| batch.seq).max() {
                    durable.fetch_max(seq, Ordering::Release);
                }
            }
        }
        metrics::histogram!("dedupd_embedded_commit_batch").record(waiting.len() as f64);
        for batch in waiting {
            let _ = batch.done.send(outcome.clone().map_err(|e| storage_error(&path, e)));
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
        self.read(|index| index.get(id))
    }

    /// Does not wait for the insert to be durable: the journal commits in order and stops at the first
    /// failure, so the [`Store::assign`] that follows (and acknowledges the article) returns only once
    /// the insert is durable too. An insert never assigned is dropped when the store reopens.
    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        let (inserted, durable) = self.apply(|index, changes| index.insert_and_lookup(article, limit, changes))?;
        if matches!(inserted, Inserted::Unchanged { .. }) {
            // answered from what is stored: make sure it is durable before anyone acknowledges it
            wait(durable, &self.path).await?;
        }
        Ok(inserted)
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        self.read(|index| index.lookup(keys, limit))
    }

    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        let links: Vec<&str> = links.iter().map(|link| link.meta.id.as_str()).collect();
        self.write(|index, changes| index.assign(&article.meta.id, &links, now_micros(), changes)).await?
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        self.read(|index| index.cluster(cluster_id))
    }

    async fn delete(&self, id: &str) -> Result<Deleted> {
        self.write(|index, changes| index.delete(id, changes)).await
    }

    /// The removals are committed (one transaction for the whole batch) before this returns.
    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        self.write(|index, changes| index.expire(cutoff, limit, changes)).await
    }

    async fn visit_recent(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        self.read(|index| index.visit_recent(limit, visit))
    }

    /// Queued like an insert, without waiting: the assign that follows waits for it.
    async fn put_text(&self, id: &str, content_hash: u64, text: &[u8]) -> Result<bool> {
        let (kept, _durable) = self.apply(|index, changes| index.put_text(id, content_hash, text, changes))?;
        Ok(kept)
    }

    /// Read from the file on the blocking pool (texts are not held in memory), once the journal has
    /// committed every change queued before the call, so that a text kept a moment ago is there.
    async fn text(&self, id: &str) -> Result<Option<Vec<u8>>> {
        self.write(|_, _| ()).await?;
        let (db, id, path) = (self.db.clone(), id.to_string(), self.path.clone());
        let read = move || -> std::result::Result<Option<Vec<u8>>, String> {
            let txn = db.begin_read().map_err(|e| e.to_string())?;
            let texts = txn.open_table(TEXTS).map_err(|e| e.to_string())?;
            Ok(texts.get(id.as_str()).map_err(|e| e.to_string())?.map(|text| text.value().to_vec()))
        };
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|e| storage_error(&path, format!("text read failed: {e}")))?
            .map_err(|e| storage_error(&path, e))
    }

    // ---------------------------------------------------------------------------------------------
    // moderation verdicts

    async fn split(&self, from: &ClusterId, moving: &[&StoredArticle], into: &ClusterId) -> Result<Split> {
        let moving: Vec<&str> = moving.iter().map(|article| article.meta.id.as_str()).collect();
        self.write(|index, changes| index.split(from, &moving, into, changes)).await?
    }

    async fn kept_apart(&self, clusters: &[ClusterId]) -> Result<Vec<(ClusterId, ClusterId)>> {
        self.read(|index| index.kept_apart(clusters))
    }

    async fn join(&self, a: &ClusterId, b: &ClusterId) -> Result<Assigned> {
        self.write(|index, changes| index.join(a, b, changes)).await?
    }

    async fn pin(&self, article: &StoredArticle) -> Result<Option<Assigned>> {
        self.write(|index, changes| index.pin(article, changes)).await
    }

    async fn record_verdict(&self, verdict: Verdict) -> Result<Verdict> {
        self.write(|index, changes| index.record_verdict(verdict, changes)).await
    }

    async fn verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>> {
        self.read(|index| index.verdicts(before, limit))
    }

    // the duplicate feed

    /// The event is in memory (and visible) at once, in cursor order, and journalled; this returns
    /// once it is durable.
    async fn append_duplicate(&self, event: &DuplicateEvent, trim: &FeedTrim) -> Result<Option<EventCursor>> {
        let bytes = event.encode()?;
        let now_ms = now_micros().div_euclid(1000).max(0) as u64;
        let (cursor, durable) = {
            let mut feed = self.lock_feed()?;
            let appended = feed.append(event, trim, now_ms)?;
            let Some(cursor) = appended.cursor else { return Ok(None) };
            let mut changes = vec![Change::FeedEvent { key: cursor.as_u128(), bytes }];
            changes.extend(appended.trimmed_through.map(Change::FeedTrim));
            let (done, durable) = oneshot::channel();
            // sent while the feed's lock is held, so the journal writes events in cursor order
            let journal = self.journal.as_ref().ok_or_else(|| storage_error(&self.path, "journal closed"))?;
            journal
                .send(Batch { seq: None, changes, done })
                .map_err(|_| storage_error(&self.path, "journal thread stopped"))?;
            (cursor, durable)
        };
        wait(durable, &self.path).await?;
        Ok(Some(cursor))
    }

    async fn duplicates_before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.lock_feed()?.before(before, limit)
    }

    async fn duplicates_after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.lock_feed()?.after(after, limit)
    }

    async fn feed_bounds(&self) -> Result<FeedBounds> {
        Ok(self.lock_feed()?.bounds())
    }
}

// -------------------------------------------------------------------------------------------------
// moderation verdicts

/// Loads pins, apartness and the verdict log (pins before the articles, which are ranked with them).
fn load_verdicts(read: &redb::ReadTransaction, index: &mut LocalIndex) -> std::result::Result<(), String> {
    let pins = read.open_table(PINS).map_err(|e| e.to_string())?;
    for entry in pins.iter().map_err(|e| e.to_string())? {
        let (id, _) = entry.map_err(|e| e.to_string())?;
        index.restore_pin(id.value().to_string());
    }
    let apart = read.open_table(APART).map_err(|e| e.to_string())?;
    for entry in apart.iter().map_err(|e| e.to_string())? {
        let (pair, _) = entry.map_err(|e| e.to_string())?;
        let (a, b) = pair.value();
        index.restore_apart(ClusterId(a.to_string()), ClusterId(b.to_string()));
    }
    let verdicts = read.open_table(VERDICTS).map_err(|e| e.to_string())?;
    for entry in verdicts.iter().map_err(|e| e.to_string())? {
        let (seq, bytes) = entry.map_err(|e| e.to_string())?;
        let verdict: Verdict =
            postcard::from_bytes(bytes.value()).map_err(|e| format!("verdict {} is corrupt: {e}", seq.value()))?;
        index.restore_verdict(verdict);
    }
    Ok(())
}

/// The verdict tables of one write transaction.
struct Verdicts<'t> {
    pins: redb::Table<'t, &'static str, ()>,
    apart: redb::Table<'t, (&'static str, &'static str), ()>,
    log: redb::Table<'t, u64, &'static [u8]>,
}

impl<'t> Verdicts<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> std::result::Result<Self, String> {
        Ok(Verdicts {
            pins: txn.open_table(PINS).map_err(|e| e.to_string())?,
            apart: txn.open_table(APART).map_err(|e| e.to_string())?,
            log: txn.open_table(VERDICTS).map_err(|e| e.to_string())?,
        })
    }

    /// Writes a change of the verdict kinds (the others are written by `commit` itself).
    fn write(&mut self, change: &Change) -> std::result::Result<(), String> {
        match change {
            Change::Pin(id) => self.pins.insert(id.as_str(), ()).map(drop),
            Change::Unpin(id) => self.pins.remove(id.as_str()).map(drop),
            Change::Apart(a, b) => self.apart.insert((a.as_str(), b.as_str()), ()).map(drop),
            Change::Unapart(a, b) => self.apart.remove((a.as_str(), b.as_str())).map(drop),
            Change::Verdict(verdict) => {
                let bytes = postcard::to_stdvec(verdict).map_err(|e| e.to_string())?;
                self.log.insert(verdict.seq, bytes.as_slice()).map(drop)
            }
            Change::Put { .. }
            | Change::Remove { .. }
            | Change::Forward { .. }
            | Change::FeedEvent { .. }
            | Change::FeedTrim(_)
            | Change::PutText { .. } => Ok(()),
        }
        .map_err(|e| e.to_string())
    }
}

/// Reads the index as loaded; one process holds the store at a time, so nothing is in flight.
#[async_trait]
impl Verify for EmbeddedStore {
    async fn inventory(&self) -> Result<Inventory> {
        let mut inventory = self.read(LocalIndex::inventory)?;
        inventory.name = format!("embedded store {}", self.path.display());
        inventory.exclusive = true;
        Ok(inventory)
    }

    /// Journals the repair, like any write, before it returns.
    async fn repair(&self, problem: &Problem) -> Result<bool> {
        self.write(|index, changes| index.repair(problem, changes)).await
    }
}

// the duplicate feed

impl EmbeddedStore {
    fn lock_feed(&self) -> Result<std::sync::MutexGuard<'_, LocalFeed>> {
        if self.failed.load(Ordering::Acquire) {
            return Err(storage_error(&self.path, "a previous write failed; restart dedupd to reload from disk"));
        }
        self.feed.lock().map_err(|_| storage_error(&self.path, "feed lock poisoned"))
    }
}

/// Reads the duplicate feed back into memory (creating its tables on first open).
fn load_feed(db: &Database, path: &Path) -> Result<LocalFeed> {
    let txn = db.begin_write().map_err(|e| storage_error(path, e))?;
    txn.open_table(FEED_EVENTS).map_err(|e| storage_error(path, e))?;
    txn.open_table(FEED_META).map_err(|e| storage_error(path, e))?;
    txn.commit().map_err(|e| storage_error(path, e))?;

    let mut feed = LocalFeed::default();
    let now_ms = now_micros().div_euclid(1000).max(0) as u64;
    let read = db.begin_read().map_err(|e| storage_error(path, e))?;
    let meta = read.open_table(FEED_META).map_err(|e| storage_error(path, e))?;
    if let Some(trimmed) = meta.get("trimmed").map_err(|e| storage_error(path, e))? {
        feed.restore_trimmed(EventCursor::from_u128(trimmed.value()));
    }
    let events = read.open_table(FEED_EVENTS).map_err(|e| storage_error(path, e))?;
    for entry in events.iter().map_err(|e| storage_error(path, e))? {
        let (key, bytes) = entry.map_err(|e| storage_error(path, e))?;
        feed.restore(EventCursor::from_u128(key.value()), bytes.value(), now_ms)?;
    }
    Ok(feed)
}

/// Writes the feed's changes of a group commit into its transaction.
fn commit_feed(txn: &redb::WriteTransaction, batches: &[Vec<Change>]) -> std::result::Result<(), String> {
    let mut changes = batches.iter().flatten().filter(|c| matches!(c, Change::FeedEvent { .. } | Change::FeedTrim(_)));
    let Some(first) = changes.next() else { return Ok(()) };
    let mut events = txn.open_table(FEED_EVENTS).map_err(|e| e.to_string())?;
    let mut meta = txn.open_table(FEED_META).map_err(|e| e.to_string())?;
    for change in std::iter::once(first).chain(changes) {
        match change {
            Change::FeedEvent { key, bytes } => {
                events.insert(*key, bytes.as_slice()).map_err(|e| e.to_string())?;
            }
            Change::FeedTrim(through) => {
                let through = through.as_u128();
                events.retain_in(..=through, |_, _| false).map_err(|e| e.to_string())?;
                meta.insert("trimmed", through).map_err(|e| e.to_string())?;
            }
            _ => {}
        }
    }
    Ok(())
}

// -------------------------------------------------------------------------------------------------
// records

/// The records as of one committed transaction.
struct View {
    /// The journal batch it includes (and every batch before).
    seq: u64,
    records: redb::ReadOnlyTable<u32, &'static [u8]>,
    ids: redb::ReadOnlyTable<&'static str, u32>,
}

impl View {
    fn open(db: &Database, seq: u64) -> std::result::Result<View, String> {
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        let records = txn.open_table(RECORDS).map_err(|e| e.to_string())?;
        let ids = txn.open_table(IDS).map_err(|e| e.to_string())?;
        Ok(View { seq, records, ids })
    }
}

/// What an overlay entry is keyed by, in [`DiskRecords::pending`].
enum Pending {
    Slot(Slot),
    Id(String),
}

/// The embedded store's [`Records`]: read from the file, through an overlay of what calls wrote
/// and the journal has not committed yet. Each entry carries the sequence number of the journal
/// batch that writes it and is dropped once the journal reports that batch durable, when the view
/// of the file moves on to a transaction that has it.
struct DiskRecords {
    db: Arc<Database>,
    /// The last batch the journal has committed.
    durable: Arc<AtomicU64>,
    view: View,
    records: IntMap<Slot, (u64, Option<StoredArticle>)>,
    ids: HashMap<String, (u64, Option<Slot>)>,
    /// Overlay entries in the order they were written, to drop them once durable.
    pending: VecDeque<(u64, Pending)>,
    /// The last batch sealed; what is written now goes in the next.
    seq: u64,
    /// The first read that failed since the last [`Records::take_error`].
    error: RefCell<Option<String>>,
}

impl DiskRecords {
    fn open(db: Arc<Database>, durable: Arc<AtomicU64>) -> std::result::Result<Self, String> {
        let view = View::open(&db, 0)?;
        Ok(DiskRecords {
            db,
            durable,
            view,
            records: IntMap::default(),
            ids: HashMap::new(),
            pending: VecDeque::new(),
            // batch 1 is the opening, see `load`
            seq: 1,
            error: RefCell::new(None),
        })
    }

    fn fail(&self, error: impl std::fmt::Display) {
        self.error.borrow_mut().get_or_insert_with(|| error.to_string());
    }
}

impl Records for DiskRecords {
    fn get(&self, slot: Slot) -> Option<Cow<'_, StoredArticle>> {
        if let Some((_, record)) = self.records.get(&slot) {
            return record.as_ref().map(Cow::Borrowed);
        }
        match self.view.records.get(slot) {
            Ok(Some(bytes)) => match postcard::from_bytes(bytes.value()) {
                Ok(article) => Some(Cow::Owned(article)),
                Err(e) => {
                    self.fail(format!("record {slot} is corrupt: {e}"));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn slot_of(&self, id: &str) -> Option<Slot> {
        if let Some(&(_, slot)) = self.ids.get(id) {
            return slot;
        }
        match self.view.ids.get(id) {
            Ok(slot) => slot.map(|slot| slot.value()),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn put(&mut self, slot: Slot, article: StoredArticle) {
        let seq = self.seq + 1;
        self.ids.insert(article.meta.id.clone(), (seq, Some(slot)));
        self.pending.push_back((seq, Pending::Id(article.meta.id.clone())));
        self.records.insert(slot, (seq, Some(article)));
        self.pending.push_back((seq, Pending::Slot(slot)));
    }

    fn remove(&mut self, slot: Slot, id: &str) {
        let seq = self.seq + 1;
        self.records.insert(slot, (seq, None));
        self.pending.push_back((seq, Pending::Slot(slot)));
        self.ids.insert(id.to_string(), (seq, None));
        self.pending.push_back((seq, Pending::Id(id.to_string())));
    }

    fn sync(&mut self) {
        // read before the view is opened: the journal stores it after the commit
        let durable = self.durable.load(Ordering::Acquire);
        if durable <= self.view.seq {
            return;
        }
        match View::open(&self.db, durable) {
            Ok(view) => self.view = view,
            Err(e) => return self.fail(e),
        }
        while let Some((seq, _)) = self.pending.front()
            && *seq <= durable
        {
            let Some((seq, key)) = self.pending.pop_front() else { break };
            match key {
                Pending::Slot(slot) => {
                    if self.records.get(&slot).is_some_and(|entry| entry.0 == seq) {
                        self.records.remove(&slot);
                    }
                }
                Pending::Id(id) => {
                    if self.ids.get(&id).is_some_and(|entry| entry.0 == seq) {
                        self.ids.remove(&id);
                    }
                }
            }
        }
    }

    fn seal(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn take_error(&mut self) -> Option<String> {
        self.error.get_mut().take()
    }
}
