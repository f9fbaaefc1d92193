//! `dedupd eval`: scores a clustering against a labelled set, so users can tune on their own labelled
//! data.
//!
//! A labelled set is a directory with `articles.jsonl` (in ingest order, [`crate::jsonl`]),
//! `labels.jsonl` (each article's story, and whether it is the story's original) and, optionally,
//! `ambiguous_pairs.jsonl` (pairs of stories that are arguably one). The articles are ingested in file
//! order, then every article's final cluster and canonical are read back and scored: pair precision
//! and recall over same-story pairs (ambiguous pairs left out), canonical accuracy (copies whose
//! canonical is their story's original), and copy recall per spinning operation. Loading and scoring
//! are pure; the drivers (in process, or through a running server) live in [`crate::cli`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::jsonl::{self, ArticleLine};

/// One line of `labels.jsonl`: the story an article belongs to.
#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    /// The article's id.
    pub id: String,
    /// The story: articles of one story are copies of each other.
    pub story: String,
    /// The article is its story's original, the canonical a system should name.
    #[serde(default)]
    pub original: bool,
    /// How a copy was made, `+`-separated (`spin30+footer`); empty for originals.
    #[serde(default)]
    pub ops: String,
}

#[derive(Debug, Clone, Deserialize)]
struct AmbiguousPair {
    a: String,
    b: String,
}

/// A labelled set, loaded.
pub struct LabelledSet {
    /// The articles, in ingest order.
    pub articles: Vec<ArticleLine>,
    /// The labels by article id.
    pub labels: HashMap<String, Label>,
    ambiguous: Vec<AmbiguousPair>,
}

impl LabelledSet {
    /// Loads a labelled directory, or a bare JSONL file of articles (no labels: only the cluster sizes
    /// can be reported).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        if path.is_file() {
            return Ok(LabelledSet { articles: jsonl::read(path)?, labels: HashMap::new(), ambiguous: vec![] });
        }
        let dir = path;
        let articles = jsonl::read(&dir.join("articles.jsonl"))?;
        let labels: Vec<Label> = jsonl::read(&dir.join("labels.jsonl"))?;
        let ambiguous_path = dir.join("ambiguous_pairs.jsonl");
        let ambiguous = if ambiguous_path.exists() { jsonl::read(&ambiguous_path)? } else { vec![] };
        Ok(LabelledSet { articles, labels: labels.into_iter().map(|l| (l.id.clone(), l)).collect(), ambiguous })
    }
}

/// Where the system put one article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The article's id.
    pub id: String,
    /// The cluster it ended in.
    pub cluster_id: String,
    /// That cluster's canonical.
    pub canonical_id: String,
}

/// The scores of one run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scores {
    /// Articles placed.
    pub articles: usize,
    /// Share of predicted same-cluster pairs that are labelled same-story.
    pub precision: f64,
    /// Share of labelled same-story pairs that are predicted same-cluster.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Share of copies whose canonical is their story's labelled original.
    pub canonical_accuracy: f64,
    /// Copy recall per operation: `spinN` levels and `verbatim`, with (found, total).
    pub copy_recall: BTreeMap<String, (usize, usize)>,
    /// Size of the largest predicted cluster.
    pub largest_cluster: usize,
    /// Size of the largest labelled story: a largest cluster above it glued stories together.
    pub largest_story: usize,
    /// Cluster size → number of clusters of that size, over all placed articles (labelled or not).
    pub cluster_sizes: BTreeMap<usize, usize>,
}

fn pairs(n: usize) -> u64 {
    (n as u64) * (n as u64).saturating_sub(1) / 2
}

/// The spin level of a copy's ops (`spin30` → "spin30"), or "verbatim" when there is none.
fn operation(ops: &str) -> String {
    ops.split('+').find(|op| op.starts_with("spin")).map(str::to_string).unwrap_or_else(|| "verbatim".to_string())
}

/// Scores placements against the labels (articles without a label or placement are skipped).
pub fn score(set: &LabelledSet, placements: &[Placement]) -> Scores {
    let placed: HashMap<&str, &Placement> = placements.iter().map(|p| (p.id.as_str(), p)).collect();
    let story_of = |id: &str| set.labels.get(id).map(|l| l.story.as_str());

    let mut story_sizes: HashMap<&str, usize> = HashMap::new();
    let mut original_of: HashMap<&str, &str> = HashMap::new();
    for label in set.labels.values() {
        *story_sizes.entry(label.story.as_str()).or_default() += 1;
        if label.original {
            original_of.insert(label.story.as_str(), label.id.as_str());
        }
    }
    let ambiguous: HashSet<(&str, &str)> = set
        .ambiguous
        .iter()
        .filter_map(|pair| {
            let (a, b) = (story_of(&pair.a)?, story_of(&pair.b)?);
            (a != b).then(|| if a < b { (a, b) } else { (b, a) })
        })
        .collect();

    // cluster -> story -> count
    let mut cells: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    for placement in placements {
        let Some(story) = story_of(&placement.id) else { continue };
        *cells.entry(placement.cluster_id.as_str()).or_default().entry(story).or_default() += 1;
    }
    let (mut predicted, mut true_positive, mut excluded) = (0u64, 0u64, 0u64);
    let mut largest_cluster = 0;
    for stories in cells.values() {
        let size: usize = stories.values().sum();
        largest_cluster = largest_cluster.max(size);
        predicted += pairs(size);
        let counts: Vec<(&str, usize)> = stories.iter().map(|(story, count)| (*story, *count)).collect();
        for (i, &(story, count)) in counts.iter().enumerate() {
            true_positive += pairs(count);
            for &(other, other_count) in &counts[i + 1..] {
                let key = if story < other { (story, other) } else { (other, story) };
                if ambiguous.contains(&key) {
                    excluded += (count * other_count) as u64;
                }
            }
        }
    }
    let labelled: u64 = story_sizes.values().map(|&n| pairs(n)).sum();
    let precision = if predicted > excluded { true_positive as f64 / (predicted - excluded) as f64 } else { 1.0 };
    let recall = if labelled > 0 { true_positive as f64 / labelled as f64 } else { 1.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };

    let (mut canonical_right, mut copies) = (0usize, 0usize);
    let mut copy_recall: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for label in set.labels.values() {
        if label.original || story_sizes.get(label.story.as_str()).copied().unwrap_or(0) < 2 {
            continue;
        }
        let Some(original) = original_of.get(label.story.as_str()) else {
            continue;
        };
        let placement = placed.get(label.id.as_str());
        copies += 1;
        if placement.is_some_and(|p| p.canonical_id == *original) {
            canonical_right += 1;
        }
        let together = match (placement, placed.get(original)) {
            (Some(copy), Some(orig)) => copy.cluster_id == orig.cluster_id,
            _ => false,
        };
        let entry = copy_recall.entry(operation(&label.ops)).or_default();
        entry.1 += 1;
        if together {
            entry.0 += 1;
        }
    }
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for placement in placements {
        *sizes.entry(placement.cluster_id.as_str()).or_default() += 1;
    }
    let mut cluster_sizes: BTreeMap<usize, usize> = BTreeMap::new();
    for size in sizes.values() {
        *cluster_sizes.entry(*size).or_default() += 1;
    }
    Scores {
        cluster_sizes,
        articles: placements.len(),
        precision,
        recall,
        f1,
        canonical_accuracy: if copies > 0 { canonical_right as f64 / copies as f64 } else { 1.0 },
        copy_recall,
        largest_cluster,
        largest_story: story_sizes.values().copied().max().unwrap_or(0),
    }
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "articles            {}", self.articles)?;
        let sizes: Vec<String> =
            self.cluster_sizes.iter().rev().map(|(size, count)| format!("{size}:{count}")).collect();
        writeln!(f, "cluster sizes       {} (size:clusters, largest first)", sizes.join(" "))?;
        if self.largest_story == 0 {
            return Ok(());
        }
        writeln!(f, "pair precision      {:.4}", self.precision)?;
        writeln!(f, "pair recall         {:.4}", self.recall)?;
        writeln!(f, "pair F1             {:.4}", self.f1)?;
        writeln!(f, "canonical accuracy  {:.4}", self.canonical_accuracy)?;
        writeln!(f, "largest cluster     {} (largest labelled story {})", self.largest_cluster, self.largest_story)?;
        writeln!(f, "copy recall by operation:")?;
        let mut ops: Vec<(&String, &(usize, usize))> = self.copy_recall.iter().collect();
        // spin levels in numeric order, verbatim last
        ops.sort_by_key(|(op, _)| op.strip_prefix("spin").and_then(|n| n.parse::<u32>().ok()).unwrap_or(u32::MAX));
        for (op, (found, total)) in ops {
            writeln!(f, "  {op:<10} {:.4}  ({found}/{total})", *found as f64 / (*total).max(1) as f64)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(id: &str, story: &str, original: bool, ops: &str) -> (String, Label) {
        (id.to_string(), Label { id: id.into(), story: story.into(), original, ops: ops.into() })
    }

    fn place(id: &str, cluster: &str, canonical: &str) -> Placement {
        Placement { id: id.into(), cluster_id: cluster.into(), canonical_id: canonical.into() }
    }

    fn set() -> LabelledSet {
        LabelledSet {
            articles: vec![],
            labels: [
                label("o1", "s1", true, "original"),
                label("c1", "s1", false, "spin30+footer"),
                label("c2", "s1", false, "header"),
                label("o2", "s2", true, "original"),
                label("o3", "s3", true, "original"),
            ]
            .into_iter()
            .collect(),
            ambiguous: vec![AmbiguousPair { a: "o2".into(), b: "o3".into() }],
        }
    }

    #[test]
    fn perfect_clustering_scores_one() {
        let scores = score(
            &set(),
            &[
                place("o1", "A", "o1"),
                place("c1", "A", "o1"),
                place("c2", "A", "o1"),
                place("o2", "B", "o2"),
                place("o3", "C", "o3"),
            ],
        );
        assert_eq!((scores.precision, scores.recall, scores.f1, scores.canonical_accuracy), (1.0, 1.0, 1.0, 1.0));
        assert_eq!(scores.copy_recall["spin30"], (1, 1));
        assert_eq!(scores.copy_recall["verbatim"], (1, 1));
        assert_eq!(scores.largest_cluster, 3);
        assert_eq!(scores.cluster_sizes, BTreeMap::from([(1, 2), (3, 1)]));
    }

    #[test]
    fn ambiguous_pairs_are_left_out_and_misses_count() {
        let scores = score(
            &set(),
            &[
                place("o1", "A", "o1"),
                place("c1", "X", "c1"),
                place("c2", "A", "o1"),
                place("o2", "B", "o2"),
                place("o3", "B", "o2"),
            ],
        );
        // predicted pairs: (o1,c2) true, (o2,o3) ambiguous → excluded
        assert_eq!(scores.precision, 1.0);
        assert!((scores.recall - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(scores.copy_recall["spin30"], (0, 1));
        assert!((scores.canonical_accuracy - 0.5).abs() < 1e-9);
    }

    #[test]
    fn false_merges_cost_precision() {
        let scores = score(
            &set(),
            &[
                place("o1", "A", "o1"),
                place("c1", "A", "o1"),
                place("c2", "A", "o1"),
                place("o2", "A", "o1"),
                place("o3", "C", "o3"),
            ],
        );
        assert!((scores.precision - 0.5).abs() < 1e-9);
        assert_eq!(scores.largest_cluster, 4);
    }
}
