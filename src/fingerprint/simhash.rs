//! 64-bit simhash (Charikar 2002) over weighted feature hashes.
//!
//! Written here rather than taken from the `simhash` crate: the crate's word-level simhash separates
//! copies from unrelated articles worse and is slower (`cargo bench --bench simhash_crate`,
//! `docs/decisions/0001-own-simhash.md`), and it feeds words to SipHash through std's `Hash for str`,
//! whose byte feed std does not promise to keep across releases, while stored fingerprints must never
//! change.

/// Accumulates weighted features into a 64-bit simhash.
///
/// The textbook loop adds ±weight to 64 counters per feature: 64 operations a feature, most of the
/// cost of fingerprinting. Here the 64 per-bit counts of *set* bits are kept bit-sliced instead
/// (`planes[k]` holds bit k of all 64 counters), and features arrive in blocks of 16 that a
/// carry-save adder tree (Harley–Seal, as in fast positional popcounts) reduces to one plane of
/// "sixteens" with 15 full adders, about five word operations per feature and no branches; only
/// that plane is ripple-added into the counters. The simhash bit is set where the count of set bits
/// exceeds half the total weight, which is the textbook majority vote (a test checks that). Fewer
/// instructions than a bit-sliced ripple add per feature, and no data-dependent loop to mispredict.
#[derive(Debug, Clone, Default)]
pub struct SimhashBuilder {
    /// Bit-sliced counters of sixteens: bit i of `planes[k]` is bit k of (count of bit i) / 16.
    planes: [u64; PLANES],
    /// The carry-save remainder below 16, bit-sliced: ones, twos, fours, eights.
    ones: u64,
    twos: u64,
    fours: u64,
    eights: u64,
    /// Features waiting for a full block.
    pending: [u64; BLOCK],
    pending_len: usize,
    /// Sum of the weights added.
    total: u64,
}

/// Features per carry-save block.
const BLOCK: usize = 16;

/// Enough planes to count 2^32 - 1 blocks.
const PLANES: usize = 32;

/// A full adder on 64 lanes: (carry, sum) of a + b + c.
#[inline(always)]
#[expect(clippy::inline_always, reason = "called per feature block in the simhash's inner loop")]
fn full_add(a: u64, b: u64, c: u64) -> (u64, u64) {
    let partial = a ^ b;
    ((a & b) | (partial & c), partial ^ c)
}

/// Adds the one-bit-per-lane value `carry`, weighted 2^`from`, into bit-sliced counters.
#[inline]
fn ripple_add(planes: &mut [u64], from: usize, mut carry: u64) {
    for plane in planes.iter_mut().skip(from) {
        if carry == 0 {
            return;
        }
        let sum = *plane ^ carry;
        carry &= *plane;
        *plane = sum;
    }
}

impl SimhashBuilder {
    /// Adds one feature with a small positive weight (the feature counts `weight` times).
    #[inline]
    pub fn add(&mut self, hash: u64, weight: u32) {
        for _ in 0..weight {
            self.pending[self.pending_len] = hash;
            self.pending_len += 1;
            if self.pending_len == BLOCK {
                self.flush();
            }
        }
        self.total += u64::from(weight);
    }

    /// Adds equally weighted features (weight 1 each): whole blocks go through the adder tree
    /// straight from the slice.
    pub fn add_all(&mut self, features: &[u64]) {
        let mut features = features;
        while self.pending_len > 0 && !features.is_empty() {
            self.add(features[0], 1);
            features = &features[1..];
        }
        let mut blocks = features.chunks_exact(BLOCK);
        for block in &mut blocks {
            if let Ok(block) = <&[u64; BLOCK]>::try_from(block) {
                self.reduce(block);
            }
        }
        self.total += (features.len() - blocks.remainder().len()) as u64;
        for &feature in blocks.remainder() {
            self.add(feature, 1);
        }
    }

    /// Reduces the pending block (zeros past `pending_len` count nothing) into the counters.
    fn flush(&mut self) {
        let block = self.pending;
        self.reduce(&block);
        self.pending = [0; BLOCK];
        self.pending_len = 0;
    }

    /// Reduces 16 features into the counters.
    #[inline]
    fn reduce(&mut self, d: &[u64; BLOCK]) {
        let (twos_a, ones) = full_add(self.ones, d[0], d[1]);
        let (twos_b, ones) = full_add(ones, d[2], d[3]);
        let (fours_a, twos) = full_add(self.twos, twos_a, twos_b);
        let (twos_a, ones) = full_add(ones, d[4], d[5]);
        let (twos_b, ones) = full_add(ones, d[6], d[7]);
        let (fours_b, twos) = full_add(twos, twos_a, twos_b);
        let (eights_a, fours) = full_add(self.fours, fours_a, fours_b);
        let (twos_a, ones) = full_add(ones, d[8], d[9]);
        let (twos_b, ones) = full_add(ones, d[10], d[11]);
        let (fours_a, twos) = full_add(twos, twos_a, twos_b);
        let (twos_a, ones) = full_add(ones, d[12], d[13]);
        let (twos_b, ones) = full_add(ones, d[14], d[15]);
        let (fours_b, twos) = full_add(twos, twos_a, twos_b);
        let (eights_b, fours) = full_add(fours, fours_a, fours_b);
        let (sixteens, eights) = full_add(self.eights, eights_a, eights_b);
        (self.ones, self.twos, self.fours, self.eights) = (ones, twos, fours, eights);
        ripple_add(&mut self.planes, 0, sixteens);
    }

    /// The simhash: bit i is set when more than half of the weight voted for it.
    pub fn finish(&self) -> u64 {
        let mut this = self.clone();
        if this.pending_len > 0 {
            this.flush();
        }
        // the whole count, bit-sliced: sixteens shifted up by four, plus the remainder
        let mut count = [0u64; PLANES + 4];
        count[4..].copy_from_slice(&this.planes);
        for (shift, plane) in [this.ones, this.twos, this.fours, this.eights].into_iter().enumerate() {
            ripple_add(&mut count, shift, plane);
        }
        // lanes whose count exceeds total / 2, compared from the top bit down on all lanes at once
        let half = this.total / 2;
        let (mut greater, mut equal) = (0u64, u64::MAX);
        for (k, &plane) in count.iter().enumerate().rev() {
            if k < 64 && (half >> k) & 1 == 1 {
                equal &= plane;
            } else {
                greater |= equal & plane;
                equal &= !plane;
            }
        }
        greater
    }
}

/// The simhash of equally weighted features.
pub fn simhash(features: impl IntoIterator<Item = u64>) -> u64 {
    let features: Vec<u64> = features.into_iter().collect();
    let mut builder = SimhashBuilder::default();
    builder.add_all(&features);
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
    fn partial_and_many_blocks_match_the_textbook_loop() {
        for n in [1u64, 2, 15, 16, 17, 33, 255, 256, 257, 4099] {
            let features: Vec<u64> = (0..n).map(|i| xxhash_rust::xxh3::xxh3_64(&(i * 31).to_le_bytes())).collect();
            let mut counts = [0i64; 64];
            for feature in &features {
                for (bit, count) in counts.iter_mut().enumerate() {
                    *count += if (feature >> bit) & 1 == 1 { 1 } else { -1 };
                }
            }
            let textbook =
                counts.iter().enumerate().fold(0u64, |acc, (bit, &c)| if c > 0 { acc | (1 << bit) } else { acc });
            assert_eq!(simhash(features.iter().copied()), textbook, "{n} features");
            let mut one_by_one = SimhashBuilder::default();
            for &feature in &features {
                one_by_one.add(feature, 1);
            }
            assert_eq!(one_by_one.finish(), textbook, "{n} features one by one");
            let mut mixed = SimhashBuilder::default();
            let (head, tail) = features.split_at(features.len() / 3);
            for &feature in head {
                mixed.add(feature, 1);
            }
            mixed.add_all(tail);
            assert_eq!(mixed.finish(), textbook, "{n} features, mixed");
        }
    }

    #[test]
    fn hamming_counts_differing_bits() {
        assert_eq!(hamming(0b1011, 0b0001), 2);
        assert_eq!(hamming(u64::MAX, 0), 64);
    }
}
