//! Features: what the simhash and the sketches are computed over. Two kinds, as 64-bit hashes:
//!
//! - **word shingles** ([`FeatureKind::Words`], 3 consecutive tokens): precise, the classic
//!   near-duplicate feature, and what the whole-text simhash is computed over;
//! - **skeleton shingles** ([`FeatureKind::Skeleton`], 6 consecutive skeleton tokens): spinners swap
//!   content words for synonyms but leave function words and numbers alone (DSpin, NDSS 2014). In the
//!   skeleton, stopwords and tokens with a digit stay as they are and every other word becomes a gap;
//!   a run of gaps collapses into one, so "readout" → "read aloud" changes nothing. Low entropy on its
//!   own ("_ of the _ in the"), which is why verification pairs it with a floor on word shingles.
//!
//! Each kind mixes in its own tag, so equal token runs of the two kinds never collide.

use super::tokenize::{Token, TokenKind};

/// Tokens per word shingle.
pub const WORD_SHINGLE: usize = 3;
/// Skeleton tokens per skeleton shingle.
pub const SKELETON_SHINGLE: usize = 6;

/// The two feature families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// Word 3-shingles: precise, destroyed by heavy spinning.
    Words,
    /// Skeleton shingles (content words as gaps): survive spinning, say little alone.
    Skeleton,
}

impl FeatureKind {
    /// The tag in the high bits of the kind's band keys (`Fingerprint::band_keys`).
    pub const fn band_tag(self) -> u64 {
        match self {
            FeatureKind::Words => 1,
            FeatureKind::Skeleton => 2,
        }
    }

    fn tag(self) -> u64 {
        match self {
            FeatureKind::Words => 0x7733_0000_0000_0003,
            FeatureKind::Skeleton => 0x736b_0000_0000_0006,
        }
    }
}

/// The skeleton's gap: "one or more content words here".
const GAP: u64 = 0x9E37_79B9_7F4A_7C15;

/// Mixes a tagged sequence of hashes into one (order-sensitive, stable across platforms).
#[inline(always)]
#[expect(clippy::inline_always, reason = "called per shingle in the fingerprint's inner loop")]
fn combine(kind: FeatureKind, hashes: &[u64]) -> u64 {
    let mut acc: u64 = kind.tag();
    for &h in hashes {
        acc = (acc ^ h).wrapping_mul(0xE703_7ED1_A0B4_28DB).rotate_left(29);
    }
    acc ^= acc >> 30;
    acc = acc.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    acc ^= acc >> 27;
    acc = acc.wrapping_mul(0x94D0_49BB_1331_11EB);
    acc ^ (acc >> 31)
}

/// Shingles of `WIDTH` over `hashes` into `out`; a stream shorter than one shingle yields a single
/// shingle of all of it. The width is a constant so that [`combine`] unrolls with constant rotations.
fn shingles<const WIDTH: usize>(kind: FeatureKind, hashes: &[u64], out: &mut Vec<u64>) {
    out.clear();
    if hashes.is_empty() {
        return;
    }
    if hashes.len() < WIDTH {
        out.push(combine(kind, hashes));
        return;
    }
    out.reserve(hashes.len() + 1 - WIDTH);
    out.extend((0..=hashes.len() - WIDTH).map(|start| combine(kind, &hashes[start..start + WIDTH])));
}

/// Word shingles of `tokens` into `out` (cleared first); `scratch` is reused space.
pub fn word_shingles(tokens: &[Token], scratch: &mut Vec<u64>, out: &mut Vec<u64>) {
    scratch.clear();
    scratch.extend(tokens.iter().map(|t| t.hash));
    shingles::<WORD_SHINGLE>(FeatureKind::Words, scratch, out);
}

/// Skeleton shingles of `tokens` into `out` (cleared first); `scratch` is reused space.
pub fn skeleton_shingles(tokens: &[Token], scratch: &mut Vec<u64>, out: &mut Vec<u64>) {
    scratch.clear();
    scratch.reserve(tokens.len());
    for token in tokens {
        match token.kind {
            TokenKind::Stopword | TokenKind::Number | TokenKind::Bigram => scratch.push(token.hash),
            TokenKind::Word if scratch.last() != Some(&GAP) => scratch.push(GAP),
            TokenKind::Word => {}
        }
    }
    shingles::<SKELETON_SHINGLE>(FeatureKind::Skeleton, scratch, out);
}

/// The number tokens of `tokens` into `out` (cleared first), as 64-bit hashes.
pub fn numbers(tokens: &[Token], out: &mut Vec<u64>) {
    out.clear();
    // the token hashes are already well mixed; re-mix so that equal numbers of the two families of
    // features never meet
    out.extend(tokens.iter().filter(|t| t.kind == TokenKind::Number).map(|t| combine(FeatureKind::Words, &[t.hash])));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::normalize::normalize;
    use crate::fingerprint::tokenize::tokenize;

    fn features(text: &str, kind: FeatureKind) -> Vec<u64> {
        let mut tokens = Vec::new();
        tokenize(&normalize(text), &mut tokens);
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        match kind {
            FeatureKind::Words => word_shingles(&tokens, &mut scratch, &mut out),
            FeatureKind::Skeleton => skeleton_shingles(&tokens, &mut scratch, &mut out),
        }
        out
    }

    #[test]
    fn synonyms_do_not_change_the_skeleton() {
        let original = "The spokesman said on Tuesday that the readout of the call was issued in 2022 by the office.";
        let spun =
            "The interpreter stated on Tuesday that the read aloud of the phone was released in 2022 by the agency.";
        assert_eq!(features(original, FeatureKind::Skeleton), features(spun, FeatureKind::Skeleton));
        assert_ne!(features(original, FeatureKind::Words), features(spun, FeatureKind::Words));
    }

    #[test]
    fn numbers_anchor_the_skeleton() {
        let a = features("Profits rose to 5 mln in the first quarter of the year from 4 mln", FeatureKind::Skeleton);
        let b = features("Profits rose to 7 mln in the first quarter of the year from 2 mln", FeatureKind::Skeleton);
        assert_ne!(a, b);
    }

    #[test]
    fn kinds_do_not_collide_and_short_texts_give_one_shingle() {
        assert_eq!(features("of the", FeatureKind::Words).len(), 1);
        assert_eq!(features("of the", FeatureKind::Skeleton).len(), 1);
        assert_ne!(features("of the", FeatureKind::Words), features("of the", FeatureKind::Skeleton));
        assert!(features("   ", FeatureKind::Words).is_empty());
        assert_eq!(features("one two three four five", FeatureKind::Words).len(), 3);
    }
}
