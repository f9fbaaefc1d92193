//! Redis memory and CPU per indexed article, for the memory budget.
//!
//! Starts its own `redis-server` on a free port (or, with `cluster`, a three-master Redis Cluster),
//! ingests N synthetic articles through the engine and the Redis store (80% originals of 150–400 words,
//! 20% spun copies of an earlier one; short ids, urls, sources and titles), and prints:
//!
//! - `used_memory` after minus before (`INFO memory`, summed over the nodes), divided by N, with and
//!   without one copy of each article's id/url/source/title strings;
//! - Redis CPU per article from `INFO commandstats` (usec spent in each command, and per call);
//! - where the bytes go: `MEMORY USAGE` of every key, summed by kind (`ns:a` records, `ns:p` posting
//!   buckets, …, the key layouts in `src/store/redis/`), per article. `MEMORY USAGE` counts a key's
//!   own allocations, not its entry in Redis's main hash table.
//!
//! ```sh
//! cargo bench --bench redis_memory                                   # 100,000 articles, redis://
//! DEDUPD_MEMORY_ARTICLES=1000000 cargo bench --bench redis_memory    # 1M
//! cargo bench --bench redis_memory -- cluster                        # redis+cluster://
//! DEDUPD_MEMORY_REDIS_ARGS="--hash-max-listpack-entries 512" cargo bench --bench redis_memory
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use dedupd::domain::Article;
use dedupd::engine::{Engine, EngineConfig};
use dedupd::store::Store;
use dedupd::store::redis::{RedisClusterStore, RedisStore};
use futures::StreamExt;

use dedupd::synthetic::{SplitMix, spun, text};

use common::{RedisCluster, RedisServer};

/// Ingests in flight at once.
const CONCURRENCY: usize = 32;

fn info(port: u16, section: &str) -> String {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("redis url");
    let mut connection = client.get_connection().expect("connect for INFO");
    redis::cmd("INFO").arg(section).query(&mut connection).expect("INFO")
}

fn reset_stats(port: u16) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("redis url");
    let mut connection = client.get_connection().expect("connect for CONFIG RESETSTAT");
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut connection).expect("CONFIG RESETSTAT");
}

fn field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO has no {name}"))
}

/// The i-th article: an original, or a spun copy of an earlier original.
fn article(i: u64) -> Article {
    let mut rng = SplitMix(i ^ 0xA11CE);
    let copy_of = (i > 10 && rng.below(5) == 0).then(|| rng.below(i));
    let words = 150 + rng.below(250) as usize;
    let body = match copy_of {
        Some(original) => spun(&text(original, 150 + SplitMix(original ^ 0xA11CE).below(250) as usize), 20, i),
        None => text(i, words),
    };
    let source = format!("s{}.example", rng.below(200));
    Article {
        id: format!("a{i}"),
        url: format!("https://{source}/a{i}"),
        title: format!("title {i}"),
        source,
        body,
        published_at: Some(1_700_000_000_000_000 + i as i64 * 1_000_000),
    }
}

fn main() {
    let articles: u64 = std::env::var("DEDUPD_MEMORY_ARTICLES").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let cluster = std::env::args().any(|arg| arg == "cluster");
    // `cargo bench` passes --bench; nothing else to parse
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    let (ports, store, _guard): (Vec<u16>, Arc<dyn Store>, Box<dyn std::any::Any>) = runtime.block_on(async {
        if cluster {
            let nodes = RedisCluster::start();
            let store = RedisClusterStore::connect_with_namespace(&nodes.url(), "mem").await.expect("connect");
            (nodes.ports(), Arc::new(store) as Arc<dyn Store>, Box::new(nodes) as Box<dyn std::any::Any>)
        } else {
            let extra = std::env::var("DEDUPD_MEMORY_REDIS_ARGS").unwrap_or_default();
            let extra: Vec<&str> = extra.split_whitespace().collect();
            let server = RedisServer::start_with(&extra);
            let store = RedisStore::connect_with_namespace(&server.url(), "mem").await.expect("connect");
            (vec![server.port()], Arc::new(store) as Arc<dyn Store>, Box::new(server) as Box<dyn std::any::Any>)
        }
    });
    let used = |ports: &[u16]| -> u64 { ports.iter().map(|&p| field(&info(p, "memory"), "used_memory")).sum() };
    let before = used(&ports);
    for &port in &ports {
        reset_stats(port);
    }
    let cpu = |ports: &[u16]| -> f64 {
        ports
            .iter()
            .map(|&p| {
                let info = info(p, "cpu");
                let seconds = |name: &str| -> f64 {
                    info.lines()
                        .find_map(|line| line.strip_prefix(&format!("{name}:")))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0.0)
                };
                seconds("used_cpu_sys") + seconds("used_cpu_user")
            })
            .sum()
    };
    let cpu_before = cpu(&ports);

    let engine = Engine::new(store, EngineConfig::default());
    let started = Instant::now();
    let meta_bytes: u64 = runtime.block_on(async {
        futures::stream::iter(0..articles)
            .map(|i| {
                let engine = engine.clone();
                async move {
                    let article = article(i);
                    let meta =
                        (article.id.len() + article.url.len() + article.source.len() + article.title.len()) as u64;
                    engine.ingest(article).await.expect("ingest");
                    meta
                }
            })
            .buffer_unordered(CONCURRENCY)
            .fold(0u64, |sum, meta| async move { sum + meta })
            .await
    });
    let elapsed = started.elapsed();
    let after = used(&ports);
    let cpu_after = cpu(&ports);

    let delta = after.saturating_sub(before);
    println!(
        "{} store, {articles} articles in {elapsed:.1?} ({:.0}/s)",
        if cluster { "redis+cluster" } else { "redis" },
        articles as f64 / elapsed.as_secs_f64()
    );
    println!(
        "used_memory +{delta} bytes: {:.0} bytes/article, {:.0} without id/url/source/title ({:.0} bytes/article of those)",
        delta as f64 / articles as f64,
        delta.saturating_sub(meta_bytes) as f64 / articles as f64,
        meta_bytes as f64 / articles as f64
    );
    println!("redis cpu (sys+user): {:.1} µs/article", (cpu_after - cpu_before) * 1e6 / articles as f64);
    let mut total_usec = 0u64;
    for &port in &ports {
        for line in info(port, "commandstats").lines().filter(|l| l.starts_with("cmdstat_")) {
            let Some((name, stats)) = line.split_once(':') else { continue };
            let get = |key: &str| -> f64 {
                stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0)
            };
            total_usec += get("usec") as u64;
            println!(
                "  port {port} {}: {} calls, {:.1} usec/call, {:.1} usec/article",
                name.trim_start_matches("cmdstat_"),
                get("calls"),
                get("usec_per_call"),
                get("usec") / articles as f64
            );
        }
    }
    println!("commandstats total: {:.1} usec/article", total_usec as f64 / articles as f64);
    breakdown(&ports, articles);
}

/// `MEMORY USAGE` of every key of the namespace, summed by the key's kind: the letter after `mem:`.
fn breakdown(ports: &[u16], articles: u64) {
    let mut kinds: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
    // entries of the standalone singleton index (`mem:s:BUCKET` hashes), for its bytes per entry
    let mut singletons = 0u64;
    for &port in ports {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("redis url");
        let mut connection = client.get_connection().expect("connect for MEMORY USAGE");
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("mem:*")
                .arg("COUNT")
                .arg(1000)
                .query(&mut connection)
                .expect("SCAN");
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0);
            }
            let sizes: Vec<Option<u64>> = pipe.query(&mut connection).expect("MEMORY USAGE");
            let buckets: Vec<&Vec<u8>> = keys.iter().filter(|key| key.starts_with(b"mem:s:")).collect();
            if !buckets.is_empty() {
                let mut pipe = redis::pipe();
                for key in &buckets {
                    pipe.cmd("HLEN").arg(*key);
                }
                let lengths: Vec<u64> = pipe.query(&mut connection).expect("HLEN");
                singletons += lengths.iter().sum::<u64>();
            }
            for (key, size) in keys.iter().zip(sizes) {
                let kind = key[4..].iter().take_while(|&&b| b != b':').map(|&b| b as char).collect::<String>();
                let entry = kinds.entry(kind).or_default();
                entry.0 += 1;
                entry.1 += size.unwrap_or(0);
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    println!("MEMORY USAGE by key kind (keys, bytes/article):");
    for (kind, (keys, bytes)) in &kinds {
        println!("  mem:{kind:<8} {keys:>9} keys {:>8.1} bytes/article", *bytes as f64 / articles as f64);
    }
    if let Some((_, bytes)) = kinds.get("s") {
        println!(
            "  singleton index: {singletons} entries, {:.1} bytes per entry",
            *bytes as f64 / singletons.max(1) as f64
        );
    }
}
