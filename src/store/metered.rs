//! A [`Store`] that times every call of the one it wraps, for the Prometheus metrics
//! `dedupd_store_seconds{store, op}` (a histogram) and `dedupd_store_errors_total{store, op, error}`:
//! the `store` label tells backends apart across a fleet, and an `unavailable` error count is what the
//! store-down alert watches. Each call also runs in a `store` span (debug level: `RUST_LOG=info,dedupd=debug`
//! exports it over OTLP).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tracing::Instrument;

use super::feed::{DuplicateEvent, EventCursor, FeedBounds, FeedTrim};
use super::{Assigned, Expired, Inserted, Lookup, Split, Store, Visitor};
use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, Verdict};
use crate::error::{Error, Result};

/// Wraps a store; forwards every call unchanged and records how long it took and how it failed.
pub struct Metered {
    inner: Arc<dyn Store>,
}

impl Metered {
    /// `inner`, metered.
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(Metered { inner })
    }

    async fn timed<T>(&self, op: &'static str, call: impl Future<Output = Result<T>>) -> Result<T> {
        let started = Instant::now();
        let store = self.inner.kind();
        let result = call.instrument(tracing::debug_span!("store", store, op)).await;
        metrics::histogram!("dedupd_store_seconds", "store" => store, "op" => op)
            .record(started.elapsed().as_secs_f64());
        if let Err(error) = &result {
            metrics::counter!("dedupd_store_errors_total", "store" => store, "op" => op, "error" => error_label(error))
                .increment(1);
        }
        result
    }
}

/// The error's kind, as a label value.
fn error_label(error: &Error) -> &'static str {
    match error {
        Error::InvalidArgument { .. } => "invalid_argument",
        Error::OutOfRange { .. } => "out_of_range",
        Error::NotFound { .. } => "not_found",
        Error::FailedPrecondition(_) => "failed_precondition",
        Error::Unavailable(_) => "unavailable",
        Error::Internal(_) => "internal",
    }
}

#[async_trait]
impl Store for Metered {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
        self.timed("get", self.inner.get(id)).await
    }

    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        self.timed("insert_and_lookup", self.inner.insert_and_lookup(article, limit)).await
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        self.timed("lookup", self.inner.lookup(keys, limit)).await
    }

    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        self.timed("assign", self.inner.assign(article, links)).await
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        self.timed("cluster", self.inner.cluster(cluster_id)).await
    }

    async fn delete(&self, id: &str) -> Result<Deleted> {
        self.timed("delete", self.inner.delete(id)).await
    }

    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        self.timed("expire", self.inner.expire(cutoff, limit)).await
    }

    async fn visit_recent(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        self.timed("visit_recent", self.inner.visit_recent(limit, visit)).await
    }

    // ---------------------------------------------------------------------------------------------
    // moderation verdicts

    async fn split(&self, from: &ClusterId, moving: &[&StoredArticle], into: &ClusterId) -> Result<Split> {
        self.timed("split", self.inner.split(from, moving, into)).await
    }

    async fn kept_apart(&self, clusters: &[ClusterId]) -> Result<Vec<(ClusterId, ClusterId)>> {
        self.timed("kept_apart", self.inner.kept_apart(clusters)).await
    }

    async fn join(&self, a: &ClusterId, b: &ClusterId) -> Result<Assigned> {
        self.timed("join", self.inner.join(a, b)).await
    }

    async fn pin(&self, article: &StoredArticle) -> Result<Option<Assigned>> {
        self.timed("pin", self.inner.pin(article)).await
    }

    async fn record_verdict(&self, verdict: Verdict) -> Result<Verdict> {
        self.timed("record_verdict", self.inner.record_verdict(verdict)).await
    }

    async fn verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>> {
        self.timed("verdicts", self.inner.verdicts(before, limit)).await
    }

    // the duplicate feed

    async fn append_duplicate(&self, event: &DuplicateEvent, trim: &FeedTrim) -> Result<Option<EventCursor>> {
        self.timed("append_duplicate", self.inner.append_duplicate(event, trim)).await
    }

    async fn duplicates_before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.timed("duplicates_before", self.inner.duplicates_before(before, limit)).await
    }

    async fn duplicates_after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>> {
        self.timed("duplicates_after", self.inner.duplicates_after(after, limit)).await
    }

    async fn feed_bounds(&self) -> Result<FeedBounds> {
        self.timed("feed_bounds", self.inner.feed_bounds()).await
    }

    async fn put_text(&self, id: &str, content_hash: u64, text: &[u8]) -> Result<bool> {
        self.timed("put_text", self.inner.put_text(id, content_hash, text)).await
    }

    async fn text(&self, id: &str) -> Result<Option<Vec<u8>>> {
        self.timed("text", self.inner.text(id)).await
    }
}
