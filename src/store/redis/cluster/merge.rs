//! Clusters across slots: [`Store::assign`] and the steps it is made of (`found`, `add`, `claim`, and
//! a merge's `close` and `finish`), resolving forwards, and canonicals.
//!
//! # Why merges stay correct across slots
//!
//! A member's truth is the zset of the live cluster at the end of its `c`'s forward chain. Every step
//! keeps that true or makes it true again:
//!
//! - **join** = `add` to the target zset and `claim` the article's `c` (set only if unset), sent
//!   together. `add` refuses a closed cluster and answers its forward (followed until a live cluster
//!   takes the member), so a member is never added to a cluster whose members were already taken for
//!   a move; the claim names the target, which resolves to wherever the add ended. If another ingest
//!   claimed the article first (adoption of a racing copy), the two clusters are united. An ingest cut
//!   short between the two leaves either an unclaimed member (reported unassigned, so the retried
//!   ingest assigns it again) or a claim without membership (the retry's `insert` checks membership
//!   and reports it unassigned too; `assign` always adds the article itself).
//! - **merge** of `X` into `S` (the smaller id) = `close X` (set the forward, read the members), `add`
//!   them to `S` (following `S`'s forward if `S` was merged meanwhile), `finish X` (drop its zset).
//!   From `close` on, `X`'s members resolve to `S`, so their `c` fields never need rewriting. A merge
//!   cut short leaves a closed cluster with members: whoever resolves through it moves them again
//!   (`add` is idempotent), so the move always completes. Two merges racing on one cluster are
//!   serialised by `close` (one slot): the second learns the forward, resolves, and unites what is
//!   left.
//! - a union repeats "resolve every target, merge all into the smallest" until one live cluster is
//!   left, so concurrent unions of overlapping sets converge on the smallest id.
//! - **delete** removes the record first (one script: only one deleter wins), then the postings and
//!   the member. A merge moving the member at the same time can leave it behind as a *ghost* (a member
//!   without its record, or with another version's): readers skip ghosts, and a ghost at the head is
//!   removed when met.
//!
//! This is also why `assign` may work from the records its lookup returned: a cluster id in them that
//! was merged away since is followed by `add`, and an article placed meanwhile is refused by `claim`
//! (or `found`), which answers where it is.
//!
//! [`Store::assign`]: crate::store::Store::assign

use std::collections::{BTreeSet, HashMap};

use futures::future::try_join_all;
use redis::Value;

use crate::domain::{ClusterId, StoredArticle, now_micros};
use crate::error::{Error, Result};
use crate::store::Assigned;
use crate::store::redis::{array, integer, member, member_id, protocol_error, string};

/// An array of strings.
pub(super) fn strings(what: &str, value: Value) -> Result<Vec<String>> {
    array(what, value)?.into_iter().map(|item| string(what, item)).collect()
}

use super::{MAX_HOPS, RedisClusterStore};

/// A live cluster and its first member (`""` when empty).
pub(super) struct Head {
    pub(super) cluster_id: ClusterId,
    pub(super) first: String,
}

/// An article taking part in an assign: its member and its cluster (`None`: unassigned).
struct Fact {
    id: String,
    member: String,
    cluster: Option<ClusterId>,
}

/// `{'x'}`, `{'c', cluster}`, `{'h', first}` or `{'ok'}`, as found and claim answer.
enum Placed {
    Gone,
    Elsewhere(ClusterId),
    Head(String),
    Claimed,
}

fn placed(what: &str, answer: Value) -> Result<Placed> {
    let mut items = array(what, answer)?.into_iter();
    match (items.next().map(|t| string(what, t)).transpose()?.as_deref(), items.next()) {
        (Some("x"), None) => Ok(Placed::Gone),
        (Some("ok"), None) => Ok(Placed::Claimed),
        (Some("c"), Some(cluster)) => Ok(Placed::Elsewhere(ClusterId(string(what, cluster)?))),
        (Some("h"), Some(first)) => Ok(Placed::Head(string(what, first)?)),
        _ => Err(protocol_error(what, "expected an 'x', 'ok', 'c' or 'h' answer")),
    }
}

impl RedisClusterStore {
    /// `Store::assign`: each member, and each link's cluster, is taken from the records passed
    /// back; only the writes read the store. The article's own cluster is not taken from its record:
    /// `found` or `claim` reads it where it writes.
    pub(super) async fn place(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        const WHAT: &str = "assign";
        let id = article.meta.id.as_str();
        let not_found = || Error::NotFound { what: "article", id: id.to_string() };
        let mut facts = vec![Fact { id: id.to_string(), member: member(article), cluster: None }];
        for link in links {
            if facts.iter().all(|fact| fact.id != link.meta.id) {
                facts.push(Fact { id: link.meta.id.clone(), member: member(link), cluster: link.cluster_id.clone() });
            }
        }
        let mut targets: BTreeSet<ClusterId> = facts.iter().filter_map(|f| f.cluster.clone()).collect();
        // the article itself is always added (adding is idempotent): an ingest cut short between claim
        // and add left it claimed but no member, and this is its retry
        let mut to_add: Vec<String> = facts.iter().filter(|f| f.cluster.is_none()).map(|f| f.member.clone()).collect();
        let mut to_claim: Vec<&Fact> = facts.iter().filter(|f| f.cluster.is_none()).collect();
        for _ in 0..MAX_HOPS {
            let head = if targets.is_empty() {
                // a new cluster, founded by this article in its own slot: found = add + claim
                let founded = ClusterId::new(now_micros(), id);
                let [zset, _] = self.cluster_keys(&founded);
                let keys = [self.article_key(id), zset];
                let own_member = facts.first().map(|f| f.member.as_bytes()).unwrap_or_default();
                let args: [&[u8]; 2] = [founded.as_str().as_bytes(), own_member];
                match placed(WHAT, self.run(WHAT, &self.scripts.found, &keys, &args).await?)? {
                    Placed::Gone => return Err(not_found()),
                    Placed::Elsewhere(cluster) => {
                        // adopted by a racing ingest since the lookup
                        targets.insert(cluster);
                        to_claim.retain(|f| f.id != id);
                        continue;
                    }
                    Placed::Head(first) => {
                        let own = to_claim.iter().position(|f| f.id == id);
                        if let Some(own) = own {
                            to_add.retain(|m| m != &to_claim[own].member);
                            to_claim.remove(own);
                        }
                        if to_add.is_empty() {
                            return Ok(Assigned { cluster_id: founded, canonical_id: member_id(&first).to_string() });
                        }
                        founded
                    }
                    Placed::Claimed => return Err(protocol_error(WHAT, "found answered 'ok'")),
                }
            } else if targets.len() == 1 {
                // one cluster: add follows its forwards, nothing to resolve first
                targets.first().cloned().ok_or_else(|| protocol_error(WHAT, "no target"))?
            } else {
                self.unite(&targets).await?.cluster_id
            };
            // join = add and claim at once: the claim names `head`, which resolves to wherever the add
            // ends; a claim without its add (cut short) is repaired by the retry (see above)
            let add =
                async { if to_add.is_empty() { self.resolve(&head).await } else { self.add(&head, &to_add).await } };
            let claims = try_join_all(to_claim.iter().map(|fact| {
                let keys = [self.article_key(&fact.id)];
                let cluster = head.as_str().as_bytes();
                async move {
                    let answer = self.run(WHAT, &self.scripts.claim, &keys, &[cluster, fact.member.as_bytes()]).await?;
                    placed(WHAT, answer)
                }
            }));
            let (mut live, claims) = futures::try_join!(add, claims)?;
            let mut elsewhere: Vec<ClusterId> = Vec::new();
            let mut ghosts = false;
            for (fact, claim) in to_claim.iter().zip(claims) {
                match claim {
                    Placed::Claimed | Placed::Head(_) => {}
                    Placed::Gone => {
                        self.drop_ghost(&live.cluster_id, &fact.member).await?;
                        if fact.id == id {
                            return Err(not_found());
                        }
                        ghosts = true;
                    }
                    Placed::Elsewhere(cluster) => elsewhere.push(cluster),
                }
            }
            if ghosts {
                // a link deleted since its lookup was added: the head `add` answered may be its ghost
                live = self.resolve(&live.cluster_id).await?;
            }
            if elsewhere.is_empty() {
                let canonical_id =
                    if live.first.is_empty() { id.to_string() } else { member_id(&live.first).to_string() };
                return Ok(Assigned { cluster_id: live.cluster_id, canonical_id });
            }
            // placed by a racing ingest first: unite the clusters (every joiner is a member already)
            targets = elsewhere.into_iter().chain(std::iter::once(live.cluster_id)).collect();
            to_add.clear();
            to_claim.clear();
        }
        Err(Error::Internal(format!("redis {WHAT}: {id} did not settle in {MAX_HOPS} rounds")))
    }

    /// The live cluster `cluster_id` resolves to, with its first member. Completes any move a merge
    /// left unfinished on the way.
    pub(super) async fn resolve(&self, cluster_id: &ClusterId) -> Result<Head> {
        const WHAT: &str = "resolve";
        let mut current = cluster_id.clone();
        for _ in 0..MAX_HOPS {
            let keys = self.cluster_keys(&current);
            let answer = array(WHAT, self.run(WHAT, &self.scripts.head, &keys, &[]).await?)?;
            let mut items = answer.into_iter();
            match (items.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), items.next(), items.next()) {
                (Some("h"), Some(first), None) => return Ok(Head { cluster_id: current, first: string(WHAT, first)? }),
                (Some("f"), Some(into), Some(pending)) => {
                    let into = ClusterId(string(WHAT, into)?);
                    if integer(WHAT, pending)? > 0 {
                        // a merge was cut short between close and finish: finish it
                        self.move_members(&current, &into).await?;
                    }
                    current = into;
                }
                _ => return Err(protocol_error(WHAT, "expected an 'h' or 'f' answer")),
            }
        }
        Err(Error::Internal(format!("redis resolve: cluster {cluster_id} forwards more than {MAX_HOPS} times")))
    }

    /// Adds members (unpinned) to a cluster, following its forwards; returns the live cluster they
    /// are in.
    pub(super) async fn add(&self, cluster_id: &ClusterId, members: &[String]) -> Result<Head> {
        let scored: Vec<(String, String)> = members.iter().map(|m| ("0".to_string(), m.clone())).collect();
        self.add_scored(cluster_id, &scored).await
    }

    /// Adds members with their scores (a pin is -1) to a cluster, following its forwards; returns the
    /// live cluster they are in.
    pub(super) async fn add_scored(&self, cluster_id: &ClusterId, members: &[(String, String)]) -> Result<Head> {
        const WHAT: &str = "add";
        let mut current = cluster_id.clone();
        let args: Vec<&[u8]> = members.iter().flat_map(|(score, m)| [score.as_bytes(), m.as_bytes()]).collect();
        for _ in 0..MAX_HOPS {
            let keys = self.cluster_keys(&current);
            let answer = array(WHAT, self.run(WHAT, &self.scripts.add, &keys, &args).await?)?;
            let mut items = answer.into_iter();
            match (items.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), items.next()) {
                (Some("h"), Some(first)) => return Ok(Head { cluster_id: current, first: string(WHAT, first)? }),
                (Some("f"), Some(into)) => current = ClusterId(string(WHAT, into)?),
                _ => return Err(protocol_error(WHAT, "expected an 'h' or 'f' answer")),
            }
        }
        Err(Error::Internal(format!("redis add: cluster {cluster_id} forwards more than {MAX_HOPS} times")))
    }

    /// Merges `absorbed` into `survivor` (see the module doc). Returns without doing anything when
    /// `absorbed` was merged elsewhere first: the caller resolves again.
    async fn merge(&self, absorbed: &ClusterId, survivor: &ClusterId) -> Result<()> {
        debug_assert!(survivor < absorbed, "the older (smaller) cluster id survives");
        self.move_members(absorbed, survivor).await
    }

    /// `close`, `add` to the survivor (members with their pins), pass the absorbed cluster's
    /// apartness on to the live survivor, `finish`: each step idempotent, so this also completes a
    /// merge that was cut short.
    pub(super) async fn move_members(&self, absorbed: &ClusterId, survivor: &ClusterId) -> Result<()> {
        const WHAT: &str = "merge";
        let [zset, forward] = self.cluster_keys(absorbed);
        let keys = [zset, forward, self.apart_key(absorbed)];
        let answer = array(WHAT, self.run(WHAT, &self.scripts.close, &keys, &[survivor.as_str().as_bytes()]).await?)?;
        let mut items = answer.into_iter();
        let tag = items.next().map(|t| string(WHAT, t)).transpose()?;
        let (members, partners) = match (tag.as_deref(), items.next(), items.next()) {
            (Some("m"), Some(members), Some(partners)) => (strings(WHAT, members)?, strings(WHAT, partners)?),
            (Some("f"), Some(_), None) => return Ok(()),
            _ => return Err(protocol_error(WHAT, "expected an 'm' or 'f' answer")),
        };
        // WITHSCORES: member, score, member, score…
        let scored: Vec<(String, String)> =
            members.chunks(2).filter_map(|pair| Some((pair.get(1)?.clone(), pair.first()?.clone()))).collect();
        // with no member to add, `add` only follows the survivor's forwards to the live cluster
        let live = self.add_scored(survivor, &scored).await?;
        if !partners.is_empty() {
            self.keep_apart(&live.cluster_id, &partners).await?;
        }
        self.run(WHAT, &self.scripts.finish, &keys[..2], &[]).await?;
        Ok(())
    }

    /// Unites clusters until one live cluster is left: the smallest id.
    pub(super) async fn unite(&self, targets: &BTreeSet<ClusterId>) -> Result<Head> {
        let mut targets = targets.clone();
        for _ in 0..MAX_HOPS {
            let heads = try_join_all(targets.iter().map(|t| self.resolve(t))).await?;
            let live: BTreeSet<ClusterId> = heads.iter().map(|h| h.cluster_id.clone()).collect();
            let Some(survivor) = live.first().cloned() else {
                return Err(Error::Internal("redis unite: no cluster to unite".into()));
            };
            if live.len() == 1 {
                let head = heads.into_iter().find(|h| h.cluster_id == survivor);
                return head.ok_or_else(|| Error::Internal("redis unite: lost the survivor".into()));
            }
            for absorbed in live.iter().skip(1) {
                self.merge(absorbed, &survivor).await?;
            }
            targets = live;
        }
        Err(Error::Internal(format!("redis unite: no single cluster after {MAX_HOPS} rounds")))
    }

    /// The canonical of a live cluster whose first member is `head.first`, skipping (and removing)
    /// ghosts; `None` if the cluster is empty.
    pub(super) async fn canonical(
        &self,
        head: Head,
        known: &HashMap<String, StoredArticle>,
    ) -> Result<Option<(ClusterId, StoredArticle)>> {
        let mut head = head;
        for _ in 0..MAX_HOPS {
            if head.first.is_empty() {
                return Ok(None);
            }
            let id = member_id(&head.first).to_string();
            if let Some(article) = known.get(&id)
                && member(article) == head.first
            {
                let canonical = StoredArticle { cluster_id: Some(head.cluster_id.clone()), ..article.clone() };
                return Ok(Some((head.cluster_id, canonical)));
            }
            match self.read(&id).await? {
                Some((article, stored_member)) if stored_member == head.first => {
                    return Ok(Some((
                        head.cluster_id.clone(),
                        StoredArticle { cluster_id: Some(head.cluster_id), ..article },
                    )));
                }
                _ => {
                    self.drop_ghost(&head.cluster_id, &head.first).await?;
                    head = self.resolve(&head.cluster_id).await?;
                }
            }
        }
        Err(Error::Internal("redis canonical: too many ghosts".into()))
    }

    pub(super) async fn is_member(&self, cluster_id: &ClusterId, member: &str) -> Result<bool> {
        let [zset, _] = self.cluster_keys(cluster_id);
        let mut command = redis::cmd("ZSCORE");
        command.arg(zset).arg(member);
        Ok(self.command::<Option<f64>>("member", command).await?.is_some())
    }

    pub(super) async fn drop_ghost(&self, cluster_id: &ClusterId, ghost: &str) -> Result<()> {
        let [zset, _] = self.cluster_keys(cluster_id);
        let mut command = redis::cmd("ZREM");
        command.arg(zset).arg(ghost);
        self.command::<i64>("ghost", command).await?;
        Ok(())
    }
}
