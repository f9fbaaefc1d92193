//! Limits per identity: a token-bucket rate limit on calls, a cap on the `IngestStream` calls one
//! identity has open at once, and a cap on client connections.
//!
//! The identity is the API key's (or client certificate's) name from the auth file; without an auth
//! file it is the peer's IP address. Health calls are never limited. A stream counts as one call
//! against the rate limit, whatever number of articles it carries, and holds its place under the
//! stream cap until its answer ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::codegen::http;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};

use crate::auth::Identity;

/// How many rate-limited calls pass between two sweeps of idle identities out of the limiter.
const SWEEP_EVERY: u64 = 4096;

/// The limits in force, shared by every connection.
#[derive(Clone, Default)]
pub struct Limits {
    rate: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    checks: Arc<AtomicU64>,
    max_streams: usize,
    streams: Arc<Mutex<HashMap<String, usize>>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("rate", &self.rate.is_some())
            .field("max_streams", &self.max_streams)
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// `rate` calls a second per identity with bursts of `burst` (default `rate`; a rate of 0 is no
    /// limit), and at most `max_streams` open streams per identity (0: no cap).
    pub fn new(rate: u32, burst: Option<u32>, max_streams: usize) -> anyhow::Result<Limits> {
        let rate = match NonZeroU32::new(rate) {
            None => None,
            Some(per_second) => {
                let burst = NonZeroU32::new(burst.unwrap_or(per_second.get()))
                    .ok_or_else(|| anyhow::anyhow!("--rate-burst must be at least 1"))?;
                Some(Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))))
            }
        };
        Ok(Limits { rate, max_streams, ..Limits::default() })
    }

    /// Takes one call from `key`'s bucket; refused, the time until the next call would pass.
    fn check_rate(&self, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.rate else { return Ok(()) };
        // identities seen once (clients by IP, say) would otherwise stay in memory for good
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&key.to_string()).map_err(|refused| refused.wait_time_from(limiter.clock().now()))
    }

    /// A place for one more stream of `key`, or `None` when it has all it may have.
    fn open_stream(&self, key: &str) -> Option<StreamGuard> {
        if self.max_streams == 0 {
            return Some(StreamGuard { key: None, streams: self.streams.clone() });
        }
        let mut streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let open = streams.entry(key.to_string()).or_insert(0);
        if *open >= self.max_streams {
            return None;
        }
        *open += 1;
        Some(StreamGuard { key: Some(key.to_string()), streams: self.streams.clone() })
    }
}

/// One open stream of an identity; dropping it gives the place back.
struct StreamGuard {
    key: Option<String>,
    streams: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let Some(key) = &self.key else { return };
        let mut streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(open) = streams.get_mut(key) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                streams.remove(key);
            }
        }
    }
}

/// The key a call is limited under: the identity's name with an auth file, else the peer's address.
fn limit_key<B>(request: &http::Request<B>) -> String {
    if let Some(identity) = request.extensions().get::<Identity>()
        && identity.role.is_some()
    {
        return identity.name.clone();
    }
    peer_ip(request).map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

fn peer_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    let tcp = extensions
        .get::<TcpConnectInfo>()
        .or_else(|| extensions.get::<TlsConnectInfo<TcpConnectInfo>>().map(TlsConnectInfo::get_ref))?;
    tcp.remote_addr().map(|addr| addr.ip())
}

/// The refusal of a call over the rate limit: `RESOURCE_EXHAUSTED` with `retry-after` in whole
/// seconds (at least 1).
fn rate_refusal(wait: Duration) -> Status {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut status = Status::resource_exhausted(format!("rate limit exceeded: retry in {seconds} s"));
    status.metadata_mut().insert("retry-after", seconds.into());
    status
}

/// The tower layer that applies [`Limits`]; it goes inside the auth layer, which names the identity.
#[derive(Debug, Clone)]
pub struct LimitLayer {
    limits: Limits,
}

impl LimitLayer {
    /// A layer applying `limits`.
    pub fn new(limits: Limits) -> Self {
        LimitLayer { limits }
    }
}

impl<S> tower::Layer<S> for LimitLayer {
    type Service = LimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LimitService { inner, limits: self.limits.clone() }
    }
}

/// The service [`LimitLayer`] makes.
#[derive(Debug, Clone)]
pub struct LimitService<S> {
    inner: S,
    limits: Limits,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for LimitService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if path.starts_with("/grpc.health.v1.Health/") {
            return forward(&mut self.inner, request, None);
        }
        let key = limit_key(&request);
        if let Err(wait) = self.limits.check_rate(&key) {
            let retry_after_s = wait.as_secs_f64();
            tracing::info!(identity = %key, method = path, retry_after_s, "call refused: rate limit");
            metrics::counter!("dedupd_auth_refused_total", "code" => "resource_exhausted").increment(1);
            return Box::pin(std::future::ready(Ok(rate_refusal(wait).into_http())));
        }
        let guard = if path == "/dedup.v1.Deduplicator/IngestStream" {
            let Some(guard) = self.limits.open_stream(&key) else {
                let max_streams = self.limits.max_streams;
                tracing::info!(identity = %key, max_streams, "stream refused: too many open");
                metrics::counter!("dedupd_auth_refused_total", "code" => "resource_exhausted").increment(1);
                let status = Status::resource_exhausted(format!(
                    "too many open streams: at most {max_streams} per identity; retry when one ends"
                ));
                return Box::pin(std::future::ready(Ok(status.into_http())));
            };
            Some(guard)
        } else {
            None
        };
        forward(&mut self.inner, request, guard)
    }
}

/// Calls `service`; a stream's guard rides on its answer's body until that ends.
fn forward<S, B>(
    service: &mut S,
    request: http::Request<B>,
    guard: Option<StreamGuard>,
) -> BoxFuture<S::Response, S::Error>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    // the clone is ready only after poll_ready; call the one that was polled
    let clone = service.clone();
    let mut inner = std::mem::replace(service, clone);
    let future = inner.call(request);
    Box::pin(async move {
        let response = future.await?;
        Ok(match guard {
            Some(guard) => response.map(|body| tonic::body::Body::new(Guarded { body, _guard: guard })),
            None => response,
        })
    })
}

/// A response body that holds a stream's place until it is dropped.
struct Guarded {
    body: tonic::body::Body,
    _guard: StreamGuard,
}

impl http_body::Body for Guarded {
    type Data = tonic::codegen::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connections of `incoming`, at most `max` open at once (0: no cap); one beyond it is closed
/// as soon as it is accepted.
pub fn cap_connections<S, IO, E>(incoming: S, max: usize) -> impl Stream<Item = Result<Capped<IO>, E>>
where
    S: Stream<Item = Result<IO, E>>,
{
    let permits = (max > 0).then(|| Arc::new(Semaphore::new(max)));
    incoming.filter_map(move |accepted| {
        let capped = match accepted {
            Err(error) => Some(Err(error)),
            Ok(io) => match &permits {
                None => Some(Ok(Capped { io, _permit: None })),
                Some(permits) => {
                    if let Ok(permit) = permits.clone().try_acquire_owned() {
                        Some(Ok(Capped { io, _permit: Some(permit) }))
                    } else {
                        tracing::warn!(max_connections = max, "connection refused: too many open");
                        metrics::counter!("dedupd_auth_refused_total", "code" => "connection_limit").increment(1);
                        None
                    }
                }
            },
        };
        std::future::ready(capped)
    })
}

/// A connection holding its place under `--max-connections` until it closes.
pub struct Capped<IO> {
    io: IO,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<IO: Connected> Connected for Capped<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Capped<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Capped<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_refuses_beyond_the_burst_per_key() {
        let limits = Limits::new(1, Some(2), 0).expect("limits");
        assert!(limits.check_rate("a").is_ok() && limits.check_rate("a").is_ok());
        let wait = limits.check_rate("a").expect_err("third call in a burst of 2 is refused");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limits.check_rate("b").is_ok(), "another key has its own bucket");
        assert!(Limits::new(0, None, 0).expect("off").check_rate("a").is_ok());
        assert!(Limits::new(5, Some(0), 0).is_err());
        let status = rate_refusal(Duration::from_millis(300));
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.metadata().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    }

    #[test]
    fn stream_places_come_back_when_dropped() {
        let limits = Limits::new(0, None, 1).expect("limits");
        let first = limits.open_stream("a").expect("first stream");
        assert!(limits.open_stream("a").is_none());
        assert!(limits.open_stream("b").is_some());
        drop(first);
        assert!(limits.open_stream("a").is_some());
    }
}
