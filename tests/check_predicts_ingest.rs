//! `Check` answers what `Ingest` then does, on every store.
//!
//! Generated sequences of articles about a few stories (originals, spun copies, excerpts, a
//! publisher's own update, unrelated articles) arrive in any order, so copies often come before their
//! originals. Each article is checked and then ingested; the two must agree on whether it is a
//! duplicate, on its canonical and matches, and on its cluster: the one the check names, or a new one
//! when the check says it founds one. Check predicts with [`dedupd::domain::Assignment`], which the
//! memory and embedded stores carry out and the Redis scripts implement, so this is what holds the
//! Redis stores to the same rule.
//!
//! The property is only as good as what it exercises: every store's run counts the ingests that
//! founded a cluster, joined one and merged clusters, and fails if any of the three never happened.

mod common;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::Path;

use common::{namespace, shared_cluster, shared_redis};
use dedupd::domain::{Article, Decision};
use dedupd::engine::{Engine, EngineConfig};
use dedupd::synthetic::{self, Synthetic};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Stories per sequence: few, so that articles meet.
const STORIES: u64 = 3;
const HOUR_US: i64 = 3_600_000_000;
const BASE_US: i64 = 1_700_000_000_000_000;

/// What one article of a sequence is.
#[derive(Debug, Clone)]
enum Kind {
    /// The story's text on its wire source (twice in a sequence: a re-send).
    Original,
    /// A spun copy on an aggregator: `percent` of the content words swapped.
    Copy { percent: u64, seed: u64 },
    /// A stretch of the story on an aggregator, `from` and `to` in percent of its words, from its first
    /// or its second half: two excerpts of different halves match the original but not each other,
    /// so the original (or a full copy) arriving after both merges their clusters.
    Excerpt { from: usize, to: usize },
    /// The wire source's update: the first two thirds of the story and as much new text.
    Update,
    /// A story of its own.
    Unrelated,
}

#[derive(Debug, Clone)]
struct Step {
    story: u64,
    kind: Kind,
    /// Which aggregator carries a copy or excerpt, and hours after the story it is published.
    aggregator: u64,
    hours: i64,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        2 => Just(Kind::Original),
        3 => (0u64..30, any::<u64>()).prop_map(|(percent, seed)| Kind::Copy { percent, seed }),
        4 => (any::<bool>(), 0usize..10, 30usize..45).prop_map(|(second, skip, length)| {
            let from = if second { 55 + skip } else { skip };
            Kind::Excerpt { from, to: (from + length).min(100) }
        }),
        1 => Just(Kind::Update),
        1 => Just(Kind::Unrelated),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (0..STORIES, kind(), 0u64..3, 1i64..48).prop_map(|(story, kind, aggregator, hours)| Step {
        story,
        kind,
        aggregator,
        hours,
    })
}

/// A sequence: the seed of its texts, and its articles in arrival order.
fn sequence() -> impl Strategy<Value = (u64, Vec<Step>)> {
    (any::<u64>(), prop::collection::vec(step(), 4..14))
}

/// The article of step `index`.
fn article(texts: &Synthetic, index: usize, step: &Step) -> Article {
    let story = texts.story_text(step.story);
    let words: Vec<&str> = story.split(' ').collect();
    let published = BASE_US + step.story as i64 * 60_000_000;
    let wire = format!("wire{}.example", step.story);
    let aggregator = format!("aggregator{}.example", step.aggregator);
    let (source, body, published) = match &step.kind {
        Kind::Original => (wire, story.clone(), published),
        Kind::Copy { percent, seed } => {
            (aggregator, synthetic::spun(&story, *percent, *seed), published + step.hours * HOUR_US)
        }
        Kind::Excerpt { from, to } => {
            let stretch = &words[words.len() * from / 100..words.len() * to / 100];
            (aggregator, stretch.join(" "), published + step.hours * HOUR_US)
        }
        Kind::Update => {
            let news = texts.story_text(1_000 + step.story);
            let kept = words[..words.len() * 2 / 3].join(" ");
            (wire, format!("{kept} {}", &news[..news.len() / 2]), published + step.hours * HOUR_US)
        }
        Kind::Unrelated => (format!("other{index}.example"), texts.story_text(2_000 + index as u64), published),
    };
    Article {
        id: format!("a{index}"),
        url: String::new(),
        source,
        title: String::new(),
        body,
        published_at: Some(published),
    }
}

/// What a store's run saw: ingests that founded a cluster, joined one, and merged clusters (with how
/// many clusters the merges absorbed).
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    founded: usize,
    joined: usize,
    merging: usize,
    absorbed: usize,
}

/// The clusters of articles `a0..a{count}`.
async fn clusters(engine: &Engine, count: usize) -> BTreeSet<String> {
    let mut clusters = BTreeSet::new();
    for index in 0..count {
        let view = engine.article(&format!("a{index}")).await.expect("an ingested article");
        clusters.insert(view.article.cluster_id.expect("assigned").0);
    }
    clusters
}

fn matched(decision: &Decision) -> Vec<(&str, u64)> {
    decision.matches.iter().map(|m| (m.id.as_str(), (m.similarity * 1e9).round() as u64)).collect()
}

/// Checks then ingests every article of the sequence into a fresh engine on `store`, comparing the
/// two answers; counts what the ingests did into `seen`.
async fn check_then_ingest(engine: &Engine, seed: u64, steps: &[Step], seen: &Cell<Seen>) -> Result<(), TestCaseError> {
    let texts = Synthetic::new(seed);
    for (index, step) in steps.iter().enumerate() {
        let article = article(&texts, index, step);
        let checked = engine.check(article.clone()).await.expect("check");
        let before = clusters(engine, index).await;
        let ingested = engine.ingest(article).await.expect("ingest");
        let context = format!("article {index} ({step:?})");
        prop_assert_eq!(checked.duplicate, ingested.duplicate, "{}", context);
        prop_assert_eq!(&checked.canonical_id, &ingested.canonical_id, "{}", context);
        prop_assert_eq!(matched(&checked), matched(&ingested), "{}", context);
        let cluster = ingested.cluster_id.clone().expect("an ingest names its cluster").0;
        match &checked.cluster_id {
            Some(predicted) => prop_assert_eq!(&predicted.0, &cluster, "{}", context),
            None => prop_assert!(!before.contains(&cluster), "{}: a new cluster was predicted", context),
        }
        let after = clusters(engine, index).await;
        let mut counts = seen.get();
        let absorbed = before.len() - after.len();
        if absorbed > 0 {
            counts.merging += 1;
            counts.absorbed += absorbed;
        } else if before.contains(&cluster) {
            counts.joined += 1;
        } else {
            counts.founded += 1;
        }
        seen.set(counts);
    }
    Ok(())
}

/// Runs the property on stores that `open(case)` opens, a fresh (empty) one per case.
fn property(name: &str, cases: u32, open: impl AsyncFn(u32) -> std::sync::Arc<dyn dedupd::store::Store>) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    // the same sequences on every store, and from run to run
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let (seen, case) = (Cell::new(Seen::default()), Cell::new(0));
    let outcome = runner.run(&sequence(), |(seed, steps)| {
        case.set(case.get() + 1);
        runtime.block_on(async {
            let engine = Engine::new(open(case.get()).await, EngineConfig::default());
            check_then_ingest(&engine, seed, &steps, &seen).await
        })
    });
    let seen = seen.get();
    eprintln!("{name}: {} cases, {seen:?}", case.get());
    if let Err(failure) = outcome {
        panic!("{name}: {failure}");
    }
    assert!(seen.founded > 0 && seen.joined > 0 && seen.merging > 0, "{name}: not every outcome occurred: {seen:?}");
}

/// Cases per store: every one is a fresh store and up to 13 checks and ingests.
const CASES: u32 = 48;

async fn open(url: &str, dir: &Path, namespace: Option<&str>) -> std::sync::Arc<dyn dedupd::store::Store> {
    dedupd::store::open(url, dir, namespace).await.expect("open the store")
}

#[test]
fn check_predicts_ingest_on_memory() {
    property("memory", CASES, async |_| open("memory://", Path::new("."), None).await);
}

#[test]
fn check_predicts_ingest_on_embedded() {
    let dir = tempfile::tempdir().expect("temporary directory");
    property("embedded", CASES, async |case| {
        let url = format!("embedded://{}", dir.path().join(case.to_string()).display());
        open(&url, dir.path(), None).await
    });
}

#[test]
fn check_predicts_ingest_on_redis() {
    let url = shared_redis().url();
    property("redis", CASES, async |_| open(&url, Path::new("."), Some(&namespace("case"))).await);
}

#[test]
fn check_predicts_ingest_on_redis_cluster() {
    let url = shared_cluster().url();
    property("redis cluster", CASES, async |_| open(&url, Path::new("."), Some(&namespace("case"))).await);
}
