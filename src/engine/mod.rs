//! The dedup engine: candidates → verification → cluster assignment → canonical.
//!
//! Written once over [`Store`], so every backend makes the same decisions. The engine owns the rules;
//! the store owns atomicity (see the protocol in [`crate::store`]):
//!
//! - **candidates** are the articles sharing a band key with the new one;
//! - **verification** keeps those whose [`fingerprint::compare`] passes the [`MatchRule`], with
//!   boilerplate learned per source left out ([`Boilerplate`]); two articles of one source must also
//!   resemble each other, or one lie nearly all inside the other
//!   ([`MatchRule::matches_within_source`]): a wire service's update or templated report is not a
//!   copy of its earlier one; two short articles of different sources may also match on their
//!   distinctive text, with the [`templates`] their candidates share left out
//!   ([`MatchRule::matches_on_distinctive`]): an aggregator's teaser of a wire item;
//! - **assignment**: the article joins the cluster of its best match. Another matched cluster is merged
//!   in only if its canonical verifies against the joined cluster's canonical (after the article
//!   joined; two canonicals of one source under the same-source rule, as for a direct match). That
//!   is what stops a round-up that quotes two briefs from gluing the briefs' clusters together, while
//!   an original that arrives after two dissimilar copies of itself (an excerpt and a spun copy) still
//!   brings them together: it becomes the canonical, and both copies verify against it. A cluster
//!   whose canonical is another story of the article's own publisher, which the article would replace
//!   as canonical, is neither joined nor merged in (`Engine::held_back`; a racing ingest that links
//!   the two can still bring them together);
//! - the **canonical** is the first member in canonical order (source tier, published, ingested,
//!   id; see [`sources`]), which the store maintains.
//!
//! **Retention** (when configured): an article published before the window is refused at ingest (and
//! at check, whose answer is what an ingest would do) rather than stored only to be expired by the
//! next sweep; [`Engine::expire`] is what the server's sweeper calls.

pub mod sources;
pub mod templates;
pub mod validate;

use std::cell::OnceCell;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use xxhash_rust::xxh3::Xxh3;

use crate::domain::{
    Article, ArticleMeta, ClusterId, ClusterView, Decision, Deleted, Match, Micros, SourceTier, StoredArticle,
    now_micros,
};
use crate::error::{Error, Result};
use crate::fingerprint::boilerplate::{Boilerplate, Filter};
use crate::fingerprint::features::FeatureKind;
use crate::fingerprint::sketch::Overlap;
use crate::fingerprint::{self, FINGERPRINT_VERSION, Fingerprint, MatchRule, simhash::hamming};
use crate::store::{ClusterHead, Expired, Inserted, Lookup, Store};
pub use sources::SourceTiers;

/// Most matches reported per decision.
pub const MAX_MATCHES: usize = 10;

/// ASCII bodies larger than this (other text: a quarter of it, NFKC is slower) are fingerprinted on
/// the blocking pool, so that no async task runs for more than a fraction of a millisecond.
const INLINE_FINGERPRINT_BYTES: usize = 32 * 1024;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub max_body_bytes: usize,
    /// Most candidates verified per article.
    pub candidate_limit: usize,
    /// When a candidate is a match.
    pub rule: MatchRule,
    /// Trusted and aggregator sources, for the canonical order.
    pub sources: SourceTiers,
    /// How long after its (effective) publication an article is kept; `None`: forever.
    pub retention: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_body_bytes: validate::DEFAULT_MAX_BODY_BYTES,
            candidate_limit: 64,
            rule: MatchRule::default(),
            sources: SourceTiers::default(),
            retention: None,
        }
    }
}

/// A stored article with its current canonical, as `GetArticle` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleView {
    pub article: StoredArticle,
    pub canonical_id: String,
}

/// A cluster member with its similarity to the canonical.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    pub article: StoredArticle,
    pub similarity: f64,
}

#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    config: EngineConfig,
    /// Learned online from the articles this engine ingests; see [`Boilerplate`]. A std lock: held
    /// for microseconds, never across an await.
    boilerplate: Arc<RwLock<Boilerplate>>,
    /// Striped locks that order the ingests of one id (see [`Engine::ingest`]).
    id_locks: Arc<[tokio::sync::Mutex<()>]>,
}

/// Number of [`Engine::id_locks`] stripes: two different ids share one rarely enough not to matter.
const ID_STRIPES: usize = 256;

fn id_stripe(id: &str) -> usize {
    (xxhash_rust::xxh3::xxh3_64(id.as_bytes()) % ID_STRIPES as u64) as usize
}

/// A verified candidate, before it is reported.
struct Verified {
    article: StoredArticle,
    similarity: f64,
    /// Word-shingle resemblance: among candidates of equal similarity (an excerpt lies wholly inside
    /// both a story and its update) the closer one is the better match.
    resemblance: f64,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Self {
        let id_locks = (0..ID_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        Engine { store, config, boilerplate: Arc::default(), id_locks }
    }

    /// Learns the boilerplate model from the up to `limit` most recently published articles the store
    /// holds (see [`Store::visit_recent`]), as if they had just been ingested, so that a restarted
    /// server does not meet its sources' footers with an empty model: without it, articles of one
    /// source that share only a footer are matched until the footer is learned again. Returns how
    /// many articles it learned from. Called once, at start, before serving.
    pub async fn warm_up(&self, limit: usize) -> Result<usize> {
        // learned aside and swapped in whole: the model's lock is not held across the store's awaits
        let mut model = Boilerplate::default();
        let mut learned = 0;
        self.store
            .visit_recent(limit, &mut |article| {
                model.learn(&sources::boilerplate_key(&article.meta.source), &article.fingerprint);
                learned += 1;
            })
            .await?;
        *self.boilerplate.write().unwrap_or_else(std::sync::PoisonError::into_inner) = model;
        Ok(learned)
    }

    /// Runs `f` with the boilerplate filter of a comparison between articles of sources `a` and `b`
    /// (each spelling of a source under its one key; a poisoned lock only means another thread
    /// panicked while holding it, and the model is still usable).
    fn with_filter<T>(&self, a: &str, b: &str, f: impl FnOnce(Filter<'_>) -> T) -> T {
        let model = self.boilerplate.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(model.filter(&sources::boilerplate_key(a), &sources::boilerplate_key(b)))
    }

    /// The article's band keys, leaving out what is known boilerplate of its source.
    fn band_keys(&self, record: &StoredArticle) -> Vec<u64> {
        let source = &record.meta.source;
        self.with_filter(source, source, |filter| {
            record.fingerprint.band_keys(|kind, value| filter.contains(kind, value))
        })
    }

    /// Learns boilerplate from an article that was just stored (not from retries of stored content,
    /// which would teach the model that an article's own text is boilerplate).
    fn learn(&self, record: &StoredArticle) {
        let mut model = self.boilerplate.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        model.learn(&sources::boilerplate_key(&record.meta.source), &record.fingerprint);
    }

    /// The verified candidates, best first: by similarity, then resemblance, then id (so the order
    /// never depends on the store).
    fn verify(&self, record: &StoredArticle, lookup: &Lookup) -> Vec<Verified> {
        // found once per lookup, and only if some pair needs them
        let found = OnceCell::new();
        let templates = || {
            found
                .get_or_init(|| {
                    templates::template_values(
                        &record.fingerprint.words,
                        &lookup.candidates,
                        record.fingerprint.version,
                    )
                })
                .as_slice()
        };
        let mut verified: Vec<Verified> = lookup
            .candidates
            .iter()
            .filter(|candidate| candidate.article.fingerprint.version == record.fingerprint.version)
            .filter(|candidate| {
                fingerprint::may_match(&record.fingerprint, &candidate.article.fingerprint, &self.config.rule)
            })
            .filter_map(|candidate| {
                let (verified, comparison) = self.direct_pair(record, &candidate.article, &templates);
                verified.then(|| Verified {
                    article: candidate.article.clone(),
                    similarity: comparison.similarity(),
                    resemblance: comparison.words.resemblance(),
                })
            })
            .collect();
        verified.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| b.resemblance.total_cmp(&a.resemblance))
                .then_with(|| a.article.meta.id.cmp(&b.article.meta.id))
        });
        verified
    }

    /// How two articles compare, the boilerplate of both sources left out.
    fn compare(&self, a: &StoredArticle, b: &StoredArticle) -> fingerprint::Comparison {
        self.with_filter(&a.meta.source, &b.meta.source, |filter| {
            fingerprint::compare(&a.fingerprint, &b.fingerprint, |kind, value| filter.contains(kind, value))
        })
    }

    /// The word overlap of two articles with the boilerplate of both sources and the `templates` left
    /// out: what the distinctive rule compares ([`MatchRule::matches_on_distinctive`]).
    fn distinctive_overlap(&self, a: &StoredArticle, b: &StoredArticle, templates: &[u32]) -> Overlap {
        self.with_filter(&a.meta.source, &b.meta.source, |filter| {
            a.fingerprint.words.overlap(&b.fingerprint.words, |value| {
                filter.contains(FeatureKind::Words, value) || templates.binary_search(&value).is_ok()
            })
        })
    }

    /// Whether two clusters' canonicals verify against each other (the merge check of [`links`]): the
    /// rule, and between two canonicals of one named source the same-source rule too, as for a direct
    /// match. A copy of a publisher's update matches the update and (through the text they share) the
    /// publisher's earlier article; that does not make the two one story, any more than a direct match
    /// would. One aggregator's full copy and excerpt of a story still pass (the excerpt lies wholly
    /// inside, [`MatchRule::same_source_containment`]). The distinctive rule is not asked: it never
    /// joins two articles of one source, and the teasers it is for are seldom a cluster's canonical.
    /// If the new article is itself the joined canonical and matched the other canonical directly,
    /// [`links`] takes that match as it is (a teaser matched on distinctive text need not pass this
    /// check too).
    fn pair(&self, a: &StoredArticle, b: &StoredArticle) -> bool {
        self.matches(a, b, &self.compare(a, b))
    }

    /// The rule for a comparison of `a` and `b`: [`MatchRule::matches`], or between two articles of
    /// one source [`MatchRule::matches_within_source`].
    fn matches(&self, a: &StoredArticle, b: &StoredArticle, comparison: &fingerprint::Comparison) -> bool {
        if sources::same_source(&a.meta.source, &b.meta.source) {
            return self.config.rule.matches_within_source(comparison);
        }
        self.config.rule.matches(comparison)
    }

    /// The clusters the article must not join: those whose canonical is another story of the
    /// article's own publisher (one source, and the same-source rule fails between them) that the
    /// article would replace as canonical (it ranks first). Joining would rename the original of
    /// every copy there after a story they are not copies of: a publisher's earlier brief arriving
    /// late, found through a copy of its later update. Such a cluster can still hold the article's
    /// copies (one that arrived first and matched the later story); they stay there.
    fn held_back<'c>(&self, record: &StoredArticle, clusters: &'c [ClusterHead]) -> Vec<&'c ClusterId> {
        clusters
            .iter()
            .filter(|head| {
                record.canonical_rank() < head.canonical.canonical_rank()
                    && sources::same_source(&record.meta.source, &head.canonical.meta.source)
                    && !self.config.rule.matches_within_source(&self.compare(record, &head.canonical))
            })
            .map(|head| &head.cluster_id)
            .collect()
    }

    /// Whether an article matches a candidate, and how they compare: the rule, and between two
    /// articles of one named source the same-source rule too ([`MatchRule::same_source_resemblance`]);
    /// between two short articles of different sources the distinctive rule may match what the rule
    /// did not ([`MatchRule::matches_on_distinctive`], with the candidates' `templates`).
    fn direct_pair<'t>(
        &self,
        a: &StoredArticle,
        b: &StoredArticle,
        templates: &impl Fn() -> &'t [u32],
    ) -> (bool, fingerprint::Comparison) {
        let comparison = self.compare(a, b);
        let rule = &self.config.rule;
        if self.matches(a, b, &comparison) {
            return (true, comparison);
        }
        // the distinctive rule never joins two articles of one source
        let distinctive = !sources::same_source(&a.meta.source, &b.meta.source)
            && rule.distinctive_applies(&comparison)
            && rule.matches_on_distinctive(&comparison, &self.distinctive_overlap(a, b, templates()));
        (distinctive, comparison)
    }

    /// Fingerprints, stores and clusters an article. Returns once the store has accepted it.
    pub async fn ingest(&self, article: Article) -> Result<Decision> {
        validate::article(&article, self.config.max_body_bytes)?;
        self.within_retention(&article)?;
        // ingests of one id run one at a time, in the order they arrived (taken before fingerprinting,
        // which may move to another thread), so that two versions sent back to back are stored in order
        let _same_id = self.id_locks[id_stripe(&article.id)].lock().await;
        let mut record = self.prepare(article).await?;
        record.band_keys = self.band_keys(&record);
        let id = record.meta.id.clone();
        let (record, lookup) = match self.store.insert_and_lookup(record.clone(), self.config.candidate_limit).await? {
            Inserted::New(lookup) => {
                self.learn(&record);
                (record, lookup)
            }
            Inserted::Unchanged { article, canonical_id } if article.cluster_id.is_some() => {
                return self.replay(*article, canonical_id).await;
            }
            // stored by an ingest that failed before its assignment: finish that ingest now
            Inserted::Unchanged { article, .. } => {
                let lookup = self.lookup_others(&article).await?;
                (*article, lookup)
            }
        };
        let matches = self.verify(&record, &lookup);
        let held_back = self.held_back(&record, &lookup.clusters);
        let linked = links(|a, b| self.pair(a, b), &record, &matches, &lookup.clusters, &held_back);
        let linked: Vec<&StoredArticle> =
            linked.iter().filter_map(|id| matches.iter().map(|m| &m.article).find(|a| &a.meta.id == id)).collect();
        let assigned = match self.store.assign(&record, &linked).await {
            Ok(assigned) => assigned,
            // expired by a sweep between the two steps: it reached the window's edge meanwhile
            Err(Error::NotFound { id, what }) => {
                return Err(self
                    .outside_retention(record.published_us, now_micros())
                    .unwrap_or(Error::NotFound { id, what }));
            }
            Err(error) => return Err(error),
        };
        metrics::counter!("dedupd_ingested_total").increment(1);
        if assigned.canonical_id != id {
            metrics::counter!("dedupd_duplicates_total").increment(1);
        }
        tracing::debug!(article = %id, cluster = %assigned.cluster_id, canonical = %assigned.canonical_id, matches = matches.len(), "ingested");
        Ok(Decision {
            duplicate: assigned.canonical_id != id,
            id,
            cluster_id: Some(assigned.cluster_id),
            canonical_id: assigned.canonical_id,
            matches: report(&record.fingerprint, &matches),
            simhash: record.fingerprint.simhash,
        })
    }

    /// The decision `ingest` would make, storing nothing.
    pub async fn check(&self, article: Article) -> Result<Decision> {
        validate::article(&article, self.config.max_body_bytes)?;
        self.within_retention(&article)?;
        let mut record = self.prepare(article).await?;
        record.band_keys = self.band_keys(&record);
        let lookup = self.lookup_others(&record).await?;
        Ok(self.hypothetical(&record, &lookup))
    }

    /// The decision for an article that is stored already with the same content: its current cluster,
    /// with its matches recomputed (nothing is written).
    async fn replay(&self, article: StoredArticle, canonical_id: String) -> Result<Decision> {
        let lookup = self.lookup_others(&article).await?;
        let matches = self.verify(&article, &lookup);
        Ok(Decision {
            duplicate: canonical_id != article.meta.id,
            id: article.meta.id.clone(),
            cluster_id: article.cluster_id.clone(),
            canonical_id,
            matches: report(&article.fingerprint, &matches),
            simhash: article.fingerprint.simhash,
        })
    }

    /// The candidates of an article, other than itself. Writes nothing.
    async fn lookup_others(&self, article: &StoredArticle) -> Result<Lookup> {
        let mut lookup = self.store.lookup(&article.band_keys, self.config.candidate_limit).await?;
        lookup.candidates.retain(|candidate| candidate.article.meta.id != article.meta.id);
        Ok(lookup)
    }

    fn hypothetical(&self, record: &StoredArticle, lookup: &Lookup) -> Decision {
        let id = record.meta.id.clone();
        let matches = self.verify(record, lookup);
        let held_back = self.held_back(record, &lookup.clusters);
        let linked = links(|a, b| self.pair(a, b), record, &matches, &lookup.clusters, &held_back);
        // the clusters the article would unite, and their canonicals
        let mut cluster_id: Option<ClusterId> = None;
        let mut canonical = record.clone();
        for link in &linked {
            let Some(linked) = matches.iter().find(|m| &m.article.meta.id == link) else {
                continue;
            };
            let head = linked
                .article
                .cluster_id
                .as_ref()
                .and_then(|c| lookup.clusters.iter().find(|head| &head.cluster_id == c));
            if let Some(head) = head {
                if cluster_id.as_ref().is_none_or(|current| &head.cluster_id < current) {
                    cluster_id = Some(head.cluster_id.clone());
                }
                if head.canonical.canonical_rank() < canonical.canonical_rank() {
                    canonical = head.canonical.clone();
                }
            } else if linked.article.canonical_rank() < canonical.canonical_rank() {
                canonical = linked.article.clone();
            }
        }
        Decision {
            duplicate: canonical.meta.id != id,
            canonical_id: canonical.meta.id,
            id,
            cluster_id,
            matches: report(&record.fingerprint, &matches),
            simhash: record.fingerprint.simhash,
        }
    }

    /// Fingerprints an article into the record a store keeps (unassigned).
    async fn prepare(&self, article: Article) -> Result<StoredArticle> {
        let now = now_micros();
        let inline_limit =
            if article.body.is_ascii() { INLINE_FINGERPRINT_BYTES } else { INLINE_FINGERPRINT_BYTES / 4 };
        let mut record = if article.body.len() <= inline_limit {
            record(article, now)
        } else {
            tokio::task::spawn_blocking(move || record(article, now))
                .await
                .map_err(|e| Error::Internal(format!("fingerprinting task failed: {e}")))?
        };
        if record.fingerprint.tokens == 0 {
            return Err(Error::invalid("article.body", "has no letters or digits to fingerprint"));
        }
        record.tier = self.config.sources.tier(&record.meta.source);
        Ok(record)
    }

    /// An article with its current canonical.
    pub async fn article(&self, id: &str) -> Result<ArticleView> {
        validate::id("id", id)?;
        let not_found = || Error::NotFound { what: "article", id: id.to_string() };
        let article = self.store.get(id).await?.ok_or_else(not_found)?;
        let Some(cluster_id) = &article.cluster_id else {
            // inserted but not yet assigned: an ingest in flight
            return Err(not_found());
        };
        let canonical_id = match self.store.cluster(cluster_id).await? {
            Some(cluster) => cluster.members.first().map(|m| m.meta.id.clone()).unwrap_or_else(|| id.to_string()),
            None => id.to_string(),
        };
        Ok(ArticleView { article, canonical_id })
    }

    /// A cluster's members, canonical first, each with its similarity to the canonical.
    pub async fn cluster(&self, cluster_id: &str) -> Result<(ClusterView, Vec<MemberView>)> {
        if cluster_id.is_empty() {
            return Err(Error::invalid("cluster_id", "must not be empty"));
        }
        let not_found = || Error::NotFound { what: "cluster", id: cluster_id.to_string() };
        let cluster = self.store.cluster(&ClusterId(cluster_id.to_string())).await?.ok_or_else(not_found)?;
        let canonical = cluster.members.first().ok_or_else(not_found)?.clone();
        let members = cluster
            .members
            .iter()
            .map(|member| MemberView {
                article: member.clone(),
                similarity: self.compare(&canonical, member).similarity(),
            })
            .collect();
        Ok((cluster, members))
    }

    /// The retention window, if one is configured.
    pub fn retention(&self) -> Option<Duration> {
        self.config.retention
    }

    /// The oldest publication time kept at `now`: articles published before it leave the index.
    pub fn retention_cutoff(&self, now: Micros) -> Option<Micros> {
        let retention = self.config.retention?;
        Some(now.saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX)))
    }

    /// Refuses an article whose effective publication time (clamped to now, as it would be stored) is
    /// already before the retention window: stored, it would only be expired by the next sweep.
    fn within_retention(&self, article: &Article) -> Result<()> {
        let now = now_micros();
        match self.outside_retention(article.published_at.unwrap_or(now).min(now), now) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The error for an article published at `published`, if that is before the window at `now`.
    fn outside_retention(&self, published: Micros, now: Micros) -> Option<Error> {
        let cutoff = self.retention_cutoff(now)?;
        if published >= cutoff {
            return None;
        }
        let retention = self.config.retention.map(|r| humantime::format_duration(r).to_string()).unwrap_or_default();
        Some(Error::OutOfRange {
            field: "article.published_at",
            reason: format!(
                "{} is before the retention window ({retention}: nothing published before {} is kept)",
                rfc3339(published),
                rfc3339(cutoff)
            ),
        })
    }

    /// One batch of retention: removes up to `limit` articles published before `cutoff` (see
    /// [`Store::expire`]) and counts them in `dedupd_expired_total`.
    pub async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        let expired = self.store.expire(cutoff, limit).await?;
        metrics::counter!("dedupd_expired_total").increment(expired.removed as u64);
        Ok(expired)
    }

    pub async fn delete(&self, id: &str) -> Result<Deleted> {
        validate::id("id", id)?;
        let deleted = self.store.delete(id).await?;
        if deleted.deleted {
            metrics::counter!("dedupd_deleted_total").increment(1);
        }
        Ok(deleted)
    }
}

/// A time for messages: RFC 3339 in UTC, or the microseconds when chrono cannot represent it.
pub(crate) fn rfc3339(micros: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("{micros} µs since the epoch"))
}

/// Fingerprints an article and builds its record; `now` is the time of ingest.
fn record(article: Article, now: i64) -> StoredArticle {
    let fingerprint = fingerprint::fingerprint(&article.body);
    let content_hash = content_hash(&article);
    StoredArticle {
        meta: ArticleMeta { id: article.id, url: article.url, source: article.source, title: article.title },
        // set by the engine from its source lists
        tier: SourceTier::default(),
        // a scraper cannot post-date its way out of being a copy
        published_us: article.published_at.unwrap_or(now).min(now),
        ingested_us: now,
        content_hash,
        fingerprint,
        // fixed by the engine once it knows what is boilerplate
        band_keys: Vec::new(),
        cluster_id: None,
    }
}

/// Hash of everything the client sent, with field separators so that fields cannot run into each other.
fn content_hash(article: &Article) -> u64 {
    let mut hasher = Xxh3::with_seed(FINGERPRINT_VERSION as u64);
    for field in [&article.id, &article.url, &article.source, &article.title, &article.body] {
        hasher.update(&(field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    match article.published_at {
        Some(published) => hasher.update(&published.to_le_bytes()),
        None => hasher.update(b"now"),
    }
    hasher.digest()
}

/// The matches the article's cluster is united with (see the module doc for the rule); `verifies`
/// says whether two canonicals verify against each other. Matches in a `held_back` cluster are left
/// out ([`Engine::held_back`]).
fn links(
    verifies: impl Fn(&StoredArticle, &StoredArticle) -> bool,
    record: &StoredArticle,
    matches: &[Verified],
    clusters: &[ClusterHead],
    held_back: &[&ClusterId],
) -> Vec<String> {
    let matches: Vec<&Verified> =
        matches.iter().filter(|m| m.article.cluster_id.as_ref().is_none_or(|c| !held_back.contains(&c))).collect();
    let Some(&best) = matches.first() else { return vec![] };
    let head = |cluster_id: &Option<ClusterId>| {
        cluster_id.as_ref().and_then(|c| clusters.iter().find(|head| &head.cluster_id == c))
    };
    // the canonical of the joined cluster once the article is in it, in the store's canonical order
    let best_canonical = head(&best.article.cluster_id).map(|h| &h.canonical).unwrap_or(&best.article);
    let joined_canonical =
        if record.canonical_rank() < best_canonical.canonical_rank() { record } else { best_canonical };
    let mut linked = vec![best.article.meta.id.clone()];
    let mut joined: Vec<Option<ClusterId>> = vec![best.article.cluster_id.clone()];
    for &other in &matches[1..] {
        let Some(cluster_id) = &other.article.cluster_id else {
            // unassigned: an ingest racing with this one; linking it is what makes the two meet
            linked.push(other.article.meta.id.clone());
            continue;
        };
        if joined.contains(&Some(cluster_id.clone())) {
            continue;
        }
        let Some(other_head) = head(&other.article.cluster_id) else {
            continue;
        };
        // the new article itself is the joined canonical and matched this cluster's canonical
        // directly: that match (under whichever rule made it) is the check
        let matched_directly =
            std::ptr::eq(joined_canonical, record) && other.article.meta.id == other_head.canonical.meta.id;
        if matched_directly || verifies(joined_canonical, &other_head.canonical) {
            linked.push(other.article.meta.id.clone());
            joined.push(Some(cluster_id.clone()));
        }
    }
    linked
}

/// The reported form of the verified matches: best first, at most [`MAX_MATCHES`].
fn report(fingerprint: &Fingerprint, matches: &[Verified]) -> Vec<Match> {
    matches
        .iter()
        .take(MAX_MATCHES)
        .map(|m| Match {
            id: m.article.meta.id.clone(),
            similarity: m.similarity,
            hamming_distance: hamming(fingerprint.simhash, m.article.fingerprint.simhash),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The decision for a pair does not depend on which of the two arrived first.

    use proptest::prelude::*;

    use super::*;
    use crate::store::memory::MemoryStore;

    const VOCABULARY: &[&str] = &[
        "minister",
        "market",
        "rates",
        "bank",
        "government",
        "talks",
        "prices",
        "rose",
        "fell",
        "week",
        "London",
        "said",
        "officials",
        "budget",
        "vote",
        "court",
        "ruling",
        "oil",
        "exports",
        "strike",
        "union",
        "wages",
    ];
    const FUNCTION: &[&str] = &["the", "of", "and", "in", "to", "on", "was", "by", "with", "for"];

    fn text(seed: &[usize]) -> String {
        seed.iter()
            .enumerate()
            .map(|(i, &n)| if i % 3 == 0 { FUNCTION[n % FUNCTION.len()] } else { VOCABULARY[n % VOCABULARY.len()] })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn article(id: &str, body: String, published: i64) -> Article {
        Article {
            id: id.into(),
            url: String::new(),
            source: format!("{id}.example"),
            title: String::new(),
            body,
            published_at: Some(published),
        }
    }

    /// Ingests two articles in the given order into a fresh engine: are they in one cluster?
    fn together(first: Article, second: Article) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async {
            let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
            let a = engine.ingest(first).await.expect("ingest");
            let b = engine.ingest(second).await.expect("ingest");
            let a_now = engine.article(&a.id).await.expect("article");
            a_now.article.cluster_id == b.cluster_id
        })
    }

    /// Retries of one stored article teach the boilerplate model nothing: its copy elsewhere still
    /// matches.
    #[tokio::test]
    async fn retries_are_not_learned_as_boilerplate() {
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let seed: Vec<usize> = (0..400).map(|i| (i * 7919) % 1000).collect();
        let body = text(&seed);
        for _ in 0..5 {
            engine.ingest(article("orig", body.clone(), 1_000)).await.expect("ingest");
        }
        let copy = engine.ingest(article("copy", body, 2_000)).await.expect("ingest");
        assert!(copy.duplicate);
        assert_eq!(copy.canonical_id, "orig");
    }

    /// A restarted engine learns its sources' footers back from the store before it serves: an article
    /// that shares only a footer with the stored ones of its source is then no match, where an engine
    /// starting empty matches it.
    #[tokio::test]
    async fn a_warmed_up_engine_knows_the_footers_it_had_learned() {
        let footer_seed: Vec<usize> = (0..90).map(|i| (i * 31 + 7) % 1000).collect();
        let footer = text(&footer_seed);
        // 25 words of letters only (a digit would make them numbers, and the numbers veto would
        // keep the stories apart whatever the footer does)
        let story = |n: usize| (0..25).map(|i| letters_word(n * 100 + i + 1)).collect::<Vec<_>>().join(" ");
        let from_aggregator = |id: &str, body: String, published: i64| Article {
            source: "aggregator.example".into(),
            ..article(id, body, published)
        };
        let store = Arc::new(MemoryStore::new());
        let first = Engine::new(store.clone(), EngineConfig::default());
        for n in 0..12 {
            let body = format!("{} {footer}", story(n));
            first.ingest(from_aggregator(&format!("agg-{n}"), body, 1_000 + n as i64)).await.expect("ingest");
        }
        let newcomer = from_aggregator("agg-new", format!("{} {footer}", story(99)), 5_000);

        let cold = Engine::new(store.clone(), EngineConfig::default());
        let glued = cold.check(newcomer.clone()).await.expect("check");
        assert!(glued.duplicate, "an empty model lets the footer match: {glued:?}");

        let warm = Engine::new(store, EngineConfig::default());
        assert_eq!(warm.warm_up(1_000).await.expect("warm up"), 12);
        let alone = warm.check(newcomer).await.expect("check");
        assert!(!alone.duplicate && alone.matches.is_empty(), "{alone:?}");
    }

    /// A source's footer is learned however the source is spelled: `www.`, capitals and a trailing
    /// dot are one source for the boilerplate model, as for the same-source rule. Two articles under
    /// each of three spellings are too few for any one spelling to learn the footer alone.
    #[tokio::test]
    async fn a_footer_is_learned_across_spellings_of_its_source() {
        let footer = text(&(0..90).map(|i| (i * 31 + 7) % 1000).collect::<Vec<_>>());
        let story = |n: usize| (0..25).map(|i| letters_word(n * 100 + i + 1)).collect::<Vec<_>>().join(" ");
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let spellings = ["www.Aggregator.example", "AGGREGATOR.example.", "www.aggregator.example"];
        for n in 0..6 {
            let source = spellings[n % spellings.len()].to_string();
            let earlier = Article { source, ..article(&format!("agg-{n}"), format!("{} {footer}", story(n)), 1_000) };
            engine.ingest(earlier).await.expect("ingest");
        }
        let newcomer = Article {
            source: "aggregator.example".into(),
            ..article("agg-new", format!("{} {footer}", story(99)), 5_000)
        };
        let alone = engine.check(newcomer).await.expect("check");
        assert!(!alone.duplicate && alone.matches.is_empty(), "the footer alone matched: {alone:?}");
    }

    /// A wire item cut down to its lead and wrapped in an aggregator's header and list of other
    /// stories' titles (text no other article has, so no boilerplate model can learn it) is matched on
    /// its distinctive text, whichever arrives first, where the containment rule alone misses it. A
    /// teaser of a templated item, whose lead two stories share, is matched to neither on it.
    #[tokio::test]
    async fn a_teaser_matches_on_distinctive_text_not_on_a_template() {
        let wire = |id: &str, body: String| Article { source: "wire.example".into(), ..article(id, body, 1_000) };
        // words with a function word every `every`, of an order set by `step`: the lead, the rest of
        // the item and the aggregator's header and list each have a structure (skeleton) of their own,
        // as they do in life
        let patterned = |words: std::ops::Range<usize>, every: usize, step: usize| {
            let word = |k: usize| {
                if k.is_multiple_of(every) { FUNCTION[k * step % FUNCTION.len()].to_string() } else { letters_word(k) }
            };
            words.map(word).collect::<Vec<_>>().join(" ")
        };
        let aggregator_words = |words| patterned(words, 2, 7);
        let rest_of_item = |words| patterned(words, 4, 3);
        let teaser = |id: &str, lead: String, n: usize| Article {
            source: "aggregator.example".into(),
            ..article(id, format!("{} {lead} {}", aggregator_words(n..n + 12), aggregator_words(n + 12..n + 32)), 2_000)
        };
        let item = wire("item", format!("{} {}", prose(0..32), rest_of_item(100..140)));
        let its_teaser = teaser("teaser", prose(0..32), 1_000);
        let without_rule = EngineConfig {
            rule: MatchRule { distinctive_words: 0.0, ..MatchRule::default() },
            ..EngineConfig::default()
        };
        for (first, second) in [(&item, &its_teaser), (&its_teaser, &item)] {
            let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
            engine.ingest(first.clone()).await.expect("ingest");
            let decision = engine.ingest(second.clone()).await.expect("ingest");
            assert_eq!(decision.matches.len(), 1, "{} after {}: {decision:?}", second.id, first.id);
            assert_eq!(decision.canonical_id, "item");
            let plain = Engine::new(Arc::new(MemoryStore::new()), without_rule.clone());
            plain.ingest(first.clone()).await.expect("ingest");
            assert!(plain.check(second.clone()).await.expect("check").matches.is_empty(), "containment alone matched");
        }

        // the item arriving last, after an excerpt of its second half (a cluster of its own) and the
        // teaser: it joins the excerpt, its best match, and brings the teaser's cluster along, though
        // the teaser matched it on distinctive text only
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let excerpt = Article { source: "other.example".into(), ..article("excerpt", rest_of_item(100..140), 3_000) };
        engine.ingest(excerpt).await.expect("ingest");
        engine.ingest(its_teaser.clone()).await.expect("ingest");
        let last = engine.ingest(item.clone()).await.expect("ingest");
        assert_eq!(last.matches.len(), 2, "{last:?}");
        for id in ["excerpt", "teaser"] {
            assert_eq!(engine.article(id).await.expect("article").canonical_id, "item", "{id}");
        }

        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let template = |n: usize| {
            wire(&format!("report-{n}"), format!("{} {}", prose(300..332), rest_of_item(400 + 100 * n..440 + 100 * n)))
        };
        // two reports: too few for the wire's boilerplate model to learn the template (the teaser's
        // source is another anyway)
        for n in 0..2 {
            let stored = engine.ingest(template(n)).await.expect("ingest");
            assert!(!stored.duplicate, "one source's reports of one template are not copies: {stored:?}");
        }
        let template_teaser = teaser("template-teaser", prose(300..332), 3_000);
        // with one report stored, its lead is that report's distinctive text
        let alone = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        alone.ingest(template(0)).await.expect("ingest");
        assert_eq!(alone.check(template_teaser.clone()).await.expect("check").canonical_id, "report-0");
        // with two, it is their template
        let decision = engine.ingest(template_teaser.clone()).await.expect("ingest");
        assert!(decision.matches.is_empty(), "matched on the template: {decision:?}");
        // what keeps it out is the template: its text alone is as much of the teaser as the item's lead
        // is of the first teaser
        let shared = fingerprint::compare(
            &fingerprint::fingerprint(&template_teaser.body),
            &fingerprint::fingerprint(&template(1).body),
            |_, _| false,
        );
        assert!(shared.words.containment() >= 0.4 && shared.words.shared >= 6, "{shared:?}");
    }

    /// Every stored article carries the version of the algorithm that fingerprinted it, and articles
    /// of another version are never compared (their samples are not of the same features): one left
    /// by an older dedupd stays in its own cluster, and reports its version, until re-ingested.
    #[tokio::test]
    async fn other_fingerprint_versions_are_never_matched() {
        let store = Arc::new(MemoryStore::new());
        let engine = Engine::new(store.clone(), EngineConfig::default());
        let seed: Vec<usize> = (0..400).map(|i| (i * 7919) % 1000).collect();
        let body = text(&seed);
        let mut old = record(article("old", body.clone(), 1_000), 5_000);
        old.fingerprint.version = fingerprint::FINGERPRINT_VERSION + 1;
        old.band_keys = old.fingerprint.band_keys(|_, _| false);
        store.insert_and_lookup(old.clone(), 10).await.expect("insert");
        store.assign(&old, &[]).await.expect("assign");

        let new = engine.ingest(article("new", body.clone(), 2_000)).await.expect("ingest");
        assert!(!new.duplicate, "{new:?}");
        assert!(new.matches.is_empty(), "{:?}", new.matches);
        let old = engine.article("old").await.expect("article");
        assert_eq!(old.article.fingerprint.version, fingerprint::FINGERPRINT_VERSION + 1);
        assert_eq!(
            engine.article("new").await.expect("article").article.fingerprint.version,
            fingerprint::FINGERPRINT_VERSION
        );
        // the same text under this version is a copy
        let copy = engine.ingest(article("copy", body, 3_000)).await.expect("ingest");
        assert_eq!(copy.canonical_id, "new");
    }

    /// A word of letters only, distinct for distinct `k` (a digit would make a number, and the
    /// numbers veto would decide instead).
    fn letters_word(k: usize) -> String {
        let (mut word, mut rest) = (String::from("z"), k);
        loop {
            word.push(char::from(b'a' + (rest % 26) as u8));
            rest /= 26;
            if rest == 0 {
                return word;
            }
        }
    }

    /// [`letters_word`]s with a function word every third word, as in prose.
    fn prose(words: std::ops::Range<usize>) -> String {
        words
            .map(|k| if k % 3 == 0 { FUNCTION[k % FUNCTION.len()].to_string() } else { letters_word(k) })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// One publisher's update that reuses two thirds of its earlier article and adds as much again
    /// (containment 0.67, resemblance 0.4) is not a copy of it; the same text on another site is, and
    /// so are the publisher's own re-send (resemblance ~0.97) and an excerpt of a third of it
    /// (resemblance ~0.37, but wholly inside), and a pair without sources. Either may arrive first.
    #[test]
    fn a_publishers_update_is_not_its_copy() {
        let first = prose(0..150);
        let update = format!("{} {}", prose(0..100), prose(1_000..1_100));
        let resend = format!("{} {}", prose(0..148), prose(2_000..2_002));
        let excerpt = prose(0..55);
        let at = |source: &str, id: &str, body: &str, published: i64| Article {
            source: source.into(),
            ..article(id, body.to_string(), published)
        };
        for (source, other, body, expected) in [
            ("wire.example", "wire.example", &update, false),
            ("wire.example", "www.Wire.example", &update, false),
            ("wire.example", "aggregator.example", &update, true),
            ("", "", &update, true),
            ("wire.example", "wire.example", &resend, true),
            ("wire.example", "wire.example", &excerpt, true),
        ] {
            let (a, b) = (at(source, "first", &first, 1_000), at(other, "second", body, 2_000));
            assert_eq!(together(a.clone(), b.clone()), expected, "{source} / {other}: {}", &body[..40]);
            assert_eq!(together(b, a), expected, "{source} / {other}, second first");
        }
        let unruled = EngineConfig {
            rule: MatchRule { same_source_resemblance: 0.0, ..MatchRule::default() },
            ..EngineConfig::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let joined = runtime.block_on(async {
            let engine = Engine::new(Arc::new(MemoryStore::new()), unruled);
            engine.ingest(at("wire.example", "first", &first, 1_000)).await.expect("ingest");
            engine.ingest(at("wire.example", "second", &update, 2_000)).await.expect("ingest").duplicate
        });
        assert!(joined, "with the rule off, containment alone decides");
    }

    /// A publisher's story (150 words) and its update (the first 100 of them and 100 new ones):
    /// containment 0.67, resemblance 0.4.
    fn story_and_update() -> (String, String) {
        (prose(0..150), format!("{} {}", prose(0..100), prose(1_000..1_100)))
    }

    fn from_source(source: &str, id: &str, body: &str, published: i64) -> Article {
        Article { source: source.into(), ..article(id, body.to_string(), published) }
    }

    /// The same-source rule at its default, then off.
    fn same_source_on_and_off() -> [f64; 2] {
        [MatchRule::default().same_source_resemblance, 0.0]
    }

    /// An engine with the same-source rule at `resemblance`, the rest at the defaults.
    fn engine_with_resemblance(resemblance: f64) -> Engine {
        let rule = MatchRule { same_source_resemblance: resemblance, ..MatchRule::default() };
        Engine::new(Arc::new(MemoryStore::new()), EngineConfig { rule, ..EngineConfig::default() })
    }

    /// A copy of a publisher's update matches both the update and (through the two thirds they share)
    /// the publisher's earlier article, with equal similarity (the synthetic texts' skeletons are all
    /// shared); arriving after both, it joins the update, the closer of the two, without merging the
    /// publisher's two stories into one cluster. Fails if the merge check ignores the same-source rule,
    /// or if equal matches are not ranked by resemblance. With the same-source rule off, the update
    /// joins the earlier story on arrival and the copy follows (the setup's control).
    #[tokio::test]
    async fn a_copy_of_an_update_does_not_merge_it_with_the_earlier_article() {
        let (first_text, update_text) = story_and_update();
        for resemblance in same_source_on_and_off() {
            let (engine, merged) = (engine_with_resemblance(resemblance), resemblance == 0.0);
            let first = engine.ingest(from_source("wire.example", "first", &first_text, 1_000)).await.expect("ingest");
            let update =
                engine.ingest(from_source("wire.example", "update", &update_text, 2_000)).await.expect("ingest");
            assert_eq!(update.cluster_id == first.cluster_id, merged, "resemblance {resemblance}: the update itself");
            let copy =
                engine.ingest(from_source("aggregator.example", "copy", &update_text, 3_000)).await.expect("ingest");
            let ids: Vec<&str> = copy.matches.iter().map(|m| m.id.as_str()).collect();
            assert!(ids.contains(&"first") && ids.contains(&"update"), "the copy matches both: {ids:?}");
            assert_eq!(copy.canonical_id, if merged { "first" } else { "update" }, "{:?}", copy);
            let first_now = engine.article("first").await.expect("article");
            assert_eq!(first_now.article.cluster_id == copy.cluster_id, merged, "resemblance {resemblance}");
        }
    }

    /// A publisher's earlier article that arrives last does not take over, as canonical, the cluster of
    /// its later update (found through a copy of the update that holds two thirds of its text): the
    /// update stays the original of its copy, and the earlier article starts a cluster of its own.
    /// With the same-source rule off, the two are one story and the earlier article becomes the
    /// canonical (the control). A later update that would not replace the canonical still joins.
    #[tokio::test]
    async fn a_late_earlier_article_does_not_rename_its_update_cluster() {
        let (earlier_text, update_text) = story_and_update();
        for resemblance in same_source_on_and_off() {
            let (engine, taken_over) = (engine_with_resemblance(resemblance), resemblance == 0.0);
            engine.ingest(from_source("aggregator.example", "copy", &update_text, 3_000)).await.expect("ingest");
            let update =
                engine.ingest(from_source("wire.example", "update", &update_text, 2_000)).await.expect("ingest");
            assert_eq!(update.canonical_id, "update", "the update is the original of its copy");
            let earlier =
                engine.ingest(from_source("wire.example", "earlier", &earlier_text, 1_000)).await.expect("ingest");
            assert!(earlier.matches.iter().any(|m| m.id == "copy"), "it matches the copy: {:?}", earlier.matches);
            assert_eq!(earlier.canonical_id, "earlier", "it is the first of whichever cluster it is in");
            let copy = engine.article("copy").await.expect("article");
            let expected = if taken_over { "earlier" } else { "update" };
            assert_eq!(copy.canonical_id, expected, "resemblance {resemblance}");
            assert_eq!(copy.article.cluster_id == earlier.cluster_id, taken_over, "resemblance {resemblance}");
        }
        // the other order of publication: the update, published after the story, follows its copy into
        // the story's cluster, since it does not replace the story as canonical
        let engine = engine_with_resemblance(MatchRule::default().same_source_resemblance);
        let story = engine.ingest(from_source("wire.example", "story", &earlier_text, 1_000)).await.expect("ingest");
        engine.ingest(from_source("aggregator.example", "copy", &update_text, 3_000)).await.expect("ingest");
        let update = engine.ingest(from_source("wire.example", "update", &update_text, 2_000)).await.expect("ingest");
        assert_eq!(update.cluster_id, story.cluster_id, "the later update joins through its copy");
        assert_eq!(update.canonical_id, "story");
    }

    /// A backdated copy on a known aggregator does not become canonical, and a trusted source's
    /// original does even when a copy claims an earlier time.
    #[tokio::test]
    async fn source_lists_outrank_backdated_copies() {
        let sources = SourceTiers::new(&["orig.example"], &["copy.example"]);
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig { sources, ..EngineConfig::default() });
        let seed: Vec<usize> = (0..400).map(|i| (i * 7919) % 1000).collect();
        let body = text(&seed);
        // the aggregator claims the earliest time and arrives first
        let copy = engine.ingest(article("copy", body.clone(), 500)).await.expect("ingest");
        assert!(!copy.duplicate, "alone, the aggregator's copy is its cluster's canonical");
        let ordinary = engine.ingest(article("plain", body.clone(), 800)).await.expect("ingest");
        assert_eq!(ordinary.canonical_id, "plain", "an ordinary source outranks a known aggregator");
        let original = engine.ingest(article("orig", body, 2_000)).await.expect("ingest");
        assert!(!original.duplicate);
        assert_eq!(original.canonical_id, "orig", "a trusted source outranks earlier claims");
        assert_eq!(engine.article("copy").await.expect("article").canonical_id, "orig");
        assert_eq!(engine.article("copy").await.expect("article").article.tier, SourceTier::Aggregator);

        // without lists, the earliest claim wins
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        engine.ingest(article("copy", text(&seed), 500)).await.expect("ingest");
        let original = engine.ingest(article("orig", text(&seed), 2_000)).await.expect("ingest");
        assert_eq!(original.canonical_id, "copy");
    }

    /// Deletes the article between the two steps of its ingest (as a sweep would expire it), after a
    /// pause.
    struct SweptMidIngest {
        inner: MemoryStore,
        pause: std::time::Duration,
    }

    #[async_trait::async_trait]
    impl Store for SweptMidIngest {
        fn kind(&self) -> &'static str {
            "swept"
        }
        async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
            self.inner.get(id).await
        }
        async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
            self.inner.insert_and_lookup(article, limit).await
        }
        async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
            self.inner.lookup(keys, limit).await
        }
        async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<crate::store::Assigned> {
            tokio::time::sleep(self.pause).await;
            self.inner.delete(&article.meta.id).await?;
            self.inner.assign(article, links).await
        }
        async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
            self.inner.cluster(cluster_id).await
        }
        async fn delete(&self, id: &str) -> Result<Deleted> {
            self.inner.delete(id).await
        }
        async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
            self.inner.expire(cutoff, limit).await
        }
    }

    /// An article refused for its age says so (OUT_OF_RANGE), also when it reached the window's edge
    /// during its own ingest and was swept between the two steps; an article removed mid-ingest while
    /// well inside the window is still NOT_FOUND.
    #[tokio::test]
    async fn retention_refuses_old_articles_with_out_of_range() {
        let retention = std::time::Duration::from_secs(3600);
        let config = EngineConfig { retention: Some(retention), ..EngineConfig::default() };
        let seed: Vec<usize> = (0..200).map(|i| (i * 7919) % 1000).collect();
        let pause = std::time::Duration::from_millis(600);
        let engine = Engine::new(Arc::new(SweptMidIngest { inner: MemoryStore::new(), pause }), config.clone());
        let window = retention.as_micros() as i64;

        let outcome = engine.ingest(article("old", text(&seed), now_micros() - window - 1_000_000)).await;
        assert!(matches!(outcome, Err(Error::OutOfRange { field: "article.published_at", .. })), "{outcome:?}");
        let outcome = engine.check(article("old", text(&seed), now_micros() - window - 1_000_000)).await;
        assert!(matches!(outcome, Err(Error::OutOfRange { .. })), "{outcome:?}");

        // 300 ms inside the window when it is checked, outside it when its assign finds it gone
        let outcome = engine.ingest(article("edge", text(&seed), now_micros() - window + 300_000)).await;
        assert!(matches!(outcome, Err(Error::OutOfRange { .. })), "{outcome:?}");
        let outcome = engine.ingest(article("recent", text(&seed), now_micros() - 1_000_000)).await;
        assert!(matches!(outcome, Err(Error::NotFound { .. })), "{outcome:?}");

        // without retention nothing is too old
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        assert!(engine.ingest(article("old", text(&seed), 0)).await.is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn pair_decision_does_not_depend_on_arrival_order(
            original in prop::collection::vec(0usize..1000, 60..300),
            keep in 0usize..300,
            edits in prop::collection::vec((0usize..300, 0usize..1000), 0..60),
            one_source in any::<bool>(),
        ) {
            // the copy: a prefix of the original with some words replaced, like a spun excerpt
            let mut copy: Vec<usize> = original.iter().take(keep.max(10)).copied().collect();
            for (at, word) in edits {
                if let Some(slot) = copy.get_mut(at) {
                    *slot = word;
                }
            }
            let (a, b) = (text(&original), text(&copy));
            // one source, or two: the same-source rule must be as symmetric as the rest
            let from = |id: &str, body: String, published: i64| {
                let source = if one_source { "wire.example".to_string() } else { format!("{id}.example") };
                Article { source, ..article(id, body, published) }
            };
            let forward = together(from("a", a.clone(), 1_000), from("b", b.clone(), 2_000));
            let backward = together(from("b", b, 2_000), from("a", a, 1_000));
            prop_assert_eq!(forward, backward);
        }
    }
}
