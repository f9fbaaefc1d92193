//! The client commands: `ingest`, `check`, `article`, `cluster`, `delete`.

use std::collections::HashSet;
use std::io::{BufRead, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::grpc::convert::{micros_from_timestamp, timestamp_from_micros};
use crate::jsonl::ArticleLine;
use crate::proto;
use crate::proto::deduplicator_client::DeduplicatorClient;

use super::ClientOptions;

/// Client-side message limit: large enough for any body the server accepts by default.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A client of the `Deduplicator` service that sends the API key, if any, with every call.
pub type Client = DeduplicatorClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every call (nothing without a token).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel to the server `options` name, over TLS when they give a CA or a client certificate.
pub async fn channel(options: &ClientOptions) -> anyhow::Result<Channel> {
    let server = &options.server;
    let mut endpoint = Channel::from_shared(server.clone())
        .with_context(|| format!("invalid server url {server:?}"))?
        .connect_timeout(Duration::from_secs(5));
    let credentials = &options.credentials;
    if credentials.tls_ca.is_some() || credentials.client_cert.is_some() {
        let read = |path: &Path| std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &credentials.tls_ca {
            tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        if let (Some(cert), Some(key)) = (&credentials.client_cert, &credentials.client_key) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        endpoint = endpoint.tls_config(tls).context("cannot set up tls")?;
    }
    endpoint.connect().await.with_context(|| format!("cannot connect to dedupd at {server}"))
}

/// Connects to `options.server` with its credentials (TLS verified with their CA for an `https://`
/// URL, the API key on every call).
pub async fn connect(options: &ClientOptions) -> anyhow::Result<Client> {
    let channel = channel(options).await?;
    let token = match &options.credentials.token {
        Some(token) => {
            let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
                .parse()
                .map_err(|_| anyhow::anyhow!("the api key must be printable ascii"))?;
            // keeps the value out of the transport's own logs
            value.set_sensitive(true);
            Some(value)
        }
        None => None,
    };
    Ok(DeduplicatorClient::with_interceptor(channel, Bearer(token))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// The proto article of an input line.
pub fn proto_article(line: ArticleLine) -> anyhow::Result<proto::Article> {
    Ok(proto_from_domain(line.into_article()?))
}

/// The proto form of a domain article.
pub fn proto_from_domain(article: crate::domain::Article) -> proto::Article {
    proto::Article {
        id: article.id,
        url: article.url,
        source: article.source,
        title: article.title,
        body: article.body,
        published_at: article.published_at.map(timestamp_from_micros),
    }
}

fn open_input(path: &Path) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

/// Streams every article of a JSONL file through `IngestStream`; returns the responses in order.
/// `on_response` sees each one as it arrives (for progress).
pub async fn stream_file(
    client: &mut Client,
    path: &Path,
    mut on_response: impl FnMut(&proto::IngestResponse),
) -> anyhow::Result<Vec<proto::IngestResponse>> {
    let input = open_input(path)?;
    let (requests, queue) = tokio::sync::mpsc::channel::<proto::IngestRequest>(256);
    let display = path.display().to_string();
    // read on a blocking thread: a slow server backs up the channel, which stops the reading
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut sent = 0;
        for (number, line) in input.lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {display}"))?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: ArticleLine =
                serde_json::from_str(&line).with_context(|| format!("{display}:{}: not an article", number + 1))?;
            let article = proto_article(parsed).with_context(|| format!("{display}:{}", number + 1))?;
            if requests.blocking_send(proto::IngestRequest { article: Some(article) }).is_err() {
                break;
            }
            sent += 1;
        }
        Ok(sent)
    });
    let mut stream = client.ingest_stream(ReceiverStream::new(queue)).await?.into_inner();
    let mut responses = Vec::new();
    while let Some(response) = stream.message().await? {
        on_response(&response);
        responses.push(response);
    }
    let sent = reader.await.context("input reader failed")??;
    anyhow::ensure!(responses.len() == sent, "the server answered {} of {sent} articles", responses.len());
    Ok(responses)
}

pub async fn ingest(options: &ClientOptions, path: &Path) -> anyhow::Result<()> {
    let mut client = connect(options).await?;
    let progress = if options.json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new_spinner() };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} articles ({per_sec}) {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let started = Instant::now();
    let mut duplicates = 0usize;
    let responses = stream_file(&mut client, path, |response| {
        progress.inc(1);
        if response.duplicate {
            duplicates += 1;
            progress.set_message(format!("{duplicates} duplicates"));
        }
    })
    .await?;
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let errors: Vec<&proto::IngestResponse> = responses.iter().filter(|r| !r.error.is_empty()).collect();
    let clusters: HashSet<&str> =
        responses.iter().filter(|r| r.error.is_empty()).map(|r| r.cluster_id.as_str()).collect();
    let rate = responses.len() as f64 / elapsed.max(1e-9);
    if options.json {
        let summary = json!({
            "articles": responses.len(),
            "duplicates": duplicates,
            "clusters": clusters.len(),
            "errors": errors.iter().map(|r| json!({"id": r.id, "error": r.error})).collect::<Vec<_>>(),
            "seconds": elapsed,
            "articles_per_second": rate,
        });
        println!("{summary}");
        return Ok(());
    }
    println!(
        "{} articles, {duplicates} duplicates, {} clusters, {} errors in {elapsed:.2}s ({rate:.0} articles/s)",
        responses.len(),
        clusters.len(),
        errors.len()
    );
    for error in errors.iter().take(20) {
        println!("  {}: {}", error.id, error.error);
    }
    Ok(())
}

fn matches_json(matches: &[proto::Match]) -> serde_json::Value {
    matches
        .iter()
        .map(|m| json!({"id": m.id, "similarity": m.similarity, "hamming_distance": m.hamming_distance}))
        .collect()
}

fn print_matches(matches: &[proto::Match]) {
    for m in matches {
        println!("  match {}  similarity {:.3}  hamming {}", m.id, m.similarity, m.hamming_distance);
    }
}

pub async fn check(options: &ClientOptions, path: &Path) -> anyhow::Result<()> {
    let mut text = String::new();
    open_input(path)?.read_to_string(&mut text)?;
    let line: ArticleLine =
        serde_json::from_str(&text).with_context(|| format!("{}: not an article", path.display()))?;
    let mut client = connect(options).await?;
    let article = proto_article(line)?;
    let response = client.check(proto::CheckRequest { article: Some(article) }).await?.into_inner();
    if options.json {
        println!(
            "{}",
            json!({"duplicate": response.duplicate, "cluster_id": response.cluster_id,
                   "canonical_id": response.canonical_id, "matches": matches_json(&response.matches)})
        );
        return Ok(());
    }
    let verdict = if response.duplicate { "duplicate" } else { "original" };
    let cluster = if response.cluster_id.is_empty() { "(new cluster)" } else { response.cluster_id.as_str() };
    println!("{verdict}: cluster {cluster}, canonical {}", response.canonical_id);
    print_matches(&response.matches);
    Ok(())
}

fn rfc3339(timestamp: Option<&prost_types::Timestamp>) -> String {
    let Some(micros) = timestamp.and_then(|t| micros_from_timestamp("published_at", t).ok()) else {
        return String::new();
    };
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339()).unwrap_or_default()
}

pub async fn article(options: &ClientOptions, id: &str) -> anyhow::Result<()> {
    let mut client = connect(options).await?;
    let record = client.get_article(proto::GetArticleRequest { id: id.to_string() }).await?.into_inner();
    let published = rfc3339(record.published_at.as_ref());
    if options.json {
        println!(
            "{}",
            json!({"id": record.id, "url": record.url, "source": record.source, "title": record.title,
                   "published_at": published, "cluster_id": record.cluster_id,
                   "canonical_id": record.canonical_id, "simhash": format!("{:016x}", record.simhash),
                   "fingerprint_version": record.fingerprint_version})
        );
        return Ok(());
    }
    let role = if record.canonical_id == record.id { "canonical" } else { "copy" };
    println!("{} ({role})", record.id);
    println!("  title      {}", record.title);
    println!("  url        {}", record.url);
    println!("  source     {}", record.source);
    println!("  published  {published}");
    println!("  cluster    {}", record.cluster_id);
    println!("  canonical  {}", record.canonical_id);
    println!("  simhash    {:016x} (fingerprint v{})", record.simhash, record.fingerprint_version);
    Ok(())
}

pub async fn cluster(options: &ClientOptions, cluster_id: &str) -> anyhow::Result<()> {
    let mut client = connect(options).await?;
    let cluster =
        client.get_cluster(proto::GetClusterRequest { cluster_id: cluster_id.to_string() }).await?.into_inner();
    if options.json {
        let members: Vec<serde_json::Value> = cluster
            .members
            .iter()
            .map(|m| {
                json!({"id": m.id, "url": m.url, "source": m.source,
                            "published_at": rfc3339(m.published_at.as_ref()), "similarity": m.similarity})
            })
            .collect();
        println!(
            "{}",
            json!({"cluster_id": cluster.cluster_id, "canonical_id": cluster.canonical_id, "members": members})
        );
        return Ok(());
    }
    println!("cluster {} ({} members), canonical {}", cluster.cluster_id, cluster.members.len(), cluster.canonical_id);
    for member in &cluster.members {
        println!(
            "  {}  {}  {}  similarity {:.3}",
            rfc3339(member.published_at.as_ref()),
            member.source,
            member.id,
            member.similarity
        );
    }
    Ok(())
}

pub async fn delete(options: &ClientOptions, id: &str) -> anyhow::Result<()> {
    let mut client = connect(options).await?;
    let response = client.delete_article(proto::DeleteArticleRequest { id: id.to_string() }).await?.into_inner();
    if options.json {
        println!("{}", json!({"deleted": response.deleted, "canonical_id": response.canonical_id}));
        return Ok(());
    }
    match (response.deleted, response.canonical_id.is_empty()) {
        (false, _) => println!("{id}: not found, nothing deleted"),
        (true, true) => println!("{id}: deleted (its cluster is now empty)"),
        (true, false) => println!("{id}: deleted; the cluster's canonical is {}", response.canonical_id),
    }
    Ok(())
}
