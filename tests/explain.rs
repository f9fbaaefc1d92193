//! `Explain` and `ExplainText` end to end, and kept text: the real server on `127.0.0.1:0` over the
//! embedded store (in a temporary directory), a real `redis-server` and a real three-master Redis
//! Cluster (shared by the tests of this file, a namespace each).
//!
//! [`explain_cases!`] turns every (store, case) pair into its own test: `cargo test --test explain
//! redis_cluster::` runs one store.

mod common;

use std::any::Any;
use std::sync::Arc;

use dedupd::config::ServeConfig;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, Article, IngestRequest};
use dedupd::server::Server;
use dedupd::store::Store;
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;

use dedupd::synthetic::{Synthetic, spun};

use common::{article, new_store};

/// The server under test and its client.
struct Harness {
    server: Option<Server>,
    client: DeduplicatorClient<Channel>,
    config: ServeConfig,
    guard: Box<dyn Any + Send>,
}

impl Harness {
    /// A server on a new store of kind `store`, with `keep_text` as given (`None`: the default).
    async fn start(store: &str, keep_text: Option<bool>) -> Harness {
        let (config, guard) = new_store(store, "explain").await;
        let config = ServeConfig { keep_text, ..config };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let server = Server::start(config.clone(), listener).await.expect("server starts");
        let client = DeduplicatorClient::connect(server.url()).await.expect("client connects");
        Harness { server: Some(server), client, config, guard }
    }

    async fn ingest(&mut self, article: Article) -> proto::IngestResponse {
        let id = article.id.clone();
        self.client
            .ingest(IngestRequest { article: Some(article) })
            .await
            .unwrap_or_else(|status| panic!("ingest {id}: {status}"))
            .into_inner()
    }

    async fn explain(&mut self, a: &str, b: &str) -> Result<proto::Explanation, tonic::Status> {
        let request = proto::ExplainRequest { a_id: a.into(), b_id: b.into() };
        self.client.explain(request).await.map(tonic::Response::into_inner)
    }

    async fn explain_text(&mut self, a: Article, b: Article) -> proto::Explanation {
        let request = proto::ExplainTextRequest { a: Some(a), b: Some(b) };
        self.client.explain_text(request).await.unwrap_or_else(|status| panic!("explain text: {status}")).into_inner()
    }

    /// Stops the server and opens its store directly, as the next server would.
    async fn stop_and_open_store(mut self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        let store = dedupd::store::open(&self.config.store, &self.config.data_dir, self.config.namespace.as_deref())
            .await
            .expect("open the store");
        (store, self.guard)
    }
}

fn story(seed: u64) -> String {
    Synthetic::new(seed).story_text(0)
}

/// The characters of `text` a span covers.
fn chars(text: &str, span: Option<&proto::Span>) -> String {
    let span = span.expect("a span");
    text.chars().skip(span.start as usize).take((span.end - span.start) as usize).collect()
}

macro_rules! explain_cases {
    ($($case:ident),* $(,)?) => {
        explain_cases!(@store embedded: $($case),*);
        explain_cases!(@store redis: $($case),*);
        explain_cases!(@store redis_cluster: $($case),*);
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

explain_cases!(
    explain_by_ids_reads_the_kept_texts,
    explain_without_kept_text_is_a_failed_precondition,
    explain_text_agrees_with_what_ingest_decided,
    a_deleted_article_takes_its_text_along,
);

/// With kept text (the embedded store's default; Redis with `--keep-text`), `Explain` by ids answers
/// from the texts as they were sent: the verdict of the ingest, and spans that point into the texts
/// it returns.
async fn explain_by_ids_reads_the_kept_texts(store: &str) {
    let keep = if store == "embedded" { None } else { Some(true) };
    let mut h = Harness::start(store, keep).await;
    let original = format!("<p>{}</p>", story(1));
    let copy = spun(&story(1), 25, 4);
    h.ingest(article("orig", &original, 0)).await;
    let ingested = h.ingest(article("copy", &copy, 60)).await;
    assert!(ingested.duplicate);

    let explained = h.explain("orig", "copy").await.expect("explain");
    assert!(explained.copy, "{explained:?}");
    assert!(["words", "skeleton"].contains(&explained.rule.as_str()), "{}", explained.rule);
    let matched = &ingested.matches[0];
    assert_eq!((explained.similarity, explained.hamming_distance), (matched.similarity, matched.hamming_distance));
    let (a, b) = (explained.a.as_ref().expect("a"), explained.b.as_ref().expect("b"));
    assert_eq!((a.id.as_str(), a.text.as_str(), b.text.as_str()), ("orig", original.as_str(), copy.as_str()));
    assert!(a.set_aside.iter().any(|s| s.kind() == proto::set_aside::Kind::Markup));
    assert!(explained.shared.len() > 5 && !explained.differences.is_empty());
    for passage in &explained.shared {
        let (in_a, in_b) = (chars(&a.text, passage.a.as_ref()), chars(&b.text, passage.b.as_ref()));
        assert_eq!(in_a.replace("</p>", ""), in_b, "a shared passage is the same words");
    }
    // either way round
    let reversed = h.explain("copy", "orig").await.expect("explain");
    assert_eq!((reversed.copy, reversed.similarity), (explained.copy, explained.similarity));
    assert_eq!(h.explain("orig", "nobody").await.expect_err("unknown").code(), Code::NotFound);
    assert_eq!(h.explain("", "copy").await.expect_err("empty id").code(), Code::InvalidArgument);
}

/// Without kept text (Redis's default; the embedded store with `--keep-text=false`), `Explain` by
/// ids is refused with `FAILED_PRECONDITION` naming the option, and an unknown id is still `NOT_FOUND`.
async fn explain_without_kept_text_is_a_failed_precondition(store: &str) {
    let keep = if store == "embedded" { Some(false) } else { None };
    let mut h = Harness::start(store, keep).await;
    h.ingest(article("orig", &story(2), 0)).await;
    h.ingest(article("copy", &story(2), 60)).await;
    let status = h.explain("orig", "copy").await.expect_err("no kept text");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status}");
    assert!(status.message().contains("--keep-text"), "{}", status.message());
    assert_eq!(h.explain("nobody", "copy").await.expect_err("unknown").code(), Code::NotFound);
}

/// `ExplainText` on a verbatim copy, a spun copy and an unrelated text says what `Ingest` then
/// decides for the same pair: copy or not, with the ingest's similarity and Hamming distance.
async fn explain_text_agrees_with_what_ingest_decided(store: &str) {
    let mut h = Harness::start(store, None).await;
    let pairs = [
        ("verbatim", story(3), format!("From the wire: {}", story(3)), true),
        ("spun", story(4), spun(&story(4), 30, 5), true),
        ("unrelated", story(5), story(6), false),
    ];
    for (name, a, b, copy) in pairs {
        let (a, b) = (article(&format!("{name}-a"), &a, 0), article(&format!("{name}-b"), &b, 60));
        let explained = h.explain_text(a.clone(), b.clone()).await;
        assert_eq!(explained.copy, copy, "{name}: {explained:?}");
        assert!(explained.a.as_ref().is_some_and(|a| a.text.is_empty()), "the caller has the texts");
        h.ingest(a).await;
        let ingested = h.ingest(b).await;
        assert_eq!(ingested.duplicate, explained.copy, "{name}");
        match ingested.matches.first() {
            Some(matched) => {
                assert_eq!(matched.similarity, explained.similarity, "{name}");
                assert_eq!(matched.hamming_distance, explained.hamming_distance, "{name}");
            }
            None => assert!(!explained.copy && explained.rule.is_empty(), "{name}"),
        }
    }
    // a missing or invalid article names its side
    let request = proto::ExplainTextRequest { a: Some(article("x", "text", 0)), b: None };
    let status = h.client.explain_text(request).await.expect_err("no b");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("invalid b"), "{}", status.message());
    let request = proto::ExplainTextRequest { a: Some(article("x", "text", 0)), b: Some(article("y", " ", 0)) };
    let status = h.client.explain_text(request).await.expect_err("empty body");
    assert!(status.message().contains("b.body"), "{}", status.message());
}

/// `DeleteArticle` removes the kept text with the article: gone from the store, which another
/// article's text is not.
async fn a_deleted_article_takes_its_text_along(store: &str) {
    let mut h = Harness::start(store, Some(true)).await;
    h.ingest(article("gone", &story(7), 0)).await;
    h.ingest(article("kept", &story(8), 0)).await;
    h.explain("gone", "kept").await.expect("both texts are kept");
    let deleted =
        h.client.delete_article(proto::DeleteArticleRequest { id: "gone".into() }).await.expect("delete").into_inner();
    assert!(deleted.deleted);
    assert_eq!(h.explain("gone", "kept").await.expect_err("deleted").code(), Code::NotFound);
    let (store, _guard) = h.stop_and_open_store().await;
    assert_eq!(store.text("gone").await.expect("read"), None, "the text went with the article");
    assert!(store.text("kept").await.expect("read").is_some());
}
