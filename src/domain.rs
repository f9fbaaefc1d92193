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
    /// The caller's id: one article per id (per namespace), replaced when re-ingested with other content.
    pub id: String,
    /// Where the article was published; shown back, never compared.
    pub url: String,
    /// The publishing site (a domain): picks the source tier, the boilerplate model and the
    /// same-source rule.
    pub source: String,
    /// The headline; shown back, not fingerprinted.
    pub title: String,
    /// The text that is fingerprinted and compared.
    pub body: String,
    /// As sent; `None` means "the time of ingest".
    pub published_at: Option<Micros>,
}

/// The metadata kept for every article, enough to answer `GetArticle` and `GetCluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleMeta {
    /// See [`Article::id`].
    pub id: String,
    /// See [`Article::url`].
    pub url: String,
    /// See [`Article::source`].
    pub source: String,
    /// See [`Article::title`].
    pub title: String,
}

/// How far an article's source is trusted to publish originals: the first field of the canonical order
/// (see [`crate::engine::sources`]). Decided at ingest from the configured lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SourceTier {
    /// On the trusted-sources list: outranks any other source, whatever time that one claims.
    Trusted = 0,
    /// Every source on neither list.
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
    /// What `GetArticle` shows back.
    pub meta: ArticleMeta,
    /// Decided at ingest from the source lists of that moment, and kept.
    pub tier: SourceTier,
    /// Effective publication time: as sent, clamped to the time of ingest.
    pub published_us: Micros,
    /// When this version was ingested; breaks ties between equal publication times.
    pub ingested_us: Micros,
    /// Hash of everything the client sent, so that a re-ingest of the same content is recognised.
    pub content_hash: u64,
    /// What the article is compared by.
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
    /// The id of a cluster founded at `founded_us` by the article `founder`.
    pub fn new(founded_us: Micros, founder: &str) -> Self {
        let tag = xxhash_rust::xxh3::xxh3_64(founder.as_bytes()) as u32;
        ClusterId(format!("{:016x}-{tag:08x}", founded_us.max(0)))
    }

    /// The id as the API shows it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What putting an article in a cluster leads to: the rule of [`crate::store::Store::assign`],
/// decided in one place. The memory and embedded stores carry it out, the Redis stores' scripts
/// implement the same rule, and `Check` answers with it from what its lookup saw.
///
/// The article unites its own cluster (if it was adopted meanwhile) with the clusters of its links;
/// the oldest (smallest) id survives and the others merge into it. Articles without a cluster (the
/// article, and links still being ingested) join the survivor. With no cluster to join, the article
/// founds one. The canonical is the first in canonical order ([`StoredArticle::canonical_rank`]) of
/// the united clusters' canonicals and the joining articles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The surviving cluster; `None` when the article founds a new one.
    pub cluster_id: Option<ClusterId>,
    /// The other clusters united, merged into [`Assignment::cluster_id`], ascending.
    pub absorbed: Vec<ClusterId>,
    /// Ids of the articles without a cluster that join it, the article first when it is one of them.
    pub joining: Vec<String>,
    /// The canonical of the cluster the article ends up in.
    pub canonical_id: String,
}

impl Assignment {
    /// The assignment of `article` with `links`, as the caller sees them now (their `cluster_id`s);
    /// `canonical_of` gives a cluster's canonical. A cluster whose canonical it does not know is still
    /// united, with its linked member standing in for the canonical (a lookup that raced a delete).
    pub fn new<'a>(
        article: &'a StoredArticle,
        links: impl IntoIterator<Item = &'a StoredArticle>,
        canonical_of: impl Fn(&ClusterId) -> Option<&'a StoredArticle>,
    ) -> Assignment {
        let mut clusters: Vec<&ClusterId> = Vec::new();
        let mut joining: Vec<&StoredArticle> = Vec::new();
        let mut canonical = article;
        let mut consider = |candidate: &'a StoredArticle| {
            if candidate.canonical_rank() < canonical.canonical_rank() {
                canonical = candidate;
            }
        };
        for member in std::iter::once(article).chain(links) {
            let Some(cluster_id) = &member.cluster_id else {
                if !joining.iter().any(|joined| joined.meta.id == member.meta.id) {
                    joining.push(member);
                    consider(member);
                }
                continue;
            };
            if clusters.contains(&cluster_id) {
                continue;
            }
            clusters.push(cluster_id);
            consider(canonical_of(cluster_id).unwrap_or(member));
        }
        clusters.sort_unstable();
        let mut united = clusters.into_iter().cloned();
        Assignment {
            cluster_id: united.next(),
            absorbed: united.collect(),
            joining: joining.into_iter().map(|member| member.meta.id.clone()).collect(),
            canonical_id: canonical.meta.id.clone(),
        }
    }
}

/// One verified match of an article against a stored one.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The stored article matched.
    pub id: String,
    /// See [`crate::engine::rules::Comparison::similarity`].
    pub similarity: f64,
    /// Hamming distance between the two articles' simhashes, reported for clients that filter on it;
    /// it decides nothing.
    pub hamming_distance: u32,
    /// Which rule verified the match.
    pub reason: MatchReason,
    /// Word-shingle containment (text outside quotations), boilerplate left out.
    pub words: f64,
    /// Skeleton-shingle containment, boilerplate left out.
    pub skeleton: f64,
}

/// The rule that verified a match (see [`crate::engine::rules::MatchRule`]): the evidence a caller
/// such as a moderation page shows beside the similarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchReason {
    /// Word-shingle containment alone.
    Words,
    /// Skeleton containment with a floor of word-shingle containment: a spun copy.
    Skeleton,
    /// The short-text rule on word shingles.
    ShortWords,
    /// The short-text rule on the skeleton with a floor of word shingles.
    ShortSkeleton,
    /// The distinctive rule: a teaser of a wire item, boilerplate and template text left out.
    Distinctive,
}

impl MatchReason {
    /// The rule's name as the API shows it: `words`, `skeleton`, `short_words`, `short_skeleton`,
    /// `distinctive`.
    pub fn name(self) -> &'static str {
        match self {
            MatchReason::Words => "words",
            MatchReason::Skeleton => "skeleton",
            MatchReason::ShortWords => "short_words",
            MatchReason::ShortSkeleton => "short_skeleton",
            MatchReason::Distinctive => "distinctive",
        }
    }
}

/// The outcome of an ingest or a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The article decided on.
    pub id: String,
    /// True when the article is not its cluster's canonical.
    pub duplicate: bool,
    /// `None` only for a check whose article would found a new cluster.
    pub cluster_id: Option<ClusterId>,
    /// The canonical of the article's cluster (the article itself when it is the canonical or founds
    /// a cluster).
    pub canonical_id: String,
    /// Verified matches, best first, at most [`crate::engine::MAX_MATCHES`].
    pub matches: Vec<Match>,
    /// The article's simhash ([`Fingerprint::simhash`]).
    pub simhash: u64,
}

/// A cluster as `GetCluster` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    /// The cluster shown: the survivor, when the id asked for was merged into it.
    pub cluster_id: ClusterId,
    /// Members in canonical order: the canonical first.
    pub members: Vec<StoredArticle>,
}

/// The answer to `DeleteArticle`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deleted {
    /// Whether the article existed and was removed.
    pub deleted: bool,
    /// The canonical of the article's cluster after the delete, if the cluster still has members.
    pub canonical_id: Option<String>,
}

// -------------------------------------------------------------------------------------------------
// moderation verdicts

/// What a moderator decided (see `docs/moderation.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VerdictKind {
    /// `MarkDistinct`: the article is not a copy of `other_id`; its side of the cluster was split off
    /// into `cluster_id`, and the two sides are kept apart.
    Distinct,
    /// `MarkDuplicate`: the article is a copy of `other_id`; their clusters were united into
    /// `cluster_id`, and any apartness between them lifted.
    Duplicate,
    /// `SetCanonical`: the article was pinned as the canonical of `cluster_id`.
    Canonical,
}

impl VerdictKind {
    /// The name the API and logs use.
    pub fn name(self) -> &'static str {
        match self {
            VerdictKind::Distinct => "distinct",
            VerdictKind::Duplicate => "duplicate",
            VerdictKind::Canonical => "canonical",
        }
    }
}

/// A verdict as the store's log keeps it: who decided what, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Its place in the log, from 1, assigned by the store when it is recorded (0 before).
    pub seq: u64,
    /// What was decided.
    pub kind: VerdictKind,
    /// The article the verdict is about.
    pub article_id: String,
    /// `from_id` of a [`VerdictKind::Distinct`], `of_id` of a [`VerdictKind::Duplicate`]; empty for a
    /// [`VerdictKind::Canonical`].
    pub other_id: String,
    /// The cluster the verdict left the article in (for a split: the new cluster).
    pub cluster_id: ClusterId,
    /// For a split, the cluster it was split from; otherwise `None`.
    pub from_cluster_id: Option<ClusterId>,
    /// Who decided: the caller's identity when the server checks keys, else the `reviewer` the
    /// caller named.
    pub reviewer: String,
    /// Why, in the reviewer's words.
    pub reason: String,
    /// When the verdict took effect.
    pub at: Micros,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, published_us: Micros, cluster: Option<&str>) -> StoredArticle {
        StoredArticle {
            meta: ArticleMeta { id: id.into(), url: String::new(), source: String::new(), title: String::new() },
            tier: SourceTier::Ordinary,
            published_us,
            ingested_us: 0,
            content_hash: 0,
            fingerprint: crate::fingerprint::fingerprint(id),
            band_keys: vec![],
            cluster_id: cluster.map(|c| ClusterId(c.into())),
        }
    }

    /// The oldest cluster survives and the others are absorbed; unassigned articles join once; the
    /// canonical is the first in canonical order of the clusters' canonicals and the joiners; a
    /// cluster whose canonical is not known counts its linked member instead.
    #[test]
    fn an_assignment_unites_into_the_oldest_cluster_under_the_first_canonical() {
        let new = member("new", 50, None);
        let (in_b, in_a, racing) =
            (member("in-b", 40, Some("b")), member("in-a", 30, Some("a")), member("racing", 20, None));
        let head_a = member("head-a", 10, Some("a"));
        let canonicals = |cluster: &ClusterId| (cluster.as_str() == "a").then_some(&head_a);
        let assignment = Assignment::new(&new, [&in_b, &in_a, &racing, &racing], canonicals);
        assert_eq!(assignment.cluster_id, Some(ClusterId("a".into())));
        assert_eq!(assignment.absorbed, vec![ClusterId("b".into())]);
        assert_eq!(assignment.joining, vec!["new", "racing"]);
        assert_eq!(assignment.canonical_id, "head-a");
        // without cluster a, the racing article is first: cluster b's canonical is not known, and its
        // linked member (published at 40) comes after it
        let assignment = Assignment::new(&new, [&in_b, &racing], canonicals);
        assert_eq!((assignment.cluster_id, assignment.canonical_id.as_str()), (Some(ClusterId("b".into())), "racing"));
        // nothing to join: the article founds a cluster and is its canonical
        let alone = Assignment::new(&new, [], canonicals);
        assert_eq!((alone.cluster_id, alone.absorbed.len(), alone.canonical_id.as_str()), (None, 0, "new"));
    }
}
