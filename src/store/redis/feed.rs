//! The duplicate feed on Redis and Redis Cluster alike: a Redis stream whose entry ids are the
//! feed's cursors (see [`crate::store::feed`]).
//!
//! Keys (`ns` is the namespace), all with the hash tag `{ns}` so that on a cluster they share one slot
//! (every append touches that slot: one key, as a stream must be):
//!
//! - `ns:e:{ns}`, stream: one entry per event, its one field `e` the encoded event;
//! - `ns:e:{ns}t`, string: the largest id trimmed away. Redis does not record what a trim removed
//!   (`XINFO`'s `max-deleted-entry-id` counts `XDEL` only), so `append.lua` trims exactly, by `MINID`
//!   just past the last entry it removes, and writes that entry's id here;
//! - `ns:e:{ns}v:ID`, string with a time to live of [`DEDUP_WINDOW`]: the version of article `ID` last
//!   recorded, so that a retried ingest appends once.
//!
//! Reads are `XRANGE`/`XREVRANGE` with exclusive bounds on the shared multiplexed connection: nothing
//! blocks it (no `XREAD BLOCK`); watchers learn of new entries from the server's poller
//! ([`crate::engine::feed`]).

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{Script, Value};

use crate::error::Result;
use crate::store::feed::{DEDUP_WINDOW, DuplicateEvent, EventCursor, FeedBounds, FeedTrim};

use super::{array, bytes, protocol_error, string, tuple, within_deadline};

/// Events one append trims at most: the log shrinks to a lowered limit over later appends instead of
/// in one long script.
const TRIM_PER_APPEND: usize = 100;

static APPEND: LazyLock<Script> = LazyLock::new(|| super::script(&[], &[include_str!("lua/feed/append.lua")]));
static BOUNDS: LazyLock<Script> = LazyLock::new(|| super::script(&[], &[include_str!("lua/feed/bounds.lua")]));

/// The feed's keys in one namespace.
pub(super) struct FeedKeys {
    stream: String,
    trimmed: String,
    marker_prefix: String,
}

impl FeedKeys {
    /// The keys of `namespace`'s feed.
    pub(super) fn new(namespace: &str) -> FeedKeys {
        let stream = format!("{namespace}:e:{{{namespace}}}");
        FeedKeys { trimmed: format!("{stream}t"), marker_prefix: format!("{stream}v:"), stream }
    }
}

fn cursor(what: &str, value: Value) -> Result<EventCursor> {
    let text = string(what, value)?;
    EventCursor::parse(&text).ok_or_else(|| protocol_error(what, format!("not a stream id: {text:?}")))
}

fn optional_cursor(what: &str, value: Value) -> Result<Option<EventCursor>> {
    match value {
        Value::Nil => Ok(None),
        value => cursor(what, value).map(Some),
    }
}

/// Stream entries as `XRANGE` returns them: `[[id, [field, value, …]], …]`.
fn entries(what: &str, value: Value) -> Result<Vec<DuplicateEvent>> {
    array(what, value)?
        .into_iter()
        .map(|entry| {
            let [id, fields] = tuple(what, entry)?;
            let cursor = cursor(what, id)?;
            let mut fields = array(what, fields)?.into_iter();
            while let (Some(field), Some(value)) = (fields.next(), fields.next()) {
                if bytes(what, field)? == b"e" {
                    return DuplicateEvent::decode(cursor, &bytes(what, value)?);
                }
            }
            Err(protocol_error(what, format!("entry {cursor} has no event")))
        })
        .collect()
}

/// [`crate::store::Store::append_duplicate`].
pub(super) async fn append(
    connection: &mut impl ConnectionLike,
    keys: &FeedKeys,
    event: &DuplicateEvent,
    trim: &FeedTrim,
) -> Result<Option<EventCursor>> {
    const WHAT: &str = "feed append";
    let now_ms = crate::domain::now_micros().div_euclid(1000).max(0) as u64;
    let min_id = trim.min_cursor(now_ms).map(|min| min.to_string()).unwrap_or_default();
    let mut invocation = APPEND.prepare_invoke();
    invocation
        .key(&keys.stream)
        .key(&keys.trimmed)
        .key(format!("{}{}", keys.marker_prefix, event.article.id))
        .arg(event.version)
        .arg(event.encode()?)
        .arg(trim.max_len)
        .arg(min_id)
        .arg(DEDUP_WINDOW.as_millis() as u64)
        .arg(TRIM_PER_APPEND);
    let answer: Value = within_deadline(WHAT, invocation.invoke_async(connection)).await?;
    optional_cursor(WHAT, answer)
}

/// [`crate::store::Store::duplicates_before`].
pub(super) async fn before(
    connection: &mut impl ConnectionLike,
    keys: &FeedKeys,
    before: Option<EventCursor>,
    limit: usize,
) -> Result<Vec<DuplicateEvent>> {
    const WHAT: &str = "feed read";
    if limit == 0 {
        return Ok(Vec::new());
    }
    let end = before.map_or_else(|| "+".to_string(), |before| format!("({before}"));
    let mut command = redis::cmd("XREVRANGE");
    command.arg(&keys.stream).arg(end).arg("-").arg("COUNT").arg(limit);
    entries(WHAT, within_deadline(WHAT, command.query_async(connection)).await?)
}

/// [`crate::store::Store::duplicates_after`].
pub(super) async fn after(
    connection: &mut impl ConnectionLike,
    keys: &FeedKeys,
    after: EventCursor,
    limit: usize,
) -> Result<Vec<DuplicateEvent>> {
    const WHAT: &str = "feed read";
    if limit == 0 {
        return Ok(Vec::new());
    }
    let start = if after == EventCursor::ZERO { "-".to_string() } else { format!("({after}") };
    let mut command = redis::cmd("XRANGE");
    command.arg(&keys.stream).arg(start).arg("+").arg("COUNT").arg(limit);
    entries(WHAT, within_deadline(WHAT, command.query_async(connection)).await?)
}

/// [`crate::store::Store::feed_bounds`].
pub(super) async fn bounds(connection: &mut impl ConnectionLike, keys: &FeedKeys) -> Result<FeedBounds> {
    const WHAT: &str = "feed bounds";
    let mut invocation = BOUNDS.prepare_invoke();
    invocation.key(&keys.stream).key(&keys.trimmed);
    let answer: Value = within_deadline(WHAT, invocation.invoke_async(connection)).await?;
    let [oldest, newest, trimmed] = tuple(WHAT, answer)?;
    let (oldest, newest, trimmed) =
        (optional_cursor(WHAT, oldest)?, optional_cursor(WHAT, newest)?, optional_cursor(WHAT, trimmed)?);
    Ok(FeedBounds { oldest, newest: newest.or(trimmed), trimmed })
}
