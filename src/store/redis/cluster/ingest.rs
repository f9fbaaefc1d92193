//! An ingest's first step, [`Store::insert_and_lookup`], and the read-only lookup.
//!
//! # Round trips per ingest
//!
//! `insert` (article's node) → `post` every band key (every node holding one) → `fetch` the
//! candidates by number (their nodes) → resolve the clusters they name (the clusters' nodes); then the
//! engine verifies, and `assign` is `found` (article's node) for a new cluster, or `add` (the
//! cluster's node) together with `claim` (the article's node) to join one. `assign` reads nothing
//! first: what it needs about the article and its links (members, and the clusters the links were in)
//! comes from the records the engine passes back, as this lookup returned them; a fact gone stale is
//! caught by `add`/`claim`, never trusted (see [`super::merge`]).
//!
//! A node gets one round trip per stage it takes part in. `insert` posts the band keys whose buckets
//! its own node serves, after writing the record (`lua/cluster/insert.lua`: the one script that
//! touches other slots, of its own node only), so the post stage skips the article's node. A cluster
//! lives in its founder's slot, so `fetch` of a founder also reads its cluster's head and canonical
//! (`lua/cluster/fetch.lua`); only clusters named by no fetched founder take the resolve stage.
//!
//! So an original costs three stages (four with candidates to fetch): the article's node 3 at most
//! (insert, fetch, found), every other node 2 (post, fetch). A copy joining a cluster whose founder is
//! among its candidates (the usual case: the original) costs four (insert, post, fetch, add+claim), at
//! most three on any node: a node holding only band keys 1 (post) or 2 (and a candidate: fetch), the
//! cluster's node 3 (post, fetch, add), the article's node 3 (insert, fetch, claim), a node holding
//! both roles 3 (insert, fetch, add+claim); without the founder among the candidates the resolve stage
//! adds one to the cluster's node. Merges and races add steps, off the hot path.

use std::collections::{BTreeSet, HashMap};

use futures::future::try_join_all;
use redis::Value;

use crate::domain::{ClusterId, StoredArticle};
use crate::error::{Error, Result};
use crate::store::redis::{array, bytes, integer, member, member_id, protocol_error, record, string};
use crate::store::{Candidate, ClusterHead, Inserted, Lookup, MIN_SHARED_KEYS, POSTINGS_READ_PER_KEY, Store};

use super::merge::Head;
use super::{RedisClusterStore, TIME_BUCKET_US, slot};

/// An article number as the scripts write it.
pub(super) type Number = [u8; record::NUMBER_WIDTH];

/// The numbers in a `post` or `read` answer: an array of integers (what the scripts' Lua numbers
/// become in a reply, with no string made for each).
fn numbers(what: &str, answer: Value) -> Result<Vec<Number>> {
    array(what, answer)?
        .into_iter()
        .map(|n| {
            let n = integer(what, n)?;
            if !(0..1 << (8 * record::NUMBER_WIDTH)).contains(&n) {
                return Err(protocol_error(what, format!("article number {n} out of range")));
            }
            let bytes = n.to_be_bytes();
            Ok(std::array::from_fn(|i| bytes[8 - record::NUMBER_WIDTH + i]))
        })
        .collect()
}

/// A candidate as `fetch` read it: its record and, when its cluster lives in its slot, the cluster's
/// head (unless forwarded) and the canonical's record (when in that slot too).
struct Fetched {
    article: StoredArticle,
    head: Option<Head>,
    canonical: Option<StoredArticle>,
}

impl RedisClusterStore {
    /// [`Store::insert_and_lookup`]: the `insert` step, then the post stage for the band keys of the
    /// other nodes, then the candidates.
    pub(super) async fn insert(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        const WHAT: &str = "insert";
        debug_assert!(article.cluster_id.is_none(), "new articles are inserted unassigned");
        let id = article.meta.id.clone();
        let encoded = record::encode(&article)?;
        let own_slot = slot(&id);
        let (counter, hashes) = self.number_keys(own_slot);
        // the time-index entry rides on this step: same slot, no round trip of its own
        let day = article.published_us.div_euclid(TIME_BUCKET_US);
        let [list, days] = self.time_keys(own_slot, day);
        let keys = [self.article_key(&id), counter, list, days];
        let entry = [&record::sortable(article.published_us)[..], id.as_bytes()].concat();
        let (own_slot, day) = (own_slot.to_string(), day.to_string());
        let cap = POSTINGS_READ_PER_KEY.to_string();
        let postings = article.band_keys.iter().map(|&band| self.posting(band)).collect::<Result<Vec<_>>>()?;
        let mut args: Vec<&[u8]> = vec![
            &encoded,
            id.as_bytes(),
            hashes.as_bytes(),
            own_slot.as_bytes(),
            &entry,
            day.as_bytes(),
            cap.as_bytes(),
        ];
        for (bucket, field) in &postings {
            args.extend([bucket.as_bytes(), &field[..]]);
        }
        let mut own_number: Option<Number> = None;
        // per band key, what `insert` found posted under it on its own node (`None`: another node's)
        let mut posted_here: Vec<Option<Vec<Number>>> = Vec::new();
        // another version is removed first (as a delete would), then this one is written
        for _ in 0..3 {
            let answer = array(WHAT, self.run(WHAT, &self.scripts.insert, &keys, &args).await?)?;
            let mut items = answer.into_iter();
            match (items.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), items.next()) {
                (Some("n"), Some(number)) => {
                    let number = bytes(WHAT, number)?;
                    own_number =
                        Some(number.try_into().map_err(|_| protocol_error(WHAT, "a number of unexpected width"))?);
                    posted_here = items
                        .map(|found| match found {
                            Value::Nil => Ok(None),
                            found => numbers(WHAT, found).map(Some),
                        })
                        .collect::<Result<_>>()?;
                    if posted_here.len() != postings.len() {
                        return Err(protocol_error(WHAT, "expected an answer per band key"));
                    }
                    break;
                }
                (Some("r"), None) => {
                    self.delete(&id).await?;
                }
                (Some("u"), Some(stored)) => {
                    let mut stored = record::decode(&bytes(WHAT, stored)?)?;
                    let Some(named) = stored.cluster_id.take() else {
                        return Ok(Inserted::Unchanged { article: Box::new(stored), canonical_id: id });
                    };
                    let head = self.resolve(&named).await?;
                    if !self.is_member(&head.cluster_id, &member(&stored)).await? {
                        // claimed by an ingest cut short before its add: unassigned, so that the
                        // retry assigns it again
                        return Ok(Inserted::Unchanged { article: Box::new(stored), canonical_id: id });
                    }
                    stored.cluster_id = Some(head.cluster_id.clone());
                    let canonical_id =
                        if head.first.is_empty() { id.clone() } else { member_id(&head.first).to_string() };
                    return Ok(Inserted::Unchanged { article: Box::new(stored), canonical_id });
                }
                _ => return Err(protocol_error(WHAT, "expected an 'n', 'r' or 'u' answer")),
            }
        }
        let Some(own_number) = own_number else {
            return Err(Error::Unavailable(format!("redis {WHAT}: {id} keeps being replaced concurrently")));
        };
        // the record exists before any posting names it, so whoever finds the number can read it;
        // `insert` posted the band keys of its own node, the others are posted now
        let posted = try_join_all(postings.iter().zip(posted_here).map(|((bucket, field), here)| {
            let (number, cap) = (&own_number, &cap);
            async move {
                if let Some(found) = here {
                    return Ok(found);
                }
                let answer = self
                    .run("post", &self.scripts.post, std::slice::from_ref(bucket), &[field, number, cap.as_bytes()])
                    .await?;
                numbers("post", answer)
            }
        }))
        .await?;
        let mut counts: HashMap<Number, u32> = HashMap::new();
        for found in posted.into_iter().flatten() {
            if found != own_number {
                *counts.entry(found).or_default() += 1;
            }
        }
        Ok(Inserted::New(self.candidates(counts, limit).await?))
    }

    /// [`Store::lookup`]: a `read` of each band key, then the candidates.
    pub(super) async fn read_postings(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        let cap = POSTINGS_READ_PER_KEY.to_string();
        let posted = try_join_all(keys.iter().map(|&band| {
            let cap = &cap;
            async move {
                let (bucket, field) = self.posting(band)?;
                let answer = self.run("lookup", &self.scripts.read, &[bucket], &[&field, cap.as_bytes()]).await?;
                numbers("lookup", answer)
            }
        }))
        .await?;
        let mut counts: HashMap<Number, u32> = HashMap::new();
        for found in posted.into_iter().flatten() {
            *counts.entry(found).or_default() += 1;
        }
        self.candidates(counts, limit).await
    }

    /// The record numbered `number` and, when its cluster lives in its slot, that cluster's head
    /// (`lua/cluster/fetch.lua`); `None` if that article is gone.
    async fn fetch(&self, number: &Number) -> Result<Option<Fetched>> {
        const WHAT: &str = "fetch";
        let (hash, field, tag) = self.numbered(*number);
        let [records, zsets, forwards] = self.slot_prefixes(&tag);
        let args: [&[u8]; 5] = [field.as_bytes(), number, records.as_bytes(), zsets.as_bytes(), forwards.as_bytes()];
        let answer = self.run(WHAT, &self.scripts.fetch, &[hash], &args).await?;
        if matches!(answer, Value::Nil) {
            return Ok(None);
        }
        let mut items = array(WHAT, answer)?.into_iter();
        let record = items.next().ok_or_else(|| protocol_error(WHAT, "no record"))?;
        let article = record::decode(&bytes(WHAT, record)?)?;
        let (head, canonical) = match (items.next(), items.next()) {
            (None, None) => (None, None),
            (Some(head), Some(canonical)) => {
                let mut head = array(WHAT, head)?.into_iter();
                let head = match (head.next().map(|t| string(WHAT, t)).transpose()?.as_deref(), head.next()) {
                    (Some("h"), Some(first)) => {
                        let first = string(WHAT, first)?;
                        article.cluster_id.clone().map(|cluster_id| Head { cluster_id, first })
                    }
                    // forwarded: `resolve` follows it (and finishes a move cut short)
                    (Some("f"), Some(_)) => None,
                    _ => return Err(protocol_error(WHAT, "expected an 'h' or 'f' head")),
                };
                let canonical = match canonical {
                    Value::Nil => None,
                    canonical => Some(record::decode(&bytes(WHAT, canonical)?)?),
                };
                (head, canonical)
            }
            _ => return Err(protocol_error(WHAT, "expected a record, or a record and its cluster's head")),
        };
        Ok(Some(Fetched { article, head, canonical }))
    }

    /// The root of the posting bucket a band key is posted in, and its field there (see the parent
    /// module): each bucket its own slot, so postings spread over the cluster; the root's name is its
    /// hash tag, so the parts it splits into as it grows (`lua/lib/postings.lua`) share its slot.
    pub(super) fn posting(&self, band: u64) -> Result<(String, [u8; 2])> {
        let [tag, a, b, c, d] = record::band(band)?;
        Ok((format!("{}:p:{{{tag:02x}{a:02x}{b:02x}}}", self.namespace), [c, d]))
    }

    /// Candidates and heads for the numbers found under the looked-up keys, with how many keys each
    /// shares.
    async fn candidates(&self, counts: HashMap<Number, u32>, limit: usize) -> Result<Lookup> {
        let mut shared: Vec<(Number, u32)> = counts.into_iter().filter(|&(_, n)| n >= MIN_SHARED_KEYS).collect();
        // only the most shared can make the cut; ties at the cut are broken by id, which only the
        // records know, so every article tied with the last one kept is read
        if shared.len() > limit {
            shared.sort_unstable_by_key(|&(_, n)| std::cmp::Reverse(n));
            let cut = limit.checked_sub(1).map_or(u32::MAX, |last| shared[last].1);
            shared.retain(|&(_, n)| n >= cut);
        }
        let fetched = try_join_all(shared.iter().map(|(number, _)| self.fetch(number))).await?;
        let mut found: Vec<Candidate> = Vec::new();
        // heads and canonicals that came with the records, by the cluster named in the record
        let mut fetched_heads: HashMap<ClusterId, Head> = HashMap::new();
        let mut known: HashMap<String, StoredArticle> = HashMap::new();
        for ((_, shared_keys), fetched) in shared.into_iter().zip(fetched) {
            let Some(Fetched { article, head, canonical }) = fetched else { continue };
            if let Some(head) = head {
                fetched_heads.insert(head.cluster_id.clone(), head);
            }
            if let Some(canonical) = canonical {
                known.insert(canonical.meta.id.clone(), canonical);
            }
            found.push(Candidate { article, shared_keys });
        }
        found.sort_unstable_by(|a, b| {
            b.shared_keys.cmp(&a.shared_keys).then_with(|| a.article.meta.id.cmp(&b.article.meta.id))
        });
        found.truncate(limit);
        // the clusters as named in the records, resolved to the live ones: a head read with a record
        // is as fresh as one read now would be (a stage later), so only the others take a step
        let named: BTreeSet<ClusterId> = found.iter().filter_map(|c| c.article.cluster_id.clone()).collect();
        let heads = try_join_all(named.iter().map(|c| (c, fetched_heads.remove(c))).map(|(c, fetched)| async move {
            match fetched {
                Some(head) => Ok(head),
                None => self.resolve(c).await,
            }
        }))
        .await?;
        let live: HashMap<ClusterId, ClusterId> =
            named.into_iter().zip(heads.iter().map(|h| h.cluster_id.clone())).collect();
        for candidate in &mut found {
            if let Some(named) = &candidate.article.cluster_id {
                candidate.article.cluster_id = live.get(named).cloned();
            }
        }
        known.extend(found.iter().map(|c| (c.article.meta.id.clone(), c.article.clone())));
        let mut distinct: Vec<Head> = Vec::new();
        for head in heads {
            if !distinct.iter().any(|h| h.cluster_id == head.cluster_id) {
                distinct.push(head);
            }
        }
        let canonicals = try_join_all(distinct.into_iter().map(|head| self.canonical(head, &known))).await?;
        let clusters = canonicals
            .into_iter()
            .flatten()
            .map(|(cluster_id, canonical)| ClusterHead { cluster_id, canonical })
            .collect();
        Ok(Lookup { candidates: found, clusters })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posted numbers arrive as integers and become the 5 bytes records and postings hold; anything
    /// else is a protocol error, never a truncated number.
    #[test]
    fn posted_numbers_are_integers_of_five_bytes() {
        let answer = Value::Array(vec![Value::Int(0), Value::Int(4096 * 7 + 5), Value::Int((1 << 40) - 1)]);
        assert_eq!(numbers("post", answer).unwrap(), [[0; 5], [0, 0, 0, 0x70, 0x05], [0xff; 5]]);
        for bad in [Value::Int(1 << 40), Value::Int(-1), Value::BulkString(vec![0; 5])] {
            assert!(numbers("post", Value::Array(vec![bad])).is_err());
        }
        assert!(numbers("post", Value::Nil).is_err());
    }
}
