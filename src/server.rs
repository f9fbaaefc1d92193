//! Server lifecycle: open the store, serve the gRPC service with health (and reflection when asked),
//! to gRPC clients and to browsers over gRPC-Web (CORS for the `--cors-origin`s), behind the API-key
//! check ([`crate::auth`]) and TLS ([`crate::tls`]) when configured; serve `/metrics` and the review
//! page on the HTTP listener ([`crate::http`]) when asked; reload keys and certificates on SIGHUP;
//! drain on shutdown.
//!
//! [`Server::start`] takes a bound listener, so tests start the real server on `127.0.0.1:0` in process
//! exactly as `dedupd serve` does. Shutdown is a [`CancellationToken`]: the health service turns to
//! `NOT_SERVING`, the listener stops accepting, requests in flight finish (up to the grace period), then
//! the store is dropped, which lets the embedded store commit and release its lock.
//!
//! With `--retention`, a sweeper task expires articles that fell out of the window: every
//! `--retention-sweep` it calls [`Engine::expire`] in batches of [`EXPIRE_BATCH`] until nothing before
//! the cutoff is left. Batches keep each store call bounded, and several replicas may sweep one store
//! at once: every store's expiry is idempotent. Shutdown stops it (a batch cut short is finished by
//! the next sweep) before the store is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::codegen::http::{HeaderName, HeaderValue, Method, Uri, header};
use tonic::transport::server::TcpIncoming;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::{Auth, AuthLayer};
use crate::config::ServeConfig;
use crate::deadline::DeadlineLayer;
use crate::domain::{now_micros, rfc3339};
use crate::engine::Engine;
use crate::grpc::DedupService;
use crate::limits::{LimitLayer, Limits, cap_connections};
use crate::proto::deduplicator_server::DeduplicatorServer;
use crate::review::ReviewPage;
use crate::store::{self, Store};
use crate::tls::Tls;

/// Largest gRPC message decoded: twice the body limit plus room for the other fields, so that a body
/// somewhat over the limit still reaches validation and gets `INVALID_ARGUMENT` naming `article.body`;
/// only a message far beyond it is refused by the transport (`OUT_OF_RANGE`) before it is read.
fn max_message_bytes(config: &ServeConfig) -> usize {
    config.max_body_bytes.saturating_mul(2).saturating_add(1024 * 1024)
}

/// The connections a listener accepts, with `TCP_NODELAY` set, as `Server::serve` would set it (a
/// listener passed in gets no socket options unless asked). Without it, Nagle's algorithm holds back
/// the last segment of an answer until the client acknowledges the first, and some answers wait for
/// the client's delayed acknowledgement.
fn accepted(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Stored articles a starting server learns its boilerplate model from by default (the most recently
/// published; see [`Engine::warm_up`] and `--warm-up-articles`): enough for every active source to show
/// its footers, and a bound on the time a start takes (the cost per article of each store is in
/// `docs/performance.md`, *Warm-up*).
pub const WARM_UP_ARTICLES: usize = 200_000;

/// The longest a warm-up may delay serving: each store call has its own deadline, but a slow store
/// could still take minutes over [`WARM_UP_ARTICLES`] articles. Past it the server starts with an
/// empty model.
const WARM_UP_DEADLINE: Duration = Duration::from_secs(60);

/// Articles one expiry call removes at most: one journal commit on the embedded store; on Redis, a
/// few short scripts (see the store).
pub const EXPIRE_BATCH: usize = 256;

/// The CORS policy of the gRPC listener: gRPC-Web calls from pages of `origins` (`scheme://host[:port]`,
/// checked here) may send the headers a gRPC-Web client sends and read the status trailers; other
/// origins get no CORS headers, so their browsers refuse the answer.
fn cors(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let mut allowed = Vec::with_capacity(origins.len());
    for origin in origins {
        let origin = origin.trim().trim_end_matches('/');
        let uri: Uri = origin.parse().map_err(|_| anyhow::anyhow!("--cors-origin {origin:?} is not an origin"))?;
        let is_origin = matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.authority().is_some()
            && uri.path_and_query().is_none_or(|p| p.as_str() == "/");
        if !is_origin {
            anyhow::bail!("--cors-origin {origin:?} is not an origin: expected scheme://host[:port]");
        }
        allowed.push(HeaderValue::from_str(origin)?);
    }
    let grpc_web = ["x-grpc-web", "x-user-agent", "grpc-timeout"].map(HeaderName::from_static);
    let headers: Vec<HeaderName> = [header::CONTENT_TYPE, header::AUTHORIZATION].into_iter().chain(grpc_web).collect();
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::POST])
        .allow_headers(headers)
        .expose_headers(["grpc-status", "grpc-message", "grpc-status-details-bin"].map(HeaderName::from_static))
        .max_age(Duration::from_secs(24 * 3600)))
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    auth: Auth,
    tls: Option<Tls>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Opens the configured store and serves on `listener` until [`Server::shutdown`] (or the token
    /// passed here) is cancelled.
    pub async fn start(config: ServeConfig, listener: TcpListener) -> anyhow::Result<Server> {
        if config.http_listen.is_some() {
            // before the store opens, so that what opening it records is exported
            crate::telemetry::metrics()?;
        }
        let store =
            store::open_with(&config.store, &config.data_dir, config.namespace.as_deref(), &config.redis()).await?;
        Self::start_with_store(config, listener, store).await
    }

    /// Like [`Server::start`], with a store the caller opened.
    pub async fn start_with_store(
        config: ServeConfig,
        listener: TcpListener,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Server> {
        let addr = listener.local_addr()?;
        let auth = Auth::open(config.auth_file.as_deref())?;
        if auth.enabled() {
            tracing::info!(keys = auth.key_count(), "api keys required");
        } else {
            tracing::warn!("no --auth-file: every client that reaches the port may call everything");
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(Tls::new(cert, key, config.tls_client_ca.as_deref())?),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        let limits = Limits::new(config.rate_limit, config.rate_burst, config.max_streams_per_identity)?;
        let cors = cors(&config.cors_origins)?;
        let http_listener = match config.http_listen {
            Some(http) => Some(
                TcpListener::bind(http).await.map_err(|e| anyhow::anyhow!("cannot listen for http on {http}: {e}"))?,
            ),
            None => None,
        };
        let http_addr = http_listener.as_ref().map(TcpListener::local_addr).transpose()?;
        let metrics_handle = if http_listener.is_some() { Some(crate::telemetry::metrics()?) } else { None };
        let shutdown = CancellationToken::new();
        metrics::gauge!("dedupd_info", "version" => env!("CARGO_PKG_VERSION"), "store" => store.kind()).set(1.0);
        let store = store::metered::Metered::wrap(store);
        let engine = Engine::new(store.clone(), config.engine());
        let started = std::time::Instant::now();
        // a warm-up that fails or runs out of time (a store that errs or answers slowly at start)
        // leaves the model empty, as it was before warm-ups: a reason to log, not to refuse to serve
        match tokio::time::timeout(WARM_UP_DEADLINE, engine.warm_up(config.warm_up_articles)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(learned)) => {
                let elapsed_ms = started.elapsed().as_millis() as u64;
                tracing::info!(articles = learned, elapsed_ms, "boilerplate model learned from stored articles");
            }
            Ok(Err(error)) => tracing::warn!(%error, "boilerplate warm-up failed; the model starts empty"),
            Err(_) => {
                let deadline_s = WARM_UP_DEADLINE.as_secs();
                tracing::warn!(deadline_s, "boilerplate warm-up ran out of time; the model starts empty");
            }
        }
        let sweeper = engine.retention().map(|retention| {
            let every = humantime::format_duration(config.retention_sweep);
            tracing::info!(retention = %humantime::format_duration(retention), %every, "retention on");
            spawn_sweeper(engine.clone(), config.retention_sweep, shutdown.clone())
        });
        let feed_poller = {
            let (engine, stopping) = (engine.clone(), shutdown.clone());
            tokio::spawn(async move { engine.poll_feed(crate::engine::feed::POLL_INTERVAL, stopping).await })
        };
        let http = match (http_listener, metrics_handle) {
            (Some(listener), Some(metrics)) => {
                let review = ReviewPage::new(engine.clone(), auth.clone(), tls.is_some(), shutdown.clone());
                let router = crate::http::router(metrics, review);
                Some(tokio::spawn(crate::http::serve(listener, tls.clone(), router, shutdown.clone())))
            }
            _ => None,
        };
        let service = DedupService::new(engine, config.concurrency_limit).with_shutdown(shutdown.clone());
        let max_message = max_message_bytes(&config);
        let dedup = DeduplicatorServer::new(service)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message);

        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter.set_serving::<DeduplicatorServer<DedupService>>().await;
        let reflection = if config.reflection {
            Some(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
                    .build_v1()?,
            )
        } else {
            None
        };

        let mutual = config.tls_client_ca.is_some();
        tracing::info!(%addr, store = store.kind(), tls = tls.is_some(), mutual_tls = mutual, "dedupd serving");
        let router = tonic::transport::Server::builder()
            // gRPC-Web clients (browsers) speak HTTP/1.1 too
            .accept_http1(true)
            .trace_fn(|request| tracing::info_span!("grpc", path = %request.uri().path()))
            // outermost: its clock must start with tonic's (see `deadline`)
            .layer(DeadlineLayer)
            .layer(cors)
            .layer(tonic_web::GrpcWebLayer::new())
            .layer(AuthLayer::new(auth.clone()))
            .layer(LimitLayer::new(limits))
            .add_service(health)
            .add_optional_service(reflection)
            .add_service(dedup);
        let serve_tls = tls.clone();
        let stopping = shutdown.clone();
        let grace = config.shutdown_grace;
        let max_connections = config.max_connections;
        let task = tokio::spawn(async move {
            let signal = {
                let stopping = stopping.clone();
                async move {
                    stopping.cancelled().await;
                    health_reporter.set_not_serving::<DeduplicatorServer<DedupService>>().await;
                    // the server as a whole too, for probes that name no service
                    health_reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
                    tracing::info!("shutting down: draining requests in flight");
                }
            };
            let mut serve: std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> =
                match serve_tls {
                    Some(tls) => {
                        // capped before the handshake, so that handshakes in progress count too
                        let capped = cap_connections(accepted(listener), max_connections);
                        Box::pin(router.serve_with_incoming_shutdown(tls.incoming(capped, stopping.clone()), signal))
                    }
                    None => Box::pin(
                        router
                            .serve_with_incoming_shutdown(cap_connections(accepted(listener), max_connections), signal),
                    ),
                };
            let http_abort = http.as_ref().map(JoinHandle::abort_handle);
            let serving = async {
                let served = (&mut serve).await;
                // the http listener drains on the same token; it holds the engine (and the store) too
                if let Some(http) = http {
                    match http.await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => tracing::warn!(%error, "http listener failed"),
                        Err(error) => tracing::warn!(%error, "http listener task failed"),
                    }
                }
                served
            };
            let served = tokio::select! {
                served = serving => served,
                () = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
                    tracing::warn!(?grace, "grace period over: dropping requests still in flight");
                    if let Some(http) = http_abort {
                        http.abort();
                    }
                    Ok(())
                }
            };
            // the feed's poller holds the store too
            stopping.cancel();
            let _ = feed_poller.await;
            if let Some(sweeper) = sweeper {
                // it holds the store too; the token stops it (cancelled here as well in case serving
                // ended on its own, by an error)
                stopping.cancel();
                let _ = sweeper.await;
            }
            // the embedded store's drop waits for its journal's last commit: not on a runtime thread
            let _ = tokio::task::spawn_blocking(move || drop(store)).await;
            served.map_err(anyhow::Error::from)
        });
        Ok(Server { addr, http_addr, auth, tls, shutdown, task })
    }

    /// The address the gRPC listener is bound to (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients connect to: `https://` with TLS, `http://` without.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// The address the HTTP listener (`/metrics`, `/review`) is bound to, when there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The URL of the HTTP listener (`https://` with TLS), when there is one.
    pub fn http_url(&self) -> Option<String> {
        self.http_addr.map(|addr| format!("{}://{addr}", self.scheme()))
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Reads the auth file and the TLS files (certificate, key, client CA) again, as SIGHUP does. What
    /// fails to load is logged and keeps its previous version in force; the other part still reloads.
    /// Returns whether everything reloaded.
    pub fn reload(&self) -> bool {
        self.reloader().reload()
    }

    /// What [`Server::reload`] reloads, for a task that outlives the borrow (the SIGHUP handler).
    pub fn reloader(&self) -> Reloader {
        Reloader { auth: self.auth.clone(), tls: self.tls.clone() }
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, drains requests in flight (up to the grace period) and waits until the server
    /// task has released its handle on the store. Connections still open after the grace period keep
    /// theirs until they end, so the store closes only then.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server has stopped (after its token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.map_err(|e| anyhow::anyhow!("server task failed: {e}"))?
    }
}

/// The auth file and TLS files of a server, reloaded together; see [`Server::reload`].
#[derive(Debug, Clone)]
pub struct Reloader {
    auth: Auth,
    tls: Option<Tls>,
}

impl Reloader {
    /// See [`Server::reload`]; returns whether everything reloaded.
    pub fn reload(&self) -> bool {
        let mut ok = true;
        if self.auth.enabled() {
            match self.auth.reload() {
                Ok(keys) => tracing::info!(keys, "api keys reloaded"),
                Err(error) => {
                    ok = false;
                    tracing::error!(
                        error = format!("{error:#}"),
                        "auth file reload failed; the previous keys stay in force"
                    );
                }
            }
        }
        if let Some(tls) = &self.tls {
            match tls.reload() {
                Ok(()) => tracing::info!("tls certificate reloaded"),
                Err(error) => {
                    ok = false;
                    let error = format!("{error:#}");
                    tracing::error!(error, "tls certificate reload failed; the previous one stays in force");
                }
            }
        }
        ok
    }
}

/// The retention sweeper: a sweep at start and then every `every`, until `stopping` is cancelled (which
/// also abandons a sweep in progress).
fn spawn_sweeper(engine: Engine, every: Duration, stopping: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        // a sweep longer than the interval delays the next one rather than queueing several
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopping.cancelled() => break,
                _ = ticks.tick() => {
                    tokio::select! {
                        () = stopping.cancelled() => break,
                        () = sweep(&engine) => {}
                    }
                }
            }
        }
        tracing::debug!("retention sweeper stopped");
    })
}

/// One sweep: expires batches until nothing published before the cutoff is left. A failure (the store
/// unreachable) is logged and counted; the next sweep retries.
async fn sweep(engine: &Engine) {
    let Some(cutoff) = engine.retention_cutoff(now_micros()) else { return };
    let started = Instant::now();
    let (mut expired, mut batches) = (0, 0);
    loop {
        match engine.expire(cutoff, EXPIRE_BATCH).await {
            Ok(batch) => {
                expired += batch.removed;
                batches += 1;
                if !batch.more {
                    break;
                }
            }
            Err(error) => {
                metrics::counter!("dedupd_expire_failures_total").increment(1);
                let cutoff = rfc3339(cutoff);
                tracing::warn!(%error, expired, %cutoff, "retention sweep failed; the next one retries");
                return;
            }
        }
    }
    metrics::counter!("dedupd_expire_sweeps_total").increment(1);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if expired > 0 {
        tracing::info!(expired, batches, cutoff = %rfc3339(cutoff), elapsed_ms, "retention sweep");
    } else {
        tracing::debug!(batches, cutoff = %rfc3339(cutoff), elapsed_ms, "retention sweep: nothing to expire");
    }
}

/// `dedupd serve`: binds, serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let server = Server::start(config, listener).await?;
    let token = server.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        token.cancel();
    });
    #[cfg(unix)]
    {
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| anyhow::anyhow!("cannot listen for SIGHUP: {e}"))?;
        let reloading = server.reloader();
        let stopping = server.shutdown_token();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stopping.cancelled() => break,
                    received = hangup.recv() => {
                        if received.is_none() {
                            break;
                        }
                        tracing::info!("SIGHUP: reloading keys and certificates");
                        reloading.reload();
                    }
                }
            }
        });
    }
    server.wait().await?;
    tracing::info!("dedupd stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;

    /// Answers leave at once: every accepted connection has Nagle's algorithm off.
    #[tokio::test]
    async fn accepted_connections_have_nodelay() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut incoming = accepted(listener);
        let _client = tokio::net::TcpStream::connect(addr).await?;
        let connection = incoming.next().await.ok_or_else(|| anyhow::anyhow!("no connection accepted"))??;
        assert!(connection.nodelay()?, "an accepted connection still runs Nagle's algorithm");
        Ok(())
    }
}
