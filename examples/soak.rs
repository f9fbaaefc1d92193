//! The load of `benches/soak.sh`: `soak SERVER_URL MINUTES SERVER_PID FAULT_FILE`.
//!
//! Four workers loop for MINUTES over a mixed load: ingest (a third are spun copies, so clusters
//! grow and merge), check, get, and now and then a delete. Articles are published "now", so the
//! server's retention sweeps them a few minutes later. Every error is counted under the fault the
//! script wrote into `FAULT_FILE` at that moment (`pass` when none is on). A reader re-reads articles
//! acknowledged a while ago (younger than half the retention, never deleted): one that is gone was
//! acknowledged and then lost. Each minute prints a line: calls, errors by fault, lost, and the
//! server's RSS.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, CheckRequest, DeleteArticleRequest, GetArticleRequest, IngestRequest};
use dedupd::synthetic::Synthetic;
use tonic::transport::Channel;

/// Every call gets this deadline: a hung call is an error, not a stuck worker.
const DEADLINE: Duration = Duration::from_secs(10);
/// Articles are re-read while younger than this (the script runs the server with a 4-minute
/// retention): older ones may have been swept.
const READ_BACK_WITHIN: Duration = Duration::from_secs(120);
/// Pause between one worker's calls: about 40 calls a second from four workers, on a shared machine.
const PACE: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Minute {
    calls: u64,
    errors: BTreeMap<String, u64>,
    lost: u64,
}

#[derive(Default)]
struct State {
    minutes: BTreeMap<u64, Minute>,
    /// Acknowledged and not deleted: id → when acknowledged.
    acknowledged: BTreeMap<String, Instant>,
    lost_ids: Vec<String>,
}

fn fault(file: &str) -> String {
    std::fs::read_to_string(file).map(|text| text.trim().to_string()).unwrap_or_else(|_| "pass".into())
}

fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

async fn worker(
    worker: u64,
    mut client: DeduplicatorClient<Channel>,
    state: Arc<Mutex<State>>,
    started: Instant,
    until: Instant,
    fault_file: String,
) {
    let articles = Synthetic::new(worker);
    let mut index = 0;
    while Instant::now() < until {
        let minute = started.elapsed().as_secs() / 60;
        let mut article = articles.article(index);
        article.id = format!("w{worker}-{index}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let wire = proto::Article {
            id: article.id.clone(),
            url: article.url,
            source: article.source,
            title: article.title,
            body: article.body,
            published_at: Some(prost_types::Timestamp { seconds: now.as_secs() as i64, nanos: 0 }),
        };
        let (outcome, id) = match index % 10 {
            // a check of the next article, a read of an earlier one, a delete of an earlier one
            3 => (client.check(request(CheckRequest { article: Some(wire) })).await.map(|_| ()), None),
            6 => {
                let earlier = format!("w{worker}-{}", index.saturating_sub(5));
                let read = client.get_article(request(GetArticleRequest { id: earlier })).await;
                (read.map(|_| ()).or_else(|s| if s.code() == tonic::Code::NotFound { Ok(()) } else { Err(s) }), None)
            }
            9 => {
                let victim = format!("w{worker}-{}", index.saturating_sub(8));
                state.lock().expect("state").acknowledged.remove(&victim);
                (client.delete_article(request(DeleteArticleRequest { id: victim })).await.map(|_| ()), None)
            }
            _ => (client.ingest(request(IngestRequest { article: Some(wire) })).await.map(|_| ()), Some(article.id)),
        };
        {
            let mut state = state.lock().expect("state");
            let at = state.minutes.entry(minute).or_default();
            at.calls += 1;
            match (outcome, id) {
                (Ok(()), Some(id)) => {
                    state.acknowledged.insert(id, Instant::now());
                }
                (Ok(()), None) => {}
                (Err(status), _) => {
                    *at.errors.entry(format!("{}:{:?}", fault(&fault_file), status.code())).or_default() += 1;
                }
            }
        }
        index += 1;
        tokio::time::sleep(PACE).await;
    }
}

/// Re-reads acknowledged articles between 10 s and `READ_BACK_WITHIN` old, outside faults.
async fn reader(
    mut client: DeduplicatorClient<Channel>,
    state: Arc<Mutex<State>>,
    started: Instant,
    until: Instant,
    fault_file: String,
) {
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if fault(&fault_file) != "pass" {
            continue;
        }
        let due: Vec<String> = {
            let state = state.lock().expect("state");
            state
                .acknowledged
                .iter()
                .filter(|(_, at)| (Duration::from_secs(10)..READ_BACK_WITHIN).contains(&at.elapsed()))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in due {
            let read = client.get_article(request(GetArticleRequest { id: id.clone() })).await;
            let gone = matches!(&read, Err(status) if status.code() == tonic::Code::NotFound);
            let mut state = state.lock().expect("state");
            // deleted meanwhile by its worker: not lost
            if gone && state.acknowledged.contains_key(&id) {
                let minute = started.elapsed().as_secs() / 60;
                state.minutes.entry(minute).or_default().lost += 1;
                state.lost_ids.push(id.clone());
                state.acknowledged.remove(&id);
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, minutes, pid, fault_file] = &args[..] else {
        eprintln!("usage: soak SERVER_URL MINUTES SERVER_PID FAULT_FILE");
        std::process::exit(2);
    };
    let minutes: u64 = minutes.parse().expect("MINUTES is a number");
    let client = DeduplicatorClient::connect(server.clone()).await.expect("connect to the server");
    let state = Arc::new(Mutex::new(State::default()));
    let started = Instant::now();
    let until = started + Duration::from_secs(minutes * 60);
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..4 {
        tasks.spawn(worker(id, client.clone(), state.clone(), started, until, fault_file.clone()));
    }
    tasks.spawn(reader(client.clone(), state.clone(), started, until, fault_file.clone()));
    println!("| minute | calls | errors (fault at the time: code × count) | lost | server RSS (MiB) |");
    println!("|---|---|---|---|---|");
    let mut reported = 0;
    while Instant::now() < until + Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let minute = started.elapsed().as_secs() / 60;
        if minute <= reported && Instant::now() < until {
            continue;
        }
        let state = state.lock().expect("state");
        if let Some(done) = state.minutes.get(&reported) {
            let errors: Vec<String> = done.errors.iter().map(|(kind, n)| format!("{kind} × {n}")).collect();
            let errors = if errors.is_empty() { "none".to_string() } else { errors.join(", ") };
            println!(
                "| {reported} | {} | {errors} | {} | {:.1} |",
                done.calls,
                done.lost,
                rss_kib(pid) as f64 / 1024.0
            );
        }
        reported = minute;
        if Instant::now() >= until {
            break;
        }
    }
    while tasks.join_next().await.is_some() {}
    let state = state.lock().expect("state");
    let calls: u64 = state.minutes.values().map(|m| m.calls).sum();
    let outside: u64 = state
        .minutes
        .values()
        .flat_map(|m| m.errors.iter())
        .filter(|(kind, _)| kind.starts_with("pass:"))
        .map(|(_, n)| n)
        .sum();
    println!();
    println!("calls: {calls}; errors outside faults: {outside}; acknowledged then lost: {}", state.lost_ids.len());
    for id in state.lost_ids.iter().take(20) {
        println!("lost: {id}");
    }
}
