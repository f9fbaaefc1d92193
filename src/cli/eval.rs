//! `dedupd eval DIR`: ingest a labelled set in file order, read back every placement, score it.
//!
//! In process by default (a memory store, nothing to start); with `--server` through a running
//! server's `IngestStream` and `GetArticle`, so the service itself is measured; with
//! `--score-placements` a placements file another system wrote is scored by the same rules.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::engine::{Engine, EngineConfig};
use crate::eval::{LabelledSet, Placement, Scores, read_placements, score};
use crate::proto;
use crate::store::memory::MemoryStore;

use super::client;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The labelled set: a directory with `articles.jsonl`, `labels.jsonl` and `ambiguous_pairs.jsonl`
    /// (or a JSONL file of articles: only cluster sizes are reported).
    pub dir: PathBuf,
    /// Measure a running server (its store should be empty) instead of an in-process engine.
    #[arg(long)]
    pub server: Option<String>,
    /// Print the scores as JSON.
    #[arg(long)]
    pub json: bool,
    /// With `--server`: its API key and TLS, as the client commands take them.
    #[command(flatten)]
    pub credentials: super::Credentials,
    #[command(flatten)]
    pub rule: crate::config::RuleArgs,
    /// Also write every article's placement (`{"id", "cluster_id", "canonical_id"}` per line) here.
    #[arg(long, conflicts_with = "score_placements")]
    pub placements: Option<PathBuf>,
    /// Ingest nothing: score the placements in this file (one `{"id", "cluster_id", "canonical_id"}`
    /// a line, from another system or an earlier `--placements`) against the set's labels.
    #[arg(long, value_name = "FILE", conflicts_with = "server")]
    pub score_placements: Option<PathBuf>,
}

pub async fn run(args: EvalArgs) -> anyhow::Result<()> {
    let set = LabelledSet::load(&args.dir)?;
    if let Some(path) = &args.score_placements {
        let placements = read_placements(path)?;
        let known: std::collections::HashSet<&str> = set.articles.iter().map(|a| a.id.as_str()).collect();
        let unknown = placements.iter().filter(|p| !known.contains(p.id.as_str())).count();
        if unknown > 0 {
            tracing::warn!(unknown, file = %path.display(), "placements name articles the set does not have");
        }
        print(&score(&set, &placements), None, args.json);
        return Ok(());
    }
    let started = Instant::now();
    let placements = match &args.server {
        None => in_process(&set, EngineConfig { rule: args.rule.rule(), ..EngineConfig::default() }).await?,
        Some(server) => through_server(&super::ClientOptions::new(server, args.credentials.clone()), &args.dir).await?,
    };
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(path) = &args.placements {
        let lines: Vec<String> = placements
            .iter()
            .map(|p| {
                serde_json::json!({"id": p.id, "cluster_id": p.cluster_id, "canonical_id": p.canonical_id}).to_string()
            })
            .collect();
        std::fs::write(path, lines.join("\n") + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    let scores = score(&set, &placements);
    print(&scores, Some(elapsed), args.json);
    Ok(())
}

/// Prints the scores, and the run's time when there was one (not for a scored placements file).
fn print(scores: &Scores, elapsed: Option<f64>, json: bool) {
    if json {
        let mut value = serde_json::to_value(scores).unwrap_or_default();
        if let Some(elapsed) = elapsed {
            value["seconds"] = serde_json::json!(elapsed);
        }
        println!("{value}");
        return;
    }
    print!("{scores}");
    if let Some(elapsed) = elapsed {
        println!("took {elapsed:.2}s ({:.0} articles/s)", scores.articles as f64 / elapsed.max(1e-9));
    }
}

/// Ingests every article into a fresh in-process engine, in file order, then reads back placements.
pub async fn in_process(set: &LabelledSet, config: EngineConfig) -> anyhow::Result<Vec<Placement>> {
    let engine = Engine::new(Arc::new(MemoryStore::new()), config);
    for line in &set.articles {
        let article = line.clone().into_article()?;
        engine.ingest(article).await.with_context(|| format!("ingesting {}", line.id))?;
    }
    let mut placements = Vec::with_capacity(set.articles.len());
    for line in &set.articles {
        let view = engine.article(&line.id).await.with_context(|| format!("reading back {}", line.id))?;
        placements.push(Placement {
            id: line.id.clone(),
            cluster_id: view.article.cluster_id.map(|c| c.0).unwrap_or_default(),
            canonical_id: view.canonical_id,
        });
    }
    Ok(placements)
}

async fn through_server(server: &super::ClientOptions, path: &std::path::Path) -> anyhow::Result<Vec<Placement>> {
    let mut grpc = client::connect(server).await?;
    // a labelled directory's articles, or a bare JSONL file of articles
    let articles = if path.is_file() { path.to_path_buf() } else { path.join("articles.jsonl") };
    let responses = client::stream_file(&mut grpc, &articles, |_| {}).await?;
    if let Some(failed) = responses.iter().find(|r| !r.error.is_empty()) {
        anyhow::bail!("the server rejected {}: {}", failed.id, failed.error);
    }
    let mut placements = Vec::with_capacity(responses.len());
    for response in responses {
        let record = grpc.get_article(proto::GetArticleRequest { id: response.id.clone() }).await?.into_inner();
        placements.push(Placement { id: record.id, cluster_id: record.cluster_id, canonical_id: record.canonical_id });
    }
    Ok(placements)
}
