//! Moderation verdicts end to end (`docs/moderation.md`): the real gRPC server on `127.0.0.1:0` over
//! the embedded store, a real `redis-server` and a real three-master Redis Cluster (shared by the
//! tests of this file, a namespace each). A split, a forced merge and a canonical override each
//! survive a restart (embedded: the same data directory reopened; Redis: a new server on the same
//! namespace) and are honoured by the next ingest of a copy; on Redis a second replica honours a
//! verdict made on the first.

mod common;

use std::any::Any;

use dedupd::auth::token_hash;
use dedupd::config::ServeConfig;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, Article, IngestRequest, VerdictKind};
use dedupd::server::Server;
use dedupd::synthetic::{spun, text};
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;

use common::{article, new_store};

/// A running server and its client.
struct Replica {
    server: Server,
    client: DeduplicatorClient<Channel>,
}

impl Replica {
    async fn start(config: ServeConfig) -> Replica {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let server = Server::start(config, listener).await.expect("server starts");
        let client = DeduplicatorClient::connect(server.url()).await.expect("client connects");
        Replica { server, client }
    }

    async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }

    async fn ingest(&mut self, article: Article) -> proto::IngestResponse {
        let id = article.id.clone();
        let request = IngestRequest { article: Some(article) };
        self.client.ingest(request).await.unwrap_or_else(|status| panic!("ingest {id}: {status}")).into_inner()
    }

    async fn cluster_of(&mut self, id: &str) -> String {
        let request = proto::GetArticleRequest { id: id.into() };
        self.client
            .get_article(request)
            .await
            .unwrap_or_else(|status| panic!("get {id}: {status}"))
            .into_inner()
            .cluster_id
    }

    /// A cluster's canonical and member ids, in canonical order.
    async fn cluster(&mut self, cluster_id: &str) -> (String, Vec<String>) {
        let request = proto::GetClusterRequest { cluster_id: cluster_id.into() };
        let cluster = self.client.get_cluster(request).await.expect("get cluster").into_inner();
        (cluster.canonical_id, cluster.members.into_iter().map(|m| m.id).collect())
    }

    async fn mark_distinct(&mut self, article_id: &str, from_id: &str) -> Result<proto::VerdictResponse, Code> {
        let request = proto::MarkDistinctRequest {
            article_id: article_id.into(),
            from_id: from_id.into(),
            reason: "a different story".into(),
            reviewer: "moderator-1".into(),
        };
        self.client.mark_distinct(request).await.map(tonic::Response::into_inner).map_err(|s| s.code())
    }

    async fn mark_duplicate(&mut self, article_id: &str, of_id: &str) -> Result<proto::VerdictResponse, Code> {
        let request = proto::MarkDuplicateRequest {
            article_id: article_id.into(),
            of_id: of_id.into(),
            reason: "the same story".into(),
            reviewer: "moderator-2".into(),
        };
        self.client.mark_duplicate(request).await.map(tonic::Response::into_inner).map_err(|s| s.code())
    }

    async fn set_canonical(&mut self, cluster_id: &str, article_id: &str) -> Result<proto::VerdictResponse, Code> {
        let request = proto::SetCanonicalRequest {
            cluster_id: cluster_id.into(),
            article_id: article_id.into(),
            reason: "the wire's own copy".into(),
            reviewer: "moderator-3".into(),
        };
        self.client.set_canonical(request).await.map(tonic::Response::into_inner).map_err(|s| s.code())
    }

    async fn verdicts(&mut self, page_size: u32, page_token: &str) -> proto::ListVerdictsResponse {
        let request = proto::ListVerdictsRequest { page_size, page_token: page_token.into() };
        self.client.list_verdicts(request).await.expect("list verdicts").into_inner()
    }
}

/// Starts the store's first server, in a blocking task for the shared cluster's first start.
async fn first_server(store: &str) -> (Replica, ServeConfig, Box<dyn Any + Send>) {
    let (config, guard) = new_store(store, "verdicts").await;
    (Replica::start(config.clone()).await, config, guard)
}

macro_rules! store_cases {
    (all: [$($case:ident),* $(,)?], redis: [$($redis_case:ident),* $(,)?] $(,)?) => {
        store_cases!(@store embedded: $($case),*);
        store_cases!(@store redis: $($case,)* $($redis_case),*);
        store_cases!(@store redis_cluster: $($case,)* $($redis_case),*);
    };
    (@store $store:ident: $($case:ident),*) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(stringify!($store)).await;
                }
            )*
        }
    };
}

store_cases!(
    all: [
        a_split_survives_a_restart_and_holds_against_the_next_copy,
        a_forced_merge_survives_a_restart_and_takes_the_next_copy,
        a_canonical_override_survives_a_restart_and_later_copies,
        verdicts_refuse_what_they_cannot_do,
    ],
    redis: [a_second_replica_honours_a_verdict_made_on_the_first],
);

// ---------------------------------------------------------------------------------------------------

/// An original, a spun copy `b` of it, and a near copy of `b`: one cluster, canonical the original.
async fn seed_story(replica: &mut Replica) -> String {
    let original = text(7, 400);
    let b = spun(&original, 12, 1);
    let cluster = replica.ingest(article("orig", &original, 0)).await.cluster_id;
    for (id, body, minutes) in [("b", b.clone(), 10), ("b-copy", spun(&b, 3, 2), 20)] {
        let placed = replica.ingest(article(id, &body, minutes)).await;
        assert_eq!((placed.cluster_id.as_str(), placed.canonical_id.as_str()), (cluster.as_str(), "orig"), "{id}");
    }
    cluster
}

/// `MarkDistinct` moves `b` and the copy closer to it than to the original into a new cluster; both
/// sides keep their canonicals. After a restart the split stands, and a new copy of `b`, which
/// matches the original too, joins `b`'s side without merging the two back. The verdict is logged
/// with who and why; repeating it is accepted.
async fn a_split_survives_a_restart_and_holds_against_the_next_copy(store: &str) {
    let (mut first, config, _guard) = first_server(store).await;
    let from = seed_story(&mut first).await;
    let split = first.mark_distinct("b", "orig").await.expect("mark distinct");
    assert_eq!(split.moved_ids, ["b", "b-copy"]);
    assert_eq!((split.canonical_id.as_str(), split.from_canonical_id.as_str()), ("b", "orig"));
    let verdict = split.verdict.expect("the verdict");
    assert_eq!(verdict.kind(), VerdictKind::Distinct);
    assert_eq!((verdict.article_id.as_str(), verdict.other_id.as_str()), ("b", "orig"));
    assert_eq!((verdict.from_cluster_id.as_str(), verdict.reviewer.as_str()), (from.as_str(), "moderator-1"));
    let into = verdict.cluster_id.clone();
    assert_ne!(into, from);
    first.stop().await;

    let mut second = Replica::start(config).await;
    assert_eq!(second.cluster(&from).await, ("orig".into(), vec!["orig".into()]));
    assert_eq!(second.cluster(&into).await, ("b".into(), vec!["b".into(), "b-copy".into()]));
    let copy = article("b-again", &spun(&split_source(), 4, 3), 30);
    let checked = second.client.check(proto::CheckRequest { article: Some(copy.clone()) }).await.expect("check");
    assert_eq!(checked.into_inner().cluster_id, into, "check predicts the side the ingest joins");
    let next = second.ingest(copy).await;
    assert!(next.matches.iter().any(|m| m.id == "orig"), "the new copy matches the original too: {next:?}");
    assert_eq!((next.cluster_id.as_str(), next.canonical_id.as_str()), (into.as_str(), "b"));
    assert_eq!(second.cluster_of("orig").await, from, "the clusters stay apart");

    let again = second.mark_distinct("b", "orig").await.expect("a repeated verdict is accepted");
    assert_eq!(again.verdict.expect("the verdict").cluster_id, into);
    let log = second.verdicts(10, "").await;
    assert_eq!(
        log.verdicts.iter().map(|v| (v.seq, v.reason.as_str())).collect::<Vec<_>>(),
        [(2, "a different story"), (1, "a different story")]
    );
    second.stop().await;
}

/// `b`'s text in [`seed_story`].
fn split_source() -> String {
    spun(&text(7, 400), 12, 1)
}

/// `MarkDuplicate` unites two unrelated stories under the older cluster; after a restart they are
/// still one, and a copy of either joins it. A split lifted by `MarkDuplicate` lets copies bridge the
/// two again.
async fn a_forced_merge_survives_a_restart_and_takes_the_next_copy(store: &str) {
    let (mut first, config, _guard) = first_server(store).await;
    let one = first.ingest(article("one", &text(11, 400), 0)).await.cluster_id;
    let two = first.ingest(article("two", &text(12, 400), 5)).await.cluster_id;
    assert_ne!(one, two);
    let merged = first.mark_duplicate("two", "one").await.expect("mark duplicate");
    assert_eq!(merged.canonical_id, "one");
    let verdict = merged.verdict.expect("the verdict");
    assert_eq!((verdict.kind(), verdict.cluster_id.as_str()), (VerdictKind::Duplicate, one.as_str()));
    first.stop().await;

    let mut second = Replica::start(config).await;
    assert_eq!(second.cluster_of("two").await, one);
    let copy = second.ingest(article("two-copy", &spun(&text(12, 400), 5, 4), 10)).await;
    assert_eq!((copy.cluster_id.as_str(), copy.canonical_id.as_str()), (one.as_str(), "one"));
    assert_eq!(second.cluster(&two).await.1, ["one", "two", "two-copy"], "the absorbed id answers the survivor");

    // split, then lift it: the clusters are one again
    let split = second.mark_distinct("two", "one").await.expect("mark distinct");
    assert_eq!(split.moved_ids, ["two", "two-copy"]);
    let rejoined = second.mark_duplicate("two-copy", "one").await.expect("mark duplicate");
    assert_eq!(rejoined.verdict.expect("the verdict").cluster_id, one);
    assert_eq!(second.cluster(&one).await.1, ["one", "two", "two-copy"]);
    second.stop().await;
}

/// `SetCanonical` pins a later copy as the canonical; after a restart it still is, an earlier copy
/// arriving does not take over, and once the pinned article is deleted the automatic order applies.
async fn a_canonical_override_survives_a_restart_and_later_copies(store: &str) {
    let (mut first, config, _guard) = first_server(store).await;
    let original = text(21, 400);
    let cluster = first.ingest(article("wire", &original, 10)).await.cluster_id;
    let copy = first.ingest(article("paper", &spun(&original, 6, 5), 20)).await;
    assert_eq!(copy.canonical_id, "wire");
    let pinned = first.set_canonical(&cluster, "paper").await.expect("set canonical");
    assert_eq!(pinned.canonical_id, "paper");
    assert_eq!(pinned.verdict.expect("the verdict").kind(), VerdictKind::Canonical);
    first.stop().await;

    let mut second = Replica::start(config).await;
    assert_eq!(second.cluster(&cluster).await, ("paper".into(), vec!["paper".into(), "wire".into()]));
    let early = second.ingest(article("early", &spun(&original, 4, 6), 0)).await;
    assert_eq!((early.cluster_id.as_str(), early.canonical_id.as_str()), (cluster.as_str(), "paper"));
    assert!(early.duplicate);
    second
        .client
        .delete_article(proto::DeleteArticleRequest { id: "paper".into() })
        .await
        .expect("delete the pinned article");
    assert_eq!(second.cluster(&cluster).await.0, "early", "the automatic order applies again");
    let log = second.verdicts(1, "").await;
    assert_eq!(log.verdicts.len(), 1);
    assert_eq!(log.next_page_token, "", "one verdict: the last page");
    second.stop().await;
}

/// Unknown ids are `NOT_FOUND`, the same id twice `INVALID_ARGUMENT`, two articles of different clusters
/// `FAILED_PRECONDITION`, a missing reviewer `INVALID_ARGUMENT`; nothing is logged for any of them. The
/// log pages newest first and refuses a token it did not give.
async fn verdicts_refuse_what_they_cannot_do(store: &str) {
    let (mut replica, _config, _guard) = first_server(store).await;
    let cluster = seed_story(&mut replica).await;
    let other = replica.ingest(article("other", &text(31, 400), 0)).await.cluster_id;
    assert_eq!(replica.mark_distinct("b", "nope").await.err(), Some(Code::NotFound));
    assert_eq!(replica.mark_distinct("nope", "b").await.err(), Some(Code::NotFound));
    assert_eq!(replica.mark_distinct("b", "b").await.err(), Some(Code::InvalidArgument));
    assert_eq!(replica.mark_distinct("b", "other").await.err(), Some(Code::FailedPrecondition));
    assert_eq!(replica.mark_duplicate("b", "b").await.err(), Some(Code::InvalidArgument));
    assert_eq!(replica.mark_duplicate("b", "nope").await.err(), Some(Code::NotFound));
    assert_eq!(replica.set_canonical(&other, "b").await.err(), Some(Code::FailedPrecondition));
    assert_eq!(replica.set_canonical("0000000000000000-00000000", "b").await.err(), Some(Code::NotFound));
    let anonymous = proto::MarkDuplicateRequest { article_id: "b".into(), of_id: "other".into(), ..Default::default() };
    assert_eq!(replica.client.mark_duplicate(anonymous).await.err().map(|s| s.code()), Some(Code::InvalidArgument));
    assert!(replica.verdicts(10, "").await.verdicts.is_empty(), "refused verdicts are not logged");

    for _ in 0..3 {
        replica.set_canonical(&cluster, "b-copy").await.expect("set canonical");
    }
    let page = replica.verdicts(2, "").await;
    assert_eq!(page.verdicts.iter().map(|v| v.seq).collect::<Vec<_>>(), [3, 2]);
    let last = replica.verdicts(2, &page.next_page_token).await;
    assert_eq!(last.verdicts.iter().map(|v| v.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(last.next_page_token, "");
    let bad = proto::ListVerdictsRequest { page_size: 2, page_token: "not-a-token".into() };
    assert_eq!(replica.client.list_verdicts(bad).await.err().map(|s| s.code()), Some(Code::InvalidArgument));
    replica.stop().await;
}

/// Two replicas on one Redis: a split and a pin made on the first are honoured by ingests and reads
/// on the second, while both run.
async fn a_second_replica_honours_a_verdict_made_on_the_first(store: &str) {
    let (mut first, config, _guard) = first_server(store).await;
    let mut second = Replica::start(config).await;
    let from = seed_story(&mut first).await;
    let into = first.mark_distinct("b", "orig").await.expect("mark distinct").verdict.expect("verdict").cluster_id;
    let next = second.ingest(article("b-again", &spun(&split_source(), 4, 3), 30)).await;
    assert_eq!(next.cluster_id, into);
    assert_eq!(second.cluster_of("orig").await, from);
    first.set_canonical(&into, "b-again").await.expect("set canonical");
    assert_eq!(second.cluster(&into).await.0, "b-again");
    assert_eq!(second.verdicts(10, "").await.verdicts.len(), 2);
    first.stop().await;
    second.stop().await;
}

// ---------------------------------------------------------------------------------------------------
// identities

/// `message` with `authorization: Bearer <token>`.
fn with<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header value"));
    request
}

/// With API keys, a verdict records the caller's key name whatever `reviewer` says; a read key may
/// list verdicts but not give one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_records_the_callers_identity() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let keys = dir.path().join("keys");
    let text_of = |role: &str, name: &str, token: &str| format!("{} {role} {name}\n", token_hash(token));
    let auth = text_of("admin", "operator", "admin-token")
        + &text_of("moderate", "alice", "moderate-token")
        + &text_of("read", "dashboard", "read-token");
    std::fs::write(&keys, auth).expect("write the auth file");
    let config = ServeConfig {
        store: format!("embedded://{}", dir.path().join("data").display()),
        auth_file: Some(keys),
        ..ServeConfig::default()
    };
    let mut replica = Replica::start(config).await;
    for (id, seed) in [("x", 41), ("y", 42)] {
        let request = IngestRequest { article: Some(article(id, &text(seed, 300), 0)) };
        replica.client.ingest(with("admin-token", request)).await.expect("ingest");
    }
    let request = |reviewer: &str| proto::MarkDuplicateRequest {
        article_id: "y".into(),
        of_id: "x".into(),
        reason: "same".into(),
        reviewer: reviewer.into(),
    };
    let refused = replica.client.mark_duplicate(with("read-token", request("dashboard"))).await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::PermissionDenied));
    let done = replica.client.mark_duplicate(with("moderate-token", request("someone-else"))).await.expect("verdict");
    assert_eq!(done.into_inner().verdict.expect("verdict").reviewer, "alice");
    let listed = replica
        .client
        .list_verdicts(with("read-token", proto::ListVerdictsRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.verdicts.iter().map(|v| v.reviewer.as_str()).collect::<Vec<_>>(), ["alice"]);
    replica.stop().await;
}
