//! The duplicate feed: what the engine records when an ingest finds a duplicate, and what
//! dashboards read back, listing the log newest first ([`Engine::list_duplicates`]), tailing it from a
//! cursor ([`Engine::watch_duplicates`]), and counting copies by source ([`Engine::source_counts`]).
//! The gRPC layer and the review page both call these.
//!
//! **Recording.** An ingest that places an article in a cluster with other members (it joined at
//! least one verified match) appends an event after the store accepted the article and before the
//! ingest answers; a failed append fails the ingest with `UNAVAILABLE`. The retry finds the article
//! stored (`Unchanged`) and appends again: the store records each article version once within
//! [`crate::store::feed::DEDUP_WINDOW`], so a retry fills the gap and a re-sent article adds nothing.
//!
//! **Watching.** Watchers read the store themselves, each from its own cursor, so a watcher misses
//! nothing and sees nothing twice whatever it raced. They wait on a [`FeedHub`], which this server's
//! appends advance at once and a poller ([`Engine::poll_feed`], one per server, started by the server)
//! advances when another replica appended: one cheap bounds read per poll while anyone watches, and
//! no blocking Redis command on the shared connection.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::{ClusterId, Micros, StoredArticle};
use crate::error::{Error, Result};
use crate::store::Lookup;
use crate::store::feed::{DuplicateEvent, EventCursor};

use super::Engine;
use super::decide::Decided;

/// How often a server's poller looks for events other replicas appended, while anyone watches.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Events a watcher reads at once.
const WATCH_BATCH: usize = 256;
/// Events `ListDuplicates` reads at once.
const LIST_BATCH: usize = 256;
/// The most events one `ListDuplicates` call scans for its filters; past it the page is answered
/// short, with a token to go on from.
pub const LIST_SCAN_LIMIT: usize = 10_000;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page; larger requests get this many.
pub const MAX_PAGE_SIZE: usize = 1_000;

/// The newest cursor this server knows the log to have reached; watchers wait on it.
#[derive(Debug)]
pub struct FeedHub {
    newest: watch::Sender<EventCursor>,
}

impl Default for FeedHub {
    fn default() -> Self {
        FeedHub { newest: watch::Sender::new(EventCursor::ZERO) }
    }
}

impl FeedHub {
    /// Wakes the watchers if `cursor` is newer than what they were told.
    fn advance(&self, cursor: EventCursor) {
        self.newest.send_if_modified(|newest| {
            let newer = cursor > *newest;
            if newer {
                *newest = cursor;
            }
            newer
        });
    }
}

/// Which events a reader wants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedFilter {
    /// Only copies published by this source (compared ignoring ASCII case); `None`: every source.
    pub source: Option<String>,
    /// Only events whose similarity is at least this.
    pub min_similarity: f64,
}

impl FeedFilter {
    /// A filter from a request's fields: an empty source means every source; `min_similarity` must
    /// be within 0..=1.
    pub fn new(source: &str, min_similarity: f64) -> Result<FeedFilter> {
        if !(0.0..=1.0).contains(&min_similarity) {
            return Err(Error::invalid("min_similarity", "must be within 0 and 1"));
        }
        if source.len() > 8 * 1024 {
            return Err(Error::invalid("source", "is longer than 8 KiB"));
        }
        let source = source.trim();
        Ok(FeedFilter { source: (!source.is_empty()).then(|| source.to_string()), min_similarity })
    }

    /// Whether `event` passes.
    pub fn admits(&self, event: &DuplicateEvent) -> bool {
        event.similarity >= self.min_similarity
            && self.source.as_deref().is_none_or(|source| source.eq_ignore_ascii_case(&event.article.source))
    }
}

/// A `ListDuplicates` query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedQuery {
    /// Only events found at or after this time.
    pub since: Option<Micros>,
    /// Only events found before this time.
    pub until: Option<Micros>,
    /// Source and similarity.
    pub filter: FeedFilter,
    /// Most events in the page: 0 means [`DEFAULT_PAGE_SIZE`], more than [`MAX_PAGE_SIZE`] that.
    pub page_size: usize,
    /// Where the previous page stopped (its `next_page_token`); `None`: from the newest.
    pub page_token: Option<EventCursor>,
}

/// An event as `ListDuplicates` shows it: with the article's *current* cluster and canonical.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedDuplicate {
    /// The event; `cluster_id`, `canonical_id` and `canonical_source` are the current ones unless
    /// `removed`.
    pub event: DuplicateEvent,
    /// The article version the event is about is no longer stored (deleted, expired or replaced by
    /// new content): the cluster and canonical are as when it was found.
    pub removed: bool,
}

/// A page of `ListDuplicates`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedPage {
    /// Newest first.
    pub duplicates: Vec<ListedDuplicate>,
    /// Where the next page starts; `None` when the log has nothing older for this query.
    pub next_page_token: Option<EventCursor>,
}

/// Copies counted by source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCount {
    /// The source.
    pub source: String,
    /// How many events name it.
    pub count: usize,
}

/// Which sources publish the most copies, and whose originals are copied most, over the latest
/// events of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCounts {
    /// Events read (at most the window asked for).
    pub events: usize,
    /// Sources of the copies (events whose article is not its cluster's canonical), most first.
    pub copiers: Vec<SourceCount>,
    /// Sources of the canonicals those copies were placed under, most first.
    pub copied: Vec<SourceCount>,
}

/// Parses a cursor a client sent in `field`.
pub fn parse_cursor(field: &'static str, text: &str) -> Result<EventCursor> {
    EventCursor::parse(text).ok_or_else(|| Error::invalid(field, format!("{text:?} is not a feed cursor (MS-SEQ)")))
}

/// The first millisecond at or after `micros`.
fn ceil_ms(micros: Micros) -> u64 {
    micros.div_euclid(1000).saturating_add(i64::from(micros.rem_euclid(1000) > 0)).max(0) as u64
}

impl Engine {
    /// Appends the event of an ingest that placed `record` in a cluster with its verified matches:
    /// nothing when it joined none. A failure is [`Error::Unavailable`]: the article is stored, and
    /// the retry that the client makes appends the event.
    pub(super) async fn record_duplicate(
        &self,
        record: &StoredArticle,
        decided: &Decided,
        lookup: &Lookup,
        cluster_id: &ClusterId,
        canonical_id: &str,
    ) -> Result<()> {
        let Some(best) = decided.best_link() else { return Ok(()) };
        let canonical_source = if canonical_id == record.meta.id {
            record.meta.source.clone()
        } else {
            let known = decided
                .matches
                .iter()
                .map(|m| &m.article)
                .chain(lookup.clusters.iter().map(|head| &head.canonical))
                .find(|article| article.meta.id == canonical_id);
            match known {
                Some(canonical) => canonical.meta.source.clone(),
                None => self.store.get(canonical_id).await?.map(|c| c.meta.source).unwrap_or_default(),
            }
        };
        let event = DuplicateEvent {
            cursor: EventCursor::ZERO,
            article: record.meta.clone(),
            published_us: record.published_us,
            version: record.ingested_us,
            cluster_id: cluster_id.clone(),
            canonical_id: canonical_id.to_string(),
            canonical_source,
            matched_id: best.article.meta.id.clone(),
            similarity: best.similarity,
            reason: best.reason,
        };
        match self.store.append_duplicate(&event, &self.config.feed).await {
            Ok(Some(cursor)) => {
                self.feed.advance(cursor);
                tracing::debug!(article = %record.meta.id, %cursor, "duplicate recorded");
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => Err(Error::Unavailable(format!("duplicate feed: {error}"))),
        }
    }

    /// A page of the duplicates found, newest first, each with the article's current cluster and
    /// canonical. The page token is the cursor where the page stopped, so events appended meanwhile
    /// neither repeat nor shift the next page (pass the same query with it). A page holds fewer than
    /// `page_size` events when the filters skip many: one call scans at most [`LIST_SCAN_LIMIT`]
    /// events, and only an absent `next_page_token` means the end.
    pub async fn list_duplicates(&self, query: &FeedQuery) -> Result<FeedPage> {
        if let (Some(since), Some(until)) = (query.since, query.until)
            && since > until
        {
            return Err(Error::invalid("since", "is after until"));
        }
        let page_size = match query.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        // found before `until`: a cursor before the first one of its (rounded up) millisecond
        let until = query.until.map(|until| EventCursor::at_ms(ceil_ms(until)));
        let floor = query.since.map(|since| EventCursor::at_ms(ceil_ms(since)));
        let mut before = match (query.page_token, until) {
            (Some(token), Some(until)) => Some(token.min(until)),
            (token, until) => token.or(until),
        };
        let mut page = Vec::new();
        let mut scanned = 0;
        let next_page_token = 'scan: loop {
            let batch = self.store.duplicates_before(before, LIST_BATCH).await?;
            let end = batch.len() < LIST_BATCH;
            for event in batch {
                if floor.is_some_and(|floor| event.cursor < floor) {
                    break 'scan None;
                }
                scanned += 1;
                before = Some(event.cursor);
                if query.filter.admits(&event) {
                    page.push(event);
                    if page.len() == page_size {
                        break 'scan before;
                    }
                }
            }
            if end {
                break None;
            }
            if scanned >= LIST_SCAN_LIMIT {
                break before;
            }
        };
        let duplicates = self.with_current_canonicals(page).await?;
        Ok(FeedPage { duplicates, next_page_token })
    }

    /// The events with their articles' current clusters and canonicals (each cluster read once).
    async fn with_current_canonicals(&self, events: Vec<DuplicateEvent>) -> Result<Vec<ListedDuplicate>> {
        let mut known: HashMap<ClusterId, Option<Current>> = HashMap::new();
        let mut listed = Vec::with_capacity(events.len());
        for mut event in events {
            let stored = self.store.get(&event.article.id).await?;
            // the event is about one version of the article: another one is not its current state
            let cluster_id = stored.filter(|a| a.ingested_us == event.version).and_then(|a| a.cluster_id);
            let current = match cluster_id {
                Some(cluster_id) if known.contains_key(&cluster_id) => known[&cluster_id].clone(),
                Some(cluster_id) => {
                    let current = self.store.cluster(&cluster_id).await?.and_then(|view| {
                        let canonical = view.members.first()?;
                        Some(Current {
                            canonical_id: canonical.meta.id.clone(),
                            canonical_source: canonical.meta.source.clone(),
                            cluster_id: view.cluster_id,
                        })
                    });
                    known.insert(cluster_id, current.clone());
                    current
                }
                None => None,
            };
            let removed = current.is_none();
            if let Some(current) = current {
                (event.cluster_id, event.canonical_id, event.canonical_source) =
                    (current.cluster_id, current.canonical_id, current.canonical_source);
            }
            listed.push(ListedDuplicate { event, removed });
        }
        Ok(listed)
    }

    /// The events appended after `after` (`None`: only those appended from now on) that pass
    /// `filter`, oldest first, as they come, on whichever replica they were found; resuming with the
    /// cursor of the last event seen misses nothing and repeats nothing. The stream ends when `stop`
    /// is cancelled (server shutdown).
    ///
    /// Fails with `OUT_OF_RANGE`, naming the oldest cursor available, when events after `after` were
    /// trimmed away; the stream ends with it when that happens to a watcher that fell behind.
    pub async fn watch_duplicates(
        &self,
        after: Option<EventCursor>,
        filter: FeedFilter,
        stop: CancellationToken,
    ) -> Result<impl Stream<Item = Result<DuplicateEvent>> + Send + 'static> {
        let mut newest = self.feed.newest.subscribe();
        newest.mark_changed();
        let bounds = self.store.feed_bounds().await?;
        if let Some(newest) = bounds.newest {
            self.feed.advance(newest);
        }
        let cursor = match after {
            Some(after) => {
                if bounds.missed_after(after) {
                    return Err(trimmed_error(after, bounds.oldest));
                }
                after
            }
            None => bounds.newest.unwrap_or(EventCursor::ZERO),
        };
        let watcher = Watcher {
            engine: self.clone(),
            cursor,
            filter,
            newest,
            stop,
            buffer: VecDeque::new(),
            failed: None,
            done: false,
        };
        Ok(futures::stream::unfold(watcher, |mut watcher| async move {
            let item = watcher.next().await?;
            Some((item, watcher))
        }))
    }

    /// The server's poller: while anyone watches, reads the log's newest cursor every `every` and
    /// wakes the watchers when another replica appended. Runs until `stop` is cancelled.
    pub async fn poll_feed(&self, every: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if self.feed.newest.receiver_count() == 0 {
                continue;
            }
            match self.store.feed_bounds().await {
                Ok(bounds) => {
                    if let Some(newest) = bounds.newest {
                        self.feed.advance(newest);
                    }
                }
                Err(error) => tracing::debug!(%error, "duplicate feed poll failed; the next one retries"),
            }
        }
    }

    /// Counts the latest `window` events of the log by source: which sources publish the most copies
    /// and whose originals are copied most, by the canonicals recorded when each copy was found.
    pub async fn source_counts(&self, window: usize) -> Result<SourceCounts> {
        let mut copiers: HashMap<String, usize> = HashMap::new();
        let mut copied: HashMap<String, usize> = HashMap::new();
        let (mut events, mut before) = (0, None);
        while events < window {
            let batch = self.store.duplicates_before(before, LIST_BATCH.min(window - events)).await?;
            let Some(last) = batch.last() else { break };
            before = Some(last.cursor);
            events += batch.len();
            for event in batch.iter().filter(|event| event.article.id != event.canonical_id) {
                *copiers.entry(event.article.source.clone()).or_default() += 1;
                *copied.entry(event.canonical_source.clone()).or_default() += 1;
            }
        }
        let ranked = |counts: HashMap<String, usize>| {
            let mut counts: Vec<SourceCount> =
                counts.into_iter().map(|(source, count)| SourceCount { source, count }).collect();
            counts.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.source.cmp(&b.source)));
            counts
        };
        Ok(SourceCounts { events, copiers: ranked(copiers), copied: ranked(copied) })
    }
}

/// A cluster's current id and canonical, as a listing shows them.
#[derive(Debug, Clone)]
struct Current {
    cluster_id: ClusterId,
    canonical_id: String,
    canonical_source: String,
}

/// `OUT_OF_RANGE` for a reader after `after` that missed trimmed events.
fn trimmed_error(after: EventCursor, oldest: Option<EventCursor>) -> Error {
    let oldest = oldest.map_or_else(|| "none: the feed is empty".to_string(), |oldest| oldest.to_string());
    Error::OutOfRange {
        field: "after_cursor",
        reason: format!("events after {after} were trimmed from the feed; the oldest cursor available is {oldest}"),
    }
}

/// One watch: its cursor, what it read and has not yet sent, and how it waits.
struct Watcher {
    engine: Engine,
    cursor: EventCursor,
    filter: FeedFilter,
    newest: watch::Receiver<EventCursor>,
    stop: CancellationToken,
    buffer: VecDeque<DuplicateEvent>,
    /// The error to end with once the buffer is sent.
    failed: Option<Error>,
    /// The stream has ended with an error.
    done: bool,
}

impl Watcher {
    /// The next event or error; `None` ends the stream.
    async fn next(&mut self) -> Option<Result<DuplicateEvent>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(event));
            }
            if self.done || self.stop.is_cancelled() {
                return None;
            }
            if let Some(error) = self.failed.take() {
                self.done = true;
                return Some(Err(error));
            }
            // seen before reading: an append after the read wakes the wait below
            self.newest.borrow_and_update();
            let stop = self.stop.clone();
            let read = tokio::select! {
                () = stop.cancelled() => return None,
                read = self.read() => read,
            };
            if let Err(error) = read {
                self.done = true;
                return Some(Err(error));
            }
            if !self.buffer.is_empty() || self.failed.is_some() {
                continue;
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                changed = self.newest.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Reads the events after the cursor into the buffer (those the filter admits) and moves the
    /// cursor past them; notes the error to end with if events beyond them were trimmed.
    async fn read(&mut self) -> Result<()> {
        let store = &self.engine.store;
        let batch = store.duplicates_after(self.cursor, WATCH_BATCH).await?;
        let Some(last) = batch.last() else { return Ok(()) };
        self.cursor = last.cursor;
        self.buffer.extend(batch.into_iter().filter(|event| self.filter.admits(event)));
        // what was trimmed up to the last event read was read already; beyond it, it is lost
        let bounds = store.feed_bounds().await?;
        if bounds.missed_after(self.cursor) {
            self.failed = Some(trimmed_error(self.cursor, bounds.oldest));
        }
        Ok(())
    }
}
