//! The Redis record decoder on any bytes (what a damaged or foreign key could hold): an error or an
//! article, never a panic or a huge allocation; and what decodes encodes back to a record that decodes
//! to the same article, sketches aside: a record no encoder writes (band keys repeated, or also
//! packed in the sketch) decodes to a sketch whose values re-encode differently.

#![no_main]

use dedupd::domain::StoredArticle;
use dedupd::fingerprint::sketch::Sketch;
use dedupd::store::redis::{decode_record, encode_record};
use libfuzzer_sys::fuzz_target;

/// The article without its sketches' values.
fn without_sketches(mut article: StoredArticle) -> StoredArticle {
    let fingerprint = &mut article.fingerprint;
    for sketch in [&mut fingerprint.words, &mut fingerprint.skeleton, &mut fingerprint.numbers] {
        *sketch = Sketch { values: Vec::new(), saturated: sketch.saturated };
    }
    article
}

fuzz_target!(|data: &[u8]| {
    let Ok(article) = decode_record(data) else { return };
    let Ok(record) = encode_record(&article) else { return };
    let again = decode_record(&record).expect("a re-encoded record decodes");
    // encoding writes the article unassigned and without its number: compare all else
    assert_eq!(again.cluster_id, None);
    assert_eq!(without_sketches(again), without_sketches(StoredArticle { cluster_id: None, ..article }));
});
