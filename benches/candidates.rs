//! How much work candidate lookup hands to verification: on a labelled set's articles, ingested in
//! order into a memory store (no boilerplate filtering), the candidates each article gets (the engine
//! looks up at most 64), how many of them share at least 2 band keys, how many verify, how many
//! posting entries a lookup walks, and the shared-key count of every verified pair: what the lookup's
//! bounds (`store::MIN_SHARED_KEYS`, `store::POSTINGS_READ_PER_KEY`) are chosen on.
//!
//! `DEDUPD_EVAL_DEV=PATH cargo bench --bench candidates`, with a labelled set's directory or a JSONL
//! file of articles; skipped when it is not set.

use std::collections::HashMap;

use anyhow::Context;
use dedupd::domain::{ArticleMeta, SourceTier, StoredArticle};
use dedupd::engine::rules::{self, MatchRule};
use dedupd::fingerprint;
use dedupd::store::memory::MemoryStore;
use dedupd::store::{Inserted, Store};

/// As the engine's default.
const CANDIDATE_LIMIT: usize = 64;

/// The articles file `DEDUPD_EVAL_DEV` names (a JSONL file, or a labelled set's directory).
fn input() -> Option<String> {
    let path = std::env::var("DEDUPD_EVAL_DEV").ok()?;
    let is_jsonl = std::path::Path::new(&path).extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    Some(if is_jsonl { path } else { format!("{path}/articles.jsonl") })
}

fn summary(name: &str, mut values: Vec<usize>) {
    if values.is_empty() {
        return;
    }
    values.sort_unstable();
    let n = values.len();
    let mean = values.iter().sum::<usize>() as f64 / n as f64;
    println!(
        "{name:<36} mean {mean:>7.1}  p50 {:>5}  p90 {:>5}  p99 {:>5}  max {:>5}",
        values[n / 2],
        values[n * 9 / 10],
        values[n * 99 / 100],
        values[n - 1]
    );
}

fn main() -> anyhow::Result<()> {
    let Some(path) = input() else {
        eprintln!("candidates: skipped, DEDUPD_EVAL_DEV is not set");
        return Ok(());
    };
    if !std::path::Path::new(&path).exists() {
        eprintln!("candidates: skipped, {path} not found");
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let store = MemoryStore::new();
    let rule = MatchRule::default();
    let mut postings: HashMap<u64, usize> = HashMap::new();
    let (mut candidates, mut two_keys, mut verified, mut walked) = (vec![], vec![], vec![], vec![]);
    // verified pairs by the number of band keys they share (5 = five or more)
    let mut verified_by_keys = [0usize; 6];
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let article: dedupd::jsonl::ArticleLine =
            serde_json::from_str(line).with_context(|| format!("{path}:{}: not an article", number + 1))?;
        let fingerprint = fingerprint::fingerprint(&article.body);
        let band_keys = fingerprint.band_keys(|_, _| false);
        walked.push(band_keys.iter().map(|key| postings.get(key).copied().unwrap_or(0)).sum());
        for key in &band_keys {
            *postings.entry(*key).or_default() += 1;
        }
        let id = number.to_string();
        let record = StoredArticle {
            meta: ArticleMeta { id: id.clone(), url: String::new(), source: article.source, title: String::new() },
            tier: SourceTier::Ordinary,
            published_us: number as i64,
            ingested_us: number as i64,
            content_hash: number as u64,
            band_keys,
            fingerprint: fingerprint.clone(),
            cluster_id: None,
        };
        let Inserted::New(lookup) = runtime.block_on(store.insert_and_lookup(record.clone(), CANDIDATE_LIMIT))? else {
            anyhow::bail!("{path}:{}: the line numbers are the ids, so every insert is new", number + 1);
        };
        runtime.block_on(store.assign(&record, &[]))?;
        candidates.push(lookup.candidates.len());
        two_keys.push(lookup.candidates.iter().filter(|c| c.shared_keys >= 2).count());
        let mut matched = 0;
        for candidate in &lookup.candidates {
            if rule.matches(&rules::compare(&fingerprint, &candidate.article.fingerprint, |_, _| false)) {
                matched += 1;
                verified_by_keys[(candidate.shared_keys as usize).min(5)] += 1;
            }
        }
        verified.push(matched);
    }
    println!("{path}: {} articles, {} band keys", candidates.len(), postings.len());
    summary("candidates per article", candidates);
    summary("candidates sharing >= 2 band keys", two_keys);
    summary("verified candidates", verified);
    summary("posting entries walked", walked);
    summary("posting list length", postings.into_values().collect());
    println!(
        "verified pairs sharing 1, 2, 3, 4, 5+ band keys: {:?}",
        &verified_by_keys[1..] // none can share 0
    );
    Ok(())
}
