//! Many writers on one Redis: two server replicas × eight concurrent gRPC clients ingest the same
//! generated corpus as a single process ingesting it sequentially (memory store), and must end with
//! the same clusters and canonicals, pair by pair.
//!
//! The corpus is built so that order matters as much as it can while the answer stays defined:
//!
//! - **families** of an original and three copies (a spun copy with an aggregator footer, a 60%
//!   excerpt with a header, a verbatim copy with a byline), every member with its own publication time
//!   (the original first), so the canonical never depends on a tie;
//! - the excerpt and the spun copy do not verify against each other: when both arrive before the
//!   original they found two clusters, which the original must merge;
//! - a seeded shuffle sends most copies before their original, and a third of the families are
//!   dispatched as a block; clients send in waves (one article each, then wait for the others), so a
//!   block's members are in flight on different clients (and replicas) at once;
//! - singletons (texts of their own) that must stay alone.
//!
//! What may legitimately differ (`docs/redis.md`, *Many writers*): each replica learns its own per-source
//! boilerplate model from the articles it sees, so a comparison near a threshold can go either way;
//! hence agreement is asserted at ≥ 99.9% rather than exactly, while a family split apart (a lost merge)
//! or a cluster with two canonicals fails outright.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use dedupd::config::ServeConfig;
use dedupd::engine::Engine;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, IngestRequest};
use dedupd::server::Server;
use dedupd::store::memory::MemoryStore;
use prost_types::Timestamp;
use tokio::net::TcpListener;
use tonic::transport::Channel;

use dedupd::synthetic::{SplitMix, spun, text};

use common::{namespace, shared_cluster, shared_redis};

const FAMILIES: usize = 450;
const SINGLETONS: usize = 250;
const REPLICAS: usize = 2;
const CLIENTS: usize = 8;
/// Words of an original: news-sized, small enough for a debug build.
const WORDS: usize = 220;
/// 2025-01-01T00:00:00Z; every article is published after it, none in the future.
const BASE_SECONDS: i64 = 1_735_689_600;

/// One generated article and the family it belongs to (`None` for a singleton).
#[derive(Clone)]
struct Generated {
    id: String,
    source: String,
    body: String,
    published_seconds: i64,
    family: Option<usize>,
}

impl Generated {
    fn proto(&self) -> proto::Article {
        proto::Article {
            id: self.id.clone(),
            url: format!("https://{}/{}", self.source, self.id),
            source: self.source.clone(),
            title: format!("Story {}", self.id),
            body: self.body.clone(),
            published_at: Some(Timestamp { seconds: self.published_seconds, nanos: 0 }),
        }
    }

    fn domain(&self) -> dedupd::domain::Article {
        dedupd::domain::Article {
            id: self.id.clone(),
            url: format!("https://{}/{}", self.source, self.id),
            source: self.source.clone(),
            title: format!("Story {}", self.id),
            body: self.body.clone(),
            published_at: Some(self.published_seconds * 1_000_000),
        }
    }
}

/// The corpus in dispatch order: item `i` goes to client `i % CLIENTS`.
fn corpus(seed: u64) -> Vec<Generated> {
    let mut rng = SplitMix(seed);
    let mut scattered: Vec<Generated> = Vec::new();
    let mut blocks: Vec<Vec<Generated>> = Vec::new();
    for family in 0..FAMILIES {
        let text = text(10_000 + family as u64, WORDS);
        let words: Vec<&str> = text.split(' ').collect();
        let excerpt = words[..words.len() * 6 / 10].join(" ");
        // each family has its own minute; its members are published seconds apart, original first
        let minute = BASE_SECONDS + 60 * family as i64;
        let member = |suffix: &str, source: String, body: String, offset: i64| Generated {
            id: format!("f{family:04}-{suffix}"),
            source,
            body,
            published_seconds: minute + offset,
            family: Some(family),
        };
        let mut members = vec![
            member("orig", format!("wire{}.example", family % 12), text.clone(), 0),
            member("spun", format!("agg{}.example", family % 7), spun(&text, 25, family as u64), 7),
            member("excerpt", format!("digest{}.example", family % 5), format!("In brief: {excerpt}"), 13),
            member("byline", format!("paper{}.example", family % 9), format!("By staff writers. {text}"), 21),
        ];
        rng.shuffle(&mut members);
        if family % 3 == 0 {
            blocks.push(members);
        } else {
            scattered.extend(members);
        }
    }
    for single in 0..SINGLETONS {
        scattered.push(Generated {
            id: format!("single-{single:04}"),
            source: format!("local{}.example", single % 10),
            body: text(900_000 + single as u64, WORDS),
            published_seconds: BASE_SECONDS + 7 + 60 * single as i64,
            family: None,
        });
    }
    rng.shuffle(&mut scattered);
    // blocks go in at random places, in a random order, each kept together
    rng.shuffle(&mut blocks);
    for block in blocks {
        let at = rng.below(scattered.len() as u64 + 1) as usize;
        scattered.splice(at..at, block);
    }
    scattered
}

/// Where each article ended: its cluster and canonical.
type Placements = BTreeMap<String, (String, String)>;

/// The reference: one engine, memory store, every article in dispatch order, one at a time.
async fn sequential(articles: &[Generated]) -> Placements {
    let engine = Engine::new(Arc::new(MemoryStore::new()), ServeConfig::default().engine());
    for article in articles {
        engine.ingest(article.domain()).await.expect("sequential ingest");
    }
    let mut placements = Placements::new();
    for article in articles {
        let view = engine.article(&article.id).await.expect("sequential article");
        let cluster = view.article.cluster_id.expect("assigned").0;
        placements.insert(article.id.clone(), (cluster, view.canonical_id));
    }
    placements
}

/// The run under test: `REPLICAS` servers on `store_url`, `CLIENTS` clients, item `i` by client
/// `i % CLIENTS`, clients spread over the replicas. Returns the placements read back through the API
/// (`GetArticle`) and what `GetCluster` contradicts in them.
async fn concurrent(store_url: &str, namespace: &str, articles: &[Generated]) -> (Placements, Vec<String>) {
    let started = Instant::now();
    let mut servers = Vec::new();
    for _ in 0..REPLICAS {
        let config = ServeConfig {
            store: store_url.to_string(),
            namespace: Some(namespace.to_string()),
            ..ServeConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        servers.push(Server::start(config, listener).await.expect("server starts"));
    }
    let mut clients: Vec<DeduplicatorClient<Channel>> = Vec::new();
    for c in 0..CLIENTS {
        clients.push(DeduplicatorClient::connect(servers[c % REPLICAS].url()).await.expect("client connects"));
    }
    // in waves: articles `w * CLIENTS ..` are sent together, one by each client, and a wave starts
    // when the last one is answered, so neighbours in the dispatch order really are in flight at once
    let waves = articles.len().div_ceil(CLIENTS);
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        let mut client = client.clone();
        let barrier = barrier.clone();
        let mine: Vec<proto::Article> = articles.iter().skip(c).step_by(CLIENTS).map(Generated::proto).collect();
        tasks.push(tokio::spawn(async move {
            let mut mine = mine.into_iter();
            for _ in 0..waves {
                barrier.wait().await;
                let Some(article) = mine.next() else { continue };
                let id = article.id.clone();
                client
                    .ingest(IngestRequest { article: Some(article) })
                    .await
                    .unwrap_or_else(|status| panic!("ingest {id}: {status}"));
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    eprintln!(
        "{} articles ingested by {CLIENTS} clients on {REPLICAS} replicas in {:?}",
        articles.len(),
        started.elapsed()
    );

    // every article through the API, read back by all clients at once
    let mut readers = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        let mut client = client.clone();
        let mine: Vec<String> = articles.iter().skip(c).step_by(CLIENTS).map(|a| a.id.clone()).collect();
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for id in mine {
                let record = client
                    .get_article(proto::GetArticleRequest { id: id.clone() })
                    .await
                    .unwrap_or_else(|status| panic!("get {id}: {status}"))
                    .into_inner();
                seen.push((id, (record.cluster_id, record.canonical_id)));
            }
            seen
        }));
    }
    let mut placements = Placements::new();
    for reader in readers {
        placements.extend(reader.await.expect("reader task"));
    }

    // one canonical per cluster: every member the cluster lists reports that cluster and its canonical,
    // which is the cluster's first member and the earliest published; and the cluster lists exactly the
    // articles that report it
    let mut reported: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, (cluster, _)) in &placements {
        reported.entry(cluster.clone()).or_default().insert(id.clone());
    }
    let cluster_ids: Vec<String> = reported.keys().cloned().collect();
    let mut checkers = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        let mut client = client.clone();
        let mine: Vec<String> = cluster_ids.iter().skip(c).step_by(CLIENTS).cloned().collect();
        checkers.push(tokio::spawn(async move {
            let mut clusters = Vec::new();
            for cluster_id in mine {
                let cluster = client
                    .get_cluster(proto::GetClusterRequest { cluster_id: cluster_id.clone() })
                    .await
                    .unwrap_or_else(|status| panic!("cluster {cluster_id}: {status}"))
                    .into_inner();
                clusters.push((cluster_id, cluster));
            }
            clusters
        }));
    }
    let mut failures = Vec::new();
    for checker in checkers {
        for (asked, cluster) in checker.await.expect("checker task") {
            if cluster.cluster_id != asked {
                failures.push(format!("cluster {asked} answers as {}", cluster.cluster_id));
            }
            let first = cluster.members.first().map(|m| m.id.clone()).unwrap_or_default();
            if cluster.canonical_id != first {
                failures.push(format!(
                    "cluster {asked}: canonical {} is not its first member {first}",
                    cluster.canonical_id
                ));
            }
            let seconds = |m: &proto::ClusterMember| m.published_at.as_ref().map(|t| t.seconds).unwrap_or(i64::MAX);
            if cluster.members.windows(2).any(|pair| seconds(&pair[0]) > seconds(&pair[1])) {
                failures.push(format!("cluster {asked}: members not in publication order"));
            }
            let listed: BTreeSet<String> = cluster.members.iter().map(|m| m.id.clone()).collect();
            if listed != reported[&asked] {
                failures.push(format!("cluster {asked} lists {listed:?}, but {:?} report it", reported[&asked]));
            }
            for member in &listed {
                if placements.get(member).map(|p| &p.1) != Some(&cluster.canonical_id) {
                    failures.push(format!(
                        "{member} reports canonical {:?}, its cluster {asked} says {}",
                        placements.get(member),
                        cluster.canonical_id
                    ));
                }
            }
        }
    }
    for server in servers {
        server.shutdown().await.expect("clean shutdown");
    }
    (placements, failures)
}

/// Unordered same-cluster pairs.
fn pairs(placements: &Placements) -> HashSet<(String, String)> {
    let mut clusters: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, (cluster, _)) in placements {
        clusters.entry(cluster).or_default().push(id);
    }
    let mut pairs = HashSet::new();
    for members in clusters.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                pairs.insert((x.to_string(), y.to_string()));
            }
        }
    }
    pairs
}

/// Members of one family that a run put in different clusters.
fn split_families(articles: &[Generated], placements: &Placements) -> Vec<usize> {
    let mut clusters: BTreeMap<usize, HashSet<&str>> = BTreeMap::new();
    for article in articles {
        if let Some(family) = article.family {
            clusters.entry(family).or_default().insert(&placements[&article.id].0);
        }
    }
    clusters.into_iter().filter(|(_, clusters)| clusters.len() > 1).map(|(family, _)| family).collect()
}

/// The whole comparison for one store.
async fn many_writers_agree_with_one(store_url: &str, namespace: &str) {
    let articles = corpus(2026);
    assert!(articles.len() >= 2_000, "{} articles", articles.len());

    // the corpus is hard: most copies come before their originals, and many families race
    let position: HashMap<&str, usize> = articles.iter().enumerate().map(|(i, a)| (a.id.as_str(), i)).collect();
    let late_originals = (0..FAMILIES)
        .filter(|f| {
            let orig = position[format!("f{f:04}-orig").as_str()];
            ["spun", "excerpt", "byline"].iter().any(|s| position[format!("f{f:04}-{s}").as_str()] < orig)
        })
        .count();
    assert!(late_originals * 2 > FAMILIES, "only {late_originals} originals arrive after a copy");

    let started = Instant::now();
    let reference = sequential(&articles).await;
    let sequential_time = started.elapsed();
    assert_eq!(split_families(&articles, &reference), Vec::<usize>::new(), "the reference keeps families together");
    let reference_pairs = pairs(&reference);
    // 6 pairs per family, none across families or singletons
    assert_eq!(reference_pairs.len(), FAMILIES * 6, "the reference finds exactly the families");

    let started = Instant::now();
    let (placements, failures) = concurrent(store_url, namespace, &articles).await;
    let concurrent_time = started.elapsed();
    eprintln!(
        "{} articles: sequential (memory) {sequential_time:?}, {REPLICAS} replicas × {CLIENTS} clients {concurrent_time:?}",
        articles.len()
    );
    assert!(
        failures.is_empty(),
        "{} cluster inconsistencies, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    let split = split_families(&articles, &placements);
    assert!(split.is_empty(), "lost merges: families split apart {split:?}");

    let found = pairs(&placements);
    let both = found.intersection(&reference_pairs).count();
    let either = found.union(&reference_pairs).count();
    let pair_agreement = both as f64 / either as f64;
    let canonical_agreement =
        articles.iter().filter(|a| placements[&a.id].1 == reference[&a.id].1).count() as f64 / articles.len() as f64;
    eprintln!("pair agreement {pair_agreement:.5} ({both} of {either}), canonical agreement {canonical_agreement:.5}");
    assert!(pair_agreement >= 0.999, "pair agreement {pair_agreement}");
    assert!(canonical_agreement >= 0.999, "canonical agreement {canonical_agreement}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_many_writers_agree_with_one_sequential_writer() {
    many_writers_agree_with_one(&shared_redis().url(), &namespace("writers")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_many_writers_agree_with_one_sequential_writer() {
    let url = tokio::task::spawn_blocking(|| shared_cluster().url()).await.expect("start the cluster");
    many_writers_agree_with_one(&url, &namespace("writers")).await;
}
