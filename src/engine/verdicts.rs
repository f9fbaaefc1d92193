//! Moderation verdicts: what a moderator says overrides what the engine decided, and is remembered
//! (`docs/moderation.md`). Both the gRPC service and the review page call these methods.
//!
//! - [`Engine::mark_distinct`] splits a cluster: the article and the members that follow it (by the
//!   engine's own comparison, [`Engine::moving_side`]) move to a new cluster, kept apart from the old
//!   one from then on;
//! - [`Engine::mark_duplicate`] unites two clusters, lifting any apartness between them;
//! - [`Engine::set_canonical`] pins a cluster's canonical;
//! - every ingest (and check) honours apartness (`honour_apartness`): when its verified links span
//!   clusters kept apart, it joins only the side of its best match.
//!
//! Each verdict is recorded in the store's log with who, when and why ([`Engine::verdicts`]).

use crate::domain::{ClusterId, StoredArticle, Verdict, VerdictKind, now_micros};
use crate::error::{Error, Result};

use super::decide::Decided;
use super::{Engine, validate};

/// Longest accepted `reviewer`, in bytes.
pub const MAX_REVIEWER_BYTES: usize = 256;
/// Longest accepted `reason`, in bytes.
pub const MAX_REASON_BYTES: usize = 4 * 1024;
/// Verdicts a page of [`Engine::verdicts`] holds at most.
pub const MAX_VERDICTS_PER_PAGE: usize = 500;

/// Who gives a verdict and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The caller's identity, or the name the caller gave.
    pub reviewer: String,
    /// Free text.
    pub reason: String,
}

/// What a verdict did.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdicted {
    /// The verdict as the log keeps it.
    pub verdict: Verdict,
    /// The canonical of the verdict's cluster ([`Verdict::cluster_id`]) afterwards.
    pub canonical_id: String,
    /// For a split: the articles that moved, the marked article first.
    pub moved: Vec<String>,
    /// For a split: the canonical of the cluster split from, afterwards.
    pub from_canonical_id: Option<String>,
}

impl Review {
    fn check(&self) -> Result<()> {
        if self.reviewer.trim().is_empty() {
            return Err(Error::invalid("reviewer", "must not be empty"));
        }
        if self.reviewer.len() > MAX_REVIEWER_BYTES || self.reviewer.chars().any(char::is_control) {
            return Err(Error::invalid(
                "reviewer",
                format!("must be at most {MAX_REVIEWER_BYTES} bytes without control characters"),
            ));
        }
        if self.reason.len() > MAX_REASON_BYTES {
            return Err(Error::invalid(
                "reason",
                format!("is {} bytes, at most {MAX_REASON_BYTES} allowed", self.reason.len()),
            ));
        }
        Ok(())
    }
}

impl Engine {
    /// An assigned article, or `NotFound` (an article whose ingest is in flight is not found yet).
    async fn assigned(&self, field: &'static str, id: &str) -> Result<(StoredArticle, ClusterId)> {
        validate::id(field, id)?;
        let not_found = || Error::NotFound { what: "article", id: id.to_string() };
        let article = self.store.get(id).await?.ok_or_else(not_found)?;
        let cluster_id = article.cluster_id.clone().ok_or_else(not_found)?;
        Ok((article, cluster_id))
    }

    /// Records a verdict in the store's log.
    async fn record(
        &self,
        kind: VerdictKind,
        review: Review,
        ids: (&str, &str),
        clusters: (ClusterId, Option<ClusterId>),
    ) -> Result<Verdict> {
        let verdict = Verdict {
            seq: 0,
            kind,
            article_id: ids.0.to_string(),
            other_id: ids.1.to_string(),
            cluster_id: clusters.0,
            from_cluster_id: clusters.1,
            reviewer: review.reviewer,
            reason: review.reason,
            at: now_micros(),
        };
        let verdict = self.store.record_verdict(verdict).await?;
        metrics::counter!("dedupd_verdicts_total", "kind" => kind.name()).increment(1);
        tracing::info!(kind = kind.name(), seq = verdict.seq, article = %verdict.article_id, other = %verdict.other_id, cluster = %verdict.cluster_id, reviewer = %verdict.reviewer, "verdict");
        Ok(verdict)
    }

    /// `MarkDistinct`: `article_id` is not a copy of `from_id`. Splits their cluster: the article and
    /// the members that follow it ([`Engine::moving_side`]) move to a new cluster, the canonical of
    /// each side is re-chosen, and the two are kept apart from then on.
    ///
    /// Refuses the same id twice (`InvalidArgument`), an unknown id (`NotFound`), and two articles
    /// in different clusters (`FailedPrecondition`), unless those are kept apart already: then the
    /// verdict is in effect (a repeat, or the retry of a split cut short, which this completes) and
    /// is recorded again.
    pub async fn mark_distinct(&self, article_id: &str, from_id: &str, review: Review) -> Result<Verdicted> {
        review.check()?;
        if article_id == from_id {
            return Err(Error::invalid("from_id", "must differ from article_id"));
        }
        let (article, article_cluster) = self.assigned("article_id", article_id).await?;
        let (from, from_cluster) = self.assigned("from_id", from_id).await?;
        let (moving, into) = if article_cluster == from_cluster {
            let not_found = || Error::NotFound { what: "cluster", id: from_cluster.0.clone() };
            let view = self.store.cluster(&from_cluster).await?.ok_or_else(not_found)?;
            let moving = self.moving_side(&article, &from, &view.members);
            (moving, ClusterId::new(now_micros(), article_id))
        } else if self.store.kept_apart(&[article_cluster.clone(), from_cluster.clone()]).await?.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "articles {article_id} and {from_id} are not in one cluster ({article_cluster} and {from_cluster}): nothing to split"
            )));
        } else {
            // split already: finish whatever a split cut short left to move
            (Vec::new(), article_cluster)
        };
        let moving_refs: Vec<&StoredArticle> = moving.iter().collect();
        let split = self.store.split(&from_cluster, &moving_refs, &into).await?;
        let verdict = self
            .record(
                VerdictKind::Distinct,
                review,
                (article_id, from_id),
                (split.into.clone(), Some(split.from.clone())),
            )
            .await?;
        Ok(Verdicted {
            canonical_id: split.into_canonical.unwrap_or_else(|| article_id.to_string()),
            moved: moving.into_iter().map(|m| m.meta.id).collect(),
            from_canonical_id: split.from_canonical,
            verdict,
        })
    }

    /// The members of a cluster that move with `article` when it is marked distinct from `from`,
    /// `article` first: a member moves when it verifies as a copy of the article or of a member
    /// already moving (the engine's rule, as an ingest's merge check applies it) and is closer to
    /// that moving side than to `from` (by similarity, then by the resemblance of their words, the
    /// order in which verification ranks matches). Repeated until nothing more moves; `from` and
    /// everything else stays.
    pub fn moving_side(
        &self,
        article: &StoredArticle,
        from: &StoredArticle,
        members: &[StoredArticle],
    ) -> Vec<StoredArticle> {
        let mut moving = vec![article.clone()];
        let mut rest: Vec<&StoredArticle> =
            members.iter().filter(|m| m.meta.id != article.meta.id && m.meta.id != from.meta.id).collect();
        loop {
            let before = rest.len();
            rest.retain(|member| {
                let closest = moving
                    .iter()
                    .filter_map(|mover| self.verifies(member, mover))
                    .reduce(|a, b| if b > a { b } else { a });
                match closest {
                    Some(closest) if closest > self.closeness(member, from) => {
                        moving.push((*member).clone());
                        false
                    }
                    _ => true,
                }
            });
            if rest.len() == before {
                return moving;
            }
        }
    }

    /// `MarkDuplicate`: `article_id` is a copy of `of_id`. Unites their clusters (the older id
    /// survives) and lifts any apartness between them. Two articles of one cluster already are left
    /// as they are (the verdict is recorded).
    pub async fn mark_duplicate(&self, article_id: &str, of_id: &str, review: Review) -> Result<Verdicted> {
        review.check()?;
        if article_id == of_id {
            return Err(Error::invalid("of_id", "must differ from article_id"));
        }
        let (_, article_cluster) = self.assigned("article_id", article_id).await?;
        let (_, of_cluster) = self.assigned("of_id", of_id).await?;
        let joined = self.store.join(&article_cluster, &of_cluster).await?;
        let verdict =
            self.record(VerdictKind::Duplicate, review, (article_id, of_id), (joined.cluster_id, None)).await?;
        Ok(Verdicted { verdict, canonical_id: joined.canonical_id, moved: Vec::new(), from_canonical_id: None })
    }

    /// `SetCanonical`: pins `article_id` as the canonical of `cluster_id` (or of the cluster it was
    /// merged into) until another member is pinned or the article is removed. Refuses an unknown
    /// cluster or article (`NotFound`) and an article of another cluster (`FailedPrecondition`).
    pub async fn set_canonical(&self, cluster_id: &str, article_id: &str, review: Review) -> Result<Verdicted> {
        review.check()?;
        if cluster_id.is_empty() {
            return Err(Error::invalid("cluster_id", "must not be empty"));
        }
        let not_found = || Error::NotFound { what: "cluster", id: cluster_id.to_string() };
        let view = self.store.cluster(&ClusterId(cluster_id.to_string())).await?.ok_or_else(not_found)?;
        let (article, article_cluster) = self.assigned("article_id", article_id).await?;
        if article_cluster != view.cluster_id {
            return Err(Error::FailedPrecondition(format!(
                "article {article_id} is in cluster {article_cluster}, not {}",
                view.cluster_id
            )));
        }
        let pinned = self.store.pin(&article).await?.ok_or_else(|| {
            Error::FailedPrecondition(format!("article {article_id} changed while it was pinned: try again"))
        })?;
        let verdict = self.record(VerdictKind::Canonical, review, (article_id, ""), (pinned.cluster_id, None)).await?;
        Ok(Verdicted { verdict, canonical_id: pinned.canonical_id, moved: Vec::new(), from_canonical_id: None })
    }

    /// `ListVerdicts`: up to `limit` verdicts, newest first, before `before` (a `seq`; `None`: from the
    /// newest).
    pub async fn verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>> {
        self.store.verdicts(before, limit.clamp(1, MAX_VERDICTS_PER_PAGE)).await
    }

    /// Leaves out of an ingest's links the clusters kept apart from a cluster linked before them,
    /// in link order (best match first): when the links span clusters kept apart, the article joins
    /// only the side of its best match. Asks the store only when the links span two clusters or more.
    pub(super) async fn honour_apartness(&self, decided: &mut Decided) -> Result<()> {
        let mut clusters: Vec<ClusterId> = Vec::new();
        for cluster_id in decided.linked().filter_map(|article| article.cluster_id.as_ref()) {
            if !clusters.contains(cluster_id) {
                clusters.push(cluster_id.clone());
            }
        }
        if clusters.len() < 2 {
            return Ok(());
        }
        let pairs = self.store.kept_apart(&clusters).await?;
        if pairs.is_empty() {
            return Ok(());
        }
        let apart = |a: &ClusterId, b: &ClusterId| pairs.iter().any(|(x, y)| (x == a && y == b) || (x == b && y == a));
        let mut kept: Vec<ClusterId> = Vec::new();
        for cluster_id in clusters {
            if !kept.iter().any(|k| apart(k, &cluster_id)) {
                kept.push(cluster_id);
            }
        }
        decided.retain_links(|article| article.cluster_id.as_ref().is_none_or(|c| kept.contains(c)));
        Ok(())
    }
}
