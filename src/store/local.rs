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

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::domain::{Assignment, ClusterId, ClusterView, Deleted, Micros, SourceTier, StoredArticle, Verdict};
use crate::error::{Error, Result};
use crate::int_map::IntMap;

use super::verify::{Inventory, Member, Posted, Problem, Record};
use super::{
    Assigned, Candidate, ClusterHead, Expired, Inserted, Lookup, MIN_SHARED_KEYS, POSTINGS_READ_PER_KEY, Split,
};

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
    /// The article with this id was pinned as its cluster's canonical.
    Pin(String),
    /// The article with this id is no longer pinned.
    Unpin(String),
    /// Two clusters are kept apart (recorded under the first).
    Apart(ClusterId, ClusterId),
    /// Two clusters are no longer kept apart (removed under the first).
    Unapart(ClusterId, ClusterId),
    /// A verdict was appended to the log.
    Verdict(Box<Verdict>),
    // the duplicate feed (the embedded store's journal only; the index never makes these)
    /// Write an event of the duplicate feed.
    FeedEvent {
        /// Its cursor ([`super::feed::EventCursor::as_u128`]).
        key: u128,
        /// [`super::feed::DuplicateEvent::encode`].
        bytes: Vec<u8>,
    },
    /// Remove the feed's events up to and including this cursor, and remember it as trimmed.
    FeedTrim(super::feed::EventCursor),
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

/// A cluster member in canonical order: (not pinned, tier, published, ingested, id), so that a pinned
/// member comes first.
type Rank = (bool, SourceTier, Micros, Micros, String);

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
    /// Ids of the articles pinned as their cluster's canonical.
    pinned: HashSet<String>,
    /// Clusters kept apart, both ways; ids as recorded (resolve them through forwards).
    apart: HashMap<ClusterId, BTreeSet<ClusterId>>,
    /// The verdict log, oldest first: `verdicts[i].seq == i + 1`.
    verdicts: Vec<Verdict>,
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
        self.clusters.get(cluster_id)?.first().map(|(_, _, _, _, id)| id.clone())
    }

    /// The article's place in its cluster's canonical order.
    fn rank(&self, article: &StoredArticle) -> Rank {
        let pinned = self.pinned.contains(&article.meta.id);
        (!pinned, article.tier, article.published_us, article.ingested_us, article.meta.id.clone())
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
            let rank = self.rank(&article);
            self.clusters.entry(cluster_id.clone()).or_default().insert(rank);
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
        // the assignment's canonical, unless a pinned member leads
        let canonical_id = self.canonical_id(&survivor).unwrap_or(assignment.canonical_id);
        Ok(Assigned { cluster_id: survivor, canonical_id })
    }

    fn set_cluster(&mut self, id: &str, cluster_id: &ClusterId, changes: &mut Vec<Change>) {
        let Some(&slot) = self.by_id.get(id) else { return };
        let pinned = self.pinned.contains(id);
        let Some(article) = self.slots[slot as usize].as_mut() else {
            return;
        };
        let rank = (!pinned, article.tier, article.published_us, article.ingested_us, article.meta.id.clone());
        if let Some(old) = article.cluster_id.replace(cluster_id.clone())
            && let Some(members) = self.clusters.get_mut(&old)
        {
            members.remove(&rank);
        }
        self.clusters.entry(cluster_id.clone()).or_default().insert(rank);
        changes.push(Change::Put(Box::new(article.clone())));
    }

    fn merge(&mut self, absorbed: &ClusterId, survivor: &ClusterId, changes: &mut Vec<Change>) {
        debug_assert!(absorbed > survivor, "the older (smaller) cluster id survives");
        let members = self.clusters.remove(absorbed).unwrap_or_default();
        for (_, _, _, _, member) in members {
            self.set_cluster(&member, survivor, changes);
        }
        self.forwards.insert(absorbed.clone(), survivor.clone());
        changes.push(Change::Forward { from: absorbed.clone(), into: survivor.clone() });
        // the survivor is kept apart from whatever the absorbed cluster was
        let partners: Vec<ClusterId> =
            self.apart.get(absorbed).map(|p| p.iter().cloned().collect()).unwrap_or_default();
        for partner in partners {
            self.keep_apart(survivor, &partner, changes);
        }
    }

    /// [`super::Store::cluster`].
    pub fn cluster(&self, cluster_id: &ClusterId) -> Option<ClusterView> {
        let cluster_id = self.resolve(cluster_id);
        let members: Vec<StoredArticle> =
            self.clusters.get(&cluster_id)?.iter().filter_map(|(_, _, _, _, id)| self.get(id)).collect();
        if members.is_empty() {
            return None;
        }
        Some(ClusterView { cluster_id, members })
    }

    /// [`super::Store::delete`], recording what to persist in `changes`.
    pub fn delete(&mut self, id: &str, changes: &mut Vec<Change>) -> Deleted {
        let Some(&slot) = self.by_id.get(id) else {
            return Deleted::default();
        };
        let Some(rank) = self.article(slot).map(|article| self.rank(article)) else {
            return Deleted::default();
        };
        self.by_id.remove(id);
        let Some(article) = self.slots[slot as usize].take() else {
            return Deleted::default();
        };
        if self.pinned.remove(id) {
            changes.push(Change::Unpin(id.to_string()));
        }
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
        members.remove(&rank);
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

impl LocalIndex {
    /// Everything the index holds, for [`super::verify`]: records, postings by slot (a slot that
    /// holds no article shows as an id no record has), member lists in canonical order, forwards.
    pub fn inventory(&self) -> Inventory {
        let mut inventory = Inventory::default();
        for (id, &slot) in &self.by_id {
            match self.article(slot) {
                Some(article) => {
                    inventory.records.insert(id.clone(), Record { article: article.clone(), number: None });
                }
                None => inventory.problems.push(Problem::Unreadable {
                    key: id.clone(),
                    detail: format!("indexed at slot {slot}, which holds no article"),
                }),
            }
        }
        for (&band, posting) in &self.postings {
            for &slot in posting.as_slice() {
                let id = self.article(slot).map_or_else(|| format!("(empty slot {slot})"), |a| a.meta.id.clone());
                inventory.postings.push((band, Posted::Id(id)));
            }
        }
        for (cluster, members) in &self.clusters {
            let members = members
                .iter()
                .map(|(not_pinned, tier, published, ingested, id)| Member {
                    id: id.clone(),
                    rank: Some((*tier, *published, *ingested)),
                    pinned: !not_pinned,
                    raw: id.clone(),
                })
                .collect();
            inventory.clusters.insert(cluster.clone(), members);
        }
        inventory.forwards = self.forwards.iter().map(|(from, into)| (from.clone(), into.clone())).collect();
        inventory
    }

    /// Repairs one problem [`super::verify::check`] found, recording what to persist in `changes`;
    /// `false` for a problem this index cannot have been left with and does not repair.
    pub fn repair(&mut self, problem: &Problem, changes: &mut Vec<Change>) -> bool {
        match problem {
            Problem::Unassigned { id } => {
                // only if still unassigned: never remove what an ingest has placed since
                if self.get(id).is_some_and(|article| article.cluster_id.is_none()) {
                    self.delete(id, changes);
                }
                true
            }
            Problem::UnclaimedMember { id, cluster } | Problem::NotAMember { id, cluster } => {
                self.set_cluster(id, cluster, changes);
                true
            }
            Problem::UnfinishedMerge { from, into } => {
                let into = self.resolve(into);
                self.merge(from, &into, changes);
                true
            }
            Problem::Ghost { cluster, member: id } | Problem::StrayMember { cluster, id, .. } => {
                // a ghost is any member of that id but the stored version; a stray is every one
                let keep = match problem {
                    Problem::Ghost { .. } => self.get(id).map(|article| self.rank(&article)),
                    _ => None,
                };
                if let Some(members) = self.clusters.get_mut(cluster) {
                    members.retain(|member| &member.4 != id || Some(member) == keep.as_ref());
                    if members.is_empty() {
                        self.clusters.remove(cluster);
                    }
                }
                true
            }
            Problem::DanglingPosting { band, .. } => {
                let Some(posting) = self.postings.get(band) else { return true };
                let stale: Vec<Slot> = posting
                    .as_slice()
                    .iter()
                    .copied()
                    .filter(|&slot| !self.article(slot).is_some_and(|article| article.band_keys.contains(band)))
                    .collect();
                for slot in stale {
                    if self.postings.get_mut(band).is_some_and(|posting| posting.remove(slot)) {
                        self.postings.remove(band);
                    }
                }
                true
            }
            _ => false,
        }
    }
}

// -------------------------------------------------------------------------------------------------
// moderation verdicts

impl LocalIndex {
    /// Restores a pin read back from disk (before the articles, so that they are ranked with it).
    pub fn restore_pin(&mut self, id: String) {
        self.pinned.insert(id);
    }

    /// Restores an apartness read back from disk.
    pub fn restore_apart(&mut self, a: ClusterId, b: ClusterId) {
        self.apart.entry(a).or_default().insert(b);
    }

    /// Restores a verdict read back from disk (in `seq` order).
    pub fn restore_verdict(&mut self, verdict: Verdict) {
        self.verdicts.push(verdict);
    }

    /// Keeps `a` and `b` apart, both ways.
    fn keep_apart(&mut self, a: &ClusterId, b: &ClusterId, changes: &mut Vec<Change>) {
        for (x, y) in [(a, b), (b, a)] {
            if self.apart.entry(x.clone()).or_default().insert(y.clone()) {
                changes.push(Change::Apart(x.clone(), y.clone()));
            }
        }
    }

    /// Whether the live clusters `a` and `b` are kept apart.
    fn is_apart(&self, a: &ClusterId, b: &ClusterId) -> bool {
        self.apart.get(a).is_some_and(|partners| partners.iter().any(|p| &self.resolve(p) == b))
    }

    /// [`super::Store::split`], recording what to persist in `changes`.
    pub fn split(
        &mut self,
        from: &ClusterId,
        moving: &[&str],
        into: &ClusterId,
        changes: &mut Vec<Change>,
    ) -> Result<Split> {
        let from = self.resolve(from);
        if !self.clusters.contains_key(&from) {
            return Err(Error::NotFound { what: "cluster", id: from.0 });
        }
        if &from == into {
            return Err(Error::Internal(format!("split of cluster {from} into itself")));
        }
        for id in moving {
            if self.get(id).is_some_and(|article| article.cluster_id.as_ref() == Some(&from)) {
                self.set_cluster(id, into, changes);
            }
        }
        if self.clusters.get(&from).is_some_and(BTreeSet::is_empty) {
            self.clusters.remove(&from);
        }
        self.keep_apart(&from, into, changes);
        Ok(Split {
            from_canonical: self.canonical_id(&from),
            from,
            into_canonical: self.canonical_id(into),
            into: into.clone(),
        })
    }

    /// [`super::Store::kept_apart`].
    pub fn kept_apart(&self, clusters: &[ClusterId]) -> Vec<(ClusterId, ClusterId)> {
        let live: Vec<ClusterId> = clusters.iter().map(|c| self.resolve(c)).collect();
        let mut pairs = Vec::new();
        for (i, a) in live.iter().enumerate() {
            for (j, b) in live.iter().enumerate().skip(i + 1) {
                let named = (&clusters[i], &clusters[j]);
                if a != b && self.is_apart(a, b) && !pairs.iter().any(|(x, y)| (x, y) == named || (y, x) == named) {
                    pairs.push((named.0.clone(), named.1.clone()));
                }
            }
        }
        pairs
    }

    /// [`super::Store::join`], recording what to persist in `changes`.
    pub fn join(&mut self, a: &ClusterId, b: &ClusterId, changes: &mut Vec<Change>) -> Result<Assigned> {
        let (a, b) = (self.resolve(a), self.resolve(b));
        for cluster in [&a, &b] {
            if self.clusters.get(cluster).is_none_or(BTreeSet::is_empty) {
                return Err(Error::NotFound { what: "cluster", id: cluster.0.clone() });
            }
        }
        for (x, y) in [(&a, &b), (&b, &a)] {
            let lifted: Vec<ClusterId> = self
                .apart
                .get(x)
                .map(|partners| partners.iter().filter(|p| &self.resolve(p) == y).cloned().collect())
                .unwrap_or_default();
            for partner in lifted {
                if let Some(partners) = self.apart.get_mut(x) {
                    partners.remove(&partner);
                }
                changes.push(Change::Unapart(x.clone(), partner));
            }
        }
        let (survivor, absorbed) = if a <= b { (a, b) } else { (b, a) };
        if survivor != absorbed {
            self.merge(&absorbed, &survivor, changes);
        }
        let canonical_id = self.canonical_id(&survivor).unwrap_or_default();
        Ok(Assigned { cluster_id: survivor, canonical_id })
    }

    /// [`super::Store::pin`], recording what to persist in `changes`.
    pub fn pin(&mut self, article: &StoredArticle, changes: &mut Vec<Change>) -> Option<Assigned> {
        let id = article.meta.id.as_str();
        let current = self.get(id)?;
        if current.ingested_us != article.ingested_us || current.content_hash != article.content_hash {
            return None;
        }
        let cluster_id = current.cluster_id?;
        let pinned: Vec<String> = self
            .clusters
            .get(&cluster_id)?
            .iter()
            .take_while(|rank| !rank.0)
            .map(|rank| rank.4.clone())
            .filter(|other| other != id)
            .collect();
        for other in pinned {
            self.repin(&other, false, &cluster_id, changes);
        }
        self.repin(id, true, &cluster_id, changes);
        Some(Assigned { canonical_id: self.canonical_id(&cluster_id)?, cluster_id })
    }

    /// Pins or unpins a member of `cluster_id`, moving it in the cluster's order.
    fn repin(&mut self, id: &str, pin: bool, cluster_id: &ClusterId, changes: &mut Vec<Change>) {
        let Some(article) = self.get(id) else { return };
        if self.pinned.contains(id) == pin {
            return;
        }
        let old = self.rank(&article);
        if pin {
            self.pinned.insert(id.to_string());
            changes.push(Change::Pin(id.to_string()));
        } else {
            self.pinned.remove(id);
            changes.push(Change::Unpin(id.to_string()));
        }
        let new = self.rank(&article);
        if let Some(members) = self.clusters.get_mut(cluster_id)
            && members.remove(&old)
        {
            members.insert(new);
        }
    }

    /// [`super::Store::record_verdict`], recording what to persist in `changes`.
    pub fn record_verdict(&mut self, mut verdict: Verdict, changes: &mut Vec<Change>) -> Verdict {
        verdict.seq = self.verdicts.len() as u64 + 1;
        self.verdicts.push(verdict.clone());
        changes.push(Change::Verdict(Box::new(verdict.clone())));
        verdict
    }

    /// [`super::Store::verdicts`].
    pub fn verdicts(&self, before: Option<u64>, limit: usize) -> Vec<Verdict> {
        let end =
            before.map_or(self.verdicts.len(), |before| (before.saturating_sub(1) as usize).min(self.verdicts.len()));
        self.verdicts[..end].iter().rev().take(limit).cloned().collect()
    }
}
