//! The dedup engine: candidates → verification → cluster assignment → canonical.
//!
//! Written once over [`Store`], so every backend makes the same decisions. The engine owns the rules;
//! the store owns atomicity (see the protocol in [`crate::store`]):
//!
//! - **candidates** are the articles sharing band keys with the new one ([`Store::insert_and_lookup`]);
//! - **verification** keeps those that pass the [`MatchRule`] ([`rules`]), with boilerplate learned
//!   per source left out ([`boilerplate`]) and the same-source and distinctive rules applied where
//!   they belong (`decide.rs`);
//! - **assignment**: the article joins the cluster of its best match, and other matched clusters are
//!   merged in when their canonicals verify against the joined one (`decide.rs`); the store carries
//!   it out ([`Store::assign`]) by the rule of [`Assignment`](crate::domain::Assignment), which
//!   `Check` answers with too;
//! - the **canonical** is the first member in canonical order (source tier, published, ingested, id;
//!   see [`sources`]), which the store maintains.
//!
//! This file is the engine's API: ingest, check, reading articles and clusters, delete and the
//! boilerplate warm-up; `retention.rs` refuses and expires articles outside the window,
//! [`verdicts`] holds the moderation verdicts (and the apartness every ingest honours), and
//! `tests.rs` holds the engine's tests.

pub mod boilerplate;
mod decide;
pub mod explain;
pub mod feed;
mod retention;
pub mod rules;
pub mod sources;
pub mod templates;
pub mod validate;
pub mod verdicts;

#[cfg(test)]
mod tests;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use xxhash_rust::xxh3::Xxh3;

use crate::domain::{
    Article, ArticleMeta, ClusterId, ClusterView, Decision, Deleted, MatchReason, SourceTier, StoredArticle, now_micros,
};
use crate::error::{Error, Result};
use crate::fingerprint::{self, FINGERPRINT_VERSION};
use crate::store::feed::FeedTrim;
use crate::store::{Inserted, Lookup, Store};

use self::boilerplate::Boilerplate;
pub use self::rules::MatchRule;
pub use self::sources::SourceTiers;

/// Most matches reported per decision.
pub const MAX_MATCHES: usize = 10;

/// ASCII bodies larger than this (other text: a quarter of it, NFKC is slower) are fingerprinted on
/// the blocking pool, so that no async task runs for more than a fraction of a millisecond.
const INLINE_FINGERPRINT_BYTES: usize = 32 * 1024;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Largest accepted article body, in bytes.
    pub max_body_bytes: usize,
    /// Most candidates verified per article.
    pub candidate_limit: usize,
    /// When a candidate is a match.
    pub rule: MatchRule,
    /// Trusted and aggregator sources, for the canonical order.
    pub sources: SourceTiers,
    /// How long after its (effective) publication an article is kept; `None`: forever.
    pub retention: Option<Duration>,
    /// How the duplicate feed is trimmed (see [`feed`]).
    pub feed: FeedTrim,
    /// Keep each article's text (compressed) for `Explain` by ids.
    pub keep_text: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_body_bytes: validate::DEFAULT_MAX_BODY_BYTES,
            candidate_limit: 64,
            rule: MatchRule::default(),
            sources: SourceTiers::default(),
            retention: None,
            feed: FeedTrim::default(),
            keep_text: false,
        }
    }
}

/// A stored article with its current canonical, as `GetArticle` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleView {
    /// The article, with its current cluster.
    pub article: StoredArticle,
    /// The canonical of its cluster.
    pub canonical_id: String,
}

/// A cluster member with its similarity to the canonical.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    /// The member.
    pub article: StoredArticle,
    /// Its similarity to the canonical ([`rules::Comparison::similarity`]; 1 for the canonical itself).
    pub similarity: f64,
    /// The rule by which it matches the canonical now ([`MatchRule::reason`]); `None` for the
    /// canonical itself, and for a copy that matched another member rather than the canonical.
    pub reason: Option<MatchReason>,
}

/// The dedup engine: ingests, checks, reads and deletes articles over one [`Store`]. Cheap to clone:
/// clones share the store, the boilerplate model and the per-id locks.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    config: EngineConfig,
    /// Learned online from the articles this engine ingests; see [`Boilerplate`]. A std lock: held
    /// for microseconds, never across an await.
    boilerplate: Arc<RwLock<Boilerplate>>,
    /// Striped locks that order the ingests of one id (see [`Engine::ingest`]).
    id_locks: Arc<[tokio::sync::Mutex<()>]>,
    /// Wakes the duplicate feed's watchers (see [`feed`]).
    feed: Arc<feed::FeedHub>,
}

/// Number of [`Engine::id_locks`] stripes: two different ids share one rarely enough not to matter.
const ID_STRIPES: usize = 256;

fn id_stripe(id: &str) -> usize {
    (xxhash_rust::xxh3::xxh3_64(id.as_bytes()) % ID_STRIPES as u64) as usize
}

impl Engine {
    /// An engine over `store`, with an empty boilerplate model (see [`Engine::warm_up`]).
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Self {
        let id_locks = (0..ID_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        Engine { store, config, boilerplate: Arc::default(), id_locks, feed: Arc::default() }
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

    /// Fingerprints, stores and clusters an article. Returns once the store has accepted it.
    pub async fn ingest(&self, article: Article) -> Result<Decision> {
        validate::article(&article, self.config.max_body_bytes)?;
        self.within_retention(&article)?;
        // ingests of one id run one at a time, in the order they arrived (taken before fingerprinting,
        // which may move to another thread), so that two versions sent back to back are stored in order
        let _same_id = self.id_locks[id_stripe(&article.id)].lock().await;
        let text = self.text_to_keep(&article).await?;
        let mut record = self.prepare(article).await?;
        record.band_keys = self.band_keys(&record);
        let id = record.meta.id.clone();
        let (record, lookup) = match self.store.insert_and_lookup(record.clone(), self.config.candidate_limit).await? {
            Inserted::New(lookup) => {
                self.learn(&record);
                (record, lookup)
            }
            Inserted::Unchanged { article, canonical_id } if article.cluster_id.is_some() => {
                // an article stored before its text was kept gets it now
                self.keep_text(&article, text.as_deref()).await?;
                return self.replay(*article, canonical_id).await;
            }
            // stored by an ingest that failed before its assignment: finish that ingest now
            Inserted::Unchanged { article, .. } => {
                let lookup = self.lookup_others(&article).await?;
                (*article, lookup)
            }
        };
        // before the assignment, which acknowledges the article
        self.keep_text(&record, text.as_deref()).await?;
        let mut decided = self.decide(&record, &lookup);
        self.honour_apartness(&mut decided).await?;
        let linked: Vec<&StoredArticle> = decided.linked().collect();
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
        self.record_duplicate(&record, &decided, &lookup, &assigned.cluster_id, &assigned.canonical_id).await?;
        metrics::counter!("dedupd_ingested_total").increment(1);
        if assigned.canonical_id != id {
            metrics::counter!("dedupd_duplicates_total").increment(1);
        }
        tracing::debug!(article = %id, cluster = %assigned.cluster_id, canonical = %assigned.canonical_id, matches = decided.matches.len(), "ingested");
        Ok(Decision {
            duplicate: assigned.canonical_id != id,
            id,
            cluster_id: Some(assigned.cluster_id),
            canonical_id: assigned.canonical_id,
            matches: decided.report(&record.fingerprint),
            simhash: record.fingerprint.simhash,
        })
    }

    /// The decision `ingest` would make, storing nothing: the same verification and links (with the
    /// boilerplate model as the ingest would see it), and the
    /// [`Assignment`](crate::domain::Assignment) they lead to in the clusters the lookup saw.
    pub async fn check(&self, article: Article) -> Result<Decision> {
        validate::article(&article, self.config.max_body_bytes)?;
        self.within_retention(&article)?;
        let mut record = self.prepare(article).await?;
        record.band_keys = self.band_keys(&record);
        let lookup = self.lookup_others(&record).await?;
        let mut decided = self.decide_as_ingest(&record, &lookup);
        self.honour_apartness(&mut decided).await?;
        let assignment = decided.assignment(&record, &lookup);
        Ok(Decision {
            duplicate: assignment.canonical_id != record.meta.id,
            id: record.meta.id.clone(),
            cluster_id: assignment.cluster_id,
            canonical_id: assignment.canonical_id,
            matches: decided.report(&record.fingerprint),
            simhash: record.fingerprint.simhash,
        })
    }

    /// The decision for an article that is stored already with the same content: its current cluster,
    /// with its matches recomputed (nothing is written).
    async fn replay(&self, article: StoredArticle, canonical_id: String) -> Result<Decision> {
        let lookup = self.lookup_others(&article).await?;
        let decided = self.decide(&article, &lookup);
        if let Some(cluster_id) = &article.cluster_id
            && feed::retry_may_record(&article, now_micros())
        {
            // a retry of an ingest whose feed append failed records it now (the store keeps one per
            // article version)
            self.record_duplicate(&article, &decided, &lookup, cluster_id, &canonical_id).await?;
        }
        Ok(Decision {
            duplicate: canonical_id != article.meta.id,
            id: article.meta.id.clone(),
            cluster_id: article.cluster_id.clone(),
            canonical_id,
            matches: decided.report(&article.fingerprint),
            simhash: article.fingerprint.simhash,
        })
    }

    /// The body to keep for `Explain` (compressed, [`explain::compress`]), with `--keep-text`; large
    /// bodies are compressed on the blocking pool, as they are fingerprinted.
    async fn text_to_keep(&self, article: &Article) -> Result<Option<Vec<u8>>> {
        if !self.config.keep_text {
            return Ok(None);
        }
        if article.body.len() <= INLINE_FINGERPRINT_BYTES {
            return Ok(Some(explain::compress(&article.body)));
        }
        let body = article.body.clone();
        tokio::task::spawn_blocking(move || Some(explain::compress(&body)))
            .await
            .map_err(|e| Error::Internal(format!("compression task failed: {e}")))
    }

    /// Keeps `text` for the stored version `record` ([`Store::put_text`]). A version replaced or
    /// deleted meanwhile keeps nothing, and its assignment then fails as it would anyway.
    async fn keep_text(&self, record: &StoredArticle, text: Option<&[u8]>) -> Result<()> {
        let Some(text) = text else { return Ok(()) };
        if !self.store.put_text(&record.meta.id, record.content_hash, text).await? {
            tracing::debug!(article = %record.meta.id, "text not kept: the version was replaced or deleted meanwhile");
        }
        Ok(())
    }

    /// The candidates of an article, other than itself. Writes nothing.
    async fn lookup_others(&self, article: &StoredArticle) -> Result<Lookup> {
        let mut lookup = self.store.lookup(&article.band_keys, self.config.candidate_limit).await?;
        lookup.candidates.retain(|candidate| candidate.article.meta.id != article.meta.id);
        Ok(lookup)
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
            .enumerate()
            .map(|(index, member)| {
                let comparison = self.compare(&canonical, member);
                let reason = if index == 0 { None } else { self.config.rule.reason(&comparison) };
                MemberView { article: member.clone(), similarity: comparison.similarity(), reason }
            })
            .collect();
        Ok((cluster, members))
    }

    /// Removes an article from the index and its cluster; a cluster whose canonical goes elects the
    /// next member in canonical order.
    pub async fn delete(&self, id: &str) -> Result<Deleted> {
        validate::id("id", id)?;
        let deleted = self.store.delete(id).await?;
        if deleted.deleted {
            metrics::counter!("dedupd_deleted_total").increment(1);
        }
        Ok(deleted)
    }
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
    let mut hasher = Xxh3::with_seed(u64::from(FINGERPRINT_VERSION));
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
