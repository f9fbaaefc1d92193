//! Fingerprinting: pure, synchronous, no I/O.
//!
//! `text → normalize → tokenize → features → (simhash, sketches)`, once per article at ingest; the
//! engine only compares the results ([`compare`], [`MatchRule`]). Each stage is its own module, tested
//! alone; [`Fingerprinter`] strings them together reusing its buffers.
//!
//! Why sketches and not one simhash: on `../shared/eval/dev`, copies sit at Hamming distance median 7,
//! p99 22 from their original under a whole-text simhash, while unrelated articles start at 13, so no
//! radius separates them. Word-shingle containment is precise but a heavy spinner destroys it;
//! skeleton containment survives spinning but is low-entropy. A match needs high containment on word
//! shingles, or high containment on the skeleton *and* some on word shingles; two short texts of
//! different sources may also match on their distinctive word shingles, with what several stories
//! share left out ([`MatchRule::matches_on_distinctive`]). The simhash is kept for the API
//! (`hamming_distance`) but decides nothing.

pub mod boilerplate;
pub mod features;
pub mod normalize;
pub mod simhash;
pub mod sketch;
pub mod stopwords;
pub mod tokenize;

use serde::{Deserialize, Serialize};

use self::features::FeatureKind;
use self::sketch::{Overlap, Sketch};
use self::tokenize::Token;

/// The version of the fingerprint algorithm, stored with every fingerprint. Bump it whenever a change
/// makes stored fingerprints incomparable with new ones (features, hashing, seeds, sketch layout);
/// the engine never compares fingerprints of different versions.
pub const FINGERPRINT_VERSION: u32 = 1;

/// Values kept in the numbers sketch.
pub const NUMBERS_CAPACITY: usize = 16;

/// Band keys posted per sketch: the smallest values that are not boilerplate.
pub const BAND_KEYS_PER_SKETCH: usize = 12;

/// Everything dedupd keeps about an article's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub version: u32,
    /// Simhash of the word shingles of the whole body: the number the API reports.
    pub simhash: u64,
    /// Bottom-k sample of the word shingles.
    pub words: Sketch,
    /// Bottom-k sample of the skeleton shingles.
    pub skeleton: Sketch,
    /// Bottom-k sample of the distinct numbers in the text ([`NUMBERS_CAPACITY`] values).
    pub numbers: Sketch,
    /// Number of tokens in the body (saturating).
    pub tokens: u32,
}

impl Fingerprint {
    /// Keys under which the article is posted in the band tables: the [`BAND_KEYS_PER_SKETCH`]
    /// smallest values of each sketch for which `excluded` (asked about the [`sketch::compared`]
    /// value) is false, tagged by kind. Distinct. An article is a candidate for another when they
    /// share at least one key. Keys keep all 32 bits of the value: the smallest values of every
    /// article's sample fall in the bottom few percent of the range, where the compared 20 bits would
    /// give the whole corpus only tens of thousands of distinct keys.
    pub fn band_keys(&self, excluded: impl Fn(FeatureKind, u32) -> bool) -> Vec<u64> {
        let mut keys = Vec::with_capacity(2 * BAND_KEYS_PER_SKETCH);
        for (kind, sketch) in [(FeatureKind::Words, &self.words), (FeatureKind::Skeleton, &self.skeleton)] {
            let tag = kind.band_tag();
            keys.extend(
                sketch
                    .values
                    .iter()
                    .filter(|&&value| !excluded(kind, sketch::compared(value)))
                    .take(BAND_KEYS_PER_SKETCH)
                    .map(|&value| (tag << 32) | u64::from(value)),
            );
        }
        keys
    }
}

/// Reusable buffers for fingerprinting: one per thread avoids an allocation per stage per article.
#[derive(Default)]
pub struct Fingerprinter {
    tokens: Vec<Token>,
    features: Vec<u64>,
    scratch: Vec<u64>,
    values: Vec<u32>,
}

impl Fingerprinter {
    pub fn fingerprint(&mut self, body: &str) -> Fingerprint {
        let text = normalize::normalize(body);
        tokenize::tokenize(&text, &mut self.tokens);

        features::word_shingles(&self.tokens, &mut self.scratch, &mut self.features);
        let mut simhash = simhash::SimhashBuilder::default();
        simhash.add_all(&self.features);
        let words = Sketch::from_features(&self.features, &mut self.values);

        features::skeleton_shingles(&self.tokens, &mut self.scratch, &mut self.features);
        let skeleton = Sketch::from_features(&self.features, &mut self.values);

        features::numbers(&self.tokens, &mut self.features);
        let numbers = Sketch::with_capacity(&self.features, NUMBERS_CAPACITY, &mut self.values);

        Fingerprint {
            version: FINGERPRINT_VERSION,
            simhash: simhash.finish(),
            words,
            skeleton,
            numbers,
            tokens: u32::try_from(self.tokens.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Fingerprints one text with fresh buffers.
pub fn fingerprint(body: &str) -> Fingerprint {
    Fingerprinter::default().fingerprint(body)
}

/// How two fingerprints compare: the containment of each sketch, boilerplate left out.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Comparison {
    pub words: Overlap,
    pub skeleton: Overlap,
    pub numbers: Overlap,
    /// The fewer tokens of the two texts.
    pub tokens: u32,
}

impl Comparison {
    /// The similarity reported to clients: the larger of the two containments, in 0..1.
    pub fn similarity(&self) -> f64 {
        self.words.containment().max(self.skeleton.containment())
    }
}

/// Compares two fingerprints, ignoring values `boilerplate` says are boilerplate. Symmetric.
pub fn compare(a: &Fingerprint, b: &Fingerprint, boilerplate: impl Fn(FeatureKind, u32) -> bool) -> Comparison {
    Comparison {
        words: a.words.overlap(&b.words, |v| boilerplate(FeatureKind::Words, v)),
        skeleton: a.skeleton.overlap(&b.skeleton, |v| boilerplate(FeatureKind::Skeleton, v)),
        numbers: a.numbers.overlap(&b.numbers, |_| false),
        tokens: a.tokens.min(b.tokens),
    }
}

/// Whether a pair can match at all, cheaply: the numbers veto and the shared-value minimums of
/// [`MatchRule::matches`] and [`MatchRule::matches_on_distinctive`] checked with boilerplate left in,
/// which can only overcount shared values. `false` means [`compare`] followed by either rule is
/// `false` for any boilerplate and template values; most candidates (they share as little as one band
/// key) stop here, before any boilerplate lookup.
pub fn may_match(a: &Fingerprint, b: &Fingerprint, rule: &MatchRule) -> bool {
    if rule.vetoed_by_numbers(&a.numbers.overlap(&b.numbers, |_| false)) {
        return false;
    }
    // the distinctive rule's minimum is the highest of the three by default; taken in all the same, so
    // that a rule built with a lower one stays sound
    let words_needed = rule.min_shared.min(rule.short_min_shared).min(rule.distinctive_min_shared);
    a.words.shared_upper_bound(&b.words) >= words_needed
        || a.skeleton.shared_upper_bound(&b.skeleton) >= rule.min_shared
}

/// When two articles are the same story. The thresholds are configurable (`dedupd serve` and
/// `dedupd eval` flags); the defaults were chosen on `../shared/eval/dev` and a second labelled set
/// built from Reuters with another spinner (see the README).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchRule {
    /// Word-shingle containment that alone makes a match.
    pub words: f64,
    /// Skeleton containment that makes a match together with [`MatchRule::words_floor`].
    pub skeleton: f64,
    /// Word-shingle containment a skeleton match needs too: structure alone is not a copy.
    pub words_floor: f64,
    /// Shared sampled values needed on the sketch that decides: guards against tiny samples.
    pub min_shared: usize,
    /// Texts with fewer tokens than this are short: their samples are small and their structure
    /// (skeleton) is shared by any two briefs of the same template, so they match on word shingles
    /// ([`MatchRule::short_words`]), or on a skeleton that is nearly all shared together with a good
    /// part of the word shingles; never on structure alone.
    pub short_tokens: u32,
    pub short_words: f64,
    /// A short text also matches when its skeleton is nearly all shared ([`MatchRule::short_skeleton`])
    /// and so is a good part of its word shingles ([`MatchRule::short_words_floor`]): a spun excerpt of
    /// a brief. Both are stricter than the long-text skeleton rule.
    pub short_skeleton: f64,
    pub short_words_floor: f64,
    pub short_min_shared: usize,
    /// Numbers veto: when both texts have at least [`MatchRule::numbers_min`] sampled numbers, fewer
    /// than this share of the smaller set in the other means different facts (templated wire items:
    /// the same earnings or bond-issue template with other figures). Spinners leave numbers alone, and
    /// containment tolerates the numbers a header adds (dates) or an excerpt drops.
    pub numbers: f64,
    pub numbers_min: usize,
    /// Two articles of one source must also *resemble* each other this much (word shingles,
    /// [`Overlap::resemblance`]: an estimate of their Jaccard similarity), unless one is nearly all
    /// inside the other ([`MatchRule::same_source_containment`]). A publisher's own brief and its
    /// update, or its templated reports (rate changes, bond issues, a central bank's daily
    /// operations), contain much of each other's text without being copies of each other; its
    /// re-sends and corrections resemble their first version closely, and an aggregator's excerpt of
    /// a story lies wholly inside its full copy of it. Copies on other sources are not held to it.
    /// 0 turns it off. The engine applies it ([`MatchRule::matches_within_source`]): only it knows
    /// the sources.
    pub same_source_resemblance: f64,
    /// The word containment at which two articles of one source match whatever their resemblance.
    pub same_source_containment: f64,
    /// Distinctive rule: two short texts of different sources also match when this share of the
    /// smaller one's *distinctive* word-shingle values is in the other, with at least
    /// [`MatchRule::distinctive_min_shared`] of them shared. Distinctive values are those that are
    /// neither boilerplate nor template text (held by the new article's candidates of two or more
    /// clusters; the engine finds them). For a teaser, a wire item cut down to a sentence or two and
    /// wrapped in as many words of an aggregator's header, footer and related-headline list: the
    /// aggregator's changing text (dates, other stories' titles) keeps its containment under
    /// [`MatchRule::words`], which cannot be lowered for everyone because templated wire items share
    /// whole sentences. 0 turns it off. See [`MatchRule::matches_on_distinctive`].
    pub distinctive_words: f64,
    /// The distinctive rule applies when the shorter text has fewer tokens than this: a long text's
    /// excerpt outweighs any header and footer, and long related stories share many distinctive
    /// phrases (names, quotes).
    pub distinctive_tokens: u32,
    /// Shared distinctive values the distinctive rule needs: more than the other rules ask, since it
    /// accepts a lower containment.
    pub distinctive_min_shared: usize,
}

impl Default for MatchRule {
    fn default() -> Self {
        MatchRule {
            words: 0.60,
            skeleton: 0.55,
            words_floor: 0.15,
            min_shared: 4,
            short_tokens: 50,
            short_words: 0.7,
            short_skeleton: 0.70,
            short_words_floor: 0.40,
            short_min_shared: 3,
            numbers: 0.34,
            numbers_min: 6,
            same_source_resemblance: 0.5,
            same_source_containment: 0.9,
            distinctive_words: 0.4,
            distinctive_tokens: 100,
            distinctive_min_shared: 6,
        }
    }
}

impl MatchRule {
    /// Whether a comparison is a verified match.
    pub fn matches(&self, c: &Comparison) -> bool {
        let (words, skeleton) = (c.words.containment(), c.skeleton.containment());
        if self.vetoed_by_numbers(&c.numbers) {
            return false;
        }
        if c.tokens < self.short_tokens {
            let on_words = words >= self.short_words && c.words.shared >= self.short_min_shared;
            let on_skeleton = skeleton >= self.short_skeleton
                && c.skeleton.shared >= self.min_shared
                && words >= self.short_words_floor
                && c.words.shared >= self.short_min_shared;
            return on_words || on_skeleton;
        }
        let on_words = words >= self.words && c.words.shared >= self.min_shared;
        let on_skeleton =
            skeleton >= self.skeleton && c.skeleton.shared >= self.min_shared && words >= self.words_floor;
        on_words || on_skeleton
    }

    /// The numbers veto ([`MatchRule::numbers`]): both texts have enough sampled numbers, and too few
    /// of the smaller set are in the other.
    pub fn vetoed_by_numbers(&self, numbers: &Overlap) -> bool {
        numbers.smaller >= self.numbers_min && numbers.containment() < self.numbers
    }

    /// Whether the distinctive rule can apply to a comparison at all (it is on, the texts are short
    /// enough, the numbers do not veto): the engine looks for template values only then.
    pub fn distinctive_applies(&self, c: &Comparison) -> bool {
        self.distinctive_words > 0.0 && c.tokens < self.distinctive_tokens && !self.vetoed_by_numbers(&c.numbers)
    }

    /// Whether a comparison of two articles of *different* sources matches on distinctive values
    /// ([`MatchRule::distinctive_words`]): `distinctive` is their word overlap with boilerplate and
    /// template values left out. The engine asks only for pairs [`MatchRule::matches`] rejected, and
    /// never for two articles of one source, whose templated reports are what the rule must not join
    /// (two articles without a source are of different sources here, as for the same-source rule).
    pub fn matches_on_distinctive(&self, c: &Comparison, distinctive: &Overlap) -> bool {
        self.distinctive_applies(c)
            && distinctive.shared >= self.distinctive_min_shared
            && distinctive.containment() >= self.distinctive_words
    }

    /// Whether a comparison of two articles of one source is a verified match: [`MatchRule::matches`],
    /// and the [`MatchRule::same_source_resemblance`] or [`MatchRule::same_source_containment`].
    pub fn matches_within_source(&self, c: &Comparison) -> bool {
        self.matches(c)
            && (c.words.resemblance() >= self.same_source_resemblance
                || c.words.containment() >= self.same_source_containment)
    }
}

#[cfg(test)]
mod properties {
    //! Property tests: fingerprints ignore what a copycat changes without changing the text.

    use proptest::prelude::*;

    use super::*;

    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "in",
        "to",
        "minister",
        "said",
        "market",
        "rates",
        "bank",
        "2024",
        "37",
        "Reuters",
        "don't",
        "government",
        "talks",
        "prices",
        "rose",
        "fell",
        "week",
        "on",
        "Tuesday",
        "London",
        "was",
    ];

    /// A text of 20–200 words from a small vocabulary, as a list of words.
    fn words() -> impl Strategy<Value = Vec<&'static str>> {
        prop::collection::vec(prop::sample::select(WORDS), 20..200)
    }

    proptest! {
        #[test]
        fn whitespace_does_not_matter(words in words(), seps in prop::collection::vec(prop::sample::select(&[" ", "  ", "\n", "\t", " \n\n "][..]), 200)) {
            let plain = words.join(" ");
            let spaced: String = words.iter().zip(seps.iter().cycle()).map(|(w, s)| format!("{w}{s}")).collect();
            prop_assert_eq!(fingerprint(&plain), fingerprint(&spaced));
        }

        #[test]
        fn quote_style_does_not_matter(words in words()) {
            let straight = format!("\"{}\" he said, 'quoting' it's", words.join(" "));
            let curly = format!("\u{201C}{}\u{201D} he said, \u{2018}quoting\u{2019} it\u{2019}s", words.join(" "));
            prop_assert_eq!(fingerprint(&straight), fingerprint(&curly));
        }

        #[test]
        fn invisible_characters_do_not_matter(words in words(), at in prop::collection::vec(0usize..8, 200), which in prop::collection::vec(prop::sample::select(&['\u{200B}', '\u{00AD}', '\u{200D}', '\u{FEFF}', '\u{2060}'][..]), 200)) {
            let plain = words.join(" ");
            let tricked: String = words
                .iter()
                .zip(at.iter().zip(which.iter()))
                .map(|(w, (&i, &c))| {
                    let cut = w.char_indices().nth(i % w.chars().count()).map(|(b, _)| b).unwrap_or(0);
                    format!("{}{c}{}", &w[..cut], &w[cut..])
                })
                .collect::<Vec<_>>()
                .join(" ");
            prop_assert_eq!(fingerprint(&plain), fingerprint(&tricked));
        }

        #[test]
        fn may_match_never_rejects_a_match(a in words(), b in words(), cut in 0usize..200, modulus in 2u32..9) {
            // b shares a stretch of a, so some pairs match; boilerplate is an arbitrary value subset
            let mut copy: Vec<&str> = a.iter().take(cut).copied().collect();
            copy.extend(b.iter().copied());
            let (fa, fb) = (fingerprint(&a.join(" ")), fingerprint(&copy.join(" ")));
            let filtered = compare(&fa, &fb, |_, v| v % modulus == 0);
            // template values: another arbitrary subset, left out on top of the boilerplate
            let distinctive = fa.words.overlap(&fb.words, |v| v % modulus == 0 || v % (modulus + 1) == 1);
            let rule = MatchRule::default();
            let matched = rule.matches(&filtered)
                || rule.matches(&compare(&fa, &fb, |_, _| false))
                || rule.matches_on_distinctive(&filtered, &distinctive);
            prop_assert!(!matched || may_match(&fa, &fb, &rule));
        }

        #[test]
        fn any_text_fingerprints(text in any::<String>()) {
            // whatever a client sends (any code points, controls, unpaired marks): no panic, and a
            // well-formed fingerprint
            let fp = fingerprint(&text);
            prop_assert_eq!(fp.version, FINGERPRINT_VERSION);
            let sketches = [(&fp.words, sketch::CAPACITY), (&fp.skeleton, sketch::CAPACITY), (&fp.numbers, NUMBERS_CAPACITY)];
            for (sketch, capacity) in sketches {
                prop_assert!(sketch.values.len() <= capacity);
                prop_assert!(sketch.values.windows(2).all(|pair| pair[0] < pair[1]), "ascending and distinct");
            }
            prop_assert_eq!(fp.tokens == 0, fp.words.values.is_empty());
        }

        #[test]
        fn letter_case_does_not_matter(words in words()) {
            let text = words.join(" ");
            prop_assert_eq!(fingerprint(&text), fingerprint(&text.to_uppercase()));
            prop_assert_eq!(fingerprint(&text), fingerprint(&text.to_lowercase()));
        }

        #[test]
        fn comparison_and_match_are_symmetric(a in words(), b in words(), cut in 0usize..200) {
            // b starts with a prefix of a, so that some pairs match and some do not
            let mixed: Vec<&str> = a.iter().take(cut).chain(b.iter()).copied().collect();
            let (a, b) = (fingerprint(&a.join(" ")), fingerprint(&mixed.join(" ")));
            let (ab, ba) = (compare(&a, &b, |_, _| false), compare(&b, &a, |_, _| false));
            prop_assert_eq!(ab, ba);
            prop_assert_eq!(MatchRule::default().matches(&ab), MatchRule::default().matches(&ba));
        }
    }
}
