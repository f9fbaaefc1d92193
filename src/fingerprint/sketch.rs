//! The verification sketch: a consistent sample of an article's feature hashes.
//!
//! Threshold sampling (Broder's "mod-m" sampling in its hash-threshold form): a feature is kept when its
//! 32-bit hash falls below a fixed threshold, so two articles sample their shared features alike and the
//! sample of an excerpt is (about) a subset of the sample of the whole. That is what makes containment
//! estimable, which bottom-k MinHash does poorly when one text is a short excerpt of the other. Long
//! articles would keep too many: the sample is capped at [`CAPACITY`] smallest hashes, and two sketches
//! are then compared below the lower of their effective thresholds, which keeps the estimate consistent.

use serde::{Deserialize, Serialize};

/// At most this many sampled hashes are kept (4 bytes each).
pub const CAPACITY: usize = 64;

/// A feature is sampled when its 32-bit hash is below this (1 in 8).
pub const SAMPLE_THRESHOLD: u32 = u32::MAX / 8;

/// A consistent sample of feature hashes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sketch {
    /// Sampled 32-bit feature hashes, ascending, distinct.
    pub hashes: Vec<u32>,
    /// True when more features were sampled than fit: only hashes up to the last one are complete.
    pub saturated: bool,
}

impl Sketch {
    /// Samples distinct feature hashes (64-bit; the high half is what is sampled).
    pub fn from_features(features: impl IntoIterator<Item = u64>) -> Self {
        let mut hashes: Vec<u32> = features
            .into_iter()
            .map(|feature| (feature >> 32) as u32)
            .filter(|&hash| hash < SAMPLE_THRESHOLD)
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        let saturated = hashes.len() > CAPACITY;
        hashes.truncate(CAPACITY);
        Sketch { hashes, saturated }
    }

    /// The largest hash below which this sketch is complete.
    fn complete_below(&self) -> u32 {
        match (self.saturated, self.hashes.last()) {
            (true, Some(&last)) => last,
            _ => u32::MAX,
        }
    }

    /// (shared, size of self, size of other) counted below the common complete threshold.
    pub fn overlap(&self, other: &Sketch) -> (usize, usize, usize) {
        let limit = self.complete_below().min(other.complete_below());
        let mine: Vec<u32> = self.hashes.iter().copied().take_while(|&h| h <= limit).collect();
        let theirs: Vec<u32> = other.hashes.iter().copied().take_while(|&h| h <= limit).collect();
        let (mut i, mut j, mut shared) = (0, 0, 0);
        while i < mine.len() && j < theirs.len() {
            match mine[i].cmp(&theirs[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        (shared, mine.len(), theirs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(i: u64) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())
    }

    #[test]
    fn samples_about_one_in_eight_and_caps() {
        let small = Sketch::from_features((0..200).map(feature));
        assert!(!small.saturated);
        assert!((10..=45).contains(&small.hashes.len()), "{}", small.hashes.len());
        let large = Sketch::from_features((0..10_000).map(feature));
        assert!(large.saturated);
        assert_eq!(large.hashes.len(), CAPACITY);
        assert!(large.hashes.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn an_excerpt_is_contained_in_the_whole() {
        let whole = Sketch::from_features((0..3000).map(feature));
        let excerpt = Sketch::from_features((0..900).map(feature));
        let (shared, a, b) = excerpt.overlap(&whole);
        assert_eq!(shared, a.min(b));
        assert!(shared > 10);
    }

    #[test]
    fn unrelated_sets_share_nothing() {
        let a = Sketch::from_features((0..1000).map(feature));
        let b = Sketch::from_features((5000..6000).map(feature));
        assert_eq!(a.overlap(&b).0, 0);
    }
}
