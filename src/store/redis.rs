//! `redis://` / `rediss://`: the index in one Redis, shared by any number of dedupd replicas.
//!
//! Every [`Store`] call is one Lua script (or one command), so each is atomic on the Redis side and
//! costs one round trip whatever the corpus size; no call uses `KEYS` or `SCAN`. The scripts live
//! beside this file in `redis/*.lua`; `common.lua` (key names, removal, lookup) is prepended to each,
//! and they run by `EVALSHA`, falling back to `EVAL` after a Redis restart emptied the script cache.
//!
//! # Key layout
//!
//! All keys start with a namespace (`--namespace`, default `dedupd`), so several tenants can share one Redis:
//!
//! - `ns:a:ID`, string, one per article: its record (`redis/record.rs`): a fixed header the scripts
//!   read (cluster id, rewritten in place by merges; content hash; tier and times, from which a script
//!   builds the zset member; the article's number; band keys, so that a delete can remove its
//!   postings) and the compact metadata and fingerprint only Rust decodes;
//! - `ns:n`, the counter that numbers articles, and `ns:i:HIGH`, hashes from a number's last 6 bits
//!   (`HIGH` the rest, in decimal) to the id. Postings hold these 5-byte numbers instead of ids (an id
//!   is any string up to 256 bytes, and there are 24 postings per article); a hash of 64 small fields
//!   stays in Redis's compact listpack encoding, a few bytes per article beyond the id itself. A number
//!   is never reused: a re-ingest with new content gets a new one, so a stale posting cannot name it
//!   (2^40 numbers per namespace; past them an insert fails rather than wrap);
//! - `ns:p:{BUCKET}`, string: the postings of every band key whose first 3 bytes (the tag byte and
//!   the top 16 bits of the scrambled value, see `record::band`; 6 hex digits) are `BUCKET`, as 7-byte
//!   entries (the key's last 2 bytes, then the number of an article posted under it) in the order
//!   posted (`redis/postings.lua`). 131,072 buckets: one key per band key would cost ~100 bytes of
//!   Redis overhead each, 24 per article; in fixed-width entries a posting costs its 7 bytes, and
//!   finding a key's numbers is a plain substring search over one short string. A bucket that passes
//!   256 entries splits: its entries move to `ns:p:{BUCKET}:DEPTH:I`, 2^DEPTH parts by the top bits
//!   of the entry's 2 bytes, and the root keeps the depth (one byte); a part that passes 256 doubles
//!   them again. So no insert or lookup reads more than 256 entries (1.8 KB) per key, however large
//!   the index (the roots alone would hold ~18,000 entries each at 100M articles). Splits start near
//!   1.4M articles of 24 postings. The braces are a hash tag, for the cluster backend: a root and its
//!   parts share a slot;
//! - `ns:c:CLUSTER`, zset of the members of a cluster that has had two or more. Every score is 0 and a
//!   member is `TIER hex16(published) hex16(ingested) ID`, the tier one digit (see
//!   [`crate::domain::SourceTier::digit`]) and each time offset by 2^63 so that negative times sort too:
//!   Redis orders equal scores bytewise, which is exactly the (tier, published, ingested, id) canonical
//!   order, and `ZRANGE 0 0` is the canonical. (Scores as doubles would lose microseconds beyond
//!   2^53, about 285 years from 1970.) A zset is kept while it has members, even one;
//! - `ns:s:BUCKET`, hash: the singleton index, the clusters of one member, which have no zset. Most
//!   articles are never copied, so most clusters are singletons (70% of the articles of the
//!   `redis_memory` bench), and a zset of one member costs ~160 bytes with its key (`MEMORY USAGE`); an
//!   entry here costs ~33 bytes in a bucket of 20 or more (34 on average at 1M articles), 57 at 100k
//!   articles, where buckets hold two or three and their own key overhead (~60 bytes) counts. Field:
//!   the cluster id without its dash and last 3 hex digits, which the bucket implies (21 bytes); value:
//!   the founder's article number in decimal, which listpack stores as an integer (`ns:i:HIGH` leads to
//!   the id, and the record is checked to carry that number and cluster). `BUCKET` is the low 15 bits
//!   of the id's tag (its last 8 hex digits, a hash of the founder), in decimal: 32,768 buckets keep
//!   ~305 entries each at 10M singletons (~385 in the fullest), under the 512 fields past which Redis
//!   turns a hash from a listpack into a hashtable (`hash-max-listpack-entries`, 512 by default; zsets'
//!   limit is 128). A longer listpack is slower to search: `HGET` of a bucket's last field took 2.8 µs
//!   at 300 entries against 0.4 at 20 (measured in Redis 7.0), paid when a cluster is founded, joined
//!   for the first time, deleted or read, against ~200 µs of scripts per article. More buckets would
//!   cost more at small sizes (at 131,072, an entry averaged 85 bytes at 100k articles and 42 at 1M);
//!   fewer would overflow the listpack before 10M. The article that founds a cluster alone gets an
//!   entry; the join, adoption or merge that gives the cluster a second member moves it into a new zset
//!   (its member built from the founder's record) and drops the entry; a delete or expiry of the one
//!   member drops it too. So an article whose record names `CLUSTER` is in `ns:c:CLUSTER`, or that zset
//!   does not exist and the article is the one member `ns:s` names: every reader of a cluster relies on
//!   that (`common.lua`: `canonical_of`, `singleton_member`, `take_members`). The Redis Cluster backend
//!   keeps a zset for every cluster (`sharded.rs`);
//! - `ns:f:CLUSTER`, string: the cluster this one was merged into. A merge rewrites every forward that
//!   pointed to the absorbed cluster, so a forward is always one hop;
//! - `ns:r:CLUSTER`, set: the clusters forwarding to this one, which makes that rewrite possible
//!   without scanning.
//! - `ns:t:HOUR`, list: the ids of the articles published in that hour (hours since the epoch,
//!   [`TIME_BUCKET_US`]), appended by the insert script. Retention's time index: a list entry costs
//!   the id and ~2 bytes, where a zset of every article would cost ~120 bytes (measured). Deletes and
//!   re-ingests leave their old entries behind; `expire.lua` re-checks each id's record and skips them.
//!   A starting server reads the newest lists too, for its boilerplate warm-up (`visit_recent`);
//! - `ns:t`, zset: the hours that have a list (score = the hour), one entry per hour;
//! - `ns:t:e`, zset (score 0, member = published as 8 bytes + id, so bytewise order is time order):
//!   the edge, the articles of the hour the retention cutoff falls in that are not due yet. Only that
//!   hour's articles pass through it, each once.
//!
//! Like the in-process stores, forwards are never deleted, even once their cluster is empty.
//!
//! The scripts compute key names inside Lua from the namespace, which standalone Redis allows. Redis
//! Cluster does not (every key a script touches must be declared and in one hash slot): that is
//! [`RedisClusterStore`] (`redis+cluster://`, in `redis/sharded.rs`), whose calls are sequences of
//! one-slot steps. This backend keeps one atomic script per call because on one node that is both the
//! simplest protocol and the cheapest (two round trips per ingest); the step-wise one would only add
//! round trips here.
//!
//! # Durability and failures
//!
//! A call returns once Redis has applied it in memory. Whether that survives a Redis crash is Redis's
//! configuration: `appendonly yes` with `appendfsync always` (or `WAIT` for replicas) makes an
//! acknowledged write durable; the default `everysec` may lose the last second.
//!
//! Connection errors, timeouts and a Redis still loading its data are [`Error::Unavailable`]
//! (retryable); the connection manager reconnects in the background, so a restarted Redis is picked
//! up again. A script error or an undecodable answer is [`Error::Internal`]. Lua scripts are not
//! rolled back on error, so each script checks everything it can before its first write.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script, ServerErrorKind, Value};

use crate::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle, now_micros};
use crate::error::{Error, Result};

use super::{
    Assigned, Candidate, ClusterHead, Expired, Inserted, Lookup, MIN_SHARED_KEYS, POSTINGS_READ_PER_KEY, Store, Visitor,
};

mod record;
mod sharded;
pub use sharded::RedisClusterStore;

/// The namespace of [`RedisStore::connect`].
pub const DEFAULT_NAMESPACE: &str = "dedupd";

/// One attempt to open a TCP (and TLS) connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// One command or script, once sent: a hung Redis must turn into an error, not a hung request.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole call, including waiting for a reconnection in progress.
const CALL_DEADLINE: Duration = Duration::from_secs(8);
/// Reconnection attempts before a call gives up; few, because the caller retries anyway and a
/// `connect` to a dead Redis must fail fast.
const CONNECTION_RETRIES: usize = 2;

const COMMON_LUA: &str = include_str!("redis/common.lua");
/// Article numbers, and posting buckets: shared with the cluster backend's scripts.
const NUMBERS_LUA: &str = include_str!("redis/numbers.lua");
const POSTINGS_LUA: &str = include_str!("redis/postings.lua");

/// Time-index entries one `expire.lua` handles at most. Each removal is a delete (a record and its
/// ~24 postings, ~100 µs of Redis, measured), and Redis serves nothing else while a script runs: 16
/// keep a script under ~2 ms.
const EXPIRE_PER_SCRIPT: usize = 16;

/// Hours of the time index one read of [`RedisStore::visit_recent`] lists.
const HOURS_PER_READ: isize = 64;
/// Records one `MGET` of [`RedisStore::visit_recent`] reads (~0.7 KB each).
const RECORDS_PER_READ: usize = 512;

/// Width of a time-index bucket (`ns:t:HOUR`): an hour. Wider buckets mean fewer keys (~150 bytes
/// each, whatever they hold) but a larger edge (`ns:t:e`, ~120 bytes an article while in it), which
/// holds the articles of the bucket the cutoff falls in.
pub const TIME_BUCKET_US: Micros = 3_600_000_000;

/// The compiled scripts, each `numbers.lua`, `postings.lua` and `common.lua` followed by its own body.
struct Scripts {
    insert: Script,
    lookup: Script,
    assign: Script,
    cluster: Script,
    delete: Script,
    expire: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| {
            Script::new(&format!(
                "local MIN_SHARED_KEYS = {MIN_SHARED_KEYS}\nlocal POSTINGS_READ_PER_KEY = {POSTINGS_READ_PER_KEY}\n\
                 {NUMBERS_LUA}\n{POSTINGS_LUA}\n{COMMON_LUA}\n{body}"
            ))
        };
        Scripts {
            insert: script(include_str!("redis/insert.lua")),
            lookup: script(include_str!("redis/lookup.lua")),
            assign: script(include_str!("redis/assign.lua")),
            cluster: script(include_str!("redis/cluster.lua")),
            delete: script(include_str!("redis/delete.lua")),
            expire: script(include_str!("redis/expire.lua")),
        }
    }

    fn all(&self) -> [&Script; 6] {
        [&self.insert, &self.lookup, &self.assign, &self.cluster, &self.delete, &self.expire]
    }
}

pub struct RedisStore {
    /// Cheap to clone (one shared multiplexed connection), and replaced in the background when lost.
    connection: ConnectionManager,
    namespace: String,
    scripts: Scripts,
}

impl RedisStore {
    /// Connects with the default namespace, [`DEFAULT_NAMESPACE`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_namespace(url, DEFAULT_NAMESPACE).await
    }

    /// Connects to the Redis at `url` (`redis://` or `rediss://`), with every key under `namespace`.
    /// Fails with [`Error::Unavailable`] if Redis cannot be reached or does not answer.
    pub async fn connect_with_namespace(url: &str, namespace: &str) -> Result<Self> {
        validate_namespace(namespace)?;
        let invalid = |e: RedisError| Error::invalid("store", format!("invalid redis url {}: {e}", redact(url)));
        let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(invalid)?;
        let client = redis::Client::open(info.set_tcp_settings(tcp_settings())).map_err(invalid)?;
        let address = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(CONNECTION_RETRIES)
            .set_max_delay(Duration::from_secs(1));
        let unreachable =
            |reason: String| Error::Unavailable(format!("cannot connect to redis at {address}: {reason}"));
        let mut connection = tokio::time::timeout(CALL_DEADLINE, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| unreachable(format!("no answer within {CALL_DEADLINE:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let scripts = Scripts::new();
        load_scripts(&mut connection, &scripts.all()).await?;
        claim_layout(&mut connection, namespace, "redis").await?;
        tracing::info!(%address, namespace, "redis store connected");
        Ok(RedisStore { connection, namespace: namespace.to_string(), scripts })
    }

    /// Runs one Redis call under [`CALL_DEADLINE`], mapping its errors.
    async fn call<T>(&self, what: &'static str, call: impl Future<Output = redis::RedisResult<T>>) -> Result<T> {
        within_deadline(what, call).await
    }

    fn article_key(&self, id: &str) -> String {
        format!("{}:a:{id}", self.namespace)
    }
}

/// `TCP_NODELAY` on every connection to Redis (the `redis` crate leaves Nagle's algorithm on): calls
/// are small writes on one multiplexed connection, and one written while an earlier one is still
/// unacknowledged must not wait for that acknowledgement.
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// Runs one Redis call under [`CALL_DEADLINE`], mapping its errors.
async fn within_deadline<T>(what: &str, call: impl Future<Output = redis::RedisResult<T>>) -> Result<T> {
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(redis_error(what, error)),
        Err(_) => Err(Error::Unavailable(format!("redis {what}: no answer within {CALL_DEADLINE:?}"))),
    }
}

/// The version of the key layout and record format these backends write (`record.rs`, the key layout
/// above and in `sharded.rs`). The first server to use a namespace stores it in `ns:layout`; one that
/// finds another there refuses to start instead of misreading what is stored. (Layouts before version
/// 2 wrote no marker: a namespace they filled is not detected.)
const LAYOUT_VERSION: u32 = 3;

/// Claims the namespace for this layout (`kind` is `redis` or `redis-cluster`, whose layouts differ),
/// or fails if it holds another.
async fn claim_layout(connection: &mut impl redis::aio::ConnectionLike, namespace: &str, kind: &str) -> Result<()> {
    let key = format!("{namespace}:layout");
    let ours = format!("{kind}/{LAYOUT_VERSION}");
    let mut set = redis::cmd("SET");
    set.arg(&key).arg(&ours).arg("NX");
    within_deadline::<Option<String>>("layout", set.query_async(connection)).await?;
    let mut get = redis::cmd("GET");
    get.arg(&key);
    let stored: Option<String> = within_deadline("layout", get.query_async(connection)).await?;
    match stored {
        Some(stored) if stored != ours => Err(Error::invalid(
            "store",
            format!(
                "namespace {namespace:?} holds the {stored} layout and this dedupd writes {ours}: use another namespace (--namespace) or an empty redis"
            ),
        )),
        _ => Ok(()),
    }
}

/// Loads the scripts at start-up (on a cluster, SCRIPT LOAD goes to every master), so that a Redis
/// without scripting, or refusing it, fails then and not at the first ingest.
async fn load_scripts(connection: &mut impl redis::aio::ConnectionLike, scripts: &[&Script]) -> Result<()> {
    for script in scripts {
        within_deadline("script load", script.load_async(connection)).await?;
    }
    Ok(())
}

/// Namespaces become key prefixes: keep them to characters that cannot collide with the layout's
/// separators or with Redis Cluster hash tags.
fn validate_namespace(namespace: &str) -> Result<()> {
    let valid = !namespace.is_empty()
        && namespace.len() <= 64
        && namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if valid {
        return Ok(());
    }
    Err(Error::invalid(
        "namespace",
        format!("{namespace:?} is not a redis namespace: expected 1 to 64 of a-z, A-Z, 0-9, '_', '-', '.'"),
    ))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(unparsable)".to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Connection trouble is retryable ([`Error::Unavailable`]); anything else means a script or protocol
/// bug ([`Error::Internal`]).
fn redis_error(what: &str, error: RedisError) -> Error {
    let retryable = error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(
            error.kind(),
            redis::ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            )
        );
    if retryable {
        Error::Unavailable(format!("redis {what}: {error}"))
    } else {
        Error::Internal(format!("redis {what}: {error}"))
    }
}

fn protocol_error(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Internal(format!("redis {what}: unexpected answer: {detail}"))
}

/// A time as 16 hex digits that sort bytewise as the signed value does.
fn sortable(micros: Micros) -> String {
    format!("{:016x}", (micros as u64) ^ (1 << 63))
}

/// The article's member in its cluster's zset: see the module doc.
fn member(article: &StoredArticle) -> String {
    format!(
        "{}{}{}{}",
        article.tier.digit(),
        sortable(article.published_us),
        sortable(article.ingested_us),
        article.meta.id
    )
}

// Decoding of script answers. Lua tables arrive as arrays, strings as bulk strings, numbers as integers
// and `false` as nil.

fn array(what: &str, value: Value) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(protocol_error(what, format!("expected an array, got {other:?}"))),
    }
}

fn bytes(what: &str, value: Value) -> Result<Vec<u8>> {
    match value {
        Value::BulkString(data) => Ok(data),
        other => Err(protocol_error(what, format!("expected a string, got {other:?}"))),
    }
}

fn string(what: &str, value: Value) -> Result<String> {
    String::from_utf8(bytes(what, value)?).map_err(|e| protocol_error(what, e))
}

fn integer(what: &str, value: Value) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(n),
        other => Err(protocol_error(what, format!("expected an integer, got {other:?}"))),
    }
}

/// An array of exactly `N` values.
fn tuple<const N: usize>(what: &str, value: Value) -> Result<[Value; N]> {
    let items = array(what, value)?;
    let len = items.len();
    items.try_into().map_err(|_| protocol_error(what, format!("expected {N} values, got {len}")))
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

    async fn assign(&self, id: &str, links: &[String]) -> Result<Assigned> {
        const WHAT: &str = "assign";
        let founded = ClusterId::new(now_micros(), id);
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.assign.prepare_invoke();
        invocation.arg(&self.namespace).arg(id).arg(founded.as_str()).arg(links);
        let answer: Value = self.call(WHAT, invocation.invoke_async(&mut connection)).await?;
        if matches!(answer, Value::Nil) {
            return Err(Error::NotFound { what: "article", id: id.to_string() });
        }
        let [cluster, canonical] = tuple(WHAT, answer)?;
        Ok(Assigned { cluster_id: ClusterId(string(WHAT, cluster)?), canonical_id: string(WHAT, canonical)? })
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        const WHAT: &str = "cluster";
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.cluster.prepare_invoke();
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

    /// Scripts of at most [`EXPIRE_PER_SCRIPT`] entries each, until `limit` or nothing is left: each
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
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SourceTier;

    /// The zset member order must be the canonical order, tiers and negative times included.
    #[test]
    fn member_order_is_canonical_order() {
        let times: [Micros; 7] = [i64::MIN, -1_000_000, -1, 0, 1, 1_700_000_000_000_000, i64::MAX];
        let tiers = [SourceTier::Trusted, SourceTier::Ordinary, SourceTier::Aggregator];
        let mut ranks = Vec::new();
        for tier in tiers {
            for &published in &times {
                for &ingested in &times {
                    for id in ["a", "ab", "b"] {
                        let key = format!("{}{}{}{id}", tier.digit(), sortable(published), sortable(ingested));
                        ranks.push(((tier, published, ingested, id), key));
                    }
                }
            }
        }
        let mut by_rank = ranks.clone();
        by_rank.sort_by(|a, b| a.0.cmp(&b.0));
        let mut by_member = ranks;
        by_member.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
        assert_eq!(by_rank, by_member);
    }

    /// The scripts compare the cutoff with the record header's published time: same encoding.
    #[test]
    fn time_bytes_are_the_record_headers() {
        for micros in [i64::MIN, -3_600_000_001, -1, 0, 1, 1_700_000_000_000_000, i64::MAX] {
            let fingerprint = crate::fingerprint::fingerprint("one two three four five six");
            let article = StoredArticle {
                meta: crate::domain::ArticleMeta {
                    id: "x".into(),
                    url: String::new(),
                    source: String::new(),
                    title: String::new(),
                },
                tier: SourceTier::Ordinary,
                published_us: micros,
                ingested_us: 0,
                content_hash: 0,
                band_keys: vec![],
                fingerprint,
                cluster_id: None,
            };
            let encoded = record::encode(&article).expect("encode");
            // `record_published` in common.lua: bytes 35..42, 1-based
            assert_eq!(&encoded[34..42], &record::sortable(micros)[..], "{micros}");
        }
        let mut times: Vec<i64> = vec![i64::MAX, 5, -5, 0, i64::MIN, -1];
        times.sort_by_key(|&t| record::sortable(t));
        assert_eq!(times, [i64::MIN, -5, -1, 0, 5, i64::MAX]);
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("rediss://host:6380"), "rediss://host:6380");
    }

    #[test]
    fn namespaces_are_restricted() {
        assert!(validate_namespace("dedupd").is_ok());
        assert!(validate_namespace("tenant-1.prod").is_ok());
        assert!(validate_namespace("").is_err());
        assert!(validate_namespace("a:b").is_err());
        assert!(validate_namespace("{a}").is_err());
    }
}
