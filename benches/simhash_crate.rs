//! The `simhash` crate against dedupd's own whole-text simhash on a labelled set: Hamming distances
//! of copies to their originals and of unrelated pairs, and time per article. What it decided is in
//! `docs/decisions/0001-own-simhash.md`.
//!
//! `DEDUPD_EVAL_DEV=DIR cargo bench --bench simhash_crate`, with the directory of a labelled set in the
//! `dedupd eval` format; skipped when it is not set.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::Instant;

use dedupd::fingerprint::{features, normalize, simhash::SimhashBuilder, tokenize};

/// The labelled set's directory, from `DEDUPD_EVAL_DEV`.
fn dev_dir() -> Option<String> {
    std::env::var("DEDUPD_EVAL_DEV").ok()
}

/// A simhash under test: its name and the function.
type Method = (&'static str, Box<dyn Fn(&str) -> u64>);

/// dedupd's whole-text simhash without the sketches: normalise, tokenise, word 3-shingles, simhash.
fn dedupd_simhash_only(
    body: &str,
    tokens: &mut Vec<tokenize::Token>,
    scratch: &mut Vec<u64>,
    feats: &mut Vec<u64>,
) -> u64 {
    let text = normalize::normalize(body);
    tokenize::tokenize(&text, tokens);
    features::word_shingles(tokens, scratch, feats);
    let mut b = SimhashBuilder::default();
    for &f in feats.iter() {
        b.add(f, 1);
    }
    b.finish()
}

/// The crate's feature variant (`simhash_stream`) over whitespace word 3-shingles, joined by one space.
fn crate_shingles(body: &str) -> u64 {
    let words: Vec<&str> = body.split_whitespace().collect();
    if words.len() < 3 {
        return simhash::simhash_stream(std::iter::once(words.join(" ").as_str()));
    }
    let sh: Vec<String> = words.windows(3).map(|w| w.join(" ")).collect();
    simhash::simhash_stream(sh.iter().map(String::as_str))
}

/// Same, over dedupd-normalised, lowercased alphanumeric words (isolates the hash from tokenisation).
fn crate_shingles_normalised(body: &str) -> u64 {
    let text = normalize::normalize(body).to_lowercase();
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    if words.len() < 3 {
        return simhash::simhash_stream(std::iter::once(words.join(" ").as_str()));
    }
    let sh: Vec<String> = words.windows(3).map(|w| w.join(" ")).collect();
    simhash::simhash_stream(sh.iter().map(String::as_str))
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[u32], p: f64) -> u32 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}
fn share(v: &[u32], r: u32) -> f64 {
    100.0 * v.iter().filter(|&&d| d <= r).count() as f64 / v.len() as f64
}

fn main() {
    // the crate's own test vectors (SipHash-2-4 via the siphasher crate, keys 0) still hold on this rustc
    assert_eq!(simhash::simhash("The cat sat on the mat"), 2_595_200_813_813_010_837);
    assert_eq!(simhash::simhash("Why the lucky stiff"), 1_155_526_875_459_215_761);
    let Some(dev) = dev_dir() else {
        eprintln!("simhash_crate: skipped, DEDUPD_EVAL_DEV is not set");
        return;
    };
    if !std::path::Path::new(&dev).exists() {
        eprintln!("simhash_crate: skipped, {dev} not found");
        return;
    }
    let read = |f: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(format!("{dev}/{f}"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let articles = read("articles.jsonl");
    let labels = read("labels.jsonl");
    let ids: Vec<String> = articles.iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
    let bodies: Vec<String> = articles.iter().map(|a| a["body"].as_str().unwrap().to_string()).collect();
    let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let n = bodies.len();
    let mut story = vec![String::new(); n];
    let mut ops = vec![String::new(); n];
    let mut is_orig = vec![false; n];
    let mut original_of: HashMap<String, usize> = HashMap::new();
    for l in &labels {
        let i = index[l["id"].as_str().unwrap()];
        story[i] = l["story"].as_str().unwrap().to_string();
        ops[i] = l["ops"].as_str().unwrap().to_string();
        is_orig[i] = l["original"].as_bool().unwrap();
        if is_orig[i] {
            assert!(original_of.insert(story[i].clone(), i).is_none());
        }
    }
    let copies: Vec<(usize, usize)> = (0..n).filter(|&i| !is_orig[i]).map(|i| (i, original_of[&story[i]])).collect();
    let spin = |i: usize| -> String {
        ops[i].split('+').find(|o| o.starts_with("spin")).map(str::to_string).unwrap_or_else(|| "verbatim".into())
    };
    let ambiguous: HashSet<(String, String)> = read("ambiguous_pairs.jsonl")
        .iter()
        .flat_map(|p| {
            let (a, b) = (p["a"].as_str().unwrap().to_string(), p["b"].as_str().unwrap().to_string());
            [(a.clone(), b.clone()), (b, a)]
        })
        .collect();

    // unrelated pairs: fixed seed, different stories
    let mut rng = dedupd::synthetic::SplitMix(20_240_601);
    let mut pairs = Vec::with_capacity(200_000);
    let mut amb_hits = 0;
    while pairs.len() < 200_000 {
        let (a, b) = (rng.below(n as u64) as usize, rng.below(n as u64) as usize);
        if story[a] == story[b] {
            continue;
        }
        if ambiguous.contains(&(ids[a].clone(), ids[b].clone())) {
            amb_hits += 1;
        }
        pairs.push((a, b));
    }
    eprintln!("articles {n}, copies {}, unrelated pairs {}, ambiguous-pair hits {amb_hits}", copies.len(), pairs.len());

    let methods: Vec<Method> = vec![
        ("dedupd fingerprint()", Box::new(|b: &str| dedupd::fingerprint::fingerprint(b).simhash)),
        (
            "dedupd simhash only",
            Box::new(|b: &str| {
                let (mut t, mut s, mut f) = (Vec::new(), Vec::new(), Vec::new());
                dedupd_simhash_only(b, &mut t, &mut s, &mut f)
            }),
        ),
        ("crate simhash()", Box::new(|b: &str| simhash::simhash(b))),
        ("crate stream 3-sh", Box::new(crate_shingles)),
        ("crate stream 3-sh norm", Box::new(crate_shingles_normalised)),
    ];
    let spins = ["verbatim", "spin3", "spin6", "spin10", "spin15", "spin20", "spin30"];
    let mut hashes_by_method = Vec::new();
    for (name, f) in &methods {
        let hashes: Vec<u64> = bodies.iter().map(|b| f(b)).collect();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for b in &bodies {
                black_box(f(black_box(b)));
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        let us = best * 1e6 / n as f64;
        let h = |a: usize, b: usize| (hashes[a] ^ hashes[b]).count_ones();
        let mut cd: Vec<u32> = copies.iter().map(|&(c, o)| h(c, o)).collect();
        let mut ud: Vec<u32> = pairs.iter().map(|&(a, b)| h(a, b)).collect();
        cd.sort_unstable();
        ud.sort_unstable();
        let u01 = pct(&ud, 0.1);
        let below = 100.0 * cd.iter().filter(|&&d| d < u01).count() as f64 / cd.len() as f64;
        println!("== {name}");
        println!(
            "copies: median {} p90 {} p99 {} | <=3 {:.1}% <=6 {:.1}% <=10 {:.1}%",
            pct(&cd, 50.0),
            pct(&cd, 90.0),
            pct(&cd, 99.0),
            share(&cd, 3),
            share(&cd, 6),
            share(&cd, 10)
        );
        let mut line = String::from("spin medians:");
        for s in spins {
            let mut v: Vec<u32> = copies.iter().filter(|&&(c, _)| spin(c) == s).map(|&(c, o)| h(c, o)).collect();
            v.sort_unstable();
            line += &format!(" {s}={} (n={})", pct(&v, 50.0), v.len());
        }
        println!("{line}");
        println!(
            "unrelated: min {} p0.1 {} p1 {} | <=10 {:.3}% | copies < unrelated p0.1: {:.1}%",
            ud[0],
            u01,
            pct(&ud, 1.0),
            share(&ud, 10),
            below
        );
        // AUC: P(copy distance < unrelated distance), ties count half
        let mut hist_u = [0u64; 65];
        for &d in &ud {
            hist_u[d as usize] += 1;
        }
        let mut below_u = [0u64; 66];
        for d in 0..65 {
            below_u[d + 1] = below_u[d] + hist_u[d];
        }
        let auc: f64 = cd
            .iter()
            .map(|&d| (ud.len() as u64 - below_u[d as usize + 1]) as f64 + 0.5 * hist_u[d as usize] as f64)
            .sum::<f64>()
            / (cd.len() as f64 * ud.len() as f64);
        let zero_fp = 100.0 * cd.iter().filter(|&&d| d < ud[0]).count() as f64 / cd.len() as f64;
        println!("separation: AUC {auc:.4} | copies < unrelated min: {zero_fp:.1}%");
        println!("time: {us:.2} us/article (best of 3 over {n})");
        hashes_by_method.push(hashes);
    }
    if let Ok(path) = std::env::var("DUMP") {
        let text: String = ids.iter().zip(&hashes_by_method[0]).map(|(id, h)| format!("{id} {h:016x}\n")).collect();
        std::fs::write(path, text).unwrap();
    }
    assert_eq!(hashes_by_method[0], hashes_by_method[1], "simhash-only path must equal fingerprint().simhash");
    eprintln!("check: dedupd simhash-only path == fingerprint().simhash for all {n} bodies");
}
