//! The `Store` contract (see `src/store/mod.rs`), checked against every backend.
//!
//! Each case is a plain `async fn` over `Arc<dyn Store>`; [`conformance!`] turns every (backend, case)
//! pair into its own test, so `cargo test --test store_conformance redis::` runs one backend and a
//! failure names both. A new backend is done when it passes this file. Backend-specific behaviour
//! (embedded persistence and locking, Redis reconnection) is tested at the end.

mod common;

use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dedupd::domain::{Article, ClusterId, Micros, SourceTier, StoredArticle};
use dedupd::engine::{Engine, EngineConfig};
use dedupd::error::Error;
use dedupd::store::embedded::EmbeddedStore;
use dedupd::store::memory::MemoryStore;
use dedupd::store::redis::{RedisClusterStore, RedisStore};
use dedupd::store::{Assigned, Expired, Inserted, Lookup, POSTINGS_READ_PER_KEY, Store};

use dedupd::synthetic::{spun, text};

use common::{RedisCluster, RedisServer, free_port, shared_cluster, shared_redis, stored_article};

/// Generous: every case expects fewer candidates than this.
const LIMIT: usize = 100;
/// Words per test article: enough for all 24 band keys.
const WORDS: usize = 300;

/// A store under test, with whatever must outlive it (a directory).
struct Backend {
    store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send>,
}

async fn memory(_namespace: &str) -> Backend {
    Backend { store: Arc::new(MemoryStore::new()), _guard: Box::new(()) }
}

async fn embedded(_namespace: &str) -> Backend {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = EmbeddedStore::open(dir.path()).expect("open embedded store");
    Backend { store: Arc::new(store), _guard: Box::new(dir) }
}

/// The binary's shared Redis, under the case's own namespace.
async fn redis(namespace: &str) -> Backend {
    let store = RedisStore::connect_with_namespace(&shared_redis().url(), namespace).await.expect("connect to redis");
    Backend { store: Arc::new(store), _guard: Box::new(()) }
}

/// The binary's shared three-master Redis Cluster, under the case's own namespace.
async fn redis_cluster(namespace: &str) -> Backend {
    let url = tokio::task::spawn_blocking(|| shared_cluster().url()).await.expect("start the cluster");
    let store = RedisClusterStore::connect_with_namespace(&url, namespace).await.expect("connect to the cluster");
    Backend { store: Arc::new(store), _guard: Box::new(()) }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        conformance!(@backend memory: $($case),*);
        conformance!(@backend embedded: $($case),*);
        conformance!(@backend redis: $($case),*);
        conformance!(@backend redis_cluster: $($case),*);
    };
    (@backend $backend:ident: $($case:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let backend = super::$backend(stringify!($case)).await;
                    super::$case(backend.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    insert_then_lookup_finds_copies_but_not_self,
    unrelated_texts_are_not_candidates,
    same_content_is_unchanged,
    new_content_replaces_the_old_version,
    assign_without_links_founds_a_cluster,
    assign_with_a_link_joins_its_cluster,
    assign_adopts_an_unassigned_link,
    merge_keeps_the_oldest_cluster,
    canonical_is_first_by_published_ingested_id,
    source_tier_leads_the_canonical_order,
    deleting_the_canonical_elects_the_next,
    deleting_an_unknown_id_deletes_nothing,
    deleting_the_last_member_removes_the_cluster,
    assign_of_an_unknown_id_is_not_found,
    lookup_limit_keeps_the_most_shared_keys,
    lookups_read_the_oldest_postings_of_a_key,
    keys_of_one_bucket_are_each_posted,
    a_growing_bucket_keeps_every_key,
    concurrent_ingests_of_copies_form_one_cluster,
    expire_removes_exactly_what_was_published_before_the_cutoff,
    expire_respects_its_limit,
    expiring_the_canonical_elects_the_next,
    expiring_every_member_removes_the_cluster,
    expire_goes_by_the_current_version,
    expire_is_idempotent_and_safe_to_run_concurrently,
    // moderation verdicts
    a_split_moves_its_members_and_keeps_the_clusters_apart,
    a_split_of_an_unknown_cluster_is_not_found,
    apartness_follows_merges,
    join_lifts_apartness_and_unites,
    a_pinned_member_is_the_canonical_until_removed,
    pins_go_with_their_articles_through_merges_and_splits,
    the_verdict_log_pages_newest_first,
    // kept text
    a_text_is_kept_for_the_stored_version_only,
    a_kept_text_goes_with_a_delete,
    a_kept_text_goes_with_a_replacement,
    a_kept_text_goes_with_expiry,
);

// ---------------------------------------------------------------------------------------------------
// helpers

/// An article of text `seed`, published and ingested at the given times.
fn article(id: &str, seed: u64, published_us: Micros, ingested_us: Micros) -> StoredArticle {
    stored_article(id, &text(seed, WORDS), published_us, ingested_us)
}

fn new_lookup(inserted: Inserted) -> Lookup {
    match inserted {
        Inserted::New(lookup) => lookup,
        Inserted::Unchanged { article, .. } => {
            panic!("expected a new article, {} was unchanged", article.meta.id)
        }
    }
}

fn ids(lookup: &Lookup) -> Vec<&str> {
    lookup.candidates.iter().map(|c| c.article.meta.id.as_str()).collect()
}

/// What the engine does, minus verification: insert, then link every candidate, passing back the
/// records as the lookup returned them.
async fn ingest(store: &dyn Store, article: StoredArticle) -> Assigned {
    let lookup = new_lookup(store.insert_and_lookup(article.clone(), LIMIT).await.expect("insert"));
    let links: Vec<&StoredArticle> = lookup.candidates.iter().map(|c| &c.article).collect();
    store.assign(&article, &links).await.expect("assign")
}

/// Inserts and assigns with explicit links, ignoring what the lookup found: each link's record as
/// stored now, or, for an id that is not stored, a record of it that never was (as a link deleted
/// since the lookup would be).
async fn ingest_linked(store: &dyn Store, article: StoredArticle, links: &[&str]) -> Assigned {
    new_lookup(store.insert_and_lookup(article.clone(), LIMIT).await.expect("insert"));
    let mut records = Vec::new();
    for &link in links {
        let stored = store.get(link).await.expect("get");
        records.push(stored.unwrap_or_else(|| self::article(link, 0, 0, 0)));
    }
    let links: Vec<&StoredArticle> = records.iter().collect();
    store.assign(&article, &links).await.expect("assign")
}

/// Assigns a stored article again, as a retried ingest would: its record as stored, unassigned, with
/// no links.
async fn reassign(store: &dyn Store, id: &str) -> Assigned {
    let mut record = store.get(id).await.expect("get").unwrap_or_else(|| panic!("{id} is stored"));
    record.cluster_id = None;
    store.assign(&record, &[]).await.expect("assign")
}

async fn cluster_of(store: &dyn Store, id: &str) -> ClusterId {
    let article = store.get(id).await.expect("get").unwrap_or_else(|| panic!("{id} is stored"));
    article.cluster_id.unwrap_or_else(|| panic!("{id} is assigned"))
}

async fn member_ids(store: &dyn Store, cluster_id: &ClusterId) -> Vec<String> {
    let view = store.cluster(cluster_id).await.expect("cluster").expect("the cluster exists");
    view.members.into_iter().map(|m| m.meta.id).collect()
}

/// Founding times come from the clock: make sure the next cluster id is larger than the last.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

// ---------------------------------------------------------------------------------------------------
// cases

/// A copy posted under the same band keys is a candidate, with its cluster's canonical; an article
/// is never its own candidate; a plain lookup writes nothing and excludes nobody.
async fn insert_then_lookup_finds_copies_but_not_self(store: Arc<dyn Store>) {
    let original = article("original", 1, 1_000, 1_000);
    let keys = original.band_keys.clone();
    let first = new_lookup(store.insert_and_lookup(original.clone(), LIMIT).await.unwrap());
    assert!(first.candidates.is_empty(), "the first article finds nothing, not even itself");
    let assigned = store.assign(&original, &[]).await.unwrap();

    let copy = article("copy", 1, 2_000, 2_000);
    let lookup = new_lookup(store.insert_and_lookup(copy, LIMIT).await.unwrap());
    assert_eq!(ids(&lookup), ["original"]);
    assert_eq!(lookup.candidates[0].shared_keys as usize, keys.len());
    assert_eq!(lookup.candidates[0].article.cluster_id.as_ref(), Some(&assigned.cluster_id));
    assert_eq!(lookup.clusters.len(), 1);
    assert_eq!(lookup.clusters[0].cluster_id, assigned.cluster_id);
    assert_eq!(lookup.clusters[0].canonical.meta.id, "original");

    let both = store.lookup(&keys, LIMIT).await.unwrap();
    assert_eq!(ids(&both), ["copy", "original"], "equal shared keys: ordered by id");
    assert!(both.candidates.iter().all(|c| c.shared_keys as usize == keys.len()));
    assert_eq!(store.get("copy").await.unwrap().unwrap().cluster_id, None, "lookup assigns nothing");
}

/// Texts of different seeds share no band key.
async fn unrelated_texts_are_not_candidates(store: Arc<dyn Store>) {
    for seed in 100..110 {
        let id = format!("unrelated-{seed}");
        let record = article(&id, seed, 0, 0);
        let lookup = new_lookup(store.insert_and_lookup(record.clone(), LIMIT).await.unwrap());
        assert!(lookup.candidates.is_empty(), "{id} found {:?}", ids(&lookup));
        store.assign(&record, &[]).await.unwrap();
    }
}

/// Re-inserting the same content changes nothing and reports the current cluster and canonical.
async fn same_content_is_unchanged(store: Arc<dyn Store>) {
    ingest(&*store, article("early", 2, 1_000, 1_000)).await;
    let assigned = ingest(&*store, article("late", 2, 5_000, 5_000)).await;
    assert_eq!(assigned.canonical_id, "early");
    let before = store.get("late").await.unwrap().unwrap();

    // same content, ingested again later: the stored version (and its ingest time) stays
    let again = article("late", 2, 5_000, 9_000);
    match store.insert_and_lookup(again, LIMIT).await.unwrap() {
        Inserted::Unchanged { article, canonical_id } => {
            assert_eq!(*article, before);
            assert_eq!(article.cluster_id, Some(assigned.cluster_id.clone()));
            assert_eq!(canonical_id, "early");
        }
        Inserted::New(_) => panic!("same content must be unchanged"),
    }
    assert_eq!(store.get("late").await.unwrap().unwrap(), before);
    assert_eq!(member_ids(&*store, &assigned.cluster_id).await, ["early", "late"]);

    // an unassigned article is its own canonical
    store.insert_and_lookup(article("alone", 3, 0, 0), LIMIT).await.unwrap();
    match store.insert_and_lookup(article("alone", 3, 0, 0), LIMIT).await.unwrap() {
        Inserted::Unchanged { article, canonical_id } => {
            assert_eq!(article.cluster_id, None);
            assert_eq!(canonical_id, "alone");
        }
        Inserted::New(_) => panic!("same content must be unchanged"),
    }
}

/// New content under an existing id replaces the old version as a delete would: old postings and the
/// old cluster membership go, and the new version is unassigned.
async fn new_content_replaces_the_old_version(store: Arc<dyn Store>) {
    let old_keys = article("a", 4, 0, 0).band_keys.clone();
    ingest(&*store, article("a", 4, 1_000, 1_000)).await;
    let assigned = ingest(&*store, article("b", 4, 2_000, 2_000)).await;
    assert_eq!(member_ids(&*store, &assigned.cluster_id).await, ["a", "b"]);

    let lookup = new_lookup(store.insert_and_lookup(article("a", 5, 3_000, 3_000), LIMIT).await.unwrap());
    assert!(lookup.candidates.is_empty(), "the new text shares nothing with b");
    assert_eq!(ids(&store.lookup(&old_keys, LIMIT).await.unwrap()), ["b"], "old postings are gone");
    assert_eq!(member_ids(&*store, &assigned.cluster_id).await, ["b"], "a left its old cluster");
    let a = store.get("a").await.unwrap().unwrap();
    assert_eq!(a.cluster_id, None);
    assert_eq!(a.ingested_us, 3_000);
    let new_keys = a.band_keys.clone();
    assert_eq!(ids(&store.lookup(&new_keys, LIMIT).await.unwrap()), ["a"]);
}

/// With no links and no cluster, assign founds one holding the article alone.
async fn assign_without_links_founds_a_cluster(store: Arc<dyn Store>) {
    let solo = article("solo", 6, 0, 0);
    store.insert_and_lookup(solo.clone(), LIMIT).await.unwrap();
    let assigned = store.assign(&solo, &[]).await.unwrap();
    assert_eq!(assigned.canonical_id, "solo");
    assert_eq!(cluster_of(&*store, "solo").await, assigned.cluster_id);
    let view = store.cluster(&assigned.cluster_id).await.unwrap().unwrap();
    assert_eq!(view.cluster_id, assigned.cluster_id);
    assert_eq!(view.members.len(), 1);
    assert_eq!(view.members[0].cluster_id, Some(assigned.cluster_id.clone()));

    // assigning again changes nothing
    assert_eq!(store.assign(&solo, &[]).await.unwrap(), assigned);
}

/// A link's cluster is joined, and the canonical is the earliest member; a link that no longer
/// exists is ignored (and never answered as the canonical, though it was published earliest).
async fn assign_with_a_link_joins_its_cluster(store: Arc<dyn Store>) {
    let first = ingest_linked(&*store, article("first", 7, 5_000, 5_000), &[]).await;
    let second = ingest_linked(&*store, article("second", 8, 1_000, 6_000), &["first", "missing"]).await;
    assert_eq!(second.cluster_id, first.cluster_id);
    assert_eq!(second.canonical_id, "second", "published earlier, so it is the canonical");
    assert_eq!(cluster_of(&*store, "second").await, first.cluster_id);
    assert_eq!(member_ids(&*store, &first.cluster_id).await, ["second", "first"]);
}

/// A linked article that is still unassigned joins the cluster too.
async fn assign_adopts_an_unassigned_link(store: Arc<dyn Store>) {
    let (racer_1, racer_2) = (article("racer-1", 9, 1_000, 1_000), article("racer-2", 9, 2_000, 2_000));
    store.insert_and_lookup(racer_1.clone(), LIMIT).await.unwrap();
    store.insert_and_lookup(racer_2.clone(), LIMIT).await.unwrap();
    let assigned = store.assign(&racer_2, &[&racer_1]).await.unwrap();
    assert_eq!(assigned.canonical_id, "racer-1");
    assert_eq!(cluster_of(&*store, "racer-1").await, assigned.cluster_id);
    assert_eq!(member_ids(&*store, &assigned.cluster_id).await, ["racer-1", "racer-2"]);

    // the adopted article's own assign finds it already placed
    assert_eq!(store.assign(&racer_1, &[]).await.unwrap(), assigned);
}

/// Merges keep the oldest cluster id; members report it, and absorbed ids (even absorbed twice over)
/// answer the survivor.
async fn merge_keeps_the_oldest_cluster(store: Arc<dyn Store>) {
    let oldest = ingest_linked(&*store, article("v", 10, 0, 0), &[]).await.cluster_id;
    tick().await;
    let older = ingest_linked(&*store, article("x", 11, 0, 0), &[]).await.cluster_id;
    tick().await;
    let newer = ingest_linked(&*store, article("y", 12, 0, 0), &[]).await.cluster_id;
    assert!(oldest < older && older < newer);

    let merged = ingest_linked(&*store, article("d", 13, 0, 0), &["y", "x"]).await;
    assert_eq!(merged.cluster_id, older);
    for id in ["x", "y", "d"] {
        assert_eq!(cluster_of(&*store, id).await, older, "{id} reports the survivor");
    }
    let view = store.cluster(&newer).await.unwrap().expect("an absorbed id answers the survivor");
    assert_eq!(view.cluster_id, older);
    assert_eq!(view.members.len(), 3);
    assert!(view.members.iter().all(|m| m.cluster_id.as_ref() == Some(&older)));

    // now the survivor is absorbed in turn: both absorbed ids lead to the oldest
    let final_merge = ingest_linked(&*store, article("e", 14, 0, 0), &["d", "v"]).await;
    assert_eq!(final_merge.cluster_id, oldest);
    for id in ["v", "x", "y", "d", "e"] {
        assert_eq!(cluster_of(&*store, id).await, oldest, "{id} reports the survivor");
    }
    for absorbed in [&older, &newer] {
        let view = store.cluster(absorbed).await.unwrap().expect("an absorbed id answers the survivor");
        assert_eq!(view.cluster_id, oldest);
        assert_eq!(view.members.len(), 5);
    }
    assert_eq!(store.cluster(&ClusterId("0000000000000000-00000000".into())).await.unwrap(), None);
}

/// Members are in canonical order: published, then ingested, then id (bytewise); negative times too.
async fn canonical_is_first_by_published_ingested_id(store: Arc<dyn Store>) {
    let first = ingest_linked(&*store, article("p", 15, 100, 5), &[]).await;
    let cases: [(&str, u64, Micros, Micros); 5] =
        [("s", 16, 200, 1), ("q", 17, 100, 3), ("r", 18, 100, 3), ("R", 19, 100, 3), ("t", 20, -5, 9)];
    for (id, seed, published, ingested) in cases {
        ingest_linked(&*store, article(id, seed, published, ingested), &["p"]).await;
    }
    assert_eq!(member_ids(&*store, &first.cluster_id).await, ["t", "R", "q", "r", "p", "s"]);
    assert_eq!(reassign(&*store, "s").await.canonical_id, "t");
}

/// The source tier comes before every time: a trusted article published last is the canonical, and
/// a known aggregator's is last whatever time it claims.
async fn source_tier_leads_the_canonical_order(store: Arc<dyn Store>) {
    let tiered = |id: &str, seed: u64, published: Micros, tier: SourceTier| StoredArticle {
        tier,
        ..article(id, seed, published, published)
    };
    let first = ingest_linked(&*store, tiered("plain", 22, 200, SourceTier::Ordinary), &[]).await;
    assert_eq!(first.canonical_id, "plain");
    let aggregated = ingest_linked(&*store, tiered("aggr", 23, -50, SourceTier::Aggregator), &["plain"]).await;
    assert_eq!(aggregated.canonical_id, "plain", "an aggregator's earlier claim does not win");
    let trusted = ingest_linked(&*store, tiered("wire", 24, 900, SourceTier::Trusted), &["plain"]).await;
    assert_eq!(trusted.canonical_id, "wire", "a trusted source wins whatever the times");
    assert_eq!(member_ids(&*store, &first.cluster_id).await, ["wire", "plain", "aggr"]);
    assert_eq!(store.get("aggr").await.unwrap().map(|a| a.tier), Some(SourceTier::Aggregator));
}

/// Deleting the canonical elects the next member in canonical order; the rest stays together.
async fn deleting_the_canonical_elects_the_next(store: Arc<dyn Store>) {
    let a = article("a", 21, 1_000, 1_000);
    let keys = a.band_keys.clone();
    ingest(&*store, a).await;
    ingest(&*store, article("b", 21, 2_000, 2_000)).await;
    let assigned = ingest(&*store, article("c", 21, 3_000, 3_000)).await;
    assert_eq!(assigned.canonical_id, "a");

    let deleted = store.delete("a").await.unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.canonical_id.as_deref(), Some("b"));
    assert_eq!(store.get("a").await.unwrap(), None);
    assert_eq!(ids(&store.lookup(&keys, LIMIT).await.unwrap()), ["b", "c"], "its postings are gone");
    assert_eq!(member_ids(&*store, &assigned.cluster_id).await, ["b", "c"]);
    assert_eq!(reassign(&*store, "c").await.canonical_id, "b");
}

/// An unknown id is not an error.
async fn deleting_an_unknown_id_deletes_nothing(store: Arc<dyn Store>) {
    let deleted = store.delete("never-stored").await.unwrap();
    assert!(!deleted.deleted);
    assert_eq!(deleted.canonical_id, None);
    ingest(&*store, article("once", 22, 0, 0)).await;
    assert!(store.delete("once").await.unwrap().deleted);
    assert!(!store.delete("once").await.unwrap().deleted, "a second delete finds nothing");
}

/// A cluster without members is gone; an unassigned article deletes without a canonical.
async fn deleting_the_last_member_removes_the_cluster(store: Arc<dyn Store>) {
    let assigned = ingest(&*store, article("last", 23, 0, 0)).await;
    let deleted = store.delete("last").await.unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.canonical_id, None);
    assert_eq!(store.cluster(&assigned.cluster_id).await.unwrap(), None);

    store.insert_and_lookup(article("pending", 24, 0, 0), LIMIT).await.unwrap();
    let deleted = store.delete("pending").await.unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.canonical_id, None);
}

/// Assigning an article that does not exist (never inserted, or deleted meanwhile) is `NotFound`.
async fn assign_of_an_unknown_id_is_not_found(store: Arc<dyn Store>) {
    let outcome = store.assign(&article("ghost", 25, 0, 0), &[]).await;
    assert!(matches!(outcome, Err(Error::NotFound { ref id, .. }) if id == "ghost"), "{outcome:?}");

    let gone = article("gone", 25, 0, 0);
    store.insert_and_lookup(gone.clone(), LIMIT).await.unwrap();
    store.delete("gone").await.unwrap();
    let outcome = store.assign(&gone, &[]).await;
    assert!(matches!(outcome, Err(Error::NotFound { .. })), "{outcome:?}");
}

/// The limit keeps the candidates sharing the most keys, ties by id; one shared key is not enough.
async fn lookup_limit_keeps_the_most_shared_keys(store: Arc<dyn Store>) {
    let articles = [article("a", 26, 0, 0), article("b", 27, 0, 0), article("c", 28, 0, 0), article("d", 29, 0, 0)];
    let keys: Vec<Vec<u64>> = articles.iter().map(|a| a.band_keys.clone()).collect();
    let distinct: HashSet<u64> = keys.iter().flatten().copied().collect();
    assert_eq!(distinct.len(), keys.iter().map(Vec::len).sum::<usize>(), "the test texts share no key");
    for article in articles {
        ingest_linked(&*store, article, &[]).await;
    }
    // a: all its keys; b and d: two each; c: one
    let query: Vec<u64> = [&keys[0][..], &keys[3][..2], &keys[2][..1], &keys[1][..2]].concat();
    let all = store.lookup(&query, LIMIT).await.unwrap();
    assert_eq!(ids(&all), ["a", "b", "d"], "c shares a single key");
    let shared: Vec<u32> = all.candidates.iter().map(|c| c.shared_keys).collect();
    assert_eq!(shared, [keys[0].len() as u32, 2, 2]);
    assert_eq!(all.clusters.len(), 3);

    let limited = store.lookup(&query, 2).await.unwrap();
    assert_eq!(ids(&limited), ["a", "b"]);
    assert_eq!(limited.clusters.len(), 2, "heads only of the candidates kept");
    assert!(store.lookup(&query, 0).await.unwrap().candidates.is_empty());
    assert!(store.lookup(&[], LIMIT).await.unwrap().candidates.is_empty());
}

/// Every band key of an article is posted, also when two of them fall in one of the Redis stores'
/// posting buckets (which an insert reads and writes once for all its keys): the Redis stores bucket
/// a key by its tag and the top 16 bits of its value times 0x9E3779B9 (`record::band`), so these keys,
/// made from scrambled values `0x1234_0001` and `0x1234_0002` (`0x144C_BC89` is the multiplier's inverse),
/// share one bucket.
async fn keys_of_one_bucket_are_each_posted(store: Arc<dyn Store>) {
    let key = |scrambled: u32| band_key_scrambling_to(1, scrambled);
    let keys = vec![key(0x1234_0001), key(0x1234_0002), 0x2_0000_0003];
    let mut first = article("first", 44, 0, 0);
    first.band_keys = keys.clone();
    ingest_linked(&*store, first, &[]).await;
    let mut second = article("second", 45, 10, 10);
    second.band_keys = keys[..2].to_vec();
    let found = new_lookup(store.insert_and_lookup(second, LIMIT).await.unwrap());
    assert_eq!(ids(&found), ["first"]);
    assert_eq!(found.candidates[0].shared_keys, 2, "both keys of the shared bucket were posted");
    let both = store.lookup(&keys[..2], LIMIT).await.unwrap();
    assert_eq!(ids(&both), ["first", "second"]);
}

/// A band key whose value scrambles (see `record::band` in the Redis backend) to `scrambled`, so that
/// tests can put keys in one Redis posting bucket: the bucket is named by the top 16 bits.
fn band_key_scrambling_to(tag: u64, scrambled: u32) -> u64 {
    (tag << 32) | u64::from(scrambled.wrapping_mul(0x144C_BC89))
}

/// The band keys of article `n` of [`GROWN`]: two fields of one bucket, spread over the field's bits
/// so that the bucket's parts all fill.
fn grown_keys(n: u32) -> Vec<u64> {
    let field = n.wrapping_mul(439) % 0x8000;
    vec![band_key_scrambling_to(1, 0x1234_0000 | field), band_key_scrambling_to(1, 0x1234_8000 | field)]
}

/// Articles posted in one bucket by [`a_growing_bucket_keeps_every_key`]: 600 entries, past two
/// doublings of a Redis bucket (a part splits past 256 entries).
const GROWN: u32 = 300;

/// Ingests the [`GROWN`] articles, each with its two keys of one bucket.
async fn ingest_grown(store: &dyn Store) {
    for n in 0..GROWN {
        let article = StoredArticle { band_keys: grown_keys(n), ..article(&format!("grown-{n:03}"), 60, 0, 0) };
        ingest_linked(store, article, &[]).await;
    }
}

/// A bucket that many articles post in keeps finding each by its own keys, oldest first, as it grows
/// (on Redis, past its splits) and as articles leave it.
async fn a_growing_bucket_keeps_every_key(store: Arc<dyn Store>) {
    ingest_grown(&*store).await;
    for n in (0..GROWN).step_by(7) {
        let found = store.lookup(&grown_keys(n), LIMIT).await.unwrap();
        assert_eq!(ids(&found), [format!("grown-{n:03}")]);
        assert_eq!(found.candidates[0].shared_keys, 2);
    }
    for n in (0..GROWN).filter(|n| n % 2 == 0) {
        assert!(store.delete(&format!("grown-{n:03}")).await.unwrap().deleted);
    }
    for n in 0..GROWN {
        let found = store.lookup(&grown_keys(n), LIMIT).await.unwrap();
        let expected: Vec<String> = if n % 2 == 0 { vec![] } else { vec![format!("grown-{n:03}")] };
        assert_eq!(ids(&found), expected, "article {n}");
    }
}

/// A lookup reads at most `POSTINGS_READ_PER_KEY` articles of a key, the oldest: the article posted
/// after them is not found through it, those before still are.
async fn lookups_read_the_oldest_postings_of_a_key(store: Arc<dyn Store>) {
    const HOT: [u64; 2] = [0x1_0000_0001, 0x2_0000_0002];
    // ids descend as they are posted, so that the order of ids cannot stand in for the order of posting
    let posted = |n: usize| StoredArticle { band_keys: HOT.to_vec(), ..article(&format!("hot-{n:04}"), 31, 0, 0) };
    for i in 0..=POSTINGS_READ_PER_KEY {
        store.insert_and_lookup(posted(POSTINGS_READ_PER_KEY - i), 1).await.unwrap();
    }
    let found = store.lookup(&HOT, POSTINGS_READ_PER_KEY + 10).await.unwrap();
    assert_eq!(found.candidates.len(), POSTINGS_READ_PER_KEY);
    assert!(found.candidates.iter().all(|c| c.shared_keys == 2));
    assert!(!ids(&found).contains(&"hot-0000"), "the newest is past the bound");
    assert!(ids(&found).contains(&format!("hot-{POSTINGS_READ_PER_KEY:04}").as_str()), "the oldest is read");
}

/// Racing ingests of copies, each linking whatever it saw, end in one cluster: insert-then-look
/// guarantees that of any two, one sees the other.
async fn concurrent_ingests_of_copies_form_one_cluster(store: Arc<dyn Store>) {
    const TASKS: usize = 16;
    let base = text(30, WORDS);
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = store.clone();
        let text = format!("{base} Update {i}.");
        tasks.push(tokio::spawn(async move {
            let id = format!("copy-{i:02}");
            let record = stored_article(&id, &text, 1_000 + i as Micros, 1_000 + i as Micros);
            ingest(&*store, record).await
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let cluster_id = cluster_of(&*store, "copy-00").await;
    for i in 0..TASKS {
        assert_eq!(cluster_of(&*store, &format!("copy-{i:02}")).await, cluster_id);
    }
    let members = member_ids(&*store, &cluster_id).await;
    assert_eq!(members.len(), TASKS);
    assert_eq!(members[0], "copy-00");
}

/// The time-index buckets of the Redis stores: an hour (standalone) and a day (cluster). Test times sit on
/// both sides of their boundaries.
const HOUR: Micros = 3_600_000_000;
const DAY: Micros = 24 * HOUR;

/// Calls `expire` until it has nothing more (at most 1,000 calls); returns how many it removed in all.
async fn expire_all(store: &dyn Store, cutoff: Micros, limit: usize) -> usize {
    let mut removed = 0;
    for _ in 0..1_000 {
        let expired = store.expire(cutoff, limit).await.expect("expire");
        assert!(expired.removed <= limit, "removed {} with a limit of {limit}", expired.removed);
        removed += expired.removed;
        if !expired.more {
            return removed;
        }
    }
    panic!("expire({cutoff}, {limit}) still had more after 1,000 calls");
}

async fn stored(store: &dyn Store, id: &str) -> bool {
    store.get(id).await.expect("get").is_some()
}

/// Expiry removes every article published before the cutoff (negative times, earlier days and hours, a
/// microsecond before, unassigned ones) and nothing at or after it, postings included.
async fn expire_removes_exactly_what_was_published_before_the_cutoff(store: Arc<dyn Store>) {
    // in the middle of an hour (and of a day)
    let cutoff = 10 * DAY + 5 * HOUR + 30;
    let before = [
        ("ancient", -3 * DAY - 7),
        ("day-before", 9 * DAY + 1),
        ("hour-before", cutoff - HOUR),
        ("just-before", cutoff - 1),
    ];
    let after =
        [("at-cutoff", cutoff), ("just-after", cutoff + 1), ("next-hour", cutoff + HOUR), ("next-day", cutoff + DAY)];
    for (seed, (id, published)) in (50..).zip(before.iter().chain(&after)) {
        ingest_linked(&*store, article(id, seed, *published, *published), &[]).await;
    }
    store.insert_and_lookup(article("pending", 60, cutoff - 10, cutoff - 10), LIMIT).await.unwrap();
    let before_keys = article("x", 53, 0, 0).band_keys.clone();
    let after_keys = article("x", 54, 0, 0).band_keys.clone();

    assert_eq!(expire_all(&*store, cutoff, LIMIT).await, before.len() + 1);
    for (id, _) in before.iter().chain(&[("pending", 0)]) {
        assert!(!stored(&*store, id).await, "{id} was published before the cutoff");
    }
    for (id, _) in &after {
        assert!(stored(&*store, id).await, "{id} was not published before the cutoff");
    }
    assert!(store.lookup(&before_keys, LIMIT).await.unwrap().candidates.is_empty(), "postings are gone");
    assert_eq!(ids(&store.lookup(&after_keys, LIMIT).await.unwrap()), ["at-cutoff"]);

    // nothing left before this cutoff; a microsecond later takes the article at the cutoff
    assert_eq!(store.expire(cutoff, LIMIT).await.unwrap(), Expired { removed: 0, more: false });
    assert_eq!(expire_all(&*store, cutoff + 1, LIMIT).await, 1);
    assert!(!stored(&*store, "at-cutoff").await);
    assert!(stored(&*store, "just-after").await);
    assert_eq!(expire_all(&*store, cutoff + DAY + 1, LIMIT).await, 3);
    assert_eq!(store.expire(i64::MAX, LIMIT).await.unwrap(), Expired { removed: 0, more: false });
}

/// A call removes at most its limit; repeated calls remove the rest.
async fn expire_respects_its_limit(store: Arc<dyn Store>) {
    for i in 0..7 {
        let id = format!("old-{i}");
        ingest_linked(&*store, article(&id, 70 + i as u64, i * HOUR / 2, 0), &[]).await;
    }
    ingest_linked(&*store, article("young", 80, 5 * HOUR, 0), &[]).await;
    let first = store.expire(4 * HOUR, 2).await.unwrap();
    assert!(first.removed <= 2 && first.more, "{first:?}");
    let mut left = 0;
    for i in 0..7 {
        left += usize::from(stored(&*store, &format!("old-{i}")).await);
    }
    assert_eq!(left, 7 - first.removed);
    assert_eq!(expire_all(&*store, 4 * HOUR, 2).await, left);
    for i in 0..7 {
        assert!(!stored(&*store, &format!("old-{i}")).await, "old-{i}");
    }
    assert!(stored(&*store, "young").await);
    assert_eq!(store.expire(4 * HOUR, 0).await.unwrap().removed, 0);
}

/// An expired canonical hands its cluster to the next member, as a delete does.
async fn expiring_the_canonical_elects_the_next(store: Arc<dyn Store>) {
    let a = article("a", 90, 1_000, 1_000);
    let keys = a.band_keys.clone();
    ingest(&*store, a).await;
    ingest(&*store, article("b", 90, 2_000, 2_000)).await;
    let assigned = ingest(&*store, article("c", 90, 3_000, 3_000)).await;
    assert_eq!(assigned.canonical_id, "a");

    assert_eq!(expire_all(&*store, 1_500, LIMIT).await, 1);
    assert!(!stored(&*store, "a").await);
    assert_eq!(member_ids(&*store, &assigned.cluster_id).await, ["b", "c"]);
    for id in ["b", "c"] {
        assert_eq!(cluster_of(&*store, id).await, assigned.cluster_id);
    }
    assert_eq!(ids(&store.lookup(&keys, LIMIT).await.unwrap()), ["b", "c"]);
    assert_eq!(reassign(&*store, "c").await.canonical_id, "b");
}

/// A cluster whose members all expire is gone.
async fn expiring_every_member_removes_the_cluster(store: Arc<dyn Store>) {
    let a = article("a", 91, 1_000, 1_000);
    let keys = a.band_keys.clone();
    ingest(&*store, a).await;
    let assigned = ingest(&*store, article("b", 91, 2 * DAY, 2 * DAY)).await;
    assert_eq!(member_ids(&*store, &assigned.cluster_id).await, ["a", "b"]);
    assert_eq!(expire_all(&*store, 3 * DAY, LIMIT).await, 2);
    assert_eq!(store.cluster(&assigned.cluster_id).await.unwrap(), None);
    assert!(store.lookup(&keys, LIMIT).await.unwrap().candidates.is_empty());
}

/// Expiry goes by the version stored now: one re-ingested with a later time stays, one re-ingested
/// with an earlier time goes, a deleted article is not counted, and a version written twice at one
/// time is removed once.
async fn expire_goes_by_the_current_version(store: Arc<dyn Store>) {
    let cutoff = 5 * HOUR;
    ingest_linked(&*store, article("renewed", 100, 1_000, 1_000), &[]).await;
    ingest_linked(&*store, article("renewed", 101, 9 * HOUR, 9 * HOUR), &[]).await;
    ingest_linked(&*store, article("backdated", 102, 9 * HOUR, 9 * HOUR), &[]).await;
    ingest_linked(&*store, article("backdated", 103, 1_000, 1_000), &[]).await;
    ingest_linked(&*store, article("deleted", 104, 1_000, 1_000), &[]).await;
    assert!(store.delete("deleted").await.unwrap().deleted);
    ingest_linked(&*store, article("rewritten", 105, 2_000, 2_000), &[]).await;
    ingest_linked(&*store, article("rewritten", 106, 2_000, 3_000), &[]).await;

    assert_eq!(expire_all(&*store, cutoff, LIMIT).await, 2, "backdated and rewritten");
    assert!(!stored(&*store, "backdated").await);
    assert!(!stored(&*store, "rewritten").await);
    let renewed = store.get("renewed").await.unwrap().expect("re-ingested after the cutoff");
    assert_eq!(renewed.published_us, 9 * HOUR);
    assert_eq!(ids(&store.lookup(&renewed.band_keys, LIMIT).await.unwrap()), ["renewed"]);

    assert_eq!(expire_all(&*store, 10 * HOUR, LIMIT).await, 1, "only renewed is left");
    assert!(!stored(&*store, "renewed").await);
}

/// Expiring twice, or from two callers at once (as two replicas would), removes each article once.
async fn expire_is_idempotent_and_safe_to_run_concurrently(store: Arc<dyn Store>) {
    // six clusters of two, over two days and across hours
    for pair in 0..6u64 {
        for (copy, offset) in [("a", 0), ("b", 7)] {
            let published = pair as Micros * 5 * HOUR + offset;
            ingest(&*store, article(&format!("pair-{pair}-{copy}"), 110 + pair, published, published)).await;
        }
    }
    ingest(&*store, article("kept", 120, 40 * HOUR, 40 * HOUR)).await;
    let cutoff = 30 * HOUR;
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { expire_all(&*store, cutoff, 3).await })
        })
        .collect();
    let mut removed = 0;
    for caller in callers {
        removed += caller.await.expect("caller");
    }
    assert_eq!(removed, 12, "each article removed once");
    assert_eq!(store.expire(cutoff, LIMIT).await.unwrap(), Expired { removed: 0, more: false });
    for pair in 0..6 {
        for copy in ["a", "b"] {
            assert!(!stored(&*store, &format!("pair-{pair}-{copy}")).await);
        }
    }
    let kept = cluster_of(&*store, "kept").await;
    assert_eq!(member_ids(&*store, &kept).await, ["kept"]);
}

// ---------------------------------------------------------------------------------------------------
// moderation verdicts

/// A cluster of `ids`, each with a text of its own and published in that order, linked to the first.
async fn cluster_of_ids(store: &dyn Store, ids: &[&str], seed: u64) -> ClusterId {
    let mut cluster = None;
    for (n, id) in ids.iter().enumerate() {
        let links: &[&str] = if n == 0 { &[] } else { &ids[..1] };
        let published = 1_000 * (n as Micros + 1);
        let assigned = ingest_linked(store, article(id, seed + n as u64, published, published), links).await;
        cluster.get_or_insert(assigned.cluster_id);
    }
    cluster.expect("at least one id")
}

async fn stored_now(store: &dyn Store, id: &str) -> StoredArticle {
    store.get(id).await.expect("get").unwrap_or_else(|| panic!("{id} is stored"))
}

fn pair_of(pairs: &[(ClusterId, ClusterId)], a: &ClusterId, b: &ClusterId) -> bool {
    pairs.iter().any(|(x, y)| (x == a && y == b) || (x == b && y == a))
}

/// A split moves exactly the members named that are still in the cluster (not one that left), both
/// sides elect their canonical, the two are kept apart (and no other pair is), and repeating the
/// split changes nothing.
async fn a_split_moves_its_members_and_keeps_the_clusters_apart(store: Arc<dyn Store>) {
    let from = cluster_of_ids(&*store, &["a", "b", "c", "d", "gone"], 400).await;
    let moving = [stored_now(&*store, "c").await, stored_now(&*store, "d").await, stored_now(&*store, "gone").await];
    store.delete("gone").await.expect("delete");
    tick().await;
    let into = ClusterId::new(dedupd::domain::now_micros(), "c");
    let refs: Vec<&StoredArticle> = moving.iter().collect();
    let split = store.split(&from, &refs, &into).await.expect("split");
    assert_eq!(split.from, from);
    assert_eq!(split.into, into);
    assert_eq!(split.from_canonical.as_deref(), Some("a"));
    assert_eq!(split.into_canonical.as_deref(), Some("c"));
    assert_eq!(member_ids(&*store, &from).await, ["a", "b"]);
    assert_eq!(member_ids(&*store, &into).await, ["c", "d"]);
    for (id, cluster) in [("a", &from), ("b", &from), ("c", &into), ("d", &into)] {
        assert_eq!(&cluster_of(&*store, id).await, cluster, "{id}");
    }
    assert_eq!(store.get("gone").await.unwrap(), None, "a removed article is not brought back");
    let other = ingest_linked(&*store, article("other", 409, 0, 0), &[]).await.cluster_id;
    let pairs = store.kept_apart(&[from.clone(), into.clone(), other.clone()]).await.expect("kept apart");
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert!(pair_of(&pairs, &from, &into));
    assert!(
        store.kept_apart(&[from.clone(), from.clone()]).await.unwrap().is_empty(),
        "a cluster is never apart from itself"
    );

    let again = store.split(&from, &[], &into).await.expect("a repeated split");
    assert_eq!(again, split);
    assert_eq!(member_ids(&*store, &from).await, ["a", "b"]);
    assert_eq!(member_ids(&*store, &into).await, ["c", "d"]);
    // the lookup shows the new cluster's own canonical
    let keys = article("x", 402, 0, 0).band_keys.clone();
    let lookup = store.lookup(&keys, LIMIT).await.expect("lookup");
    let head = lookup.clusters.iter().find(|h| h.cluster_id == into).expect("the new cluster is a head");
    assert_eq!(head.canonical.meta.id, "c");
}

async fn a_split_of_an_unknown_cluster_is_not_found(store: Arc<dyn Store>) {
    let moving = article("m", 410, 0, 0);
    let unknown = ClusterId::new(1, "nobody");
    let error = store.split(&unknown, &[&moving], &ClusterId::new(2, "m")).await.expect_err("an unknown cluster");
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let error = store.join(&unknown, &unknown).await.expect_err("an unknown cluster");
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

/// A cluster merged into another passes its apartness on: the survivor is kept apart from what the
/// absorbed one was, and the absorbed id still answers for it.
async fn apartness_follows_merges(store: Arc<dyn Store>) {
    let older = ingest_linked(&*store, article("x", 420, 0, 0), &[]).await.cluster_id;
    tick().await;
    let from = cluster_of_ids(&*store, &["a", "b"], 421).await;
    tick().await;
    let into = ClusterId::new(dedupd::domain::now_micros(), "b");
    store.split(&from, &[&stored_now(&*store, "b").await], &into).await.expect("split");
    // a copy of both x and b unites their clusters: the older (x's) survives
    let united = ingest_linked(&*store, article("y", 425, 0, 0), &["x", "b"]).await;
    assert_eq!(united.cluster_id, older);
    let pairs = store.kept_apart(&[older.clone(), from.clone()]).await.expect("kept apart");
    assert!(pair_of(&pairs, &older, &from), "the survivor inherits the apartness: {pairs:?}");
    let pairs = store.kept_apart(&[into.clone(), from.clone()]).await.expect("kept apart");
    assert!(pair_of(&pairs, &into, &from), "the absorbed id resolves to the survivor: {pairs:?}");
    assert!(store.kept_apart(&[into.clone(), older.clone()]).await.unwrap().is_empty(), "one live cluster");
}

/// Joining two clusters kept apart lifts the apartness and unites them into the older one.
async fn join_lifts_apartness_and_unites(store: Arc<dyn Store>) {
    let from = cluster_of_ids(&*store, &["a", "b", "c"], 430).await;
    tick().await;
    let into = ClusterId::new(dedupd::domain::now_micros(), "c");
    store.split(&from, &[&stored_now(&*store, "c").await], &into).await.expect("split");
    let joined = store.join(&into, &from).await.expect("join");
    assert_eq!(joined, Assigned { cluster_id: from.clone(), canonical_id: "a".into() });
    assert_eq!(member_ids(&*store, &from).await, ["a", "b", "c"]);
    assert_eq!(cluster_of(&*store, "c").await, from);
    assert!(store.kept_apart(&[from.clone(), into.clone()]).await.unwrap().is_empty());
    // joining one cluster with itself changes nothing
    assert_eq!(store.join(&from, &into).await.expect("join again"), joined);
}

/// A pinned member is its cluster's canonical for every reader (the cluster, a lookup's head,
/// assign) whatever joins later, until another member is pinned or it is removed; a pin of a record
/// that is not the stored version pins nothing.
async fn a_pinned_member_is_the_canonical_until_removed(store: Arc<dyn Store>) {
    let cluster = cluster_of_ids(&*store, &["a", "b", "c"], 440).await;
    let pinned = store.pin(&stored_now(&*store, "c").await).await.expect("pin");
    assert_eq!(pinned, Some(Assigned { cluster_id: cluster.clone(), canonical_id: "c".into() }));
    assert_eq!(member_ids(&*store, &cluster).await, ["c", "a", "b"]);
    let keys = article("x", 440, 0, 0).band_keys.clone();
    let lookup = store.lookup(&keys, LIMIT).await.expect("lookup");
    assert_eq!(lookup.clusters.iter().map(|h| h.canonical.meta.id.as_str()).collect::<Vec<_>>(), ["c"]);
    // an earlier article joining does not take over
    let joined = ingest_linked(&*store, article("early", 443, -5, -5), &["a"]).await;
    assert_eq!(joined.canonical_id, "c");
    // pinning another member unpins the first
    store.pin(&stored_now(&*store, "b").await).await.expect("pin b");
    assert_eq!(member_ids(&*store, &cluster).await, ["b", "early", "a", "c"]);
    // a stale version pins nothing
    let stale = StoredArticle { ingested_us: 77, ..stored_now(&*store, "a").await };
    assert_eq!(store.pin(&stale).await.expect("pin a stale version"), None);
    // removing the pinned member brings back the automatic order
    assert_eq!(store.delete("b").await.expect("delete").canonical_id.as_deref(), Some("early"));
    assert_eq!(member_ids(&*store, &cluster).await, ["early", "a", "c"]);
    // a cluster of one can be pinned, and keeps its pin when others join
    let alone = ingest_linked(&*store, article("alone", 445, 50, 50), &[]).await.cluster_id;
    store.pin(&stored_now(&*store, "alone").await).await.expect("pin alone");
    let joined = ingest_linked(&*store, article("earlier", 446, -9, -9), &["alone"]).await;
    assert_eq!((joined.cluster_id, joined.canonical_id.as_str()), (alone.clone(), "alone"));
    assert_eq!(member_ids(&*store, &alone).await, ["alone", "earlier"]);
}

/// Pins go with their articles: a split carries a pinned member to the new cluster, and when two
/// clusters with pins merge, the pinned member first in canonical order leads.
async fn pins_go_with_their_articles_through_merges_and_splits(store: Arc<dyn Store>) {
    let first = cluster_of_ids(&*store, &["a", "b"], 450).await;
    tick().await;
    let second = cluster_of_ids(&*store, &["c", "d"], 460).await;
    store.pin(&stored_now(&*store, "b").await).await.expect("pin b");
    store.pin(&stored_now(&*store, "d").await).await.expect("pin d");
    // b (published 2000 in its cluster) and d (2000 too, ingested 2000): ids break the tie
    let merged = ingest_linked(&*store, article("e", 470, 9_000, 9_000), &["a", "c"]).await;
    assert_eq!((merged.cluster_id.clone(), merged.canonical_id.as_str()), (first.clone(), "b"));
    assert_eq!(member_ids(&*store, &first).await, ["b", "d", "a", "c", "e"]);
    // the leading pin leaves: the other pin leads
    store.delete("b").await.expect("delete");
    assert_eq!(member_ids(&*store, &second).await, ["d", "a", "c", "e"]);
    // a split carries d's pin along
    tick().await;
    let into = ClusterId::new(dedupd::domain::now_micros(), "d");
    let moving = [stored_now(&*store, "d").await, stored_now(&*store, "c").await];
    let split = store.split(&first, &moving.iter().collect::<Vec<_>>(), &into).await.expect("split");
    assert_eq!(split.into_canonical.as_deref(), Some("d"));
    assert_eq!(split.from_canonical.as_deref(), Some("a"));
    assert_eq!(member_ids(&*store, &into).await, ["d", "c"]);
}

/// The log gives each verdict the next `seq` and pages newest first by it; every field is kept.
async fn the_verdict_log_pages_newest_first(store: Arc<dyn Store>) {
    use dedupd::domain::{Verdict, VerdictKind};
    assert!(store.verdicts(None, 10).await.expect("an empty log").is_empty());
    let verdict = |n: u64| Verdict {
        seq: 0,
        kind: [VerdictKind::Distinct, VerdictKind::Duplicate, VerdictKind::Canonical][n as usize % 3],
        article_id: format!("article-{n}"),
        other_id: format!("other-{n}"),
        cluster_id: ClusterId::new(n as Micros, "x"),
        from_cluster_id: n.is_multiple_of(2).then(|| ClusterId::new(7, "y")),
        reviewer: "moderator@example".into(),
        reason: format!("reason {n}: «spun» ✓"),
        at: 1_000 + n as Micros,
    };
    for n in 1..=5 {
        let recorded = store.record_verdict(verdict(n)).await.expect("record");
        assert_eq!(recorded, Verdict { seq: n, ..verdict(n) });
    }
    let seqs = |page: Vec<Verdict>| page.into_iter().map(|v| v.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.verdicts(None, 2).await.unwrap()), [5, 4]);
    assert_eq!(seqs(store.verdicts(Some(4), 2).await.unwrap()), [3, 2]);
    assert_eq!(seqs(store.verdicts(Some(2), 10).await.unwrap()), [1]);
    assert_eq!(seqs(store.verdicts(Some(1), 10).await.unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(store.verdicts(Some(99), 10).await.unwrap()), [5, 4, 3, 2, 1]);
    assert_eq!(store.verdicts(None, 10).await.unwrap()[2], Verdict { seq: 3, ..verdict(3) });
}

// kept text

/// Bytes no text could be mistaken for: every store must hand them back exactly.
fn kept(id: &str) -> Vec<u8> {
    let mut text = format!("kept text of {id}: \u{e9}\u{4e2d} ").into_bytes();
    text.extend([0u8, 0xFF, 0x28, 0xB5]);
    text
}

/// A text is kept for the version with its content hash, stored and unassigned or assigned, and read
/// back byte for byte; for an unknown id, or another content hash, nothing is written.
async fn a_text_is_kept_for_the_stored_version_only(store: Arc<dyn Store>) {
    let record = article("a", 90, 0, 0);
    store.insert_and_lookup(record.clone(), LIMIT).await.expect("insert");
    assert_eq!(store.text("a").await.unwrap(), None, "nothing kept yet");
    assert!(store.put_text("a", record.content_hash, &kept("a")).await.unwrap(), "unassigned, stored");
    assert_eq!(store.text("a").await.unwrap(), Some(kept("a")));
    store.assign(&record, &[]).await.expect("assign");
    assert_eq!(store.text("a").await.unwrap(), Some(kept("a")), "the assignment keeps it");
    assert!(store.put_text("a", record.content_hash, b"again").await.unwrap(), "replaced");
    assert_eq!(store.text("a").await.unwrap().as_deref(), Some(&b"again"[..]));

    assert!(!store.put_text("a", record.content_hash ^ 1, b"other version").await.unwrap());
    assert_eq!(store.text("a").await.unwrap().as_deref(), Some(&b"again"[..]), "another version writes nothing");
    assert!(!store.put_text("nobody", 7, b"orphan").await.unwrap());
    assert_eq!(store.text("nobody").await.unwrap(), None, "no text without its article");
}

/// A delete removes the text with the article.
async fn a_kept_text_goes_with_a_delete(store: Arc<dyn Store>) {
    let record = article("a", 91, 0, 0);
    ingest_linked(&*store, record.clone(), &[]).await;
    assert!(store.put_text("a", record.content_hash, &kept("a")).await.unwrap());
    assert!(store.delete("a").await.unwrap().deleted);
    assert_eq!(store.text("a").await.unwrap(), None);
    // an article of that id ingested again starts without a text
    let again = article("a", 91, 0, 0);
    ingest_linked(&*store, again.clone(), &[]).await;
    assert_eq!(store.text("a").await.unwrap(), None);
}

/// A new version of the article removes the old version's text as it removes the old record; the
/// new version's text is kept as usual.
async fn a_kept_text_goes_with_a_replacement(store: Arc<dyn Store>) {
    let first = article("a", 92, 0, 0);
    ingest_linked(&*store, first.clone(), &[]).await;
    assert!(store.put_text("a", first.content_hash, b"first version").await.unwrap());
    let second = article("a", 93, 0, 0);
    new_lookup(store.insert_and_lookup(second.clone(), LIMIT).await.expect("insert"));
    assert_eq!(store.text("a").await.unwrap(), None, "the first version's text went with it");
    assert!(!store.put_text("a", first.content_hash, b"first version").await.unwrap(), "too late");
    assert!(store.put_text("a", second.content_hash, b"second version").await.unwrap());
    store.assign(&second, &[]).await.expect("assign");
    assert_eq!(store.text("a").await.unwrap().as_deref(), Some(&b"second version"[..]));
}

/// Expiry removes the texts of the articles it removes, and only theirs.
async fn a_kept_text_goes_with_expiry(store: Arc<dyn Store>) {
    let (old, young) = (article("old", 94, HOUR, HOUR), article("young", 95, 3 * DAY, 3 * DAY));
    for record in [&old, &young] {
        ingest_linked(&*store, record.clone(), &[]).await;
        assert!(store.put_text(&record.meta.id, record.content_hash, &kept(&record.meta.id)).await.unwrap());
    }
    assert_eq!(expire_all(&*store, 2 * DAY, LIMIT).await, 1);
    assert_eq!(store.text("old").await.unwrap(), None);
    assert_eq!(store.text("young").await.unwrap(), Some(kept("young")));
}

// ---------------------------------------------------------------------------------------------------
// embedded only

/// Articles, clusters and forwards survive a close and reopen.
#[tokio::test]
async fn embedded_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (merged_away, survivor) = {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let old = ingest_linked(&store, article("a", 31, 0, 0), &[]).await.cluster_id;
        tick().await;
        let young = ingest_linked(&store, article("b", 32, 0, 0), &[]).await.cluster_id;
        ingest_linked(&store, article("c", 33, 0, 0), &["b", "a"]).await;
        (young, old)
    };
    let store = EmbeddedStore::open(dir.path()).unwrap();
    for id in ["a", "b", "c"] {
        assert_eq!(cluster_of(&store, id).await, survivor);
    }
    let view = store.cluster(&merged_away).await.unwrap().expect("the forward survives");
    assert_eq!(view.cluster_id, survivor);
    assert_eq!(view.members.len(), 3);
    let keys = article("x", 31, 0, 0).band_keys.clone();
    assert_eq!(ids(&store.lookup(&keys, LIMIT).await.unwrap()), ["a"], "postings are rebuilt");
}

/// A file of the previous layout (articles by id, no layout number) is converted when opened: its
/// articles, clusters (through forwards), pins and verdicts read back, and it takes new articles.
#[tokio::test]
async fn embedded_converts_a_file_of_the_previous_layout() {
    use redb::{Database, TableDefinition};
    const ARTICLES: TableDefinition<&str, &[u8]> = TableDefinition::new("articles");
    const FORWARDS: TableDefinition<&str, &str> = TableDefinition::new("forwards");
    const PINS: TableDefinition<&str, ()> = TableDefinition::new("pins");
    const VERDICTS: TableDefinition<u64, &[u8]> = TableDefinition::new("verdicts");

    let dir = tempfile::tempdir().unwrap();
    let (survivor, merged_away, alone) = (ClusterId::new(1, "a"), ClusterId::new(2, "b"), ClusterId::new(3, "c"));
    let verdict = dedupd::domain::Verdict {
        seq: 1,
        kind: dedupd::domain::VerdictKind::Canonical,
        article_id: "b".into(),
        other_id: String::new(),
        cluster_id: survivor.clone(),
        from_cluster_id: None,
        reviewer: "r".into(),
        reason: "the original".into(),
        at: 5,
    };
    {
        let db = Database::create(dir.path().join(dedupd::store::embedded::DATA_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut articles = txn.open_table(ARTICLES).unwrap();
            for (id, seed, cluster) in [("a", 61, &survivor), ("b", 61, &survivor), ("c", 62, &alone)] {
                let stored = StoredArticle { cluster_id: Some(cluster.clone()), ..article(id, seed, 10, 20) };
                articles.insert(id, postcard::to_stdvec(&stored).unwrap().as_slice()).unwrap();
            }
            // an ingest cut short: dropped at open
            articles.insert("cut", postcard::to_stdvec(&article("cut", 63, 10, 20)).unwrap().as_slice()).unwrap();
            txn.open_table(FORWARDS).unwrap().insert(merged_away.as_str(), survivor.as_str()).unwrap();
            txn.open_table(PINS).unwrap().insert("b", ()).unwrap();
            txn.open_table(VERDICTS).unwrap().insert(1, postcard::to_stdvec(&verdict).unwrap().as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    // converted, then reopened in the new layout with an article added
    for (round, alone_members) in [(0, &["c"][..]), (1, &["c", "d"][..])] {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(cluster_of(&store, "a").await, survivor);
        assert_eq!(member_ids(&store, &merged_away).await, ["b", "a"], "the pin and the forward read back");
        assert_eq!(member_ids(&store, &alone).await, alone_members);
        assert_eq!(store.get("cut").await.unwrap(), None);
        assert_eq!(store.verdicts(None, 10).await.unwrap(), std::slice::from_ref(&verdict));
        let keys = article("x", 62, 0, 0).band_keys.clone();
        assert_eq!(ids(&store.lookup(&keys, LIMIT).await.unwrap()), alone_members, "postings are rebuilt");
        if round == 0 {
            let joined = ingest_linked(&store, article("d", 62, 30, 40), &["c"]).await;
            assert_eq!(joined.cluster_id, alone);
        }
    }
}

/// Verdicts survive a close and reopen: a split's clusters and their apartness, a pin, the log.
#[tokio::test]
async fn embedded_verdicts_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (from, into) = {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let from = cluster_of_ids(&store, &["a", "b", "c"], 480).await;
        tick().await;
        let into = ClusterId::new(dedupd::domain::now_micros(), "c");
        store.split(&from, &[&stored_now(&store, "c").await], &into).await.expect("split");
        store.pin(&stored_now(&store, "b").await).await.expect("pin");
        let verdict = dedupd::domain::Verdict {
            seq: 0,
            kind: dedupd::domain::VerdictKind::Distinct,
            article_id: "c".into(),
            other_id: "a".into(),
            cluster_id: into.clone(),
            from_cluster_id: Some(from.clone()),
            reviewer: "r".into(),
            reason: "not a copy".into(),
            at: 5,
        };
        store.record_verdict(verdict).await.expect("record");
        (from, into)
    };
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(member_ids(&store, &from).await, ["b", "a"], "the pin survives");
    assert_eq!(member_ids(&store, &into).await, ["c"]);
    assert!(pair_of(&store.kept_apart(&[from.clone(), into.clone()]).await.unwrap(), &from, &into));
    let log = store.verdicts(None, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|v| (v.seq, v.article_id.as_str(), v.reason.as_str())).collect::<Vec<_>>(),
        [(1, "c", "not a copy")]
    );
    let next = store.record_verdict(log[0].clone()).await.unwrap();
    assert_eq!(next.seq, 2, "the log goes on after its last entry");
}

/// Kept texts are in the file: they survive a reopen, and an insert dropped at reopen (never
/// assigned, so never acknowledged) takes its text with it.
#[tokio::test]
async fn embedded_kept_texts_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let done = article("done", 96, 0, 0);
        ingest_linked(&store, done.clone(), &[]).await;
        assert!(store.put_text("done", done.content_hash, &kept("done")).await.unwrap());
        let cut_short = article("cut-short", 97, 0, 0);
        store.insert_and_lookup(cut_short.clone(), LIMIT).await.unwrap();
        assert!(store.put_text("cut-short", cut_short.content_hash, &kept("cut-short")).await.unwrap());
        // a delete waits for the journal, so both texts are on disk when the store closes
        assert!(!store.delete("nothing").await.unwrap().deleted);
        assert_eq!(store.text("cut-short").await.unwrap(), Some(kept("cut-short")));
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.text("done").await.unwrap(), Some(kept("done")));
    assert!(!stored(&store, "cut-short").await);
    assert_eq!(store.text("cut-short").await.unwrap(), None, "dropped with its insert");
}

/// Every store shows a starting engine its most recently published articles, oldest of them first
/// (the boilerplate model's warm-up, `Engine::warm_up`): the embedded store after a reopen, Redis and
/// Redis Cluster to a new connection, as a restarted replica sees them, skipping a deleted article
/// and showing a re-ingested one once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_visit_their_recent_articles() {
    let dir = tempfile::tempdir().unwrap();
    let memory = MemoryStore::new();
    let redis_server = shared_redis();
    let redis_cluster = tokio::task::spawn_blocking(shared_cluster).await.expect("start the cluster");
    // days apart, so that the time indexes of Redis (hours) and Redis Cluster (days per slot) are read
    // across buckets
    let articles = [("late", 41, 3 * DAY), ("early", 42, HOUR), ("middle", 43, 2 * DAY), ("gone", 44, 4 * DAY)];
    {
        let embedded = EmbeddedStore::open(dir.path()).unwrap();
        let redis = RedisStore::connect_with_namespace(&redis_server.url(), "visit").await.unwrap();
        let cluster = RedisClusterStore::connect_with_namespace(&redis_cluster.url(), "visit").await.unwrap();
        for store in [&embedded as &dyn Store, &memory, &redis, &cluster] {
            for (id, seed, published) in articles {
                ingest(store, article(id, seed, published, published)).await;
            }
            // "early" again, with new content: listed twice in Redis's time index, shown once
            ingest(store, article("early", 45, HOUR, HOUR)).await;
            assert!(store.delete("gone").await.unwrap().deleted);
        }
    }
    let reopened = EmbeddedStore::open(dir.path()).unwrap();
    let redis = RedisStore::connect_with_namespace(&redis_server.url(), "visit").await.unwrap();
    let cluster = RedisClusterStore::connect_with_namespace(&redis_cluster.url(), "visit").await.unwrap();
    for store in [&reopened as &dyn Store, &memory, &redis, &cluster] {
        let mut seen = Vec::new();
        store.visit_recent(2, &mut |article| seen.push(article.meta.id.clone())).await.unwrap();
        let latest: &[&str] = if store.kind().starts_with("redis") { &["late"] } else { &["middle", "late"] };
        assert_eq!(seen, latest, "{}: the deleted article's entry counts on redis", store.kind());
        let mut seen = Vec::new();
        store.visit_recent(3, &mut |article| seen.push(article.meta.id.clone())).await.unwrap();
        let latest: &[&str] =
            if store.kind().starts_with("redis") { &["middle", "late"] } else { &["early", "middle", "late"] };
        assert_eq!(seen, latest, "{}: oldest first", store.kind());
        let mut all = Vec::new();
        store.visit_recent(100, &mut |article| all.push(article.meta.id.clone())).await.unwrap();
        assert_eq!(all, ["early", "middle", "late"], "{}", store.kind());
    }
}

/// Expired articles are journaled as removals: a reopened store does not bring them back, and its
/// rebuilt postings and clusters do not name them.
#[tokio::test]
async fn embedded_expired_articles_stay_gone_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cluster_id = {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        ingest(&store, article("old", 130, 1_000, 1_000)).await;
        let cluster_id = ingest(&store, article("new", 130, 3 * DAY, 3 * DAY)).await.cluster_id;
        ingest(&store, article("older", 131, -5, -5)).await;
        assert_eq!(expire_all(&store, DAY, LIMIT).await, 2);
        cluster_id
    };
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(!stored(&store, "old").await);
    assert!(!stored(&store, "older").await);
    assert_eq!(member_ids(&store, &cluster_id).await, ["new"]);
    let keys = article("x", 130, 0, 0).band_keys.clone();
    assert_eq!(ids(&store.lookup(&keys, LIMIT).await.unwrap()), ["new"]);
    assert_eq!(store.expire(DAY, LIMIT).await.unwrap(), Expired { removed: 0, more: false });
}

/// Two stores on one directory would corrupt it: the second open fails, naming the directory.
#[tokio::test]
async fn embedded_second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedStore::open(dir.path()).unwrap();
    match EmbeddedStore::open(dir.path()) {
        Err(Error::Unavailable(message)) => {
            assert!(message.contains(&dir.path().display().to_string()), "{message}");
        }
        Err(other) => panic!("expected unavailable, got {other:?}"),
        Ok(_) => panic!("a second open of the same directory must fail"),
    }
}

// ---------------------------------------------------------------------------------------------------
// redis only

/// After a Redis restart (which loses the data: the test server persists nothing) the store
/// reconnects by itself: at most the first calls fail, and only as unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_reconnects_after_a_restart() {
    // a private server: this test restarts it
    let mut server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).await.unwrap();
    ingest(&store, article("before", 34, 0, 0)).await;

    server.restart();
    let mut recovered = false;
    let after = article("after", 35, 0, 0);
    for _ in 0..50 {
        match store.insert_and_lookup(after.clone(), LIMIT).await {
            Ok(_) => {
                recovered = true;
                break;
            }
            Err(Error::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(other) => panic!("a lost connection must be unavailable, got {other:?}"),
        }
    }
    assert!(recovered, "the store did not reconnect");
    // scripts were flushed with the restart: every call must reload its own
    let assigned = store.assign(&after, &[]).await.unwrap();
    assert_eq!(store.get("after").await.unwrap().unwrap().cluster_id, Some(assigned.cluster_id.clone()));
    assert_eq!(store.cluster(&assigned.cluster_id).await.unwrap().unwrap().members.len(), 1);
    assert!(store.lookup(&[1, 2, 3], LIMIT).await.unwrap().candidates.is_empty());
    assert!(store.delete("after").await.unwrap().deleted);
    assert_eq!(store.get("before").await.unwrap(), None, "the restarted test server starts empty");
}

/// Nothing listening: `connect` fails quickly, as unavailable, naming the address.
#[tokio::test]
async fn redis_connect_to_a_closed_port_fails_fast() {
    let port = free_port();
    let started = Instant::now();
    let outcome = RedisStore::connect(&format!("redis://127.0.0.1:{port}")).await;
    let elapsed = started.elapsed();
    match outcome {
        Err(Error::Unavailable(message)) => {
            assert!(message.contains(&port.to_string()), "{message}");
        }
        Err(other) => panic!("expected unavailable, got {other:?}"),
        Ok(_) => panic!("nothing listens on port {port}"),
    }
    assert!(elapsed < Duration::from_secs(5), "connect took {elapsed:?}");
}

/// A Redis that accepts connections but never answers makes calls fail as unavailable, not hang.
#[tokio::test]
async fn redis_hung_server_is_unavailable() {
    // a private server: this test freezes it
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).await.unwrap();
    server.pause();
    let started = Instant::now();
    let outcome = store.get("anything").await;
    let elapsed = started.elapsed();
    server.resume();
    assert!(matches!(outcome, Err(Error::Unavailable(_))), "{outcome:?}");
    assert!(elapsed < Duration::from_secs(10), "the call took {elapsed:?}");
    assert_eq!(store.get("anything").await.unwrap(), None, "answers again once the server does");
}

/// A namespace written in another layout is refused at connect, not misread; a new one is claimed.
#[tokio::test]
async fn redis_refuses_a_namespace_of_another_layout() {
    let server = shared_redis();
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = ::redis::cmd("SET").arg("old:layout").arg("redis/2").query_async(&mut connection).await.unwrap();
    let refused = RedisStore::connect_with_namespace(&server.url(), "old").await;
    let message = match refused {
        Err(Error::InvalidArgument { reason, .. }) => reason,
        other => panic!("expected a refusal, got {:?}", other.err()),
    };
    assert!(message.contains("redis/2") && message.contains("redis/3"), "{message}");
    assert!(message.contains("ingesting the articles again into another namespace"), "names the migration: {message}");
    RedisStore::connect_with_namespace(&server.url(), "new").await.unwrap();
    let claimed: String = ::redis::cmd("GET").arg("new:layout").query_async(&mut connection).await.unwrap();
    assert_eq!(claimed, "redis/3");
    // a second server on the same namespace agrees with the first
    RedisStore::connect_with_namespace(&server.url(), "new").await.unwrap();
}

/// The same on a Redis Cluster, whose layout differs from one Redis's: a namespace of the standalone
/// layout, or of an older cluster layout, is refused with the way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_refuses_a_namespace_of_another_layout() {
    let cluster = tokio::task::spawn_blocking(shared_cluster).await.expect("start the cluster");
    let client =
        ::redis::cluster::ClusterClient::new(vec![format!("redis://127.0.0.1:{}", cluster.ports()[0])]).unwrap();
    let mut connection = client.get_async_connection().await.unwrap();
    for (namespace, layout) in [("standalone", "redis/3"), ("older", "redis-cluster/2")] {
        let _: () = ::redis::cmd("SET")
            .arg(format!("{namespace}:layout"))
            .arg(layout)
            .query_async(&mut connection)
            .await
            .unwrap();
        let message = match RedisClusterStore::connect_with_namespace(&cluster.url(), namespace).await {
            Err(Error::InvalidArgument { reason, .. }) => reason,
            other => panic!("expected a refusal, got {:?}", other.err()),
        };
        assert!(message.contains(layout) && message.contains("redis-cluster/3"), "{message}");
        assert!(message.contains("ingesting the articles again into another namespace"), "{message}");
    }
    RedisClusterStore::connect_with_namespace(&cluster.url(), "fresh").await.unwrap();
    let claimed: String = ::redis::cmd("GET").arg("fresh:layout").query_async(&mut connection).await.unwrap();
    assert_eq!(claimed, "redis-cluster/3");
}

/// An article number past the 5 bytes a posting holds is refused, not wrapped onto an older
/// article's: the insert fails and nothing of it is stored.
#[tokio::test]
async fn redis_refuses_an_article_number_past_five_bytes() {
    let server = shared_redis();
    let store = RedisStore::connect_with_namespace(&server.url(), "full").await.unwrap();
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let last: u64 = (1 << 40) - 1;
    let _: () = ::redis::cmd("SET").arg("full:n").arg(last - 1).query_async(&mut connection).await.unwrap();
    ingest(&store, article("last", 46, 0, 0)).await;
    let refused = store.insert_and_lookup(article("one-too-many", 47, 0, 0), LIMIT).await;
    assert!(matches!(&refused, Err(Error::Internal(_))), "{refused:?}");
    assert_eq!(store.get("one-too-many").await.unwrap(), None);
    assert!(store.get("last").await.unwrap().is_some());
}

/// The round-trip budget on standalone Redis: an ingest through the engine, here a copy joining its
/// original's cluster in an index that holds more, sends three commands (the `insert` and `assign`
/// scripts, and the duplicate feed's `append`) and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_ingest_of_a_copy_takes_three_round_trips() {
    // a private server: MONITOR shows every client's commands
    let server = RedisServer::start();
    let store = RedisStore::connect_with_namespace(&server.url(), "trips").await.unwrap();
    let engine = Engine::new(Arc::new(store), EngineConfig::default());
    let article = |id: &str, body: String, minutes: i64| Article {
        id: id.into(),
        url: String::new(),
        source: format!("{id}.example"),
        title: String::new(),
        body,
        published_at: Some(1_700_000_000_000_000 + minutes * 60_000_000),
    };
    for i in 0..50 {
        engine.ingest(article(&format!("filler-{i}"), text(900 + i, 300), i as i64)).await.unwrap();
    }
    let text = text(50, 300);
    engine.ingest(article("orig", text.clone(), 60)).await.unwrap();
    // MONITOR shows every command a client sends, and the commands scripts run as coming from "lua"
    let mut monitor = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    monitor.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    std::io::Write::write_all(&mut monitor, b"MONITOR\r\n").unwrap();
    let mut seen = Vec::new();
    let mut buffer = vec![0u8; 65536];
    let read = std::io::Read::read(&mut monitor, &mut buffer).unwrap();
    assert!(buffer[..read].starts_with(b"+OK"), "monitoring");

    let copy = engine.ingest(article("copy", spun(&text, 10, 1), 65)).await.unwrap();
    assert_eq!(copy.canonical_id, "orig");
    // a marker from another connection: once MONITOR shows it, it has shown everything sent before
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut other = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = ::redis::cmd("ECHO").arg("round-trips-end").query_async(&mut other).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains("round-trips-end") {
        assert!(Instant::now() < deadline, "MONITOR did not show the marker");
        match std::io::Read::read(&mut monitor, &mut buffer) {
            Ok(0) => panic!("the MONITOR connection closed"),
            Ok(read) => seen.extend_from_slice(&buffer[..read]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading MONITOR: {e}"),
        }
    }
    // each line: `+TIME [DB CLIENT] "COMMAND" "ARG" …`, CLIENT `lua` for what a script runs
    let seen = String::from_utf8_lossy(&seen);
    let commands: Vec<(&str, String)> = seen
        .lines()
        .filter_map(|line| {
            let (client, rest) = line.split_once('[')?.1.split_once(']')?;
            let command = rest.trim_start().strip_prefix('"')?.split('"').next()?;
            Some((client.split_whitespace().nth(1)?, command.to_lowercase()))
        })
        .collect();
    let marker = commands.iter().find(|(_, command)| command == "echo").map(|(client, _)| *client);
    let sent: Vec<&str> = commands
        .iter()
        .filter(|(client, _)| *client != "lua" && Some(*client) != marker)
        .map(|(_, command)| command.as_str())
        .collect();
    assert_eq!(sent, ["evalsha", "evalsha", "evalsha"]);
}

/// Two namespaces on one Redis do not see each other's articles.
#[tokio::test]
async fn redis_namespaces_are_isolated() {
    let server = shared_redis();
    let tenant_a = RedisStore::connect_with_namespace(&server.url(), "tenant-a").await.unwrap();
    let tenant_b = RedisStore::connect_with_namespace(&server.url(), "tenant-b").await.unwrap();
    namespaces_are_isolated(&tenant_a, &tenant_b).await;
    assert!(RedisStore::connect_with_namespace(&server.url(), "bad:namespace").await.is_err());
}

/// The same on a Redis Cluster, whose keys carry hash tags after the namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_namespaces_are_isolated() {
    let cluster = tokio::task::spawn_blocking(shared_cluster).await.expect("start the cluster");
    let tenant_a = RedisClusterStore::connect_with_namespace(&cluster.url(), "tenant-a").await.unwrap();
    let tenant_b = RedisClusterStore::connect_with_namespace(&cluster.url(), "tenant-b").await.unwrap();
    namespaces_are_isolated(&tenant_a, &tenant_b).await;
    assert!(RedisClusterStore::connect_with_namespace(&cluster.url(), "bad{namespace}").await.is_err());
}

/// One id in two namespaces names two articles: neither namespace finds, reads or expires the other's.
async fn namespaces_are_isolated(tenant_a: &dyn Store, tenant_b: &dyn Store) {
    let record = article("shared-id", 36, 0, 0);
    let keys = record.band_keys.clone();
    ingest(tenant_a, record.clone()).await;
    assert_eq!(tenant_b.get("shared-id").await.unwrap(), None);
    assert!(tenant_b.lookup(&keys, LIMIT).await.unwrap().candidates.is_empty());
    assert!(new_lookup(tenant_b.insert_and_lookup(record.clone(), LIMIT).await.unwrap()).candidates.is_empty());
    let founded = tenant_b.assign(&record, &[]).await.unwrap();
    assert_eq!(founded.canonical_id, "shared-id");
    assert_eq!(expire_all(tenant_b, Micros::MAX, 16).await, 1, "b expires its own article");
    assert_eq!(tenant_b.get("shared-id").await.unwrap(), None);
    let kept = tenant_a.get("shared-id").await.unwrap().expect("a's article is untouched");
    assert!(kept.cluster_id.is_some());
    assert_eq!(tenant_a.lookup(&keys, LIMIT).await.unwrap().candidates.len(), 1);
}

/// Pairs of copies over three days.
async fn ingest_pairs(store: &dyn Store) {
    for pair in 0..8u64 {
        for (copy, offset) in [("a", 0), ("b", 11)] {
            let published = pair as Micros * 9 * HOUR + offset;
            ingest(store, article(&format!("pair-{pair}-{copy}"), 140 + pair, published, published)).await;
        }
    }
}

/// Expires everything [`ingest_pairs`] stored in two steps (the first cutoff mid-hour and mid-day, so
/// that the edge is used); returns how many were removed.
async fn expire_everything(store: &dyn Store) -> usize {
    expire_all(store, 3 * 9 * HOUR + 5, 4).await + expire_all(store, 10 * DAY, 4).await
}

/// The keys under `namespace` on the Redis at `port`.
async fn keys_under(port: u16, namespace: &str) -> Vec<String> {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        ::redis::cmd("KEYS").arg(format!("{namespace}:*")).query_async(&mut connection).await.unwrap();
    // the layout marker and the article-number counters (`ns:n`, `ns:n:{S}`) stay: numbers are never
    // reused
    let (layout, counter) = (format!("{namespace}:layout"), format!("{namespace}:n"));
    keys.into_iter()
        .filter(|key| key != &layout && key != &counter && !key.starts_with(&format!("{counter}:")))
        .collect()
}

/// Once everything expired, nothing is left but the number counters: records, numbers, postings,
/// clusters and the time index (its lists, its index of hours and its edge) are all reclaimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_expiry_reclaims_every_key() {
    let server = shared_redis();
    let store = RedisStore::connect_with_namespace(&server.url(), "reclaim").await.unwrap();
    ingest_pairs(&store).await;
    let keys = keys_under(server.port(), "reclaim").await;
    assert!(keys.iter().any(|key| key.starts_with("reclaim:t:")), "the time index is written: {keys:?}");
    assert_eq!(expire_everything(&store).await, 16);
    assert_eq!(keys_under(server.port(), "reclaim").await, Vec::<String>::new());
}

/// The keys on the Redis at `port` that match `pattern` (`KEYS`: test servers hold a few dozen).
async fn keys_matching(port: u16, pattern: &str) -> Vec<String> {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = ::redis::cmd("KEYS").arg(pattern).query_async(&mut connection).await.unwrap();
    keys.sort();
    keys
}

/// The entries of the singleton index (`ns:s:BUCKET` hashes, see `src/store/redis/standalone.rs`)
/// under `namespace`, as (bucket key, field, founder's number).
async fn singleton_entries(port: u16, namespace: &str) -> Vec<(String, String, String)> {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut entries = Vec::new();
    for key in keys_matching(port, &format!("{namespace}:s:*")).await {
        let fields: Vec<(String, String)> =
            ::redis::cmd("HGETALL").arg(&key).query_async(&mut connection).await.unwrap();
        entries.extend(fields.into_iter().map(|(field, number)| (key.clone(), field, number)));
    }
    entries
}

/// The ids in cluster `cluster_id`'s zset, in zset order (each member is `TIER hex16 hex16 ID`).
async fn zset_ids(port: u16, namespace: &str, cluster_id: &ClusterId) -> Vec<String> {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let members: Vec<String> = ::redis::cmd("ZRANGE")
        .arg(format!("{namespace}:c:{cluster_id}"))
        .arg(0)
        .arg(-1)
        .query_async(&mut connection)
        .await
        .unwrap();
    members.into_iter().map(|member| member[33..].to_string()).collect()
}

/// A lone article's cluster is an entry of the singleton index, not a zset of its own, and every
/// reader still sees a cluster of one; a second member moves it into a zset holding both in canonical
/// order; a zset stays while it has a member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_cluster_of_one_has_no_zset_until_a_second_member() {
    let server = shared_redis();
    let port = server.port();
    let store = RedisStore::connect_with_namespace(&server.url(), "one").await.unwrap();
    let lone = article("lone", 150, 2_000, 2_000);
    let keys = lone.band_keys.clone();
    let founded = ingest(&store, lone.clone()).await;
    assert_eq!(founded.canonical_id, "lone");
    assert_eq!(keys_matching(port, "one:c:*").await, Vec::<String>::new(), "no zset for a cluster of one");
    let entries = singleton_entries(port, "one").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let id = founded.cluster_id.as_str();
    let (bucket, field, _) = &entries[0];
    let tag = u32::from_str_radix(&id[17..], 16).unwrap();
    assert_eq!(bucket, &format!("one:s:{}", tag % 32_768));
    assert_eq!(field, &format!("{}{}", &id[..16], &id[17..22]));

    // every reader sees the cluster of one
    assert_eq!(member_ids(&store, &founded.cluster_id).await, ["lone"]);
    let lookup = store.lookup(&keys, LIMIT).await.unwrap();
    assert_eq!(ids(&lookup), ["lone"]);
    assert_eq!(lookup.clusters.len(), 1);
    assert_eq!(lookup.clusters[0].cluster_id, founded.cluster_id);
    assert_eq!(lookup.clusters[0].canonical.meta.id, "lone");
    match store.insert_and_lookup(lone.clone(), LIMIT).await.unwrap() {
        Inserted::Unchanged { canonical_id, .. } => assert_eq!(canonical_id, "lone"),
        Inserted::New(_) => panic!("the same content is unchanged"),
    }
    assert_eq!(store.assign(&lone, &[]).await.unwrap(), founded);
    assert_eq!(keys_matching(port, "one:c:*").await, Vec::<String>::new(), "assigning again adds no zset");

    // a copy published earlier joins: both in a zset, the copy first; the singleton entry is gone
    let copy = ingest(&store, article("copy", 150, 1_000, 3_000)).await;
    assert_eq!(copy, Assigned { cluster_id: founded.cluster_id.clone(), canonical_id: "copy".into() });
    assert_eq!(zset_ids(port, "one", &founded.cluster_id).await, ["copy", "lone"]);
    assert_eq!(singleton_entries(port, "one").await, Vec::new());
    assert_eq!(member_ids(&store, &founded.cluster_id).await, ["copy", "lone"]);

    // the zset stays with one member, and goes with the last
    assert_eq!(store.delete("copy").await.unwrap().canonical_id.as_deref(), Some("lone"));
    assert_eq!(zset_ids(port, "one", &founded.cluster_id).await, ["lone"]);
    assert_eq!(reassign(&store, "lone").await.canonical_id, "lone");
    assert!(store.delete("lone").await.unwrap().deleted);
    // deletes leave the time index to expiry (`expire.lua` skips what is gone)
    let left: Vec<String> = keys_under(port, "one").await.into_iter().filter(|key| !key.starts_with("one:t")).collect();
    assert_eq!(left, Vec::<String>::new());
}

/// Merging clusters of one, and adopting unassigned links, leave one zset and no singleton entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_merges_and_adoptions_of_singletons_make_one_zset() {
    let server = shared_redis();
    let port = server.port();
    let store = RedisStore::connect_with_namespace(&server.url(), "merge").await.unwrap();
    let older = ingest_linked(&store, article("x", 151, 500, 500), &[]).await.cluster_id;
    tick().await;
    let newer = ingest_linked(&store, article("y", 152, 100, 100), &[]).await.cluster_id;
    assert_eq!(singleton_entries(port, "merge").await.len(), 2);

    let merged = ingest_linked(&store, article("d", 153, 300, 300), &["y", "x"]).await;
    assert_eq!(merged, Assigned { cluster_id: older.clone(), canonical_id: "y".into() });
    assert_eq!(zset_ids(port, "merge", &older).await, ["y", "d", "x"]);
    assert_eq!(keys_matching(port, "merge:c:*").await, [format!("merge:c:{older}")]);
    assert_eq!(singleton_entries(port, "merge").await, Vec::new());
    let view = store.cluster(&newer).await.unwrap().expect("the absorbed id answers the survivor");
    assert_eq!(view.cluster_id, older);
    assert_eq!(view.members.len(), 3);

    // an article founding a cluster with an unassigned link makes the zset at once
    let (racer_1, racer_2) = (article("racer-1", 154, 2_000, 2_000), article("racer-2", 155, 1_000, 1_000));
    store.insert_and_lookup(racer_1.clone(), LIMIT).await.unwrap();
    store.insert_and_lookup(racer_2.clone(), LIMIT).await.unwrap();
    let adopted = store.assign(&racer_1, &[&racer_2, &racer_2, &racer_1]).await.unwrap();
    assert_eq!(adopted.canonical_id, "racer-2");
    assert_eq!(zset_ids(port, "merge", &adopted.cluster_id).await, ["racer-2", "racer-1"]);
    assert_eq!(singleton_entries(port, "merge").await, Vec::new());
}

/// A cluster of one that is deleted, expired or re-ingested with new content leaves no singleton
/// entry behind; another's stays and still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_removing_a_singleton_removes_its_entry() {
    let server = shared_redis();
    let port = server.port();
    let store = RedisStore::connect_with_namespace(&server.url(), "gone").await.unwrap();
    let deleted = ingest(&store, article("deleted", 160, 10 * HOUR, 10 * HOUR)).await.cluster_id;
    let expired = ingest(&store, article("expired", 161, HOUR, HOUR)).await.cluster_id;
    let renewed = ingest(&store, article("renewed", 162, 10 * HOUR, 10 * HOUR)).await.cluster_id;
    let kept = ingest(&store, article("kept", 163, 10 * HOUR, 10 * HOUR)).await.cluster_id;
    assert_eq!(singleton_entries(port, "gone").await.len(), 4);

    assert!(store.delete("deleted").await.unwrap().deleted);
    assert_eq!(expire_all(&store, 5 * HOUR, LIMIT).await, 1);
    new_lookup(store.insert_and_lookup(article("renewed", 164, 10 * HOUR, 10 * HOUR), LIMIT).await.unwrap());
    let entries = singleton_entries(port, "gone").await;
    assert_eq!(entries.len(), 1, "only kept's: {entries:?}");
    assert_eq!(entries[0].1, format!("{}{}", &kept.as_str()[..16], &kept.as_str()[17..22]));
    for gone in [&deleted, &expired, &renewed] {
        assert_eq!(store.cluster(gone).await.unwrap(), None, "{gone}");
    }
    assert_eq!(member_ids(&store, &kept).await, ["kept"]);
    assert_eq!(keys_matching(port, "gone:c:*").await, Vec::<String>::new());

    // ids that are no cluster ids, or differ from a real one only in case, name no cluster
    let mut bogus = vec![String::new(), "x".repeat(25), format!("{kept}0"), format!("{}-", &kept.as_str()[..24])];
    let upper = kept.as_str().to_uppercase();
    if upper != kept.as_str() {
        bogus.push(upper);
    }
    for id in bogus {
        assert_eq!(store.cluster(&ClusterId(id.clone())).await.unwrap(), None, "{id:?}");
    }
}

// ---------------------------------------------------------------------------------------------------
// redis cluster only

/// The hash tag of the keys of a cluster id ending in `hash` (8 hex digits), or of the article whose
/// xxh3 that is: one of 4096 slots (`src/store/redis/cluster/mod.rs`).
fn slot_tag(hash: &str) -> String {
    format!("{:03x}", u32::from_str_radix(hash, 16).expect("hex digits") % 4096)
}

/// As on standalone Redis: once everything expired, no key is left on any node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_expiry_reclaims_every_key() {
    let cluster = tokio::task::spawn_blocking(shared_cluster).await.expect("start the cluster");
    let store = RedisClusterStore::connect_with_namespace(&cluster.url(), "reclaim").await.unwrap();
    ingest_pairs(&store).await;
    let mut time_keys = 0;
    for port in cluster.ports() {
        time_keys += keys_under(port, "reclaim").await.iter().filter(|key| key.starts_with("reclaim:t:")).count();
    }
    assert!(time_keys >= 2, "the time index is written: {time_keys} keys");
    assert_eq!(expire_everything(&store).await, 16);
    for port in cluster.ports() {
        assert_eq!(keys_under(port, "reclaim").await, Vec::<String>::new(), "node {port}");
    }
}

/// A bucket that grows splits into parts (its root then holds their depth, one byte), and deleting every
/// article that posted there reclaims the root and every part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_grown_buckets_split_and_are_reclaimed() {
    let server = shared_redis();
    let store = RedisStore::connect_with_namespace(&server.url(), "grown").await.unwrap();
    ingest_grown(&store).await;
    let buckets: Vec<String> =
        keys_under(server.port(), "grown").await.into_iter().filter(|key| key.starts_with("grown:p:")).collect();
    assert!(buckets.len() > 4, "the bucket split into parts: {buckets:?}");
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let root: Vec<u8> = ::redis::cmd("GET").arg("grown:p:{011234}").query_async(&mut connection).await.unwrap();
    assert_eq!(root.len(), 1, "a split root holds the depth");
    assert!(root[0] >= 2, "600 entries are more than two parts of 256: depth {}", root[0]);
    for n in 0..GROWN {
        assert!(store.delete(&format!("grown-{n:03}")).await.unwrap().deleted);
    }
    let left: Vec<String> =
        keys_under(server.port(), "grown").await.into_iter().filter(|key| key.starts_with("grown:p:")).collect();
    assert_eq!(left, Vec::<String>::new());
}

/// Scripts run on the node at `port` since its statistics were reset (`EVALSHA`, and `EVAL` for a
/// script the node had not loaded).
async fn scripts_run(port: u16) -> u64 {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = ::redis::cmd("INFO").arg("commandstats").query_async(&mut connection).await.unwrap();
    info.lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .filter_map(|line| line.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum()
}

/// `insert` posts the band keys whose buckets live on the article's own node in the same script, so
/// that node gets no round trip for the post stage: there the insert is the only script, and the
/// other nodes run one `post` per band key of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_insert_posts_its_own_nodes_band_keys() {
    // a private cluster: the nodes' command statistics count every client's scripts
    let cluster = tokio::task::spawn_blocking(RedisCluster::start).await.expect("start the cluster");
    let store = RedisClusterStore::connect_with_namespace(&cluster.url(), "local").await.unwrap();
    let first = article("first", 50, 0, 0);
    let keys = first.band_keys.clone();
    for port in cluster.ports() {
        let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = ::redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut connection).await.unwrap();
    }
    new_lookup(store.insert_and_lookup(first, LIMIT).await.unwrap());
    let (mut own, mut others) = (None, Vec::new());
    for port in cluster.ports() {
        let keys_here = keys_under(port, "local").await;
        let buckets = keys_here.iter().filter(|key| key.starts_with("local:p:")).count() as u64;
        if keys_here.iter().any(|key| key.starts_with("local:a:")) {
            own = Some((buckets, scripts_run(port).await));
        } else {
            others.push((buckets, scripts_run(port).await));
        }
    }
    let (own_buckets, own_scripts) = own.expect("a node holds the record");
    assert!(own_buckets > 0, "some of the {} band keys are on the article's node", keys.len());
    assert_eq!(own_scripts, 1, "the article's node runs the insert alone");
    for (buckets, scripts) in others {
        assert_eq!(scripts, buckets, "a post per band key elsewhere");
    }
    // and the postings are real: an article under the same band keys finds the first under every one
    let second = StoredArticle { band_keys: keys.clone(), ..article("second", 51, 0, 0) };
    let lookup = new_lookup(store.insert_and_lookup(second, LIMIT).await.unwrap());
    assert_eq!(ids(&lookup), ["first"]);
    assert_eq!(lookup.candidates[0].shared_keys as usize, keys.len());
}

/// A merge cut short after its first step (the absorbed cluster closed, its members not moved yet)
/// is finished by whoever resolves through it: nobody is lost, and the survivor is the older id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_finishes_a_merge_cut_short() {
    let cluster = tokio::task::spawn_blocking(shared_cluster).await.expect("start the cluster");
    let store = RedisClusterStore::connect_with_namespace(&cluster.url(), "cut").await.unwrap();
    let older = ingest_linked(&store, article("older", 40, 0, 0), &[]).await.cluster_id;
    tick().await;
    let newer = ingest_linked(&store, article("newer", 41, 0, 0), &[]).await.cluster_id;
    assert!(older < newer);

    // what `close` writes, as a crashed merger would have left it: the forward, members still in place
    let tag = slot_tag(&newer.as_str()[newer.as_str().len() - 8..]);
    let client =
        ::redis::cluster::ClusterClient::new(vec![format!("redis://127.0.0.1:{}", cluster.ports()[0])]).unwrap();
    let mut connection = client.get_async_connection().await.unwrap();
    let _: () = ::redis::cmd("SET")
        .arg(format!("cut:f:{{{tag}}}{newer}"))
        .arg(older.as_str())
        .query_async(&mut connection)
        .await
        .unwrap();

    let view = store.cluster(&newer).await.unwrap().expect("the closed cluster resolves to the survivor");
    assert_eq!(view.cluster_id, older);
    let mut members: Vec<String> = view.members.iter().map(|m| m.meta.id.clone()).collect();
    members.sort();
    assert_eq!(members, ["newer", "older"], "the move was finished");
    assert_eq!(cluster_of(&store, "newer").await, older);
    let leftover: i64 =
        ::redis::cmd("ZCARD").arg(format!("cut:c:{{{tag}}}{newer}")).query_async(&mut connection).await.unwrap();
    assert_eq!(leftover, 0, "the absorbed cluster's members were dropped once moved");

    // the next article linking the absorbed cluster's member joins the survivor
    let joined = ingest_linked(&store, article("late", 42, 0, 0), &["newer"]).await;
    assert_eq!(joined.cluster_id, older);
}

/// A split cut short after its first step (the new cluster lists a member whose record still names
/// the old cluster, which still lists it too) is finished when the verdict is given again: the engine
/// finds the two articles in clusters kept apart, and the store moves what the new cluster lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_finishes_a_split_cut_short() {
    use dedupd::engine::verdicts::Review;
    let cluster = tokio::task::spawn_blocking(shared_cluster).await.expect("start the cluster");
    let store: Arc<dyn Store> =
        Arc::new(RedisClusterStore::connect_with_namespace(&cluster.url(), "cutsplit").await.unwrap());
    let from = cluster_of_ids(&*store, &["a", "b", "c"], 490).await;
    tick().await;
    let into = ClusterId::new(dedupd::domain::now_micros(), "b");
    store.split(&from, &[&stored_now(&*store, "b").await], &into).await.expect("split");

    // what the first step of a split moving c too would have left: c listed in the new cluster only
    let client =
        ::redis::cluster::ClusterClient::new(vec![format!("redis://127.0.0.1:{}", cluster.ports()[0])]).unwrap();
    let mut connection = client.get_async_connection().await.unwrap();
    let zset = |cluster_id: &ClusterId| {
        let id = cluster_id.as_str();
        format!("cutsplit:c:{{{}}}{id}", slot_tag(&id[id.len() - 8..]))
    };
    let listed: Vec<String> =
        ::redis::cmd("ZRANGE").arg(zset(&from)).arg(0).arg(-1).query_async(&mut connection).await.unwrap();
    let c_member = listed.iter().find(|m| m.ends_with('c')).expect("c is listed in the old cluster").clone();
    let _: i64 =
        ::redis::cmd("ZADD").arg(zset(&into)).arg(0).arg(&c_member).query_async(&mut connection).await.unwrap();

    let engine = Engine::new(store.clone(), EngineConfig::default());
    let review = Review { reviewer: "r".into(), reason: "retry".into() };
    let done = engine.mark_distinct("b", "a", review).await.expect("the repeated verdict");
    assert_eq!(done.verdict.cluster_id, into);
    assert_eq!(member_ids(&*store, &from).await, ["a"]);
    assert_eq!(member_ids(&*store, &into).await, ["b", "c"]);
    assert_eq!(cluster_of(&*store, "c").await, into, "c's record was moved");
}

/// An ingest cut short after its claim but before its add leaves an article whose record names a
/// cluster that does not list it: the retry sees it unassigned, and its assign makes it a member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_repairs_a_claim_without_its_add() {
    let cluster = tokio::task::spawn_blocking(shared_cluster).await.expect("start the cluster");
    let store = RedisClusterStore::connect_with_namespace(&cluster.url(), "claim").await.unwrap();
    let first = ingest_linked(&store, article("first", 43, 0, 0), &[]).await.cluster_id;
    let second = article("second", 43, 10, 10);
    new_lookup(store.insert_and_lookup(second.clone(), LIMIT).await.unwrap());

    // what `claim` writes (the cluster id at the start of the record), without the `add`
    let founded_tag = ClusterId::new(0, "second");
    let tag = slot_tag(&founded_tag.as_str()[founded_tag.as_str().len() - 8..]);
    let client =
        ::redis::cluster::ClusterClient::new(vec![format!("redis://127.0.0.1:{}", cluster.ports()[0])]).unwrap();
    let mut connection = client.get_async_connection().await.unwrap();
    let _: i64 = ::redis::cmd("SETRANGE")
        .arg(format!("claim:a:{{{tag}}}second"))
        .arg(0)
        .arg(first.as_str())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(member_ids(&store, &first).await, ["first"], "claimed, but no member");

    let unchanged = match store.insert_and_lookup(second, LIMIT).await.unwrap() {
        Inserted::Unchanged { article, .. } => *article,
        Inserted::New(_) => panic!("the same content is unchanged"),
    };
    assert_eq!(unchanged.cluster_id, None, "reported unassigned");
    let assigned = store.assign(&unchanged, &[]).await.unwrap();
    assert_eq!(assigned.cluster_id, first);
    assert_eq!(member_ids(&store, &first).await, ["first", "second"]);
    assert_eq!(cluster_of(&store, "second").await, first);
}

/// No cluster node listening: `connect` fails quickly, as unavailable; a malformed URL is invalid.
#[tokio::test]
async fn redis_cluster_connect_to_closed_ports_fails_fast() {
    let (a, b) = (free_port(), free_port());
    let started = Instant::now();
    let outcome = RedisClusterStore::connect(&format!("redis+cluster://127.0.0.1:{a},127.0.0.1:{b}")).await;
    let elapsed = started.elapsed();
    assert!(matches!(outcome, Err(Error::Unavailable(_))), "{:?}", outcome.err());
    assert!(elapsed < Duration::from_secs(10), "connect took {elapsed:?}");
    let outcome = RedisClusterStore::connect("redis+cluster://").await;
    assert!(matches!(outcome, Err(Error::InvalidArgument { .. })), "{:?}", outcome.err());
}

// ---------------------------------------------------------------------------------------------------
// the duplicate feed: `Store::append_duplicate` and its readers, on every backend (`feed::redis::…`)

mod feed {
    use super::*;
    use dedupd::domain::{ArticleMeta, MatchReason};
    use dedupd::store::feed::{DEDUP_WINDOW, DuplicateEvent, EventCursor, FeedBounds, FeedTrim};

    conformance!(
        feed_appends_in_order_and_reads_both_ways,
        feed_records_an_article_version_once,
        feed_trims_the_oldest_by_length_and_remembers_them,
        feed_trims_by_age,
        an_empty_feed_has_no_bounds,
    );

    const KEEP_ALL: FeedTrim = FeedTrim { max_len: 1_000, max_age: None };

    fn event(id: &str, version: Micros) -> DuplicateEvent {
        DuplicateEvent {
            cursor: EventCursor::ZERO,
            article: ArticleMeta {
                id: id.into(),
                url: format!("https://copies.example/{id}"),
                source: "copies.example".into(),
                title: format!("A copy, {id}"),
            },
            published_us: 1_700_000_000_000_000 + version,
            version,
            cluster_id: ClusterId::new(1_700_000_000_000_000, "original"),
            canonical_id: "original".into(),
            canonical_source: "wire.example".into(),
            matched_id: "original".into(),
            similarity: 0.875,
            reason: MatchReason::Skeleton,
        }
    }

    async fn append(store: &dyn Store, id: &str, trim: &FeedTrim) -> EventCursor {
        store.append_duplicate(&event(id, 1), trim).await.expect("append").expect("a new event")
    }

    fn cursors(events: &[DuplicateEvent]) -> Vec<EventCursor> {
        events.iter().map(|e| e.cursor).collect()
    }

    /// Cursors grow with every append; readers go newest first before a cursor and oldest first after
    /// one, both exclusive; an event reads back as it was appended.
    async fn feed_appends_in_order_and_reads_both_ways(store: Arc<dyn Store>) {
        let mut appended = Vec::new();
        for i in 0..5 {
            appended.push(append(&*store, &format!("copy-{i}"), &KEEP_ALL).await);
        }
        assert!(appended.windows(2).all(|pair| pair[0] < pair[1]), "{appended:?}");

        let newest_first = store.duplicates_before(None, 10).await.unwrap();
        let reversed: Vec<EventCursor> = appended.iter().rev().copied().collect();
        assert_eq!(cursors(&newest_first), reversed);
        assert_eq!(newest_first[0], DuplicateEvent { cursor: appended[4], ..event("copy-4", 1) });
        assert_eq!(cursors(&store.duplicates_before(Some(appended[3]), 2).await.unwrap()), [appended[2], appended[1]]);
        assert_eq!(cursors(&store.duplicates_before(Some(appended[0]), 2).await.unwrap()), []);
        assert_eq!(cursors(&store.duplicates_after(appended[1], 2).await.unwrap()), [appended[2], appended[3]]);
        assert_eq!(cursors(&store.duplicates_after(EventCursor::ZERO, 1).await.unwrap()), [appended[0]]);
        assert_eq!(cursors(&store.duplicates_after(appended[4], 10).await.unwrap()), []);
        assert!(store.duplicates_after(EventCursor::ZERO, 0).await.unwrap().is_empty());

        let bounds = store.feed_bounds().await.unwrap();
        assert_eq!(bounds, FeedBounds { oldest: Some(appended[0]), newest: Some(appended[4]), trimmed: None });
    }

    /// A retried ingest appends the same article version again: it is recorded once. Another version
    /// of the article is another event.
    async fn feed_records_an_article_version_once(store: Arc<dyn Store>) {
        let first = store.append_duplicate(&event("copy", 10), &KEEP_ALL).await.unwrap();
        assert!(first.is_some());
        assert_eq!(store.append_duplicate(&event("copy", 10), &KEEP_ALL).await.unwrap(), None);
        let other = store.append_duplicate(&event("other", 10), &KEEP_ALL).await.unwrap();
        let second = store.append_duplicate(&event("copy", 11), &KEEP_ALL).await.unwrap();
        assert!(first < other && other < second, "{first:?} {other:?} {second:?}");
        assert_eq!(store.duplicates_before(None, 10).await.unwrap().len(), 3);
        assert!(DEDUP_WINDOW.as_secs() >= 60, "a retry a minute later is still recognised");
    }

    /// Past its length the log drops its oldest events; the largest dropped is remembered, so a
    /// reader knows whether it missed any.
    async fn feed_trims_the_oldest_by_length_and_remembers_them(store: Arc<dyn Store>) {
        let trim = FeedTrim { max_len: 3, max_age: None };
        let mut appended = Vec::new();
        for i in 0..7 {
            appended.push(append(&*store, &format!("copy-{i}"), &trim).await);
        }
        let kept = store.duplicates_before(None, 10).await.unwrap();
        assert_eq!(cursors(&kept), [appended[6], appended[5], appended[4]]);
        let bounds = store.feed_bounds().await.unwrap();
        assert_eq!(
            bounds,
            FeedBounds { oldest: Some(appended[4]), newest: Some(appended[6]), trimmed: Some(appended[3]) }
        );
        assert!(bounds.missed_after(appended[2]), "a reader at copy-2 missed copy-3");
        assert!(!bounds.missed_after(appended[3]) && !bounds.missed_after(appended[5]));
        assert_eq!(cursors(&store.duplicates_after(appended[1], 10).await.unwrap()), &appended[4..]);
    }

    /// Events older than the age limit go at the next append.
    async fn feed_trims_by_age(store: Arc<dyn Store>) {
        let old = append(&*store, "old", &KEEP_ALL).await;
        // the next cursor's millisecond is past the age limit of the old one
        tokio::time::sleep(Duration::from_millis(30)).await;
        let trim = FeedTrim { max_len: 1_000, max_age: Some(Duration::from_millis(10)) };
        let new = append(&*store, "new", &trim).await;
        assert_eq!(cursors(&store.duplicates_before(None, 10).await.unwrap()), [new]);
        let bounds = store.feed_bounds().await.unwrap();
        assert_eq!((bounds.oldest, bounds.trimmed), (Some(new), Some(old)));
    }

    /// A feed that never had an event has no bounds, and reads are empty.
    async fn an_empty_feed_has_no_bounds(store: Arc<dyn Store>) {
        assert_eq!(store.feed_bounds().await.unwrap(), FeedBounds::default());
        assert!(store.duplicates_before(None, 10).await.unwrap().is_empty());
        assert!(store.duplicates_after(EventCursor::ZERO, 10).await.unwrap().is_empty());
    }

    /// The embedded store's feed survives a reopen: events, cursors going on from the last, the
    /// trimmed cursor, and the versions already recorded.
    #[tokio::test]
    async fn embedded_feed_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let trim = FeedTrim { max_len: 2, max_age: None };
        let appended = {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            let mut appended = Vec::new();
            for i in 0..3 {
                appended.push(append(&store, &format!("copy-{i}"), &trim).await);
            }
            appended
        };
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(cursors(&store.duplicates_before(None, 10).await.unwrap()), [appended[2], appended[1]]);
        let bounds = store.feed_bounds().await.unwrap();
        assert_eq!(
            bounds,
            FeedBounds { oldest: Some(appended[1]), newest: Some(appended[2]), trimmed: Some(appended[0]) }
        );
        assert_eq!(store.append_duplicate(&event("copy-2", 1), &trim).await.unwrap(), None, "recorded before");
        let next = append(&store, "copy-3", &trim).await;
        assert!(next > appended[2]);
        drop(store);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(cursors(&store.duplicates_before(None, 10).await.unwrap()), [next, appended[2]]);
        assert_eq!(store.feed_bounds().await.unwrap().trimmed, Some(appended[1]));
    }
}
