//! Fingerprinting speed: normalise + tokenise + every fingerprint and sketch of one article, at 1, 4,
//! 16 and 64 KB, on one core. The 4 KB case is the one the speed target is set for
//! (`docs/performance.md`).
//!
//! `cargo bench --bench fingerprint`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dedupd::fingerprint::Fingerprinter;
use dedupd::synthetic::Synthetic;

/// Synthetic news of `bytes` bytes: stories one after another, cut to length.
fn text_of(bytes: usize) -> String {
    let synthetic = Synthetic::new(42);
    let mut text = String::with_capacity(bytes + 4096);
    for story in 0.. {
        if text.len() >= bytes {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&synthetic.story_text(story));
    }
    // synthetic text is ASCII, so any byte offset is a character boundary
    text.truncate(bytes);
    text
}

fn fingerprint(c: &mut Criterion) {
    let mut group = c.benchmark_group("fingerprint");
    for kb in [1usize, 4, 16, 64] {
        let text = text_of(kb * 1024);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{kb}KB")), &text, |b, text| {
            let mut fingerprinter = Fingerprinter::default();
            b.iter(|| fingerprinter.fingerprint(std::hint::black_box(text)));
        });
    }
    // the same 4 KB with non-ASCII punctuation, which takes the NFKC path
    let unicode = text_of(4 * 1024).replace(". ", "\u{201D} \u{2014} ");
    group.throughput(Throughput::Bytes(unicode.len() as u64));
    group.bench_with_input(BenchmarkId::from_parameter("4KB-unicode"), &unicode, |b, text| {
        let mut fingerprinter = Fingerprinter::default();
        b.iter(|| fingerprinter.fingerprint(std::hint::black_box(text)));
    });
    group.finish();
}

criterion_group!(benches, fingerprint);
criterion_main!(benches);
