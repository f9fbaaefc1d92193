//! Fingerprinting: pure, synchronous, no I/O.
//!
//! `text → normalize → tokenize → features → (simhash, sketch)`. Everything an article is compared by is
//! computed here, once, at ingest; the engine only compares the results. Each stage is its own module
//! and is tested alone; [`Fingerprinter`] strings them together reusing its buffers.

pub mod features;
pub mod normalize;
pub mod simhash;
pub mod sketch;
pub mod stopwords;
pub mod tokenize;

use serde::{Deserialize, Serialize};

use self::sketch::Sketch;
use self::tokenize::Token;

/// The version of the fingerprint algorithm, stored with every fingerprint. Bump it whenever a change
/// makes stored fingerprints incomparable with new ones (features, hashing, seeds, sketch layout).
pub const FINGERPRINT_VERSION: u32 = 1;

/// Articles with fewer tokens than this are "short" and must pass [`SHORT_TEXT_THRESHOLD`].
pub const SHORT_TEXT_TOKENS: u32 = 50;

/// Verified-match threshold on [`similarity`] for ordinary articles.
pub const MATCH_THRESHOLD: f64 = 0.5;

/// Stricter threshold when either article is short: few features make the estimate noisy.
pub const SHORT_TEXT_THRESHOLD: f64 = 0.8;

/// Everything dedupd keeps about an article's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub version: u32,
    /// Simhash of the word shingles of the whole body: the number the API reports.
    pub simhash: u64,
    /// Sample of the spin-robust features, for verification and candidate keys.
    pub sketch: Sketch,
    /// Number of tokens in the body (capped at `u32::MAX`).
    pub tokens: u32,
}

impl Fingerprint {
    /// Keys under which the article is posted in the band tables: an article is a candidate for another
    /// when they share at least one key.
    pub fn band_keys(&self) -> Vec<u64> {
        self.sketch.hashes.iter().take(BAND_KEYS).map(|&h| u64::from(h)).collect()
    }
}

/// How many band keys an article is posted under.
pub const BAND_KEYS: usize = 16;

/// Reusable buffers for fingerprinting: one per thread avoids an allocation per stage per article.
#[derive(Default)]
pub struct Fingerprinter {
    tokens: Vec<Token>,
    words: Vec<u64>,
    skeleton: Vec<u64>,
}

impl Fingerprinter {
    pub fn fingerprint(&mut self, body: &str) -> Fingerprint {
        let text = normalize::normalize(body);
        tokenize::tokenize(&text, &mut self.tokens);
        features::word_shingles(&self.tokens, &mut self.words);
        features::skeleton_shingles(&self.tokens, &mut self.skeleton);
        let simhash = simhash::simhash(self.words.iter().copied());
        let sketch = Sketch::from_features(self.words.iter().chain(self.skeleton.iter()).copied());
        Fingerprint {
            version: FINGERPRINT_VERSION,
            simhash,
            sketch,
            tokens: u32::try_from(self.tokens.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Fingerprints one text with fresh buffers.
pub fn fingerprint(body: &str) -> Fingerprint {
    Fingerprinter::default().fingerprint(body)
}

/// How alike two fingerprinted texts are, in 0..1: the estimated share of the smaller sketch's features
/// found in the other (containment of the smaller in the larger). Symmetric by construction.
pub fn similarity(a: &Fingerprint, b: &Fingerprint) -> f64 {
    let (shared, in_a, in_b) = a.sketch.overlap(&b.sketch);
    let smaller = in_a.min(in_b);
    if smaller == 0 {
        return 0.0;
    }
    shared as f64 / smaller as f64
}

/// Whether two fingerprints are close enough to be the same story: [`similarity`] at or above the
/// threshold that applies to the pair.
pub fn verified(a: &Fingerprint, b: &Fingerprint, similarity: f64) -> bool {
    let short = a.tokens.min(b.tokens) < SHORT_TEXT_TOKENS;
    let threshold = if short { SHORT_TEXT_THRESHOLD } else { MATCH_THRESHOLD };
    similarity >= threshold
}
