//! Features: what the simhash and the sketch are computed over.
//!
//! Two families, both as 64-bit hashes:
//!
//! - **word shingles** (3 consecutive tokens): the classic near-duplicate feature, for the whole-text
//!   simhash that the API reports;
//! - **skeleton shingles**: spinners swap content words for synonyms but leave function words, numbers
//!   and names alone (DSpin, NDSS 2014). In the skeleton every content word is replaced by a gap marker
//!   (runs of content words collapse into one, so "readout" → "read aloud" changes nothing), and the
//!   shingles of that stream survive spinning.

use super::tokenize::{Token, TokenKind};

/// Tokens per word shingle.
pub const WORD_SHINGLE: usize = 3;
/// Skeleton tokens per skeleton shingle.
pub const SKELETON_SHINGLE: usize = 6;

/// A fixed hash for "one or more content words here".
const GAP: u64 = 0x9E37_79B9_7F4A_7C15;

/// Mixes a sequence of hashes into one (order-sensitive, stable across platforms).
#[inline]
pub fn combine(hashes: &[u64]) -> u64 {
    let mut acc: u64 = 0xA076_1D64_78BD_642F;
    for &h in hashes {
        acc = (acc ^ h).wrapping_mul(0xE703_7ED1_A0B4_28DB).rotate_left(29);
    }
    // final avalanche (splitmix64) so that the high bits, which the sketch samples, are well mixed
    acc ^= acc >> 30;
    acc = acc.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    acc ^= acc >> 27;
    acc = acc.wrapping_mul(0x94D0_49BB_1331_11EB);
    acc ^ (acc >> 31)
}

/// Word shingles of `tokens` into `out` (cleared first). A text shorter than one shingle yields one
/// feature over all its tokens.
pub fn word_shingles(tokens: &[Token], out: &mut Vec<u64>) {
    out.clear();
    let hashes: Vec<u64> = tokens.iter().map(|t| t.hash).collect();
    if hashes.is_empty() {
        return;
    }
    if hashes.len() < WORD_SHINGLE {
        out.push(combine(&hashes));
        return;
    }
    out.extend(hashes.windows(WORD_SHINGLE).map(combine));
}

/// Skeleton shingles of `tokens` into `out` (cleared first).
pub fn skeleton_shingles(tokens: &[Token], out: &mut Vec<u64>) {
    out.clear();
    let mut skeleton: Vec<u64> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let kept = match token.kind {
            TokenKind::Stopword | TokenKind::Number | TokenKind::Bigram => Some(token.hash),
            TokenKind::Word if token.capitalized => Some(token.hash),
            TokenKind::Word => None,
        };
        match kept {
            Some(hash) => skeleton.push(hash),
            None if skeleton.last() != Some(&GAP) => skeleton.push(GAP),
            None => {}
        }
    }
    if skeleton.len() < SKELETON_SHINGLE {
        if !skeleton.is_empty() {
            out.push(combine(&skeleton));
        }
        return;
    }
    out.extend(skeleton.windows(SKELETON_SHINGLE).map(combine));
}
