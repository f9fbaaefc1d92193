//! `dedupd verify`: checks a store's invariants, and repairs what a crash can leave half-done.
//!
//! Each backend reads its whole namespace into one [`Inventory`] (records, postings, number maps,
//! clusters, forwards, as stored: nothing resolved, nothing skipped) and knows how to repair a
//! [`Problem`] ([`Verify`]). The checks are written once, here, over the inventory ([`check`]); a new
//! invariant is one more function in `CHECKS` and, if it has one, one more [`Problem`] variant.
//!
//! What a crash can leave (an ingest is several store steps: see `docs/durability.md`):
//!
//! - an article inserted but never assigned ([`Problem::Unassigned`]): it was never acknowledged, so
//!   repair **removes** it, as the embedded store does when it opens; a client's retry ingests it
//!   again. An article whose ingest got as far as picking its cluster (the Redis Cluster's `add`
//!   without its `claim`, or the reverse) is instead **completed** into that cluster
//!   ([`Problem::UnclaimedMember`], [`Problem::NotAMember`]);
//! - a merge cut short on a Redis Cluster: a closed cluster that still holds members
//!   ([`Problem::UnfinishedMerge`]), finished by moving them;
//! - a delete cut short: postings and members left by a record that is gone
//!   ([`Problem::DanglingPosting`], [`Problem::Ghost`]), removed.
//!
//! Unassigned articles ingested within [`Options::in_flight`] are taken for ingests in progress,
//! counted and left alone; with no server running (or on the embedded store, which one process
//! holds at a time) nothing is in flight. Every repair is one of the store protocol's own idempotent
//! steps, so a repair run twice, or next to running servers, does no harm.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::{ClusterId, Micros, SourceTier, StoredArticle, now_micros};
use crate::error::Result;

/// Where a posting points: an article id (in-process stores) or an article number (Redis).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Posted {
    /// The article with this id.
    Id(String),
    /// The article numbered so.
    Number(u64),
}

impl fmt::Display for Posted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Posted::Id(id) => f.write_str(id),
            Posted::Number(number) => write!(f, "#{number}"),
        }
    }
}

/// A member's place in canonical order, as stored beside its id: (tier, published, ingested).
pub type Rank = (SourceTier, Micros, Micros);

/// A cluster member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The article id.
    pub id: String,
    /// The rank stored with it; `None` when it cannot be read.
    pub rank: Option<Rank>,
    /// Pinned as its cluster's canonical by a verdict: it leads whatever its rank.
    pub pinned: bool,
    /// The member exactly as stored (on Redis, the zset member a repair removes).
    pub raw: String,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The article, with the cluster its record names (not resolved through forwards).
    pub article: StoredArticle,
    /// Its article number (Redis).
    pub number: Option<u64>,
}

/// Everything a store holds, as stored: what [`check`] reads.
#[derive(Debug, Default)]
pub struct Inventory {
    /// The store's kind and where it is, for the summary.
    pub name: String,
    /// Nothing can be in flight: the inventory was read with the store held exclusively.
    pub exclusive: bool,
    /// Records by id.
    pub records: BTreeMap<String, Record>,
    /// Number → id maps (Redis).
    pub numbers: BTreeMap<u64, String>,
    /// Every posting: a band key and what is posted under it.
    pub postings: Vec<(u64, Posted)>,
    /// Member lists by cluster, in stored order (canonical order by construction).
    pub clusters: BTreeMap<ClusterId, Vec<Member>>,
    /// Cluster forwards: merged cluster → the one it was merged into.
    pub forwards: BTreeMap<ClusterId, ClusterId>,
    /// What the backend found wrong in its own layout while reading it.
    pub problems: Vec<Problem>,
}

/// One thing wrong with a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A stored value that cannot be decoded.
    Unreadable {
        /// Its key.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A posting whose article is gone, or another version, or not posted under that band key.
    DanglingPosting {
        /// The band key.
        band: u64,
        /// What it names.
        posted: Posted,
    },
    /// A number that maps to an article whose record is gone or carries another number.
    StaleNumber {
        /// The number.
        number: u64,
        /// The id it maps to.
        id: String,
    },
    /// A record whose number does not map back to it.
    Unnumbered {
        /// The article.
        id: String,
    },
    /// An article inserted but never assigned, older than an ingest in flight: its ingest was cut
    /// short and never acknowledged. Repair removes it.
    Unassigned {
        /// The article.
        id: String,
    },
    /// An unassigned article that a live cluster lists: its ingest added it and stopped before
    /// setting its cluster. Repair sets it.
    UnclaimedMember {
        /// The article.
        id: String,
        /// The cluster that lists it.
        cluster: ClusterId,
    },
    /// An assigned article that its (live) cluster does not list: its ingest set its cluster and
    /// stopped before adding it. Repair adds it.
    NotAMember {
        /// The article.
        id: String,
        /// The live cluster its record leads to.
        cluster: ClusterId,
    },
    /// A live cluster lists an article whose record leads to another cluster. Repair drops the member.
    StrayMember {
        /// The cluster listing it.
        cluster: ClusterId,
        /// The article.
        id: String,
        /// The member as stored.
        member: String,
    },
    /// A member without its record (deleted), or with another version's rank. Repair drops it.
    Ghost {
        /// The cluster listing it.
        cluster: ClusterId,
        /// The member as stored.
        member: String,
    },
    /// A cluster merged away (it forwards) that still holds members: a merge cut short. Repair moves
    /// them to the survivor.
    UnfinishedMerge {
        /// The closed cluster.
        from: ClusterId,
        /// Where it forwards.
        into: ClusterId,
    },
    /// A forward to a cluster that is not older (which is also how a cycle shows): chains must end.
    BrokenForward {
        /// The cluster forwarding.
        from: ClusterId,
        /// Where it forwards.
        into: ClusterId,
    },
    /// A cluster whose first member is not the first of its members in canonical order.
    WrongCanonical {
        /// The cluster.
        cluster: ClusterId,
        /// Its first member.
        first: String,
        /// The member that should be first.
        expected: String,
    },
    /// A Redis singleton-index entry whose founder does not check out, or beside a member zset.
    StaleSingleton {
        /// The cluster the entry names.
        cluster: ClusterId,
    },
}

impl Problem {
    /// The kind, as the summary and the JSON output name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Unreadable { .. } => "unreadable",
            Problem::DanglingPosting { .. } => "dangling_posting",
            Problem::StaleNumber { .. } => "stale_number",
            Problem::Unnumbered { .. } => "unnumbered",
            Problem::Unassigned { .. } => "unassigned",
            Problem::UnclaimedMember { .. } => "unclaimed_member",
            Problem::NotAMember { .. } => "not_a_member",
            Problem::StrayMember { .. } => "stray_member",
            Problem::Ghost { .. } => "ghost",
            Problem::UnfinishedMerge { .. } => "unfinished_merge",
            Problem::BrokenForward { .. } => "broken_forward",
            Problem::WrongCanonical { .. } => "wrong_canonical",
            Problem::StaleSingleton { .. } => "stale_singleton",
        }
    }

    /// What the problem is about, for examples in the summary.
    pub fn subject(&self) -> String {
        match self {
            Problem::Unreadable { key, .. } => key.clone(),
            Problem::DanglingPosting { band, posted } => format!("{band:x}→{posted}"),
            Problem::StaleNumber { number, id } => format!("#{number}→{id}"),
            Problem::Unnumbered { id } | Problem::Unassigned { id } => id.clone(),
            Problem::UnclaimedMember { id, cluster } | Problem::NotAMember { id, cluster } => {
                format!("{id} in {cluster}")
            }
            Problem::StrayMember { cluster, id, .. } => format!("{id} in {cluster}"),
            Problem::Ghost { cluster, member } => format!("{} in {cluster}", member_label(member)),
            Problem::UnfinishedMerge { from, into } | Problem::BrokenForward { from, into } => format!("{from}→{into}"),
            Problem::WrongCanonical { cluster, first, expected } => format!("{cluster}: {first} before {expected}"),
            Problem::StaleSingleton { cluster } => cluster.to_string(),
        }
    }
}

/// A stored member for a message: the id it ends with when it has a rank in front.
fn member_label(member: &str) -> &str {
    member.get(1 + 2 * 16..).filter(|id| !id.is_empty()).unwrap_or(member)
}

/// How to check.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Unassigned articles ingested within this long are ingests in progress, not problems (ignored
    /// for a store read exclusively).
    pub in_flight: Duration,
    /// The time to compare ingest times with.
    pub now: Micros,
}

impl Options {
    /// Options at the current time.
    pub fn new(in_flight: Duration) -> Self {
        Options { in_flight, now: now_micros() }
    }
}

/// What was counted while checking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Records.
    pub articles: usize,
    /// Unassigned records young enough to be ingests in progress.
    pub in_flight: usize,
    /// Postings.
    pub postings: usize,
    /// Clusters with members and no forward.
    pub clusters: usize,
    /// Members of those clusters.
    pub members: usize,
    /// Forwards.
    pub forwards: usize,
}

/// The outcome of one check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The store, as [`Inventory::name`].
    pub store: String,
    /// What was counted.
    pub counts: Counts,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Problems by kind, with how many and up to `examples` subjects each, most frequent first.
    pub fn by_kind(&self, examples: usize) -> Vec<(&'static str, usize, Vec<String>)> {
        let mut kinds: BTreeMap<&'static str, (usize, Vec<String>)> = BTreeMap::new();
        for problem in &self.problems {
            let entry = kinds.entry(problem.kind()).or_default();
            entry.0 += 1;
            if entry.1.len() < examples {
                entry.1.push(problem.subject());
            }
        }
        let mut kinds: Vec<_> = kinds.into_iter().map(|(kind, (count, subjects))| (kind, count, subjects)).collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kinds
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(
            f,
            "{}: {} articles ({} in flight), {} postings, {} clusters ({} members), {} forwards",
            self.store, c.articles, c.in_flight, c.postings, c.clusters, c.members, c.forwards
        )?;
        if self.problems.is_empty() {
            return writeln!(f, "no problems");
        }
        writeln!(f, "{} problems:", self.problems.len())?;
        for (kind, count, examples) in self.by_kind(3) {
            let more = if count > examples.len() { ", …" } else { "" };
            writeln!(f, "  {kind}: {count} ({}{more})", examples.join(", "))?;
        }
        Ok(())
    }
}

/// A store that can be read whole and repaired.
#[async_trait]
pub trait Verify: Send + Sync {
    /// Reads everything the store holds.
    async fn inventory(&self) -> Result<Inventory>;

    /// Repairs one problem found by [`check`]; `false` when this store cannot repair that kind (the
    /// problem stays). Idempotent: a problem gone meanwhile is no error.
    async fn repair(&self, problem: &Problem) -> Result<bool>;
}

/// Opens the store a URL names, as [`super::open`] reads it, for checking: the embedded store keeps
/// the articles whose ingest was cut short, for the check to report (and [`repair`] to remove); it
/// holds the data directory, so no server may run on it meanwhile.
pub async fn open(url: &str, data_dir: &Path, namespace: Option<&str>) -> Result<Box<dyn Verify>> {
    super::check_url(url, namespace)?;
    let url = url.trim();
    let embedded = match url {
        "" | "embedded" | "embedded://" => Some(data_dir),
        _ => url.strip_prefix("embedded://").map(Path::new),
    };
    if let Some(dir) = embedded {
        // a mistyped directory must not check clean as a new, empty store
        if !dir.join(super::embedded::DATA_FILE).exists() {
            return Err(crate::error::Error::invalid("data_dir", format!("no embedded store in {}", dir.display())));
        }
        return Ok(Box::new(super::embedded::EmbeddedStore::open_for_verify(dir)?));
    }
    if matches!(url, "memory" | "memory://") {
        return Ok(Box::new(super::memory::MemoryStore::new()));
    }
    let namespace = namespace.unwrap_or(super::redis::DEFAULT_NAMESPACE);
    if url.starts_with("redis+cluster://") {
        return Ok(Box::new(super::redis::RedisClusterStore::connect_with_namespace(url, namespace).await?));
    }
    Ok(Box::new(super::redis::RedisStore::connect_with_namespace(url, namespace).await?))
}

/// One invariant: adds what breaks it to `problems`.
type Check = fn(&Facts<'_>, &mut Vec<Problem>);

/// Every check, in the order problems are listed.
const CHECKS: [Check; 5] = [check_postings, check_numbers, check_forwards, check_members, check_records];

/// The inventory with what the checks share worked out once.
struct Facts<'a> {
    inventory: &'a Inventory,
    options: Options,
    /// Live clusters (with members and no forward) listing each article, with the member.
    listed_in: HashMap<&'a str, Vec<(&'a ClusterId, &'a Member)>>,
    /// Closed clusters still listing each article (a merge cut short moves them on).
    pending_in: HashMap<&'a str, Vec<&'a ClusterId>>,
}

impl Facts<'_> {
    /// The live end of a chain of forwards; `None` when a forward on it is broken (points to a newer
    /// cluster, which is also how a cycle shows).
    fn resolve<'c>(&'c self, cluster: &'c ClusterId) -> Option<&'c ClusterId> {
        let mut current = cluster;
        while let Some(next) = self.inventory.forwards.get(current) {
            if next >= current {
                return None;
            }
            current = next;
        }
        Some(current)
    }

    /// An unassigned article ingested recently enough to be an ingest in progress.
    fn in_flight(&self, article: &StoredArticle) -> bool {
        let window = i64::try_from(self.options.in_flight.as_micros()).unwrap_or(i64::MAX);
        !self.inventory.exclusive && self.options.now.saturating_sub(article.ingested_us) < window
    }

    /// Whether the stored member is this record's version.
    fn matches(record: &Record, member: &Member) -> bool {
        let a = &record.article;
        member.rank == Some((a.tier, a.published_us, a.ingested_us))
    }
}

/// Checks every invariant over `inventory`.
pub fn check(inventory: &Inventory, options: Options) -> Report {
    let mut listed_in: HashMap<&str, Vec<(&ClusterId, &Member)>> = HashMap::new();
    let mut pending_in: HashMap<&str, Vec<&ClusterId>> = HashMap::new();
    let (mut clusters, mut members) = (0, 0);
    for (cluster, list) in &inventory.clusters {
        if list.is_empty() {
            continue;
        }
        if inventory.forwards.contains_key(cluster) {
            for member in list {
                pending_in.entry(member.id.as_str()).or_default().push(cluster);
            }
            continue;
        }
        clusters += 1;
        members += list.len();
        for member in list {
            listed_in.entry(member.id.as_str()).or_default().push((cluster, member));
        }
    }
    let facts = Facts { inventory, options, listed_in, pending_in };
    let mut problems = inventory.problems.clone();
    for check in CHECKS {
        check(&facts, &mut problems);
    }
    let in_flight =
        inventory.records.values().filter(|r| r.article.cluster_id.is_none() && facts.in_flight(&r.article)).count();
    Report {
        store: inventory.name.clone(),
        counts: Counts {
            articles: inventory.records.len(),
            in_flight,
            postings: inventory.postings.len(),
            clusters,
            members,
            forwards: inventory.forwards.len(),
        },
        problems,
    }
}

/// Every posting names a stored article, by its current number, and one of its band keys.
fn check_postings(facts: &Facts<'_>, problems: &mut Vec<Problem>) {
    let inventory = facts.inventory;
    for (band, posted) in &inventory.postings {
        let record = match posted {
            Posted::Id(id) => inventory.records.get(id),
            Posted::Number(number) => inventory
                .numbers
                .get(number)
                .and_then(|id| inventory.records.get(id))
                .filter(|record| record.number == Some(*number)),
        };
        if !record.is_some_and(|record| record.article.band_keys.contains(band)) {
            problems.push(Problem::DanglingPosting { band: *band, posted: posted.clone() });
        }
    }
}

/// Every number maps to the record that carries it, and every record's number maps back to it.
fn check_numbers(facts: &Facts<'_>, problems: &mut Vec<Problem>) {
    let inventory = facts.inventory;
    for (&number, id) in &inventory.numbers {
        if inventory.records.get(id).and_then(|record| record.number) != Some(number) {
            problems.push(Problem::StaleNumber { number, id: id.clone() });
        }
    }
    for (id, record) in &inventory.records {
        if let Some(number) = record.number
            && inventory.numbers.get(&number) != Some(id)
        {
            problems.push(Problem::Unnumbered { id: id.clone() });
        }
    }
}

/// Forwards point to older clusters and their chains end; a closed cluster holds no members.
fn check_forwards(facts: &Facts<'_>, problems: &mut Vec<Problem>) {
    let inventory = facts.inventory;
    for (from, into) in &inventory.forwards {
        // forwards only ever point to older ids, so a chain ends; a cycle needs a hop that does not
        if into >= from {
            problems.push(Problem::BrokenForward { from: from.clone(), into: into.clone() });
            continue;
        }
        // members of a cluster whose chain is broken further on have nowhere to move
        let moves_somewhere = facts.resolve(from).is_some();
        if moves_somewhere && inventory.clusters.get(from).is_some_and(|members| !members.is_empty()) {
            problems.push(Problem::UnfinishedMerge { from: from.clone(), into: into.clone() });
        }
    }
}

/// Every member of a live cluster is the stored version of an article that belongs there, and the
/// first member is the first in canonical order.
fn check_members(facts: &Facts<'_>, problems: &mut Vec<Problem>) {
    let inventory = facts.inventory;
    for (cluster, members) in &inventory.clusters {
        if members.is_empty() || inventory.forwards.contains_key(cluster) {
            continue;
        }
        let mut live: Vec<&Record> = Vec::new();
        for member in members {
            let Some(record) = inventory.records.get(&member.id).filter(|record| Facts::matches(record, member)) else {
                problems.push(Problem::Ghost { cluster: cluster.clone(), member: member.raw.clone() });
                continue;
            };
            live.push(record);
            match &record.article.cluster_id {
                None if facts.in_flight(&record.article) => {}
                None => problems.push(Problem::UnclaimedMember { id: member.id.clone(), cluster: cluster.clone() }),
                Some(named) => {
                    if facts.resolve(named).is_some_and(|end| end != cluster) {
                        problems.push(Problem::StrayMember {
                            cluster: cluster.clone(),
                            id: member.id.clone(),
                            member: member.raw.clone(),
                        });
                    }
                }
            }
        }
        let pinned: HashSet<&str> =
            members.iter().filter(|member| member.pinned).map(|member| member.id.as_str()).collect();
        let first = live.first().map(|record| &record.article);
        let expected = live
            .iter()
            .map(|record| &record.article)
            .min_by_key(|a| (!pinned.contains(a.meta.id.as_str()), a.canonical_rank()));
        if let (Some(first), Some(expected)) = (first, expected)
            && first.meta.id != expected.meta.id
        {
            problems.push(Problem::WrongCanonical {
                cluster: cluster.clone(),
                first: first.meta.id.clone(),
                expected: expected.meta.id.clone(),
            });
        }
    }
}

/// Every record is assigned (or an ingest in progress), and its cluster lists it.
fn check_records(facts: &Facts<'_>, problems: &mut Vec<Problem>) {
    for (id, record) in &facts.inventory.records {
        let listed = facts.listed_in.get(id.as_str());
        let Some(named) = &record.article.cluster_id else {
            // listed somewhere: an unclaimed member (see `check_members`)
            if listed.is_none() && !facts.in_flight(&record.article) {
                problems.push(Problem::Unassigned { id: id.clone() });
            }
            continue;
        };
        // a chain that does not end is a broken forward (see `check_forwards`)
        let Some(live) = facts.resolve(named) else { continue };
        let member_there =
            listed.is_some_and(|clusters| clusters.iter().any(|(c, m)| *c == live && Facts::matches(record, m)));
        // a closed cluster on the way still holding it: the unfinished merge moves it on
        let pending = facts
            .pending_in
            .get(id.as_str())
            .is_some_and(|closed| closed.iter().any(|closed| facts.resolve(closed) == Some(live)));
        if !member_there && !pending && !facts.in_flight(&record.article) {
            problems.push(Problem::NotAMember { id: id.clone(), cluster: live.clone() });
        }
    }
}

/// What a repair run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Repaired {
    /// The first check, before any repair.
    pub found: Report,
    /// Problems repaired.
    pub repaired: usize,
    /// The last check, after the repairs.
    pub left: Report,
}

/// Passes of check-and-repair at most: a repair can reveal another problem (a merge finished
/// moves members that then show what their records say).
const REPAIR_PASSES: usize = 4;

/// Checks the store.
pub async fn verify(store: &dyn Verify, options: Options) -> Result<Report> {
    Ok(check(&store.inventory().await?, options))
}

/// Checks the store, repairs what it can, and checks again until nothing repairable is left.
pub async fn repair(store: &dyn Verify, in_flight: Duration) -> Result<Repaired> {
    let found = verify(store, Options::new(in_flight)).await?;
    let mut outcome = Repaired { found: found.clone(), repaired: 0, left: found };
    for _ in 0..REPAIR_PASSES {
        let mut progress = false;
        for problem in &outcome.left.problems {
            if store.repair(problem).await? {
                outcome.repaired += 1;
                progress = true;
            }
        }
        if !progress {
            break;
        }
        tracing::info!(repaired = outcome.repaired, "repair pass done; checking again");
        outcome.left = verify(store, Options::new(in_flight)).await?;
    }
    Ok(outcome)
}
