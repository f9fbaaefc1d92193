//! The in-process index shared by the memory and embedded stores.
//!
//! One synchronous state machine implements the [`super::Store`] contract; the memory store wraps it in
//! a mutex, the embedded store additionally persists the [`Change`]s each call produces. Keeping both on
//! one implementation means the embedded store is exactly as correct as the memory store the
//! conformance suite checks, and its reads never touch the disk.
//!
//! Articles live in a slab and postings hold slab slots (`u32`), not id strings: 4 bytes per posting.
//!
//! Retention ([`super::Store::expire`]) reads an ordered time index of `(published, slot)`, kept exact
//! on every place and delete (~16 bytes and a share of a B-tree node per article), so an expiry pops
//! the oldest entries and never scans.

use std::collections::{BTreeSet, HashMap};

use crate::domain::{Assignment, ClusterId, ClusterView, Deleted, Micros, SourceTier, StoredArticle};
use crate::error::{Error, Result};
use crate::int_map::IntMap;

use super::{Assigned, Candidate, ClusterHead, Expired, Inserted, Lookup, MIN_SHARED_KEYS, POSTINGS_READ_PER_KEY};

/// A durable effect of a call, for the embedded store's journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Write (or overwrite) this article record.
    Put(Box<StoredArticle>),
    /// Remove the article with this id.
    Remove(String),
    /// A cluster was merged into another, and keeps forwarding to it.
    Forward {
        /// The cluster merged away.
        from: ClusterId,
        /// The survivor.
        into: ClusterId,
    },
    /// Keep this text for the article with this id (until a `Remove` of it).
    PutText {
        /// The article.
        id: String,
        /// Its kept text.
        text: Vec<u8>,
    },
}

type Slot = u32;

/// The slots posted under one band key. Most keys are posted by one article only, so a single slot
/// is kept inline rather than in a vector of its own (an allocation per key per article).
#[derive(Debug)]
enum Posting {
    One(Slot),
    Many(Vec<Slot>),
}

impl Posting {
    fn push(&mut self, slot: Slot) {
        match self {
            Posting::One(first) => *self = Posting::Many(vec![*first, slot]),
            Posting::Many(slots) => slots.push(slot),
        }
    }

    fn as_slice(&self) -> &[Slot] {
        match self {
            Posting::One(slot) => std::slice::from_ref(slot),
            Posting::Many(slots) => slots,
        }
    }

    /// Removes `slot`; returns whether the posting is now empty.
    fn remove(&mut self, slot: Slot) -> bool {
        match self {
            Posting::One(only) => *only == slot,
            Posting::Many(slots) => {
                slots.retain(|&s| s != slot);
                slots.is_empty()
            }
        }
    }
}

/// A cluster member in canonical order: (tier, published, ingested, id).
type Rank = (SourceTier, Micros, Micros, String);

/// The in-process index: articles in a slab, band-key postings, clusters, forwards and the time
/// index, implementing the [`super::Store`] contract synchronously.
#[derive(Default)]
pub struct LocalIndex {
    slots: Vec<Option<StoredArticle>>,
    free: Vec<Slot>,
    by_id: HashMap<String, Slot>,
    postings: IntMap<u64, Posting>,
    clusters: HashMap<ClusterId, BTreeSet<Rank>>,
    forwards: HashMap<ClusterId, ClusterId>,
    /// Every stored article by effective publication time, oldest first: what expiry pops.
    by_time: BTreeSet<(Micros, Slot)>,
}

fn rank(article: &StoredArticle) -> Rank {
    (article.tier, article.published_us, article.ingested_us, article.meta.id.clone())
}

impl LocalIndex {
    /// Articles stored.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no article is stored.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn article(&self, slot: Slot) -> Option<&StoredArticle> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// The article with this id ([`super::Store::get`]).
    pub fn get(&self, id: &str) -> Option<StoredArticle> {
        self.by_id.get(id).and_then(|&slot| self.article(slot)).cloned()
    }

    fn canonical_id(&self, cluster_id: &ClusterId) -> Option<String> {
        self.clusters.get(cluster_id)?.first().map(|(_, _, _, id)| id.clone())
    }

    fn resolve(&self, cluster_id: &ClusterId) -> ClusterId {
        let mut current = cluster_id.clone();
        // forwards always point to an older id, so this terminates
        while let Some(next) = self.forwards.get(&current) {
            current = next.clone();
        }
        current
    }

    /// Restores a record read back from disk (startup of the embedded store).
    pub fn restore(&mut self, article: StoredArticle) {
        let keys = article.band_keys.clone();
        self.place(article, &keys);
    }

    /// Restores a cluster forward read back from disk.
    pub fn restore_forward(&mut self, from: ClusterId, into: ClusterId) {
        self.forwards.insert(from, into);
    }

    fn place(&mut self, article: StoredArticle, keys: &[u64]) -> Slot {
        let slot = if let Some(slot) = self.free.pop() {
            slot
        } else {
            self.slots.push(None);
            (self.slots.len() - 1) as Slot
        };
        for &key in keys {
            match self.postings.get_mut(&key) {
                Some(posting) => posting.push(slot),
                None => {
                    self.postings.insert(key, Posting::One(slot));
                }
            }
        }
        if let Some(cluster_id) = &article.cluster_id {
            self.clusters.entry(cluster_id.clone()).or_default().insert(rank(&article));
        }
        self.by_id.insert(article.meta.id.clone(), slot);
        self.by_time.insert((article.published_us, slot));
        self.slots[slot as usize] = Some(article);
        slot
    }

    /// [`super::Store::insert_and_lookup`], recording what to persist in `changes`.
    pub fn insert_and_lookup(&mut self, article: StoredArticle, limit: usize, changes: &mut Vec<Change>) -> Inserted {
        debug_assert!(article.cluster_id.is_none(), "new articles are inserted unassigned");
        if let Some(existing) = self.get(&article.meta.id) {
            if existing.content_hash == article.content_hash {
                let canonical_id = existing
                    .cluster_id
                    .as_ref()
                    .and_then(|c| self.canonical_id(c))
                    .unwrap_or_else(|| existing.meta.id.clone());
                return Inserted::Unchanged { article: Box::new(existing), canonical_id };
            }
            self.delete(&article.meta.id, changes);
        }
        let id = article.meta.id.clone();
        let keys = article.band_keys.clone();
        changes.push(Change::Put(Box::new(article.clone())));
        self.place(article, &keys);
        Inserted::New(self.lookup_excluding(&keys, limit, Some(&id)))
    }

    /// [`super::Store::lookup`].
    pub fn lookup(&self, keys: &[u64], limit: usize) -> Lookup {
        self.lookup_excluding(keys, limit, None)
    }

    fn lookup_excluding(&self, keys: &[u64], limit: usize, exclude: Option<&str>) -> Lookup {
        let mut counts: IntMap<Slot, u32> = IntMap::default();
        for key in keys {
            let slots = self.postings.get(key).map(Posting::as_slice).unwrap_or_default();
            // postings are in the order they were posted: the oldest first
            for &slot in &slots[..slots.len().min(POSTINGS_READ_PER_KEY)] {
                *counts.entry(slot).or_default() += 1;
            }
        }
        // rank slots first and copy only the records that make the cut
        let mut ranked: Vec<(u32, &str, Slot)> = counts
            .into_iter()
            .filter(|&(_, shared_keys)| shared_keys >= MIN_SHARED_KEYS)
            .filter_map(|(slot, shared_keys)| {
                let id = self.article(slot)?.meta.id.as_str();
                (Some(id) != exclude).then_some((shared_keys, id, slot))
            })
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        ranked.truncate(limit);
        let found: Vec<Candidate> = ranked
            .into_iter()
            .filter_map(|(shared_keys, _, slot)| Some(Candidate { article: self.article(slot)?.clone(), shared_keys }))
            .collect();
        let mut clusters: Vec<ClusterHead> = Vec::new();
        for candidate in &found {
            let Some(cluster_id) = &candidate.article.cluster_id else {
                continue;
            };
            if clusters.iter().any(|head| &head.cluster_id == cluster_id) {
                continue;
            }
            let canonical = self.canonical_id(cluster_id).and_then(|id| self.get(&id));
            if let Some(canonical) = canonical {
                clusters.push(ClusterHead { cluster_id: cluster_id.clone(), canonical });
            }
        }
        Lookup { candidates: found, clusters }
    }

    /// [`super::Store::assign`] at time `now`, recording what to persist in `changes`.
    pub fn assign(&mut self, id: &str, links: &[&str], now: Micros, changes: &mut Vec<Change>) -> Result<Assigned> {
        let Some(article) = self.get(id) else {
            return Err(Error::NotFound { what: "article", id: id.to_string() });
        };
        // links that no longer exist are ignored
        let linked: Vec<StoredArticle> = links.iter().filter_map(|link| self.get(link)).collect();
        let assignment = Assignment::new(&article, &linked, |cluster_id| {
            self.canonical_id(cluster_id)
                .and_then(|canonical| self.by_id.get(&canonical))
                .and_then(|&s| self.article(s))
        });
        let survivor = assignment.cluster_id.unwrap_or_else(|| ClusterId::new(now, id));
        for absorbed in &assignment.absorbed {
            self.merge(absorbed, &survivor, changes);
        }
        for member in &assignment.joining {
            self.set_cluster(member, &survivor, changes);
        }
        debug_assert_eq!(self.canonical_id(&survivor).as_ref(), Some(&assignment.canonical_id));
        Ok(Assigned { cluster_id: survivor, canonical_id: assignment.canonical_id })
    }

    fn set_cluster(&mut self, id: &str, cluster_id: &ClusterId, changes: &mut Vec<Change>) {
        let Some(&slot) = self.by_id.get(id) else { return };
        let Some(article) = self.slots[slot as usize].as_mut() else {
            return;
        };
        if let Some(old) = article.cluster_id.replace(cluster_id.clone())
            && let Some(members) = self.clusters.get_mut(&old)
        {
            members.remove(&rank(article));
        }
        self.clusters.entry(cluster_id.clone()).or_default().insert(rank(article));
        changes.push(Change::Put(Box::new(article.clone())));
    }

    fn merge(&mut self, absorbed: &ClusterId, survivor: &ClusterId, changes: &mut Vec<Change>) {
        debug_assert!(absorbed > survivor, "the older (smaller) cluster id survives");
        let members = self.clusters.remove(absorbed).unwrap_or_default();
        for (_, _, _, member) in members {
            self.set_cluster(&member, survivor, changes);
        }
        self.forwards.insert(absorbed.clone(), survivor.clone());
        changes.push(Change::Forward { from: absorbed.clone(), into: survivor.clone() });
    }

    /// [`super::Store::cluster`].
    pub fn cluster(&self, cluster_id: &ClusterId) -> Option<ClusterView> {
        let cluster_id = self.resolve(cluster_id);
        let members: Vec<StoredArticle> =
            self.clusters.get(&cluster_id)?.iter().filter_map(|(_, _, _, id)| self.get(id)).collect();
        if members.is_empty() {
            return None;
        }
        Some(ClusterView { cluster_id, members })
    }

    /// [`super::Store::delete`], recording what to persist in `changes`.
    pub fn delete(&mut self, id: &str, changes: &mut Vec<Change>) -> Deleted {
        let Some(slot) = self.by_id.remove(id) else {
            return Deleted::default();
        };
        let Some(article) = self.slots[slot as usize].take() else {
            return Deleted::default();
        };
        self.free.push(slot);
        self.by_time.remove(&(article.published_us, slot));
        for key in &article.band_keys {
            if self.postings.get_mut(key).is_some_and(|posting| posting.remove(slot)) {
                self.postings.remove(key);
            }
        }
        changes.push(Change::Remove(id.to_string()));
        let Some(cluster_id) = article.cluster_id.clone() else {
            return Deleted { deleted: true, canonical_id: None };
        };
        let Some(members) = self.clusters.get_mut(&cluster_id) else {
            return Deleted { deleted: true, canonical_id: None };
        };
        members.remove(&rank(&article));
        if members.is_empty() {
            self.clusters.remove(&cluster_id);
        }
        Deleted { deleted: true, canonical_id: self.canonical_id(&cluster_id) }
    }

    /// See [`super::Store::visit_recent`].
    pub fn visit_recent(&self, limit: usize, visit: &mut super::Visitor<'_>) {
        let skip = self.by_time.len().saturating_sub(limit);
        for &(_, slot) in self.by_time.iter().skip(skip) {
            if let Some(article) = self.article(slot) {
                visit(article);
            }
        }
    }

    /// Removes up to `limit` articles published before `cutoff`, oldest first, each as
    /// [`LocalIndex::delete`] does (so the embedded store journals them as removals).
    pub fn expire(&mut self, cutoff: Micros, limit: usize, changes: &mut Vec<Change>) -> Expired {
        let mut removed = 0;
        while removed < limit {
            let Some(&(published, slot)) = self.by_time.first() else { break };
            if published >= cutoff {
                break;
            }
            match self.article(slot).map(|article| article.meta.id.clone()) {
                Some(id) => {
                    self.delete(&id, changes);
                    removed += 1;
                }
                // cannot happen (delete keeps both in step), but must not loop forever if it did
                None => {
                    self.by_time.remove(&(published, slot));
                }
            }
        }
        let more = self.by_time.first().is_some_and(|&(published, _)| published < cutoff);
        Expired { removed, more }
    }

    // ---------------------------------------------------------------------------------------------
    // kept text

    /// [`super::Store::put_text`]: whether version `content_hash` of `id` is stored, and if so the
    /// text recorded in `changes` (the stores keep texts themselves, and drop one on the `Remove` of
    /// its article).
    pub fn put_text(&self, id: &str, content_hash: u64, text: &[u8], changes: &mut Vec<Change>) -> bool {
        let stored =
            self.by_id.get(id).and_then(|&slot| self.article(slot)).is_some_and(|a| a.content_hash == content_hash);
        if stored {
            changes.push(Change::PutText { id: id.to_string(), text: text.to_vec() });
        }
        stored
    }
}
