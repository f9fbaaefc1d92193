//! Client deadlines answered as `DEADLINE_EXCEEDED`.
//!
//! A client's deadline arrives in the `grpc-timeout` header. tonic enforces it, but answers an expired
//! one with `CANCELLED`, which clients do not read as "too slow, maybe retry". [`DeadlineLayer`], the
//! outermost of the server's own layers, runs inside tonic's timeout with the same deadline less a
//! millisecond, counted from when the call arrives, so it fires first and answers
//! `DEADLINE_EXCEEDED`, as the gRPC spec has it. Like tonic's, it bounds the time to the
//! response's headers: a stream that has started answering is not cut.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::Status;
use tonic::codegen::http;

/// What tonic's own timeout fires after ours: tokio's timers tick in milliseconds, so one
/// millisecond less puts ours on the same tick or an earlier one, and tonic polls the call (ours)
/// before its own timer.
const AHEAD: Duration = Duration::from_millis(1);

/// The client's deadline, from a `grpc-timeout` header: 1 to 8 digits and a unit (`H`, `M`, `S`,
/// `m`, `u`, `n`). `None` when absent or malformed (tonic ignores those too).
pub fn client_deadline(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The tower layer answering calls past their client's deadline (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineLayer;

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService { inner }
    }
}

/// The service [`DeadlineLayer`] makes.
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for DeadlineService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // tonic's timer starts before this call: ours must count from now, not from a first poll
        let started = tokio::time::Instant::now();
        let deadline = client_deadline(request.headers());
        // the clone is ready only after poll_ready; call the one that was polled
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call = inner.call(request);
        let Some(deadline) = deadline else { return Box::pin(call) };
        let expires = started + deadline.saturating_sub(AHEAD);
        Box::pin(async move {
            match tokio::time::timeout_at(expires, call).await {
                Ok(answer) => answer,
                Err(_) => {
                    Ok(Status::deadline_exceeded(format!("the client's deadline of {deadline:?} passed")).into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadline(value: &str) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().expect("a header value"));
        client_deadline(&headers)
    }

    #[test]
    fn reads_every_unit() {
        assert_eq!(deadline("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(deadline("3M"), Some(Duration::from_secs(180)));
        assert_eq!(deadline("10S"), Some(Duration::from_secs(10)));
        assert_eq!(deadline("500m"), Some(Duration::from_millis(500)));
        assert_eq!(deadline("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(deadline("7n"), Some(Duration::from_nanos(7)));
    }

    /// A service that answers after `delay`.
    #[derive(Clone)]
    struct Slow(Duration);

    impl tower::Service<http::Request<()>> for Slow {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _request: http::Request<()>) -> Self::Future {
            let delay = self.0;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(http::Response::new(tonic::body::Body::empty()))
            })
        }
    }

    async fn answer(delay: Duration, timeout: Option<&str>) -> http::Response<tonic::body::Body> {
        use tower::{Layer, Service};
        let mut service = DeadlineLayer.layer(Slow(delay));
        let mut request = http::Request::new(());
        if let Some(timeout) = timeout {
            request.headers_mut().insert("grpc-timeout", timeout.parse().expect("a header value"));
        }
        std::future::poll_fn(|cx| service.poll_ready(cx)).await.expect("ready");
        service.call(request).await.expect("an answer")
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_is_deadline_exceeded() {
        let late = answer(Duration::from_secs(30), Some("50m")).await;
        let status = Status::from_header_map(late.headers()).expect("a status in the headers");
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
        let in_time = answer(Duration::from_millis(10), Some("30S")).await;
        assert!(Status::from_header_map(in_time.headers()).is_none(), "the service's own answer");
        let no_deadline = answer(Duration::from_millis(100), None).await;
        assert!(Status::from_header_map(no_deadline.headers()).is_none(), "no deadline, no timeout");
    }

    #[test]
    fn ignores_what_is_not_a_timeout() {
        for value in ["", "S", "123456789S", "10s", "1.5S", "-1S", "10"] {
            assert_eq!(deadline(value), None, "{value:?}");
        }
        assert_eq!(client_deadline(&http::HeaderMap::new()), None);
    }
}
