//! Hash maps and sets keyed by integers that are already hash bits (sketch values, band keys) or small
//! integers (slab slots).
//!
//! std's SipHash resists hash flooding, which these keys cannot mount: they are hashes of the text
//! (or slots the index hands out), not values a client picks. SipHash showed up in profiles of the
//! boilerplate sets and of placing postings; one multiply is enough.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Spreads an integer key with one multiply.
#[derive(Default)]
pub struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        // hashbrown takes its control byte from the top seven bits: spread the low bits up
        self.0 = (value ^ (value >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A `HashMap` keyed by hash bits or small integers.
pub type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;
/// A `HashSet` of hash bits or small integers.
pub type IntSet<K> = HashSet<K, BuildHasherDefault<IntHasher>>;
