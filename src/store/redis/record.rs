//! The article record as both Redis backends keep it: one string, a fixed header the Lua scripts read
//! with `string.sub`, and a compact body only Rust decodes.
//!
//! | bytes | what |
//! |---|---|
//! | 25 | the cluster id, NUL bytes while unassigned (every cluster id is 25 characters, see [`ClusterId::new`]), rewritten in place with `SETRANGE` |
//! | 8 | content hash, big-endian |
//! | 1 | tier digit (`0`, `1`, `2`) |
//! | 8 + 8 | published and ingested, each `micros ^ 2^63` big-endian ([`sortable`]): hex-encoded they are the rank prefix of a cluster member, so Lua builds the member `TIER hex16 hex16 ID` from the header and the id |
//! | 5 | the article's number, big-endian: what its postings hold instead of its id; zero in what Rust encodes, set by the script that stores the record |
//! | 1 | number of band keys, then 5 bytes each (the key's tag byte and its scrambled 32-bit value, [`band`]) |
//! | rest | id, url, source, title (varint length + bytes), fingerprint version (varint), simhash (8), tokens (varint), and each sketch as [`pack`] writes it |
//!
//! The header's offsets are defined here once ([`lua_constants`]): every script gets them in its
//! prelude, so Lua and Rust cannot disagree.
//!
//! One string rather than a hash of fields: a hash with a value over 64 bytes leaves Redis's compact
//! listpack encoding for a hashtable, and a postcard blob would spend up to 5 bytes per sketch value.
//!
//! Sketch values are stored as comparisons see them, their top 20 bits ([`compared`]); a decoded
//! value has its low bits zero. Nothing compares the low bits, and band keys, which need them, are
//! in the header in full. A bottom-48 sample of an article of n shingles spans about 48/n of the
//! value range, so its compared gaps average 2^20/n, far fewer bits than full 32-bit values.

use crate::domain::{ArticleMeta, ClusterId, SourceTier, StoredArticle};
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::fingerprint::features::FeatureKind;
use crate::fingerprint::sketch::{COMPARED_BITS, Sketch, compared};

/// Offset and width of the cluster id.
pub(super) const CLUSTER_AT: usize = 0;
pub(super) const CLUSTER_WIDTH: usize = 25;
/// Offset and width of the content hash.
const HASH_AT: usize = CLUSTER_AT + CLUSTER_WIDTH;
const HASH_WIDTH: usize = 8;
/// Offset of the tier digit, one byte.
const TIER_AT: usize = HASH_AT + HASH_WIDTH;
/// Offsets of the published and ingested times, and their width.
const PUBLISHED_AT: usize = TIER_AT + 1;
const INGESTED_AT: usize = PUBLISHED_AT + TIME_WIDTH;
const TIME_WIDTH: usize = 8;
/// Offset and width of the article's number: 2^40 numbers, never reused.
const NUMBER_AT: usize = INGESTED_AT + TIME_WIDTH;
pub(super) const NUMBER_WIDTH: usize = 5;
/// Offset of the band-key count; the band keys follow it.
const BANDS_AT: usize = NUMBER_AT + NUMBER_WIDTH;
/// Bytes per band key.
pub(super) const BAND_WIDTH: usize = 5;

/// The header layout as the Lua prelude declares it: offsets 1-based, as `string.sub` counts.
pub(super) fn lua_constants() -> [(&'static str, usize); 12] {
    [
        ("CLUSTER_AT", CLUSTER_AT + 1),
        ("CLUSTER_WIDTH", CLUSTER_WIDTH),
        ("HASH_AT", HASH_AT + 1),
        ("HASH_WIDTH", HASH_WIDTH),
        ("TIER_AT", TIER_AT + 1),
        ("PUBLISHED_AT", PUBLISHED_AT + 1),
        ("INGESTED_AT", INGESTED_AT + 1),
        ("TIME_WIDTH", TIME_WIDTH),
        ("NUMBER_AT", NUMBER_AT + 1),
        ("NUMBER_WIDTH", NUMBER_WIDTH),
        ("BANDS_AT", BANDS_AT + 1),
        ("BAND_WIDTH", BAND_WIDTH),
    ]
}

fn corrupt(detail: &str) -> Error {
    Error::Internal(format!("redis: undecodable article record: {detail}"))
}

/// A time as 8 bytes that sort bytewise as the signed value does: the header's times, and the form
/// in which the retention time index stores and compares them.
pub(super) fn sortable(micros: i64) -> [u8; 8] {
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

pub(super) fn unsortable(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// A band key as 5 bytes; fails for a key whose tag does not fit one byte.
///
/// The value is scrambled (a bijection, so no two keys collide): band keys are a sketch's *smallest*
/// values, so their top bits, which name the posting bucket, are nearly always small; unscrambled,
/// they would crowd into a few of the buckets.
pub(super) fn band(key: u64) -> Result<[u8; BAND_WIDTH]> {
    let tag = u8::try_from(key >> 32).map_err(|_| Error::Internal(format!("redis: band key {key:#x} too wide")))?;
    let value = (key as u32).wrapping_mul(SCRAMBLE).to_be_bytes();
    Ok([tag, value[0], value[1], value[2], value[3]])
}

/// An odd multiplier (the 32-bit golden ratio) and its inverse modulo 2^32.
const SCRAMBLE: u32 = 0x9E37_79B9;
const UNSCRAMBLE: u32 = 0x144C_BC89;

pub(super) fn unband(bytes: &[u8]) -> u64 {
    let value = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]).wrapping_mul(UNSCRAMBLE);
    (u64::from(bytes[0]) << 32) | u64::from(value)
}

/// Band keys as the scripts take them: 5 bytes each, concatenated.
pub(super) fn bands(keys: &[u64]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(keys.len() * BAND_WIDTH);
    for &key in keys {
        out.extend_from_slice(&band(key)?);
    }
    Ok(out)
}

/// The record of an unassigned article.
pub(super) fn encode(article: &StoredArticle) -> Result<Vec<u8>> {
    let keys =
        u8::try_from(article.band_keys.len()).map_err(|_| Error::Internal("redis: more than 255 band keys".into()))?;
    let mut out = Vec::with_capacity(600);
    out.extend_from_slice(&[0; CLUSTER_WIDTH]);
    debug_assert_eq!(out.len(), HASH_AT);
    out.extend_from_slice(&article.content_hash.to_be_bytes());
    debug_assert_eq!(out.len(), TIER_AT);
    out.push(article.tier.digit() as u8);
    debug_assert_eq!(out.len(), PUBLISHED_AT);
    out.extend_from_slice(&sortable(article.published_us));
    debug_assert_eq!(out.len(), INGESTED_AT);
    out.extend_from_slice(&sortable(article.ingested_us));
    debug_assert_eq!(out.len(), NUMBER_AT);
    out.extend_from_slice(&[0; NUMBER_WIDTH]);
    debug_assert_eq!(out.len(), BANDS_AT);
    out.push(keys);
    out.extend_from_slice(&bands(&article.band_keys)?);
    for text in [&article.meta.id, &article.meta.url, &article.meta.source, &article.meta.title] {
        varint(&mut out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }
    let fingerprint = &article.fingerprint;
    varint(&mut out, u64::from(fingerprint.version));
    out.extend_from_slice(&fingerprint.simhash.to_le_bytes());
    varint(&mut out, u64::from(fingerprint.tokens));
    pack(&mut out, &fingerprint.words, &keys_of(&article.band_keys, FeatureKind::Words))?;
    pack(&mut out, &fingerprint.skeleton, &keys_of(&article.band_keys, FeatureKind::Skeleton))?;
    pack(&mut out, &fingerprint.numbers, &[])?;
    Ok(out)
}

/// The article a record holds, with the cluster its header names.
pub(super) fn decode(record: &[u8]) -> Result<StoredArticle> {
    let mut reader = Reader { data: record, at: 0 };
    let cluster = reader.take(CLUSTER_WIDTH)?;
    let cluster_id = if cluster[0] == 0 {
        None
    } else {
        Some(ClusterId(String::from_utf8(cluster.to_vec()).map_err(|_| corrupt("cluster id"))?))
    };
    let content_hash = u64::from_be_bytes(reader.array()?);
    let tier = match reader.take(1)?[0] {
        b'0' => SourceTier::Trusted,
        b'1' => SourceTier::Ordinary,
        b'2' => SourceTier::Aggregator,
        _ => return Err(corrupt("tier")),
    };
    let published_us = unsortable(reader.array()?);
    let ingested_us = unsortable(reader.array()?);
    reader.take(NUMBER_WIDTH)?;
    let keys = reader.take(1)?[0] as usize;
    let band_keys: Vec<u64> = reader.take(keys * BAND_WIDTH)?.chunks_exact(BAND_WIDTH).map(unband).collect();
    let mut text = || -> Result<String> {
        let len = reader.varint()? as usize;
        String::from_utf8(reader.take(len)?.to_vec()).map_err(|_| corrupt("text"))
    };
    let meta = ArticleMeta { id: text()?, url: text()?, source: text()?, title: text()? };
    let version = u32::try_from(reader.varint()?).map_err(|_| corrupt("version"))?;
    let simhash = u64::from_le_bytes(reader.array()?);
    let tokens = u32::try_from(reader.varint()?).map_err(|_| corrupt("tokens"))?;
    let words = unpack(&mut reader, &keys_of(&band_keys, FeatureKind::Words))?;
    let skeleton = unpack(&mut reader, &keys_of(&band_keys, FeatureKind::Skeleton))?;
    let numbers = unpack(&mut reader, &[])?;
    if reader.at != record.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(StoredArticle {
        meta,
        tier,
        published_us,
        ingested_us,
        content_hash,
        fingerprint: Fingerprint { version, simhash, words, skeleton, numbers, tokens },
        band_keys,
        cluster_id,
    })
}

/// The number a stored record's script gave the article.
pub(super) fn number(record: &[u8]) -> Result<[u8; NUMBER_WIDTH]> {
    record.get(NUMBER_AT..BANDS_AT).and_then(|bytes| bytes.try_into().ok()).ok_or_else(|| corrupt("truncated"))
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The values of the band keys of `kind`, ascending.
fn keys_of(band_keys: &[u64], kind: FeatureKind) -> Vec<u32> {
    let mut values: Vec<u32> =
        band_keys.iter().filter(|&&key| key >> 32 == kind.band_tag()).map(|&key| key as u32).collect();
    values.sort_unstable();
    values
}

/// Flags byte of a packed sketch.
const SATURATED: u8 = 1;
/// The sketch's band keys (every one a value of the sketch) are left out of its packed values: the
/// header has them in full, and decoding puts them back.
const KEYS_IN_HEADER: u8 = 2;

/// A sketch: count of packed values, flags, Rice parameter `k`, then the gaps between its ascending
/// [`compared`] values (the first from 0; two values can share one), each Rice-coded: `gap >> k` in
/// unary (that many 1 bits, then a 0), then its low `k` bits; least significant bit first.
///
/// When every one of `keys` (the band keys of the sketch's kind, ascending) is a value of the sketch,
/// as it is for every article the engine stores, they are left out: the header has them in full.
///
/// Why Rice and not a fixed width: a sample's gaps are near-geometric, so Rice coding costs about
/// their entropy, while a fixed width pays for the widest gap on every value (and leaving the band
/// keys out makes some gaps much wider than the others).
fn pack(out: &mut Vec<u8>, sketch: &Sketch, keys: &[u32]) -> Result<()> {
    let omit = !keys.is_empty() && keys.iter().all(|key| sketch.values.binary_search(key).is_ok());
    let mut gaps = Vec::with_capacity(sketch.values.len());
    let mut previous = 0u32;
    let kept = sketch.values.iter().filter(|value| !(omit && keys.binary_search(value).is_ok()));
    for value in kept.map(|&v| compared(v)) {
        if value < previous {
            return Err(Error::Internal("redis: sketch values are not ascending".into()));
        }
        gaps.push(value - previous);
        previous = value;
    }
    // the k that packs these gaps smallest (each costs k + 1 + gap >> k bits)
    let cost = |k: u32| gaps.iter().map(|&gap| u64::from(k + 1 + (gap >> k))).sum::<u64>();
    let k = (0..=COMPARED_BITS).min_by_key(|&k| cost(k)).unwrap_or(0);
    varint(out, gaps.len() as u64);
    out.push(if sketch.saturated { SATURATED } else { 0 } | if omit { KEYS_IN_HEADER } else { 0 });
    out.push(k as u8);
    let mut bits = BitWriter { out, buffer: 0, filled: 0 };
    for gap in gaps {
        for _ in 0..gap >> k {
            bits.push(1, 1);
        }
        bits.push(0, 1);
        bits.push(u64::from(gap) & ((1 << k) - 1), k);
    }
    bits.flush();
    Ok(())
}

/// A sketch [`pack`] wrote, `keys` being the band keys of its kind from the header.
fn unpack(reader: &mut Reader, keys: &[u32]) -> Result<Sketch> {
    let count = reader.varint()? as usize;
    let flags = reader.take(1)?[0];
    if flags & !(SATURATED | KEYS_IN_HEADER) != 0 {
        return Err(corrupt("sketch flags"));
    }
    let k = u32::from(reader.take(1)?[0]);
    if k > COMPARED_BITS || count > 1 << 16 {
        return Err(corrupt("sketch header"));
    }
    let mut bits = BitReader { reader, buffer: 0, filled: 0 };
    let mut values = Vec::with_capacity(count + keys.len());
    let mut previous = 0u32;
    for _ in 0..count {
        let mut high = 0u32;
        while bits.take(1)? == 1 {
            high += 1;
            // a value past COMPARED_BITS is corrupt however it ends
            if high >> (COMPARED_BITS - k) != 0 {
                return Err(corrupt("sketch value overflow"));
            }
        }
        let gap = (high << k) | bits.take(k)? as u32;
        previous += gap;
        if previous >> COMPARED_BITS != 0 {
            return Err(corrupt("sketch value overflow"));
        }
        values.push(previous << (32 - COMPARED_BITS));
    }
    if flags & KEYS_IN_HEADER != 0 {
        values.extend_from_slice(keys);
        // both parts ascend: a stable sort of the two runs is a merge
        #[expect(clippy::stable_sort_primitive, reason = "a stable sort merges two sorted runs in one pass")]
        values.sort();
    }
    Ok(Sketch { values, saturated: flags & SATURATED != 0 })
}

/// Bits appended least significant first; the last byte is padded with zeros.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    buffer: u64,
    filled: u32,
}

impl BitWriter<'_> {
    /// Appends the low `width` (at most 32) bits of `value`.
    fn push(&mut self, value: u64, width: u32) {
        self.buffer |= value << self.filled;
        self.filled += width;
        while self.filled >= 8 {
            self.out.push(self.buffer as u8);
            self.buffer >>= 8;
            self.filled -= 8;
        }
    }

    fn flush(self) {
        if self.filled > 0 {
            self.out.push(self.buffer as u8);
        }
    }
}

/// Reads what [`BitWriter`] wrote; the padding of the last byte read is dropped with the reader.
struct BitReader<'r, 'a> {
    reader: &'r mut Reader<'a>,
    buffer: u64,
    filled: u32,
}

impl BitReader<'_, '_> {
    /// The next `width` (at most 32) bits.
    fn take(&mut self, width: u32) -> Result<u64> {
        while self.filled < width {
            self.buffer |= u64::from(self.reader.take(1)?[0]) << self.filled;
            self.filled += 8;
        }
        let value = self.buffer & ((1u64 << width) - 1);
        self.buffer >>= width;
        self.filled -= width;
        Ok(value)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.data.len()).ok_or_else(|| corrupt("truncated"))?;
        let slice = &self.data[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| corrupt("truncated"))
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("varint"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(text: &str) -> StoredArticle {
        let fingerprint = crate::fingerprint::fingerprint(text);
        StoredArticle {
            meta: ArticleMeta {
                id: "id-1".into(),
                url: "https://example.org/a".into(),
                source: "example.org".into(),
                title: "A title, ünïcode".into(),
            },
            tier: SourceTier::Aggregator,
            published_us: -5,
            ingested_us: 1_700_000_000_000_000,
            content_hash: 0xDEAD_BEEF_0123_4567,
            band_keys: fingerprint.band_keys(|_, _| false),
            fingerprint,
            cluster_id: None,
        }
    }

    /// The article with each sketch value cut to what comparisons see, as a record stores it.
    fn as_compared(mut article: StoredArticle) -> StoredArticle {
        let fingerprint = &mut article.fingerprint;
        for sketch in [&mut fingerprint.words, &mut fingerprint.skeleton, &mut fingerprint.numbers] {
            for value in &mut sketch.values {
                *value = compared(*value) << (32 - COMPARED_BITS);
            }
        }
        article
    }

    #[test]
    fn records_round_trip_all_that_comparisons_see() {
        let text = "The minister said on Tuesday that the budget of 2025 would rise by 4.5 percent, \
                    while the opposition warned that 300 schools and 12 hospitals would close. "
            .repeat(6);
        let other = crate::fingerprint::fingerprint(&format!("{text} and the talks went on into the night"));
        for text in [text.as_str(), "one two three", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"] {
            let original = article(text);
            let record = encode(&original).expect("encode");
            let decoded = decode(&record).expect("decode");
            assert_eq!(as_compared(decoded.clone()), as_compared(original.clone()));
            assert_eq!(decoded.band_keys, original.band_keys, "band keys keep all their bits");
            for key in &decoded.band_keys {
                let sketch = if key >> 32 == 1 { &decoded.fingerprint.words } else { &decoded.fingerprint.skeleton };
                assert!(sketch.values.contains(&(*key as u32)), "band key {key:#x} is back in its sketch");
            }
            let boilerplate = |_, value: u32| value.is_multiple_of(5);
            assert_eq!(
                crate::engine::rules::compare(&decoded.fingerprint, &other, boilerplate),
                crate::engine::rules::compare(&original.fingerprint, &other, boilerplate),
                "a stored fingerprint compares as the original does"
            );
            let mut assigned = record.clone();
            assigned[..CLUSTER_WIDTH].copy_from_slice(b"00066168d9e0a345-e45bf283");
            let decoded = decode(&assigned).expect("decode");
            assert_eq!(decoded.cluster_id, Some(ClusterId("00066168d9e0a345-e45bf283".into())));
        }
    }

    /// A band key is a sketch value, kept in full in the header and not packed a second time;
    /// keys that are not (as a test may post) are stored and decoded all the same.
    #[test]
    fn band_keys_are_stored_once() {
        let text = "The minister said on Tuesday that the budget of 2025 would rise by 4.5 percent. ".repeat(9);
        let original = article(&text);
        assert_eq!(original.band_keys.len(), 24);
        let mut foreign = original.clone();
        foreign.band_keys = original.band_keys.iter().map(|key| key ^ 0x8000_0000).collect();
        let (own, other) = (encode(&original).expect("encode"), encode(&foreign).expect("encode"));
        assert!(own.len() + 24 <= other.len(), "{} bytes against {}", own.len(), other.len());
        assert_eq!(as_compared(decode(&other).expect("decode")), as_compared(foreign));
    }

    #[test]
    fn band_keys_scramble_reversibly_and_spread() {
        assert_eq!(SCRAMBLE.wrapping_mul(UNSCRAMBLE), 1);
        for key in [0u64, 1, 0x1_0000_0001, 0x2_FFFF_FFFF, 0x1_0000_1234] {
            assert_eq!(unband(&band(key).expect("narrow")), key);
        }
        // the smallest values of a sketch land in many buckets, not the first few
        let buckets: std::collections::HashSet<[u8; 3]> = (0..4096u64)
            .map(|value| band((1 << 32) | (value * 1024)).expect("narrow"))
            .map(|b| [b[0], b[1], b[2]])
            .collect();
        assert!(buckets.len() > 3500, "{} buckets", buckets.len());
        assert!(band(1 << 40).is_err());
    }

    #[test]
    fn extreme_sketches_round_trip() {
        let mut original = article("a b c d e f");
        // two values that compare equal, and the extremes
        original.fingerprint.words = Sketch { values: vec![0, 1, u32::MAX], saturated: true };
        original.fingerprint.numbers = Sketch { values: vec![u32::MAX], saturated: false };
        original.fingerprint.skeleton = Sketch::default();
        let record = encode(&original).expect("encode");
        assert_eq!(decode(&record).expect("decode"), as_compared(original));
        assert!(decode(&record[..record.len() - 1]).is_err());
    }

    /// The header's times decode to what was encoded, and sort bytewise as the signed values do: the
    /// retention scripts compare them as bytes.
    #[test]
    fn header_times_round_trip_and_sort() {
        let mut times = [i64::MAX, 5, -5, 0, i64::MIN, -1, -3_600_000_001, 1_700_000_000_000_000];
        for micros in times {
            assert_eq!(unsortable(sortable(micros)), micros);
        }
        times.sort_by_key(|&micros| sortable(micros));
        assert_eq!(times, [i64::MIN, -3_600_000_001, -5, -1, 0, 5, 1_700_000_000_000_000, i64::MAX]);
    }
}
