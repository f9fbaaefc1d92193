//! Domain types shared by the engine, the stores and the gRPC layer.
//!
//! These are not the prost structs: wire types stay at the edge ([`crate::grpc::convert`]), so the engine
//! and the stores never depend on the proto schema. Times are microseconds since the Unix epoch (UTC).

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// The current time in microseconds since the Unix epoch.
pub fn now_micros() -> Micros {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// A time for messages and logs: RFC 3339 in UTC, or the microseconds when chrono cannot represent
/// it.
pub fn rfc3339(micros: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("{micros} µs since the epoch"))
}

/// An article as a client sends it, already validated by [`crate::engine::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub id: String,
    pub url: String,
    pub source: String,
    pub title: String,
    pub body: String,
    /// As sent; `None` means "the time of ingest".
    pub published_at: Option<Micros>,
}

/// The metadata kept for every article, enough to answer `GetArticle` and `GetCluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleMeta {
    pub id: String,
    pub url: String,
    pub source: String,
    pub title: String,
}

/// How far an article's source is trusted to publish originals: the first field of the canonical order
/// (see [`crate::engine::sources`]). Decided at ingest from the configured lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SourceTier {
    /// On the trusted-sources list: outranks any other source, whatever time that one claims.
    Trusted = 0,
    #[default]
    Ordinary = 1,
    /// On the known-aggregators list: never outranks an ordinary or trusted source.
    Aggregator = 2,
}

impl SourceTier {
    /// One digit, sorting as the tier does (the Redis store's cluster members start with it).
    pub fn digit(self) -> char {
        match self {
            SourceTier::Trusted => '0',
            SourceTier::Ordinary => '1',
            SourceTier::Aggregator => '2',
        }
    }
}

/// What a store keeps per article: metadata, fingerprint and cluster membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredArticle {
    pub meta: ArticleMeta,
    pub tier: SourceTier,
    /// Effective publication time: as sent, clamped to the time of ingest.
    pub published_us: Micros,
    /// When this version was ingested; breaks ties between equal publication times.
    pub ingested_us: Micros,
    /// Hash of everything the client sent, so that a re-ingest of the same content is recognised.
    pub content_hash: u64,
    pub fingerprint: Fingerprint,
    /// The band keys the article is posted under (see [`Fingerprint::band_keys`]): fixed at ingest,
    /// since what counts as boilerplate is learned over time.
    pub band_keys: Vec<u64>,
    /// The cluster the article belongs to; `None` only between insert and assignment (see
    /// [`crate::store::Store::assign`]). Stores always return the current (merged-into) cluster.
    pub cluster_id: Option<ClusterId>,
}

impl StoredArticle {
    /// The order in which members compete to be the canonical: best source tier, then earliest
    /// published, then first ingested, then id (so the order is total and every store agrees).
    pub fn canonical_rank(&self) -> (SourceTier, Micros, Micros, &str) {
        (self.tier, self.published_us, self.ingested_us, &self.meta.id)
    }
}

/// A cluster id. Ids are `{micros:016x}-{hash:08x}` of the moment the cluster was founded and of its
/// founding article, so that comparing two ids as strings tells which cluster is older: on a merge the
/// older id survives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterId(pub String);

impl ClusterId {
    pub fn new(founded_us: Micros, founder: &str) -> Self {
        let tag = xxhash_rust::xxh3::xxh3_64(founder.as_bytes()) as u32;
        ClusterId(format!("{:016x}-{tag:08x}", founded_us.max(0)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One verified match of an article against a stored one.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub id: String,
    /// See [`crate::engine::rules::Comparison::similarity`].
    pub similarity: f64,
    pub hamming_distance: u32,
}

/// The outcome of an ingest or a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub id: String,
    /// True when the article is not its cluster's canonical.
    pub duplicate: bool,
    /// `None` only for a check whose article would found a new cluster.
    pub cluster_id: Option<ClusterId>,
    pub canonical_id: String,
    /// Verified matches, best first, at most [`crate::engine::MAX_MATCHES`].
    pub matches: Vec<Match>,
    pub simhash: u64,
}

/// A cluster as `GetCluster` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub cluster_id: ClusterId,
    /// Members in canonical order: the canonical first.
    pub members: Vec<StoredArticle>,
}

/// The answer to `DeleteArticle`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deleted {
    pub deleted: bool,
    /// The canonical of the article's cluster after the delete, if the cluster still has members.
    pub canonical_id: Option<String>,
}
