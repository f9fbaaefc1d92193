//! Sketches: small, consistent samples of an article's feature hashes, for verification.
//!
//! A sketch is a bottom-k sample: the [`CAPACITY`] smallest distinct values of the top 32 bits of the
//! feature hashes. Bottom-k samples of two texts agree on every value below the smaller of their two
//! largest kept values, so comparing only below that cut gives an unbiased sample of both sets; from it
//! [`Sketch::overlap`] estimates *containment* (shared ÷ the smaller sample), which still works when
//! one text is a 30–70% excerpt of the other. A text with fewer distinct features than the capacity
//! keeps them all (`saturated: false`) and is compared exactly.
//!
//! Values are sampled at 32 bits but compared at their top [`COMPARED_BITS`] ([`compared`]). The
//! low bits still order the sample and spread band keys (which need them: a sketch's smallest values
//! fall in a small range, see `Fingerprint::band_keys`), but no comparison depends on them, so a store
//! may drop them (the Redis record does, which makes it smaller).

use serde::{Deserialize, Serialize};

/// Values kept per shingle sketch (4 bytes each).
pub const CAPACITY: usize = 48;

/// Bits of a sample value that comparisons use. Two unrelated values of samples of n-shingle texts
/// meet by chance with probability about n / 2^20 per value: 0.03% for an article of 330 words, one
/// spurious shared value in ~70 pairs of 48-value samples, where containment thresholds need 4 or more.
pub const COMPARED_BITS: u32 = 20;

/// The part of a sample value that comparisons (and boilerplate) see.
#[inline]
pub fn compared(value: u32) -> u32 {
    value >> (32 - COMPARED_BITS)
}

/// A bottom-k sample of 32-bit feature values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sketch {
    /// The smallest distinct values, ascending; at most [`CAPACITY`].
    pub values: Vec<u32>,
    /// More distinct values existed than were kept: the sample is complete only up to the last one.
    pub saturated: bool,
}

/// What two sketches share, counted below their common cut, with excluded values left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overlap {
    /// Values in both samples.
    pub shared: usize,
    /// Size of the smaller of the two samples.
    pub smaller: usize,
    /// Size of the larger of the two samples.
    pub larger: usize,
}

impl Overlap {
    /// shared ÷ smaller, 0 when either sample is empty.
    pub fn containment(&self) -> f64 {
        if self.smaller == 0 {
            return 0.0;
        }
        self.shared as f64 / self.smaller as f64
    }

    /// shared ÷ the union of the two samples: an estimate of the texts' Jaccard resemblance, 0 when
    /// both are empty. Unlike containment, an excerpt resembles its whole only as much as it covers.
    pub fn resemblance(&self) -> f64 {
        let union = self.smaller + self.larger - self.shared;
        if union == 0 {
            return 0.0;
        }
        self.shared as f64 / union as f64
    }
}

impl Sketch {
    /// The sketch of 64-bit feature hashes (their high halves are sampled), [`CAPACITY`] values.
    /// `scratch` is reused space.
    pub fn from_features(features: &[u64], scratch: &mut Vec<u32>) -> Self {
        Self::with_capacity(features, CAPACITY, scratch)
    }

    /// The sketch of 64-bit feature hashes keeping at most `capacity` values.
    pub fn with_capacity(features: &[u64], capacity: usize, scratch: &mut Vec<u32>) -> Self {
        // Only the smallest CAPACITY + 1 distinct values matter (the +1 tells saturation). A histogram
        // of the top byte finds a cut below which there are enough of them, so only those few are
        // sorted: two linear passes instead of sorting every feature of a long article.
        let keep = capacity + 1;
        let mut histogram = [0u32; 256];
        for &feature in features {
            histogram[(feature >> 56) as usize] += 1;
        }
        let mut cut = 255usize;
        let mut below = 0u32;
        for (byte, &count) in histogram.iter().enumerate() {
            below += count;
            if below as usize >= keep {
                cut = byte;
                break;
            }
        }
        scratch.clear();
        scratch.extend(features.iter().filter(|&&f| (f >> 56) as usize <= cut).map(|&f| (f >> 32) as u32));
        scratch.sort_unstable();
        scratch.dedup();
        if scratch.len() < keep && cut < 255 {
            // repeated features: too few distinct values below the cut, so take them all
            scratch.clear();
            scratch.extend(features.iter().map(|&f| (f >> 32) as u32));
            scratch.sort_unstable();
            scratch.dedup();
        }
        let saturated = scratch.len() > capacity;
        scratch.truncate(capacity);
        Sketch { values: scratch.clone(), saturated }
    }

    /// The largest [`compared`] value up to which this sample is complete.
    fn complete_up_to(&self) -> u32 {
        match (self.saturated, self.values.last()) {
            (true, Some(&last)) => compared(last),
            _ => u32::MAX,
        }
    }

    /// Overlap with `other`, ignoring values for which `excluded` is true (boilerplate). Values are
    /// compared, and passed to `excluded`, as [`compared`] gives them.
    #[expect(clippy::comparison_chain, reason = "the merge's three cases read as the algorithm states them")]
    pub fn overlap(&self, other: &Sketch, excluded: impl Fn(u32) -> bool) -> Overlap {
        let cut = self.complete_up_to().min(other.complete_up_to());
        let mine = below(&self.values, cut);
        let theirs = below(&other.values, cut);
        let (mut i, mut j) = (0, 0);
        let (mut shared, mut in_mine, mut in_theirs) = (0, 0, 0);
        while i < mine.len() && j < theirs.len() {
            let (a, b) = (compared(mine[i]), compared(theirs[j]));
            if a == b {
                if !excluded(a) {
                    shared += 1;
                    in_mine += 1;
                    in_theirs += 1;
                }
                i += 1;
                j += 1;
            } else if a < b {
                in_mine += usize::from(!excluded(a));
                i += 1;
            } else {
                in_theirs += usize::from(!excluded(b));
                j += 1;
            }
        }
        in_mine += mine[i..].iter().filter(|&&v| !excluded(compared(v))).count();
        in_theirs += theirs[j..].iter().filter(|&&v| !excluded(compared(v))).count();
        Overlap { shared, smaller: in_mine.min(in_theirs), larger: in_mine.max(in_theirs) }
    }

    /// The values both samples hold below their common cut, boilerplate included: an upper bound on
    /// [`Overlap::shared`] whatever is excluded, and a third of the cost (no exclusion lookups).
    pub fn shared_upper_bound(&self, other: &Sketch) -> usize {
        let cut = self.complete_up_to().min(other.complete_up_to());
        let (mine, theirs) = (below(&self.values, cut), below(&other.values, cut));
        let (mut i, mut j, mut shared) = (0, 0, 0);
        while i < mine.len() && j < theirs.len() {
            let (a, b) = (compared(mine[i]), compared(theirs[j]));
            shared += usize::from(a == b);
            i += usize::from(a <= b);
            j += usize::from(b <= a);
        }
        shared
    }

    /// Calls `f` with the index of each of this sample's values that `other`'s sample holds too
    /// (compared as [`compared`] gives them; no cut: whether a value is held, not an estimate).
    #[expect(clippy::many_single_char_names, reason = "a merge's indices and values")]
    pub fn held_by(&self, other: &Sketch, mut f: impl FnMut(usize)) {
        let (mut i, mut j) = (0, 0);
        while i < self.values.len() && j < other.values.len() {
            let (a, b) = (compared(self.values[i]), compared(other.values[j]));
            if a == b {
                f(i);
            }
            i += usize::from(a <= b);
            j += usize::from(b <= a);
        }
    }
}

/// The prefix of sorted `values` whose [`compared`] value is at most `cut`.
fn below(values: &[u32], cut: u32) -> &[u32] {
    &values[..values.partition_point(|&v| compared(v) <= cut)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(range: std::ops::Range<u64>) -> Vec<u64> {
        range.map(|i| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())).collect()
    }

    fn sketch(range: std::ops::Range<u64>) -> Sketch {
        Sketch::from_features(&features(range), &mut Vec::new())
    }

    #[test]
    fn keeps_the_smallest_distinct_values() {
        let all = features(0..1000);
        let sketch = Sketch::from_features(&all, &mut Vec::new());
        let mut expected: Vec<u32> = all.iter().map(|f| (f >> 32) as u32).collect();
        expected.sort_unstable();
        expected.dedup();
        expected.truncate(CAPACITY);
        assert_eq!(sketch.values, expected);
        assert!(sketch.saturated);
        let small = sketch_of_small();
        assert!(!small.saturated);
        assert_eq!(small.values.len(), 10);
    }

    fn sketch_of_small() -> Sketch {
        let mut repeated = features(0..10);
        repeated.extend(features(0..10));
        Sketch::from_features(&repeated, &mut Vec::new())
    }

    #[test]
    fn heavy_repetition_still_gives_the_true_sample() {
        // 200 copies of each of 40 features: the preselection sees few distinct values
        let distinct = features(0..40);
        let repeated: Vec<u64> = distinct.iter().flat_map(|&f| std::iter::repeat_n(f, 200)).collect();
        assert_eq!(
            Sketch::from_features(&repeated, &mut Vec::new()),
            Sketch::from_features(&distinct, &mut Vec::new())
        );
    }

    #[test]
    fn an_excerpt_is_contained_in_the_whole() {
        let whole = sketch(0..3000);
        let excerpt = sketch(0..900);
        let overlap = excerpt.overlap(&whole, |_| false);
        assert!(overlap.smaller > 0);
        assert_eq!(overlap.shared, overlap.smaller);
        assert_eq!(overlap.containment(), 1.0);
    }

    #[test]
    fn resemblance_is_the_share_of_the_union() {
        let whole = sketch(0..3000);
        let excerpt = sketch(0..900);
        let near = excerpt.overlap(&whole, |_| false).resemblance();
        // 0.3 expected; a 48-value sample puts a standard deviation of ~0.07 around it
        assert!((0.15..0.45).contains(&near), "a 30% excerpt resembles its whole ~0.3: {near}");
        assert_eq!(whole.overlap(&whole, |_| false).resemblance(), 1.0);
        assert_eq!(whole.overlap(&sketch(5000..8000), |_| false).resemblance(), 0.0);
        assert_eq!(Sketch::default().overlap(&Sketch::default(), |_| false).resemblance(), 0.0);
    }

    #[test]
    fn unrelated_sets_share_nothing_and_overlap_is_symmetric() {
        let a = sketch(0..1000);
        let b = sketch(5000..6000);
        assert_eq!(a.overlap(&b, |_| false).shared, 0);
        let c = sketch(500..1500);
        assert_eq!(a.overlap(&c, |_| false), c.overlap(&a, |_| false));
        let half = a.overlap(&c, |_| false).containment();
        assert!((0.2..0.8).contains(&half), "{half}");
    }

    #[test]
    fn the_upper_bound_bounds_shared_values_under_any_exclusion() {
        let a = sketch(0..1000);
        let c = sketch(500..1500);
        let bound = a.shared_upper_bound(&c);
        assert_eq!(bound, a.overlap(&c, |_| false).shared);
        assert_eq!(bound, c.shared_upper_bound(&a));
        for modulus in [2u32, 3, 7] {
            assert!(a.overlap(&c, |v| v % modulus == 0).shared <= bound);
        }
        assert_eq!(sketch(0..30).shared_upper_bound(&sketch(0..30)), 30);
    }

    #[test]
    fn excluded_values_do_not_count() {
        let a = sketch(0..20);
        let overlap = a.overlap(&a, |v| v % 2 == 0);
        assert_eq!(overlap.shared, overlap.smaller);
        assert!(overlap.shared < a.values.len());
    }
}
