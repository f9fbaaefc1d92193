//! The real `dedupd` binary killed and stopped: SIGKILL mid-stream on the embedded store, Redis and a
//! Redis Cluster (at seeded random points, a few rounds each), and SIGTERM's graceful shutdown.
//!
//! After each kill, `dedupd verify` runs on the store with no server on it: it may find what a crash
//! leaves (an ingest cut short; on a cluster also a join or merge cut short) and nothing else;
//! `dedupd verify --repair` fixes that, and a second `verify` finds the store consistent. The server
//! restarted on the store then has every article it acknowledged before the kill.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dedupd::grpc::convert::timestamp_from_micros;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, GetArticleRequest, IngestRequest};
use dedupd::synthetic::{SplitMix, Synthetic};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use common::{free_port, namespace, shared_cluster, shared_redis};

const DEDUPD: &str = env!("CARGO_BIN_EXE_dedupd");
/// How long a starting server may take to answer its health check.
const STARTUP: Duration = Duration::from_secs(60);
/// Kill rounds per store.
const ROUNDS: u64 = 3;
/// Articles a round may stream: more than it gets through before its kill.
const PER_ROUND: u64 = 150;
/// What `dedupd verify` may find after a crash: what a store step cut short leaves.
const CRASH_LEFTOVERS: [&str; 6] =
    ["unassigned", "not_a_member", "unclaimed_member", "unfinished_merge", "ghost", "dangling_posting"];

/// Where a test's server keeps its articles.
#[derive(Clone)]
struct StoreSpec {
    url: String,
    namespace: Option<String>,
    data_dir: PathBuf,
}

impl StoreSpec {
    /// `--store`, `--data-dir` and `--namespace` as every subcommand takes them.
    fn args(&self) -> Vec<String> {
        let mut args = vec!["--store".to_string(), self.url.clone(), "--data-dir".to_string()];
        args.push(self.data_dir.display().to_string());
        if let Some(namespace) = &self.namespace {
            args.extend(["--namespace".to_string(), namespace.clone()]);
        }
        args
    }
}

/// A `dedupd serve` process; killed on drop.
struct Dedupd {
    child: Child,
    url: String,
}

impl Dedupd {
    /// Starts the binary on a free port and waits until its health check says `SERVING`.
    async fn start(store: &StoreSpec, extra: &[&str], log: &Path) -> Dedupd {
        let port = free_port();
        let log = std::fs::File::options().create(true).append(true).open(log).expect("open the server log");
        let child = command()
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(store.args())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dedupd serve");
        let mut server = Dedupd { child, url: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        loop {
            if let Ok(channel) = Channel::from_shared(server.url.clone()).unwrap().connect().await {
                let mut health = HealthClient::new(channel);
                let request = HealthCheckRequest { service: String::new() };
                if let Ok(answer) = health.check(request).await
                    && answer.into_inner().status == ServingStatus::Serving as i32
                {
                    return server;
                }
            }
            assert!(server.child.try_wait().unwrap().is_none(), "dedupd serve exited at start");
            assert!(started.elapsed() < STARTUP, "dedupd serve did not serve within {STARTUP:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone()).unwrap().connect().await.expect("connect to dedupd")
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {signal}");
    }

    /// Waits for the process to exit, up to `limit`; its exit status.
    async fn exited(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Dedupd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary, without the caller's `DEDUPD_*` variables.
fn command() -> Command {
    let mut command = Command::new(DEDUPD);
    for (key, _) in std::env::vars() {
        if key.starts_with("DEDUPD_") {
            command.env_remove(key);
        }
    }
    command
}

/// `dedupd verify` with `extra` flags, off the runtime; its JSON report and exit code.
async fn verify(store: &StoreSpec, extra: &[&str]) -> (serde_json::Value, Option<i32>) {
    let mut args = vec!["verify".to_string(), "--json".to_string(), "--in-flight".to_string(), "0s".to_string()];
    args.extend(store.args());
    args.extend(extra.iter().map(ToString::to_string));
    let output: Output =
        tokio::task::spawn_blocking(move || command().args(&args).output().expect("run dedupd verify")).await.unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("verify printed no report ({e}): {}", String::from_utf8_lossy(&output.stderr));
    });
    (report, output.status.code())
}

fn problem_kinds(report: &serde_json::Value) -> Vec<String> {
    report["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap().to_string()).collect()
}

fn request(article: &dedupd::domain::Article) -> IngestRequest {
    IngestRequest {
        article: Some(proto::Article {
            id: article.id.clone(),
            url: article.url.clone(),
            source: article.source.clone(),
            title: article.title.clone(),
            body: article.body.clone(),
            published_at: article.published_at.map(timestamp_from_micros),
        }),
    }
}

/// Streams `articles` through `IngestStream`, sending all of them as fast as the server pulls; calls
/// `after_ack` with each acknowledged id. Returns the acknowledged ids, in order, and whether the
/// stream ended with every article answered.
async fn stream(
    channel: Channel,
    articles: Vec<dedupd::domain::Article>,
    mut after_ack: impl FnMut(usize),
) -> (Vec<String>, bool) {
    let (sender, receiver) = mpsc::channel::<IngestRequest>(8);
    let total = articles.len();
    tokio::spawn(async move {
        for article in &articles {
            if sender.send(request(article)).await.is_err() {
                break;
            }
        }
    });
    let mut client = DeduplicatorClient::new(channel);
    let mut acked = Vec::new();
    let Ok(responses) = client.ingest_stream(ReceiverStream::new(receiver)).await else { return (acked, false) };
    let mut responses = responses.into_inner();
    let mut answered = 0;
    while let Ok(Some(response)) = responses.message().await {
        answered += 1;
        assert_eq!(response.error, "", "article {} refused", response.id);
        acked.push(response.id);
        after_ack(acked.len());
    }
    (acked, answered == total)
}

/// Every acknowledged article is stored, in a cluster.
async fn assert_stored(server: &Dedupd, acked: &[String]) {
    let mut client = DeduplicatorClient::new(server.channel().await);
    for id in acked {
        let stored = client.get_article(GetArticleRequest { id: id.clone() }).await;
        let record = stored.unwrap_or_else(|status| panic!("acknowledged {id} is lost: {status:?}")).into_inner();
        assert!(!record.cluster_id.is_empty(), "{id} has no cluster");
    }
}

/// Rounds of: start the server, stream, SIGKILL it after a seeded number of acknowledgements (and a
/// seeded pause), check and repair the store with the server down, then check that everything
/// acknowledged so far survived, on a restarted server.
async fn kill_rounds(store: StoreSpec, seed: u64) {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("dedupd.log");
    let articles = Synthetic::new(seed);
    let mut rng = SplitMix(seed);
    let mut acked_before: Vec<String> = Vec::new();
    let mut leftovers: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for round in 0..ROUNDS {
        let mut server = Dedupd::start(&store, &[], &log).await;
        let batch: Vec<_> = (round * PER_ROUND..(round + 1) * PER_ROUND).map(|i| articles.article(i)).collect();
        let kill_after = 5 + rng.below(60) as usize;
        let pause = Duration::from_micros(rng.below(5_000));
        let pid = server.child.id();
        let (acked, finished) = stream(server.channel().await, batch, |acked| {
            if acked == kill_after {
                std::thread::sleep(pause);
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        })
        .await;
        assert!(!finished, "round {round}: killed mid-stream (after {kill_after} of {PER_ROUND})");
        assert!(acked.len() >= kill_after, "round {round}: {} acknowledged before the kill", acked.len());
        assert!(server.exited(Duration::from_secs(10)).await.is_some(), "SIGKILL ends the process");

        let (checked, code) = verify(&store, &[]).await;
        let found = problem_kinds(&checked["left"]);
        for kind in &found {
            assert!(CRASH_LEFTOVERS.contains(&kind.as_str()), "round {round}: {kind} is no crash leftover: {checked}");
        }
        assert_eq!(code, Some(i32::from(!found.is_empty())), "exit code by what is found: {checked}");
        if !found.is_empty() {
            let (repaired, code) = verify(&store, &["--repair"]).await;
            assert_eq!(code, Some(0), "round {round}: repair leaves nothing: {repaired}");
            for kind in found {
                *leftovers.entry(kind).or_default() += 1;
            }
        }
        let (clean, code) = verify(&store, &[]).await;
        assert_eq!((code, problem_kinds(&clean["left"]).len()), (Some(0), 0), "round {round}: consistent: {clean}");

        let restarted = Dedupd::start(&store, &[], &log).await;
        acked_before.extend(acked);
        assert_stored(&restarted, &acked_before).await;
    }
    eprintln!("{} after {ROUNDS} kills, repaired: {leftovers:?}", store.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreSpec { url: "embedded://".into(), namespace: None, data_dir: dir.path().join("data") };
    kill_rounds(store, 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_on_redis() {
    let dir = tempfile::tempdir().unwrap();
    let url = shared_redis().url();
    let store = StoreSpec { url, namespace: Some(namespace("sigkill")), data_dir: dir.path().to_path_buf() };
    kill_rounds(store, 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_on_a_redis_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let url = tokio::task::spawn_blocking(|| shared_cluster().url()).await.unwrap();
    let store = StoreSpec { url, namespace: Some(namespace("sigkill")), data_dir: dir.path().to_path_buf() };
    kill_rounds(store, 13).await;
}

// ---------------------------------------------------------------------------------------------------
// SIGTERM

/// Opens a health `Watch` on the service and returns it once it reports `SERVING`.
async fn watch_health(channel: Channel) -> tonic::Streaming<HealthCheckResponse> {
    let mut health = HealthClient::new(channel);
    let request = HealthCheckRequest { service: dedupd::cli::operate::HEALTH_SERVICE.to_string() };
    let mut watch = health.watch(request).await.expect("watch health").into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    watch
}

/// SIGTERM: health turns `NOT_SERVING` first, the stream in flight goes on being served (articles
/// sent after the signal are acknowledged too) until its client ends it, then the process exits 0;
/// everything acknowledged is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_health_first_and_lets_calls_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreSpec { url: "embedded://".into(), namespace: None, data_dir: dir.path().join("data") };
    let log = dir.path().join("dedupd.log");
    let mut server = Dedupd::start(&store, &["--shutdown-grace", "60s"], &log).await;
    let channel = server.channel().await;
    let mut watch = watch_health(channel.clone()).await;

    let articles = Synthetic::new(21);
    let (sender, receiver) = mpsc::channel::<IngestRequest>(1);
    let mut client = DeduplicatorClient::new(channel.clone());
    let mut responses = client.ingest_stream(ReceiverStream::new(receiver)).await.unwrap().into_inner();
    let mut acked = Vec::new();
    // a slow client: one article at a time, each answered before the next
    for index in 0..10 {
        if index == 5 {
            server.signal("-TERM");
            let next = watch.message().await.expect("the watch stays open").expect("a status change");
            assert_eq!(next.status, ServingStatus::NotServing as i32, "health turns first");
            assert!(server.child.try_wait().unwrap().is_none(), "still serving the stream in flight");
        }
        sender.send(request(&articles.article(index))).await.unwrap();
        let response = responses.message().await.expect("answered after SIGTERM too").expect("an answer");
        assert_eq!(response.error, "");
        acked.push(response.id);
    }
    drop(sender);
    assert!(responses.message().await.unwrap().is_none(), "the stream ends when its client ends it");
    drop((watch, responses, client, channel));
    let status = server.exited(Duration::from_secs(60)).await.expect("exits once its calls are done");
    assert!(status.success(), "a clean exit: {status}");
    assert!(std::fs::read_to_string(&log).unwrap().contains("shutting down: draining requests in flight"));

    let restarted = Dedupd::start(&store, &[], &log).await;
    assert_stored(&restarted, &acked).await;
}

/// A call that never ends does not keep the process alive: past `--shutdown-grace` it is dropped and
/// the process exits 0; what it had acknowledged is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_grace_whatever_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreSpec { url: "embedded://".into(), namespace: None, data_dir: dir.path().join("data") };
    let log = dir.path().join("dedupd.log");
    let mut server = Dedupd::start(&store, &["--shutdown-grace", "2s"], &log).await;
    let channel = server.channel().await;
    let _watch = watch_health(channel.clone()).await;
    let articles = Synthetic::new(22);
    let (sender, receiver) = mpsc::channel::<IngestRequest>(1);
    let mut client = DeduplicatorClient::new(channel.clone());
    let mut responses = client.ingest_stream(ReceiverStream::new(receiver)).await.unwrap().into_inner();
    let mut acked = Vec::new();
    for index in 0..3 {
        sender.send(request(&articles.article(index))).await.unwrap();
        acked.push(responses.message().await.unwrap().unwrap().id);
    }
    // the stream stays open (its sender is kept), and so does the health watch
    server.signal("-TERM");
    let status = server.exited(Duration::from_secs(30)).await.expect("exits though calls are still open");
    assert!(status.success(), "a clean exit: {status}");
    assert!(std::fs::read_to_string(&log).unwrap().contains("grace period over"));
    drop((sender, responses));

    let restarted = Dedupd::start(&store, &[], &log).await;
    assert_stored(&restarted, &acked).await;
}
