//! Requests as a client can send them, through the real path: protobuf bytes decoded as the server
//! does, the wire→domain conversion, validation, then the engine (`Ingest`, `Check`, `GetArticle`,
//! `GetCluster`, `DeleteArticle`) on a memory store. No input may panic, and every refusal must be
//! the client's fault (`INVALID_ARGUMENT`, `OUT_OF_RANGE`, `NOT_FOUND`), never `INTERNAL`.
//!
//! The input is either raw bytes of an `IngestRequest` (first byte even) or a structured article
//! whose fields the fuzzer picks (first byte odd), so that both the decoder and the engine get far.

#![no_main]

use std::sync::{Arc, OnceLock};

use dedupd::engine::{Engine, EngineConfig};
use dedupd::grpc::{convert, status};
use dedupd::proto;
use dedupd::store::memory::MemoryStore;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tonic::Code;

#[derive(Debug, Arbitrary)]
struct Fields {
    id: String,
    url: String,
    source: String,
    title: String,
    body: String,
    published_at: Option<(i64, i32)>,
    /// Also ingest a copy under another id (exercises matching and clusters).
    copy: bool,
    delete: bool,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
}

/// Fails the run if a refusal is not the client's fault.
fn client_fault<T>(what: &str, result: &dedupd::error::Result<T>) {
    if let Err(error) = result {
        let code = status::code(error);
        assert!(matches!(code, Code::InvalidArgument | Code::OutOfRange | Code::NotFound), "{what}: {code:?}: {error}");
    }
}

fn request(data: &[u8]) -> Option<(proto::IngestRequest, bool, bool)> {
    let (&selector, rest) = data.split_first()?;
    if selector % 2 == 0 {
        return proto::IngestRequest::decode(rest).ok().map(|request| (request, false, false));
    }
    let fields = Fields::arbitrary(&mut Unstructured::new(rest)).ok()?;
    let article = proto::Article {
        id: fields.id,
        url: fields.url,
        source: fields.source,
        title: fields.title,
        body: fields.body,
        published_at: fields.published_at.map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
    };
    // what the client's library writes is what the server reads
    let bytes = proto::IngestRequest { article: Some(article) }.encode_to_vec();
    let request = proto::IngestRequest::decode(bytes.as_slice()).expect("an encoded request decodes");
    Some((request, fields.copy, fields.delete))
}

fuzz_target!(|data: &[u8]| {
    let Some((request, copy, delete)) = request(data) else { return };
    runtime().block_on(async {
        let config = EngineConfig { max_body_bytes: 64 * 1024, ..EngineConfig::default() };
        let engine = Engine::new(Arc::new(MemoryStore::new()), config);
        let article = convert::article(request.article.clone());
        client_fault("convert", &article);
        let Ok(article) = article else { return };
        let checked = engine.check(article.clone()).await;
        client_fault("check", &checked);
        let ingested = engine.ingest(article.clone()).await;
        client_fault("ingest", &ingested);
        assert_eq!(checked.is_ok(), ingested.is_ok(), "check and ingest accept the same articles");
        let Ok(decision) = ingested else { return };
        assert!(!decision.duplicate, "alone in its store, an article is its own canonical");
        let view = engine.article(&article.id).await.expect("an ingested article reads back");
        assert_eq!(view.article.meta.id, article.id);
        let again = engine.ingest(article.clone()).await.expect("a re-ingest of the same article");
        assert_eq!(again.cluster_id, decision.cluster_id, "a re-ingest changes nothing");
        if copy {
            let twin = dedupd::domain::Article { id: format!("{}~copy", article.id), ..article.clone() };
            let result = engine.ingest(twin).await;
            client_fault("ingest copy", &result);
            if let Ok(twin) = result {
                let view = engine.article(&twin.id).await.expect("an ingested copy reads back");
                assert_eq!(view.article.cluster_id, twin.cluster_id);
            }
        }
        let cluster_id = decision.cluster_id.as_ref().map(|c| c.as_str().to_string()).unwrap_or_default();
        let cluster = engine.cluster(&cluster_id).await;
        client_fault("cluster", &cluster);
        if delete {
            let deleted = engine.delete(&article.id).await.expect("delete an ingested article");
            assert!(deleted.deleted);
            assert!(engine.article(&article.id).await.is_err(), "a deleted article is gone");
        }
        let response = convert::ingest_response(decision);
        let _ = proto::IngestResponse::decode(response.encode_to_vec().as_slice()).expect("the answer decodes");
    });
});
