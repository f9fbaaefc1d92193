//! `memory://`: the in-process index behind a mutex, kept nowhere. For tests and throwaway runs.
//!
//! A `std::sync::Mutex` (not Tokio's): no call awaits while holding it, and each call is a few
//! microseconds of hash-map work. Kept texts live beside the index, under the same lock, and follow
//! the index's changes: a text goes when its article is removed.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, Verdict, now_micros};
use crate::error::{Error, Result};

use super::feed::{DuplicateEvent, EventCursor, FeedBounds, FeedTrim, LocalFeed};
use super::local::{Change, LocalIndex};
use super::verify::{Inventory, Problem, Verify};
use super::{Assigned, Expired, Inserted, Lookup, Split, Store, Visitor};

/// `memory://`: the in-process index behind a mutex; nothing survives the process.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// The duplicate feed, apart from the index: appends do not wait for ingests.
    feed: Mutex<LocalFeed>,
}

/// The index and the texts kept for its articles.
#[derive(Default)]
struct State {
    index: LocalIndex,
    texts: HashMap<String, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` on the index, then applies the changes it made to the kept texts.
    fn with<T>(&self, f: impl FnOnce(&mut LocalIndex, &mut Vec<Change>) -> T) -> Result<T> {
        let mut state = self.state.lock().map_err(|_| Error::Internal("memory store lock poisoned".into()))?;
        let mut changes = Vec::new();
        let value = f(&mut state.index, &mut changes);
        for change in changes {
            match change {
                Change::Remove { id, .. } => {
                    state.texts.remove(&id);
                }
                Change::PutText { id, text } => {
                    state.texts.insert(id, text);
                }
                // the index's own changes, and what only the embedded store's journal writes
                _ => {}
            }
        }
        Ok(value)
    }

    fn with_feed<T>(&self, f: impl FnOnce(&mut LocalFeed) -> Result<T>) -> Result<T> {
        let mut feed = self.feed.lock().map_err(|_| Error::Internal("memory store feed lock poisoned".into()))?;
        f(&mut feed)
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
        self.with(|index, _| index.get(id))
    }

    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        self.with(|index, changes| index.insert_and_lookup(article, limit, changes))
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        self.with(|index, _| index.lookup(keys, limit))
    }

    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        let links: Vec<&str> = links.iter().map(|link| link.meta.id.as_str()).collect();
        self.with(|index, changes| index.assign(&article.meta.id, &links, now_micros(), changes))?
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        self.with(|index, _| index.cluster(cluster_id))
    }

    async fn delete(&self, id: &str) -> Result<Deleted> {
        self.with(|index, changes| index.delete(id, changes))
    }

    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        self.with(|index, changes| index.expire(cutoff, limit, changes))
    }

    async fn visit_recent(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        self.with(|index, _| index.visit_recent(limit, visit))
    }

    async fn put_text(&self, id: &str, content_hash: u64, text: &[u8]) -> Result<bool> {
        self.with(|index, changes| index.put_text(id, content_hash, text, changes))
    }

    async fn text(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let state = self.state.lock().map_err(|_| Error::Internal("memory store lock poisoned".into()))?;
        Ok(state.texts.get(id).cloned())
    }

    // ---------------------------------------------------------------------------------------------
    // moderation verdicts

    async fn split(&self, from: &ClusterId, moving: &[&StoredArticle], into: &ClusterId) -> Result<Split> {
        let moving: Vec<&str> = moving.iter().map(|article| article.meta.id.as_str()).collect();
        self.with(|index, changes| index.split(from, &moving, into, changes))?
    }

    async fn kept_apart(&self, clusters: &[ClusterId]) -> Result<Vec<(ClusterId, ClusterId)>> {
        self.with(|index, _| index.kept_apart(clusters))
    }

    async fn join(&self, a: &ClusterId, b: &ClusterId) -> Result<Assigned> {
        self.with(|index, changes| index.join(a, b, changes))?
    }

    async fn pin(&self, article: &StoredArticle) -> Result<Option<Assigned>> {
        self.with(|index, changes| index.pin(article, changes))
    }

    async fn record_verdict(&self, verdict: Verdict) -> Result<Verdict> {
        self.with(|index, changes| index.record_verdict(verdict, changes))
    }

    async fn verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>> {
        self.with(|index, _| index.verdicts(before, limit))
    }

    // the duplicate feed

    async fn append_duplicate(&self, event: &DuplicateEvent, trim: &FeedTrim) -> Result<Option<EventCursor>> {
        let now_ms = now_micros().div_euclid(1000).max(0) as u64;
        self.with_feed(|feed| Ok(feed.append(event, trim, now_ms)?.cursor))
    }

    async fn duplicates_before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.with_feed(|feed| feed.before(before, limit))
    }

    async fn duplicates_after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.with_feed(|feed| feed.after(after, limit))
    }

    async fn feed_bounds(&self) -> Result<FeedBounds> {
        self.with_feed(|feed| Ok(feed.bounds()))
    }
}

#[async_trait]
impl Verify for MemoryStore {
    async fn inventory(&self) -> Result<Inventory> {
        let mut inventory = self.with(|index, _| index.inventory())?;
        inventory.name = "memory store".to_string();
        Ok(inventory)
    }

    async fn repair(&self, problem: &Problem) -> Result<bool> {
        self.with(|index, changes| index.repair(problem, changes))
    }
}
