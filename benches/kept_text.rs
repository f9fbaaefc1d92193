//! The cost of kept text (`--keep-text`) per article, on a corpus of real articles.
//!
//! Ingests every article of a JSONL file (the `dedupd ingest` format) through the engine:
//!
//! - into two embedded stores, one keeping text and one not: the pages of the `texts` table (redb's
//!   table stats: stored, metadata and fragmented bytes) per article, and the two files' sizes once
//!   closed (redb grows its file in regions, so the difference is coarse);
//! - into a Redis of its own (a `redis-server` on a free port) keeping text, and sums `MEMORY USAGE`
//!   of every article's text key (`ns:x:ID`): bytes of Redis memory per article (a cluster's text
//!   key differs only by its hash tag);
//!
//! and prints the bodies' size and their zstd-compressed size beside them.
//!
//! ```sh
//! cargo bench --bench kept_text -- path/to/articles.jsonl
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dedupd::domain::Article;
use dedupd::engine::{Engine, EngineConfig, explain};
use dedupd::jsonl::{self, ArticleLine};
use dedupd::store::Store;
use dedupd::store::embedded::{DATA_FILE, EmbeddedStore};
use dedupd::store::redis::RedisStore;
use futures::StreamExt;
use redb::{ReadableDatabase, ReadableTableMetadata};

use common::RedisServer;

/// Ingests in flight at once.
const CONCURRENCY: usize = 32;

async fn ingest_all(store: Arc<dyn Store>, keep_text: bool, articles: &[Article]) {
    let engine = Engine::new(store, EngineConfig { keep_text, ..EngineConfig::default() });
    futures::stream::iter(articles.iter().cloned())
        .map(|article| {
            let engine = engine.clone();
            async move { engine.ingest(article).await.expect("ingest") }
        })
        .buffer_unordered(CONCURRENCY)
        .for_each(|_| async {})
        .await;
}

/// The size of an embedded store's file after ingesting `articles` into a new one and closing it.
async fn embedded_bytes(dir: &Path, keep_text: bool, articles: &[Article]) -> u64 {
    {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir).expect("open embedded store"));
        ingest_all(store, keep_text, articles).await;
    }
    std::fs::metadata(dir.join(DATA_FILE)).expect("the store's file").len()
}

fn main() {
    let Some(path) = std::env::args().skip(1).find(|arg| !arg.starts_with("--")).map(PathBuf::from) else {
        eprintln!("usage: cargo bench --bench kept_text -- ARTICLES.jsonl");
        std::process::exit(2);
    };
    let lines: Vec<ArticleLine> = jsonl::read(&path).expect("read the articles");
    let articles: Vec<Article> = lines.into_iter().map(|line| line.into_article().expect("a valid article")).collect();
    let n = articles.len() as f64;
    let body_bytes: usize = articles.iter().map(|a| a.body.len()).sum();
    let compressed_bytes: usize = articles.iter().map(|a| explain::compress(&a.body).len()).sum();
    println!("{} articles from {}", articles.len(), path.display());
    println!("body              {:>8.0} bytes/article", body_bytes as f64 / n);
    println!("zstd-compressed   {:>8.0} bytes/article", compressed_bytes as f64 / n);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (without, with) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let without = embedded_bytes(without.path(), false, &articles).await;
        let with_dir = with;
        let with = embedded_bytes(with_dir.path(), true, &articles).await;
        println!(
            "embedded file     {without} bytes without kept text, {with} with: {:.0} bytes/article",
            (with as f64 - without as f64) / n
        );
        let db = redb::Database::open(with_dir.path().join(DATA_FILE)).expect("open the file");
        let read = db.begin_read().expect("read");
        let texts: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("texts");
        let stats = read.open_table(texts).expect("the texts table").stats().expect("stats");
        let table = stats.stored_bytes() + stats.metadata_bytes() + stats.fragmented_bytes();
        println!(
            "embedded texts    {table} bytes ({} stored, {} metadata, {} fragmented): {:.0} bytes/article",
            stats.stored_bytes(),
            stats.metadata_bytes(),
            stats.fragmented_bytes(),
            table as f64 / n
        );

        let server = RedisServer::start();
        let store = RedisStore::connect_with_namespace(&server.url(), "kept").await.expect("connect");
        ingest_all(Arc::new(store), true, &articles).await;
        let client = redis::Client::open(server.url()).expect("redis url");
        let mut connection = client.get_multiplexed_async_connection().await.expect("connect");
        let mut total: u64 = 0;
        for batch in articles.chunks(1000) {
            let mut pipe = redis::pipe();
            for article in batch {
                pipe.cmd("MEMORY").arg("USAGE").arg(format!("kept:x:{}", article.id)).arg("SAMPLES").arg(0);
            }
            let usages: Vec<Option<u64>> = pipe.query_async(&mut connection).await.expect("MEMORY USAGE");
            assert!(usages.iter().all(Option::is_some), "every article has its text key");
            total += usages.into_iter().flatten().sum::<u64>();
        }
        println!("redis text keys   {total} bytes (MEMORY USAGE): {:.0} bytes/article", total as f64 / n);
    });
}
