//! `IngestStream` under overload: when the server-wide concurrency limit is full, every stream stops
//! reading its input, so what the server holds in memory is bounded by the limit (plus one article per
//! stream), not by the stream window (32 articles) times the number of streams. The clients feel it as
//! HTTP/2 flow control: their request streams stop being pulled.
//!
//! The store is gated: its first write blocks until the test opens the gate, so with
//! `--concurrency-limit 1` every other article waits for a slot.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dedupd::config::ServeConfig;
use dedupd::domain::{ClusterId, ClusterView, Deleted, Micros, StoredArticle};
use dedupd::error::Result;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{Article, IngestRequest};
use dedupd::server::Server;
use dedupd::store::memory::MemoryStore;
use dedupd::store::{Assigned, Expired, Inserted, Lookup, Store};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// A memory store whose inserts wait for the gate to open.
struct GatedStore {
    inner: MemoryStore,
    gate: Semaphore,
}

#[async_trait]
impl Store for GatedStore {
    fn kind(&self) -> &'static str {
        "gated"
    }

    async fn get(&self, id: &str) -> Result<Option<StoredArticle>> {
        self.inner.get(id).await
    }

    async fn insert_and_lookup(&self, article: StoredArticle, limit: usize) -> Result<Inserted> {
        // the permit goes back when dropped: once opened, the gate lets every call through
        let _open = self.gate.acquire().await.expect("the gate is never closed");
        self.inner.insert_and_lookup(article, limit).await
    }

    async fn lookup(&self, keys: &[u64], limit: usize) -> Result<Lookup> {
        self.inner.lookup(keys, limit).await
    }

    async fn assign(&self, article: &StoredArticle, links: &[&StoredArticle]) -> Result<Assigned> {
        self.inner.assign(article, links).await
    }

    async fn cluster(&self, cluster_id: &ClusterId) -> Result<Option<ClusterView>> {
        self.inner.cluster(cluster_id).await
    }

    async fn delete(&self, id: &str) -> Result<Deleted> {
        self.inner.delete(id).await
    }

    async fn expire(&self, cutoff: Micros, limit: usize) -> Result<Expired> {
        self.inner.expire(cutoff, limit).await
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
    let store = Arc::new(GatedStore { inner: MemoryStore::new(), gate: Semaphore::new(0) });
    let config = ServeConfig { concurrency_limit: 1, ..ServeConfig::default() };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let server = Server::start_with_store(config, listener, store.clone()).await.expect("server starts");

    let body = common::article_text(5, BODY_BYTES / 6);
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

    store.gate.add_permits(1);
    while let Some(joined) = streams.join_next().await {
        let (stream, ids) = joined.expect("stream task");
        let expected: Vec<String> = (0..ARTICLES).map(|n| format!("s{stream}-{n}")).collect();
        assert_eq!(ids, expected, "stream {stream}: one response per article, in order");
    }
    server.shutdown().await.expect("clean shutdown");
}
