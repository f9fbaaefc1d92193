//! `dedupd eval`: scores a clustering against a labelled set, so users can tune on their own labelled
//! data.
//!
//! A labelled set is a directory with `articles.jsonl` (in ingest order, [`crate::jsonl`]),
//! `labels.jsonl` (each article's story, whether it is the story's original, and what kind of copy it
//! is) and, optionally, `ambiguous_pairs.jsonl` (pairs that are arguably copies). The articles are
//! ingested in file order, then every article's final cluster and canonical are read back and scored:
//! pair precision and recall over same-story pairs (ambiguous pairs and rewrites left out), canonical
//! accuracy over stories whose original is known, copy recall by kind of copy, and how many articles of
//! each kind were joined to another story. Loading and scoring are pure; the drivers (in process,
//! through a running server, or a placements file) live in [`crate::cli`].

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
    /// How a copy was made, `+`-separated: a synthetic `spinN` level or a real kind (`verbatim`,
    /// `spun`, `rewrite`, `independent`), then modifiers (`spin30+footer`); `original` for originals.
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

/// One line of a placements file; ids may be written as strings or numbers.
#[derive(Deserialize)]
struct PlacementLine {
    id: serde_json::Value,
    cluster_id: serde_json::Value,
    #[serde(default)]
    canonical_id: serde_json::Value,
}

fn id_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Reads a placements file: one `{"id", "cluster_id", "canonical_id"}` a line, as `dedupd eval
/// --placements` and the peers bench write them. Articles missing from it are scored as unplaced.
pub fn read_placements(path: &Path) -> anyhow::Result<Vec<Placement>> {
    let lines: Vec<PlacementLine> = jsonl::read(path)?;
    Ok(lines
        .into_iter()
        .map(|line| Placement {
            id: id_text(line.id),
            cluster_id: id_text(line.cluster_id),
            canonical_id: id_text(line.canonical_id),
        })
        .collect())
}

/// Found and total, for one kind of article.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Count {
    /// Articles that were found (copy recall) or wrongly joined (false positives).
    pub found: usize,
    /// Articles counted.
    pub total: usize,
}

impl Count {
    fn add(&mut self, found: bool) {
        self.total += 1;
        self.found += usize::from(found);
    }

    /// `found / total`, or 0 when nothing was counted.
    pub fn ratio(self) -> f64 {
        if self.total == 0 { 0.0 } else { self.found as f64 / self.total as f64 }
    }
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
    /// Labelled same-story pairs counted (ambiguous pairs and rewrites left out).
    pub labelled_pairs: u64,
    /// Predicted same-cluster pairs counted (ambiguous pairs and rewrites left out).
    pub predicted_pairs: u64,
    /// Predicted same-cluster pairs left out as ambiguous or involving a rewrite.
    pub left_out_pairs: u64,
    /// Share of copies whose canonical is their story's original, over stories whose original is
    /// known (`None`, "n/a", when there is no such copy).
    pub canonical_accuracy: Option<f64>,
    /// Copies the canonical accuracy is over.
    pub canonical_copies: usize,
    /// Copy recall by kind of copy (`spinN` levels, `verbatim`, `spun`, `rewrite`): copies put in
    /// their original's cluster. Rewrites are reported here but left out of the pair counts.
    pub copy_recall: BTreeMap<String, Count>,
    /// By kind of article (the copy kinds, `original`, `independent`): articles put in a cluster with
    /// an article of another story that is not ambiguous with theirs, a false positive.
    pub wrongly_joined: BTreeMap<String, Count>,
    /// Size of the largest predicted cluster (labelled articles or not).
    pub largest_cluster: usize,
    /// Size of the largest labelled story: a largest cluster above it glued stories together.
    pub largest_story: usize,
    /// Cluster size → number of clusters of that size, over all placed articles (labelled or not).
    pub cluster_sizes: BTreeMap<usize, usize>,
}

fn pairs(n: usize) -> u64 {
    (n as u64) * (n as u64).saturating_sub(1) / 2
}

fn tokens(ops: &str) -> impl Iterator<Item = &str> {
    ops.split('+').map(str::trim)
}

fn is_spin(op: &str) -> bool {
    op.strip_prefix("spin").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The kind of an article: for a copy its `spinN` level, `spun` or `rewrite`, else `verbatim` (copies
/// with only modifiers such as `header`, and later corpus articles merged into a story); for an
/// original `independent` (a same-event article with no copies) or `original`.
fn kind(label: &Label) -> String {
    if label.original {
        let independent = tokens(&label.ops).any(|op| op == "independent");
        return if independent { "independent" } else { "original" }.to_string();
    }
    tokens(&label.ops).find(|op| is_spin(op) || matches!(*op, "spun" | "rewrite")).unwrap_or("verbatim").to_string()
}

/// Whether an original's label says it is the real first publication (`original`, or no ops), not
/// the fullest copy standing in for an original nobody found.
fn known_original(label: &Label) -> bool {
    label.ops.trim().is_empty() || tokens(&label.ops).any(|op| op == "original")
}

fn ordered<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a < b { (a, b) } else { (b, a) }
}

/// Articles of one story in one cluster: how many, and how many of them are rewrites.
#[derive(Default, Clone, Copy)]
struct Cell {
    count: usize,
    rewrites: usize,
}

impl Cell {
    /// Pairs among the cell's articles that involve a rewrite (left out of the pair counts).
    fn rewrite_pairs(self) -> u64 {
        pairs(self.count) - pairs(self.count - self.rewrites)
    }
}

/// Scores placements against the labels (articles without a label or placement are skipped).
///
/// Pairs are left out of precision and recall when an ambiguous pair names them, when an ambiguous
/// pair names two articles of their two stories (the stories are ambiguous to each other), or when
/// one of a same-story pair is a `rewrite`.
pub fn score(set: &LabelledSet, placements: &[Placement]) -> Scores {
    let placed: HashMap<&str, &Placement> = placements.iter().map(|p| (p.id.as_str(), p)).collect();
    let label_of = |id: &str| set.labels.get(id);
    let kinds: HashMap<&str, String> = set.labels.values().map(|l| (l.id.as_str(), kind(l))).collect();
    let is_rewrite = |id: &str| kinds.get(id).is_some_and(|k| k == "rewrite");

    let mut story_sizes: HashMap<&str, Cell> = HashMap::new();
    let mut original_of: HashMap<&str, &Label> = HashMap::new();
    for label in set.labels.values() {
        let cell = story_sizes.entry(label.story.as_str()).or_default();
        cell.count += 1;
        cell.rewrites += usize::from(is_rewrite(&label.id));
        if label.original {
            original_of.insert(label.story.as_str(), label);
        }
    }
    // Cross-story ambiguous pairs make their stories ambiguous to each other; same-story ones leave
    // out that one pair (unless a rewrite already does).
    let mut ambiguous_stories: HashSet<(&str, &str)> = HashSet::new();
    let mut ambiguous_articles: HashSet<(&str, &str)> = HashSet::new();
    for pair in &set.ambiguous {
        let (Some(a), Some(b)) = (label_of(&pair.a), label_of(&pair.b)) else { continue };
        if a.story != b.story {
            ambiguous_stories.insert(ordered(&a.story, &b.story));
        } else if a.id != b.id && !is_rewrite(&a.id) && !is_rewrite(&b.id) {
            ambiguous_articles.insert(ordered(&a.id, &b.id));
        }
    }

    // cluster -> story -> cell
    let mut cells: HashMap<&str, HashMap<&str, Cell>> = HashMap::new();
    for placement in placements {
        let Some(label) = label_of(&placement.id) else { continue };
        let cell = cells.entry(placement.cluster_id.as_str()).or_default().entry(label.story.as_str()).or_default();
        cell.count += 1;
        cell.rewrites += usize::from(is_rewrite(&label.id));
    }
    let (mut predicted, mut true_positive, mut left_out) = (0u64, 0u64, 0u64);
    // stories sharing a cluster with an unambiguous other story
    let mut glued: HashSet<(&str, &str)> = HashSet::new();
    for (cluster, stories) in &cells {
        let size: usize = stories.values().map(|c| c.count).sum();
        predicted += pairs(size);
        let counts: Vec<(&str, Cell)> = stories.iter().map(|(story, cell)| (*story, *cell)).collect();
        for (i, &(story, cell)) in counts.iter().enumerate() {
            true_positive += pairs(cell.count) - cell.rewrite_pairs();
            left_out += cell.rewrite_pairs();
            for &(other, other_cell) in &counts[i + 1..] {
                if ambiguous_stories.contains(&ordered(story, other)) {
                    left_out += (cell.count * other_cell.count) as u64;
                } else {
                    glued.insert((cluster, story));
                    glued.insert((cluster, other));
                }
            }
        }
    }
    let mut labelled: u64 = story_sizes.values().map(|&cell| pairs(cell.count) - cell.rewrite_pairs()).sum();
    for &(a, b) in &ambiguous_articles {
        labelled -= 1;
        if let (Some(pa), Some(pb)) = (placed.get(a), placed.get(b))
            && pa.cluster_id == pb.cluster_id
        {
            true_positive -= 1;
            left_out += 1;
        }
    }
    let counted = predicted - left_out;
    let precision = if counted > 0 { true_positive as f64 / counted as f64 } else { 1.0 };
    let recall = if labelled > 0 { true_positive as f64 / labelled as f64 } else { 1.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };

    let (mut canonical_right, mut canonical_copies) = (0usize, 0usize);
    let mut copy_recall: BTreeMap<String, Count> = BTreeMap::new();
    let mut wrongly_joined: BTreeMap<String, Count> = BTreeMap::new();
    for label in set.labels.values() {
        let kind = &kinds[label.id.as_str()];
        let placement = placed.get(label.id.as_str());
        if let Some(p) = placement {
            wrongly_joined
                .entry(kind.clone())
                .or_default()
                .add(glued.contains(&(p.cluster_id.as_str(), label.story.as_str())));
        }
        if label.original || story_sizes.get(label.story.as_str()).map_or(0, |c| c.count) < 2 {
            continue;
        }
        let Some(original) = original_of.get(label.story.as_str()) else {
            continue;
        };
        if known_original(original) && kind != "rewrite" {
            canonical_copies += 1;
            canonical_right += usize::from(placement.is_some_and(|p| p.canonical_id == original.id));
        }
        let together = match (placement, placed.get(original.id.as_str())) {
            (Some(copy), Some(orig)) => copy.cluster_id == orig.cluster_id,
            _ => false,
        };
        copy_recall.entry(kind.clone()).or_default().add(together);
    }
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for placement in placements {
        *sizes.entry(placement.cluster_id.as_str()).or_default() += 1;
    }
    // over every placed article, so an unlabelled set reports it too
    let largest_cluster = sizes.values().copied().max().unwrap_or(0);
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
        labelled_pairs: labelled,
        predicted_pairs: counted,
        left_out_pairs: left_out,
        canonical_accuracy: (canonical_copies > 0).then(|| canonical_right as f64 / canonical_copies as f64),
        canonical_copies,
        copy_recall,
        wrongly_joined,
        largest_cluster,
        largest_story: story_sizes.values().map(|c| c.count).max().unwrap_or(0),
    }
}

/// Display order of kinds: spin levels by number, then verbatim, spun, rewrite, the rest by name.
fn kind_order(kind: &str) -> (u32, u32, &str) {
    if let Some(level) = kind.strip_prefix("spin").and_then(|n| n.parse::<u32>().ok()) {
        return (0, level, kind);
    }
    let rank = match kind {
        "verbatim" => 1,
        "spun" => 2,
        "rewrite" => 3,
        _ => 4,
    };
    (rank, 0, kind)
}

fn sorted_kinds(map: &BTreeMap<String, Count>) -> Vec<(&str, Count)> {
    let mut kinds: Vec<(&str, Count)> = map.iter().map(|(k, c)| (k.as_str(), *c)).collect();
    kinds.sort_by_key(|(kind, _)| kind_order(kind));
    kinds
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
        match self.canonical_accuracy {
            Some(accuracy) => writeln!(f, "canonical accuracy  {accuracy:.4}")?,
            None => writeln!(f, "canonical accuracy  n/a (no copy of a story whose original is known)")?,
        }
        writeln!(f, "largest cluster     {} (largest labelled story {})", self.largest_cluster, self.largest_story)?;
        // synthetic sets have spin levels and verbatim only: their heading stays "by operation"
        let real = self.copy_recall.keys().any(|k| !k.starts_with("spin") && k != "verbatim");
        writeln!(f, "copy recall by {}:", if real { "kind" } else { "operation" })?;
        for (kind, count) in sorted_kinds(&self.copy_recall) {
            let note = if kind == "rewrite" { "  (ambiguous: left out of the pair counts)" } else { "" };
            writeln!(f, "  {kind:<10} {:.4}  ({}/{}){note}", count.ratio(), count.found, count.total)?;
        }
        let joined: Vec<String> = sorted_kinds(&self.wrongly_joined)
            .iter()
            .map(|(kind, count)| format!("{kind} {}/{}", count.found, count.total))
            .collect();
        writeln!(f, "joined to another story, by kind: {}", joined.join(", "))?;
        writeln!(
            f,
            "pairs               {} labelled, {} predicted, {} left out (ambiguous or rewrite)",
            self.labelled_pairs, self.predicted_pairs, self.left_out_pairs
        )?;
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

    fn ambiguous(a: &str, b: &str) -> AmbiguousPair {
        AmbiguousPair { a: a.into(), b: b.into() }
    }

    fn count(found: usize, total: usize) -> Count {
        Count { found, total }
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
            ambiguous: vec![ambiguous("o2", "o3")],
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
        assert_eq!((scores.precision, scores.recall, scores.f1), (1.0, 1.0, 1.0));
        assert_eq!(scores.canonical_accuracy, Some(1.0));
        assert_eq!(scores.copy_recall["spin30"], count(1, 1));
        assert_eq!(scores.copy_recall["verbatim"], count(1, 1));
        assert_eq!(scores.largest_cluster, 3);
        assert_eq!(scores.cluster_sizes, BTreeMap::from([(1, 2), (3, 1)]));
        assert!(scores.wrongly_joined.values().all(|c| c.found == 0));
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
        assert_eq!(scores.copy_recall["spin30"], count(0, 1));
        assert_eq!(scores.canonical_accuracy, Some(0.5));
        assert_eq!((scores.predicted_pairs, scores.left_out_pairs), (1, 1));
        // stories ambiguous to each other are not a false join
        assert_eq!(scores.wrongly_joined["original"], count(0, 3));
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
        assert_eq!(scores.wrongly_joined["original"], count(2, 3));
        assert_eq!(scores.wrongly_joined["spin30"], count(1, 1));
    }

    /// A real set: the fullest copy stands in for an original nobody found, a verbatim reprint, a
    /// spun copy, a rewrite (ambiguous with the rest of its story), and two independent articles
    /// about the same event.
    fn real_set() -> LabelledSet {
        LabelledSet {
            articles: vec![],
            labels: [
                label("w1", "event/wire", true, "verbatim"),
                label("v1", "event/wire", false, "verbatim"),
                label("v2", "event/wire", false, "verbatim"),
                label("p1", "event/wire", false, "spun"),
                label("p2", "event/wire", false, "spun"),
                label("r1", "event/wire", false, "rewrite"),
                label("i1", "event/indep-a", true, "independent"),
                label("i2", "event/indep-b", true, "independent"),
            ]
            .into_iter()
            .collect(),
            ambiguous: ["w1", "v1", "v2", "p1", "p2"].iter().map(|id| ambiguous("r1", id)).collect(),
        }
    }

    #[test]
    fn real_kinds_are_scored_apart() {
        // the verbatim copies and the rewrite are found, the spun copies are not, and one independent
        // article is glued to the wire story
        let scores = score(
            &real_set(),
            &[
                place("w1", "A", "w1"),
                place("v1", "A", "w1"),
                place("v2", "A", "w1"),
                place("r1", "A", "w1"),
                place("i1", "A", "w1"),
                place("p1", "P1", "p1"),
                place("p2", "P2", "p2"),
                place("i2", "I", "i2"),
            ],
        );
        // lumped together, copy recall would be 3/5 for every kind
        assert_eq!(scores.copy_recall["verbatim"], count(2, 2));
        assert_eq!(scores.copy_recall["spun"], count(0, 2));
        assert_eq!(scores.copy_recall["rewrite"], count(1, 1));
        assert_eq!(scores.copy_recall.len(), 3);
        assert_eq!(scores.wrongly_joined["independent"], count(1, 2));
        assert_eq!(scores.wrongly_joined["spun"], count(0, 2));
        assert_eq!(scores.wrongly_joined["original"], count(1, 1));
        // labelled pairs without the rewrite: C(5,2) = 10; predicted in A: C(5,2) = 10, of which the
        // 3 with r1 and w1/v1/v2 are left out, 3 are true (w1 v1 v2) and 4 are i1 with the rest
        assert_eq!(scores.labelled_pairs, 10);
        assert_eq!(scores.left_out_pairs, 3);
        assert_eq!(scores.predicted_pairs, 7);
        assert!((scores.precision - 3.0 / 7.0).abs() < 1e-9);
        assert!((scores.recall - 3.0 / 10.0).abs() < 1e-9);
        // no story's original is known: canonical accuracy is not reported
        assert_eq!((scores.canonical_accuracy, scores.canonical_copies), (None, 0));
        assert!(scores.to_string().contains("canonical accuracy  n/a"));
        assert!(scores.to_string().contains("copy recall by kind:"));
    }

    #[test]
    fn a_rewrite_is_left_out_even_unlisted() {
        let mut set = real_set();
        set.ambiguous.clear();
        let scores = score(
            &set,
            &[
                place("w1", "A", "w1"),
                place("v1", "A", "w1"),
                place("v2", "A", "w1"),
                place("p1", "A", "w1"),
                place("p2", "A", "w1"),
                place("r1", "R", "r1"),
                place("i1", "I1", "i1"),
                place("i2", "I2", "i2"),
            ],
        );
        assert_eq!((scores.precision, scores.recall), (1.0, 1.0));
        assert_eq!(scores.copy_recall["rewrite"], count(0, 1));
    }

    #[test]
    fn a_same_story_ambiguous_pair_leaves_out_that_pair_only() {
        let mut set = set();
        set.ambiguous = vec![ambiguous("c1", "c2")];
        let scores = score(
            &set,
            &[place("o1", "A", "o1"), place("c1", "B", "c1"), place("c2", "A", "o1"), place("o2", "C", "o2")],
        );
        // labelled pairs: (o1,c1), (o1,c2); (c1,c2) left out; found (o1,c2)
        assert_eq!(scores.labelled_pairs, 2);
        assert!((scores.recall - 0.5).abs() < 1e-9);
        let together = score(
            &set,
            &[place("o1", "A", "o1"), place("c1", "A", "o1"), place("c2", "A", "o1"), place("o2", "C", "o2")],
        );
        assert_eq!((together.predicted_pairs, together.left_out_pairs), (2, 1));
        assert_eq!((together.precision, together.recall), (1.0, 1.0));
    }

    #[test]
    fn canonical_counts_only_stories_whose_original_is_known() {
        let mut set = real_set();
        set.labels.extend([label("x0", "other/site", true, "original"), label("x1", "other/site", false, "spun")]);
        let scores = score(
            &set,
            &[place("w1", "A", "w1"), place("v1", "A", "v1"), place("x0", "X", "x1"), place("x1", "X", "x1")],
        );
        assert_eq!((scores.canonical_accuracy, scores.canonical_copies), (Some(0.0), 1));
    }

    #[test]
    fn synthetic_output_keeps_its_heading() {
        let scores = score(&set(), &[place("o1", "A", "o1"), place("c1", "A", "o1")]);
        let text = scores.to_string();
        assert!(text.contains("copy recall by operation:\n  spin30     1.0000  (1/1)\n  verbatim   0.0000  (0/1)\n"));
    }

    #[test]
    fn an_unlabelled_set_reports_its_cluster_sizes() {
        let set = LabelledSet { articles: vec![], labels: HashMap::new(), ambiguous: vec![] };
        let scores = score(&set, &[place("a", "A", "a"), place("b", "A", "a"), place("c", "C", "c")]);
        assert_eq!((scores.largest_cluster, scores.largest_story), (2, 0));
        assert_eq!(scores.cluster_sizes, BTreeMap::from([(1, 1), (2, 1)]));
        assert!(!scores.to_string().contains("pair precision"));
    }

    #[test]
    fn placements_files_take_string_or_number_ids() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("placements.jsonl");
        std::fs::write(
            &path,
            "{\"id\": \"o1\", \"cluster_id\": 7, \"canonical_id\": \"o1\"}\n\n{\"id\": \"c1\", \"cluster_id\": \"7\"}\n",
        )?;
        let placements = read_placements(&path)?;
        assert_eq!(placements, vec![place("o1", "7", "o1"), place("c1", "7", "")]);
        std::fs::write(&path, "{\"id\": \"o1\"}\n")?;
        let error = read_placements(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("placements.jsonl:1"), "{error}");
        Ok(())
    }
}
