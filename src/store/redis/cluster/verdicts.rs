//! Moderation verdicts on a Redis Cluster (see `docs/moderation.md`): splits, apartness, forced
//! merges, pinned canonicals and the verdict log.
//!
//! # A split, step by step
//!
//! A split of members out of cluster `F` into a new cluster `N` touches `N`'s slot, each member's
//! slot and `F`'s slot, so it is a sequence of steps, each idempotent, run in this order:
//!
//! 1. **rift** (`N`'s slot): adds the moving members to `N`'s zset with their scores (pins go along)
//!    and keeps `N` apart from `F`. It answers every member of `N`: what the next steps move.
//! 2. **move** (each member's slot): points the member's record at `N`, the marked article (the
//!    first moving) alone before the others: once its record says `N`, a retry of the verdict finds the two
//!    articles in clusters kept apart, and finishes the split instead of starting another.
//! 3. **part** (`F`'s slot): drops the moved members from `F`'s zset and keeps `F` apart from `N`.
//!
//! A split cut short is finished by retrying it ([`crate::store::Store::split`] with the same `F`
//! and `N`, which the engine does when the verdict is repeated): until then the moving members are
//! listed in both zsets. A split cut short before its marked article moved leaves an orphan `N`
//! that no record names; the retry splits afresh.
//!
//! # Apartness and merges
//!
//! `ns:x:{S}CLUSTER` holds the cluster ids a cluster is kept apart from, as recorded; readers resolve
//! them through forwards. A merge passes the absorbed cluster's set on to the live survivor between
//! its `add` and `finish` steps (`merge.rs`), so a merge cut short passes it on when it is finished.

use std::collections::{BTreeSet, HashMap};

use futures::future::try_join_all;

use crate::domain::{ClusterId, StoredArticle, Verdict};
use crate::error::{Error, Result};
use crate::store::redis::{array, member, member_id, protocol_error, string};
use crate::store::{Assigned, Split};

use super::RedisClusterStore;
use super::merge::strings;

/// The verdict log's key.
fn log_key(namespace: &str) -> String {
    format!("{namespace}:v")
}

impl RedisClusterStore {
    /// The canonical id of the live cluster `cluster_id` resolves to, skipping ghosts.
    async fn canonical_of(&self, cluster_id: &ClusterId) -> Result<(ClusterId, Option<String>)> {
        let head = self.resolve(cluster_id).await?;
        let live = head.cluster_id.clone();
        let canonical = self.canonical(head, &HashMap::new()).await?;
        Ok((live, canonical.map(|(_, article)| article.meta.id)))
    }

    /// Records that `cluster_id` is kept apart from each of `partners`, both ways.
    pub(super) async fn keep_apart(&self, cluster_id: &ClusterId, partners: &[String]) -> Result<()> {
        let mut own = redis::cmd("SADD");
        own.arg(self.apart_key(cluster_id)).arg(partners);
        self.command::<i64>("keep apart", own).await?;
        try_join_all(partners.iter().map(|partner| async move {
            let mut theirs = redis::cmd("SADD");
            theirs.arg(self.apart_key(&ClusterId(partner.clone()))).arg(cluster_id.as_str());
            self.command::<i64>("keep apart", theirs).await
        }))
        .await?;
        Ok(())
    }

    /// The ids a cluster's apartness set names, as recorded.
    async fn partners(&self, cluster_id: &ClusterId) -> Result<Vec<ClusterId>> {
        let mut command = redis::cmd("SMEMBERS");
        command.arg(self.apart_key(cluster_id));
        let partners: Vec<String> = self.command("kept apart", command).await?;
        Ok(partners.into_iter().map(ClusterId).collect())
    }

    /// `Store::split`: rift, move, part (see the module doc).
    pub(super) async fn split_off(
        &self,
        from: &ClusterId,
        moving: &[&StoredArticle],
        into: &ClusterId,
    ) -> Result<Split> {
        const WHAT: &str = "split";
        let head = self.resolve(from).await?;
        if head.first.is_empty() {
            return Err(Error::NotFound { what: "cluster", id: from.0.clone() });
        }
        let from = head.cluster_id;
        if &from == into {
            return Err(Error::Internal(format!("split of cluster {from} into itself")));
        }
        let [from_zset, _] = self.cluster_keys(&from);
        // the moving members still in `from`, with their scores (pins)
        let members: Vec<String> = moving.iter().map(|article| member(article)).collect();
        let scores: Vec<Option<String>> = if members.is_empty() {
            Vec::new()
        } else {
            let mut command = redis::cmd("ZMSCORE");
            command.arg(&from_zset).arg(&members);
            self.command(WHAT, command).await?
        };
        let mut args: Vec<&[u8]> = vec![from.as_str().as_bytes()];
        for (member, score) in members.iter().zip(&scores) {
            if let Some(score) = score {
                args.extend([score.as_bytes(), member.as_bytes()]);
            }
        }
        // 1. rift
        let [into_zset, into_forward] = self.cluster_keys(into);
        let keys = [into_zset, into_forward, self.apart_key(into)];
        let listed = strings(WHAT, self.run(WHAT, &self.scripts.rift, &keys, &args).await?)?;
        let moved: Vec<String> = listed.chunks(2).filter_map(|pair| pair.first().cloned()).collect();
        // 2. move: the marked article (the first moving, whom `into` is named after) on its own first
        let marked = members.first().filter(|m| moved.contains(m));
        if let Some(marked) = marked {
            self.move_member(marked, into).await?;
        }
        try_join_all(moved.iter().filter(|m| Some(*m) != marked).map(|m| self.move_member(m, into))).await?;
        // 3. part, in the live cluster split from (a merge may have moved it meanwhile)
        let live = self.resolve(&from).await?.cluster_id;
        let [live_zset, _] = self.cluster_keys(&live);
        let mut args: Vec<&[u8]> = vec![into.as_str().as_bytes()];
        args.extend(moved.iter().map(String::as_bytes));
        self.run(WHAT, &self.scripts.part, &[live_zset, self.apart_key(&live)], &args).await?;
        let (from, from_canonical) = self.canonical_of(&live).await?;
        let (into, into_canonical) = self.canonical_of(into).await?;
        Ok(Split { from, from_canonical, into, into_canonical })
    }

    /// Step 2 of a split for one member: its record names `into` (a ghost is dropped from `into`).
    async fn move_member(&self, member: &str, into: &ClusterId) -> Result<()> {
        const WHAT: &str = "split";
        let keys = [self.article_key(member_id(member))];
        let answer = array(
            WHAT,
            self.run(WHAT, &self.scripts.move_to, &keys, &[member.as_bytes(), into.as_str().as_bytes()]).await?,
        )?;
        match answer.into_iter().next().map(|tag| string(WHAT, tag)).transpose()?.as_deref() {
            Some("ok") => Ok(()),
            Some("x") => self.drop_ghost(into, member).await,
            _ => Err(protocol_error(WHAT, "expected an 'ok' or 'x' answer")),
        }
    }

    /// `Store::kept_apart`: each id resolved, each live cluster's apartness read and resolved; a pair
    /// counts when either side records the other (a split cut short has recorded one side only).
    pub(super) async fn apart_pairs(&self, clusters: &[ClusterId]) -> Result<Vec<(ClusterId, ClusterId)>> {
        if clusters.len() < 2 {
            return Ok(Vec::new());
        }
        let live: Vec<ClusterId> =
            try_join_all(clusters.iter().map(|c| self.resolve(c))).await?.into_iter().map(|h| h.cluster_id).collect();
        let distinct: BTreeSet<&ClusterId> = live.iter().collect();
        let recorded = try_join_all(distinct.iter().map(|c| self.partners(c))).await?;
        let named: BTreeSet<&ClusterId> = recorded.iter().flatten().collect();
        let resolved = try_join_all(named.iter().map(|c| self.resolve(c))).await?;
        let resolved: HashMap<&ClusterId, ClusterId> =
            named.into_iter().zip(resolved.into_iter().map(|h| h.cluster_id)).collect();
        let apart: HashMap<&ClusterId, BTreeSet<&ClusterId>> = distinct
            .iter()
            .zip(&recorded)
            .map(|(c, partners)| (*c, partners.iter().filter_map(|p| resolved.get(p)).collect()))
            .collect();
        let is_apart = |a: &ClusterId, b: &ClusterId| {
            apart.get(a).is_some_and(|p| p.contains(b)) || apart.get(b).is_some_and(|p| p.contains(a))
        };
        let mut pairs: Vec<(ClusterId, ClusterId)> = Vec::new();
        for i in 0..clusters.len() {
            for j in i + 1..clusters.len() {
                let named = (&clusters[i], &clusters[j]);
                let seen = pairs.iter().any(|(x, y)| (x, y) == named || (y, x) == named);
                if live[i] != live[j] && is_apart(&live[i], &live[j]) && !seen {
                    pairs.push((named.0.clone(), named.1.clone()));
                }
            }
        }
        Ok(pairs)
    }

    /// `Store::join`: lifts the apartness between the two live clusters (both sets), then unites them.
    pub(super) async fn join_clusters(&self, a: &ClusterId, b: &ClusterId) -> Result<Assigned> {
        let (head_a, head_b) = futures::try_join!(self.resolve(a), self.resolve(b))?;
        for (head, named) in [(&head_a, a), (&head_b, b)] {
            if head.first.is_empty() {
                return Err(Error::NotFound { what: "cluster", id: named.0.clone() });
            }
        }
        let (a, b) = (head_a.cluster_id, head_b.cluster_id);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let partners = self.partners(x).await?;
            let heads = try_join_all(partners.iter().map(|p| self.resolve(p))).await?;
            let lifted: Vec<&str> =
                partners.iter().zip(heads).filter(|(_, head)| &head.cluster_id == y).map(|(p, _)| p.as_str()).collect();
            if !lifted.is_empty() {
                let mut command = redis::cmd("SREM");
                command.arg(self.apart_key(x)).arg(lifted);
                self.command::<i64>("join", command).await?;
            }
        }
        let head = if a == b { self.resolve(&a).await? } else { self.unite(&[a, b].into_iter().collect()).await? };
        let cluster_id = head.cluster_id.clone();
        let canonical = self.canonical(head, &HashMap::new()).await?;
        Ok(Assigned { cluster_id, canonical_id: canonical.map(|(_, c)| c.meta.id).unwrap_or_default() })
    }

    /// `Store::pin`: the article's record is checked to be the version passed, then its member is
    /// pinned in the live cluster its record's cluster resolves to.
    pub(super) async fn pin_canonical(&self, article: &StoredArticle) -> Result<Option<Assigned>> {
        const WHAT: &str = "pin";
        let Some((stored, own_member)) = self.read(&article.meta.id).await? else { return Ok(None) };
        let Some(named) = stored.cluster_id else { return Ok(None) };
        if own_member != member(article) {
            return Ok(None);
        }
        let mut current = self.resolve(&named).await?.cluster_id;
        for _ in 0..super::MAX_HOPS {
            let keys = self.cluster_keys(&current);
            let answer = array(WHAT, self.run(WHAT, &self.scripts.pin, &keys, &[own_member.as_bytes()]).await?)?;
            let mut items = answer.into_iter();
            match (items.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), items.next()) {
                (Some("h"), Some(first)) => {
                    let canonical_id = member_id(&string(WHAT, first)?).to_string();
                    return Ok(Some(Assigned { cluster_id: current, canonical_id }));
                }
                (Some("f"), Some(_)) => current = self.resolve(&current).await?.cluster_id,
                (Some("x"), None) => return Ok(None),
                _ => return Err(protocol_error(WHAT, "expected an 'h', 'f' or 'x' answer")),
            }
        }
        Err(Error::Internal(format!("redis {WHAT}: cluster {named} forwards more than {} times", super::MAX_HOPS)))
    }

    /// `Store::record_verdict`: one `RPUSH` to the log.
    pub(super) async fn append_verdict(&self, verdict: Verdict) -> Result<Verdict> {
        let command = crate::store::redis::push_verdict(&log_key(&self.namespace), &verdict)?;
        let seq: u64 = self.command("record verdict", command).await?;
        Ok(Verdict { seq, ..verdict })
    }

    /// `Store::verdicts`: `LLEN`, then one `LRANGE`.
    pub(super) async fn read_verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>> {
        let key = log_key(&self.namespace);
        let mut length = redis::cmd("LLEN");
        length.arg(&key);
        let length: u64 = self.command("verdicts", length).await?;
        let Some(range) = crate::store::redis::verdict_range(length, before, limit) else { return Ok(Vec::new()) };
        let mut read = redis::cmd("LRANGE");
        read.arg(&key).arg(range.start - 1).arg(range.end - 2);
        let entries: Vec<Vec<u8>> = self.command("verdicts", read).await?;
        crate::store::redis::decode_verdicts(range.start, &entries)
    }
}
