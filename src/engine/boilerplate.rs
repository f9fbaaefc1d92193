//! Boilerplate learned online: sketch values that one source repeats across its articles (an
//! aggregator's header and footer, "Related Articles", share buttons).
//!
//! Left in, a long shared footer makes two unrelated short excerpts from the same aggregator look
//! contained in each other. A value becomes boilerplate once it has been seen in at least
//! [`MIN_ARTICLES`] articles of one source *and* in at least [`MIN_SHARE`] of that source's articles;
//! the relative condition keeps a high-volume wire service from blacklisting its ordinary phrases.
//! A source's boilerplate values are then ignored on both sides of every comparison that involves an
//! article of that source, and are not posted as its band keys. Per source, not global: a source that
//! repeats some text can only hide that text in comparisons with itself, never another source's. The
//! sets only grow, so sketches stored earlier stay comparable.
//!
//! Counting every value of every source exactly would grow without bound, so each source counts with
//! lossy counting (Manku & Motwani, VLDB 2002): entries that cannot reach the threshold are pruned
//! every [`BUCKET`] values, and every value above 1/[`BUCKET`] of the source's stream is kept. A
//! boilerplate value is one of an article's at most 48 sampled values of its kind
//! ([`crate::fingerprint::sketch::CAPACITY`]), so a value in [`MIN_SHARE`] of a source's articles is
//! at least 1/960 of that stream: above the guarantee.
//!
//! Values are counted and looked up as comparisons see them ([`compared`]). Sources are keys as the
//! caller gives them; the engine gives one key to every spelling of a source
//! ([`super::sources::boilerplate_key`]).
//!
//! The model is learned from the articles this process ingests (the order of arrival matters, as for
//! any online statistic); it is not stored.

use std::collections::HashMap;

use crate::int_map::{IntMap, IntSet};

use crate::fingerprint::Fingerprint;
use crate::fingerprint::features::FeatureKind;
use crate::fingerprint::sketch::compared;

/// A value must be seen in at least this many articles of one source to be boilerplate.
pub const MIN_ARTICLES: u32 = 3;
/// … and in at least this share of that source's articles.
pub const MIN_SHARE: f64 = 0.05;
/// Lossy-counting bucket width (values): the error bound is 1/BUCKET of a source's stream.
pub const BUCKET: u64 = 2000;

/// Sketch values are uniform hash bits: keyed as they are (see [`crate::int_map`]).
type ValueSet = IntSet<u32>;
type ValueMap<V> = IntMap<u32, V>;

/// Lossy counter of one source's sketch values of one kind.
#[derive(Debug, Default)]
struct LossyCounter {
    /// value → (count, the most it may have been undercounted by)
    entries: ValueMap<(u32, u32)>,
    seen: u64,
}

impl LossyCounter {
    /// Counts one occurrence; returns the value's count.
    fn add(&mut self, value: u32) -> u32 {
        self.seen += 1;
        let bucket = self.seen.div_ceil(BUCKET) as u32;
        let entry = self.entries.entry(value).or_insert((0, bucket - 1));
        entry.0 += 1;
        let count = entry.0;
        if self.seen.is_multiple_of(BUCKET) {
            self.entries.retain(|_, (count, error)| *count + *error > bucket);
        }
        count
    }

    /// The counts [`LossyCounter::add`] would return for `values` in turn, leaving the counter as it
    /// is: a value pruned at a bucket boundary along the way starts again from one. `values` are
    /// ascending, as a sketch's are, so a value that repeats follows itself.
    fn counts_if_added(&self, values: &[u32]) -> Vec<u32> {
        debug_assert!(values.is_sorted(), "values in sketch order");
        let mut seen = self.seen;
        // the bucket of the last prune these additions would make
        let mut pruned: Option<u32> = None;
        // the previous value and its entry after its addition (`None` once pruned)
        let mut previous: Option<(u32, Option<(u32, u32)>)> = None;
        let mut counts = Vec::with_capacity(values.len());
        for &value in values {
            seen += 1;
            let bucket = seen.div_ceil(BUCKET) as u32;
            let current = match previous {
                Some((previous, entry)) if previous == value => entry,
                _ => self
                    .entries
                    .get(&value)
                    .copied()
                    .filter(|&(count, error)| pruned.is_none_or(|bucket| count + error > bucket)),
            };
            let (count, error) = current.unwrap_or((0, bucket - 1));
            let mut entry = Some((count + 1, error));
            counts.push(count + 1);
            if seen.is_multiple_of(BUCKET) {
                pruned = Some(bucket);
                entry = entry.filter(|&(count, error)| count + error > bucket);
            }
            previous = Some((value, entry));
        }
        counts
    }
}

/// What is known of one source.
#[derive(Debug, Default)]
struct Source {
    articles: u64,
    words: LossyCounter,
    skeleton: LossyCounter,
    /// The values found to be boilerplate.
    bad_words: ValueSet,
    bad_skeleton: ValueSet,
}

/// The values that learning one more article of a source would make boilerplate of it
/// ([`Boilerplate::preview`]), ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Learned {
    source: String,
    words: Vec<u32>,
    skeleton: Vec<u32>,
}

impl Learned {
    fn contains(&self, kind: FeatureKind, value: u32) -> bool {
        let values = match kind {
            FeatureKind::Words => &self.words,
            FeatureKind::Skeleton => &self.skeleton,
        };
        values.binary_search(&value).is_ok()
    }
}

/// The boilerplate of one or two sources, looked up once.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    a: Option<&'a Source>,
    b: Option<&'a Source>,
    /// What learning from an article of one of the two would add, when the caller decides as if it had.
    learned: Option<&'a Learned>,
}

impl Filter<'_> {
    /// Whether `value` of `kind`, as [`compared`] gives it, is boilerplate of either source.
    #[inline]
    pub fn contains(&self, kind: FeatureKind, value: u32) -> bool {
        let bad = |source: Option<&Source>| {
            source.is_some_and(|s| match kind {
                FeatureKind::Words => s.bad_words.contains(&value),
                FeatureKind::Skeleton => s.bad_skeleton.contains(&value),
            })
        };
        bad(self.a) || bad(self.b) || self.learned.is_some_and(|learned| learned.contains(kind, value))
    }
}

/// The learned boilerplate values, per source.
#[derive(Debug, Default)]
pub struct Boilerplate {
    sources: HashMap<String, Source>,
}

impl Boilerplate {
    /// A filter for values that are boilerplate of either source: what a comparison of an article of
    /// `a` with one of `b` ignores. Looks the sources up once, not per value.
    pub fn filter(&self, a: &str, b: &str) -> Filter<'_> {
        Filter { a: self.sources.get(a), b: if a == b { None } else { self.sources.get(b) }, learned: None }
    }

    /// [`Boilerplate::filter`] as it would be once the model has learned the article `learned` is the
    /// [`Boilerplate::preview`] of (unchanged unless `a` or `b` is that article's source).
    pub fn filter_after<'m>(&'m self, a: &str, b: &str, learned: &'m Learned) -> Filter<'m> {
        let learned = (learned.source == a || learned.source == b).then_some(learned);
        Filter { learned, ..self.filter(a, b) }
    }

    /// Whether `value` of `kind`, as [`compared`] gives it, is known boilerplate of `source`.
    pub fn contains(&self, source: &str, kind: FeatureKind, value: u32) -> bool {
        self.filter(source, source).contains(kind, value)
    }

    /// Number of boilerplate values learned, over all sources and both kinds.
    pub fn len(&self) -> usize {
        self.sources.values().map(|s| s.bad_words.len() + s.bad_skeleton.len()).sum()
    }

    /// Whether nothing has been learned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Learns from one article of `source`.
    pub fn learn(&mut self, source: &str, fingerprint: &Fingerprint) {
        let counts = match self.sources.get_mut(source) {
            Some(counts) => counts,
            None => self.sources.entry(source.to_string()).or_default(),
        };
        counts.articles += 1;
        let needed = MIN_ARTICLES.max((MIN_SHARE * counts.articles as f64).ceil() as u32);
        for value in fingerprint.words.values.iter().map(|&v| compared(v)) {
            if counts.words.add(value) >= needed {
                counts.bad_words.insert(value);
            }
        }
        for value in fingerprint.skeleton.values.iter().map(|&v| compared(v)) {
            if counts.skeleton.add(value) >= needed {
                counts.bad_skeleton.insert(value);
            }
        }
    }

    /// The values that [`Boilerplate::learn`] of this article of `source` would make boilerplate,
    /// without learning it: what deciding as an ingest does (which learns before it decides) takes
    /// into account, for a check.
    pub fn preview(&self, source: &str, fingerprint: &Fingerprint) -> Learned {
        let unknown = Source::default();
        let counts = self.sources.get(source).unwrap_or(&unknown);
        let needed = MIN_ARTICLES.max((MIN_SHARE * (counts.articles + 1) as f64).ceil() as u32);
        let new = |counter: &LossyCounter, bad: &ValueSet, sketch: &crate::fingerprint::sketch::Sketch| {
            let values: Vec<u32> = sketch.values.iter().map(|&v| compared(v)).collect();
            let mut new: Vec<u32> = values
                .iter()
                .zip(counter.counts_if_added(&values))
                .filter(|&(value, count)| count >= needed && !bad.contains(value))
                .map(|(&value, _)| value)
                .collect();
            new.dedup();
            new
        };
        Learned {
            source: source.to_string(),
            words: new(&counts.words, &counts.bad_words, &fingerprint.words),
            skeleton: new(&counts.skeleton, &counts.bad_skeleton, &fingerprint.skeleton),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::fingerprint;

    const FOOTER: &str = "This post was aggregated automatically from a wire feed and may contain errors. \
        Spotted a problem? Let us know. Follow us on every network for breaking updates and more.";

    /// Sixty words no other seed uses.
    fn story(seed: u64) -> String {
        (0..60).map(|i| crate::synthetic::word(seed * 60 + i)).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn a_footer_repeated_by_one_source_becomes_boilerplate() {
        let mut model = Boilerplate::default();
        for seed in 0..10 {
            model.learn("aggregator.example", &fingerprint(&format!("{} {FOOTER}", story(seed))));
        }
        // two new, unrelated articles of that source share only the footer: once it is learned,
        // nothing of what they share is left to compare
        let a = fingerprint(&format!("{} {FOOTER}", story(100)));
        let b = fingerprint(&format!("{} {FOOTER}", story(101)));
        let raw = crate::engine::rules::compare(&a, &b, |_, _| false);
        let source = "aggregator.example";
        let filtered =
            crate::engine::rules::compare(&a, &b, |kind, value| model.filter(source, source).contains(kind, value));
        assert!(raw.words.shared > 0, "the footer is shared before filtering");
        assert_eq!(filtered.words.shared, 0);
        let story_fp = fingerprint(&story(99));
        assert!(story_fp.words.values.iter().all(|&v| !model.contains(source, FeatureKind::Words, compared(v))));
        // another source comparing with an article of this one ignores the footer too, but a third
        // source's own comparisons are untouched
        let footer = fingerprint(FOOTER);
        assert!(
            footer
                .words
                .values
                .iter()
                .any(|&v| model.filter("other.example", source).contains(FeatureKind::Words, compared(v)))
        );
        assert!(footer.words.values.iter().all(|&v| !model.contains("other.example", FeatureKind::Words, compared(v))));
    }

    #[test]
    fn text_spread_over_sources_is_not_boilerplate() {
        let mut model = Boilerplate::default();
        for seed in 0..10 {
            model.learn(&format!("site{seed}.example"), &fingerprint(&format!("{} {FOOTER}", story(seed))));
        }
        assert!(model.is_empty(), "each source saw the footer once");
    }

    /// A preview names exactly the values that learning the article then makes boilerplate, across
    /// lossy counting's pruning: several sources, stories that repeat, footers that come and go.
    #[test]
    fn a_preview_is_what_learning_then_adds() {
        let synthetic = crate::synthetic::Synthetic::new(4);
        let mut model = Boilerplate::default();
        let mut previewed = 0;
        for index in 0..400u64 {
            let source = format!("site{}.example", index % 3);
            // stories repeat within a source, and every third article carries a footer
            let mut body = synthetic.story_text(index % 17);
            if index % 3 == 0 {
                body.push_str(&format!(" {FOOTER}"));
            }
            let fingerprint = fingerprint(&body);
            let learned = model.preview(&source, &fingerprint);
            let bad = |model: &Boilerplate| {
                model.sources.get(&source).map(|s| (s.bad_words.clone(), s.bad_skeleton.clone())).unwrap_or_default()
            };
            let (words_before, skeleton_before) = bad(&model);
            model.learn(&source, &fingerprint);
            let (words_after, skeleton_after) = bad(&model);
            let added = |after: &ValueSet, before: &ValueSet| {
                let mut added: Vec<u32> = after.difference(before).copied().collect();
                added.sort_unstable();
                added
            };
            assert_eq!(learned.words, added(&words_after, &words_before), "article {index}");
            assert_eq!(learned.skeleton, added(&skeleton_after, &skeleton_before), "article {index}");
            previewed += usize::from(!learned.words.is_empty());
        }
        let seen = model.sources["site0.example"].words.seen;
        assert!(seen > 2 * BUCKET, "the counters were pruned along the way: {seen} values");
        assert!(previewed > 10, "{previewed} previews made values boilerplate");
    }

    #[test]
    fn counts_if_added_are_what_adding_returns() {
        let mut counter = LossyCounter::default();
        for batch in 0..200u32 {
            // common values, some twice in a batch, and rare ones that come back for three batches,
            // across several prunes; in sketch order
            let value = |i: u32| if i.is_multiple_of(4) { 1_000_000 + batch / 3 * 100 + i } else { i * i % 150 };
            let mut values: Vec<u32> = (0..48).map(value).collect();
            values.sort_unstable();
            let expected = counter.counts_if_added(&values);
            let counted: Vec<u32> = values.iter().map(|&value| counter.add(value)).collect();
            assert_eq!(expected, counted, "batch {batch}");
        }
        assert!(counter.seen > 4 * BUCKET);
    }

    /// A value whose first addition is the one that prunes, and is pruned, starts again from one.
    #[test]
    fn a_value_pruned_between_its_two_additions_starts_again() {
        let mut counter = LossyCounter::default();
        for filler in 0..BUCKET as u32 - 1 {
            counter.add(1_000_000 + filler);
        }
        let expected = counter.counts_if_added(&[7, 7]);
        let counted = vec![counter.add(7), counter.add(7)];
        assert_eq!((expected, counted), (vec![1, 1], vec![1, 1]));
    }

    #[test]
    fn lossy_counting_keeps_frequent_values_and_bounds_memory() {
        let mut counter = LossyCounter::default();
        for i in 0..200_000u32 {
            counter.add(if i % 500 == 0 { 7 } else { i + 100 });
        }
        assert!(counter.entries.get(&7).is_some_and(|&(count, _)| count >= 399));
        assert!(counter.entries.len() < 2 * BUCKET as usize, "{} entries", counter.entries.len());
    }
}
