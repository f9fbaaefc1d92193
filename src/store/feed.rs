//! The duplicate feed's storage: the log of duplicates found, its cursors, and the in-process log the
//! memory and embedded stores keep.
//!
//! Every ingest that places an article in a cluster with other members appends a [`DuplicateEvent`]
//! ([`super::Store::append_duplicate`]); dashboards list the log newest first and tail it from a
//! cursor. A cursor is the event's position, `MS-SEQ` like a Redis stream id: the millisecond the
//! log accepted the event and a sequence number within it. Every store hands them out that way, so
//! cursors compare the same everywhere, later events have larger cursors, and an event's cursor tells
//! when it was found.
//!
//! The log is trimmed on append, by length and by age ([`FeedTrim`]), oldest first, and every store
//! remembers the largest cursor it trimmed ([`FeedBounds::trimmed`]): a reader resuming after cursor
//! `c` has missed events exactly when that is larger than `c`.
//!
//! An append is idempotent per article version (id and time of ingest) for [`DEDUP_WINDOW`]: a
//! retried ingest may append again, and only the first append of a version records an event.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{ArticleMeta, ClusterId, MatchReason, Micros};
use crate::error::{Error, Result};
use crate::int_map::IntMap;

/// How long an append remembers the article versions it recorded, so that a retried ingest of the
/// same version appends no second event. Retries come within seconds; an hour bounds what the Redis
/// stores keep for it (a small key per event).
pub const DEDUP_WINDOW: Duration = Duration::from_secs(3600);

/// The first byte of an encoded event: the encoding's version.
const EVENT_FORMAT: u8 = 1;

/// A position in the duplicate feed: `MS-SEQ`, the millisecond the event was appended and its
/// sequence number within that millisecond. Ordered as the log is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventCursor {
    /// Milliseconds since the Unix epoch when the store accepted the event.
    pub ms: u64,
    /// Sequence number among the events of that millisecond.
    pub seq: u64,
}

impl EventCursor {
    /// Before every event.
    pub const ZERO: EventCursor = EventCursor { ms: 0, seq: 0 };

    /// Parses `MS-SEQ`; `None` for anything else.
    pub fn parse(text: &str) -> Option<EventCursor> {
        let (ms, seq) = text.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(EventCursor { ms: ms.parse().ok()?, seq: seq.parse().ok()? })
    }

    /// The cursor after `last` for an event appended at `now_ms`: as Redis numbers stream entries, so
    /// a clock that steps back never makes a cursor go back.
    pub fn next(last: EventCursor, now_ms: u64) -> EventCursor {
        if now_ms > last.ms {
            EventCursor { ms: now_ms, seq: 0 }
        } else {
            EventCursor { ms: last.ms, seq: last.seq.saturating_add(1) }
        }
    }

    /// The first cursor of a millisecond.
    pub fn at_ms(ms: u64) -> EventCursor {
        EventCursor { ms, seq: 0 }
    }

    /// When the event was found, in microseconds since the epoch.
    pub fn found_us(self) -> Micros {
        i64::try_from(self.ms).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
    }

    /// The cursor as one sortable number (the embedded store's key).
    pub fn as_u128(self) -> u128 {
        (u128::from(self.ms) << 64) | u128::from(self.seq)
    }

    /// The inverse of [`EventCursor::as_u128`].
    pub fn from_u128(value: u128) -> EventCursor {
        EventCursor { ms: (value >> 64) as u64, seq: value as u64 }
    }
}

impl std::fmt::Display for EventCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A duplicate found: an article placed in a cluster with other members, as the ingest saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateEvent {
    /// Its position in the log, set by the store on append (ignored in what is appended).
    #[serde(skip)]
    pub cursor: EventCursor,
    /// The article placed.
    pub article: ArticleMeta,
    /// Its effective publication time.
    pub published_us: Micros,
    /// Its time of ingest: with the id, the article version the event is about.
    pub version: Micros,
    /// The cluster it was placed in.
    pub cluster_id: ClusterId,
    /// That cluster's canonical when the article was placed (the article itself when it is an
    /// original that arrived after its copy).
    pub canonical_id: String,
    /// The canonical's source.
    pub canonical_source: String,
    /// The best verified match the article joined.
    pub matched_id: String,
    /// Its similarity (see [`crate::domain::Match::similarity`]).
    pub similarity: f64,
    /// The rule that verified it.
    pub reason: MatchReason,
}

impl DuplicateEvent {
    /// When the event was found (its cursor's millisecond), in microseconds since the epoch.
    pub fn found_us(&self) -> Micros {
        self.cursor.found_us()
    }

    /// The bytes a store keeps: a format byte, then the event (without its cursor, which is the
    /// store's key).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut bytes = vec![EVENT_FORMAT];
        postcard::to_io(self, &mut bytes).map_err(|e| Error::Internal(format!("cannot encode a feed event: {e}")))?;
        Ok(bytes)
    }

    /// The event [`DuplicateEvent::encode`] wrote, at `cursor`.
    pub fn decode(cursor: EventCursor, bytes: &[u8]) -> Result<DuplicateEvent> {
        let corrupt = |reason: String| Error::Internal(format!("feed event {cursor} is corrupt: {reason}"));
        let Some((&format, rest)) = bytes.split_first() else {
            return Err(corrupt("empty".into()));
        };
        if format != EVENT_FORMAT {
            return Err(corrupt(format!("unknown format {format}")));
        }
        let event: DuplicateEvent = postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string()))?;
        Ok(DuplicateEvent { cursor, ..event })
    }
}

/// How an append trims the log: the oldest events first, past `max_len` events or older than
/// `max_age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedTrim {
    /// Most events kept.
    pub max_len: usize,
    /// Events found longer ago than this are removed; `None`: no age limit.
    pub max_age: Option<Duration>,
}

impl Default for FeedTrim {
    fn default() -> Self {
        FeedTrim { max_len: 1_000_000, max_age: None }
    }
}

impl FeedTrim {
    /// The smallest cursor an append at `now_ms` keeps by age, if there is an age limit.
    pub fn min_cursor(&self, now_ms: u64) -> Option<EventCursor> {
        let age = u64::try_from(self.max_age?.as_millis()).unwrap_or(u64::MAX);
        Some(EventCursor::at_ms(now_ms.saturating_sub(age)))
    }
}

/// Where the log starts and ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedBounds {
    /// The oldest event kept; `None` when the log is empty.
    pub oldest: Option<EventCursor>,
    /// The newest event appended, or the largest trimmed when every event was; `None` when the log
    /// never had an event.
    pub newest: Option<EventCursor>,
    /// The largest cursor trimmed away; `None` when nothing was.
    pub trimmed: Option<EventCursor>,
}

impl FeedBounds {
    /// Whether a reader that has seen everything up to `after` missed events that were trimmed.
    pub fn missed_after(&self, after: EventCursor) -> bool {
        self.trimmed.is_some_and(|trimmed| trimmed > after)
    }
}

/// What [`LocalFeed::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalAppend {
    /// The new event's cursor; `None` when this article version was recorded already.
    pub cursor: Option<EventCursor>,
    /// The largest cursor trimmed by this append, if it trimmed any.
    pub trimmed_through: Option<EventCursor>,
}

/// The log of the memory and embedded stores: every event in memory, oldest first, as its
/// [`DuplicateEvent::encode`] bytes (a third of the event's size as a struct of strings).
#[derive(Debug, Default)]
pub struct LocalFeed {
    events: VecDeque<(EventCursor, Box<[u8]>)>,
    /// The last cursor handed out (kept when its event is trimmed).
    last: EventCursor,
    trimmed: Option<EventCursor>,
    /// Hash of an article id → the version last recorded and its cursor, for [`DEDUP_WINDOW`]. Two
    /// ids of one hash would have to share a time of ingest to the microsecond to be taken for one.
    recent: IntMap<u64, (Micros, EventCursor)>,
    /// The entries of `recent` in the order recorded, to forget them when the window passes.
    recent_order: VecDeque<(EventCursor, u64)>,
}

fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

impl LocalFeed {
    /// Events kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// [`super::Store::append_duplicate`] at `now_ms`.
    pub fn append(&mut self, event: &DuplicateEvent, trim: &FeedTrim, now_ms: u64) -> Result<LocalAppend> {
        let window = DEDUP_WINDOW.as_millis() as u64;
        let forget_before = now_ms.saturating_sub(window);
        while let Some(&(cursor, id)) = self.recent_order.front() {
            if cursor.ms >= forget_before {
                break;
            }
            self.recent_order.pop_front();
            if self.recent.get(&id).is_some_and(|&(_, recorded)| recorded == cursor) {
                self.recent.remove(&id);
            }
        }
        let id = id_hash(&event.article.id);
        if self.recent.get(&id).is_some_and(|&(version, _)| version == event.version) {
            return Ok(LocalAppend::default());
        }
        let bytes = event.encode()?.into_boxed_slice();
        let cursor = EventCursor::next(self.last, now_ms);
        self.last = cursor;
        self.remember(id, event.version, cursor);
        self.events.push_back((cursor, bytes));
        let trimmed_through = self.trim(trim, now_ms);
        Ok(LocalAppend { cursor: Some(cursor), trimmed_through })
    }

    fn remember(&mut self, id: u64, version: Micros, cursor: EventCursor) {
        self.recent.insert(id, (version, cursor));
        self.recent_order.push_back((cursor, id));
    }

    /// Removes the oldest events past the length or age limit; returns the largest removed.
    fn trim(&mut self, trim: &FeedTrim, now_ms: u64) -> Option<EventCursor> {
        let min_cursor = trim.min_cursor(now_ms);
        let mut removed = None;
        while let Some(&(oldest, _)) = self.events.front() {
            let too_many = self.events.len() > trim.max_len;
            let too_old = min_cursor.is_some_and(|min| oldest < min);
            if !too_many && !too_old {
                break;
            }
            removed = self.events.pop_front().map(|(cursor, _)| cursor);
        }
        if removed.is_some() {
            self.trimmed = removed.max(self.trimmed);
        }
        removed
    }

    /// Restores an event read back from disk as [`DuplicateEvent::encode`] wrote it, in cursor order
    /// (startup of the embedded store); `now_ms` decides whether it is still within [`DEDUP_WINDOW`].
    pub fn restore(&mut self, cursor: EventCursor, bytes: &[u8], now_ms: u64) -> Result<()> {
        self.last = self.last.max(cursor);
        if cursor.ms >= now_ms.saturating_sub(DEDUP_WINDOW.as_millis() as u64) {
            let event = DuplicateEvent::decode(cursor, bytes)?;
            self.remember(id_hash(&event.article.id), event.version, cursor);
        }
        self.events.push_back((cursor, bytes.into()));
        Ok(())
    }

    /// Restores the largest cursor trimmed, read back from disk.
    pub fn restore_trimmed(&mut self, trimmed: EventCursor) {
        self.trimmed = Some(trimmed).max(self.trimmed);
        self.last = self.last.max(trimmed);
    }

    /// [`super::Store::duplicates_before`].
    pub fn before(&self, before: Option<EventCursor>, limit: usize) -> Result<Vec<DuplicateEvent>> {
        let end = before.map_or(self.events.len(), |before| self.events.partition_point(|&(c, _)| c < before));
        self.events
            .range(..end)
            .rev()
            .take(limit)
            .map(|(cursor, bytes)| DuplicateEvent::decode(*cursor, bytes))
            .collect()
    }

    /// [`super::Store::duplicates_after`].
    pub fn after(&self, after: EventCursor, limit: usize) -> Result<Vec<DuplicateEvent>> {
        let start = self.events.partition_point(|&(c, _)| c <= after);
        self.events.range(start..).take(limit).map(|(cursor, bytes)| DuplicateEvent::decode(*cursor, bytes)).collect()
    }

    /// [`super::Store::feed_bounds`].
    pub fn bounds(&self) -> FeedBounds {
        FeedBounds {
            oldest: self.events.front().map(|&(cursor, _)| cursor),
            newest: (self.last != EventCursor::ZERO).then_some(self.last),
            trimmed: self.trimmed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, version: Micros) -> DuplicateEvent {
        DuplicateEvent {
            cursor: EventCursor::ZERO,
            article: ArticleMeta {
                id: id.into(),
                url: format!("https://copy.example/{id}"),
                source: "copy.example".into(),
                title: format!("Copy {id}"),
            },
            published_us: 1_000,
            version,
            cluster_id: ClusterId("0000000000000001-00000001".into()),
            canonical_id: "original".into(),
            canonical_source: "wire.example".into(),
            matched_id: "original".into(),
            similarity: 0.93,
            reason: MatchReason::Skeleton,
        }
    }

    #[test]
    fn cursors_parse_print_and_order() {
        let cursor = EventCursor { ms: 1_712_345_678_901, seq: 7 };
        assert_eq!(cursor.to_string(), "1712345678901-7");
        assert_eq!(EventCursor::parse("1712345678901-7"), Some(cursor));
        for bad in ["", "1", "1-", "-1", "a-1", "1-2-3", "1--2", "+1-2", "99999999999999999999-0"] {
            assert_eq!(EventCursor::parse(bad), None, "{bad:?}");
        }
        assert!(EventCursor { ms: 5, seq: 9 } < EventCursor { ms: 6, seq: 0 });
        assert_eq!(EventCursor::from_u128(cursor.as_u128()), cursor);
        assert_eq!(EventCursor::next(cursor, cursor.ms - 10), EventCursor { ms: cursor.ms, seq: 8 });
        assert_eq!(EventCursor::next(cursor, cursor.ms + 1), EventCursor::at_ms(cursor.ms + 1));
        assert_eq!(cursor.found_us(), 1_712_345_678_901_000);
    }

    #[test]
    fn events_round_trip_and_refuse_garbage() {
        let cursor = EventCursor { ms: 3, seq: 1 };
        let original = DuplicateEvent { cursor, ..event("copy", 42) };
        let bytes = original.encode().expect("encodes");
        assert_eq!(DuplicateEvent::decode(cursor, &bytes).expect("decodes"), original);
        assert!(DuplicateEvent::decode(cursor, &[]).is_err());
        assert!(DuplicateEvent::decode(cursor, &[9, 1, 2]).is_err());
        assert!(DuplicateEvent::decode(cursor, &bytes[..bytes.len() / 2]).is_err());
    }

    /// One event per article version within the window; a new version is a new event; the version
    /// is forgotten once the window has passed.
    #[test]
    fn an_article_version_is_recorded_once_within_the_window() {
        let mut feed = LocalFeed::default();
        let trim = FeedTrim::default();
        let first = feed.append(&event("copy", 1), &trim, 1_000).expect("appends").cursor.expect("recorded");
        assert_eq!(
            feed.append(&event("copy", 1), &trim, 1_001).expect("appends").cursor,
            None,
            "a retry records nothing"
        );
        let second =
            feed.append(&event("copy", 2), &trim, 1_001).expect("appends").cursor.expect("a new version is recorded");
        assert!(second > first);
        let later = 1_001 + DEDUP_WINDOW.as_millis() as u64 + 1;
        assert!(
            feed.append(&event("copy", 2), &trim, later).expect("appends").cursor.is_some(),
            "the window has passed"
        );
        assert_eq!(feed.len(), 3);
    }

    /// Trimming drops the oldest past the length or the age, and remembers the largest it dropped.
    #[test]
    fn trimming_keeps_the_newest_and_remembers_what_went() {
        let mut feed = LocalFeed::default();
        let trim = FeedTrim { max_len: 3, max_age: None };
        let cursors: Vec<EventCursor> = (0..5)
            .map(|i| feed.append(&event(&format!("a{i}"), 1), &trim, 100).expect("appends").cursor.expect("new"))
            .collect();
        assert_eq!(feed.len(), 3);
        let bounds = feed.bounds();
        assert_eq!(
            (bounds.oldest, bounds.newest, bounds.trimmed),
            (Some(cursors[2]), Some(cursors[4]), Some(cursors[1]))
        );
        assert!(
            bounds.missed_after(cursors[0]) && !bounds.missed_after(cursors[1]) && !bounds.missed_after(cursors[3])
        );
        let newest_first: Vec<EventCursor> = feed.before(None, 10).expect("reads").iter().map(|e| e.cursor).collect();
        assert_eq!(newest_first, [cursors[4], cursors[3], cursors[2]]);
        assert_eq!(feed.before(Some(cursors[4]), 1).expect("reads")[0].cursor, cursors[3]);
        let oldest_first: Vec<EventCursor> =
            feed.after(cursors[2], 10).expect("reads").iter().map(|e| e.cursor).collect();
        assert_eq!(oldest_first, [cursors[3], cursors[4]]);
        assert_eq!(feed.after(EventCursor::ZERO, 1).expect("reads")[0].cursor, cursors[2]);

        let by_age = FeedTrim { max_len: 100, max_age: Some(Duration::from_millis(50)) };
        let appended = feed.append(&event("late", 1), &by_age, 200).expect("appends");
        assert_eq!(appended.trimmed_through, Some(cursors[4]), "everything older than 150 ms goes");
        assert_eq!(feed.len(), 1);
        assert_eq!(feed.bounds().newest, appended.cursor);
    }
}
