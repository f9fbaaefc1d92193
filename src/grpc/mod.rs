//! The gRPC layer: the `dedup.v1.Deduplicator` service over the [`Engine`].
//!
//! Each handler converts the request ([`convert`]), takes a slot of the server-wide concurrency limit,
//! calls the engine and converts the answer back; errors become statuses in [`status`] only. Nothing
//! here decides anything about articles.

pub mod convert;
pub mod status;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Identity;
use crate::engine::Engine;
use crate::engine::feed::{FeedFilter, parse_cursor};
use crate::engine::verdicts::{Review, Verdicted};
use crate::error::{Error, Result};
use crate::proto;
use crate::proto::deduplicator_server::Deduplicator;

/// How many articles of one `IngestStream` are processed at once. Responses still leave in request
/// order; this only overlaps the store round trips of consecutive articles. Each of them holds a slot of
/// the server-wide limit, taken before the article after it is read.
pub const STREAM_WINDOW: usize = 32;

/// The `Deduplicator` service: converts each request, holds a slot of the concurrency limit while
/// the engine works on it, and converts the answer or the error.
#[derive(Clone)]
pub struct DedupService {
    engine: Engine,
    /// Requests (and stream items) served at once, server-wide: past it, callers wait, and a stream
    /// stops reading its input, which pushes back on the client through HTTP/2 flow control.
    limit: Arc<Semaphore>,
    /// Cancelled at server shutdown: ends the streams that would run forever (`WatchDuplicates`).
    stopping: CancellationToken,
}

impl DedupService {
    /// Carries out a verdict under a permit, observed as `method`.
    async fn verdict(
        &self,
        method: &'static str,
        decide: impl Future<Output = Result<Verdicted>>,
    ) -> std::result::Result<Response<proto::VerdictResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let _permit = self.permit().await?;
            decide.await
        }
        .await;
        observe(method, started, &result);
        Ok(Response::new(convert::verdict_response(result?)))
    }

    /// A service over `engine` serving at most `concurrency_limit` requests (and stream items) at once.
    pub fn new(engine: Engine, concurrency_limit: usize) -> Self {
        DedupService {
            engine,
            limit: Arc::new(Semaphore::new(concurrency_limit.max(1))),
            stopping: CancellationToken::new(),
        }
    }

    /// The service, with its endless streams ending when `stopping` is cancelled.
    #[must_use]
    pub fn with_shutdown(self, stopping: CancellationToken) -> Self {
        DedupService { stopping, ..self }
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        acquire(self.limit.clone()).await
    }
}

/// A slot of the server-wide limit.
async fn acquire(limit: Arc<Semaphore>) -> Result<OwnedSemaphorePermit> {
    // the semaphore is never closed, so this cannot fail; map it anyway rather than panic
    limit.acquire_owned().await.map_err(|_| Error::Internal("concurrency limiter closed".into()))
}

/// Records the outcome of one call in the request metrics.
fn observe<T>(method: &'static str, started: Instant, result: &Result<T>) {
    let code = match result {
        Ok(_) => "OK",
        Err(error) => code_name(status::code(error)),
    };
    metrics::counter!("dedupd_requests_total", "method" => method, "code" => code).increment(1);
    metrics::histogram!("dedupd_request_seconds", "method" => method).record(started.elapsed().as_secs_f64());
}

/// A status code's canonical gRPC name (`INVALID_ARGUMENT`), the `code` label of the request metrics.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

type IngestStream = Pin<Box<dyn Stream<Item = std::result::Result<proto::IngestResponse, Status>> + Send>>;
type DuplicateStream = Pin<Box<dyn Stream<Item = std::result::Result<proto::DuplicateEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Deduplicator for DedupService {
    async fn ingest(
        &self,
        request: Request<proto::IngestRequest>,
    ) -> std::result::Result<Response<proto::IngestResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let article = convert::article(request.into_inner().article)?;
            let _permit = self.permit().await?;
            self.engine.ingest(article).await
        }
        .await;
        observe("Ingest", started, &result);
        Ok(Response::new(convert::ingest_response(result?)))
    }

    type IngestStreamStream = IngestStream;

    async fn ingest_stream(
        &self,
        request: Request<Streaming<proto::IngestRequest>>,
    ) -> std::result::Result<Response<Self::IngestStreamStream>, Status> {
        let service = self.clone();
        let limit = self.limit.clone();
        let responses = request
            .into_inner()
            // a message that cannot be read (transport error, too large, not protobuf) ends the
            // stream with its status, after the responses to everything before it
            .scan(false, |failed, item| {
                if *failed {
                    return std::future::ready(None);
                }
                *failed = item.is_err();
                std::future::ready(Some(item))
            })
            // one article at a time takes its slot of the server-wide limit *before* the next one is
            // read: `buffered` below pulls only while it has room, and this stage yields only with a
            // permit, so a full server stops reading every stream (HTTP/2 flow control then stops the
            // clients). Articles held in memory server-wide are at most the limit plus one per stream,
            // not `STREAM_WINDOW` per stream.
            .then(move |item| {
                let limit = limit.clone();
                async move {
                    let permit = match &item {
                        Ok(_) => Some(acquire(limit).await),
                        Err(_) => None,
                    };
                    (item, permit)
                }
            })
            .map(move |(item, permit)| {
                let service = service.clone();
                async move {
                    let item = item?;
                    let started = Instant::now();
                    let id = item.article.as_ref().map(|a| a.id.clone()).unwrap_or_default();
                    let result = async {
                        let _permit = permit.transpose()?;
                        let article = convert::article(item.article)?;
                        service.engine.ingest(article).await
                    }
                    .await;
                    observe("IngestStream", started, &result);
                    Ok(match result {
                        Ok(decision) => convert::ingest_response(decision),
                        Err(error) => {
                            proto::IngestResponse { id, error: status::stream_error(&error), ..Default::default() }
                        }
                    })
                }
            })
            .buffered(STREAM_WINDOW);
        Ok(Response::new(Box::pin(responses)))
    }

    async fn check(
        &self,
        request: Request<proto::CheckRequest>,
    ) -> std::result::Result<Response<proto::CheckResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let article = convert::article(request.into_inner().article)?;
            let _permit = self.permit().await?;
            self.engine.check(article).await
        }
        .await;
        observe("Check", started, &result);
        Ok(Response::new(convert::check_response(result?)))
    }

    async fn get_article(
        &self,
        request: Request<proto::GetArticleRequest>,
    ) -> std::result::Result<Response<proto::ArticleRecord>, Status> {
        let started = Instant::now();
        let result = self.engine.article(&request.into_inner().id).await;
        observe("GetArticle", started, &result);
        Ok(Response::new(convert::article_record(result?)))
    }

    async fn get_cluster(
        &self,
        request: Request<proto::GetClusterRequest>,
    ) -> std::result::Result<Response<proto::Cluster>, Status> {
        let started = Instant::now();
        let result = self.engine.cluster(&request.into_inner().cluster_id).await;
        observe("GetCluster", started, &result);
        let (cluster, members) = result?;
        Ok(Response::new(convert::cluster(cluster.cluster_id.0, members)))
    }

    async fn delete_article(
        &self,
        request: Request<proto::DeleteArticleRequest>,
    ) -> std::result::Result<Response<proto::DeleteArticleResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let _permit = self.permit().await?;
            self.engine.delete(&request.into_inner().id).await
        }
        .await;
        observe("DeleteArticle", started, &result);
        let deleted = result?;
        Ok(Response::new(proto::DeleteArticleResponse {
            deleted: deleted.deleted,
            canonical_id: deleted.canonical_id.unwrap_or_default(),
        }))
    }

    // ---------------------------------------------------------------------------------------------
    // moderation verdicts

    async fn mark_distinct(
        &self,
        request: Request<proto::MarkDistinctRequest>,
    ) -> std::result::Result<Response<proto::VerdictResponse>, Status> {
        let (identity, request) = identified(request);
        let review = review(identity.as_ref(), request.reviewer, request.reason);
        self.verdict("MarkDistinct", self.engine.mark_distinct(&request.article_id, &request.from_id, review)).await
    }

    async fn mark_duplicate(
        &self,
        request: Request<proto::MarkDuplicateRequest>,
    ) -> std::result::Result<Response<proto::VerdictResponse>, Status> {
        let (identity, request) = identified(request);
        let review = review(identity.as_ref(), request.reviewer, request.reason);
        self.verdict("MarkDuplicate", self.engine.mark_duplicate(&request.article_id, &request.of_id, review)).await
    }

    async fn set_canonical(
        &self,
        request: Request<proto::SetCanonicalRequest>,
    ) -> std::result::Result<Response<proto::VerdictResponse>, Status> {
        let (identity, request) = identified(request);
        let review = review(identity.as_ref(), request.reviewer, request.reason);
        self.verdict("SetCanonical", self.engine.set_canonical(&request.cluster_id, &request.article_id, review)).await
    }

    async fn list_verdicts(
        &self,
        request: Request<proto::ListVerdictsRequest>,
    ) -> std::result::Result<Response<proto::ListVerdictsResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let page_size = match request.page_size {
            0 => DEFAULT_VERDICTS_PER_PAGE,
            n => (n as usize).min(crate::engine::verdicts::MAX_VERDICTS_PER_PAGE),
        };
        let result = async {
            let before = convert::page_token(&request.page_token)?;
            self.engine.verdicts(before, page_size).await
        }
        .await;
        observe("ListVerdicts", started, &result);
        Ok(Response::new(convert::verdicts_page(result?, page_size)))
    }

    // the duplicate feed

    async fn list_duplicates(
        &self,
        request: Request<proto::ListDuplicatesRequest>,
    ) -> std::result::Result<Response<proto::ListDuplicatesResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let query = convert::feed_query(request.into_inner())?;
            let _permit = self.permit().await?;
            self.engine.list_duplicates(&query).await
        }
        .await;
        observe("ListDuplicates", started, &result);
        Ok(Response::new(convert::feed_page(result?)))
    }

    type WatchDuplicatesStream = DuplicateStream;

    /// The request metrics count the opening of a watch, not its lifetime.
    async fn watch_duplicates(
        &self,
        request: Request<proto::WatchDuplicatesRequest>,
    ) -> std::result::Result<Response<Self::WatchDuplicatesStream>, Status> {
        let started = Instant::now();
        let result = async {
            let request = request.into_inner();
            let after = match request.after_cursor.as_str() {
                "" => None,
                cursor => Some(parse_cursor("after_cursor", cursor)?),
            };
            let filter = FeedFilter::new(&request.source, request.min_similarity)?;
            self.engine.watch_duplicates(after, filter, self.stopping.clone()).await
        }
        .await;
        observe("WatchDuplicates", started, &result);
        let events =
            result?.map(|event| event.map(|event| convert::duplicate_event(event, false)).map_err(Status::from));
        Ok(Response::new(Box::pin(events)))
    }

    async fn explain(
        &self,
        request: Request<proto::ExplainRequest>,
    ) -> std::result::Result<Response<proto::Explanation>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let result = async {
            let _permit = self.permit().await?;
            self.engine.explain(&request.a_id, &request.b_id).await
        }
        .await;
        observe("Explain", started, &result);
        Ok(Response::new(convert::explanation(result?)))
    }

    async fn explain_text(
        &self,
        request: Request<proto::ExplainTextRequest>,
    ) -> std::result::Result<Response<proto::Explanation>, Status> {
        let started = Instant::now();
        let result = async {
            let (a, b) = convert::article_pair(request.into_inner())?;
            let _permit = self.permit().await?;
            self.engine.explain_text(a, b).await
        }
        .await;
        observe("ExplainText", started, &result);
        Ok(Response::new(convert::explanation(result?)))
    }
}

/// Verdicts a `ListVerdicts` page holds when the request names no size.
pub const DEFAULT_VERDICTS_PER_PAGE: usize = 50;

/// The identity a request was made as (see [`crate::auth`]), and the request.
fn identified<T>(request: Request<T>) -> (Option<Identity>, T) {
    let identity = request.extensions().get::<Identity>().cloned();
    (identity, request.into_inner())
}

/// Who gives a verdict: the caller's verified identity (an API key's name, or a client certificate's
/// subject under mutual TLS), else the `reviewer` the request names.
fn review(identity: Option<&Identity>, reviewer: String, reason: String) -> Review {
    match identity {
        Some(identity) if identity.role.is_some() || identity.name != ANONYMOUS => {
            Review { reviewer: identity.name.clone(), reason }
        }
        _ => Review { reviewer, reason },
    }
}

/// The name [`crate::auth`] gives a caller it knows nothing about.
const ANONYMOUS: &str = "anonymous";
