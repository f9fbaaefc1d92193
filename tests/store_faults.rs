//! The server and the engine when the store misbehaves, through the kit's fault-injecting wrapper
//! ([`common::Hooked`]).
//!
//! `IngestStream` under overload: when the server-wide concurrency limit is full, every stream stops
//! reading its input, so what the server holds in memory is bounded by the limit (plus one article per
//! stream), not by the stream window (32 articles) times the number of streams. The clients feel it as
//! HTTP/2 flow control: their request streams stop being pulled. The store is gated: its first write
//! blocks until the test opens the gate, so with `--concurrency-limit 1` every other article waits
//! for a slot.
//!
//! Retention when an article leaves the window during its own ingest: the store deletes it between
//! the two steps of the ingest, as a sweep would.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dedupd::config::ServeConfig;
use dedupd::domain::now_micros;
use dedupd::engine::{Engine, EngineConfig};
use dedupd::error::{Error, Result};
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{Article, IngestRequest};
use dedupd::server::Server;
use dedupd::store::Store;
use dedupd::store::memory::MemoryStore;
use dedupd::synthetic::{self, Synthetic};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use common::{Call, Hook, Hooked};

/// Holds every insert until the test adds a permit.
struct Gate(Semaphore);

#[async_trait]
impl Hook for Gate {
    async fn before(&self, call: Call<'_>, _inner: &dyn Store) -> Result<()> {
        if let Call::InsertAndLookup(_) = call {
            // the permit goes back when dropped: once opened, the gate lets every call through
            let _open = self.0.acquire().await.expect("the gate is never closed");
        }
        Ok(())
    }
}

/// Streams opened at once, articles each, and the size of an article's body.
const STREAMS: usize = 3;
const ARTICLES: usize = 48;
const BODY_BYTES: usize = 256 * 1024;

/// Waits until `pulled` has not moved for half a second (the clients have sent all they can).
async fn settle(pulled: &[Arc<AtomicUsize>]) -> Vec<usize> {
    let read = || pulled.iter().map(|count| count.load(Ordering::SeqCst)).collect::<Vec<_>>();
    let mut last = read();
    let mut unchanged = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = read();
        unchanged = if now == last { unchanged + 1 } else { 0 };
        last = now;
        if unchanged >= 10 {
            break;
        }
    }
    last
}

/// With the limit full, each stream's client gets to send only what the server read (the article
/// being served and one waiting for a slot) plus what HTTP/2 windows and buffers hold (1 MiB window,
/// about as much in the client's send buffer: ~8 articles of 256 KiB) — far fewer than the 32
/// articles a stream window would read. Once the store answers, every article is answered, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_stops_reading_streams() {
    let store = Arc::new(Hooked::new(Arc::new(MemoryStore::new()), Gate(Semaphore::new(0))));
    let config = ServeConfig { concurrency_limit: 1, ..ServeConfig::default() };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let server = Server::start_with_store(config, listener, store.clone()).await.expect("server starts");

    // more words than fit, cut to the size (the text is ASCII)
    let mut body = synthetic::text(5, BODY_BYTES / 4);
    body.truncate(BODY_BYTES);
    let mut pulled = Vec::new();
    let mut streams = tokio::task::JoinSet::new();
    for stream in 0..STREAMS {
        let mut client = DeduplicatorClient::connect(server.url()).await.expect("client connects");
        let count = Arc::new(AtomicUsize::new(0));
        pulled.push(count.clone());
        let body = body.clone();
        let requests = futures::stream::iter(0..ARTICLES).map(move |n| {
            count.fetch_add(1, Ordering::SeqCst);
            let id = format!("s{stream}-{n}");
            IngestRequest {
                article: Some(Article {
                    body: format!("{id} {body}"),
                    id,
                    source: "a.example".into(),
                    ..Default::default()
                }),
            }
        });
        streams.spawn(async move {
            let mut responses = client.ingest_stream(requests).await.expect("stream opens").into_inner();
            let mut ids = Vec::new();
            while let Some(response) = responses.message().await.expect("stream goes on") {
                assert!(response.error.is_empty(), "{}", response.error);
                ids.push(response.id);
            }
            (stream, ids)
        });
    }

    let sent = settle(&pulled).await;
    for (stream, &count) in sent.iter().enumerate() {
        assert!(count <= 16, "stream {stream}: the server read ahead {count} articles with its limit full");
    }

    store.hook().0.add_permits(1);
    while let Some(joined) = streams.join_next().await {
        let (stream, ids) = joined.expect("stream task");
        let expected: Vec<String> = (0..ARTICLES).map(|n| format!("s{stream}-{n}")).collect();
        assert_eq!(ids, expected, "stream {stream}: one response per article, in order");
    }
    server.shutdown().await.expect("clean shutdown");
}

/// Deletes the article between the two steps of its ingest (as a sweep would expire it), after a
/// pause.
struct SweptMidIngest {
    pause: Duration,
}

#[async_trait]
impl Hook for SweptMidIngest {
    async fn before(&self, call: Call<'_>, inner: &dyn Store) -> Result<()> {
        if let Call::Assign(article) = call {
            tokio::time::sleep(self.pause).await;
            inner.delete(&article.meta.id).await?;
        }
        Ok(())
    }
}

/// A synthetic story's text, one per `story`.
fn text(story: u64) -> String {
    Synthetic::new(1).story_text(story)
}

fn article(id: &str, body: String, published: i64) -> dedupd::domain::Article {
    dedupd::domain::Article {
        id: id.into(),
        url: String::new(),
        source: format!("{id}.example"),
        title: String::new(),
        body,
        published_at: Some(published),
    }
}

/// An article refused for its age says so (`OUT_OF_RANGE`), also when it reached the window's edge
/// during its own ingest and was swept between the two steps; an article removed mid-ingest while
/// well inside the window is still `NOT_FOUND`.
#[tokio::test]
async fn retention_refuses_old_articles_with_out_of_range() {
    let retention = Duration::from_secs(3600);
    let config = EngineConfig { retention: Some(retention), ..EngineConfig::default() };

    let swept = SweptMidIngest { pause: Duration::from_millis(600) };
    let engine = Engine::new(Arc::new(Hooked::new(Arc::new(MemoryStore::new()), swept)), config.clone());
    let window = retention.as_micros() as i64;

    let outcome = engine.ingest(article("old", text(1), now_micros() - window - 1_000_000)).await;
    assert!(matches!(outcome, Err(Error::OutOfRange { field: "article.published_at", .. })), "{outcome:?}");
    let outcome = engine.check(article("old", text(1), now_micros() - window - 1_000_000)).await;
    assert!(matches!(outcome, Err(Error::OutOfRange { .. })), "{outcome:?}");

    // 300 ms inside the window when it is checked, outside it when its assign finds it gone
    let outcome = engine.ingest(article("edge", text(1), now_micros() - window + 300_000)).await;
    assert!(matches!(outcome, Err(Error::OutOfRange { .. })), "{outcome:?}");
    let outcome = engine.ingest(article("recent", text(1), now_micros() - 1_000_000)).await;
    assert!(matches!(outcome, Err(Error::NotFound { .. })), "{outcome:?}");

    // without retention nothing is too old
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    assert!(engine.ingest(article("old", text(1), 0)).await.is_ok());
}
