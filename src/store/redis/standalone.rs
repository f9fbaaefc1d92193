//! `redis://` / `rediss://`: the index in one Redis.
//!
//! Every [`Store`] call is one Lua script (or one command), so each is atomic on the Redis side and
//! costs one round trip whatever the corpus size: an ingest is two (`insert`, `assign`), and one that
//! finds a duplicate a third (the duplicate feed's append, `feed.rs`). The scripts compute key names
//! inside Lua from the namespace, which standalone Redis allows; a Redis Cluster does not, hence its
//! own backend ([`super::RedisClusterStore`]).
//!
//! # Key layout
//!
//! Besides the records, numbers and posting buckets of the parent module (`ns` is the namespace):
//!
//! - `ns:a:ID`, string: the article's record; merges rewrite its cluster id in place;
//! - `ns:n`, the counter that numbers articles, and `ns:i:HIGH`, the hashes from a number to its id;
//! - `ns:c:CLUSTER`, zset of the members of a cluster that has had two or more (see the parent
//!   module for the member format). A zset is kept while it has members, even one;
//! - `ns:s:BUCKET`, hash: the singleton index, the clusters of one member, which have no zset. Most
//!   articles are never copied, so most clusters are singletons, and a zset of one member costs far
//!   more than a hash field. Field: the cluster id without its dash and last 3 hex digits, which the
//!   bucket implies (21 bytes); value: the founder's article number in decimal, which listpack stores
//!   as an integer (`ns:i:HIGH` leads to the id, and the record is checked to carry that number and
//!   cluster). `BUCKET` is the low 15 bits of the id's tag (its last 8 hex digits, a hash of the
//!   founder), in decimal: 32,768 buckets keep each hash under the 512 fields past which Redis turns
//!   it from a listpack into a hashtable (`hash-max-listpack-entries`) up to ~10M singletons, and a
//!   listpack's search short; more buckets would cost more at small sizes, each bucket being a key.
//!   The article that founds a cluster alone gets an entry; the join, adoption or merge that gives the
//!   cluster a second member moves it into a new zset (its member built from the founder's record)
//!   and drops the entry; a delete or expiry of the one member drops it too. So an article whose
//!   record names `CLUSTER` is in `ns:c:CLUSTER`, or that zset does not exist and the article is the
//!   one member `ns:s` names: every reader of a cluster relies on that (`lua/standalone/common.lua`:
//!   `canonical_of`, `singleton_member`, `take_members`);
//! - `ns:f:CLUSTER`, string: the cluster this one was merged into. A merge rewrites every forward that
//!   pointed to the absorbed cluster, so a forward is always one hop;
//! - `ns:r:CLUSTER`, set: the clusters forwarding to this one, which makes that rewrite possible
//!   without scanning;
//! - `ns:t:HOUR`, list: the ids of the articles published in that hour (hours since the epoch,
//!   [`TIME_BUCKET_US`]), appended by the insert script: retention's time index, an id and a few bytes
//!   per article. Deletes and re-ingests leave their old entries behind; `expire.lua` re-checks each
//!   id's record and skips them. A starting server reads the newest lists too, for its boilerplate
//!   warm-up (`visit_recent`);
//! - `ns:b:ID`, string: the article's kept text (`--keep-text`), written by `keep.lua` only while
//!   the version it belongs to is stored, and deleted with the record by every removal
//!   (`remove_article` in `lua/standalone/common.lua`: delete, expiry, replacement);
//! - `ns:t`, zset: the hours that have a list (score = the hour), one entry per hour;
//! - `ns:t:e`, zset (score 0, member = published as 8 bytes + id, so bytewise order is time order):
//!   the edge, the articles of the hour the retention cutoff falls in that are not due yet. Only that
//!   hour's articles pass through it, each once.
//!
//! Moderation verdicts (`docs/moderation.md`) add:
//!
//! - `ns:x:CLUSTER`, set: the clusters this one is kept apart from, as recorded (readers resolve them
//!   through forwards); a merge adds the absorbed cluster's to the survivor's (`merge_cluster` in
//!   `lua/standalone/common.lua`);
//! - a pinned canonical is its cluster's member with score -1 (every other member has 0): the zset
//!   orders by score first, so it comes first for every reader, and merges and splits move members
//!   with their scores. A cluster of one gets its zset when its member is pinned;
//! - `ns:v`, list: the verdict log, one postcard-encoded [`Verdict`] per entry; an entry's `seq` is
//!   its position from 1 (`RPUSH` answers it).
//!
//! - `ns:w`, string: a counter written only with `--redis-wait-replicas`, by the barrier that waits
//!   for replicas ([`Replication`]).
//!
//! Like the in-process stores, forwards are never deleted, even once their cluster is empty, nor is
//! apartness.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, RedisError, Script, Value};

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, Verdict, now_micros};
use crate::error::{Error, Result};
use crate::store::feed::{DuplicateEvent, EventCursor, FeedBounds, FeedTrim};
use crate::store::verify::{Inventory, Problem, Verify};
use crate::store::{Assigned, Candidate, ClusterHead, Expired, Inserted, Lookup, Split, Store, Visitor};

use super::feed::FeedKeys;
use super::verify::{Key, Layout};
use super::{
    CALL_DEADLINE, CONNECTION_TIMEOUT, DEFAULT_NAMESPACE, Lib, RESPONSE_TIMEOUT, RedisOptions, array, bytes,
    claim_layout, integer, load_scripts, protocol_error, record, redact, string, tcp_settings, tuple,
    validate_namespace, within_deadline,
};

/// Reconnection attempts before a call gives up; few, because the caller retries anyway and a
/// `connect` to a dead Redis must fail fast.
const CONNECTION_RETRIES: usize = 2;

/// Time-index entries one `expire.lua` handles at most. Each removal is a delete (a record and its
/// postings), and Redis serves nothing else while a script runs: a few keep every script short.
const EXPIRE_PER_SCRIPT: usize = 16;

/// Hours of the time index one read of [`RedisStore::visit_recent`] lists.
const HOURS_PER_READ: isize = 64;
/// Records one `MGET` of [`RedisStore::visit_recent`] reads.
const RECORDS_PER_READ: usize = 512;

/// Width of a time-index bucket (`ns:t:HOUR`): an hour. Wider buckets mean fewer keys (each costs
/// Redis's overhead per key, whatever it holds) but a larger edge (`ns:t:e`, a zset entry per article
/// while in it), which holds the articles of the bucket the cutoff falls in.
const TIME_BUCKET_US: Micros = 3_600_000_000;

/// The compiled scripts (`lua/standalone/`), each with every library and `common.lua` before its body.
struct Scripts {
    insert: Script,
    lookup: Script,
    assign: Script,
    members: Script,
    delete: Script,
    expire: Script,
    repair: Script,
    split: Script,
    apart: Script,
    join: Script,
    pin: Script,
    keep: Script,
}

impl Scripts {
    fn new() -> Self {
        let libs = [Lib::Record, Lib::Numbers, Lib::Postings];
        let script = |body: &str| super::script(&libs, &[include_str!("lua/standalone/common.lua"), body]);
        Scripts {
            insert: script(include_str!("lua/standalone/insert.lua")),
            lookup: script(include_str!("lua/standalone/lookup.lua")),
            assign: script(include_str!("lua/standalone/assign.lua")),
            members: script(include_str!("lua/standalone/members.lua")),
            delete: script(include_str!("lua/standalone/delete.lua")),
            expire: script(include_str!("lua/standalone/expire.lua")),
            repair: script(include_str!("lua/standalone/repair.lua")),
            split: script(include_str!("lua/standalone/split.lua")),
            apart: script(include_str!("lua/standalone/apart.lua")),
            join: script(include_str!("lua/standalone/join.lua")),
            pin: script(include_str!("lua/standalone/pin.lua")),
            keep: script(include_str!("lua/standalone/keep.lua")),
        }
    }

    fn all(&self) -> [&Script; 12] {
        [
            &self.insert,
            &self.lookup,
            &self.assign,
            &self.members,
            &self.delete,
            &self.expire,
            &self.repair,
            &self.split,
            &self.apart,
            &self.join,
            &self.pin,
            &self.keep,
        ]
    }
}

/// The `redis://` store: see the module doc.
pub struct RedisStore {
    /// Cheap to clone (one shared multiplexed connection), and replaced in the background when lost.
    connection: ConnectionManager,
    namespace: String,
    scripts: Scripts,
    /// Set when writes wait for replicas.
    replication: Option<Replication>,
}

impl RedisStore {
    /// Connects with the default namespace, [`DEFAULT_NAMESPACE`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_namespace(url, DEFAULT_NAMESPACE).await
    }

    /// Connects to the Redis at `url` (`redis://` or `rediss://`), with every key under `namespace`.
    /// Fails with [`Error::Unavailable`] if Redis cannot be reached or does not answer.
    pub async fn connect_with_namespace(url: &str, namespace: &str) -> Result<Self> {
        Self::connect_with_options(url, namespace, &RedisOptions::default()).await
    }

    /// Like [`RedisStore::connect_with_namespace`], with the `--redis-*` options: replicas to wait
    /// for, and the CA of a `rediss://` server.
    pub async fn connect_with_options(url: &str, namespace: &str, options: &RedisOptions) -> Result<Self> {
        validate_namespace(namespace)?;
        let invalid = |e: RedisError| Error::invalid("store", format!("invalid redis url {}: {e}", redact(url)));
        let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(invalid)?;
        let info = info.set_tcp_settings(tcp_settings());
        let client = match options.tls_certificates()? {
            Some(certificates) => redis::Client::build_with_tls(info, certificates).map_err(invalid)?,
            None => redis::Client::open(info).map_err(invalid)?,
        };
        let address = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(CONNECTION_RETRIES)
            .set_max_delay(Duration::from_secs(1));
        let unreachable =
            |reason: String| Error::Unavailable(format!("cannot connect to redis at {address}: {reason}"));
        let mut connection =
            tokio::time::timeout(CALL_DEADLINE, ConnectionManager::new_with_config(client.clone(), config))
                .await
                .map_err(|_| unreachable(format!("no answer within {CALL_DEADLINE:?}")))?
                .map_err(|e| unreachable(e.to_string()))?;
        let scripts = Scripts::new();
        load_scripts(&mut connection, &scripts.all()).await?;
        load_scripts(&mut connection, &super::feed::scripts()).await?;
        claim_layout(&mut connection, namespace, "redis").await?;
        let replication = (options.wait_replicas > 0).then(|| Replication {
            client: client.clone(),
            replicas: options.wait_replicas,
            timeout: options.wait_timeout,
            key: format!("{namespace}:w"),
            idle: std::sync::Mutex::new(Vec::new()),
        });
        if let Some(replication) = &replication {
            // fails now, not at the first ingest, when the replicas are not there
            replication.barrier().await?;
        }
        tracing::info!(%address, namespace, wait_replicas = options.wait_replicas, "redis store connected");
        Ok(RedisStore { connection, namespace: namespace.to_string(), scripts, replication })
    }

    /// Returns once the writes made so far have reached the replicas `--redis-wait-replicas` asks
    /// for (see [`Replication`]); at once without that option.
    async fn replicated(&self) -> Result<()> {
        match &self.replication {
            Some(replication) => replication.barrier().await,
            None => Ok(()),
        }
    }

    /// Runs one Redis call under [`CALL_DEADLINE`], mapping its errors.
    async fn call<T>(&self, what: &'static str, call: impl Future<Output = redis::RedisResult<T>>) -> Result<T> {
        within_deadline(what, call).await
    }

    fn article_key(&self, id: &str) -> String {
        format!("{}:a:{id}", self.namespace)
    }

    fn text_key(&self, id: &str) -> String {
        format!("{}:b:{id}", self.namespace)
    }
}

/// Waiting for replicas (`--redis-wait-replicas`).
///
/// `WAIT` blocks the connection it is sent on until the replicas acknowledge that connection's own
/// last write; on the shared multiplexed connection it would hold up every other call. So a
/// barrier takes a connection of its own from a small pool, writes one counter there (`ns:w`,
/// `INCR`) and sends `WAIT` behind it in one round trip. Redis replicates in one ordered stream, so
/// once the replicas have the counter's write they have every write that came before it: the
/// barrier covers whatever this server wrote before calling it, on any connection.
struct Replication {
    client: redis::Client,
    replicas: usize,
    timeout: Duration,
    /// The counter each barrier increments.
    key: String,
    /// Connections not in use; a barrier opens another when none is idle.
    idle: std::sync::Mutex<Vec<MultiplexedConnection>>,
}

/// Idle barrier connections kept for later barriers; more are closed once used.
const IDLE_BARRIER_CONNECTIONS: usize = 16;

impl Replication {
    async fn barrier(&self) -> Result<()> {
        const WHAT: &str = "wait for replicas";
        let pooled = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        // the answer comes after the wait: allow for it on top of the usual response time
        let allowed = self.timeout + RESPONSE_TIMEOUT;
        let mut connection = if let Some(connection) = pooled {
            connection
        } else {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECTION_TIMEOUT))
                .set_response_timeout(Some(allowed));
            within_deadline(WHAT, self.client.get_multiplexed_async_connection_with_config(&config)).await?
        };
        let timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut barrier = redis::pipe();
        barrier.cmd("INCR").arg(&self.key).ignore().cmd("WAIT").arg(self.replicas).arg(timeout_ms);
        let answer =
            tokio::time::timeout(allowed + CALL_DEADLINE, barrier.query_async::<(i64,)>(&mut connection)).await;
        let (acknowledged,) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => return Err(super::redis_error(WHAT, error)),
            Err(_) => return Err(Error::Unavailable(format!("redis {WHAT}: no answer within {allowed:?}"))),
        };
        {
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < IDLE_BARRIER_CONNECTIONS {
                idle.push(connection);
            }
        }
        if usize::try_from(acknowledged).unwrap_or(0) < self.replicas {
            return Err(Error::Unavailable(format!(
                "redis: {acknowledged} of {} replicas acknowledged the write within {:?}",
                self.replicas, self.timeout
            )));
        }
        Ok(())
    }
}

/// `{candidates, heads}` as `lookup` in `common.lua` returns them.
fn decode_lookup(what: &str, candidates: Value, heads: Value) -> Result<Lookup> {
    let mut lookup = Lookup::default();
    for candidate in array(what, candidates)? {
        let [shared, stored] = tuple(what, candidate)?;
        let shared_keys = u32::try_from(integer(what, shared)?).map_err(|e| protocol_error(what, e))?;
        let article = record::decode(&bytes(what, stored)?)?;
        lookup.candidates.push(Candidate { article, shared_keys });
    }
    for head in array(what, heads)? {
        let [cluster, stored] = tuple(what, head)?;
        let cluster_id = ClusterId(string(what, cluster)?);
        let canonical = record::decode(&bytes(what, stored)?)?;
        lookup.clusters.push(ClusterHead { cluster_id, canonical });
    }
    Ok(lookup)
}

#[async_trait]
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("GET");
        command.arg(self.article_key(id));
        let stored: Option<Vec<u8>> = self.call("get", command.query_async(&mut connection)).await?;
        stored.map(|stored| record::decode(&stored)).transpose()
    }

    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        const WHAT: &str = "insert";
        debug_assert!(article.cluster_id.is_none(), "new articles are inserted unassigned");
        let encoded = record::encode(&article)?;
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.insert.prepare_invoke();
        let hour = article.published_us.div_euclid(TIME_BUCKET_US);
        invocation.arg(&self.namespace).arg(&article.meta.id).arg(encoded).arg(limit).arg(hour);
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        let mut items = array(WHAT, answer)?.into_iter();
        let tag = items.next().map(|tag| string(WHAT, tag)).transpose()?;
        match (tag.as_deref(), items.next(), items.next(), items.next()) {
            (Some("u"), Some(stored), Some(canonical), None) => {
                let article = record::decode(&bytes(WHAT, stored)?)?;
                // a retry of an ingest whose wait failed: it is acknowledged now, so wait again
                self.replicated().await?;
                Ok(Inserted::Unchanged { article: Box::new(article), canonical_id: string(WHAT, canonical)? })
            }
            (Some("n"), Some(candidates), Some(heads), None) => {
                Ok(Inserted::New(decode_lookup(WHAT, candidates, heads)?))
            }
            _ => Err(protocol_error(WHAT, "expected a 'u' or 'n' answer")),
        }
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        const WHAT: &str = "lookup";
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.lookup.prepare_invoke();
        invocation.arg(&self.namespace).arg(record::bands(keys)?).arg(limit);
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        let [candidates, heads] = tuple(WHAT, answer)?;
        decode_lookup(WHAT, candidates, heads)
    }

    /// One script, which reads every record it needs itself: only the ids are passed on.
    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        const WHAT: &str = "assign";
        let id = &article.meta.id;
        let founded = ClusterId::new(now_micros(), id);
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.assign.prepare_invoke();
        invocation.arg(&self.namespace).arg(id).arg(founded.as_str());
        for link in links {
            invocation.arg(&link.meta.id);
        }
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        if matches!(answer, Value::Nil) {
            return Err(Error::NotFound { what: "article", id: id.clone() });
        }
        let [cluster, canonical] = tuple(WHAT, answer)?;
        let assigned =
            Assigned { cluster_id: ClusterId(string(WHAT, cluster)?), canonical_id: string(WHAT, canonical)? };
        self.replicated().await?;
        Ok(assigned)
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        const WHAT: &str = "cluster";
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.members.prepare_invoke();
        invocation.arg(&self.namespace).arg(cluster_id.as_str());
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        if matches!(answer, Value::Nil) {
            return Ok(None);
        }
        let [resolved, members] = tuple(WHAT, answer)?;
        let cluster_id = ClusterId(string(WHAT, resolved)?);
        let members = array(WHAT, members)?
            .into_iter()
            .map(|member| record::decode(&bytes(WHAT, member)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(ClusterView { cluster_id, members }))
    }

    async fn delete(&self, id: &str) -> Result<Deleted> {
        const WHAT: &str = "delete";
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.delete.prepare_invoke();
        invocation.arg(&self.namespace).arg(id);
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        let mut items = array(WHAT, answer)?.into_iter();
        let deleted = items.next().map(|flag| integer(WHAT, flag)).transpose()? == Some(1);
        let canonical_id = items.next().map(|canonical| string(WHAT, canonical)).transpose()?;
        self.replicated().await?;
        Ok(Deleted { deleted, canonical_id })
    }

    /// The time index from its newest hour down (`ns:t`, then each hour's list from its end) until
    /// `limit` ids, then their records oldest hour first, `RECORDS_PER_READ` to an `MGET`. Ids of
    /// deleted articles count towards `limit` and are skipped; a re-ingested one counts once and is
    /// shown once, at its newest entry. Records are sorted by publication time within each `MGET`,
    /// so "oldest first" holds to the hour.
    async fn visit_recent(&self, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        const WHAT: &str = "visit recent";
        let mut connection = self.connection.clone();
        let (mut ids, mut seen) = (Vec::new(), HashSet::new());
        let mut offset: isize = 0;
        'hours: while ids.len() < limit {
            let mut newest = redis::cmd("ZREVRANGE");
            newest.arg(format!("{}:t", self.namespace)).arg(offset).arg(offset + HOURS_PER_READ - 1);
            let hours: Vec<String> = self.call(WHAT, newest.query_async(&mut connection)).await?;
            if hours.is_empty() {
                break;
            }
            offset += HOURS_PER_READ;
            // the batch's list lengths, then (newest hour first, each from its end) only as many
            // entries as are still wanted: one pipeline each
            let keys: Vec<String> = hours.iter().map(|hour| format!("{}:t:{hour}", self.namespace)).collect();
            let mut lengths = redis::pipe();
            for key in &keys {
                lengths.cmd("LLEN").arg(key);
            }
            let lengths: Vec<usize> = self.call(WHAT, lengths.query_async(&mut connection)).await?;
            let (mut lists, mut wanted, mut listing) = (redis::pipe(), limit - ids.len(), 0);
            for (key, length) in keys.iter().zip(lengths) {
                let take = length.min(wanted);
                if wanted == 0 {
                    break;
                }
                if take > 0 {
                    lists.cmd("LRANGE").arg(key).arg(-isize::try_from(take).unwrap_or(isize::MAX)).arg(-1);
                    (wanted, listing) = (wanted - take, listing + 1);
                }
            }
            if listing == 0 {
                continue;
            }
            let listed: Vec<Vec<String>> = self.call(WHAT, lists.query_async(&mut connection)).await?;
            for id in listed.into_iter().flat_map(|list| list.into_iter().rev()) {
                if seen.insert(id.clone()) {
                    ids.push(id);
                    if ids.len() >= limit {
                        break 'hours;
                    }
                }
            }
        }
        ids.reverse();
        for batch in ids.chunks(RECORDS_PER_READ) {
            let mut read = redis::cmd("MGET");
            for id in batch {
                read.arg(self.article_key(id));
            }
            let records: Vec<Option<Vec<u8>>> = self.call(WHAT, read.query_async(&mut connection)).await?;
            let mut articles =
                records.iter().flatten().map(|stored| record::decode(stored)).collect::<Result<Vec<_>>>()?;
            articles.sort_by_key(|article| article.published_us);
            articles.iter().for_each(&mut *visit);
        }
        Ok(())
    }

    /// Scripts of at most `EXPIRE_PER_SCRIPT` entries each, until `limit` or nothing is left: each
    /// script is atomic, and short, since Redis serves nothing else while it runs.
    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        const WHAT: &str = "expire";
        // nothing is published before the earliest time
        let Some(last) = cutoff.checked_sub(1) else { return Ok(Expired::default()) };
        let (cutoff, hour) = (record::sortable(cutoff), last.div_euclid(TIME_BUCKET_US));
        let mut expired = Expired { removed: 0, more: limit == 0 };
        let mut left = limit;
        while left > 0 {
            let batch = left.min(EXPIRE_PER_SCRIPT);
            let mut connection = self.connection.clone();
            let mut invocation = self.scripts.expire.prepare_invoke();
            invocation.arg(&self.namespace).arg(&cutoff[..]).arg(hour).arg(batch);
            let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
            let [removed, more] = tuple(WHAT, answer)?;
            expired.removed += usize::try_from(integer(WHAT, removed)?).map_err(|e| protocol_error(WHAT, e))?;
            expired.more = integer(WHAT, more)? != 0;
            if !expired.more {
                break;
            }
            left -= batch;
        }
        if expired.removed > 0 {
            self.replicated().await?;
        }
        Ok(expired)
    }

    // ---------------------------------------------------------------------------------------------
    // moderation verdicts

    async fn split(&self, from: &ClusterId, moving: &[&StoredArticle], into: &ClusterId) -> Result<Split> {
        const WHAT: &str = "split";
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.split.prepare_invoke();
        invocation.arg(&self.namespace).arg(from.as_str()).arg(into.as_str());
        for article in moving {
            invocation.arg(&article.meta.id);
        }
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        let mut items = array(WHAT, answer)?.into_iter();
        let optional = |value: Option<Value>| match value {
            None | Some(Value::Nil) => Ok(None),
            Some(value) => string(WHAT, value).map(Some),
        };
        match items.next().map(|tag| string(WHAT, tag)).transpose()?.as_deref() {
            Some("nf") => Err(Error::NotFound { what: "cluster", id: from.0.clone() }),
            Some("ok") => {
                let from = ClusterId(optional(items.next())?.unwrap_or_default());
                let from_canonical = optional(items.next())?;
                let into = ClusterId(optional(items.next())?.unwrap_or_default());
                let into_canonical = optional(items.next())?;
                Ok(Split { from, from_canonical, into, into_canonical })
            }
            _ => Err(protocol_error(WHAT, "expected an 'ok' or 'nf' answer")),
        }
    }

    async fn kept_apart(&self, clusters: &[ClusterId]) -> Result<Vec<(ClusterId, ClusterId)>> {
        const WHAT: &str = "kept apart";
        if clusters.len() < 2 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.apart.prepare_invoke();
        invocation.arg(&self.namespace);
        for cluster in clusters {
            invocation.arg(cluster.as_str());
        }
        let positions: Vec<usize> = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        positions
            .chunks(2)
            .map(|pair| match pair {
                [i, j] => match (clusters.get(i.wrapping_sub(1)), clusters.get(j.wrapping_sub(1))) {
                    (Some(a), Some(b)) => Ok((a.clone(), b.clone())),
                    _ => Err(protocol_error(WHAT, "a position out of range")),
                },
                _ => Err(protocol_error(WHAT, "an odd number of positions")),
            })
            .collect()
    }

    async fn join(&self, a: &ClusterId, b: &ClusterId) -> Result<Assigned> {
        const WHAT: &str = "join";
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.join.prepare_invoke();
        invocation.arg(&self.namespace).arg(a.as_str()).arg(b.as_str());
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        let mut items = array(WHAT, answer)?.into_iter();
        let tag = items.next().map(|tag| string(WHAT, tag)).transpose()?;
        match (tag.as_deref(), items.next(), items.next()) {
            (Some("ok"), Some(cluster), Some(canonical)) => {
                Ok(Assigned { cluster_id: ClusterId(string(WHAT, cluster)?), canonical_id: string(WHAT, canonical)? })
            }
            (Some("nf"), Some(cluster), None) => Err(Error::NotFound { what: "cluster", id: string(WHAT, cluster)? }),
            _ => Err(protocol_error(WHAT, "expected an 'ok' or 'nf' answer")),
        }
    }

    async fn pin(&self, article: &StoredArticle) -> Result<Option<Assigned>> {
        const WHAT: &str = "pin";
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.pin.prepare_invoke();
        invocation.arg(&self.namespace).arg(&article.meta.id).arg(super::member(article));
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        if matches!(answer, Value::Nil) {
            return Ok(None);
        }
        let [cluster, canonical] = tuple(WHAT, answer)?;
        Ok(Some(Assigned { cluster_id: ClusterId(string(WHAT, cluster)?), canonical_id: string(WHAT, canonical)? }))
    }

    async fn record_verdict(&self, verdict: Verdict) -> Result<Verdict> {
        let mut connection = self.connection.clone();
        let command = super::push_verdict(&format!("{}:v", self.namespace), &verdict)?;
        let seq: u64 = self.call("record verdict", command.query_async(&mut connection)).await?;
        Ok(Verdict { seq, ..verdict })
    }

    async fn verdicts(&self, before: Option<u64>, limit: usize) -> Result<Vec<Verdict>> {
        let mut connection = self.connection.clone();
        let key = format!("{}:v", self.namespace);
        let mut length = redis::cmd("LLEN");
        length.arg(&key);
        let length: u64 = self.call("verdicts", length.query_async(&mut connection)).await?;
        let Some(range) = super::verdict_range(length, before, limit) else { return Ok(Vec::new()) };
        let mut read = redis::cmd("LRANGE");
        read.arg(&key).arg(range.start - 1).arg(range.end - 2);
        let entries: Vec<Vec<u8>> = self.call("verdicts", read.query_async(&mut connection)).await?;
        super::decode_verdicts(range.start, &entries)
    }

    // the duplicate feed (`feed.rs`)

    async fn append_duplicate(&self, event: &DuplicateEvent, trim: &FeedTrim) -> Result<Option<EventCursor>> {
        let mut connection = self.connection.clone();
        super::feed::append(&mut connection, &FeedKeys::new(&self.namespace), event, trim).await
    }

    async fn duplicates_before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>> {
        let mut connection = self.connection.clone();
        super::feed::before(&mut connection, &FeedKeys::new(&self.namespace), before, limit).await
    }

    async fn duplicates_after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>> {
        let mut connection = self.connection.clone();
        super::feed::after(&mut connection, &FeedKeys::new(&self.namespace), after, limit).await
    }

    async fn feed_bounds(&self) -> Result<FeedBounds> {
        let mut connection = self.connection.clone();
        super::feed::bounds(&mut connection, &FeedKeys::new(&self.namespace)).await
    }

    async fn put_text(&self, id: &str, content_hash: u64, text: &[u8]) -> Result<bool> {
        const WHAT: &str = "put text";
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.keep.prepare_invoke();
        invocation.arg(&self.namespace).arg(id).arg(&content_hash.to_be_bytes()[..]).arg(text);
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        Ok(integer(WHAT, answer)? == 1)
    }

    async fn text(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("GET");
        command.arg(self.text_key(id));
        self.call("text", command.query_async(&mut connection)).await
    }
}

/// `dedupd verify` on one Redis: `SCAN` of the namespace, its values read `verify::BATCH` keys to a
/// pipeline; repairs are `repair.lua` (and `ZREM` of a member).
#[async_trait]
impl Verify for RedisStore {
    async fn inventory(&self) -> Result<Inventory> {
        const WHAT: &str = "verify";
        let mut connection = self.connection.clone();
        let mut keys: Vec<(String, Key)> = Vec::new();
        let mut cursor = 0;
        loop {
            let answer: Value =
                self.call(WHAT, super::verify::scan(&self.namespace, cursor).query_async(&mut connection)).await?;
            let (next, names) = super::verify::scanned(WHAT, answer)?;
            for name in names {
                if let Some(key) = super::verify::classify(&self.namespace, Layout::Standalone, &name) {
                    keys.push((name, key));
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        // SCAN may list a key twice
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        keys.dedup_by(|a, b| a.0 == b.0);
        let mut read = Vec::with_capacity(keys.len());
        for batch in keys.chunks(super::verify::BATCH) {
            let mut pipe = redis::pipe();
            for (name, key) in batch {
                pipe.add_command(key.read(name));
            }
            let values: Vec<Value> = self.call(WHAT, pipe.query_async(&mut connection)).await?;
            read.extend(batch.iter().cloned().zip(values).map(|((name, key), value)| (name, key, value)));
        }
        let (mut inventory, singletons) = super::verify::build(read, 1);
        super::verify::add_singletons(&mut inventory, singletons);
        inventory.name = format!("redis namespace {:?}", self.namespace);
        Ok(inventory)
    }

    /// What one script leaves: a crash between an ingest's two scripts leaves an unassigned article,
    /// and nothing else is ever half-done here. The other kinds, should a bug leave them, are
    /// repaired where that is one safe step (a ghost or stray member, a posting or number of a
    /// record that is gone, a stale singleton entry) and reported otherwise.
    async fn repair(&self, problem: &Problem) -> Result<bool> {
        const WHAT: &str = "repair";
        let run = |what: &'static str, args: Vec<Vec<u8>>| async move {
            let mut invocation = self.scripts.repair.prepare_invoke();
            invocation.arg(&self.namespace).arg(what);
            for arg in args {
                invocation.arg(arg);
            }
            let mut connection = self.connection.clone();
            self.call(WHAT, invocation.invoke_async::<i64>(&mut connection)).await.map(|_| true)
        };
        match problem {
            Problem::Unassigned { id } => run("unassigned", vec![id.clone().into_bytes()]).await,
            Problem::DanglingPosting { band, posted: super::super::verify::Posted::Number(number) } => {
                let number = super::verify::number_bytes(*number).to_vec();
                run("unpost", vec![record::band(*band)?.to_vec(), number]).await
            }
            Problem::StaleNumber { number, .. } => {
                run("unnumber", vec![super::verify::number_bytes(*number).to_vec()]).await
            }
            Problem::StaleSingleton { cluster } => run("unsingleton", vec![cluster.0.clone().into_bytes()]).await,
            Problem::Ghost { cluster, member } | Problem::StrayMember { cluster, member, .. } => {
                let mut connection = self.connection.clone();
                let mut command = redis::cmd("ZREM");
                command.arg(format!("{}:c:{}", self.namespace, cluster)).arg(member);
                self.call(WHAT, command.query_async::<i64>(&mut connection)).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
