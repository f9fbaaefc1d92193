//! Fingerprinting: pure text → features, synchronous, no I/O.
//!
//! `text → html → normalize → tokenize → features → (simhash, sketches)`, once per article at ingest;
//! word shingles are taken from the text outside quotations ([`quotes`]). Each
//! stage is its own module, tested alone; [`Fingerprinter`] strings them together reusing its
//! buffers. Nothing here decides whether two articles match: the engine compares fingerprints
//! ([`crate::engine::rules`]). The simhash is kept for the API (`hamming_distance`) and decides
//! nothing; the sketches are what articles are compared by.

pub mod features;
pub mod html;
pub mod normalize;
pub mod quotes;
pub mod reading;
pub mod simhash;
pub mod sketch;
pub mod stopwords;
pub mod tokenize;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use self::features::FeatureKind;
use self::sketch::Sketch;
use self::tokenize::Token;

/// The version of the fingerprint algorithm, stored with every fingerprint. Bump it whenever a change
/// makes stored fingerprints incomparable with new ones (features, hashing, seeds, sketch layout);
/// the engine never compares fingerprints of different versions.
pub const FINGERPRINT_VERSION: u32 = 2;

/// Values kept in the numbers sketch.
pub const NUMBERS_CAPACITY: usize = 16;

/// Word shingles are taken from the text outside quotations ([`quotes`]) when it has at least this
/// many tokens; a text that is nearly all quotation (a statement, a transcript) keeps its quotes.
pub const MIN_PROSE_TOKENS: usize = 30;

/// Band keys posted per sketch: the smallest values that are not boilerplate.
pub const BAND_KEYS_PER_SKETCH: usize = 12;

/// Everything dedupd keeps about an article's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The [`FINGERPRINT_VERSION`] that made it; fingerprints of different versions are never compared.
    pub version: u32,
    /// Simhash of the word shingles (outside quotations): the number the API reports.
    pub simhash: u64,
    /// Bottom-k sample of the word shingles of the text outside quotations ([`MIN_PROSE_TOKENS`]).
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
    prose: Vec<Token>,
    features: Vec<u64>,
    scratch: Vec<u64>,
    values: Vec<u32>,
}

impl Fingerprinter {
    /// The fingerprint of `body`, as [`fingerprint`] gives it, reusing this fingerprinter's buffers.
    pub fn fingerprint(&mut self, body: &str) -> Fingerprint {
        let visible = html::to_text(body);
        let text = normalize::normalize(&visible);
        tokenize::tokenize(&text, &mut self.tokens);
        let prose = match quotes::without_quotes(&text) {
            Cow::Owned(prose) => {
                tokenize::tokenize(&prose, &mut self.prose);
                if self.prose.len() >= MIN_PROSE_TOKENS { &self.prose } else { &self.tokens }
            }
            Cow::Borrowed(_) => &self.tokens,
        };

        features::word_shingles(prose, &mut self.scratch, &mut self.features);
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
        fn markup_does_not_matter(words in words(), breaks in prop::collection::vec(0usize..6, 200)) {
            let plain = format!("{} it's", words.join(" "));
            let mut html = String::from("<div class=\"story\"><p>");
            for (word, &b) in words.iter().zip(breaks.iter().cycle()) {
                html.push_str(word);
                html.push_str(match b { 0 => "</p>\n<p class=\"para\">", 1 => "&nbsp;", 2 => " <!-- ad --> ", _ => " " });
            }
            html.push_str("it&#8217;s</p><script>var x = 1;</script></div>");
            prop_assert_eq!(fingerprint(&plain), fingerprint(&html));
        }

        #[test]
        fn letter_case_does_not_matter(words in words()) {
            let text = words.join(" ");
            prop_assert_eq!(fingerprint(&text), fingerprint(&text.to_uppercase()));
            prop_assert_eq!(fingerprint(&text), fingerprint(&text.to_lowercase()));
        }

    }
}
