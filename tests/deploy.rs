//! The monitoring in `deploy/` against what a running server exports: two real `dedupd serve`
//! processes (the embedded store, and Redis, which the test then stops so that store errors show) are
//! driven through gRPC and their `/metrics` scraped. Every query of the alert rules and the dashboard
//! must parse as PromQL, every metric they name must be exported, every exported metric must be on the
//! dashboard, and histograms must be histograms (with buckets), not summaries.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{Article, CheckRequest, DeleteArticleRequest, GetArticleRequest, IngestRequest};
use dedupd::telemetry::{EMBEDDED_METRICS, METRICS, MetricKind};
use tonic::transport::Channel;

use common::{RedisServer, free_port};
use dedupd::synthetic::{spun, text as article_text};

const DEDUPD: &str = env!("CARGO_BIN_EXE_dedupd");

/// A `dedupd serve` child process; killed on drop.
struct Served {
    child: Child,
    grpc: String,
    metrics_port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dedupd serve` on free ports with `args`, and waits until it accepts gRPC connections.
async fn serve(args: &[&str]) -> (Served, DeduplicatorClient<Channel>) {
    let (grpc_port, metrics_port) = (free_port(), free_port());
    let mut command = Command::new(DEDUPD);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{grpc_port}")])
        .args(["--http-listen", &format!("127.0.0.1:{metrics_port}")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("DEDUPD_") {
            command.env_remove(key);
        }
    }
    let served = Served {
        child: command.spawn().expect("start dedupd serve"),
        grpc: format!("http://127.0.0.1:{grpc_port}"),
        metrics_port,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(client) = DeduplicatorClient::connect(served.grpc.clone()).await {
            return (served, client);
        }
        assert!(Instant::now() < deadline, "dedupd serve did not start on {}", served.grpc);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn article(id: &str, body: String) -> Article {
    Article {
        id: id.into(),
        url: format!("https://example.com/{id}"),
        source: "example.com".into(),
        title: id.into(),
        body,
        published_at: None,
    }
}

/// Calls every method once (and ingests a copy), so that every labelled metric has a series.
async fn exercise(client: &mut DeduplicatorClient<Channel>) {
    let text = article_text(7, 400);
    client.ingest(IngestRequest { article: Some(article("original", text.clone())) }).await.expect("ingest");
    let copy = article("copy", spun(&text, 5, 1));
    let response = client.ingest(IngestRequest { article: Some(copy.clone()) }).await.expect("ingest a copy");
    assert!(response.into_inner().duplicate, "the copy is found");
    client.check(CheckRequest { article: Some(copy) }).await.expect("check");
    client.get_article(GetArticleRequest { id: "original".into() }).await.expect("get article");
    client.delete_article(DeleteArticleRequest { id: "copy".into() }).await.expect("delete");
    let missing = client.get_article(GetArticleRequest { id: "missing".into() }).await;
    assert_eq!(missing.map(|_| ()).map_err(|status| status.code()), Err(tonic::Code::NotFound));
}

/// `GET /metrics` over plain HTTP: the body.
async fn scrape(port: u16) -> String {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        assert!(response.starts_with("HTTP/1.1 200"), "scrape failed: {response}");
        response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
    })
    .await
    .expect("scrape task")
}

/// The metrics of an exposition, by name, with their `# TYPE`; checks that each histogram has buckets.
fn exported(body: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            types.insert(name.to_string(), kind.to_string());
        }
    }
    for (name, kind) in &types {
        if kind == "histogram" {
            assert!(body.contains(&format!("{name}_bucket{{")), "{name} is a histogram without buckets");
        }
    }
    types
}

/// The `dedupd_*` metric names a PromQL expression uses, without the `_bucket`, `_sum` and `_count`
/// of a histogram's series.
fn metric_names(expr: &str, histograms: &BTreeSet<String>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(start) = rest.find("dedupd_") {
        let tail = &rest[start..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|base| histograms.contains(*base)))
            .unwrap_or(name);
        names.insert(base.to_string());
        rest = &tail[end..];
    }
    names
}

/// Parses a PromQL expression as Prometheus would; a dashboard's Grafana variables are first replaced by
/// values of their kind.
fn parse_promql(expr: &str) -> Result<(), String> {
    let expr = expr.replace("$__rate_interval", "5m").replace("$job", ".*");
    promql_parser::parser::parse(&expr).map(|_| ())
}

/// Every `expr` string anywhere in a JSON document (the dashboard's panel targets).
fn json_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(expr) if key == "expr" => out.push(expr.clone()),
                    _ => json_exprs(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| json_exprs(item, out)),
        _ => {}
    }
}

#[tokio::test]
async fn alerts_and_dashboard_name_only_exported_metrics() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data_dir = dir.path().to_string_lossy().into_owned();
    let (embedded, mut client) =
        serve(&["--store", "embedded://", "--data-dir", &data_dir, "--retention", "3650d"]).await;
    exercise(&mut client).await;

    let redis = RedisServer::start();
    let (on_redis, mut client) = serve(&["--store", &redis.url()]).await;
    exercise(&mut client).await;
    // a store that is gone: the next ingest fails as unavailable, and the store error metric shows it
    drop(redis);
    let refused = client.ingest(IngestRequest { article: Some(article("late", article_text(9, 200))) }).await;
    assert_eq!(refused.map(|_| ()).map_err(|status| status.code()), Err(tonic::Code::Unavailable));

    let mut types = exported(&scrape(embedded.metrics_port).await);
    let on_redis_body = scrape(on_redis.metrics_port).await;
    assert!(on_redis_body.contains(r#"error="unavailable""#), "no unavailable store error counted: {on_redis_body}");
    types.extend(exported(&on_redis_body));

    // what the server declares is what it exports, with the declared types
    let declared: BTreeMap<String, String> = METRICS
        .iter()
        .chain(&EMBEDDED_METRICS)
        .map(|(name, kind, _, _)| {
            let kind = match kind {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                MetricKind::Histogram => "histogram",
            };
            (name.to_string(), kind.to_string())
        })
        .collect();
    assert_eq!(types, declared, "exported metrics and telemetry::METRICS differ");
    let histograms: BTreeSet<String> =
        types.iter().filter(|(_, kind)| *kind == "histogram").map(|(name, _)| name.clone()).collect();

    assert!(parse_promql("sum(rate(dedupd_ingested_total[5m])").is_err(), "the PromQL check refuses a bad query");
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring");
    let rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(deploy.join("alerts.yaml")).expect("read alerts.yaml"))
            .expect("alerts.yaml is YAML");
    let mut alerted = BTreeSet::new();
    let groups = rules.get("groups").and_then(|groups| groups.as_sequence()).expect("alerts.yaml has groups");
    for rule in groups.iter().flat_map(|group| group.get("rules").and_then(|r| r.as_sequence()).into_iter().flatten()) {
        let name = rule.get("alert").and_then(|a| a.as_str()).expect("every rule is an alert with a name");
        let expr = rule.get("expr").and_then(|e| e.as_str()).expect("every alert has an expr");
        assert!(rule.get("labels").and_then(|l| l.get("severity")).is_some(), "{name} has no severity");
        assert!(rule.get("annotations").and_then(|a| a.get("summary")).is_some(), "{name} has no summary");
        parse_promql(expr).unwrap_or_else(|error| panic!("alert {name}: invalid PromQL: {error}"));
        let names = metric_names(expr, &histograms);
        assert!(!names.is_empty(), "{name} names no dedupd metric");
        for metric in &names {
            assert!(types.contains_key(metric), "alert {name} uses {metric}, which the server does not export");
        }
        alerted.extend(names);
    }
    // the alerts the operators asked for: errors, latency, store unavailable, duplicate ratio, sweeps
    for needed in [
        "dedupd_requests_total",
        "dedupd_request_seconds",
        "dedupd_store_errors_total",
        "dedupd_duplicates_total",
        "dedupd_expire_failures_total",
    ] {
        assert!(alerted.contains(needed), "no alert watches {needed}");
    }

    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy.join("dashboard.json")).expect("read dashboard.json"))
            .expect("dashboard.json is JSON");
    let mut exprs = Vec::new();
    json_exprs(&dashboard, &mut exprs);
    for expr in &exprs {
        parse_promql(expr).unwrap_or_else(|error| panic!("dashboard query {expr}: invalid PromQL: {error}"));
    }
    let charted: BTreeSet<String> = exprs.iter().flat_map(|expr| metric_names(expr, &histograms)).collect();
    for metric in &charted {
        assert!(types.contains_key(metric), "the dashboard charts {metric}, which the server does not export");
    }
    for metric in types.keys() {
        assert!(charted.contains(metric), "the dashboard has no panel for {metric}");
    }
}
