//! `dedupd verify`: each kind of damage a crash (or a bug) can leave, made deliberately on each store,
//! is found by the check and fixed by the repair; a healthy store checks clean.
//!
//! Damage is made the way it happens: an ingest stopped between its steps by the kit's fault store
//! ([`common::Hooked`] failing the assign), or the keys a step cut short would have left, written raw
//! (Redis keys, the embedded store's redb tables).

mod common;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dedupd::domain::{Article, ClusterId, ClusterView, Micros, StoredArticle};
use dedupd::engine::verdicts::Review;
use dedupd::engine::{Engine, EngineConfig};
use dedupd::error::{Error, Result};
use dedupd::store::Assigned;
use dedupd::store::embedded::EmbeddedStore;
use dedupd::store::memory::MemoryStore;
use dedupd::store::redis::{RedisClusterStore, RedisStore};
use dedupd::store::verify::{self, Options, Problem, Report, Verify};
use dedupd::store::{Inserted, Store};
use dedupd::synthetic::{Synthetic, spun, text};

use common::{Call, Hook, Hooked, shared_cluster, shared_redis, stored_article};

/// A store under test, as the engine uses it and as verify reads it, with what must outlive it.
struct Backend {
    store: Arc<dyn Store>,
    verify: Arc<dyn Verify>,
    _guard: Box<dyn Any + Send>,
}

async fn memory(_namespace: &str) -> Backend {
    let store = Arc::new(MemoryStore::new());
    Backend { store: store.clone(), verify: store, _guard: Box::new(()) }
}

async fn embedded(_namespace: &str) -> Backend {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open embedded store"));
    Backend { store: store.clone(), verify: store, _guard: Box::new(dir) }
}

async fn redis(namespace: &str) -> Backend {
    let store =
        Arc::new(RedisStore::connect_with_namespace(&shared_redis().url(), namespace).await.expect("connect to redis"));
    Backend { store: store.clone(), verify: store, _guard: Box::new(()) }
}

async fn redis_cluster(namespace: &str) -> Backend {
    let url = tokio::task::spawn_blocking(|| shared_cluster().url()).await.expect("start the cluster");
    let store =
        Arc::new(RedisClusterStore::connect_with_namespace(&url, namespace).await.expect("connect to the cluster"));
    Backend { store: store.clone(), verify: store, _guard: Box::new(()) }
}

macro_rules! every_store {
    ($($case:ident),* $(,)?) => {
        every_store!(@backend memory: $($case),*);
        every_store!(@backend embedded: $($case),*);
        every_store!(@backend redis: $($case),*);
        every_store!(@backend redis_cluster: $($case),*);
    };
    (@backend $backend:ident: $($case:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::$backend(concat!("verify-", stringify!($case))).await;
                    super::$case(backend).await;
                }
            )*
        }
    };
}

every_store!(
    a_healthy_store_checks_clean,
    an_ingest_cut_short_is_removed_by_repair,
    verdicts_leave_a_store_that_checks_clean
);

// ---------------------------------------------------------------------------------------------------
// helpers

/// Nothing is in flight: every unassigned article is a leftover.
fn now() -> Options {
    Options::new(Duration::ZERO)
}

async fn check(backend: &Backend) -> Report {
    verify::verify(backend.verify.as_ref(), now()).await.expect("verify")
}

/// The kinds of the problems found, sorted.
fn kinds(report: &Report) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = report.problems.iter().map(Problem::kind).collect();
    kinds.sort_unstable();
    kinds
}

/// Repairs, and checks that nothing is left and that a second repair finds nothing.
async fn repair_all(backend: &Backend) -> usize {
    let outcome = verify::repair(backend.verify.as_ref(), Duration::ZERO).await.expect("repair");
    assert_eq!(outcome.left.problems, Vec::<Problem>::new(), "left after repair:\n{}", outcome.left);
    let again = verify::repair(backend.verify.as_ref(), Duration::ZERO).await.expect("repair again");
    assert_eq!((again.found.problems.len(), again.repaired), (0, 0), "a second repair finds nothing");
    outcome.repaired
}

fn engine(store: Arc<dyn Store>) -> Engine {
    Engine::new(store, EngineConfig::default())
}

/// Ingests a stream of synthetic articles (a third are copies, so clusters grow and merge).
async fn ingest_stream(engine: &Engine, seed: u64, n: u64) -> Vec<Article> {
    let synthetic = Synthetic::new(seed);
    let mut articles = Vec::new();
    for index in 0..n {
        let article = synthetic.article(index);
        engine.ingest(article.clone()).await.expect("ingest");
        articles.push(article);
    }
    articles
}

/// Fails every assign: the ingest stops after its insert, as a crash between the steps would.
struct CutAfterInsert;

#[async_trait]
impl Hook for CutAfterInsert {
    async fn before(&self, call: Call<'_>, _inner: &dyn Store) -> Result<()> {
        match call {
            Call::Assign(_) => Err(Error::Unavailable("cut short by the test".into())),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// every store

/// Ingests with copies and merges, a delete and a replaced version: every invariant holds, the counts
/// are the store's, and a repair changes nothing.
async fn a_healthy_store_checks_clean(backend: Backend) {
    let engine = engine(backend.store.clone());
    let articles = ingest_stream(&engine, 3, 60).await;
    assert!(engine.delete(&articles[0].id).await.expect("delete").deleted);
    let replaced = Article { body: text(999, 300), ..articles[1].clone() };
    engine.ingest(replaced).await.expect("re-ingest with new content");
    let report = check(&backend).await;
    assert_eq!(report.problems, Vec::<Problem>::new(), "{report}");
    assert_eq!(report.counts.articles, 59, "{report}");
    assert!(report.counts.clusters < 59 && report.counts.clusters > 20, "copies joined clusters: {report}");
    assert_eq!(report.counts.members, 59, "every article is a member once: {report}");
    assert!(report.counts.postings >= 59 * 10, "{report}");
    assert_eq!(repair_all(&backend).await, 0);
}

/// A pinned canonical leads its cluster out of the automatic order, and a split moves members into a
/// new cluster: neither is a problem, and a repair changes nothing.
async fn verdicts_leave_a_store_that_checks_clean(backend: Backend) {
    let engine = engine(backend.store.clone());
    let articles = ingest_stream(&engine, 5, 60).await;
    let mut largest: Option<ClusterView> = None;
    for article in &articles {
        let stored = backend.store.get(&article.id).await.expect("get").expect("stored");
        let cluster_id = stored.cluster_id.expect("assigned");
        let view = backend.store.cluster(&cluster_id).await.expect("cluster").expect("live cluster");
        if largest.as_ref().is_none_or(|largest| view.members.len() > largest.members.len()) {
            largest = Some(view);
        }
    }
    let cluster = largest.expect("a cluster");
    assert!(cluster.members.len() >= 3, "the stream makes clusters of three or more");
    let review = || Review { reviewer: "test".into(), reason: "verify".into() };
    let last = &cluster.members[cluster.members.len() - 1].meta.id;
    let pinned = engine.set_canonical(cluster.cluster_id.as_str(), last, review()).await.expect("pin");
    assert_eq!(&pinned.canonical_id, last, "the pinned member leads");
    let report = check(&backend).await;
    assert_eq!(report.problems, Vec::<Problem>::new(), "after a pin: {report}");
    let (moving, from) = (&cluster.members[1].meta.id, &cluster.members[0].meta.id);
    let split = engine.mark_distinct(moving, from, review()).await.expect("split");
    assert!(split.moved.contains(moving));
    let report = check(&backend).await;
    assert_eq!(report.problems, Vec::<Problem>::new(), "after a split: {report}");
    assert_eq!(repair_all(&backend).await, 0);
}

/// An ingest stopped after its insert leaves an unassigned article: a running ingest while young
/// (unless the store is held exclusively), a problem once older; the repair removes it, and only it.
async fn an_ingest_cut_short_is_removed_by_repair(backend: Backend) {
    let whole = engine(backend.store.clone());
    ingest_stream(&whole, 4, 10).await;
    let cut = engine(Arc::new(Hooked::new(backend.store.clone(), CutAfterInsert)));
    let copy = Article { id: "cut-copy".into(), ..Synthetic::new(4).article(3) };
    assert!(cut.ingest(copy).await.is_err(), "the assign failed");
    assert_eq!(backend.store.get("cut-copy").await.unwrap().and_then(|a| a.cluster_id), None, "inserted, unassigned");

    let exclusive = backend.verify.inventory().await.unwrap().exclusive;
    let young = verify::verify(backend.verify.as_ref(), Options::new(Duration::from_secs(3600))).await.unwrap();
    if exclusive {
        assert_eq!(kinds(&young), ["unassigned"], "{young}");
    } else {
        assert_eq!((young.problems.len(), young.counts.in_flight), (0, 1), "in flight: {young}");
    }
    let report = check(&backend).await;
    assert_eq!(report.problems, [Problem::Unassigned { id: "cut-copy".into() }], "{report}");

    assert_eq!(repair_all(&backend).await, 1);
    assert_eq!(backend.store.get("cut-copy").await.unwrap(), None, "removed");
    assert_eq!(check(&backend).await.counts.articles, 10, "the others stay");
    // the client's retry ingests it afresh
    let retried = whole.ingest(Article { id: "cut-copy".into(), ..Synthetic::new(4).article(3) }).await.unwrap();
    assert!(retried.cluster_id.is_some());
    assert_eq!(check(&backend).await.problems, Vec::<Problem>::new());
}

// ---------------------------------------------------------------------------------------------------
// embedded: what a crash leaves in the redb file, and what only a bug or a hand edit could

const RECORDS: redb::TableDefinition<u32, &[u8]> = redb::TableDefinition::new("records");
const FORWARDS: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("forwards");

/// Writes forwards into a closed store's file, as a hand edit would.
fn write_forwards(dir: &std::path::Path, forwards: &[(&ClusterId, &ClusterId)]) {
    let db = redb::Database::create(dir.join(dedupd::store::embedded::DATA_FILE)).expect("open the redb file");
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(FORWARDS).unwrap();
        for (from, into) in forwards {
            table.insert(from.as_str(), into.as_str()).unwrap();
        }
    }
    txn.commit().unwrap();
}

/// The embedded store commits an ingest's insert before its assign: killed in between, the file
/// holds an unassigned record. A server opening it drops the record; verify keeps it to report it,
/// and its repair removes it from the file.
#[tokio::test]
async fn embedded_unassigned_records_in_the_file_are_found_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        ingest_stream(&engine(store.clone()), 5, 6).await;
        let cut = engine(Arc::new(Hooked::new(store, CutAfterInsert)));
        assert!(cut.ingest(Synthetic::new(5).article(6)).await.is_err());
    }
    let record = {
        let db = redb::Database::create(dir.path().join(dedupd::store::embedded::DATA_FILE)).unwrap();
        let read = redb::ReadableDatabase::begin_read(&db).unwrap();
        let table = read.open_table(RECORDS).unwrap();
        redb::ReadableTableMetadata::len(&table).unwrap()
    };
    assert_eq!(record, 7, "the cut-short insert is in the file");
    let backend = {
        let store = Arc::new(EmbeddedStore::open_for_verify(dir.path()).unwrap());
        Backend { store: store.clone(), verify: store, _guard: Box::new(()) }
    };
    let report = check(&backend).await;
    assert_eq!(report.problems, [Problem::Unassigned { id: "s5-6".into() }], "{report}");
    assert_eq!(repair_all(&backend).await, 1);
    drop(backend);
    let reopened = EmbeddedStore::open_for_verify(dir.path()).unwrap();
    let report = verify::verify(&reopened, now()).await.unwrap();
    assert_eq!((report.counts.articles, report.problems.len()), (6, 0), "the removal was committed: {report}");
}

/// A forward is the whole of a merge in the file (records keep naming the cluster they were put in):
/// one written over a cluster that still has members merges it, and checks clean. A forward to a
/// newer cluster, or a cycle, is reported and left: no repair can know what was meant.
#[tokio::test]
async fn embedded_forwards_merge_and_broken_forwards_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (older, newer) = {
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let engine = engine(store.clone());
        let a = engine.ingest(story("a", 70, 0)).await.unwrap().cluster_id.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let b = engine.ingest(story("b", 71, 0)).await.unwrap().cluster_id.unwrap();
        engine.ingest(story("b-copy", 71, 1)).await.unwrap();
        (a, b)
    };
    assert!(older < newer);
    write_forwards(dir.path(), &[(&newer, &older)]);
    let store = Arc::new(EmbeddedStore::open_for_verify(dir.path()).unwrap());
    let backend = Backend { store: store.clone(), verify: store, _guard: Box::new(()) };
    let report = check(&backend).await;
    assert_eq!(report.problems, [], "{report}");
    let view = backend.store.cluster(&newer).await.unwrap().expect("resolves to the survivor");
    assert_eq!(view.cluster_id, older);
    assert_eq!(view.members.len(), 3);
    drop(backend);

    let broken = ClusterId("ffffffffffffffff-00000000".into());
    write_forwards(dir.path(), &[(&older, &broken)]);
    let store = Arc::new(EmbeddedStore::open_for_verify(dir.path()).unwrap());
    let report = verify::verify(store.as_ref(), now()).await.unwrap();
    assert!(report.problems.contains(&Problem::BrokenForward { from: older, into: broken }), "{report}");
    let outcome = verify::repair(store.as_ref(), Duration::ZERO).await.unwrap();
    assert!(kinds(&outcome.left).contains(&"broken_forward"), "not repairable: {}", outcome.left);
}

/// An article of story `seed`: the story's text, or a spun copy of it when `copy` > 0.
fn story(id: &str, seed: u64, copy: u64) -> Article {
    let original = text(seed, 300);
    let body = if copy == 0 { original } else { spun(&original, 10, copy) };
    Article {
        id: id.into(),
        url: format!("https://news.example/{id}"),
        source: if copy == 0 { "wire.example".into() } else { format!("copy{copy}.example") },
        title: id.into(),
        body,
        published_at: Some(1_700_000_000_000_000 + copy as Micros),
    }
}

/// The CLI: exits 1 naming what it found, repairs with `--repair` (exit 0), then checks clean.
#[tokio::test]
async fn verify_command_reports_repairs_and_exits_by_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        ingest_stream(&engine(store.clone()), 6, 4).await;
        let cut = engine(Arc::new(Hooked::new(store, CutAfterInsert)));
        assert!(cut.ingest(Synthetic::new(6).article(4)).await.is_err());
    }
    let run = |extra: &'static [&'static str]| run_verify(dir.path().to_path_buf(), extra);
    let found = run(&[]).await;
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("5 articles") && stdout.contains("unassigned: 1 (s6-4)"), "{stdout}");
    assert!(String::from_utf8_lossy(&found.stderr).contains("1 problems found"));
    let repaired = run(&["--repair", "--json"]).await;
    assert_eq!(repaired.status.code(), Some(0), "{}", String::from_utf8_lossy(&repaired.stderr));
    let json: serde_json::Value = serde_json::from_slice(&repaired.stdout).expect("json report");
    assert_eq!(json["repaired"], 1);
    assert_eq!(json["found"]["problems"][0]["kind"], "unassigned");
    assert_eq!(json["left"]["problems"], serde_json::json!([]));
    let clean = run(&[]).await;
    assert_eq!(clean.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&clean.stdout).contains("4 articles (0 in flight)"));
    // a directory with no store in it is an error, not an empty store that checks clean
    let mistyped = run_verify("/nonexistent/dedupd-data".into(), &[]).await;
    assert_eq!(mistyped.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&mistyped.stderr).contains("no embedded store in /nonexistent/dedupd-data"));
}

// ---------------------------------------------------------------------------------------------------
// redis and redis cluster: the keys a step cut short leaves, written raw

/// Inserts and assigns with every candidate linked, as the engine would after verifying them all.
async fn place(store: &dyn Store, article: StoredArticle) -> Assigned {
    let Inserted::New(lookup) = store.insert_and_lookup(article.clone(), 100).await.unwrap() else {
        panic!("{} was stored already", article.meta.id)
    };
    let links: Vec<&StoredArticle> = lookup.candidates.iter().map(|c| &c.article).collect();
    store.assign(&article, &links).await.unwrap()
}

fn record(id: &str, seed: u64, published_us: Micros) -> StoredArticle {
    stored_article(id, &text(seed, 300), published_us, published_us)
}

/// The zset member of a stored article: `TIER hex16(published) hex16(ingested) ID`.
fn member_of(article: &StoredArticle) -> String {
    let sortable = |micros: Micros| (micros as u64) ^ (1 << 63);
    format!("1{:016x}{:016x}{}", sortable(article.published_us), sortable(article.ingested_us), article.meta.id)
}

/// A Redis Cluster hash tag: the low 32 bits of a hash, modulo 4096 slots, as 3 hex digits.
fn tag_of(hash: u32) -> String {
    format!("{:03x}", hash % 4096)
}

fn article_tag(id: &str) -> String {
    tag_of(xxhash_rust::xxh3::xxh3_64(id.as_bytes()) as u32)
}

fn cluster_tag(cluster: &ClusterId) -> String {
    let id = cluster.as_str();
    tag_of(u32::from_str_radix(&id[id.len() - 8..], 16).unwrap())
}

async fn standalone_connection() -> ::redis::aio::MultiplexedConnection {
    let client = ::redis::Client::open(shared_redis().url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn cluster_connection() -> ::redis::cluster_async::ClusterConnection {
    let url = tokio::task::spawn_blocking(|| shared_cluster().url()).await.unwrap();
    let node = url.trim_start_matches("redis+cluster://").split(',').next().unwrap().to_string();
    let client = ::redis::cluster::ClusterClient::new(vec![format!("redis://{node}")]).unwrap();
    client.get_async_connection().await.unwrap()
}

/// A record removed with its postings, number and membership left (a delete stopped after its first
/// step, on a cluster; a bug on standalone): dangling postings, a stale number and a ghost member,
/// all removed by repair; the cluster's other member stays, canonical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_record_removed_alone_leaves_what_repair_removes() {
    for on_cluster in [false, true] {
        let backend = if on_cluster { redis_cluster("verify-removed").await } else { redis("verify-removed").await };
        let store = backend.store.as_ref();
        let original = place(store, record("original", 80, 10)).await;
        let copy = place(store, record("copy", 80, 20)).await;
        assert_eq!(copy.cluster_id, original.cluster_id, "the copy joined");
        let key = if on_cluster {
            format!("verify-removed:a:{{{}}}copy", article_tag("copy"))
        } else {
            "verify-removed:a:copy".to_string()
        };
        let deleted: i64 = if on_cluster {
            ::redis::cmd("DEL").arg(&key).query_async(&mut cluster_connection().await).await.unwrap()
        } else {
            ::redis::cmd("DEL").arg(&key).query_async(&mut standalone_connection().await).await.unwrap()
        };
        assert_eq!(deleted, 1);
        let report = check(&backend).await;
        let found = kinds(&report);
        assert!(found.iter().filter(|&&k| k == "dangling_posting").count() >= 10, "{report}");
        assert_eq!(found.iter().filter(|&&k| k != "dangling_posting").collect::<Vec<_>>(), [&"ghost", &"stale_number"]);
        repair_all(&backend).await;
        let view = store.cluster(&original.cluster_id).await.unwrap().unwrap();
        assert_eq!(view.members.iter().map(|m| m.meta.id.as_str()).collect::<Vec<_>>(), ["original"]);
        let lookup = store.lookup(&record("copy", 80, 20).band_keys, 100).await.unwrap();
        assert_eq!(lookup.candidates.iter().map(|c| c.article.meta.id.as_str()).collect::<Vec<_>>(), ["original"]);
        assert_eq!(check(&backend).await.counts.postings, record("original", 80, 10).band_keys.len());
    }
}

/// Standalone's singleton index: an entry whose founder does not check out is stale, and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stale_singleton_entries_are_dropped() {
    let backend = redis("verify-singleton").await;
    place(backend.store.as_ref(), record("alone", 81, 10)).await;
    let made_up = ClusterId::new(1_700_000_000_000_000, "nobody");
    let id = made_up.as_str();
    let bucket = u32::from_str_radix(&id[id.len() - 4..], 16).unwrap() % 32768;
    let field = format!("{}{}", &id[..16], &id[17..22]);
    let mut connection = standalone_connection().await;
    let _: i64 = ::redis::cmd("HSET")
        .arg(format!("verify-singleton:s:{bucket}"))
        .arg(&field)
        .arg(1)
        .query_async(&mut connection)
        .await
        .unwrap();
    let report = check(&backend).await;
    assert_eq!(report.problems, [Problem::StaleSingleton { cluster: made_up }], "{report}");
    assert_eq!(report.counts.clusters, 1, "the real singleton is a cluster: {report}");
    assert_eq!(repair_all(&backend).await, 1);
    assert_eq!(check(&backend).await.counts.clusters, 1);
}

/// A merge stopped after `close` (the forward written, the members not moved): repair moves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_a_merge_cut_short_is_finished() {
    let backend = redis_cluster("verify-merge").await;
    let store = backend.store.as_ref();
    let older = place(store, record("older", 82, 10)).await.cluster_id;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let newer = place(store, record("newer", 83, 20)).await.cluster_id;
    assert!(older < newer);
    let _: () = ::redis::cmd("SET")
        .arg(format!("verify-merge:f:{{{}}}{newer}", cluster_tag(&newer)))
        .arg(older.as_str())
        .query_async(&mut cluster_connection().await)
        .await
        .unwrap();
    let report = check(&backend).await;
    assert_eq!(report.problems, [Problem::UnfinishedMerge { from: newer.clone(), into: older.clone() }], "{report}");
    assert_eq!(repair_all(&backend).await, 1);
    let report = check(&backend).await;
    assert_eq!((report.counts.clusters, report.counts.members, report.counts.forwards), (1, 2, 1), "{report}");
    assert_eq!(store.get("newer").await.unwrap().unwrap().cluster_id, Some(older));
}

/// A join is `add` and `claim` at once; either may be cut short. Claimed without the add: repair adds
/// the article to its cluster. Added without the claim: repair claims it. Either way it ends a member
/// of exactly the cluster its record names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_half_joins_are_completed() {
    let backend = redis_cluster("verify-join").await;
    let store = backend.store.as_ref();
    let first = place(store, record("first", 84, 10)).await.cluster_id;
    let mut connection = cluster_connection().await;
    for (joiner, claimed) in [("claimed", true), ("added", false)] {
        let article = record(joiner, 84, 20);
        store.insert_and_lookup(article.clone(), 100).await.unwrap();
        if claimed {
            let key = format!("verify-join:a:{{{}}}{joiner}", article_tag(joiner));
            let _: i64 = ::redis::cmd("SETRANGE")
                .arg(key)
                .arg(0)
                .arg(first.as_str())
                .query_async(&mut connection)
                .await
                .unwrap();
        } else {
            let zset = format!("verify-join:c:{{{}}}{first}", cluster_tag(&first));
            let _: i64 = ::redis::cmd("ZADD")
                .arg(zset)
                .arg(0)
                .arg(member_of(&article))
                .query_async(&mut connection)
                .await
                .unwrap();
        }
        let report = check(&backend).await;
        let expected = if claimed {
            Problem::NotAMember { id: joiner.into(), cluster: first.clone() }
        } else {
            Problem::UnclaimedMember { id: joiner.into(), cluster: first.clone() }
        };
        assert_eq!(report.problems, [expected], "{report}");
        assert_eq!(repair_all(&backend).await, 1);
        assert_eq!(store.get(joiner).await.unwrap().unwrap().cluster_id.as_ref(), Some(&first));
    }
    let view = store.cluster(&first).await.unwrap().unwrap();
    assert_eq!(view.members.iter().map(|m| m.meta.id.as_str()).collect::<Vec<_>>(), ["first", "added", "claimed"]);
}

/// `dedupd verify` on the embedded store in `data_dir`, with `extra` flags.
async fn run_verify(data_dir: std::path::PathBuf, extra: &'static [&'static str]) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dedupd"))
            .args(["verify", "--store", "embedded://"])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(extra)
            .env_remove("DEDUPD_STORE")
            .env_remove("DEDUPD_NAMESPACE")
            .output()
            .expect("run dedupd verify")
    })
    .await
    .unwrap()
}
