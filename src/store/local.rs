//! The in-process index shared by the memory and embedded stores.
//!
//! One synchronous state machine implements the [`super::Store`] contract; the memory store wraps it in
//! a mutex, the embedded store additionally persists the [`Change`]s each call produces. Keeping both on
//! one implementation means the embedded store is exactly as correct as the memory store the
//! conformance suite checks.
//!
//! Article records live behind [`Records`]: in RAM for the memory store, in the redb file for the
//! embedded store. The index itself holds only what finding and ordering articles needs, by slab
//! slot (`u32`): band-key postings, the members of clusters of two or more (a cluster of one is found
//! through its only record), forwards and the time index.
//!
//! A record names the cluster it was put in; a merge only adds a forward, so a record's current
//! cluster is the live end of its chain of forwards, resolved whenever a record is read.
//!
//! Retention ([`super::Store::expire`]) reads an ordered time index of `(published, slot)`, kept exact
//! on every place and delete, so an expiry pops the oldest entries and never scans.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
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
    /// Write (or overwrite) the record in this slot.
    Put {
        /// The slot.
        slot: Slot,
        /// The record.
        article: Box<StoredArticle>,
    },
    /// Empty this slot, which held the article with this id.
    Remove {
        /// The slot.
        slot: Slot,
        /// The article's id.
        id: String,
    },
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

/// Where an article's record lives in the index.
pub type Slot = u32;

/// Where the index keeps its article records, by slot, and which slot holds which id.
pub trait Records: Send {
    /// The record in `slot` as it was written (its cluster not resolved through forwards).
    fn get(&self, slot: Slot) -> Option<Cow<'_, StoredArticle>>;
    /// The slot holding the article with this id.
    fn slot_of(&self, id: &str) -> Option<Slot>;
    /// Writes `article` to `slot` (the index journals the matching [`Change::Put`]).
    fn put(&mut self, slot: Slot, article: StoredArticle);
    /// Empties `slot`, which holds the article `id` (journalled as [`Change::Remove`]).
    fn remove(&mut self, slot: Slot, id: &str);
    /// Catches up with what the journal has made durable, before a call reads.
    fn sync(&mut self) {}
    /// Ends a call: the sequence number of the journal batch that carries its changes.
    fn seal(&mut self) -> u64 {
        0
    }
    /// A read that failed since the last call to this (the index then answered as if it found nothing).
    fn take_error(&mut self) -> Option<String> {
        None
    }
}

/// The memory store's records: a slab and an id map.
#[derive(Default)]
pub struct RamRecords {
    slots: Vec<Option<StoredArticle>>,
    by_id: HashMap<String, Slot>,
}

impl Records for RamRecords {
    fn get(&self, slot: Slot) -> Option<Cow<'_, StoredArticle>> {
        self.slots.get(slot as usize).and_then(Option::as_ref).map(Cow::Borrowed)
    }

    fn slot_of(&self, id: &str) -> Option<Slot> {
        self.by_id.get(id).copied()
    }

    fn put(&mut self, slot: Slot, article: StoredArticle) {
        let index = slot as usize;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.by_id.insert(article.meta.id.clone(), slot);
        self.slots[index] = Some(article);
    }

    fn remove(&mut self, slot: Slot, id: &str) {
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            *entry = None;
        }
        if self.by_id.get(id) == Some(&slot) {
            self.by_id.remove(id);
        }
    }
}

/// A posting value meaning "three or more slots: see [`Postings::many`]".
const SEVERAL: Slot = Slot::MAX;

/// The slots posted under each band key, oldest first, at most [`POSTINGS_READ_PER_KEY`] of them (a
/// lookup reads no more, and the Redis stores keep no more either).
///
/// Band keys are a small tag above a 32-bit sketch value, so a key below 2^48 is split exactly into a
/// shard (its low 16 bits) and a 32-bit key within the shard: 8 bytes per posting for a key posted by
/// one article, 8 more in `second` for a key posted by two (an original and its copy, the usual
/// case), and many small tables that grow without long pauses. A key posted by three or more, or not
/// below 2^48, keeps its slots in `many`.
#[derive(Default)]
struct Postings {
    first: Vec<IntMap<u32, Slot>>,
    second: Vec<IntMap<u32, Slot>>,
    many: IntMap<u64, Vec<Slot>>,
}

const SHARDS: usize = 1 << 16;

/// The shard and the key within it, for a key below 2^48.
fn split_key(key: u64) -> Option<(usize, u32)> {
    (key >> 48 == 0).then_some(((key & 0xFFFF) as usize, (key >> 16) as u32))
}

/// The slots of one key, as [`Postings::get`] finds them.
pub(crate) enum Slots<'a> {
    Inline([Slot; 2], usize),
    Many(&'a [Slot]),
}

impl std::ops::Deref for Slots<'_> {
    type Target = [Slot];

    fn deref(&self) -> &[Slot] {
        match self {
            Slots::Inline(slots, len) => &slots[..*len],
            Slots::Many(slots) => slots,
        }
    }
}

impl Postings {
    fn push(&mut self, key: u64, slot: Slot) {
        let Some((shard, inner)) = split_key(key) else {
            let slots = self.many.entry(key).or_default();
            if slots.len() < POSTINGS_READ_PER_KEY {
                slots.push(slot);
            }
            return;
        };
        if self.first.is_empty() {
            self.first.resize_with(SHARDS, IntMap::default);
            self.second.resize_with(SHARDS, IntMap::default);
        }
        let first = match self.first[shard].entry(inner) {
            Entry::Vacant(vacant) => {
                vacant.insert(slot);
                return;
            }
            Entry::Occupied(mut occupied) => match *occupied.get() {
                SEVERAL => {
                    let slots = self.many.entry(key).or_default();
                    if slots.len() < POSTINGS_READ_PER_KEY {
                        slots.push(slot);
                    }
                    return;
                }
                first => {
                    if let Entry::Vacant(vacant) = self.second[shard].entry(inner) {
                        vacant.insert(slot);
                        return;
                    }
                    occupied.insert(SEVERAL);
                    first
                }
            },
        };
        let second = self.second[shard].remove(&inner).unwrap_or(first);
        let mut slots = Vec::with_capacity(4);
        slots.extend([first, second, slot]);
        self.many.insert(key, slots);
    }

    fn get(&self, key: u64) -> Slots<'_> {
        let Some((shard, inner)) = split_key(key) else {
            return Slots::Many(self.many.get(&key).map_or(&[], Vec::as_slice));
        };
        match self.first.get(shard).and_then(|s| s.get(&inner)) {
            Some(&SEVERAL) => Slots::Many(self.many.get(&key).map_or(&[], Vec::as_slice)),
            Some(&first) => match self.second[shard].get(&inner) {
                Some(&second) => Slots::Inline([first, second], 2),
                None => Slots::Inline([first, 0], 1),
            },
            None => Slots::Inline([0, 0], 0),
        }
    }

    /// Keeps only the slots under `key` for which `keep` holds, in order.
    fn retain(&mut self, key: u64, mut keep: impl FnMut(Slot) -> bool) {
        let kept: Vec<Slot> = self.get(key).iter().copied().filter(|&slot| keep(slot)).collect();
        if kept.len() == self.get(key).len() {
            return;
        }
        self.set(key, kept);
    }

    /// Replaces the slots under `key` by `slots`, in the form their number calls for.
    fn set(&mut self, key: u64, slots: Vec<Slot>) {
        let Some((shard, inner)) = split_key(key) else {
            if slots.is_empty() {
                self.many.remove(&key);
            } else {
                self.many.insert(key, slots);
            }
            return;
        };
        if self.first.is_empty() {
            self.first.resize_with(SHARDS, IntMap::default);
            self.second.resize_with(SHARDS, IntMap::default);
        }
        self.many.remove(&key);
        self.second[shard].remove(&inner);
        match slots.as_slice() {
            [] => {
                self.first[shard].remove(&inner);
            }
            &[only] => {
                self.first[shard].insert(inner, only);
            }
            &[first, second] => {
                self.first[shard].insert(inner, first);
                self.second[shard].insert(inner, second);
            }
            _ => {
                self.first[shard].insert(inner, SEVERAL);
                self.many.insert(key, slots);
            }
        }
    }

    fn remove(&mut self, key: u64, slot: Slot) {
        self.retain(key, |s| s != slot);
    }

    /// Every key with its slots.
    fn iter(&self) -> impl Iterator<Item = (u64, Slots<'_>)> {
        let inline = self.first.iter().enumerate().flat_map(move |(shard, map)| {
            map.iter().filter(|&(_, &slot)| slot != SEVERAL).map(move |(&inner, _)| {
                let key = (u64::from(inner) << 16) | shard as u64;
                (key, self.get(key))
            })
        });
        inline.chain(self.many.iter().map(|(&key, slots)| (key, Slots::Many(slots.as_slice()))))
    }
}

/// A cluster member in canonical order: (not pinned, tier, published, ingested, id), so that a pinned
/// member comes first; then its slot.
type Rank = (bool, SourceTier, Micros, Micros, String, Slot);

/// The members of a cluster of two or more, in canonical order: a sorted vector, since most clusters
/// are small (a B-tree node is allocated for 11 members, whatever the count).
#[derive(Default)]
struct Members(Vec<Rank>);

impl Members {
    fn insert(&mut self, rank: Rank, restoring: bool) -> bool {
        if restoring {
            // sorted once the store has opened: inserting in order would move a large cluster's
            // members once per member
            self.0.push(rank);
            return true;
        }
        match self.0.binary_search(&rank) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, rank);
                true
            }
        }
    }

    fn remove(&mut self, rank: &Rank) -> bool {
        match self.0.binary_search(rank) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    fn first(&self) -> Option<&Rank> {
        self.0.first()
    }

    fn iter(&self) -> std::slice::Iter<'_, Rank> {
        self.0.iter()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn retain(&mut self, keep: impl FnMut(&Rank) -> bool) {
        self.0.retain(keep);
    }
}

/// The key of a cluster of one in [`LocalIndex::singles`].
fn cluster_key(cluster_id: &ClusterId) -> u64 {
    xxhash_rust::xxh3::xxh3_64(cluster_id.0.as_bytes())
}

/// The in-process index: records behind [`Records`], band-key postings, clusters, forwards and the
/// time index, implementing the [`super::Store`] contract synchronously.
pub struct LocalIndex {
    records: Box<dyn Records>,
    /// Slots below `next_slot` that hold no article.
    free: Vec<Slot>,
    next_slot: Slot,
    len: usize,
    postings: Postings,
    /// Clusters by id, in canonical order: every cluster of two or more members, and a cluster of one
    /// whose key in `singles` another cluster of one already has.
    clusters: HashMap<ClusterId, Members>,
    /// The other clusters of one: [`cluster_key`] → the slot of the only member, whose record tells
    /// the cluster.
    singles: IntMap<u64, Slot>,
    forwards: HashMap<ClusterId, ClusterId>,
    /// Every stored article by effective publication time, oldest first: what expiry pops.
    by_time: BTreeSet<(Micros, Slot)>,
    /// Ids of the articles pinned as their cluster's canonical.
    pinned: HashSet<String>,
    /// Records are being restored: member vectors are sorted when it ends.
    restoring: bool,
    /// Clusters kept apart, both ways; ids as recorded (resolve them through forwards).
    apart: HashMap<ClusterId, BTreeSet<ClusterId>>,
    /// The verdict log, oldest first: `verdicts[i].seq == i + 1`.
    verdicts: Vec<Verdict>,
}

impl Default for LocalIndex {
    fn default() -> Self {
        Self::with_records(Box::<RamRecords>::default())
    }
}

impl LocalIndex {
    /// An empty index keeping its records in `records`.
    pub fn with_records(records: Box<dyn Records>) -> Self {
        LocalIndex {
            records,
            free: Vec::new(),
            next_slot: 0,
            len: 0,
            postings: Postings::default(),
            clusters: HashMap::new(),
            singles: IntMap::default(),
            forwards: HashMap::new(),
            by_time: BTreeSet::new(),
            pinned: HashSet::new(),
            restoring: false,
            apart: HashMap::new(),
            verdicts: Vec::new(),
        }
    }

    /// The records, for the store around the index.
    pub fn records(&mut self) -> &mut dyn Records {
        self.records.as_mut()
    }

    /// Articles stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no article is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record in `slot`, as written.
    fn record(&self, slot: Slot) -> Option<Cow<'_, StoredArticle>> {
        self.records.get(slot)
    }

    /// The article in `slot`, with its current cluster.
    fn article(&self, slot: Slot) -> Option<StoredArticle> {
        let mut article = self.record(slot)?.into_owned();
        article.cluster_id = article.cluster_id.map(|cluster| self.resolve(&cluster));
        Some(article)
    }

    /// The current cluster of the article in `slot`.
    fn cluster_of(&self, slot: Slot) -> Option<ClusterId> {
        self.record(slot)?.cluster_id.as_ref().map(|cluster| self.resolve(cluster))
    }

    /// The article with this id ([`super::Store::get`]).
    pub fn get(&self, id: &str) -> Option<StoredArticle> {
        self.article(self.records.slot_of(id)?)
    }

    /// The only member of `cluster_id` when it is a cluster of one kept in `singles`.
    fn single(&self, cluster_id: &ClusterId) -> Option<Slot> {
        let slot = *self.singles.get(&cluster_key(cluster_id))?;
        (self.cluster_of(slot).as_ref() == Some(cluster_id)).then_some(slot)
    }

    fn has_cluster(&self, cluster_id: &ClusterId) -> bool {
        self.clusters.get(cluster_id).is_some_and(|members| !members.is_empty()) || self.single(cluster_id).is_some()
    }

    fn canonical_slot(&self, cluster_id: &ClusterId) -> Option<Slot> {
        match self.clusters.get(cluster_id) {
            Some(members) => members.first().map(|rank| rank.5),
            None => self.single(cluster_id),
        }
    }

    fn canonical_id(&self, cluster_id: &ClusterId) -> Option<String> {
        match self.clusters.get(cluster_id) {
            Some(members) => members.first().map(|rank| rank.4.clone()),
            None => Some(self.record(self.single(cluster_id)?)?.meta.id.clone()),
        }
    }

    /// The article's place in its cluster's canonical order.
    fn rank(&self, article: &StoredArticle, slot: Slot) -> Rank {
        let pinned = self.pinned.contains(&article.meta.id);
        (!pinned, article.tier, article.published_us, article.ingested_us, article.meta.id.clone(), slot)
    }

    fn resolve(&self, cluster_id: &ClusterId) -> ClusterId {
        let mut current = cluster_id;
        // a merge forwards to an older id; a forward that does not (a hand edit, which verify
        // reports) is not followed, so this terminates
        while let Some(next) = self.forwards.get(current).filter(|&next| next < current) {
            current = next;
        }
        current.clone()
    }

    /// Adds the member `rank` (in `slot`, whose record already names the cluster) to `cluster_id`.
    fn add_member(&mut self, cluster_id: &ClusterId, slot: Slot, rank: Rank) {
        if let Some(members) = self.clusters.get_mut(cluster_id) {
            members.insert(rank, self.restoring);
            return;
        }
        let key = cluster_key(cluster_id);
        let Some(&other) = self.singles.get(&key) else {
            self.singles.insert(key, slot);
            return;
        };
        if other == slot {
            return;
        }
        let mut members = Members(vec![rank]);
        if self.cluster_of(other).as_ref() == Some(cluster_id) {
            // the cluster of one grows
            self.singles.remove(&key);
            if let Some(first) = self.record(other).map(|article| self.rank(&article, other)) {
                members.insert(first, self.restoring);
            }
        }
        self.clusters.insert(cluster_id.clone(), members);
    }

    /// Removes the member `rank` (in `slot`) from `cluster_id`.
    fn remove_member(&mut self, cluster_id: &ClusterId, slot: Slot, rank: &Rank) {
        if let Some(members) = self.clusters.get_mut(cluster_id) {
            members.remove(rank);
            if members.is_empty() {
                self.clusters.remove(cluster_id);
            }
            return;
        }
        let key = cluster_key(cluster_id);
        if self.singles.get(&key) == Some(&slot) {
            self.singles.remove(&key);
        }
    }

    /// Removes and returns every member of `cluster_id`.
    fn take_members(&mut self, cluster_id: &ClusterId) -> Vec<Rank> {
        if let Some(members) = self.clusters.remove(cluster_id) {
            return members.0;
        }
        let Some(slot) = self.single(cluster_id) else { return Vec::new() };
        self.singles.remove(&cluster_key(cluster_id));
        self.record(slot).map(|article| self.rank(&article, slot)).into_iter().collect()
    }

    /// The members of `cluster_id` in canonical order.
    fn members(&self, cluster_id: &ClusterId) -> Vec<Rank> {
        if let Some(members) = self.clusters.get(cluster_id) {
            return members.iter().cloned().collect();
        }
        let slot = self.single(cluster_id);
        slot.and_then(|slot| self.record(slot).map(|article| self.rank(&article, slot))).into_iter().collect()
    }

    /// Restores the record in `slot` read back from disk (startup of the embedded store), in
    /// ascending slot order, after the forwards and pins.
    pub fn restore(&mut self, slot: Slot, article: &StoredArticle) {
        self.restoring = true;
        if slot > self.next_slot {
            self.free.extend(self.next_slot..slot);
        }
        self.next_slot = self.next_slot.max(slot + 1);
        self.index(slot, article);
    }

    /// Ends a restore: puts every cluster's members in canonical order.
    pub fn restored(&mut self) {
        if std::mem::take(&mut self.restoring) {
            for members in self.clusters.values_mut() {
                members.0.sort_unstable();
            }
        }
    }

    /// Restores a cluster forward read back from disk.
    pub fn restore_forward(&mut self, from: ClusterId, into: ClusterId) {
        self.forwards.insert(from, into);
    }

    /// Indexes the article written to `slot`: postings, time, cluster.
    fn index(&mut self, slot: Slot, article: &StoredArticle) {
        for &key in &article.band_keys {
            self.postings.push(key, slot);
        }
        if let Some(cluster_id) = &article.cluster_id {
            let cluster_id = self.resolve(cluster_id);
            let rank = self.rank(article, slot);
            self.add_member(&cluster_id, slot, rank);
        }
        self.by_time.insert((article.published_us, slot));
        self.len += 1;
    }

    fn write(&mut self, slot: Slot, article: StoredArticle, changes: &mut Vec<Change>) {
        changes.push(Change::Put { slot, article: Box::new(article.clone()) });
        self.records.put(slot, article);
    }

    fn place(&mut self, article: StoredArticle, changes: &mut Vec<Change>) -> Slot {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.next_slot += 1;
            self.next_slot - 1
        });
        self.write(slot, article.clone(), changes);
        self.index(slot, &article);
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
        let keys = article.band_keys.clone();
        let slot = self.place(article, changes);
        Inserted::New(self.lookup_excluding(&keys, limit, Some(slot)))
    }

    /// [`super::Store::lookup`].
    pub fn lookup(&self, keys: &[u64], limit: usize) -> Lookup {
        self.lookup_excluding(keys, limit, None)
    }

    fn lookup_excluding(&self, keys: &[u64], limit: usize, exclude: Option<Slot>) -> Lookup {
        let mut counts: IntMap<Slot, u32> = IntMap::default();
        for &key in keys {
            let slots = self.postings.get(key);
            // postings are in the order they were posted: the oldest first
            for &slot in &slots[..slots.len().min(POSTINGS_READ_PER_KEY)] {
                *counts.entry(slot).or_default() += 1;
            }
        }
        let mut by_count: Vec<(u32, Slot)> = counts
            .into_iter()
            .filter(|&(slot, shared_keys)| shared_keys >= MIN_SHARED_KEYS && Some(slot) != exclude)
            .map(|(slot, shared_keys)| (shared_keys, slot))
            .collect();
        by_count.sort_unstable_by_key(|&(shared_keys, _)| std::cmp::Reverse(shared_keys));
        // read only the records that can make the cut: ties at the cut are broken by id
        if let Some(&(last, _)) = by_count.get(limit.saturating_sub(1)) {
            by_count.retain(|&(shared_keys, _)| shared_keys >= last);
        }
        let mut ranked: Vec<(u32, StoredArticle)> =
            by_count.into_iter().filter_map(|(shared_keys, slot)| Some((shared_keys, self.article(slot)?))).collect();
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.meta.id.cmp(&b.1.meta.id)));
        ranked.truncate(limit);
        let found: Vec<Candidate> =
            ranked.into_iter().map(|(shared_keys, article)| Candidate { article, shared_keys }).collect();
        let mut clusters: Vec<ClusterHead> = Vec::new();
        for candidate in &found {
            let Some(cluster_id) = &candidate.article.cluster_id else {
                continue;
            };
            if clusters.iter().any(|head| &head.cluster_id == cluster_id) {
                continue;
            }
            if let Some(canonical) = self.canonical_slot(cluster_id).and_then(|slot| self.article(slot)) {
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
        let mut canonicals: Vec<(ClusterId, StoredArticle)> = Vec::new();
        for cluster_id in std::iter::once(&article).chain(&linked).filter_map(|a| a.cluster_id.as_ref()) {
            if canonicals.iter().any(|(known, _)| known == cluster_id) {
                continue;
            }
            if let Some(canonical) = self.canonical_slot(cluster_id).and_then(|slot| self.article(slot)) {
                canonicals.push((cluster_id.clone(), canonical));
            }
        }
        let assignment = Assignment::new(&article, &linked, |cluster_id| {
            canonicals.iter().find(|(known, _)| known == cluster_id).map(|(_, canonical)| canonical)
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

    /// Puts the article `id` in `cluster_id`, rewriting its record.
    fn set_cluster(&mut self, id: &str, cluster_id: &ClusterId, changes: &mut Vec<Change>) {
        let Some(slot) = self.records.slot_of(id) else { return };
        let Some(mut article) = self.record(slot).map(Cow::into_owned) else {
            return;
        };
        let rank = self.rank(&article, slot);
        if let Some(old) = article.cluster_id.as_ref().map(|old| self.resolve(old)) {
            self.remove_member(&old, slot, &rank);
        }
        article.cluster_id = Some(cluster_id.clone());
        self.write(slot, article, changes);
        self.add_member(cluster_id, slot, rank);
    }

    /// Merges `absorbed` into `survivor`: the members move in the index, and their records keep
    /// naming `absorbed`, which forwards to `survivor` from now on.
    fn merge(&mut self, absorbed: &ClusterId, survivor: &ClusterId, changes: &mut Vec<Change>) {
        debug_assert!(absorbed > survivor, "the older (smaller) cluster id survives");
        let members = self.take_members(absorbed);
        self.forwards.insert(absorbed.clone(), survivor.clone());
        changes.push(Change::Forward { from: absorbed.clone(), into: survivor.clone() });
        for rank in members {
            let slot = rank.5;
            // a member whose record names another cluster (a repair of a broken index) is rewritten
            if self.cluster_of(slot).as_ref() == Some(survivor) {
                self.add_member(survivor, slot, rank);
            } else {
                self.set_cluster(&rank.4, survivor, changes);
            }
        }
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
            self.members(&cluster_id).into_iter().filter_map(|rank| self.article(rank.5)).collect();
        if members.is_empty() {
            return None;
        }
        Some(ClusterView { cluster_id, members })
    }

    /// [`super::Store::delete`], recording what to persist in `changes`.
    pub fn delete(&mut self, id: &str, changes: &mut Vec<Change>) -> Deleted {
        let Some(slot) = self.records.slot_of(id) else {
            return Deleted::default();
        };
        let Some(article) = self.record(slot).map(Cow::into_owned) else {
            return Deleted::default();
        };
        let rank = self.rank(&article, slot);
        if self.pinned.remove(id) {
            changes.push(Change::Unpin(id.to_string()));
        }
        self.records.remove(slot, id);
        changes.push(Change::Remove { slot, id: id.to_string() });
        self.free.push(slot);
        self.len -= 1;
        self.by_time.remove(&(article.published_us, slot));
        for &key in &article.band_keys {
            self.postings.remove(key, slot);
        }
        let Some(cluster_id) = article.cluster_id.as_ref().map(|c| self.resolve(c)) else {
            return Deleted { deleted: true, canonical_id: None };
        };
        self.remove_member(&cluster_id, slot, &rank);
        Deleted { deleted: true, canonical_id: self.canonical_id(&cluster_id) }
    }

    /// See [`super::Store::visit_recent`].
    pub fn visit_recent(&self, limit: usize, visit: &mut super::Visitor<'_>) {
        let skip = self.by_time.len().saturating_sub(limit);
        for &(_, slot) in self.by_time.iter().skip(skip) {
            if let Some(article) = self.article(slot) {
                visit(&article);
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
            match self.record(slot).map(|article| article.meta.id.clone()) {
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
            self.records.slot_of(id).and_then(|slot| self.record(slot)).is_some_and(|a| a.content_hash == content_hash);
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
        let free: HashSet<Slot> = self.free.iter().copied().collect();
        for slot in (0..self.next_slot).filter(|slot| !free.contains(slot)) {
            match self.record(slot) {
                Some(article) => {
                    let id = article.meta.id.clone();
                    inventory.records.insert(id, Record { article: article.into_owned(), number: None });
                }
                None => inventory.problems.push(Problem::Unreadable {
                    key: format!("slot {slot}"),
                    detail: "indexed, but holds no article".to_string(),
                }),
            }
        }
        for (band, slots) in self.postings.iter() {
            for &slot in slots.iter() {
                let id = self.record(slot).map_or_else(|| format!("(empty slot {slot})"), |a| a.meta.id.clone());
                inventory.postings.push((band, Posted::Id(id)));
            }
        }
        let member = |(not_pinned, tier, published, ingested, id, _): Rank| Member {
            raw: id.clone(),
            id,
            rank: Some((tier, published, ingested)),
            pinned: !not_pinned,
        };
        for (cluster, members) in &self.clusters {
            inventory.clusters.insert(cluster.clone(), members.iter().cloned().map(member).collect());
        }
        for &slot in self.singles.values() {
            let Some(article) = self.record(slot) else { continue };
            let Some(cluster) = article.cluster_id.as_ref().map(|c| self.resolve(c)) else { continue };
            let rank = self.rank(&article, slot);
            inventory.clusters.insert(cluster, vec![member(rank)]);
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
                    Problem::Ghost { .. } => {
                        self.records.slot_of(id).and_then(|slot| self.record(slot).map(|a| self.rank(&a, slot)))
                    }
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
                let records = &self.records;
                self.postings.retain(*band, |slot| records.get(slot).is_some_and(|a| a.band_keys.contains(band)));
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
        if !self.has_cluster(&from) {
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
            if !self.has_cluster(cluster) {
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
        if !self.has_cluster(&cluster_id) {
            return None;
        }
        let pinned: Vec<String> = self
            .members(&cluster_id)
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
        let Some(slot) = self.records.slot_of(id) else { return };
        let Some(article) = self.record(slot).map(Cow::into_owned) else { return };
        if self.pinned.contains(id) == pin {
            return;
        }
        let old = self.rank(&article, slot);
        if pin {
            self.pinned.insert(id.to_string());
            changes.push(Change::Pin(id.to_string()));
        } else {
            self.pinned.remove(id);
            changes.push(Change::Unpin(id.to_string()));
        }
        let new = self.rank(&article, slot);
        if let Some(members) = self.clusters.get_mut(cluster_id)
            && members.remove(&old)
        {
            members.insert(new, false);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(postings: &Postings, key: u64) -> Vec<Slot> {
        postings.get(key).to_vec()
    }

    #[test]
    fn postings_keep_the_oldest_slots_in_order_whatever_their_form() {
        // a key below 2^48 (inline forms) and one above (always `many`)
        for key in [(1 << 32) | 0xABCD_1234, u64::MAX - 7] {
            let mut postings = Postings::default();
            assert!(slots(&postings, key).is_empty());
            let mut expected = Vec::new();
            for slot in 0..(POSTINGS_READ_PER_KEY as Slot + 5) {
                postings.push(key, slot);
                if expected.len() < POSTINGS_READ_PER_KEY {
                    expected.push(slot);
                }
                assert_eq!(slots(&postings, key), expected, "after pushing {slot}");
            }
            // removals go back through every form, order kept
            for slot in [5, 0, 31, 7] {
                postings.remove(key, slot);
                expected.retain(|&s| s != slot);
                assert_eq!(slots(&postings, key), expected);
            }
            while let Some(&slot) = expected.first() {
                postings.remove(key, slot);
                expected.remove(0);
                assert_eq!(slots(&postings, key), expected);
                assert_eq!(postings.iter().filter(|(k, _)| *k == key).count(), usize::from(!expected.is_empty()));
            }
            postings.push(key, 9);
            assert_eq!(slots(&postings, key), [9]);
        }
    }

    #[test]
    fn postings_of_different_keys_stay_apart() {
        let mut postings = Postings::default();
        // same shard, different keys within it; same key within, different shards
        let keys = [0x1_0000_0001, 0x2_0000_0001, 0x1_0000_0002];
        for (i, &key) in keys.iter().enumerate() {
            for slot in 0..=i as Slot {
                postings.push(key, 10 * i as Slot + slot);
            }
        }
        assert_eq!(slots(&postings, keys[0]), [0]);
        assert_eq!(slots(&postings, keys[1]), [10, 11]);
        assert_eq!(slots(&postings, keys[2]), [20, 21, 22]);
        let mut all: Vec<(u64, Vec<Slot>)> = postings.iter().map(|(k, s)| (k, s.to_vec())).collect();
        all.sort();
        assert_eq!(all, vec![(keys[0], vec![0]), (keys[2], vec![20, 21, 22]), (keys[1], vec![10, 11])]);
    }
}
