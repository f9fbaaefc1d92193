//! The network between dedupd and Redis failing: the real server on `127.0.0.1:0` over a real
//! `redis-server`, through the kit's fault-injecting proxy ([`common::Proxy`]).
//!
//! Under every fault, calls end with `UNAVAILABLE` or `DEADLINE_EXCEEDED` (a guard a long way past
//! the server's own deadline catches a hang); once the network is back, the same server serves
//! again without a restart; every article acknowledged before or between the faults reads back; and
//! a connection reset in the middle of a script's request or answer leaves the index consistent:
//! every article in a cluster that holds it, each cluster's canonical its first member, and an
//! ingest cut between its two steps finished by its retry, so that `dedupd verify` finds nothing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use dedupd::config::ServeConfig;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, IngestRequest};
use dedupd::server::Server;
use dedupd::store::redis::RedisStore;
use dedupd::store::verify;
use dedupd::synthetic::Synthetic;
use prost_types::Timestamp;
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic::{Code, Request};

use common::{Fault, Proxy, namespace, shared_redis};

/// Far beyond the server's own deadline for a Redis call (8 s): a call still running then hangs.
const HANG: Duration = Duration::from_secs(40);
/// Attempts, a quarter second apart, for the server to serve again once the network is back.
const RECOVERY_ATTEMPTS: usize = 120;

/// The code of a failed call, with a deadline the client itself enforced read as `DEADLINE_EXCEEDED`:
/// tonic's client ends a call past its `grpc-timeout` on its own, as `CANCELLED` "Timeout expired",
/// usually before the server's `DEADLINE_EXCEEDED` arrives.
fn outage(status: &tonic::Status) -> Code {
    match status.code() {
        Code::Cancelled if status.message() == "Timeout expired" => Code::DeadlineExceeded,
        code => code,
    }
}

/// A server on a fresh namespace of the shared Redis, reached through a proxy.
struct Harness {
    proxy: Proxy,
    server: Option<Server>,
    client: DeduplicatorClient<Channel>,
    /// Every article acknowledged so far, by id: the cluster its ingest answered.
    acknowledged: BTreeMap<String, String>,
    articles: Synthetic,
    /// The server's namespace, for reading the store directly.
    namespace: String,
}

impl Harness {
    async fn start(seed: u64) -> Harness {
        let proxy = Proxy::start(shared_redis().port());
        let namespace = namespace("net");
        let config = ServeConfig {
            store: proxy.url(),
            namespace: Some(namespace.clone()),
            warm_up_articles: 0,
            ..ServeConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let server = Server::start(config, listener).await.expect("server starts");
        let client = DeduplicatorClient::connect(server.url()).await.expect("client connects");
        Harness {
            proxy,
            server: Some(server),
            client,
            acknowledged: BTreeMap::new(),
            articles: Synthetic::new(seed),
            namespace,
        }
    }

    /// Article `index` of this harness's stream (about a third are spun copies of earlier ones).
    fn article(&self, index: u64) -> proto::Article {
        let article = self.articles.article(index);
        let published = article.published_at.unwrap_or_default();
        proto::Article {
            id: article.id,
            url: article.url,
            source: article.source,
            title: article.title,
            body: article.body,
            published_at: Some(Timestamp {
                seconds: published.div_euclid(1_000_000),
                nanos: (published.rem_euclid(1_000_000) * 1000) as i32,
            }),
        }
    }

    /// One ingest with an optional client deadline; records the article if acknowledged. Panics
    /// if the call hangs.
    async fn try_ingest(&mut self, index: u64, deadline: Option<Duration>) -> Result<(), tonic::Status> {
        let article = self.article(index);
        let id = article.id.clone();
        let mut request = Request::new(IngestRequest { article: Some(article) });
        if let Some(deadline) = deadline {
            request.set_timeout(deadline);
        }
        let answer = tokio::time::timeout(HANG, self.client.ingest(request))
            .await
            .unwrap_or_else(|_| panic!("ingest {id} hung past {HANG:?}"))?
            .into_inner();
        self.acknowledged.insert(id, answer.cluster_id);
        Ok(())
    }

    /// An ingest that must succeed now.
    async fn ingest(&mut self, index: u64) {
        if let Err(status) = self.try_ingest(index, None).await {
            panic!("ingest {index}: {status}");
        }
    }

    /// An ingest under a fault: it must fail, as a retryable outage, within its deadline.
    async fn ingest_fails(&mut self, index: u64, deadline: Option<Duration>) -> Code {
        let status = self.try_ingest(index, deadline).await.expect_err("an ingest through a dead network");
        let code = outage(&status);
        assert!(
            matches!(code, Code::Unavailable | Code::DeadlineExceeded),
            "ingest {index} under a fault: {code:?} {}",
            status.message()
        );
        code
    }

    /// Ingests `index` again and again until it is acknowledged: the server serving again by itself.
    async fn recovers_with(&mut self, index: u64) {
        for _ in 0..RECOVERY_ATTEMPTS {
            match self.try_ingest(index, Some(Duration::from_secs(10))).await {
                Ok(()) => return,
                Err(status) => assert!(
                    matches!(outage(&status), Code::Unavailable | Code::DeadlineExceeded),
                    "while recovering: {status}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the server did not serve again after {RECOVERY_ATTEMPTS} attempts");
    }

    /// Every acknowledged article reads back, in a cluster that lists it, whose canonical is its
    /// first member and is what the article reports; and articles acknowledged in one cluster are
    /// still together.
    async fn assert_consistent(&mut self) {
        let mut current: BTreeMap<String, String> = BTreeMap::new();
        for id in self.acknowledged.keys() {
            let record = self
                .client
                .get_article(proto::GetArticleRequest { id: id.clone() })
                .await
                .unwrap_or_else(|status| panic!("acknowledged article {id} lost: {status}"))
                .into_inner();
            let cluster = self
                .client
                .get_cluster(proto::GetClusterRequest { cluster_id: record.cluster_id.clone() })
                .await
                .unwrap_or_else(|status| panic!("cluster {} of {id}: {status}", record.cluster_id))
                .into_inner();
            assert!(cluster.members.iter().any(|m| &m.id == id), "{id} is not among its cluster's members");
            assert_eq!(cluster.canonical_id, cluster.members[0].id, "a canonical is its cluster's first member");
            assert_eq!(record.canonical_id, cluster.canonical_id, "{id} reports its cluster's canonical");
            current.insert(id.clone(), cluster.cluster_id);
        }
        // merges only join clusters: articles acknowledged together stay together
        for (a, a_cluster) in &self.acknowledged {
            for (b, b_cluster) in &self.acknowledged {
                if a_cluster == b_cluster {
                    assert_eq!(current[a], current[b], "{a} and {b} were acknowledged in one cluster");
                }
            }
        }
    }

    async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

/// A partition that swallows everything: calls fail (the client's own deadline first if shorter,
/// else the server's), reads too, and when it heals the server serves again with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_redis_fails_calls_in_time_and_heals() {
    let mut h = Harness::start(1).await;
    for index in 0..20 {
        h.ingest(index).await;
    }
    h.proxy.set(Fault::Blackhole);
    assert_eq!(h.ingest_fails(20, Some(Duration::from_millis(500))).await, Code::DeadlineExceeded);
    h.ingest_fails(21, None).await;
    let read = tokio::time::timeout(HANG, h.client.get_article(proto::GetArticleRequest { id: "s1-0".into() }))
        .await
        .expect("a read through a partition hung");
    let code = outage(&read.expect_err("a read through a partition"));
    assert!(matches!(code, Code::Unavailable | Code::DeadlineExceeded), "{code:?}");

    h.proxy.set(Fault::Pass);
    h.recovers_with(21).await;
    for index in 22..40 {
        h.ingest(index).await;
    }
    h.assert_consistent().await;
    h.stop().await;
}

/// Connections reset, and new ones refused, while Redis itself is fine: calls fail fast as
/// `UNAVAILABLE`; when the network is back, the server reconnects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_fail_fast_and_reconnect() {
    let mut h = Harness::start(2).await;
    for index in 0..20 {
        h.ingest(index).await;
    }
    let before = h.proxy.accepted();
    h.proxy.set(Fault::Drop);
    for index in 20..23 {
        assert_eq!(h.ingest_fails(index, None).await, Code::Unavailable);
    }
    assert!(h.proxy.accepted() > before, "the server tried to reconnect");
    h.proxy.set(Fault::Pass);
    h.recovers_with(23).await;
    for index in 24..40 {
        h.ingest(index).await;
    }
    h.assert_consistent().await;
    h.stop().await;
}

/// A slow network: calls still succeed, only later; a client whose deadline is shorter than the
/// delay gets `DEADLINE_EXCEEDED`, and the ingest it gave up on is finished by its retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_network_slows_calls_and_deadlines_hold() {
    let mut h = Harness::start(3).await;
    h.proxy.set(Fault::Delay(Duration::from_millis(30)));
    for index in 0..15 {
        h.ingest(index).await;
    }
    h.proxy.set(Fault::Delay(Duration::from_millis(400)));
    // the insert takes at least one delay: a deadline of half of it ends the call in between
    for index in 15..18 {
        assert_eq!(h.ingest_fails(index, Some(Duration::from_millis(200))).await, Code::DeadlineExceeded);
    }
    h.proxy.set(Fault::Pass);
    for index in 15..30 {
        h.ingest(index).await;
    }
    h.assert_consistent().await;
    h.stop().await;
}

/// Connections reset after every cut point from a few bytes into a script's request to well into
/// its answer, across both steps of ingests that join and merge clusters: each cut call fails as
/// `UNAVAILABLE` (or succeeds, when the cut falls after its answer), and after every cut the index
/// is consistent and the retry of a cut ingest finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_cut_short_leave_the_index_consistent() {
    let mut h = Harness::start(4).await;
    for index in 0..30 {
        h.ingest(index).await;
    }
    let mut failed = 0;
    let cuts = [1, 20, 64, 200, 400, 700, 1000, 1400, 1800, 2400, 3200, 4500, 6000, 9000];
    for (index, cut) in (30..).zip(cuts) {
        h.proxy.set(Fault::ResetAfter(cut));
        if let Err(status) = h.try_ingest(index, Some(Duration::from_secs(20))).await {
            assert!(matches!(outage(&status), Code::Unavailable | Code::DeadlineExceeded), "cut at {cut}: {status}");
            failed += 1;
        }
        h.proxy.set(Fault::Pass);
        h.recovers_with(index).await;
        h.assert_consistent().await;
    }
    assert!(failed > 0, "no cut point cut an ingest");
    // read past the proxy: every cut ingest was retried, so nothing is left for verify to flag
    let store = RedisStore::connect_with_namespace(&shared_redis().url(), &h.namespace).await.expect("connect");
    let report = verify::verify(&store, verify::Options::new(Duration::ZERO)).await.expect("verify");
    assert_eq!(report.problems, Vec::new(), "{report}");
    assert_eq!(report.counts.articles, h.acknowledged.len(), "{report}");
    h.stop().await;
}
