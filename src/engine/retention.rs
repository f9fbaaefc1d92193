//! Retention: articles are kept for a window after their effective publication time.
//!
//! An article published before the window is refused at ingest (and at check, whose answer is what
//! an ingest would do) rather than stored only to be expired by the next sweep; [`Engine::expire`]
//! is what the server's sweeper calls to remove the ones that fell out of it.

use std::time::Duration;

use crate::domain::{Article, Micros, now_micros, rfc3339};
use crate::error::{Error, Result};
use crate::store::Expired;

use super::Engine;

impl Engine {
    /// The retention window, if one is configured.
    pub fn retention(&self) -> Option<Duration> {
        self.config.retention
    }

    /// The oldest publication time kept at `now`: articles published before it leave the index.
    pub fn retention_cutoff(&self, now: Micros) -> Option<Micros> {
        let retention = self.config.retention?;
        Some(now.saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX)))
    }

    /// One batch of retention: removes up to `limit` articles published before `cutoff` (see
    /// [`Store::expire`](crate::store::Store::expire)) and counts them in `dedupd_expired_total`.
    pub async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        let expired = self.store.expire(cutoff, limit).await?;
        metrics::counter!("dedupd_expired_total").increment(expired.removed as u64);
        Ok(expired)
    }

    /// Refuses an article whose effective publication time (clamped to now, as it would be stored) is
    /// already before the retention window: stored, it would only be expired by the next sweep.
    pub(super) fn within_retention(&self, article: &Article) -> Result<()> {
        let now = now_micros();
        match self.outside_retention(article.published_at.unwrap_or(now).min(now), now) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The error for an article published at `published`, if that is before the window at `now`.
    pub(super) fn outside_retention(&self, published: Micros, now: Micros) -> Option<Error> {
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
}
