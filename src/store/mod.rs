//! Where articles, band postings and clusters live.
//!
//! [`Store`] is the only thing the engine knows about storage; its doc comments are the contract, and
//! `tests/store_conformance.rs` checks every backend against it. The backends:
//!
//! - [`memory`]: in-process, gone on exit; tests and throwaway runs (`memory://`);
//! - [`embedded`]: the same in-process index, made durable in a redb file under the data directory
//!   (the default);
//! - [`redis`]: Redis or a Redis Cluster, for several replicas sharing one index (`redis://`,
//!   `rediss://`, `redis+cluster://`).
//!
//! [`open`] picks the backend from a URL, the way a user configures it; [`verify`] checks a store's
//! invariants and repairs what a crash left half-done (`dedupd verify`).
//!
//! # The clustering protocol
//!
//! An ingest is two atomic steps, so that no lock spans the engine's verification work and several
//! servers can share a store:
//!
//! 1. [`Store::insert_and_lookup`] posts the article under its band keys (unassigned) and, in the same
//!    atomic step, returns the other articles posted under those keys. Because every article is inserted
//!    *before* it looks, of two racing near-duplicates at least one sees the other.
//! 2. [`Store::assign`] unites the article's cluster with the clusters of the candidates the engine
//!    verified, passed back as the lookup returned them. A verified candidate that is still
//!    unassigned is adopted into the same cluster, so the racing pair meets whichever of them sees the
//!    other.

pub mod embedded;
pub mod feed;
pub mod local;
pub mod memory;
pub mod metered;
pub mod redis;
pub mod verify;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, Verdict};
use crate::error::{Error, Result};

use self::feed::{DuplicateEvent, EventCursor, FeedBounds, FeedTrim};

/// An article found under at least one of the band keys looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The stored article, with its cluster as the lookup saw it.
    pub article: StoredArticle,
    /// How many of the looked-up keys the article is posted under.
    pub shared_keys: u32,
}

/// The head of a cluster among the candidates: its canonical, for the merge rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterHead {
    /// The cluster.
    pub cluster_id: ClusterId,
    /// Its canonical when the lookup read it.
    pub canonical: StoredArticle,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lookup {
    /// At most `limit` candidates, most shared keys first (ties by id, so every store agrees).
    pub candidates: Vec<Candidate>,
    /// The canonical of every cluster a candidate belongs to, in no particular order.
    pub clusters: Vec<ClusterHead>,
}

/// The outcome of [`Store::insert_and_lookup`].
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// An article with this id and the same `content_hash` exists: nothing was written. Carries the
    /// stored article (its current cluster) and its cluster's canonical id.
    Unchanged {
        /// The stored article, with its current cluster.
        article: Box<StoredArticle>,
        /// Its cluster's canonical.
        canonical_id: String,
    },
    /// The article was written (replacing an older version of it, if any) and is unassigned.
    New(Lookup),
}

/// The outcome of [`Store::assign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The cluster the article ended in (the survivor of any merge).
    pub cluster_id: ClusterId,
    /// That cluster's canonical.
    pub canonical_id: String,
}

/// The outcome of [`Store::expire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expired {
    /// Articles removed by this call.
    pub removed: usize,
    /// The call stopped at its limit: articles published before the cutoff may be left, and another
    /// call removes them. `false` means none is left (as far as the store knows at that moment).
    pub more: bool,
}

/// Band keys a stored article must share with a looked-up one to be its candidate.
///
/// An article posts 24 keys, so a copy shares many; most articles that share exactly one key share a
/// common phrase or a common skeleton ("_ said on _ that the _"), and they are nearly all the
/// candidates while nearly none is a match. Requiring two cuts the candidates verified per article
/// many times over and keeps the cost of a lookup from growing with the longest posting lists
/// (`docs/performance.md`, *The lookup's bounds*).
pub const MIN_SHARED_KEYS: u32 = 2;

/// A lookup reads at most this many articles posted under one band key: the oldest. (Redis, which
/// stores postings compactly, stores no more than this under a key either: they would never be read.)
///
/// Keys posted by many articles are common phrases or common skeletons, shared by unrelated articles
/// alike; reading them whole would make every lookup cost a share of the index. Reading the oldest
/// rather than skipping the key keeps a viral story findable: its original and first copies are among
/// the oldest postings of its own keys, so the thousandth copy still meets them. A lookup's work grows
/// with the corpus only through the keys that fill up, each costing its whole bound. At 32 the labelled
/// sets score as they do unbounded, and a smaller bound starts losing copies (`docs/performance.md`,
/// *The lookup's bounds*).
pub const POSTINGS_READ_PER_KEY: usize = 32;

/// What [`Store::visit_recent`] shows each article to.
pub type Visitor<'v> = dyn for<'a> FnMut(&'a StoredArticle) + Send + 'v;

/// The storage contract: what the engine may rely on, whatever the backend.
///
/// All methods are atomic with respect to each other: a concurrent caller sees either none or all of
/// a call's effects. Every id is an article id (a string); unknown ids are never an error unless said
/// so. `tests/store_conformance.rs` checks every backend against these doc comments.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and metrics: `memory`, `embedded`, `redis`, `redis-cluster`.
    fn kind(&self) -> &'static str;

    /// The article with this id, with its current `cluster_id` (after any merge), or `None`.
    async fn get(&self, id: &str) -> Result<Option<StoredArticle>>;

    /// Insert-then-look, atomically:
    ///
    /// - if an article with `article.meta.id` exists with the same `content_hash`, changes nothing and
    ///   returns [`Inserted::Unchanged`];
    /// - otherwise removes any older version exactly as [`Store::delete`] would, writes `article`
    ///   (whose `cluster_id` must be `None`) posted under its `band_keys`, and returns the up to
    ///   `limit` other articles posted under at least [`MIN_SHARED_KEYS`] of those keys (reading at
    ///   most [`POSTINGS_READ_PER_KEY`] of each), with their clusters' canonicals.
    ///
    /// The write is durable (as far as the store is configured to make it) at the latest when the
    /// [`Store::assign`] that follows returns: an ingest is acknowledged only after both. An article
    /// left unassigned by an interrupted ingest is reported `Unchanged` (with `cluster_id: None`) to a
    /// retry, which then assigns it.
    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted>;

    /// The up to `limit` articles posted under at least [`MIN_SHARED_KEYS`] of `keys` (reading at most
    /// [`POSTINGS_READ_PER_KEY`] of each), with their clusters' canonicals. Writes nothing.
    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup>;

    /// Puts `article` in a cluster, atomically: the union of its current cluster (if it was adopted
    /// meanwhile) and the current clusters of `links`. Linked articles that are unassigned join too.
    /// With no cluster to join, a new one is founded, with id `ClusterId::new(now, id)`. When clusters
    /// merge, the oldest id (the smallest) survives, every member reports it, and the others forward to
    /// it. Links that no longer exist are ignored.
    ///
    /// The records are passed back as the ingest got them, so that a store need not read again what
    /// its lookup read: `article` as [`Store::insert_and_lookup`] wrote it (or returned it
    /// `Unchanged` and unassigned), `links` as a lookup of the same ingest returned them (candidates,
    /// with their `cluster_id` then). A store may rely on what a stored version never changes: its id,
    /// tier, published and ingested times. Everything else it must check where it writes, or make
    /// safe: since the lookup, any of these articles may have been deleted or replaced by another
    /// version, an unassigned one adopted by a racing ingest, and a cluster merged into another, so a
    /// `cluster_id` passed back tells where the article was, not where it is.
    ///
    /// Fails with `NotFound` if `article` itself no longer exists (it was deleted meanwhile; a store
    /// that tells versions apart also when another version replaced it).
    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned>;

    /// The cluster with this id, or the one it was merged into; `None` if unknown or empty.
    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>>;

    /// Removes the article, its postings and its cluster membership. A cluster whose canonical is
    /// removed elects the next member in canonical order; the cluster never splits. Deleting an unknown
    /// id returns `deleted: false`.
    async fn delete(&self, id: &str) -> Result<Deleted>;

    /// Retention: removes articles whose effective publication time (`published_us`) is before
    /// `cutoff`, each exactly as [`Store::delete`] would (postings, cluster membership; a cluster whose
    /// canonical expires elects the next member in canonical order, and an emptied cluster is gone).
    /// Unassigned articles (an ingest in flight or cut short) expire too.
    ///
    /// A bounded batch: the call handles at most `limit` entries of the store's time index, so it
    /// removes at most `limit` articles (a store whose index keeps stale entries, of articles deleted
    /// or re-ingested with another time since, may remove fewer). [`Expired::more`] tells whether to
    /// call again. An article re-ingested with a publication time at or after `cutoff` is kept.
    ///
    /// Idempotent, and safe to run from several replicas at once (each article is removed once, by
    /// whichever call gets there first). Reads the index from its oldest entries: never a scan of the
    /// articles (a Redis Cluster also reads each hash slot's short list of days).
    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired>;

    /// Shows `visit` up to `limit` of the most recently published stored articles, oldest of them
    /// first: what a starting engine learns its boilerplate model from, so that a restart (or a new
    /// replica) does not start it empty. Memory and embedded stores show exactly the `limit` latest
    /// by publication time; the Redis stores read their time index from its newest bucket down
    /// (standalone: hours; cluster: each slot's eight newest days, so no older), so "recent" and "oldest
    /// first" hold to the bucket, and entries of deleted articles count towards `limit`. An article
    /// is shown once. The default, for a store that cannot list its articles cheaply, shows none, and
    /// the model starts empty.
    async fn visit_recent(&self, _limit: usize, _visit: &mut Visitor<'_>) -> Result<()> {
        Ok(())
    }

    // ---------------------------------------------------------------------------------------------
    // moderation verdicts (see `docs/moderation.md`)
    //
    // A cluster's canonical is its first *pinned* member in canonical order, else its first member:
    // a pin belongs to the article (it goes with it through merges and splits) and lasts until the
    // article is removed (deleted, expired or re-ingested with other content) or another member of
    // its cluster is pinned. Every reader of a cluster (`cluster`, the heads a lookup returns,
    // `assign`'s and `delete`'s canonical) follows this order. Two clusters are *kept apart* by a
    // split; apartness is recorded between cluster ids and follows merges: a cluster merged into
    // another passes its apartness on, and an id is resolved through forwards when read.

    /// Splits `moving` (articles as read from the store) off the live cluster `from` resolves to, into
    /// the new cluster `into` (an id no cluster has, `ClusterId::new(now, first moving id)`), and keeps
    /// the two apart from then on. A moving article that is no longer a member of `from` (deleted,
    /// re-ingested, moved) is left where it is. Pins go with their articles.
    ///
    /// Calling it again with the same `from` and `into` (and any `moving`, even none) is safe and
    /// completes a split cut short: a backend that splits in several steps (Redis Cluster) records
    /// `into`'s members first, and this moves whatever `into` holds. Fails with `NotFound` if `from`
    /// names no cluster.
    async fn split(&self, from: &ClusterId, moving: &[&StoredArticle], into: &ClusterId) -> Result<Split>;

    /// The pairs among `clusters` (ids as given, each resolved through forwards) whose live clusters
    /// are kept apart, each pair once, in no particular order. Two ids of one live cluster are never
    /// a pair. Writes nothing.
    async fn kept_apart(&self, clusters: &[ClusterId]) -> Result<Vec<(ClusterId, ClusterId)>>;

    /// Lifts any apartness between the live clusters of `a` and `b`, then unites them as
    /// [`Store::assign`] merges: the oldest id survives and the other forwards to it. Returns the
    /// survivor and its canonical. Fails with `NotFound` if either names no cluster.
    async fn join(&self, a: &ClusterId, b: &ClusterId) -> Result<Assigned>;

    /// Pins `article` as the canonical of its live cluster, unpinning any other member of it.
    /// Returns the cluster (live id) and its canonical afterwards (`article`), or `None` when the
    /// article is not (or no longer) stored as it was passed, or is in no cluster.
    async fn pin(&self, article: &StoredArticle) -> Result<Option<Assigned>>;

    /// Appends `verdict` to the verdict log, giving it the next `seq` (from 1), and returns it.
    /// Verdicts stay in the log whatever happens to their articles.
    async fn record_verdict(&self, verdict: Verdict) -> Result<Verdict>;

    /// Up to `limit` verdicts of the log, newest first, starting below `before` (a `seq`; `None`:
    /// from the newest). A verdict's `seq` never changes, so paging by it is stable.
    async fn verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>>;

    // The duplicate feed (see [`feed`]): a log of the duplicates found, newest last.

    /// Appends `event` to the duplicate feed (its `cursor` is ignored) and returns the cursor it got,
    /// larger than every cursor handed out before; then trims the log by `trim`, oldest first,
    /// remembering the largest cursor trimmed ([`FeedBounds::trimmed`]). A store may trim a bounded
    /// number of events per append, so the log may exceed `trim.max_len` for a while after the limit
    /// is lowered.
    ///
    /// Idempotent per article version: when an event with the same article id and `version` was
    /// appended within [`feed::DEDUP_WINDOW`], appends nothing and returns `None`, so that a retried
    /// ingest records its duplicate once. Once this returns, every reader sees the event.
    async fn append_duplicate(&self, event: &DuplicateEvent, trim: &FeedTrim) -> Result<Option<EventCursor>>;

    /// Up to `limit` events, newest first, each with a cursor smaller than `before` (`None`: from the
    /// newest).
    async fn duplicates_before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>>;

    /// Up to `limit` events, oldest first, each with a cursor larger than `after`.
    async fn duplicates_after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>>;

    /// The oldest and newest cursors of the log and the largest one trimmed away.
    async fn feed_bounds(&self) -> Result<FeedBounds>;

    // kept text (`--keep-text`, which `Explain` by ids reads)

    /// Keeps `text` (an article's body as the engine encodes it; opaque here) for the stored version
    /// of article `id` whose content hash is `content_hash`, replacing any text kept for it. Returns
    /// whether it was written: `false`, writing nothing, when no such version is stored (deleted,
    /// expired or replaced by another version meanwhile), so that a text never outlives its article
    /// nor lands on another version of it. The engine calls it between [`Store::insert_and_lookup`]
    /// and [`Store::assign`]; it is durable as the insert is, at the latest when that assign returns.
    ///
    /// A kept text goes with its article, in the same atomic step that removes the record: by
    /// [`Store::delete`], by [`Store::expire`], and by the replacement of the article by another
    /// version in [`Store::insert_and_lookup`].
    async fn put_text(&self, id: &str, content_hash: u64, text: &[u8]) -> Result<bool>;

    /// The text kept for article `id`, as [`Store::put_text`] was given it; `None` when the article
    /// is unknown or no text was kept for its stored version.
    async fn text(&self, id: &str) -> Result<Option<Vec<u8>>>;
}

/// The outcome of [`Store::split`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The live cluster split from.
    pub from: ClusterId,
    /// Its canonical afterwards; `None` if nothing is left in it.
    pub from_canonical: Option<String>,
    /// The cluster split off.
    pub into: ClusterId,
    /// Its canonical; `None` if nothing moved.
    pub into_canonical: Option<String>,
}

/// Opens the store a URL names: `memory://`, `embedded://` (or empty) for the embedded store in
/// `data_dir`, `embedded:///some/dir` for one elsewhere, `redis://…` or `rediss://…`, or
/// `redis+cluster://host:port[,host:port…]` (`rediss+cluster://` with TLS) for a Redis Cluster.
///
/// `namespace` prefixes every key of a Redis store ([`redis::DEFAULT_NAMESPACE`] when `None`), so that
/// tenants share one Redis. The other stores refuse one rather than ignore it: an embedded store is one
/// index per directory, and a tenant gets its own with another `data_dir`.
pub async fn open(url: &str, data_dir: &Path, namespace: Option<&str>) -> Result<Arc<dyn Store>> {
    open_with(url, data_dir, namespace, &redis::RedisOptions::default()).await
}

/// Like [`open`], with the options of a Redis store (`--redis-*`); other stores refuse them rather
/// than ignore them.
pub async fn open_with(
    url: &str,
    data_dir: &Path,
    namespace: Option<&str>,
    options: &redis::RedisOptions,
) -> Result<Arc<dyn Store>> {
    let parsed = StoreUrl::parse(url, data_dir, namespace)?;
    let local = matches!(parsed, StoreUrl::Embedded(_) | StoreUrl::Memory);
    if local && (options.wait_replicas > 0 || options.ca.is_some()) {
        return Err(Error::invalid(
            if options.wait_replicas > 0 { "redis_wait_replicas" } else { "redis_ca" },
            "given, but the store is not redis",
        ));
    }
    let namespace = namespace.unwrap_or(redis::DEFAULT_NAMESPACE);
    Ok(match parsed {
        StoreUrl::Embedded(dir) => Arc::new(embedded::EmbeddedStore::open(dir)?),
        StoreUrl::Memory => Arc::new(memory::MemoryStore::new()),
        StoreUrl::Redis(url) => Arc::new(redis::RedisStore::connect_with_options(url, namespace, options).await?),
        StoreUrl::Cluster(url) => {
            Arc::new(redis::RedisClusterStore::connect_with_options(url, namespace, options).await?)
        }
    })
}

/// Checks a store URL and namespace as [`open`] would read them, connecting to nothing: the scheme is
/// known, a namespace is given only to a Redis store and is valid, and a Redis URL parses.
/// `dedupd config check` uses it to refuse a configuration before a server is started with it.
pub fn check_url(url: &str, namespace: Option<&str>) -> Result<()> {
    let nodes: Vec<String> = match StoreUrl::parse(url, Path::new(""), namespace)? {
        StoreUrl::Embedded(_) | StoreUrl::Memory => return Ok(()),
        StoreUrl::Redis(url) => vec![url.to_string()],
        StoreUrl::Cluster(url) => {
            let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
            let hosts = rest.rsplit_once('@').map_or(rest, |(_, hosts)| hosts).trim_end_matches('/');
            hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("redis://{h}")).collect()
        }
    };
    if nodes.is_empty() {
        return Err(Error::invalid("store", "a redis cluster url needs at least one host:port"));
    }
    for node in nodes {
        if let Err(error) = ::redis::Client::open(node.as_str()) {
            return Err(Error::invalid("store", format!("invalid redis url: {error}")));
        }
    }
    Ok(())
}

/// A store URL as [`open`] and [`check_url`] read it.
enum StoreUrl<'a> {
    Embedded(&'a Path),
    Memory,
    Redis(&'a str),
    Cluster(&'a str),
}

impl<'a> StoreUrl<'a> {
    /// Reads `url` (the embedded store defaulting to `data_dir`), refusing an unknown scheme and a
    /// namespace given to a store in the process.
    fn parse(url: &'a str, data_dir: &'a Path, namespace: Option<&str>) -> Result<StoreUrl<'a>> {
        let url = url.trim();
        let parsed = match url {
            "" | "embedded" | "embedded://" => StoreUrl::Embedded(data_dir),
            "memory" | "memory://" => StoreUrl::Memory,
            _ if url.starts_with("embedded://") => StoreUrl::Embedded(Path::new(&url["embedded://".len()..])),
            _ if url.starts_with("redis+cluster://") || url.starts_with("rediss+cluster://") => StoreUrl::Cluster(url),
            _ if url.starts_with("redis://") || url.starts_with("rediss://") => StoreUrl::Redis(url),
            _ => {
                return Err(Error::invalid(
                    "store",
                    format!(
                        "unsupported store url {url:?}: expected memory://, embedded://[DIR], redis://, rediss://, redis+cluster:// or rediss+cluster://"
                    ),
                ));
            }
        };
        match (&parsed, namespace) {
            (StoreUrl::Embedded(_) | StoreUrl::Memory, Some(namespace)) => {
                let instead = match parsed {
                    StoreUrl::Embedded(_) => "give each embedded store its own data directory instead",
                    _ => "a memory store is one process's own already",
                };
                Err(Error::invalid(
                    "namespace",
                    format!("{namespace:?} given, but only redis stores have namespaces: {instead}"),
                ))
            }
            (StoreUrl::Redis(_) | StoreUrl::Cluster(_), namespace) => {
                redis::validate_namespace(namespace.unwrap_or(redis::DEFAULT_NAMESPACE))?;
                Ok(parsed)
            }
            _ => Ok(parsed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_url;

    /// `check_url` accepts every scheme `open` serves and refuses what `open` would: an unknown
    /// scheme, a namespace for a store in the process, an invalid namespace, a cluster without hosts.
    #[test]
    fn check_url_reads_urls_as_open_does() {
        for url in ["", "embedded://", "embedded:///var/lib/x", "memory://", "redis://h:1", "rediss://u:p@h:1"] {
            assert!(check_url(url, None).is_ok(), "{url}");
        }
        for url in ["redis+cluster://a:1,b:2", "rediss+cluster://u:p@a:1,b:2"] {
            assert!(check_url(url, Some("tenant-a")).is_ok(), "{url}");
        }
        assert!(check_url("postgres://h", None).is_err());
        assert!(check_url("embedded://", Some("tenant")).is_err());
        assert!(check_url("memory://", Some("tenant")).is_err());
        assert!(check_url("redis://h:1", Some("no spaces allowed")).is_err());
        assert!(check_url("redis+cluster://", None).is_err());
    }
}
