//! Normalise and fingerprint any text (plain or markup): no panic, the same fingerprint every time,
//! normalising twice changes nothing, and the fingerprint survives the Redis record round trip with
//! everything comparisons see.

#![no_main]

use dedupd::domain::{ArticleMeta, SourceTier, StoredArticle};
use dedupd::fingerprint::sketch::{Sketch, compared};
use dedupd::fingerprint::{self, html, normalize};
use dedupd::store::redis::{decode_record, encode_record};
use libfuzzer_sys::fuzz_target;

fn compared_values(sketch: &Sketch) -> Vec<u32> {
    sketch.values.iter().map(|&value| compared(value)).collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let visible = html::to_text(&text);
    let normal = normalize::normalize(&visible);
    assert_eq!(normalize::normalize(&normal), normal, "normalising is idempotent");

    let fingerprint = fingerprint::fingerprint(&text);
    assert_eq!(fingerprint, fingerprint::fingerprint(&text), "fingerprinting is deterministic");
    let band_keys = fingerprint.band_keys(|_, _| false);
    assert!(band_keys.len() <= 2 * fingerprint::BAND_KEYS_PER_SKETCH, "{} band keys", band_keys.len());

    let article = StoredArticle {
        meta: ArticleMeta { id: "fuzz".into(), url: String::new(), source: String::new(), title: String::new() },
        tier: SourceTier::Ordinary,
        published_us: 0,
        ingested_us: 0,
        content_hash: 0,
        fingerprint: fingerprint.clone(),
        band_keys: band_keys.clone(),
        cluster_id: None,
    };
    let record = encode_record(&article).expect("every fingerprint encodes");
    let decoded = decode_record(&record).expect("an encoded record decodes");
    assert_eq!(decoded.band_keys, band_keys);
    let stored = &decoded.fingerprint;
    assert_eq!(
        (stored.version, stored.simhash, stored.tokens),
        (fingerprint.version, fingerprint.simhash, fingerprint.tokens)
    );
    for (stored, original) in [
        (&stored.words, &fingerprint.words),
        (&stored.skeleton, &fingerprint.skeleton),
        (&stored.numbers, &fingerprint.numbers),
    ] {
        assert_eq!(compared_values(stored), compared_values(original));
        assert_eq!(stored.saturated, original.saturated);
    }
});
