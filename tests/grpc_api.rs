//! The gRPC API end to end: the real server on `127.0.0.1:0`, a real client, and each persistent store
//! (embedded in a temporary directory, and a real `redis-server`, shared by the tests of this file
//! under a namespace each).
//!
//! [`api_cases!`] turns every (store, case) pair into its own test: `cargo test --test grpc_api redis::`
//! runs one store, and a failure names both.

mod common;

use std::any::Any;
use std::collections::HashSet;

use dedupd::config::ServeConfig;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, Article, IngestRequest};
use dedupd::server::Server;
use prost_types::Timestamp;
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;

use dedupd::synthetic::{spun, text};

use common::{article, new_store, shared_redis};

/// A server under test, its client, and whatever must outlive them.
struct Harness {
    server: Option<Server>,
    client: DeduplicatorClient<Channel>,
    _guard: Box<dyn Any + Send>,
}

impl Harness {
    async fn start(store: &str) -> Harness {
        Self::start_with(store, |config| config).await
    }

    /// Like [`Harness::start`], with the configuration adjusted by `configure`.
    async fn start_with(store: &str, configure: impl FnOnce(ServeConfig) -> ServeConfig) -> Harness {
        let (config, guard) = new_store(store, "api").await;
        Self::serve(configure(ServeConfig { reflection: true, ..config }), guard).await
    }

    /// A server started with `config`, keeping `guard` alive as long as it runs.
    async fn serve(config: ServeConfig, guard: Box<dyn Any + Send>) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let server = Server::start(config, listener).await.expect("server starts");
        let client = DeduplicatorClient::connect(server.url()).await.expect("client connects");
        Harness { server: Some(server), client, _guard: guard }
    }

    async fn ingest(&mut self, article: Article) -> proto::IngestResponse {
        let id = article.id.clone();
        self.client
            .ingest(IngestRequest { article: Some(article) })
            .await
            .unwrap_or_else(|status| panic!("ingest {id}: {status}"))
            .into_inner()
    }

    async fn get(&mut self, id: &str) -> proto::ArticleRecord {
        self.client
            .get_article(proto::GetArticleRequest { id: id.into() })
            .await
            .unwrap_or_else(|status| panic!("get {id}: {status}"))
            .into_inner()
    }

    async fn cluster(&mut self, cluster_id: &str) -> proto::Cluster {
        self.client
            .get_cluster(proto::GetClusterRequest { cluster_id: cluster_id.into() })
            .await
            .unwrap_or_else(|status| panic!("cluster {cluster_id}: {status}"))
            .into_inner()
    }

    async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

/// A news-sized original text.
fn original_text(seed: u64) -> String {
    text(seed, 400)
}

// ---------------------------------------------------------------------------------------------------

/// A spun copy with a footer, published after its original, is flagged as its duplicate.
async fn spun_copy_is_a_duplicate_of_its_original(h: &mut Harness) {
    let text = original_text(1);
    let original = h.ingest(article("orig", &text, 0)).await;
    assert!(!original.duplicate);
    assert_eq!(original.canonical_id, "orig");
    assert!(original.matches.is_empty());

    let copy = h.ingest(article("copy", &spun(&text, 30, 7), 90)).await;
    assert!(copy.duplicate, "{copy:?}");
    assert_eq!(copy.cluster_id, original.cluster_id);
    assert_eq!(copy.canonical_id, "orig");
    let best = &copy.matches[0];
    assert_eq!(best.id, "orig");
    assert!(best.similarity > 0.5 && best.similarity <= 1.0, "{best:?}");
    assert_eq!(best.hamming_distance, (copy.simhash ^ original.simhash).count_ones());
    let stored = h.get("copy").await;
    assert_eq!(stored.fingerprint_version, dedupd::fingerprint::FINGERPRINT_VERSION);
    assert_eq!(stored.simhash, copy.simhash);

    // an unrelated article stays on its own
    let other = h.ingest(article("other", &original_text(2), 10)).await;
    assert!(!other.duplicate);
    assert_ne!(other.cluster_id, original.cluster_id);
}

/// A copy that arrives before its original: the original joins the copy's cluster, keeps its id, and
/// becomes the canonical.
async fn original_arriving_after_its_copy_becomes_canonical(h: &mut Harness) {
    let text = original_text(3);
    let copy = h.ingest(article("early-copy", &spun(&text, 10, 1), 60)).await;
    assert!(!copy.duplicate, "alone in its cluster, the copy is its canonical for now");
    assert_eq!(copy.canonical_id, "early-copy");

    let original = h.ingest(article("late-original", &text, 0)).await;
    assert!(!original.duplicate, "an earlier-published original is no duplicate");
    assert_eq!(original.cluster_id, copy.cluster_id, "the cluster id stays stable");
    assert_eq!(original.canonical_id, "late-original");

    let record = h.get("early-copy").await;
    assert_eq!(record.canonical_id, "late-original");
    assert_eq!(record.cluster_id, copy.cluster_id);
    let cluster = h.cluster(&copy.cluster_id).await;
    assert_eq!(cluster.canonical_id, "late-original");
    let members: Vec<&str> = cluster.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(members, vec!["late-original", "early-copy"]);
    assert_eq!(cluster.members[0].similarity, 1.0);
}

/// Two excerpts of one article (its first and its last part) do not match each other and found two
/// clusters; the full original matches both, and the clusters merge under the older id.
async fn original_merges_the_clusters_of_two_excerpts(h: &mut Harness) {
    let text = original_text(4);
    let words: Vec<&str> = text.split(' ').collect();
    let head = words[..170].join(" ");
    let tail = words[words.len() - 170..].join(" ");
    let first = h.ingest(article("excerpt-head", &head, 30)).await;
    let second = h.ingest(article("excerpt-tail", &tail, 40)).await;
    assert_ne!(first.cluster_id, second.cluster_id, "disjoint excerpts must not match");

    let original = h.ingest(article("full", &text, 0)).await;
    assert!(!original.duplicate);
    let older = std::cmp::min(first.cluster_id.clone(), second.cluster_id.clone());
    assert_eq!(original.cluster_id, older, "the older cluster id survives");
    for id in ["excerpt-head", "excerpt-tail", "full"] {
        let record = h.get(id).await;
        assert_eq!(record.cluster_id, older, "{id} reports the surviving cluster");
        assert_eq!(record.canonical_id, "full");
    }
    let younger = std::cmp::max(first.cluster_id, second.cluster_id);
    let merged = h.cluster(&younger).await;
    assert_eq!(merged.cluster_id, older, "the absorbed id answers with the survivor");
    assert_eq!(merged.members.len(), 3);
}

/// Deleting the canonical hands the cluster to the next earliest member; the cluster does not split.
async fn deleting_the_canonical_elects_the_next_earliest(h: &mut Harness) {
    let text = original_text(5);
    let original = h.ingest(article("d-orig", &text, 0)).await;
    h.ingest(article("d-copy-late", &spun(&text, 5, 2), 120)).await;
    h.ingest(article("d-copy-early", &spun(&text, 5, 3), 60)).await;

    let deleted = h
        .client
        .delete_article(proto::DeleteArticleRequest { id: "d-orig".into() })
        .await
        .expect("delete")
        .into_inner();
    assert!(deleted.deleted);
    assert_eq!(deleted.canonical_id, "d-copy-early");
    let cluster = h.cluster(&original.cluster_id).await;
    let members: Vec<&str> = cluster.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(members, vec!["d-copy-early", "d-copy-late"]);
    assert_eq!(h.get("d-copy-late").await.canonical_id, "d-copy-early");

    let status = h.client.get_article(proto::GetArticleRequest { id: "d-orig".into() }).await.expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
    let again = h.client.delete_article(proto::DeleteArticleRequest { id: "d-orig".into() }).await.expect("delete");
    assert!(!again.into_inner().deleted, "deleting an unknown id deletes nothing");
}

/// The same article twice changes nothing; changed content is an update that re-clusters.
async fn reingest_is_idempotent_and_changed_content_is_an_update(h: &mut Harness) {
    let text = original_text(6);
    let first = h.ingest(article("r-orig", &text, 0)).await;
    let copy = h.ingest(article("r-copy", &spun(&text, 10, 4), 30)).await;
    let again = h.ingest(article("r-copy", &spun(&text, 10, 4), 30)).await;
    assert_eq!(again, copy, "re-ingesting the same content answers the same");
    assert_eq!(h.cluster(&first.cluster_id).await.members.len(), 2);

    // the copy's content changes to an unrelated text: it leaves the cluster
    let updated = h.ingest(article("r-copy", &original_text(60), 30)).await;
    assert_ne!(updated.cluster_id, first.cluster_id);
    assert!(!updated.duplicate);
    assert_ne!(updated.simhash, copy.simhash);
    let cluster = h.cluster(&first.cluster_id).await;
    assert_eq!(cluster.members.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["r-orig"]);
    assert_eq!(h.get("r-copy").await.cluster_id, updated.cluster_id);
}

/// `Check` answers what `Ingest` would, and stores nothing.
async fn check_stores_nothing(h: &mut Harness) {
    let text = original_text(7);
    let original = h.ingest(article("c-orig", &text, 0)).await;
    let probe = article("c-probe", &spun(&text, 20, 5), 10);
    let checked =
        h.client.check(proto::CheckRequest { article: Some(probe.clone()) }).await.expect("check").into_inner();
    assert!(checked.duplicate);
    assert_eq!(checked.cluster_id, original.cluster_id);
    assert_eq!(checked.canonical_id, "c-orig");
    assert_eq!(checked.matches[0].id, "c-orig");

    let status = h.client.get_article(proto::GetArticleRequest { id: "c-probe".into() }).await.expect_err("not stored");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(h.cluster(&original.cluster_id).await.members.len(), 1);

    // and a check of something new would found a cluster of its own
    let fresh = article("c-new", &original_text(70), 0);
    let checked = h.client.check(proto::CheckRequest { article: Some(fresh) }).await.expect("check").into_inner();
    assert!(!checked.duplicate);
    assert!(checked.cluster_id.is_empty());
    assert_eq!(checked.canonical_id, "c-new");

    // ingesting after the check gives the decision the check promised
    let ingested = h.ingest(probe).await;
    assert_eq!(ingested.cluster_id, original.cluster_id);
    assert!(ingested.duplicate);
}

/// Unknown articles and clusters are `NOT_FOUND`.
async fn unknown_ids_are_not_found(h: &mut Harness) {
    let status = h.client.get_article(proto::GetArticleRequest { id: "nobody".into() }).await.expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("nobody"), "{}", status.message());
    let status =
        h.client.get_cluster(proto::GetClusterRequest { cluster_id: "0000-none".into() }).await.expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
}

/// Two near-duplicates ingested at the same moment, on separate connections, end up in one cluster.
async fn concurrent_near_duplicates_meet(h: &mut Harness) {
    let url = h.server.as_ref().expect("running").url();
    for round in 0..8u64 {
        let text = original_text(100 + round);
        let mut tasks = Vec::new();
        for (n, body) in [text.clone(), spun(&text, 10, round)].into_iter().enumerate() {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = DeduplicatorClient::connect(url).await.expect("connect");
                let article = article(&format!("race-{round}-{n}"), &body, n as i64);
                client.ingest(IngestRequest { article: Some(article) }).await.expect("ingest").into_inner()
            }));
        }
        let mut clusters = HashSet::new();
        for task in tasks {
            clusters.insert(task.await.expect("task").cluster_id);
        }
        for n in 0..2 {
            clusters.insert(h.get(&format!("race-{round}-{n}")).await.cluster_id);
        }
        assert_eq!(clusters.len(), 1, "round {round}: the racing pair must share a cluster");
        assert_eq!(h.get(&format!("race-{round}-1")).await.canonical_id, format!("race-{round}-0"));
    }
}

/// Bad input gets `INVALID_ARGUMENT` naming the field, and nothing is stored.
async fn bad_input_is_an_invalid_argument(h: &mut Harness) {
    let cases = [
        (article("", "some text", 0), "article.id"),
        (article("x", "   \n\t ", 0), "article.body"),
        (article("x", "", 0), "article.body"),
        (article("x", "!!! ??? \u{200B} --", 0), "article.body"),
        (article(&"i".repeat(513), "text", 0), "article.id"),
        (article("bad\u{7}id", "text", 0), "article.id"),
        (article("big", &"word ".repeat(500_000), 0), "article.body"),
        (
            Article { published_at: Some(Timestamp { seconds: 0, nanos: -1 }), ..article("t", "text", 0) },
            "article.published_at",
        ),
    ];
    for (bad, field) in cases {
        let status = h.client.ingest(IngestRequest { article: Some(bad.clone()) }).await.expect_err("rejected");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field} not named in {:?}", status.message());
        let status = h.client.check(proto::CheckRequest { article: Some(bad) }).await.expect_err("rejected");
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    let status = h.client.ingest(IngestRequest { article: None }).await.expect_err("rejected");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = h.client.get_article(proto::GetArticleRequest { id: String::new() }).await.expect_err("rejected");
    assert_eq!(status.code(), Code::InvalidArgument);
    for id in ["x", "t", "big"] {
        let status = h.client.get_article(proto::GetArticleRequest { id: id.into() }).await.expect_err("not stored");
        assert_eq!(status.code(), Code::NotFound, "{id} must not have been stored");
    }
}

/// `IngestStream` answers every request in order; a bad article gets an error and does not end the stream.
async fn stream_answers_in_order_and_survives_bad_articles(h: &mut Harness) {
    let text = original_text(8);
    let mut requests = vec![article("s-orig", &text, 0)];
    for n in 0..40 {
        requests.push(article(&format!("s-other-{n}"), &original_text(200 + n), 5));
    }
    requests.push(article("s-bad", "  ", 5));
    requests.push(article("s-copy", &spun(&text, 15, 9), 10));
    let ids: Vec<String> = requests.iter().map(|a| a.id.clone()).collect();
    let outbound = tokio_stream::iter(requests.into_iter().map(|a| IngestRequest { article: Some(a) }));
    let mut inbound = h.client.ingest_stream(outbound).await.expect("stream").into_inner();
    let mut responses = Vec::new();
    while let Some(response) = inbound.message().await.expect("stream item") {
        responses.push(response);
    }
    assert_eq!(responses.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids, "one response per request, in order");
    let bad = &responses[ids.len() - 2];
    assert!(bad.error.starts_with("InvalidArgument") && bad.error.contains("article.body"), "{:?}", bad.error);
    assert!(bad.cluster_id.is_empty());
    let copy = &responses[ids.len() - 1];
    assert!(copy.error.is_empty());
    assert!(copy.duplicate);
    assert_eq!(copy.canonical_id, "s-orig");
    let status = h.client.get_article(proto::GetArticleRequest { id: "s-bad".into() }).await.expect_err("not stored");
    assert_eq!(status.code(), Code::NotFound);

    // two versions of one id back to back: the later one is what is stored, even when the earlier one
    // is large enough to be fingerprinted on another thread
    let mut first = article("s-versioned", &original_text(300).repeat(30), 0);
    first.title = "first version".into();
    let mut second = article("s-versioned", &original_text(301), 0);
    second.title = "second version".into();
    let outbound = tokio_stream::iter([first, second].into_iter().map(|a| IngestRequest { article: Some(a) }));
    let mut inbound = h.client.ingest_stream(outbound).await.expect("stream").into_inner();
    while inbound.message().await.expect("stream item").is_some() {}
    assert_eq!(h.get("s-versioned").await.title, "second version");
}

/// A future publication time is clamped to the time of ingest, so a post-dated copy cannot outrank an
/// original ingested before it.
async fn future_dates_are_clamped(h: &mut Harness) {
    let text = original_text(9);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let mut original = article("f-orig", &text, 0);
    original.published_at = None; // "now"
    h.ingest(original).await;
    let mut copy = article("f-copy", &spun(&text, 5, 1), 0);
    copy.published_at = Some(Timestamp { seconds: now + 365 * 24 * 3600, nanos: 0 });
    let copy = h.ingest(copy).await;
    assert!(copy.duplicate);
    assert_eq!(copy.canonical_id, "f-orig");
    let record = h.get("f-copy").await;
    let published = record.published_at.expect("published_at").seconds;
    assert!(published <= now + 60, "clamped to the time of ingest, got {published} (now {now})");
}

/// Health reports SERVING for the service, and reflection lists it.
async fn health_and_reflection_are_served(h: &mut Harness) {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let url = h.server.as_ref().expect("running").url();
    let channel = Channel::from_shared(url).expect("url").connect().await.expect("connect");
    let mut health = HealthClient::new(channel.clone());
    let response = health
        .check(tonic_health::pb::HealthCheckRequest { service: "dedup.v1.Deduplicator".into() })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(response.status, ServingStatus::Serving as i32);

    let mut reflection = ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses =
        reflection.server_reflection_info(tokio_stream::iter([request])).await.expect("reflection").into_inner();
    let response = responses.message().await.expect("reflection reply").expect("one reply");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection reply {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"dedup.v1.Deduplicator".to_string()), "{names:?}");
}

macro_rules! api_cases {
    (harness: [$($case:ident),* $(,)?], store: [$($store_case:ident),* $(,)?] $(,)?) => {
        api_cases!(@store embedded: [$($case),*], [$($store_case),*]);
        api_cases!(@store redis: [$($case),*], [$($store_case),*]);
    };
    (@store $store:ident: [$($case:ident),*], [$($store_case:ident),*]) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let mut harness = super::Harness::start(stringify!($store)).await;
                    super::$case(&mut harness).await;
                    harness.stop().await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $store_case() {
                    super::$store_case(stringify!($store)).await;
                }
            )*
        }
    };
}

api_cases!(
    harness: [
        spun_copy_is_a_duplicate_of_its_original,
        original_arriving_after_its_copy_becomes_canonical,
        original_merges_the_clusters_of_two_excerpts,
        deleting_the_canonical_elects_the_next_earliest,
        reingest_is_idempotent_and_changed_content_is_an_update,
        check_stores_nothing,
        unknown_ids_are_not_found,
        concurrent_near_duplicates_meet,
        bad_input_is_an_invalid_argument,
        stream_answers_in_order_and_survives_bad_articles,
        future_dates_are_clamped,
        health_and_reflection_are_served,
    ],
    // cases that start their own servers on the store
    store: [retention_sweeps_and_refuses, a_starting_server_knows_the_footers_already_stored],
);

// ---------------------------------------------------------------------------------------------------
// retention

/// Seconds since the epoch, now.
fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// An article published `seconds_ago` seconds before now.
fn aged(id: &str, body: &str, seconds_ago: i64) -> Article {
    Article { published_at: Some(Timestamp { seconds: now_seconds() - seconds_ago, nanos: 0 }), ..article(id, body, 0) }
}

/// With a one-minute window swept every 100 ms: an article already outside the window is refused
/// (`Ingest`, `IngestStream` and `Check` alike, as `OUT_OF_RANGE`); the sweeper expires a canonical as it
/// leaves the window, and its cluster's next member takes over; the rest stays.
async fn retention_sweeps_and_refuses(store: &str) {
    let mut h = Harness::start_with(store, |config| ServeConfig {
        retention: Some(std::time::Duration::from_secs(60)),
        retention_sweep: std::time::Duration::from_millis(100),
        ..config
    })
    .await;
    let text = original_text(20);
    // leaves the window about 6 s from now; its copy 30 s later, which leaves the test time to see
    // the first one go (the margin is all this test depends on)
    let original = h.ingest(aged("r-orig", &text, 54)).await;
    let copy = h.ingest(aged("r-copy", &spun(&text, 10, 4), 24)).await;
    assert_eq!(copy.cluster_id, original.cluster_id);
    assert_eq!(copy.canonical_id, "r-orig");
    let fresh = h.ingest(aged("r-fresh", &original_text(21), 0)).await;

    let status = h.client.ingest(IngestRequest { article: Some(aged("r-stale", &text, 120)) }).await.expect_err("old");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("retention window"), "{}", status.message());
    let status =
        h.client.check(proto::CheckRequest { article: Some(aged("r-stale", &text, 120)) }).await.expect_err("old");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let requests = [aged("r-stale", &text, 120), aged("r-fresh-2", &original_text(22), 0)]
        .map(|article| IngestRequest { article: Some(article) });
    let mut responses = h.client.ingest_stream(tokio_stream::iter(requests)).await.expect("stream").into_inner();
    let refused = responses.message().await.expect("first response").expect("one");
    assert!(refused.error.starts_with("OutOfRange: "), "{refused:?}");
    let accepted = responses.message().await.expect("second response").expect("two");
    assert!(accepted.error.is_empty(), "{accepted:?}");
    let status = h.client.get_article(proto::GetArticleRequest { id: "r-stale".into() }).await.expect_err("refused");
    assert_eq!(status.code(), Code::NotFound, "nothing was stored");

    // the sweeper: wait (bounded) for the original to leave the window and the index
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match h.client.get_article(proto::GetArticleRequest { id: "r-orig".into() }).await {
            Err(status) if status.code() == Code::NotFound => break,
            Err(status) => panic!("get r-orig: {status}"),
            Ok(_) => {
                assert!(std::time::Instant::now() < deadline, "the sweeper did not expire r-orig");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    let record = h.get("r-copy").await;
    assert_eq!(record.canonical_id, "r-copy", "the next member took over");
    assert_eq!(record.cluster_id, original.cluster_id);
    let cluster = h.cluster(&original.cluster_id).await;
    let members: Vec<&str> = cluster.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(members, ["r-copy"]);
    assert_eq!(h.get("r-fresh").await.cluster_id, fresh.cluster_id);
    // a copy of the expired original now finds the copy, not the original
    let again = h.ingest(aged("r-copy-2", &text, 0)).await;
    assert_eq!(again.canonical_id, "r-copy");
    assert!(again.matches.iter().all(|m| m.id != "r-orig"), "{:?}", again.matches);
    h.stop().await;
}

/// Namespaces on one Redis: two feeds keep their articles apart (one id names an article in each, and
/// a copy ingested in one feed is not a duplicate of the other feed's original), two servers of one
/// feed share its index, and a namespace the store cannot have is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespaces_keep_feeds_apart_on_one_redis() {
    let redis = shared_redis();
    let in_namespace = |namespace: &str| ServeConfig {
        store: redis.url(),
        namespace: Some(namespace.to_string()),
        ..ServeConfig::default()
    };
    let mut feed_a = Harness::serve(in_namespace("feed-a"), Box::new(())).await;
    let mut feed_b = Harness::serve(in_namespace("feed-b"), Box::new(())).await;
    let mut feed_a_replica = Harness::serve(in_namespace("feed-a"), Box::new(())).await;

    let text = original_text(30);
    let first = feed_a.ingest(article("n-story", &text, 0)).await;
    assert!(!first.duplicate);
    let other = Article { title: "Feed B's own story".into(), ..article("n-story", &original_text(31), 5) };
    let other = feed_b.ingest(other).await;
    assert!(!other.duplicate, "feed b has no n-story of its own before this one");
    assert_ne!(other.cluster_id, first.cluster_id);
    assert_eq!(feed_a.get("n-story").await.title, "Title of n-story");
    assert_eq!(feed_b.get("n-story").await.title, "Feed B's own story");

    // a copy of feed a's story, ingested in feed b, finds nothing there
    let copy = feed_b.ingest(article("n-copy", &spun(&text, 10, 3), 10)).await;
    assert!(!copy.duplicate, "{copy:?}");
    assert!(copy.matches.is_empty(), "{:?}", copy.matches);
    let status = feed_a.client.get_article(proto::GetArticleRequest { id: "n-copy".into() }).await.expect_err("apart");
    assert_eq!(status.code(), Code::NotFound);

    // the same copy through another server of feed a joins feed a's story
    let joined = feed_a_replica.ingest(article("n-copy", &spun(&text, 10, 3), 10)).await;
    assert!(joined.duplicate, "{joined:?}");
    assert_eq!(joined.canonical_id, "n-story");
    assert_eq!(joined.cluster_id, first.cluster_id);
    assert_eq!(feed_a.get("n-copy").await.canonical_id, "n-story");

    for harness in [feed_a, feed_b, feed_a_replica] {
        harness.stop().await;
    }

    // refused at start: a namespace Redis keys cannot carry, and one for a store without namespaces
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let error = Server::start(in_namespace("feed:a"), listener).await.err().expect("refused").to_string();
    assert!(error.contains("is not a redis namespace"), "{error}");
    let dir = tempfile::tempdir().expect("temporary directory");
    let embedded = ServeConfig {
        store: format!("embedded://{}", dir.path().join("data").display()),
        namespace: Some("feed-a".into()),
        ..ServeConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let error = Server::start(embedded, listener).await.err().expect("refused").to_string();
    assert!(error.contains("only redis stores have namespaces"), "{error}");
    assert!(!dir.path().join("data").exists(), "refused before the store was opened");
}

/// A server that starts on a store already holding a source's articles learns that source's footer
/// before it serves (`--warm-up-articles`): an article that shares only the footer is no duplicate,
/// where a server started with the warm-up off matches it on the footer alone. On the embedded store
/// after a restart, on Redis as a new replica would.
async fn a_starting_server_knows_the_footers_already_stored(store: &str) {
    let (on_store, guard) = new_store(store, "api").await;
    let on_store = ServeConfig { reflection: true, ..on_store };
    let config = |warm_up_articles| ServeConfig { warm_up_articles, ..on_store.clone() };
    let footer = text(900, 90);
    let from_aggregator = |id: &str, seed: u64, minutes: i64| Article {
        source: "aggregator.example".into(),
        ..article(id, &format!("{} {footer}", text(seed, 25)), minutes)
    };
    let mut first = Harness::serve(config(0), Box::new(())).await;
    for n in 0..12 {
        first.ingest(from_aggregator(&format!("agg-{n}"), 100 + n, n as i64)).await;
    }
    first.stop().await;

    let newcomer = from_aggregator("agg-new", 999, 60);
    let check = |mut harness: Harness, article: Article| async move {
        let checked =
            harness.client.check(proto::CheckRequest { article: Some(article) }).await.expect("check").into_inner();
        harness.stop().await;
        checked
    };
    let cold = check(Harness::serve(config(0), Box::new(())).await, newcomer.clone()).await;
    assert!(cold.duplicate, "an empty model lets the footer match: {cold:?}");
    let warm = check(Harness::serve(config(1_000), guard).await, newcomer).await;
    assert!(!warm.duplicate, "the warmed-up model knows the footer: {warm:?}");
    assert!(warm.matches.is_empty(), "{:?}", warm.matches);
}
