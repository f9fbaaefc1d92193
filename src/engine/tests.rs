//! The engine's decisions, on a memory store: what matches, what is held apart, what a warm-up does
//! (retention with a store swept mid-ingest is in `tests/store_faults.rs`).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::*;
use crate::domain::MatchReason;
use crate::engine::rules::compare;
use crate::store::memory::MemoryStore;
use crate::synthetic::{self, FUNCTION_WORDS, Synthetic, prose, word};

/// A synthetic story's text (250 to 410 words), one per `story`.
fn text(story: u64) -> String {
    Synthetic::new(1).story_text(story)
}

/// An aggregator's footer: 90 words of a story of its own.
fn footer() -> String {
    text(2).split(' ').take(90).collect::<Vec<_>>().join(" ")
}

/// 25 content words of letters only, distinct for each `n` (a digit would make a number, and the
/// numbers veto would keep two of them apart whatever else they share).
fn letters(n: u64) -> String {
    (0..25).map(|i| word(n * 100 + i + 1)).collect::<Vec<_>>().join(" ")
}

fn article(id: &str, body: String, published: i64) -> Article {
    Article {
        id: id.into(),
        url: String::new(),
        source: format!("{id}.example"),
        title: String::new(),
        body,
        published_at: Some(published),
    }
}

/// Ingests two articles in the given order into a fresh engine: are they in one cluster?
fn together(first: Article, second: Article) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let a = engine.ingest(first).await.expect("ingest");
        let b = engine.ingest(second).await.expect("ingest");
        let a_now = engine.article(&a.id).await.expect("article");
        a_now.article.cluster_id == b.cluster_id
    })
}

/// Retries of one stored article teach the boilerplate model nothing: its copy elsewhere still
/// matches.
#[tokio::test]
async fn retries_are_not_learned_as_boilerplate() {
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let body = text(1);
    for _ in 0..5 {
        engine.ingest(article("orig", body.clone(), 1_000)).await.expect("ingest");
    }
    let copy = engine.ingest(article("copy", body, 2_000)).await.expect("ingest");
    assert!(copy.duplicate);
    assert_eq!(copy.canonical_id, "orig");
}

/// A restarted engine learns its sources' footers back from the store before it serves: an article
/// that shares only a footer with the stored ones of its source is then no match, where an engine
/// starting empty matches it.
#[tokio::test]
async fn a_warmed_up_engine_knows_the_footers_it_had_learned() {
    let (footer, story) = (footer(), letters);
    let from_aggregator = |id: &str, body: String, published: i64| Article {
        source: "aggregator.example".into(),
        ..article(id, body, published)
    };
    let store = Arc::new(MemoryStore::new());
    let first = Engine::new(store.clone(), EngineConfig::default());
    for n in 0..12 {
        let body = format!("{} {footer}", story(n));
        first.ingest(from_aggregator(&format!("agg-{n}"), body, 1_000 + n as i64)).await.expect("ingest");
    }
    let newcomer = from_aggregator("agg-new", format!("{} {footer}", story(99)), 5_000);

    let cold = Engine::new(store.clone(), EngineConfig::default());
    let glued = cold.check(newcomer.clone()).await.expect("check");
    assert!(glued.duplicate, "an empty model lets the footer match: {glued:?}");

    let warm = Engine::new(store, EngineConfig::default());
    assert_eq!(warm.warm_up(1_000).await.expect("warm up"), 12);
    let alone = warm.check(newcomer).await.expect("check");
    assert!(!alone.duplicate && alone.matches.is_empty(), "{alone:?}");
}

/// A source's footer is learned however the source is spelled: `www.`, capitals and a trailing
/// dot are one source for the boilerplate model, as for the same-source rule. Two articles under
/// each of three spellings are too few for any one spelling to learn the footer alone.
#[tokio::test]
async fn a_footer_is_learned_across_spellings_of_its_source() {
    let (footer, story) = (footer(), letters);
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let spellings = ["www.Aggregator.example", "AGGREGATOR.example.", "www.aggregator.example"];
    for n in 0..6 {
        let source = spellings[n as usize % spellings.len()].to_string();
        let earlier = Article { source, ..article(&format!("agg-{n}"), format!("{} {footer}", story(n)), 1_000) };
        engine.ingest(earlier).await.expect("ingest");
    }
    let newcomer =
        Article { source: "aggregator.example".into(), ..article("agg-new", format!("{} {footer}", story(99)), 5_000) };
    let alone = engine.check(newcomer).await.expect("check");
    assert!(!alone.duplicate && alone.matches.is_empty(), "the footer alone matched: {alone:?}");
}

/// A wire item cut down to its lead and wrapped in an aggregator's header and list of other
/// stories' titles (text no other article has, so no boilerplate model can learn it) is matched on
/// its distinctive text, whichever arrives first, where the containment rule alone misses it. A
/// teaser of a templated item, whose lead two stories share, is matched to neither on it.
#[tokio::test]
async fn a_teaser_matches_on_distinctive_text_not_on_a_template() {
    let wire = |id: &str, body: String| Article { source: "wire.example".into(), ..article(id, body, 1_000) };
    // words with a function word every `every`, of an order set by `step`: the lead, the rest of
    // the item and the aggregator's header and list each have a structure (skeleton) of their own,
    // as they do in life
    let patterned = |words: std::ops::Range<u64>, every: u64, step: u64| {
        let word = |k: u64| {
            let function = FUNCTION_WORDS[(k * step % FUNCTION_WORDS.len() as u64) as usize];
            if k.is_multiple_of(every) { function.to_string() } else { word(k) }
        };
        words.map(word).collect::<Vec<_>>().join(" ")
    };
    let aggregator_words = |words| patterned(words, 2, 7);
    let rest_of_item = |words| patterned(words, 4, 3);
    let teaser = |id: &str, lead: String, n: u64| Article {
        source: "aggregator.example".into(),
        ..article(id, format!("{} {lead} {}", aggregator_words(n..n + 12), aggregator_words(n + 12..n + 32)), 2_000)
    };
    let item = wire("item", format!("{} {}", prose(0..32), rest_of_item(100..140)));
    let its_teaser = teaser("teaser", prose(0..32), 1_000);
    let without_rule =
        EngineConfig { rule: MatchRule { distinctive_words: 0.0, ..MatchRule::default() }, ..EngineConfig::default() };
    for (first, second) in [(&item, &its_teaser), (&its_teaser, &item)] {
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        engine.ingest(first.clone()).await.expect("ingest");
        let decision = engine.ingest(second.clone()).await.expect("ingest");
        assert_eq!(decision.matches.len(), 1, "{} after {}: {decision:?}", second.id, first.id);
        assert_eq!(decision.matches[0].reason, MatchReason::Distinctive, "the caller is told which rule decided");
        assert_eq!(decision.canonical_id, "item");
        let plain = Engine::new(Arc::new(MemoryStore::new()), without_rule.clone());
        plain.ingest(first.clone()).await.expect("ingest");
        assert!(plain.check(second.clone()).await.expect("check").matches.is_empty(), "containment alone matched");
    }

    // the item arriving last, after an excerpt of its second half (a cluster of its own) and the
    // teaser: it joins the excerpt, its best match, and brings the teaser's cluster along, though
    // the teaser matched it on distinctive text only
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let excerpt = Article { source: "other.example".into(), ..article("excerpt", rest_of_item(100..140), 3_000) };
    engine.ingest(excerpt).await.expect("ingest");
    engine.ingest(its_teaser.clone()).await.expect("ingest");
    let last = engine.ingest(item.clone()).await.expect("ingest");
    assert_eq!(last.matches.len(), 2, "{last:?}");
    for id in ["excerpt", "teaser"] {
        assert_eq!(engine.article(id).await.expect("article").canonical_id, "item", "{id}");
    }

    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let template = |n: u64| {
        wire(&format!("report-{n}"), format!("{} {}", prose(300..332), rest_of_item(400 + 100 * n..440 + 100 * n)))
    };
    // two reports: too few for the wire's boilerplate model to learn the template (the teaser's
    // source is another anyway)
    for n in 0..2 {
        let stored = engine.ingest(template(n)).await.expect("ingest");
        assert!(!stored.duplicate, "one source's reports of one template are not copies: {stored:?}");
    }
    let template_teaser = teaser("template-teaser", prose(300..332), 3_000);
    // with one report stored, its lead is that report's distinctive text
    let alone = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    alone.ingest(template(0)).await.expect("ingest");
    assert_eq!(alone.check(template_teaser.clone()).await.expect("check").canonical_id, "report-0");
    // with two, it is their template
    let decision = engine.ingest(template_teaser.clone()).await.expect("ingest");
    assert!(decision.matches.is_empty(), "matched on the template: {decision:?}");
    // what keeps it out is the template: its text alone is as much of the teaser as the item's lead
    // is of the first teaser
    let shared = compare(
        &fingerprint::fingerprint(&template_teaser.body),
        &fingerprint::fingerprint(&template(1).body),
        |_, _| false,
    );
    assert!(shared.words.containment() >= 0.4 && shared.words.shared >= 6, "{shared:?}");
}

/// Every stored article carries the version of the algorithm that fingerprinted it, and articles
/// of another version are never compared (their samples are not of the same features): one left
/// by an older dedupd stays in its own cluster, and reports its version, until re-ingested.
#[tokio::test]
async fn other_fingerprint_versions_are_never_matched() {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::new(store.clone(), EngineConfig::default());
    let body = text(1);
    let mut old = record(article("old", body.clone(), 1_000), 5_000);
    old.fingerprint.version = fingerprint::FINGERPRINT_VERSION + 1;
    old.band_keys = old.fingerprint.band_keys(|_, _| false);
    store.insert_and_lookup(old.clone(), 10).await.expect("insert");
    store.assign(&old, &[]).await.expect("assign");

    let new = engine.ingest(article("new", body.clone(), 2_000)).await.expect("ingest");
    assert!(!new.duplicate, "{new:?}");
    assert!(new.matches.is_empty(), "{:?}", new.matches);
    let old = engine.article("old").await.expect("article");
    assert_eq!(old.article.fingerprint.version, fingerprint::FINGERPRINT_VERSION + 1);
    assert_eq!(
        engine.article("new").await.expect("article").article.fingerprint.version,
        fingerprint::FINGERPRINT_VERSION
    );
    // the same text under this version is a copy
    let copy = engine.ingest(article("copy", body, 3_000)).await.expect("ingest");
    assert_eq!(copy.canonical_id, "new");
}

/// One publisher's update that reuses two thirds of its earlier article and adds as much again
/// (containment 0.67, resemblance 0.4) is not a copy of it; the same text on another site is, and
/// so are the publisher's own re-send (resemblance ~0.97) and an excerpt of a third of it
/// (resemblance ~0.37, but wholly inside), and a pair without sources. Either may arrive first.
#[test]
fn a_publishers_update_is_not_its_copy() {
    let first = prose(0..150);
    let update = format!("{} {}", prose(0..100), prose(1_000..1_100));
    let resend = format!("{} {}", prose(0..148), prose(2_000..2_002));
    let excerpt = prose(0..55);
    let at = |source: &str, id: &str, body: &str, published: i64| Article {
        source: source.into(),
        ..article(id, body.to_string(), published)
    };
    for (source, other, body, expected) in [
        ("wire.example", "wire.example", &update, false),
        ("wire.example", "www.Wire.example", &update, false),
        ("wire.example", "aggregator.example", &update, true),
        ("", "", &update, true),
        ("wire.example", "wire.example", &resend, true),
        ("wire.example", "wire.example", &excerpt, true),
    ] {
        let (a, b) = (at(source, "first", &first, 1_000), at(other, "second", body, 2_000));
        assert_eq!(together(a.clone(), b.clone()), expected, "{source} / {other}: {}", &body[..40]);
        assert_eq!(together(b, a), expected, "{source} / {other}, second first");
    }
    let unruled = EngineConfig {
        rule: MatchRule { same_source_resemblance: 0.0, ..MatchRule::default() },
        ..EngineConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let joined = runtime.block_on(async {
        let engine = Engine::new(Arc::new(MemoryStore::new()), unruled);
        engine.ingest(at("wire.example", "first", &first, 1_000)).await.expect("ingest");
        engine.ingest(at("wire.example", "second", &update, 2_000)).await.expect("ingest").duplicate
    });
    assert!(joined, "with the rule off, containment alone decides");
}

/// A publisher's story (150 words) and its update (the first 100 of them and 100 new ones):
/// containment 0.67, resemblance 0.4.
fn story_and_update() -> (String, String) {
    (prose(0..150), format!("{} {}", prose(0..100), prose(1_000..1_100)))
}

fn from_source(source: &str, id: &str, body: &str, published: i64) -> Article {
    Article { source: source.into(), ..article(id, body.to_string(), published) }
}

/// The same-source rule at its default, then off.
fn same_source_on_and_off() -> [f64; 2] {
    [MatchRule::default().same_source_resemblance, 0.0]
}

/// An engine with the same-source rule at `resemblance`, the rest at the defaults.
fn engine_with_resemblance(resemblance: f64) -> Engine {
    let rule = MatchRule { same_source_resemblance: resemblance, ..MatchRule::default() };
    Engine::new(Arc::new(MemoryStore::new()), EngineConfig { rule, ..EngineConfig::default() })
}

/// A copy of a publisher's update matches both the update and (through the two thirds they share)
/// the publisher's earlier article, with equal similarity (the synthetic texts' skeletons are all
/// shared); arriving after both, it joins the update, the closer of the two, without merging the
/// publisher's two stories into one cluster. Fails if the merge check ignores the same-source rule,
/// or if equal matches are not ranked by resemblance. With the same-source rule off, the update
/// joins the earlier story on arrival and the copy follows (the setup's control).
#[tokio::test]
async fn a_copy_of_an_update_does_not_merge_it_with_the_earlier_article() {
    let (first_text, update_text) = story_and_update();
    for resemblance in same_source_on_and_off() {
        let (engine, merged) = (engine_with_resemblance(resemblance), resemblance == 0.0);
        let first = engine.ingest(from_source("wire.example", "first", &first_text, 1_000)).await.expect("ingest");
        let update = engine.ingest(from_source("wire.example", "update", &update_text, 2_000)).await.expect("ingest");
        assert_eq!(update.cluster_id == first.cluster_id, merged, "resemblance {resemblance}: the update itself");
        let copy = engine.ingest(from_source("aggregator.example", "copy", &update_text, 3_000)).await.expect("ingest");
        let ids: Vec<&str> = copy.matches.iter().map(|m| m.id.as_str()).collect();
        assert!(ids.contains(&"first") && ids.contains(&"update"), "the copy matches both: {ids:?}");
        assert_eq!(copy.canonical_id, if merged { "first" } else { "update" }, "{copy:?}");
        let first_now = engine.article("first").await.expect("article");
        assert_eq!(first_now.article.cluster_id == copy.cluster_id, merged, "resemblance {resemblance}");
    }
}

/// A publisher's earlier article that arrives last does not take over, as canonical, the cluster of
/// its later update (found through a copy of the update that holds two thirds of its text): the
/// update stays the original of its copy, and the earlier article starts a cluster of its own.
/// With the same-source rule off, the two are one story and the earlier article becomes the
/// canonical (the control). A later update that would not replace the canonical still joins.
#[tokio::test]
async fn a_late_earlier_article_does_not_rename_its_update_cluster() {
    let (earlier_text, update_text) = story_and_update();
    for resemblance in same_source_on_and_off() {
        let (engine, taken_over) = (engine_with_resemblance(resemblance), resemblance == 0.0);
        engine.ingest(from_source("aggregator.example", "copy", &update_text, 3_000)).await.expect("ingest");
        let update = engine.ingest(from_source("wire.example", "update", &update_text, 2_000)).await.expect("ingest");
        assert_eq!(update.canonical_id, "update", "the update is the original of its copy");
        let earlier =
            engine.ingest(from_source("wire.example", "earlier", &earlier_text, 1_000)).await.expect("ingest");
        assert!(earlier.matches.iter().any(|m| m.id == "copy"), "it matches the copy: {:?}", earlier.matches);
        assert_eq!(earlier.canonical_id, "earlier", "it is the first of whichever cluster it is in");
        let copy = engine.article("copy").await.expect("article");
        let expected = if taken_over { "earlier" } else { "update" };
        assert_eq!(copy.canonical_id, expected, "resemblance {resemblance}");
        assert_eq!(copy.article.cluster_id == earlier.cluster_id, taken_over, "resemblance {resemblance}");
    }
    // the other order of publication: the update, published after the story, follows its copy into
    // the story's cluster, since it does not replace the story as canonical
    let engine = engine_with_resemblance(MatchRule::default().same_source_resemblance);
    let story = engine.ingest(from_source("wire.example", "story", &earlier_text, 1_000)).await.expect("ingest");
    engine.ingest(from_source("aggregator.example", "copy", &update_text, 3_000)).await.expect("ingest");
    let update = engine.ingest(from_source("wire.example", "update", &update_text, 2_000)).await.expect("ingest");
    assert_eq!(update.cluster_id, story.cluster_id, "the later update joins through its copy");
    assert_eq!(update.canonical_id, "story");
}

/// A backdated copy on a known aggregator does not become canonical, and a trusted source's
/// original does even when a copy claims an earlier time.
#[tokio::test]
async fn source_lists_outrank_backdated_copies() {
    let sources = SourceTiers::new(&["orig.example"], &["copy.example"]);
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig { sources, ..EngineConfig::default() });
    let body = text(1);
    // the aggregator claims the earliest time and arrives first
    let copy = engine.ingest(article("copy", body.clone(), 500)).await.expect("ingest");
    assert!(!copy.duplicate, "alone, the aggregator's copy is its cluster's canonical");
    let ordinary = engine.ingest(article("plain", body.clone(), 800)).await.expect("ingest");
    assert_eq!(ordinary.canonical_id, "plain", "an ordinary source outranks a known aggregator");
    let original = engine.ingest(article("orig", body, 2_000)).await.expect("ingest");
    assert!(!original.duplicate);
    assert_eq!(original.canonical_id, "orig", "a trusted source outranks earlier claims");
    assert_eq!(engine.article("copy").await.expect("article").canonical_id, "orig");
    assert_eq!(engine.article("copy").await.expect("article").article.tier, SourceTier::Aggregator);

    // without lists, the earliest claim wins
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    engine.ingest(article("copy", text(1), 500)).await.expect("ingest");
    let original = engine.ingest(article("orig", text(1), 2_000)).await.expect("ingest");
    assert_eq!(original.canonical_id, "copy");
}

/// How the second article of a pair is made from the first.
#[derive(Debug, Clone)]
enum Second {
    /// The first `keep` percent of the words, `spin` percent of its content words swapped, and a
    /// footer: some such copies match, some do not.
    Copy { keep: usize, spin: u64, seed: u64 },
    /// Nearly all of it word for word, with a footer: must match.
    Verbatim { keep: usize },
    /// Another story: must not match.
    Unrelated,
}

/// The decision for a pair does not depend on which of the two arrives first, from one source or
/// two. Pairs are made so that some must match (verbatim copies) and some must not (other stories);
/// each kind must occur, and among the copies in between each outcome must be at least a fifth, or
/// the symmetry would hold (nearly) vacuously.
#[test]
fn pair_decision_does_not_depend_on_arrival_order() {
    let second = prop_oneof![
        3 => (10usize..=100, 0u64..40, any::<u64>()).prop_map(|(keep, spin, seed)| Second::Copy { keep, spin, seed }),
        1 => (90usize..=100).prop_map(|keep| Second::Verbatim { keep }),
        1 => Just(Second::Unrelated),
    ];
    let config = Config { cases: 96, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    // copies together, copies apart, verbatim copies, other stories
    let outcomes = std::cell::Cell::new([0usize; 4]);
    let result = runner.run(&(0u64..1_000, second, any::<bool>()), |(story, second, one_source)| {
        let original = text(story);
        let words: Vec<&str> = original.split(' ').collect();
        let prefix = |keep: usize| words[..(words.len() * keep / 100).max(1)].join(" ");
        let copy = match &second {
            Second::Copy { keep, spin, seed } => synthetic::spun(&prefix(*keep), *spin, *seed),
            Second::Verbatim { keep } => synthetic::spun(&prefix(*keep), 0, 0),
            Second::Unrelated => text(story + 1_000),
        };
        // one source, or two: the same-source rule must be as symmetric as the rest
        let from = |id: &str, body: String, published: i64| {
            let source = if one_source { "wire.example".to_string() } else { format!("{id}.example") };
            Article { source, ..article(id, body, published) }
        };
        let forward = together(from("a", original.clone(), 1_000), from("b", copy.clone(), 2_000));
        let backward = together(from("b", copy, 2_000), from("a", original, 1_000));
        prop_assert_eq!(forward, backward, "{:?}", second);
        let mut counts = outcomes.get();
        match second {
            Second::Verbatim { .. } => {
                prop_assert!(forward, "a verbatim copy is a copy");
                counts[2] += 1;
            }
            Second::Unrelated => {
                prop_assert!(!forward, "another story is not a copy");
                counts[3] += 1;
            }
            Second::Copy { .. } => counts[usize::from(!forward)] += 1,
        }
        outcomes.set(counts);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let [together, apart, verbatim, unrelated] = outcomes.get();
    eprintln!("pair order: copies {together} together, {apart} apart; {verbatim} verbatim, {unrelated} unrelated");
    assert!(verbatim > 0 && unrelated > 0, "{verbatim} verbatim copies, {unrelated} other stories");
    let copies = together + apart;
    assert!(together * 5 >= copies && apart * 5 >= copies, "copies in between: {together} together, {apart} apart");
}

/// Two reports of one event written independently: each writer's own sentences, and the same
/// statement quoted word for word, as news reports of one press conference quote it.
const STATEMENT: &str = "\"We have reviewed every contract signed since the merger and we found no evidence that any \
    supplier was paid twice, but we will publish the full audit next month so that shareholders, regulators and \
    our own employees can judge the numbers for themselves. Nobody at this company is above the rules, and the \
    board will not hesitate to act if the auditors tell us otherwise. We owe that to the people who trusted us \
    with their savings and their work.\"";

fn first_report() -> String {
    format!(
        "Shares in the shipping group recovered on Thursday after its chairman went before reporters in Oslo to \
         answer questions about the payments flagged by a whistleblower last week. Speaking beside the finance \
         director, she said:\n\n{STATEMENT}\n\nAnalysts at two Nordic banks said the promise of an audit would \
         calm investors for now, though several funds have asked for a seat on the committee overseeing it."
    )
}

fn second_report() -> String {
    format!(
        "A defiant board faced the press in the Norwegian capital hours before the annual meeting, insisting that \
         the accounting questions raised by a former employee had been blown out of proportion by rivals. \
         The chairman read a prepared statement:\n\n{STATEMENT}\n\nThe regulator declined to comment, and a lawyer \
         for the whistleblower told local radio that her client would give evidence to parliament in the spring."
    )
}

/// Independent reports that quote one statement at length are not copies of each other: quotations
/// are left out of the word shingles, so only the writers' own sentences are compared.
#[test]
fn independent_reports_quoting_one_statement_stay_apart() {
    assert!(!together(article("first", first_report(), 1_000), article("second", second_report(), 2_000)));
    assert!(!together(article("second", second_report(), 1_000), article("first", first_report(), 2_000)));
}

/// A copy scraped with its page's markup (tags with their attributes, entities, inline scripts), cut
/// to an excerpt, is read as the text a reader sees and matches its plain-text original; read as
/// raw text, the markup's words would outnumber the excerpt's own.
#[test]
fn an_excerpt_with_its_page_markup_matches_its_original() {
    let original = first_report();
    let script = "<script type=\"text/javascript\">window.dataLayer = window.dataLayer || []; \
                  dataLayer.push({event: 'article_scroll', depth: 'half', template: 'news-story'});</script>";
    let marked_up: String = original
        .split("\n\n")
        .filter(|paragraph| !paragraph.starts_with('"'))
        .flat_map(|paragraph| paragraph.split(". "))
        .enumerate()
        .map(|(i, sentence)| {
            let sentence = sentence.replace('\'', "&#8217;").replace(", ", ",&nbsp;");
            let block = word(900 + i as u64);
            format!(
                "<p class=\"article-body__paragraph story-text\" data-component=\"text-block-{block}\" \
                 id=\"para-{block}-anchor\"><span class=\"sentence\">{sentence}.</span></p>\n\
                 <div class=\"ad-slot ad-slot--{block}\" data-slot=\"inline-{block}\"></div>{script}\n"
            )
        })
        .collect();
    assert!(together(article("plain", original.clone(), 1_000), article("scraped", marked_up.clone(), 2_000)));
    assert!(together(article("scraped", marked_up, 1_000), article("plain", original, 2_000)));
}

/// Every match says which rule verified it and the containments behind it: a verbatim copy on word
/// shingles, a heavily spun copy on its skeleton.
#[tokio::test]
async fn matches_carry_the_rule_that_decided_them() {
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let original = text(7);
    engine.ingest(article("original", original.clone(), 1_000)).await.expect("ingest");
    let verbatim = engine.check(article("verbatim", original.clone(), 2_000)).await.expect("check");
    assert_eq!(verbatim.matches[0].reason, MatchReason::Words);
    assert!(verbatim.matches[0].words > 0.99, "{verbatim:?}");
    let spun = synthetic::spun(&original, 40, 3);
    let spun = engine.check(article("spun", spun, 2_000)).await.expect("check");
    assert_eq!(spun.matches.len(), 1, "{spun:?}");
    assert_eq!(spun.matches[0].reason, MatchReason::Skeleton, "{spun:?}");
    assert!(spun.matches[0].skeleton > spun.matches[0].words, "{spun:?}");
}
