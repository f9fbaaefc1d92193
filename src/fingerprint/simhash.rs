//! 64-bit simhash (Charikar 2002) over weighted feature hashes.
//!
//! Written here rather than taken from the `simhash` crate: on `../shared/eval/dev` the crate's
//! word-level simhash separates copies from unrelated articles worse and is slower (README, `cargo bench
//! --bench simhash_crate`), and it feeds words to SipHash through std's `Hash for str`, whose byte feed
//! std does not promise to keep across releases, while stored fingerprints must never change.

/// Accumulates weighted features into a 64-bit simhash.
///
/// The textbook loop adds ±weight to 64 counters per feature: 64 operations a feature, most of the
/// cost of fingerprinting. Here the 64 per-bit counts of *set* bits are kept bit-sliced instead:
/// `planes[k]` holds bit k of all 64 counters, and adding a feature is a ripple-carry add of its hash
/// into the planes, about two word operations on average. The simhash bit is set where the
/// (weighted) count of set bits exceeds half the total weight, which is the same majority vote.
#[derive(Debug, Clone, Default)]
pub struct SimhashBuilder {
    /// Bit-sliced counters: bit i of `planes[k]` is bit k of the count of features with bit i set.
    planes: [u64; PLANES],
    /// Sum of the weights added.
    total: u64,
}

/// Enough planes to count 2^32 - 1 features.
const PLANES: usize = 32;

impl SimhashBuilder {
    /// Adds one feature with a small positive weight (the feature counts `weight` times).
    #[inline]
    pub fn add(&mut self, hash: u64, weight: u32) {
        for _ in 0..weight {
            let mut carry = hash;
            for plane in self.planes.iter_mut() {
                if carry == 0 {
                    break;
                }
                let sum = *plane ^ carry;
                carry &= *plane;
                *plane = sum;
            }
        }
        self.total += u64::from(weight);
    }

    /// The simhash: bit i is set when more than half of the weight voted for it.
    pub fn finish(&self) -> u64 {
        let mut simhash = 0u64;
        for bit in 0..64 {
            let count =
                self.planes.iter().enumerate().fold(0u64, |count, (k, plane)| count | (((plane >> bit) & 1) << k));
            if 2 * count > self.total {
                simhash |= 1 << bit;
            }
        }
        simhash
    }
}

/// The simhash of equally weighted features.
pub fn simhash(features: impl IntoIterator<Item = u64>) -> u64 {
    let mut builder = SimhashBuilder::default();
    for feature in features {
        builder.add(feature, 1);
    }
    builder.finish()
}

/// Hamming distance between two simhashes.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_feature_is_its_own_simhash() {
        assert_eq!(simhash([0xDEAD_BEEF_u64]), 0xDEAD_BEEF);
    }

    #[test]
    fn majority_vote_per_bit() {
        assert_eq!(simhash([0b110, 0b011, 0b010]), 0b010);
    }

    #[test]
    fn matches_the_textbook_counter_loop() {
        let features: Vec<u64> = (0..1000u64).map(|i| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())).collect();
        let mut counts = [0i64; 64];
        for feature in &features {
            for (bit, count) in counts.iter_mut().enumerate() {
                *count += if (feature >> bit) & 1 == 1 { 1 } else { -1 };
            }
        }
        let textbook =
            counts.iter().enumerate().fold(0u64, |acc, (bit, &c)| if c > 0 { acc | (1 << bit) } else { acc });
        assert_eq!(simhash(features.iter().copied()), textbook);
    }

    #[test]
    fn weights_count() {
        let mut builder = SimhashBuilder::default();
        builder.add(0b01, 3);
        builder.add(0b10, 1);
        builder.add(0b10, 1);
        assert_eq!(builder.finish(), 0b01);
    }

    #[test]
    fn hamming_counts_differing_bits() {
        assert_eq!(hamming(0b1011, 0b0001), 2);
        assert_eq!(hamming(u64::MAX, 0), 64);
    }
}
