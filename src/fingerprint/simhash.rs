//! 64-bit simhash (Charikar 2002) over weighted feature hashes.
//!
//! Written here rather than taken from the `simhash` crate: that crate hashes with SipHash, whose output
//! Rust does not promise to keep across releases (stored fingerprints must not change), tokenises on
//! its own terms, and allocates per feature. See the README for the comparison on `../shared/eval/dev`.

/// Accumulates weighted features into a 64-bit simhash.
#[derive(Debug, Clone)]
pub struct SimhashBuilder {
    counts: [i32; 64],
}

impl Default for SimhashBuilder {
    fn default() -> Self {
        SimhashBuilder { counts: [0; 64] }
    }
}

impl SimhashBuilder {
    /// Adds one feature: every bit set in `hash` votes `+weight`, every bit clear `-weight`.
    #[inline]
    pub fn add(&mut self, hash: u64, weight: i32) {
        for (bit, count) in self.counts.iter_mut().enumerate() {
            // branch-free: +weight when the bit is set, -weight when not
            let sign = (((hash >> bit) & 1) as i32) * 2 - 1;
            *count += sign * weight;
        }
    }

    /// The simhash: bit i is set when the votes for bit i are positive.
    pub fn finish(&self) -> u64 {
        self.counts.iter().enumerate().fold(0u64, |acc, (bit, &count)| if count > 0 { acc | (1 << bit) } else { acc })
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
