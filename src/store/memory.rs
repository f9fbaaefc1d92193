//! `memory://`: the in-process index behind a mutex, kept nowhere. For tests and throwaway runs.
//!
//! A `std::sync::Mutex` (not Tokio's): no call awaits while holding it, and each call is a few
//! microseconds of hash-map work. Kept texts live beside the index, under the same lock, and follow
//! the index's changes: a text goes when its article is removed.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, now_micros};
use crate::error::{Error, Result};

use super::local::{Change, LocalIndex};
use super::{Assigned, Expired, Inserted, Lookup, Store, Visitor};

/// `memory://`: the in-process index behind a mutex; nothing survives the process.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
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
                Change::Remove(id) => {
                    state.texts.remove(&id);
                }
                Change::PutText { id, text } => {
                    state.texts.insert(id, text);
                }
                Change::Put(_) | Change::Forward { .. } => {}
            }
        }
        Ok(value)
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
}
