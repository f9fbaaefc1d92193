//! The engine's decision on a warm in-memory index, and its parts, one article at a time on one core.
//!
//! The index (a [`MemoryStore`]) is filled with 20,000 synthetic articles (a third of them copies, see
//! [`Synthetic`]) before anything is timed. Then, per article:
//!
//! - `ingest`: a new article (the next ones of the same synthetic run, so a third are copies of
//!   recent stories), fingerprinted, posted, verified and assigned; the index grows by what is timed;
//! - `check/copy` and `check/new`: the decision for a copy of a stored story, and for an unrelated
//!   article, storing nothing;
//! - the parts of a decision, to see where an ingest's time goes: `fingerprint` (normalise, tokenise,
//!   simhash, sketches), `lookup` (the band-key candidates from the store, records copied out), and
//!   `verify` (comparing a copy with each of its candidates).
//!
//! No network and no disk: the store-side and gRPC costs are measured by `dedupd bench` against a
//! server. `cargo bench --bench engine`; `DEDUPD_BENCH_ARTICLES=50000` for a larger index.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dedupd::domain::Article;
use dedupd::engine::rules::{self, MatchRule};
use dedupd::engine::{Engine, EngineConfig};
use dedupd::fingerprint;
use dedupd::store::Store;
use dedupd::store::memory::MemoryStore;
use dedupd::synthetic::Synthetic;

/// Candidates looked up per article, as the engine's default.
const CANDIDATE_LIMIT: usize = 64;

fn warm_articles() -> u64 {
    std::env::var("DEDUPD_BENCH_ARTICLES").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000)
}

/// A fresh id for an article that is otherwise `article`.
fn renamed(mut article: Article, id: String) -> Article {
    article.id = id;
    article
}

fn engine(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::new(store.clone(), EngineConfig::default());
    let synthetic = Synthetic::new(11);
    let warm = warm_articles();
    runtime.block_on(async {
        for index in 0..warm {
            engine.ingest(synthetic.article(index)).await.expect("warm-up ingest");
        }
    });
    // a stored story and a copy of it, for the parts of a decision
    let copy_index = (warm / 2..warm).find(|&i| synthetic.story(i) != i).expect("a copy among the stored articles");
    let copy = synthetic.article(copy_index);
    let copy_fingerprint = fingerprint::fingerprint(&copy.body);
    let keys = copy_fingerprint.band_keys(|_, _| false);

    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));

    let mut next = warm;
    group.bench_function("ingest", |b| {
        b.iter_batched(
            || {
                next += 1;
                synthetic.article(next - 1)
            },
            |article| runtime.block_on(engine.ingest(article)).expect("ingest"),
            BatchSize::SmallInput,
        );
    });

    let mut probe = 0u64;
    group.bench_function("check/copy", |b| {
        b.iter_batched(
            || {
                probe += 1;
                renamed(copy.clone(), format!("probe-{probe}"))
            },
            |article| runtime.block_on(engine.check(article)).expect("check"),
            BatchSize::SmallInput,
        );
    });
    // an unrelated article: another seed's text, so it shares nothing with the index
    let unrelated = Synthetic::new(12);
    let mut fresh = 0u64;
    group.bench_function("check/new", |b| {
        b.iter_batched(
            || {
                fresh += 1;
                unrelated.article(fresh * 7)
            },
            |article| runtime.block_on(engine.check(article)).expect("check"),
            BatchSize::SmallInput,
        );
    });

    group.bench_function("fingerprint", |b| {
        let mut fingerprinter = fingerprint::Fingerprinter::default();
        b.iter(|| fingerprinter.fingerprint(std::hint::black_box(&copy.body)));
    });
    group.bench_function("lookup", |b| {
        b.iter(|| runtime.block_on(store.lookup(std::hint::black_box(&keys), CANDIDATE_LIMIT)).expect("lookup"));
    });
    let candidates = runtime.block_on(store.lookup(&keys, CANDIDATE_LIMIT)).expect("lookup").candidates;
    eprintln!("engine: {warm} articles stored; the probed copy has {} candidates", candidates.len());
    let rule = MatchRule::default();
    group.bench_function("verify", |b| {
        b.iter(|| {
            candidates
                .iter()
                .filter(|candidate| {
                    let comparison = rules::compare(&copy_fingerprint, &candidate.article.fingerprint, |_, _| false);
                    rule.matches(&comparison)
                })
                .count()
        });
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
