//! The article record as the Redis store keeps it: one string, a fixed header the Lua scripts read
//! with `string.sub`, and a compact body only Rust decodes.
//!
//! Why not a hash with `d`/`c`/`h`/`k`/`m` fields and a postcard blob: a hash with a value over 64
//! bytes leaves Redis's compact listpack encoding for a hashtable (~300 bytes of overhead per article),
//! band keys as hex cost 16 bytes each, and postcard spends up to 5 bytes per sketch value. Here:
//!
//! | bytes | what |
//! |---|---|
//! | 25 | the cluster id, NUL bytes while unassigned (every cluster id is 25 characters, see [`ClusterId::new`]), rewritten in place with `SETRANGE` |
//! | 8 | content hash, big-endian |
//! | 1 | tier digit (`0`, `1`, `2`) |
//! | 8 + 8 | published and ingested, each `micros ^ 2^63` big-endian: hex-encoded they are the standalone layout's zset member prefix, so Lua builds the member `TIER hex16 hex16 ID` from the header and the id |
//! | 5 | the article's number, big-endian: what its postings hold instead of its id (see `redis.rs`); zero in what Rust encodes, set by the script that stores the record |
//! | 1 | number of band keys, then 5 bytes each (the key's tag byte and its 32-bit value) |
//! | rest | id, url, source, title (varint length + bytes), fingerprint version (varint), simhash (8), tokens (varint), and each sketch as its count, saturated flag, bit width and its ascending values' gaps bit-packed at that width |
//!
//! The fingerprint itself is unchanged: its values are stored exactly, only more tightly (a bottom-48
//! sketch's gaps average 2^32/n for an article of n shingles, ~24 bits instead of up to 40 as varints).

use crate::domain::{ArticleMeta, ClusterId, SourceTier, StoredArticle};
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::fingerprint::sketch::Sketch;

/// Width of the cluster field.
pub(super) const CLUSTER_WIDTH: usize = 25;
/// Offset of the article's number.
const NUMBER_AT: usize = 50;
/// Bytes of an article number: 2^40 numbers, never reused.
pub(super) const NUMBER_WIDTH: usize = 5;
/// Offset of the band-key count; the band keys follow it.
const BANDS_AT: usize = NUMBER_AT + NUMBER_WIDTH;
/// Bytes per band key.
pub(super) const BAND_WIDTH: usize = 5;

fn corrupt(detail: &str) -> Error {
    Error::Internal(format!("redis: undecodable article record: {detail}"))
}

/// A time as 8 bytes that sort bytewise as the signed value does: the header's times, and the form
/// in which the retention time index stores and compares them.
pub(super) fn sortable(micros: i64) -> [u8; 8] {
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

fn unsortable(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// A band key as 5 bytes; fails for a key whose tag does not fit one byte.
///
/// The value is scrambled (a bijection, so no two keys collide): band keys are a sketch's *smallest*
/// values, so their top bits, which name the posting bucket, are nearly always small. Unscrambled,
/// 100k articles used 20k of the 131k buckets, and the buckets in use grew with the corpus.
pub(super) fn band(key: u64) -> Result<[u8; BAND_WIDTH]> {
    let tag = u8::try_from(key >> 32).map_err(|_| Error::Internal(format!("redis: band key {key:#x} too wide")))?;
    let value = (key as u32).wrapping_mul(SCRAMBLE).to_be_bytes();
    Ok([tag, value[0], value[1], value[2], value[3]])
}

/// An odd multiplier (the 32-bit golden ratio) and its inverse modulo 2^32.
const SCRAMBLE: u32 = 0x9E37_79B9;
const UNSCRAMBLE: u32 = 0x144C_BC89;

fn unband(bytes: &[u8]) -> u64 {
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
    out.extend_from_slice(&article.content_hash.to_be_bytes());
    out.push(article.tier.digit() as u8);
    out.extend_from_slice(&sortable(article.published_us));
    out.extend_from_slice(&sortable(article.ingested_us));
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
    for sketch in [&fingerprint.words, &fingerprint.skeleton, &fingerprint.numbers] {
        pack(&mut out, sketch)?;
    }
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
    let band_keys = reader.take(keys * BAND_WIDTH)?.chunks_exact(BAND_WIDTH).map(unband).collect();
    let mut text = || -> Result<String> {
        let len = reader.varint()? as usize;
        String::from_utf8(reader.take(len)?.to_vec()).map_err(|_| corrupt("text"))
    };
    let meta = ArticleMeta { id: text()?, url: text()?, source: text()?, title: text()? };
    let version = u32::try_from(reader.varint()?).map_err(|_| corrupt("version"))?;
    let simhash = u64::from_le_bytes(reader.array()?);
    let tokens = u32::try_from(reader.varint()?).map_err(|_| corrupt("tokens"))?;
    let words = unpack(&mut reader)?;
    let skeleton = unpack(&mut reader)?;
    let numbers = unpack(&mut reader)?;
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

/// The oldest `cap` article numbers posted under `field` in a posting bucket (entries of the field's
/// 2 bytes and a number, in the order posted), as `numbers.lua` reads them.
pub(super) fn scan(bucket: &[u8], field: [u8; 2], cap: usize) -> Vec<[u8; NUMBER_WIDTH]> {
    bucket
        .chunks_exact(2 + NUMBER_WIDTH)
        .filter(|entry| entry[..2] == field)
        .filter_map(|entry| entry[2..].try_into().ok())
        .take(cap)
        .collect()
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A sketch: count, saturated flag, bit width, then the gaps between ascending values (the first
/// from 0) at that width, least significant bit first.
fn pack(out: &mut Vec<u8>, sketch: &Sketch) -> Result<()> {
    let mut gaps = Vec::with_capacity(sketch.values.len());
    let mut previous = 0u32;
    for (i, &value) in sketch.values.iter().enumerate() {
        if i > 0 && value <= previous {
            return Err(Error::Internal("redis: sketch values are not ascending".into()));
        }
        gaps.push(value - previous);
        previous = value;
    }
    let width = gaps.iter().map(|g| 32 - g.leading_zeros()).max().unwrap_or(0);
    varint(out, sketch.values.len() as u64);
    out.push(u8::from(sketch.saturated));
    out.push(width as u8);
    let mut buffer = 0u64;
    let mut filled = 0u32;
    for gap in gaps {
        buffer |= u64::from(gap) << filled;
        filled += width;
        while filled >= 8 {
            out.push(buffer as u8);
            buffer >>= 8;
            filled -= 8;
        }
    }
    if filled > 0 {
        out.push(buffer as u8);
    }
    Ok(())
}

fn unpack(reader: &mut Reader) -> Result<Sketch> {
    let count = reader.varint()? as usize;
    let saturated = match reader.take(1)?[0] {
        0 => false,
        1 => true,
        _ => return Err(corrupt("saturated flag")),
    };
    let width = u32::from(reader.take(1)?[0]);
    if width > 32 || count > 1 << 16 {
        return Err(corrupt("sketch header"));
    }
    let packed = reader.take((count * width as usize).div_ceil(8))?;
    let mut values = Vec::with_capacity(count);
    let mut bytes = packed.iter();
    let mut buffer = 0u64;
    let mut filled = 0u32;
    let mut previous = 0u32;
    let mask = if width == 32 { u64::from(u32::MAX) } else { (1u64 << width) - 1 };
    for _ in 0..count {
        while filled < width {
            let byte = bytes.next().ok_or_else(|| corrupt("sketch values"))?;
            buffer |= u64::from(*byte) << filled;
            filled += 8;
        }
        let gap = (buffer & mask) as u32;
        buffer >>= width;
        filled -= width;
        previous = previous.checked_add(gap).ok_or_else(|| corrupt("sketch value overflow"))?;
        values.push(previous);
    }
    Ok(Sketch { values, saturated })
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

    #[test]
    fn records_round_trip_exactly() {
        let text = "The minister said on Tuesday that the budget of 2025 would rise by 4.5 percent, \
                    while the opposition warned that 300 schools and 12 hospitals would close. "
            .repeat(6);
        for text in [text.as_str(), "one two three", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"] {
            let original = article(text);
            let record = encode(&original).expect("encode");
            assert_eq!(decode(&record).expect("decode"), original);
            let mut assigned = record.clone();
            assigned[..CLUSTER_WIDTH].copy_from_slice(b"00066168d9e0a345-e45bf283");
            let decoded = decode(&assigned).expect("decode");
            assert_eq!(decoded.cluster_id, Some(ClusterId("00066168d9e0a345-e45bf283".into())));
        }
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
        original.fingerprint.words = Sketch { values: vec![0, 1, u32::MAX], saturated: true };
        original.fingerprint.numbers = Sketch { values: vec![u32::MAX], saturated: false };
        original.fingerprint.skeleton = Sketch::default();
        let record = encode(&original).expect("encode");
        assert_eq!(decode(&record).expect("decode"), original);
        assert!(decode(&record[..record.len() - 1]).is_err());
    }

    /// The header's times, hex-encoded, are the zset member's rank: the same bytes as the hex form.
    #[test]
    fn header_times_are_the_member_prefix() {
        for micros in [i64::MIN, -1, 0, 1, i64::MAX] {
            let hex: String = sortable(micros).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, super::super::sortable(micros));
            assert_eq!(unsortable(sortable(micros)), micros);
        }
    }
}
