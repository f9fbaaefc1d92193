//! Stores for tests: a wrapper that injects faults into any store, and records made the way the
//! engine makes them.

use std::sync::Arc;

use async_trait::async_trait;
use dedupd::domain::{ArticleMeta, ClusterId, ClusterView, Deleted, Micros, SourceTier, StoredArticle, Verdict};
use dedupd::error::Result;
use dedupd::store::feed::{DuplicateEvent, EventCursor, FeedBounds, FeedTrim};
use dedupd::store::{Assigned, Expired, Inserted, Lookup, Split, Store, Visitor};

/// A call to a [`Store`], as a [`Hook`] sees it before it is passed on.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    Get(&'a str),
    InsertAndLookup(&'a StoredArticle),
    Lookup(&'a [u64]),
    Assign(&'a StoredArticle),
    Cluster(&'a ClusterId),
    Delete(&'a str),
    Expire(Micros),
    VisitRecent,
    /// Any of the verdict calls, by the name of the `Store` method.
    Verdict(&'static str),
    // the duplicate feed
    AppendDuplicate(&'a DuplicateEvent),
    ReadDuplicates,
    PutText(&'a str),
    Text(&'a str),
}

/// What a [`Hooked`] store runs before each call: it may hold the call back, change the store under
/// it, or fail the call (its error is the call's answer).
#[async_trait]
pub trait Hook: Send + Sync + 'static {
    async fn before(&self, call: Call<'_>, inner: &dyn Store) -> Result<()>;
}

/// A store that passes every call on to `inner`, after its hook.
pub struct Hooked<H> {
    inner: Arc<dyn Store>,
    hook: H,
}

impl<H: Hook> Hooked<H> {
    pub fn new(inner: Arc<dyn Store>, hook: H) -> Self {
        Hooked { inner, hook }
    }

    pub fn hook(&self) -> &H {
        &self.hook
    }
}

#[async_trait]
impl<H: Hook> Store for Hooked<H> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
        self.hook.before(Call::Get(id), &*self.inner).await?;
        self.inner.get(id).await
    }

    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        self.hook.before(Call::InsertAndLookup(&article), &*self.inner).await?;
        self.inner.insert_and_lookup(article, limit).await
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        self.hook.before(Call::Lookup(keys), &*self.inner).await?;
        self.inner.lookup(keys, limit).await
    }

    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        self.hook.before(Call::Assign(article), &*self.inner).await?;
        self.inner.assign(article, links).await
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        self.hook.before(Call::Cluster(cluster_id), &*self.inner).await?;
        self.inner.cluster(cluster_id).await
    }

    async fn delete(&self, id: &str) -> Result<Deleted> {
        self.hook.before(Call::Delete(id), &*self.inner).await?;
        self.inner.delete(id).await
    }

    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        self.hook.before(Call::Expire(cutoff), &*self.inner).await?;
        self.inner.expire(cutoff, limit).await
    }

    async fn visit_recent(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        self.hook.before(Call::VisitRecent, &*self.inner).await?;
        self.inner.visit_recent(limit, visit).await
    }

    async fn split(&self, from: &ClusterId, moving: &[&StoredArticle], into: &ClusterId) -> Result<Split> {
        self.hook.before(Call::Verdict("split"), &*self.inner).await?;
        self.inner.split(from, moving, into).await
    }

    async fn kept_apart(&self, clusters: &[ClusterId]) -> Result<Vec<(ClusterId, ClusterId)>> {
        self.hook.before(Call::Verdict("kept_apart"), &*self.inner).await?;
        self.inner.kept_apart(clusters).await
    }

    async fn join(&self, a: &ClusterId, b: &ClusterId) -> Result<Assigned> {
        self.hook.before(Call::Verdict("join"), &*self.inner).await?;
        self.inner.join(a, b).await
    }

    async fn pin(&self, article: &StoredArticle) -> Result<Option<Assigned>> {
        self.hook.before(Call::Verdict("pin"), &*self.inner).await?;
        self.inner.pin(article).await
    }

    async fn record_verdict(&self, verdict: Verdict) -> Result<Verdict> {
        self.hook.before(Call::Verdict("record_verdict"), &*self.inner).await?;
        self.inner.record_verdict(verdict).await
    }

    async fn verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>> {
        self.hook.before(Call::Verdict("verdicts"), &*self.inner).await?;
        self.inner.verdicts(before, limit).await
    }

    // the duplicate feed

    async fn append_duplicate(&self, event: &DuplicateEvent, trim: &FeedTrim) -> Result<Option<EventCursor>> {
        self.hook.before(Call::AppendDuplicate(event), &*self.inner).await?;
        self.inner.append_duplicate(event, trim).await
    }

    async fn duplicates_before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.hook.before(Call::ReadDuplicates, &*self.inner).await?;
        self.inner.duplicates_before(before, limit).await
    }

    async fn duplicates_after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.hook.before(Call::ReadDuplicates, &*self.inner).await?;
        self.inner.duplicates_after(after, limit).await
    }

    async fn feed_bounds(&self) -> Result<FeedBounds> {
        self.hook.before(Call::ReadDuplicates, &*self.inner).await?;
        self.inner.feed_bounds().await
    }

    async fn put_text(&self, id: &str, content_hash: u64, text: &[u8]) -> Result<bool> {
        self.hook.before(Call::PutText(id), &*self.inner).await?;
        self.inner.put_text(id, content_hash, text).await
    }

    async fn text(&self, id: &str) -> Result<Option<Vec<u8>>> {
        self.hook.before(Call::Text(id), &*self.inner).await?;
        self.inner.text(id).await
    }
}

/// An unassigned record of `text`, as the engine would insert it.
pub fn stored_article(id: &str, text: &str, published_us: Micros, ingested_us: Micros) -> StoredArticle {
    let fingerprint = dedupd::fingerprint::fingerprint(text);
    StoredArticle {
        meta: ArticleMeta {
            id: id.to_string(),
            url: format!("https://news.example/{id}"),
            source: "news.example".to_string(),
            title: format!("Article {id}"),
        },
        tier: SourceTier::Ordinary,
        published_us,
        ingested_us,
        content_hash: xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
        band_keys: fingerprint.band_keys(|_, _| false),
        fingerprint,
        cluster_id: None,
    }
}
