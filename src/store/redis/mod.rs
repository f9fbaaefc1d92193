//! The Redis backends: [`RedisStore`] (`redis://`, `rediss://`: one Redis) and [`RedisClusterStore`]
//! (`redis+cluster://`: a Redis Cluster), each shared by any number of dedupd replicas.
//!
//! This module owns what both share: connecting (timeouts, `TCP_NODELAY`), deadlines and the mapping
//! of Redis errors, decoding script answers, the layout marker, the cluster member format, and loading
//! the Lua scripts. Neither backend imports from the other.
//!
//! # What both layouts share
//!
//! Every key starts with a namespace (`--namespace`, default [`DEFAULT_NAMESPACE`]), so that several
//! tenants can share one Redis. Each backend's module doc lists its keys; these parts are common:
//!
//! - **records**: an article is one string, its record (`record.rs`): a fixed header the scripts read
//!   (cluster id, content hash, tier and times, the article's number, its band keys) and a body only
//!   Rust decodes;
//! - **article numbers**: each stored version of an article gets a 5-byte number, never reused, and
//!   postings hold numbers instead of ids (an id is any string up to 512 bytes, and an article posts
//!   24 band keys). Hashes of `NUMBERS_PER_HASH` fields map a number back to its id, small enough to
//!   stay in Redis's compact listpack encoding. A re-ingest with new content gets a new number, so a
//!   stale posting cannot name it; past 2^40 numbers an insert fails rather than wrap;
//! - **postings**: `ns:p:{BUCKET}`, strings holding the postings of every band key whose first 3 bytes
//!   (the tag byte and the top 16 bits of the scrambled value, see `record::band`; 6 hex digits) are
//!   `BUCKET`, as 7-byte entries (the key's last 2 bytes, then the number of an article posted under
//!   it) in the order posted (`lua/lib/postings.lua`). In fixed-width entries a posting costs its 7
//!   bytes, where a key per band key would cost Redis's overhead per key 24 times an article, and
//!   finding a key's numbers is a plain substring search over one short string. A bucket that passes
//!   256 entries splits into parts `ns:p:{BUCKET}:DEPTH:I` by the top bits of the entry's 2 bytes, so
//!   no insert or lookup reads more than 256 entries (1.8 KB) per key however large the index. The
//!   braces are a hash tag: on a cluster, a root and its parts share a slot;
//! - **cluster members**: a cluster's zset has every score 0 and a member per article,
//!   `TIER hex16(published) hex16(ingested) ID` (`member`), the tier one digit (see
//!   [`crate::domain::SourceTier::digit`]) and each time offset by 2^63 so that negative times sort
//!   too. Redis orders equal scores bytewise, which is exactly the (tier, published, ingested, id)
//!   canonical order, so the first member is the canonical. (Scores as doubles would lose
//!   microseconds beyond 2^53, about 285 years from 1970.)
//!
//! No call of the [`crate::store::Store`] trait uses `KEYS` or `SCAN`: only `dedupd verify` lists a
//! namespace (`verify.rs`). The first server to use a namespace writes its layout into
//! `ns:layout` (`LAYOUT_VERSION`); a server that finds another layout there refuses to start. The
//! measurements behind these choices (bytes per key, Redis CPU per article) are in `docs/redis.md`.
//!
//! # Scripts
//!
//! The Lua lives in `lua/`: `lib/` for what both backends use (`record.lua` reads a record's header,
//! `numbers.lua` the article numbers, `postings.lua` the buckets), `standalone/` and `cluster/` for each
//! backend's scripts. Every script is built by `script`: a prelude that declares the constants Lua
//! shares with Rust (the record's header layout from `record.rs`, the lookup bounds), then the
//! libraries it uses, then its own Lua. Scripts are loaded when a store connects and run by `EVALSHA`,
//! falling back to `EVAL` after a Redis restart emptied the script cache.
//!
//! # Durability and failures
//!
//! A call returns once Redis has applied it in memory. Whether that survives a Redis crash is Redis's
//! configuration: `appendonly yes` with `appendfsync always` (or `WAIT` for replicas) makes an
//! acknowledged write durable; the default `everysec` may lose the last second.
//!
//! Connection errors, timeouts and a Redis still loading its data are [`Error::Unavailable`]
//! (retryable); the clients reconnect in the background, so a restarted Redis is picked up again. A
//! script error or an undecodable answer is [`Error::Internal`]. Lua scripts are not rolled back on
//! error, so each script checks everything it can before its first write.

mod cluster;
mod feed;
mod record;
mod standalone;
mod verify;

pub use cluster::RedisClusterStore;
pub use standalone::RedisStore;

/// How a server talks to Redis beyond its URL: `serve`'s `--redis-*` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisOptions {
    /// Replicas that must acknowledge every write before the call that made it returns (`WAIT`);
    /// 0: none, a write is acknowledged once the master applied it.
    pub wait_replicas: usize,
    /// How long a write waits for them; past it the call fails as [`Error::Unavailable`].
    pub wait_timeout: Duration,
    /// CA certificates (PEM) that a `rediss://` server's certificate must chain to, instead of the
    /// public roots.
    pub ca: Option<std::path::PathBuf>,
}

impl RedisOptions {
    /// The CA file's certificates, for `rediss://`: read once, at connect.
    fn tls_certificates(&self) -> Result<Option<redis::TlsCertificates>> {
        let Some(path) = &self.ca else { return Ok(None) };
        let pem = std::fs::read(path)
            .map_err(|e| Error::invalid("redis_ca", format!("cannot read {}: {e}", path.display())))?;
        Ok(Some(redis::TlsCertificates { client_tls: None, root_cert: Some(pem) }))
    }
}

/// Encodes an article as both Redis backends store it (`record.rs`): what the record fuzz target
/// and tools outside the stores use; the stores call it themselves.
pub fn encode_record(article: &StoredArticle) -> Result<Vec<u8>> {
    record::encode(article)
}

/// Decodes a stored article record; anything but a record [`encode_record`] wrote (or a script
/// updated) is an [`Error::Internal`], never a panic.
pub fn decode_record(stored: &[u8]) -> Result<StoredArticle> {
    record::decode(stored)
}

use std::future::Future;
use std::time::Duration;

use redis::{RedisError, Script, ServerErrorKind, Value};

use crate::domain::{Micros, StoredArticle, Verdict};
use crate::error::{Error, Result};

use super::{MIN_SHARED_KEYS, POSTINGS_READ_PER_KEY};

/// The namespace of `connect` without one.
pub const DEFAULT_NAMESPACE: &str = "dedupd";

/// One attempt to open a TCP (and TLS) connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// One command or script, once sent: a hung Redis must turn into an error, not a hung request.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole call, including waiting for a reconnection in progress.
const CALL_DEADLINE: Duration = Duration::from_secs(8);

/// Article numbers per number→id hash (`ns:i:HIGH`, field = number mod this, `HIGH` the rest).
const NUMBERS_PER_HASH: u64 = 64;

/// The version of the key layout and record format these backends write (`record.rs`, and the key
/// layouts in `standalone.rs` and `cluster/mod.rs`). Layouts before version 2 wrote no marker: a
/// namespace they filled is not detected.
const LAYOUT_VERSION: u32 = 3;

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
                "namespace {namespace:?} holds the {stored} layout and this dedupd writes {ours}: keep serving it with the dedupd that wrote it, or migrate by ingesting the articles again into another namespace (--namespace) or an empty redis"
            ),
        )),
        _ => Ok(()),
    }
}

/// Namespaces become key prefixes: keep them to characters that cannot collide with the layout's
/// separators or with Redis Cluster hash tags.
pub(crate) fn validate_namespace(namespace: &str) -> Result<()> {
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
        || cut_short(&error)
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

/// A reply the connection lost mid-way: the `redis` crate reports what it read of it as a parse
/// error ("unexpected end of input") rather than as the connection's end.
fn cut_short(error: &RedisError) -> bool {
    error.kind() == redis::ErrorKind::Parse && error.to_string().contains("end of input")
}

fn protocol_error(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Internal(format!("redis {what}: unexpected answer: {detail}"))
}

// -------------------------------------------------------------------------------------------------
// scripts

/// The Lua libraries of `lua/lib/`, in the order a script gets them. A script gets only those it
/// uses: each is a few closures made on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lib {
    /// Reading and writing a record's header.
    Record,
    /// Article numbers.
    Numbers,
    /// Posting buckets (uses `Numbers`).
    Postings,
}

impl Lib {
    fn lua(self) -> &'static str {
        match self {
            Lib::Record => include_str!("lua/lib/record.lua"),
            Lib::Numbers => include_str!("lua/lib/numbers.lua"),
            Lib::Postings => include_str!("lua/lib/postings.lua"),
        }
    }
}

/// The constants every script's prelude declares: what Lua must agree on with Rust.
fn lua_constants() -> Vec<(&'static str, u64)> {
    let mut constants: Vec<(&'static str, u64)> =
        record::lua_constants().into_iter().map(|(name, value)| (name, value as u64)).collect();
    constants.extend([
        ("RANK_WIDTH", RANK_WIDTH as u64),
        ("NUMBERS_PER_HASH", NUMBERS_PER_HASH),
        ("SLOTS", u64::from(cluster::SLOTS)),
        ("MIN_SHARED_KEYS", u64::from(MIN_SHARED_KEYS)),
        ("POSTINGS_READ_PER_KEY", POSTINGS_READ_PER_KEY as u64),
    ]);
    constants
}

/// A script as both backends build it (see [`source`]).
fn script(libs: &[Lib], sources: &[&str]) -> Script {
    Script::new(&source(libs, sources))
}

/// A script's text: its `#!lua` line if its body starts with one (it must come first), the prelude of
/// [`lua_constants`], the libraries in `libs` (in [`Lib`] order), then `sources`: the backend's shared
/// Lua, if any, and the script's own body last.
fn source(libs: &[Lib], sources: &[&str]) -> String {
    let mut text = String::new();
    let mut sources = sources.to_vec();
    if let Some(body) = sources.last_mut()
        && body.starts_with("#!")
    {
        let (shebang, rest) = body.split_once('\n').unwrap_or((body, ""));
        text.push_str(shebang);
        text.push('\n');
        *body = rest;
    }
    for (name, value) in lua_constants() {
        text.push_str(&format!("local {name} = {value}\n"));
    }
    debug_assert!(!libs.contains(&Lib::Postings) || libs.contains(&Lib::Numbers), "postings use numbers");
    let mut libs = libs.to_vec();
    libs.sort_unstable();
    libs.dedup();
    for lib in libs {
        text.push_str(lib.lua());
        text.push('\n');
    }
    for source in sources {
        text.push_str(source);
        text.push('\n');
    }
    text
}

/// Loads the scripts at start-up (on a cluster, `SCRIPT LOAD` goes to every master), so that a Redis
/// without scripting, or refusing it, fails then and not at the first ingest.
async fn load_scripts(connection: &mut impl redis::aio::ConnectionLike, scripts: &[&Script]) -> Result<()> {
    for script in scripts {
        within_deadline("script load", script.load_async(connection)).await?;
    }
    Ok(())
}

// -------------------------------------------------------------------------------------------------
// cluster members

/// Width of the rank a member starts with: the tier digit and two times as 16 hex digits.
const RANK_WIDTH: usize = 1 + 2 * 16;

/// A time as 16 hex digits that sort bytewise as the signed value does: the record header's bytes
/// ([`record::sortable`]), hex-encoded.
fn sortable_hex(micros: Micros) -> String {
    format!("{:016x}", u64::from_be_bytes(record::sortable(micros)))
}

/// The article's member in its cluster's zset: `TIER hex16(published) hex16(ingested) ID`.
fn member(article: &StoredArticle) -> String {
    format!(
        "{}{}{}{}",
        article.tier.digit(),
        sortable_hex(article.published_us),
        sortable_hex(article.ingested_us),
        article.meta.id
    )
}

/// The id a member ends with.
fn member_id(member: &str) -> &str {
    member.get(RANK_WIDTH..).unwrap_or("")
}

// -------------------------------------------------------------------------------------------------
// decoding script answers: Lua tables arrive as arrays, strings as bulk strings, numbers as integers
// and `false` as nil

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

#[cfg(test)]
mod tests;

// -------------------------------------------------------------------------------------------------
// the verdict log: a list of postcard-encoded verdicts (written with `seq` 0), whose `seq` is the
// entry's position from 1

/// The `RPUSH` that appends `verdict` to the log at `key`; it answers the verdict's `seq`.
fn push_verdict(key: &str, verdict: &Verdict) -> Result<redis::Cmd> {
    let encoded = postcard::to_stdvec(&Verdict { seq: 0, ..verdict.clone() })
        .map_err(|e| Error::Internal(format!("cannot encode a verdict: {e}")))?;
    let mut command = redis::cmd("RPUSH");
    command.arg(key).arg(encoded);
    Ok(command)
}

/// The `seq`s to read, `start..end`, for up to `limit` verdicts before `before` of a log of `length`;
/// `None` when there are none.
fn verdict_range(length: u64, before: Option<u64>, limit: usize) -> Option<std::ops::Range<u64>> {
    let end = before.map_or(length + 1, |before| before.min(length + 1));
    let start = end.saturating_sub(limit as u64).max(1);
    (start < end).then_some(start..end)
}

/// Decodes log entries read from `seq` `first` on, newest first.
fn decode_verdicts(first: u64, entries: &[Vec<u8>]) -> Result<Vec<Verdict>> {
    let mut verdicts = entries
        .iter()
        .zip(first..)
        .map(|(entry, seq)| {
            let verdict: Verdict = postcard::from_bytes(entry).map_err(|e| protocol_error("verdicts", e))?;
            Ok(Verdict { seq, ..verdict })
        })
        .collect::<Result<Vec<_>>>()?;
    verdicts.reverse();
    Ok(verdicts)
}
