//! The duplicate feed end to end: `ListDuplicates` and `WatchDuplicates` on the real server on
//! `127.0.0.1:0`, over the embedded store, a real `redis-server` and a real Redis Cluster (shared by
//! the tests of this file, a namespace each).
//!
//! [`feed_cases!`] turns every (store, case) pair into its own test: `cargo test --test duplicate_feed
//! redis_cluster::` runs one store. A stream that should deliver an event is given a generous guard
//! ([`NEXT`]) so that a bug fails the test instead of hanging it; nothing here measures speed.

mod common;

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dedupd::config::ServeConfig;
use dedupd::error::{Error, Result};
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, Article, IngestRequest, ListDuplicatesRequest, WatchDuplicatesRequest};
use dedupd::server::Server;
use dedupd::store::Store;
use dedupd::synthetic::{spun, text};
use prost_types::Timestamp;
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

use common::{Call, Hook, Hooked};

/// 2025-01-01T00:00:00Z: articles are published "in the past", so no time is clamped.
const BASE_SECONDS: i64 = 1_735_689_600;

/// The longest a stream may take to deliver an event it should: a guard against hanging, far above
/// what delivery takes (the poller looks every 250 ms).
const NEXT: Duration = Duration::from_secs(30);

type Client = DeduplicatorClient<Channel>;

macro_rules! feed_cases {
    ($($case:ident),* $(,)?) => {
        feed_cases!(@store embedded: $($case),*);
        feed_cases!(@store redis: $($case),*);
        feed_cases!(@store redis_cluster: $($case),*);
    };
    (@store $store:ident: $($case:ident),*) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let store = super::new_store(stringify!($store)).await;
                    super::$case(store).await;
                }
            )*
        }
    };
}

feed_cases!(
    copies_are_listed_newest_first_with_their_current_canonical,
    pages_are_stable_while_copies_arrive,
    list_filters_by_source_similarity_and_time,
    a_watch_receives_copies_found_after_it_connected,
    a_watch_resumes_after_a_reconnect_missing_nothing_and_repeating_nothing,
    a_trimmed_cursor_is_out_of_range_naming_the_oldest,
    bad_feed_requests_are_invalid_arguments,
    a_watch_ends_cleanly_at_shutdown,
);

/// Two replicas share the Redis stores; the embedded store is one process's.
mod redis_replicas {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis() {
        super::a_watch_sees_copies_found_by_another_replica(super::new_store("redis").await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_cluster() {
        super::a_watch_sees_copies_found_by_another_replica(super::new_store("redis_cluster").await).await;
    }
}

// ---------------------------------------------------------------------------------------------------
// the kit

/// A new, empty store: the configuration of a server on it, and what must outlive its servers.
struct TestStore {
    config: ServeConfig,
    _guard: Arc<dyn Any + Send + Sync>,
}

async fn new_store(kind: &str) -> TestStore {
    let (config, guard) = common::new_store(kind, "feed").await;
    TestStore { config, _guard: Arc::from(guard) }
}

impl TestStore {
    /// A server on this store with `configure` applied, and a client of it.
    async fn serve_with(&self, configure: impl FnOnce(ServeConfig) -> ServeConfig) -> (Server, Client) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let server = Server::start(configure(self.config.clone()), listener).await.expect("server starts");
        let client = DeduplicatorClient::connect(server.url()).await.expect("client connects");
        (server, client)
    }

    async fn serve(&self) -> (Server, Client) {
        self.serve_with(|config| config).await
    }
}

fn article(id: &str, source: &str, body: &str, minutes: i64) -> Article {
    Article {
        id: id.into(),
        url: format!("https://{source}/{id}"),
        source: source.into(),
        title: format!("Title of {id}"),
        body: body.into(),
        published_at: Some(Timestamp { seconds: BASE_SECONDS + minutes * 60, nanos: 0 }),
    }
}

async fn ingest(client: &mut Client, article: Article) -> proto::IngestResponse {
    let id = article.id.clone();
    client
        .ingest(IngestRequest { article: Some(article) })
        .await
        .unwrap_or_else(|status| panic!("ingest {id}: {status}"))
        .into_inner()
}

/// An original of story `seed` from the wire, published at minute 0.
async fn original(client: &mut Client, id: &str, seed: u64) {
    let response = ingest(client, article(id, "wire.example", &text(seed, 400), 0)).await;
    assert!(!response.duplicate, "{id} is an original");
}

/// A copy of story `seed` (spun by `percent`), from `source`, published at `minute`. (Copies of one
/// story from one source would teach the boilerplate model that the story is that source's
/// boilerplate: tests give each copy a source of its own, but where they test sources.)
async fn copy(client: &mut Client, id: &str, source: &str, seed: u64, percent: u64, minute: i64) {
    let response = ingest(client, article(id, source, &spun(&text(seed, 400), percent, seed + 1), minute)).await;
    assert!(response.duplicate, "{id} is a copy: {response:?}");
}

async fn list(client: &mut Client, request: ListDuplicatesRequest) -> proto::ListDuplicatesResponse {
    client.list_duplicates(request).await.unwrap_or_else(|status| panic!("list: {status}")).into_inner()
}

/// Every page of a query, in order.
async fn list_all(client: &mut Client, request: ListDuplicatesRequest) -> Vec<proto::DuplicateEvent> {
    let mut events = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(client, ListDuplicatesRequest { page_token: token, ..request.clone() }).await;
        events.extend(page.duplicates);
        if page.next_page_token.is_empty() {
            return events;
        }
        token = page.next_page_token;
    }
}

fn ids(events: &[proto::DuplicateEvent]) -> Vec<String> {
    events.iter().map(|e| e.article.as_ref().expect("article").id.clone()).collect()
}

async fn watch(client: &mut Client, after_cursor: &str) -> Streaming<proto::DuplicateEvent> {
    let request = WatchDuplicatesRequest { after_cursor: after_cursor.into(), ..Default::default() };
    client.watch_duplicates(request).await.unwrap_or_else(|status| panic!("watch: {status}")).into_inner()
}

/// The next event of a watch.
async fn next(stream: &mut Streaming<proto::DuplicateEvent>) -> proto::DuplicateEvent {
    let message =
        tokio::time::timeout(NEXT, stream.message()).await.unwrap_or_else(|_| panic!("no event within {NEXT:?}"));
    match message {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the watch ended"),
        Err(status) => panic!("the watch failed: {status}"),
    }
}

fn id(event: &proto::DuplicateEvent) -> &str {
    &event.article.as_ref().expect("article").id
}

// ---------------------------------------------------------------------------------------------------
// cases

/// Each copy is listed once, newest first, with what was found (its match, rule, similarity, times);
/// an original and an unrelated story are not. The canonical shown is the current one: an earlier
/// original arriving later takes over, and a copy whose article was deleted says so.
async fn copies_are_listed_newest_first_with_their_current_canonical(store: TestStore) {
    let (server, mut client) = store.serve().await;
    original(&mut client, "wire-1", 1).await;
    copy(&mut client, "copy-a", "roundup.example", 1, 10, 30).await;
    copy(&mut client, "copy-b", "digest.example", 1, 20, 40).await;
    ingest(&mut client, article("unrelated", "wire.example", &text(2, 400), 5)).await;
    // re-sent unchanged: no second event
    ingest(&mut client, article("copy-a", "roundup.example", &spun(&text(1, 400), 10, 2), 30)).await;

    let listed = list_all(&mut client, ListDuplicatesRequest::default()).await;
    assert_eq!(ids(&listed), ["copy-b", "copy-a"]);
    let newest = &listed[0];
    let found = newest.article.as_ref().expect("article");
    assert_eq!((found.source.as_str(), found.url.as_str()), ("digest.example", "https://digest.example/copy-b"));
    assert_eq!(found.published_at, Some(Timestamp { seconds: BASE_SECONDS + 40 * 60, nanos: 0 }));
    assert_eq!((newest.canonical_id.as_str(), newest.canonical_source.as_str()), ("wire-1", "wire.example"));
    assert!(["wire-1", "copy-a"].contains(&newest.matched_id.as_str()), "{newest:?}");
    assert!(newest.similarity > 0.5 && newest.similarity <= 1.0);
    assert_ne!(newest.rule, proto::MatchReason::Unspecified as i32);
    assert!(!newest.removed && newest.found_at.is_some());
    let cluster_id = client
        .get_article(proto::GetArticleRequest { id: "copy-a".into() })
        .await
        .expect("get")
        .into_inner()
        .cluster_id;
    assert!(listed.iter().all(|e| e.cluster_id == cluster_id));

    // an earlier original of the story arrives: the listing shows it as the canonical now
    ingest(&mut client, article("archive-1", "archive.example", &text(1, 400), -60)).await;
    assert!(
        client
            .delete_article(proto::DeleteArticleRequest { id: "copy-b".into() })
            .await
            .expect("delete")
            .into_inner()
            .deleted
    );
    let listed = list_all(&mut client, ListDuplicatesRequest::default()).await;
    assert_eq!(ids(&listed), ["archive-1", "copy-b", "copy-a"], "the original joined the cluster: an event too");
    assert_eq!(listed[0].canonical_id, "archive-1", "found as the canonical");
    assert_eq!(
        (listed[2].canonical_id.as_str(), listed[2].canonical_source.as_str()),
        ("archive-1", "archive.example")
    );
    assert!(listed[1].removed, "copy-b was deleted");
    assert_eq!(listed[1].canonical_id, "wire-1", "as when it was found");
    server.shutdown().await.expect("clean shutdown");
}

/// Pages follow each other by cursor: copies found between two pages neither repeat an item nor
/// shift the next page, and the pages together are the whole log.
async fn pages_are_stable_while_copies_arrive(store: TestStore) {
    let (server, mut client) = store.serve().await;
    original(&mut client, "wire-1", 3).await;
    for i in 0..5 {
        copy(&mut client, &format!("copy-{i}"), &format!("site-{i}.example"), 3, 10 + i, 10 + i as i64).await;
    }
    let first = list(&mut client, ListDuplicatesRequest { page_size: 2, ..Default::default() }).await;
    assert_eq!(ids(&first.duplicates), ["copy-4", "copy-3"]);
    assert!(!first.next_page_token.is_empty());

    copy(&mut client, "copy-late", "late.example", 3, 5, 60).await;
    let second = list(
        &mut client,
        ListDuplicatesRequest { page_size: 2, page_token: first.next_page_token, ..Default::default() },
    )
    .await;
    assert_eq!(ids(&second.duplicates), ["copy-2", "copy-1"], "the new copy does not shift the pages");
    let third = list(
        &mut client,
        ListDuplicatesRequest { page_size: 2, page_token: second.next_page_token, ..Default::default() },
    )
    .await;
    assert_eq!(ids(&third.duplicates), ["copy-0"]);
    assert!(third.next_page_token.is_empty(), "the end of the log");

    let everything = list_all(&mut client, ListDuplicatesRequest { page_size: 3, ..Default::default() }).await;
    assert_eq!(ids(&everything), ["copy-late", "copy-4", "copy-3", "copy-2", "copy-1", "copy-0"]);
    server.shutdown().await.expect("clean shutdown");
}

/// `source` keeps the copies of one source (case ignored), `min_similarity` those at least that
/// similar, and `since`/`until` those found in that time.
async fn list_filters_by_source_similarity_and_time(store: TestStore) {
    let (server, mut client) = store.serve().await;
    original(&mut client, "wire-1", 5).await;
    copy(&mut client, "verbatim", "mirror.example", 5, 0, 10).await;
    copy(&mut client, "spun-a", "roundup.example", 5, 30, 20).await;
    copy(&mut client, "spun-b", "roundup.example", 5, 40, 30).await;

    let by_source = ListDuplicatesRequest { source: "ROUNDUP.example".into(), ..Default::default() };
    assert_eq!(ids(&list_all(&mut client, by_source).await), ["spun-b", "spun-a"]);

    let all = list_all(&mut client, ListDuplicatesRequest::default()).await;
    let mut similarities: Vec<f64> = all.iter().map(|e| e.similarity).collect();
    similarities.sort_by(f64::total_cmp);
    similarities.dedup();
    assert!(similarities.len() >= 2, "the copies differ in similarity: {similarities:?}");
    let threshold = similarities[similarities.len() - 1];
    let similar =
        list_all(&mut client, ListDuplicatesRequest { min_similarity: threshold, ..Default::default() }).await;
    let expected: Vec<String> = ids(&all.iter().filter(|e| e.similarity >= threshold).cloned().collect::<Vec<_>>());
    assert_eq!(ids(&similar), expected);
    assert!(!similar.is_empty() && similar.len() < all.len());

    // found at: the second copy's time splits the log
    let split = all[1].found_at.expect("found_at");
    let since = list_all(&mut client, ListDuplicatesRequest { since: Some(split), ..Default::default() }).await;
    let until = list_all(&mut client, ListDuplicatesRequest { until: Some(split), ..Default::default() }).await;
    assert!(ids(&since).contains(&ids(&all)[1]));
    assert!(!ids(&until).contains(&ids(&all)[1]));
    let mut together = ids(&since);
    together.extend(ids(&until));
    assert_eq!(together, ids(&all), "since and until split the log without overlap");
    server.shutdown().await.expect("clean shutdown");
}

/// A watch with no cursor gets the copies found after it connected, and only those.
async fn a_watch_receives_copies_found_after_it_connected(store: TestStore) {
    let (server, mut client) = store.serve().await;
    original(&mut client, "wire-1", 7).await;
    copy(&mut client, "before", "roundup.example", 7, 10, 10).await;
    let mut stream = watch(&mut client, "").await;
    copy(&mut client, "after", "digest.example", 7, 20, 20).await;
    let event = next(&mut stream).await;
    assert_eq!(id(&event), "after");
    assert_eq!(event.canonical_id, "wire-1");
    assert_eq!(event.cursor, list(&mut client, ListDuplicatesRequest::default()).await.duplicates[0].cursor);

    // a filtered watch skips what it does not want
    let request = WatchDuplicatesRequest { source: "mirror.example".into(), ..Default::default() };
    let mut mirrors = client.watch_duplicates(request).await.expect("watch").into_inner();
    copy(&mut client, "not-a-mirror", "roundup.example", 7, 30, 30).await;
    copy(&mut client, "mirror", "mirror.example", 7, 0, 40).await;
    assert_eq!(id(&next(&mut mirrors).await), "mirror");
    assert_eq!(id(&next(&mut stream).await), "not-a-mirror");
    assert_eq!(id(&next(&mut stream).await), "mirror");
    server.shutdown().await.expect("clean shutdown");
}

/// A dashboard that reconnects with the last cursor it saw gets exactly what it missed, then what
/// comes next; nothing twice.
async fn a_watch_resumes_after_a_reconnect_missing_nothing_and_repeating_nothing(store: TestStore) {
    let (server, mut client) = store.serve().await;
    original(&mut client, "wire-1", 9).await;
    let mut stream = watch(&mut client, "").await;
    copy(&mut client, "seen-0", "seen-0.example", 9, 10, 10).await;
    copy(&mut client, "seen-1", "seen-1.example", 9, 12, 11).await;
    assert_eq!(id(&next(&mut stream).await), "seen-0");
    let last_seen = next(&mut stream).await;
    assert_eq!(id(&last_seen), "seen-1");
    drop(stream);

    copy(&mut client, "missed-0", "missed-0.example", 9, 14, 12).await;
    copy(&mut client, "missed-1", "missed-1.example", 9, 16, 13).await;
    let mut resumed = watch(&mut client, &last_seen.cursor).await;
    assert_eq!(id(&next(&mut resumed).await), "missed-0");
    assert_eq!(id(&next(&mut resumed).await), "missed-1");
    copy(&mut client, "live", "live.example", 9, 18, 14).await;
    assert_eq!(id(&next(&mut resumed).await), "live", "nothing repeated before the new copy");
    server.shutdown().await.expect("clean shutdown");
}

/// A cursor whose successors were trimmed gets `OUT_OF_RANGE` naming the oldest cursor available; that
/// cursor itself works.
async fn a_trimmed_cursor_is_out_of_range_naming_the_oldest(store: TestStore) {
    let (server, mut client) = store.serve_with(|config| ServeConfig { events_max_len: 2, ..config }).await;
    original(&mut client, "wire-1", 11).await;
    let mut stream = watch(&mut client, "").await;
    copy(&mut client, "copy-0", "first.example", 11, 10, 10).await;
    let first = next(&mut stream).await;
    drop(stream);
    for i in 1..4 {
        copy(&mut client, &format!("copy-{i}"), &format!("site-{i}.example"), 11, 10 + i, 10 + i as i64).await;
    }
    let kept = list_all(&mut client, ListDuplicatesRequest::default()).await;
    assert_eq!(ids(&kept), ["copy-3", "copy-2"]);
    let oldest = kept[1].cursor.clone();

    let request = WatchDuplicatesRequest { after_cursor: first.cursor.clone(), ..Default::default() };
    let status = client.watch_duplicates(request).await.expect_err("copy-1 was trimmed");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains(&oldest), "names the oldest cursor {oldest}: {}", status.message());

    // the last trimmed event's cursor missed nothing after it
    let mut stream = watch(&mut client, &kept[1].cursor).await;
    assert_eq!(id(&next(&mut stream).await), "copy-3");
    server.shutdown().await.expect("clean shutdown");
}

/// Cursors, tokens and filters that make no sense are refused, naming the field.
async fn bad_feed_requests_are_invalid_arguments(store: TestStore) {
    let (server, mut client) = store.serve().await;
    let watches = [
        WatchDuplicatesRequest { after_cursor: "yesterday".into(), ..Default::default() },
        WatchDuplicatesRequest { min_similarity: 1.5, ..Default::default() },
        WatchDuplicatesRequest { min_similarity: f64::NAN, ..Default::default() },
    ];
    for request in watches {
        let status = client.watch_duplicates(request.clone()).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}: {status:?}");
    }
    let later = Timestamp { seconds: BASE_SECONDS, nanos: 0 };
    let earlier = Timestamp { seconds: BASE_SECONDS - 60, nanos: 0 };
    let lists = [
        (ListDuplicatesRequest { page_token: "12-x".into(), ..Default::default() }, "page_token"),
        (ListDuplicatesRequest { min_similarity: -0.1, ..Default::default() }, "min_similarity"),
        (ListDuplicatesRequest { since: Some(later), until: Some(earlier), ..Default::default() }, "since"),
        (ListDuplicatesRequest { until: Some(Timestamp { seconds: 1, nanos: -1 }), ..Default::default() }, "until"),
    ];
    for (request, field) in lists {
        let status = client.list_duplicates(request.clone()).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}: {status:?}");
        assert!(status.message().contains(field), "{field}: {}", status.message());
    }
    server.shutdown().await.expect("clean shutdown");
}

/// Shutdown ends an open watch with `OK` (the stream simply ends) and does not wait for it.
async fn a_watch_ends_cleanly_at_shutdown(store: TestStore) {
    let (server, mut client) =
        store.serve_with(|config| ServeConfig { shutdown_grace: Duration::from_secs(60), ..config }).await;
    let mut stream = watch(&mut client, "").await;
    let stopping = tokio::spawn(server.shutdown());
    let end = tokio::time::timeout(NEXT, stream.message()).await.expect("the watch ends");
    assert!(matches!(end, Ok(None)), "ended with OK: {end:?}");
    tokio::time::timeout(NEXT, stopping).await.expect("shutdown finishes").expect("joins").expect("clean shutdown");
}

/// Two replicas on one store: a watch on one gets the copy the other found.
async fn a_watch_sees_copies_found_by_another_replica(store: TestStore) {
    let (watched, mut watcher) = store.serve().await;
    let (other, mut ingester) = store.serve().await;
    original(&mut ingester, "wire-1", 13).await;
    let mut stream = watch(&mut watcher, "").await;
    copy(&mut ingester, "elsewhere", "roundup.example", 13, 10, 10).await;
    let event = next(&mut stream).await;
    assert_eq!(id(&event), "elsewhere");
    copy(&mut watcher, "here", "digest.example", 13, 20, 20).await;
    assert_eq!(id(&next(&mut stream).await), "here");
    other.shutdown().await.expect("clean shutdown");
    watched.shutdown().await.expect("clean shutdown");
}

// ---------------------------------------------------------------------------------------------------
// embedded only

/// The embedded store's feed survives a restart: the list is the same, and a watch resumes from a
/// cursor seen before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_feed_survives_a_restart() {
    let store = new_store("embedded").await;
    let (server, mut client) = store.serve().await;
    original(&mut client, "wire-1", 15).await;
    copy(&mut client, "copy-0", "first.example", 15, 10, 10).await;
    copy(&mut client, "copy-1", "roundup.example", 15, 20, 20).await;
    let before = list_all(&mut client, ListDuplicatesRequest::default()).await;
    server.shutdown().await.expect("clean shutdown");

    let (server, mut client) = store.serve().await;
    assert_eq!(list_all(&mut client, ListDuplicatesRequest::default()).await, before);
    let mut stream = watch(&mut client, &before[1].cursor).await;
    assert_eq!(id(&next(&mut stream).await), "copy-1");
    copy(&mut client, "copy-2", "third.example", 15, 30, 30).await;
    assert_eq!(id(&next(&mut stream).await), "copy-2");
    server.shutdown().await.expect("clean shutdown");
}

// ---------------------------------------------------------------------------------------------------
// a failed append

/// Fails the first append to the feed, as a store outage would.
#[derive(Default)]
struct FailFirstAppend {
    failed: AtomicUsize,
}

#[async_trait]
impl Hook for FailFirstAppend {
    async fn before(&self, call: Call<'_>, _inner: &dyn Store) -> Result<()> {
        if matches!(call, Call::AppendDuplicate(_)) && self.failed.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(Error::Unavailable("injected outage".into()));
        }
        Ok(())
    }
}

/// A failed append fails the ingest with `UNAVAILABLE` (the article is stored); the client's retry is
/// answered as usual and records the duplicate, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_append_fails_the_ingest_and_the_retry_records_it_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let inner: Arc<dyn Store> = Arc::new(dedupd::store::embedded::EmbeddedStore::open(dir.path()).expect("open"));
    let store = Arc::new(Hooked::new(inner, FailFirstAppend::default()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let config = ServeConfig { store: "unused://".into(), ..ServeConfig::default() };
    let server = Server::start_with_store(config, listener, store).await.expect("server starts");
    let mut client = DeduplicatorClient::connect(server.url()).await.expect("client connects");

    original(&mut client, "wire-1", 17).await;
    let body = spun(&text(17, 400), 10, 18);
    let request = IngestRequest { article: Some(article("copy", "roundup.example", &body, 10)) };
    let status = client.ingest(request.clone()).await.expect_err("the append failed");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("duplicate feed: injected outage"), "{}", status.message());
    assert!(list_all(&mut client, ListDuplicatesRequest::default()).await.is_empty());

    let retried = client.ingest(request.clone()).await.expect("the retry succeeds").into_inner();
    assert!(retried.duplicate && retried.canonical_id == "wire-1");
    client.ingest(request).await.expect("sent once more");
    assert_eq!(ids(&list_all(&mut client, ListDuplicatesRequest::default()).await), ["copy"]);
    server.shutdown().await.expect("clean shutdown");
}
