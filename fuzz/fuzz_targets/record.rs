//! The Redis record decoder on any bytes (what a damaged or foreign key could hold): an error or an
//! article, never a panic or a huge allocation; and what decodes encodes back to a record that decodes
//! to the same article.

#![no_main]

use dedupd::store::redis::{decode_record, encode_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(article) = decode_record(data) else { return };
    let Ok(record) = encode_record(&article) else { return };
    let again = decode_record(&record).expect("a re-encoded record decodes");
    // encoding writes the article unassigned and without its number: compare all else
    assert_eq!(again.cluster_id, None);
    assert_eq!(again, dedupd::domain::StoredArticle { cluster_id: None, ..article });
});
