//! `memory://`: the in-process index behind a mutex, kept nowhere. For tests and throwaway runs.
//!
//! A `std::sync::Mutex` (not Tokio's): no call awaits while holding it, and each call is a few
//! microseconds of hash-map work.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, now_micros};
use crate::error::{Error, Result};

use super::feed::{DuplicateEvent, EventCursor, FeedBounds, FeedTrim, LocalFeed};
use super::local::LocalIndex;
use super::{Assigned, Expired, Inserted, Lookup, Store, Visitor};

/// `memory://`: the in-process index behind a mutex; nothing survives the process.
#[derive(Default)]
pub struct MemoryStore {
    index: Mutex<LocalIndex>,
    /// The duplicate feed, apart from the index: appends do not wait for ingests.
    feed: Mutex<LocalFeed>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut LocalIndex) -> T) -> Result<T> {
        let mut index = self.index.lock().map_err(|_| Error::Internal("memory store lock poisoned".into()))?;
        Ok(f(&mut index))
    }

    fn with_feed<T>(&self, f: impl FnOnce(&mut LocalFeed) -> T) -> Result<T> {
        let mut feed = self.feed.lock().map_err(|_| Error::Internal("memory store feed lock poisoned".into()))?;
        Ok(f(&mut feed))
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
        self.with(|index| index.get(id))
    }

    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        self.with(|index| index.insert_and_lookup(article, limit, &mut Vec::new()))
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        self.with(|index| index.lookup(keys, limit))
    }

    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        let links: Vec<&str> = links.iter().map(|link| link.meta.id.as_str()).collect();
        self.with(|index| index.assign(&article.meta.id, &links, now_micros(), &mut Vec::new()))?
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        self.with(|index| index.cluster(cluster_id))
    }

    async fn delete(&self, id: &str) -> Result<Deleted> {
        self.with(|index| index.delete(id, &mut Vec::new()))
    }

    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        self.with(|index| index.expire(cutoff, limit, &mut Vec::new()))
    }

    async fn visit_recent(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        self.with(|index| index.visit_recent(limit, visit))
    }

    // the duplicate feed

    async fn append_duplicate(&self, event: &DuplicateEvent, trim: &FeedTrim) -> Result<Option<EventCursor>> {
        let now_ms = now_micros().div_euclid(1000).max(0) as u64;
        self.with_feed(|feed| feed.append(event, trim, now_ms).cursor)
    }

    async fn duplicates_before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.with_feed(|feed| feed.before(before, limit))
    }

    async fn duplicates_after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.with_feed(|feed| feed.after(after, limit))
    }

    async fn feed_bounds(&self) -> Result<FeedBounds> {
        self.with_feed(|feed| feed.bounds())
    }
}
