//! `dedupd bench`: a load generator that drives a running server over gRPC and reports throughput,
//! latency percentiles (an HDR histogram) and errors by gRPC code.
//!
//! How it measures, and why:
//!
//! - **Every request is built before the clock starts**, from a JSONL file or from [`Synthetic`]
//!   articles, so the run measures the server and not JSON parsing or text generation: on a 2-core
//!   machine the client shares the CPU with the server, and must cost as little as possible.
//! - **Closed loop** (no `--rate`): `--concurrency` clients, each on its own connection, send as fast as
//!   the server answers (a unary client waits for each answer; a stream client sends as far ahead as
//!   HTTP/2 flow control lets it). The figure is the server's capacity; latencies include queueing in
//!   the clients' own streams.
//! - **Open loop** (`--rate R`): article *i* is due at `start + i / R` whatever happened to the ones
//!   before it, and its latency counts from that *intended* time, so a stall shows up in the latency of
//!   everything it delayed (no coordinated omission). A dispatcher thread releases the requests: a Tokio
//!   timer has a 1 ms resolution, which would blur the very latencies being measured. How late the
//!   dispatcher itself was is reported as `send lag`, so a client that cannot keep up is visible.
//! - **Ids are unique per run**: every id is prefixed with `--id-prefix`, by default `bench-<unix
//!   ms>-`, so a second run against the same store ingests new articles instead of replaying stored
//!   ones (an idempotent replay is cheaper). `--id-prefix ''` keeps the ids as they are, to measure
//!   replays on purpose.
//! - For `IngestStream`, an article's latency runs from the moment its request is handed to the
//!   transport (closed loop) or was due (open loop) to the moment its response arrives; responses come
//!   in request order, so one queue of send times per stream pairs them.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::jsonl::{self, ArticleLine};
use crate::proto;
use crate::synthetic::Synthetic;

use super::ClientOptions;
use super::client::{connect, proto_article, proto_from_domain};

/// Which RPC carries the articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One `Ingest` call per article.
    Unary,
    /// One `IngestStream` per client, every article of the client on it.
    Stream,
}

/// Flags of `dedupd bench`: what load to send, how fast, and to which server.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// `unary` (one `Ingest` per article) or `stream` (`IngestStream`).
    #[arg(long, value_enum, default_value = "stream")]
    pub mode: Mode,
    /// Clients, each on its own connection (one stream each in stream mode).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Articles from a JSONL file (the `dedupd ingest` format).
    #[arg(long, conflicts_with = "synthetic", required_unless_present = "synthetic")]
    pub file: Option<PathBuf>,
    /// N synthetic articles (deterministic for a --seed, about a third of them copies).
    #[arg(long)]
    pub synthetic: Option<usize>,
    /// Seed of the synthetic articles.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Index of the first synthetic article: runs that go on from where the last one stopped fill a
    /// store with one stream of articles, in batches that fit in memory.
    #[arg(long)]
    pub start: Option<u64>,
    /// Offered rate in articles per second (open loop); flat out when not set.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Articles to send: by default every article of the input once. More than a file holds repeats it
    /// under new ids (the repeats are then exact copies of the first pass).
    #[arg(long)]
    pub count: Option<usize>,
    /// Stop sending after this long (e.g. `30s`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Prefix of every id; default `bench-<unix ms>-`, new for each run. `''` keeps the input's ids.
    #[arg(long)]
    pub id_prefix: Option<String>,
    /// Which server to load, and whether to print JSON.
    #[command(flatten)]
    pub client: ClientOptions,
}

/// Most articles a run builds up front (each is held in memory as a request before the clock starts).
const MAX_ARTICLES: usize = 20_000_000;

/// Builds every request, sends them at the asked rate from `--concurrency` clients and prints
/// throughput, latency percentiles and errors by code.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    if let Some(rate) = args.rate {
        anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be a positive number of articles per second");
    }
    let prefix = args.id_prefix.clone().unwrap_or_else(|| format!("bench-{}-", crate::domain::now_micros() / 1000));
    let requests = build_requests(&args, &prefix)?;
    anyhow::ensure!(!requests.is_empty(), "no articles to send");
    let mut clients = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        clients.push(connect(&args.client).await?);
    }
    let plan = Plan { mode: args.mode, rate: args.rate, duration: args.duration };
    let total = requests.len();
    let meta_bytes = requests.iter().filter_map(|r| r.article.as_ref()).map(metadata_bytes).sum::<usize>();
    let (report, elapsed) = drive(plan, clients, requests).await?;
    print(&args, &report, total, meta_bytes, elapsed);
    Ok(())
}

/// The articles of the run, as requests, in sending order.
fn build_requests(args: &BenchArgs, prefix: &str) -> anyhow::Result<Vec<proto::IngestRequest>> {
    let wanted = |available: usize| {
        let by_rate = match (args.rate, args.duration) {
            (Some(rate), Some(duration)) => (rate * duration.as_secs_f64()).ceil() as usize,
            _ => usize::MAX,
        };
        args.count.unwrap_or(available).min(by_rate).min(MAX_ARTICLES)
    };
    if let Some(n) = args.synthetic {
        let synthetic = Synthetic::new(args.seed);
        let count = wanted(n);
        let start = args.start.unwrap_or(0);
        return Ok((start..start + count as u64)
            .map(|index| {
                let mut article = synthetic.article(index);
                article.id = format!("{prefix}{}", article.id);
                proto::IngestRequest { article: Some(proto_from_domain(article)) }
            })
            .collect());
    }
    anyhow::ensure!(args.start.is_none(), "--start goes with --synthetic");
    let path = args.file.as_ref().context("give --file or --synthetic")?;
    let lines: Vec<ArticleLine> = jsonl::read(path)?;
    let articles = lines.into_iter().map(proto_article).collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!articles.is_empty(), "{} holds no articles", path.display());
    let count = wanted(articles.len());
    Ok((0..count)
        .map(|index| {
            let mut article = articles[index % articles.len()].clone();
            let pass = index / articles.len();
            article.id =
                if pass == 0 { format!("{prefix}{}", article.id) } else { format!("{prefix}{pass}.{}", article.id) };
            proto::IngestRequest { article: Some(article) }
        })
        .collect())
}

/// Bytes of an article's id, url, source and title: what every store keeps as given, which a memory
/// budget per article leaves out.
fn metadata_bytes(article: &proto::Article) -> usize {
    article.id.len() + article.url.len() + article.source.len() + article.title.len()
}

/// How a run sends its requests.
#[derive(Debug, Clone, Copy)]
struct Plan {
    mode: Mode,
    rate: Option<f64>,
    duration: Option<Duration>,
}

/// What the clients saw. Each client records into its own, merged at the end.
struct Report {
    /// Microseconds from send (or intended send) to answer, of every answered article.
    latency: Histogram<u64>,
    /// Open loop: microseconds by which the dispatcher released a request after it was due.
    send_lag: Histogram<u64>,
    sent: u64,
    ok: u64,
    duplicates: u64,
    /// By gRPC code name (`Unavailable`, …); `Unanswered` counts articles of a stream that ended early.
    errors: BTreeMap<String, u64>,
}

impl Report {
    fn new() -> Self {
        // 1 µs to 10 min at 3 significant digits; larger values are clamped, never refused
        let histogram = || Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid");
        Report { latency: histogram(), send_lag: histogram(), sent: 0, ok: 0, duplicates: 0, errors: BTreeMap::new() }
    }

    fn answered(&mut self, since: Instant, response: &proto::IngestResponse) {
        self.latency.saturating_record(micros_since(since));
        if response.error.is_empty() {
            self.ok += 1;
            self.duplicates += u64::from(response.duplicate);
        } else {
            // `Code: message`, see grpc::status::stream_error
            let code = response.error.split(':').next().unwrap_or("Unknown");
            self.error(code);
        }
    }

    fn failed(&mut self, since: Instant, status: &tonic::Status) {
        self.latency.saturating_record(micros_since(since));
        self.error(&format!("{:?}", status.code()));
    }

    fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_string()).or_default() += 1;
    }

    fn merge(&mut self, other: Report) {
        // both histograms have the same bounds, so adding cannot fail; keep going if it somehow did
        let _ = self.latency.add(&other.latency);
        let _ = self.send_lag.add(&other.send_lag);
        self.sent += other.sent;
        self.ok += other.ok;
        self.duplicates += other.duplicates;
        for (code, count) in other.errors {
            *self.errors.entry(code).or_default() += count;
        }
    }
}

fn micros_since(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Splits the requests round-robin over the clients: client `c` sends articles `c`, `c + C`, ….
fn lanes(requests: Vec<proto::IngestRequest>, clients: usize) -> Vec<Vec<proto::IngestRequest>> {
    let mut lanes: Vec<Vec<proto::IngestRequest>> = (0..clients).map(|_| Vec::new()).collect();
    for (index, request) in requests.into_iter().enumerate() {
        lanes[index % clients].push(request);
    }
    lanes
}

use super::client::Client;

/// Runs the plan; returns the merged report and the time from the first send to the last answer.
async fn drive(
    plan: Plan,
    clients: Vec<Client>,
    requests: Vec<proto::IngestRequest>,
) -> anyhow::Result<(Report, Duration)> {
    let concurrency = clients.len();
    let started = Instant::now();
    let deadline = plan.duration.map(|duration| started + duration);
    let mut tasks = tokio::task::JoinSet::new();
    match plan.rate {
        None => {
            for (client, lane) in clients.into_iter().zip(lanes(requests, concurrency)) {
                match plan.mode {
                    Mode::Unary => tasks.spawn(unary_closed(client, lane, deadline)),
                    Mode::Stream => tasks.spawn(stream_closed(client, lane, deadline)),
                };
            }
        }
        Some(rate) => {
            let mut queues = Vec::with_capacity(concurrency);
            for client in clients {
                let (queue, due) = mpsc::unbounded_channel::<Due>();
                queues.push(queue);
                match plan.mode {
                    Mode::Unary => tasks.spawn(unary_open(client, due)),
                    Mode::Stream => tasks.spawn(stream_open(client, due)),
                };
            }
            // a plain thread: it sleeps with the OS timer's precision, and never waits on the runtime
            std::thread::Builder::new()
                .name("dedupd-bench-dispatch".into())
                .spawn(move || dispatch(requests, queues, rate, started))
                .context("cannot start the dispatcher thread")?;
        }
    }
    let mut report = Report::new();
    while let Some(joined) = tasks.join_next().await {
        report.merge(joined.context("a client task failed")?);
    }
    Ok((report, started.elapsed()))
}

/// A request released by the dispatcher, with the time it was due.
struct Due {
    at: Instant,
    request: proto::IngestRequest,
    /// How late the dispatcher released it, in µs.
    lag: u64,
}

/// Releases request `i` at `started + i / rate` to client `i mod C`. Dropping the queues at the end
/// tells the clients that nothing more comes.
fn dispatch(requests: Vec<proto::IngestRequest>, queues: Vec<mpsc::UnboundedSender<Due>>, rate: f64, started: Instant) {
    for (index, request) in requests.into_iter().enumerate() {
        let at = started + Duration::from_secs_f64(index as f64 / rate);
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        let lag = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
        // an error means that client has stopped (its stream failed); the others go on
        let _ = queues[index % queues.len()].send(Due { at, request, lag });
    }
}

async fn unary_closed(mut client: Client, lane: Vec<proto::IngestRequest>, deadline: Option<Instant>) -> Report {
    let mut report = Report::new();
    for request in lane {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        report.sent += 1;
        let sent = Instant::now();
        match client.ingest(request).await {
            Ok(response) => report.answered(sent, response.get_ref()),
            Err(status) => report.failed(sent, &status),
        }
    }
    report
}

/// Open-loop unary: every request is its own task, so a slow answer never delays the next send.
async fn unary_open(client: Client, mut due: mpsc::UnboundedReceiver<Due>) -> Report {
    let shared = Arc::new(Mutex::new(Report::new()));
    let mut calls = tokio::task::JoinSet::new();
    while let Some(Due { at, request, lag }) = due.recv().await {
        let mut client = client.clone();
        let shared = shared.clone();
        calls.spawn(async move {
            let outcome = client.ingest(request).await;
            // a poisoned lock only means another call panicked while recording; the counts still hold
            let mut report = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            report.sent += 1;
            report.send_lag.saturating_record(lag);
            match outcome {
                Ok(response) => report.answered(at, response.get_ref()),
                Err(status) => report.failed(at, &status),
            }
        });
        // reap finished calls as we go, so a long run does not keep every handle
        while calls.try_join_next().is_some() {}
    }
    while calls.join_next().await.is_some() {}
    let mut report = Report::new();
    report.merge(std::mem::replace(
        &mut *shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        Report::new(),
    ));
    report
}

async fn stream_closed(client: Client, lane: Vec<proto::IngestRequest>, deadline: Option<Instant>) -> Report {
    let (times, sent_at) = mpsc::unbounded_channel::<Instant>();
    let requests = futures::stream::iter(lane)
        .take_while(move |_| std::future::ready(deadline.is_none_or(|deadline| Instant::now() < deadline)))
        // runs when the transport takes the request, which is when it is sent
        .map(move |request| {
            let _ = times.send(Instant::now());
            request
        });
    stream_answers(client, requests, sent_at).await
}

async fn stream_open(client: Client, due: mpsc::UnboundedReceiver<Due>) -> Report {
    let (times, sent_at) = mpsc::unbounded_channel::<Instant>();
    let lags = Arc::new(Mutex::new(Vec::new()));
    let recorded = lags.clone();
    let requests = UnboundedReceiverStream::new(due).map(move |Due { at, request, lag }| {
        let _ = times.send(at);
        recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(lag);
        request
    });
    let mut report = stream_answers(client, requests, sent_at).await;
    for lag in lags.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
        report.send_lag.saturating_record(lag);
    }
    report
}

/// Sends `requests` on one `IngestStream` and pairs each response with its send time from `sent_at`.
async fn stream_answers(
    mut client: Client,
    requests: impl futures::Stream<Item = proto::IngestRequest> + Send + 'static,
    mut sent_at: mpsc::UnboundedReceiver<Instant>,
) -> Report {
    let mut report = Report::new();
    let mut pending: VecDeque<Instant> = VecDeque::new();
    let mut responses = match client.ingest_stream(requests).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            report.failed(Instant::now(), &status);
            return report;
        }
    };
    loop {
        match responses.message().await {
            Ok(Some(response)) => {
                while let Ok(at) = sent_at.try_recv() {
                    pending.push_back(at);
                }
                report.sent += 1;
                match pending.pop_front() {
                    Some(at) => report.answered(at, &response),
                    // cannot happen: a response follows its request; count it rather than guess a time
                    None => report.error("UnpairedResponse"),
                }
            }
            Ok(None) => break,
            Err(status) => {
                report.failed(pending.pop_front().unwrap_or_else(Instant::now), &status);
                break;
            }
        }
    }
    // whatever was sent and never answered (a stream that ended with an error)
    while sent_at.try_recv().is_ok() {
        pending.push_back(Instant::now());
    }
    let unanswered = pending.len() as u64;
    if unanswered > 0 {
        report.sent += unanswered;
        *report.errors.entry("Unanswered".into()).or_default() += unanswered;
    }
    report
}

fn percentiles(histogram: &Histogram<u64>) -> serde_json::Value {
    json!({
        "p50": histogram.value_at_quantile(0.50),
        "p90": histogram.value_at_quantile(0.90),
        "p99": histogram.value_at_quantile(0.99),
        "max": histogram.max(),
    })
}

fn millis(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

fn print(args: &BenchArgs, report: &Report, built: usize, meta_bytes: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let rate = report.ok as f64 / seconds;
    let mode = match args.mode {
        Mode::Unary => "unary",
        Mode::Stream => "stream",
    };
    let errors: u64 = report.errors.values().sum();
    if args.client.json {
        let mut summary = json!({
            "mode": mode,
            "concurrency": args.concurrency,
            "offered_rate": args.rate,
            "built": built,
            "metadata_bytes": meta_bytes,
            "sent": report.sent,
            "ok": report.ok,
            "duplicates": report.duplicates,
            "errors": report.errors,
            "seconds": seconds,
            "articles_per_second": rate,
            "latency_us": percentiles(&report.latency),
        });
        if args.rate.is_some() {
            summary["send_lag_us"] = percentiles(&report.send_lag);
        }
        println!("{summary}");
        return;
    }
    let offered = args.rate.map(|r| format!(" at {r:.0}/s offered")).unwrap_or_else(|| " flat out".into());
    println!(
        "{mode}, {} clients{offered}: {} sent, {} ok ({} duplicates), {errors} errors in {seconds:.2}s: {rate:.0} articles/s",
        args.concurrency, report.sent, report.ok, report.duplicates
    );
    let latency = &report.latency;
    println!(
        "latency p50 {}  p90 {}  p99 {}  max {}",
        millis(latency.value_at_quantile(0.50)),
        millis(latency.value_at_quantile(0.90)),
        millis(latency.value_at_quantile(0.99)),
        millis(latency.max())
    );
    if args.rate.is_some() {
        let lag = &report.send_lag;
        println!(
            "send lag p50 {}  p99 {}  max {} (how late the client released requests)",
            millis(lag.value_at_quantile(0.50)),
            millis(lag.value_at_quantile(0.99)),
            millis(lag.max())
        );
    }
    for (code, count) in &report.errors {
        println!("  {code}: {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_split_round_robin() {
        let lanes = lanes(
            (0..7)
                .map(|i| proto::IngestRequest {
                    article: Some(proto::Article { id: i.to_string(), ..Default::default() }),
                })
                .collect(),
            3,
        );
        let ids: Vec<Vec<String>> = lanes
            .iter()
            .map(|lane| lane.iter().filter_map(|r| r.article.as_ref().map(|a| a.id.clone())).collect())
            .collect();
        assert_eq!(ids, vec![vec!["0", "3", "6"], vec!["1", "4"], vec!["2", "5"]]);
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn start_continues_the_synthetic_stream() {
        use clap::Parser;
        let cli = Cli::try_parse_from(["bench", "--synthetic", "3", "--start", "5"]).expect("parses");
        let requests = build_requests(&cli.bench, "p-").expect("builds");
        let articles: Vec<proto::Article> = requests.into_iter().filter_map(|r| r.article).collect();
        let synthetic = Synthetic::new(1);
        let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["p-s1-5", "p-s1-6", "p-s1-7"]);
        assert_eq!(articles[0].body, synthetic.article(5).body);
        let expected: usize = (5..8)
            .map(|i| {
                let a = synthetic.article(i);
                a.id.len() + 2 + a.url.len() + a.source.len() + a.title.len()
            })
            .sum();
        assert_eq!(articles.iter().map(metadata_bytes).sum::<usize>(), expected);
        let file = Cli::try_parse_from(["bench", "--file", "a.jsonl", "--start", "5"]).expect("parses");
        let refused = build_requests(&file.bench, "p-").expect_err("--start needs --synthetic");
        assert!(refused.to_string().contains("--start"), "{refused}");
    }
}
