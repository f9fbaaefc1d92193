//! The HTTP listener (`--http-listen`): Prometheus `/metrics` and the review page under `/review`
//! ([`crate::review`]), over TLS with the gRPC listener's certificate when one is configured (the same
//! [`Tls`], so SIGHUP reloads both).
//!
//! `/metrics` is open, as Prometheus scrapes it without credentials; the review page checks the
//! API keys itself. Shutdown stops accepting, closes idle connections and ends the page's live
//! feeds, then waits for requests in flight (the server's grace period bounds it).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::serve::{Listener, ListenerExt};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;

use crate::review::ReviewPage;
use crate::tls::Tls;

/// The routes of the HTTP listener.
pub fn router(metrics: PrometheusHandle, review: ReviewPage) -> Router {
    Router::new()
        .route("/metrics", get(move || std::future::ready(exposition(&metrics))))
        .route("/", get(|| std::future::ready(Redirect::to("/review"))))
        .nest("/review", crate::review::router(review))
}

/// The Prometheus text exposition of every metric.
fn exposition(metrics: &PrometheusHandle) -> impl IntoResponse + use<> {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
}

/// Serves `router` on `listener` (over TLS with `tls`) until `stopping` is cancelled, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Tls>,
    router: Router,
    stopping: CancellationToken,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, tls = tls.is_some(), "http serving /metrics and /review");
    let shutdown = stopping.clone().cancelled_owned();
    if let Some(tls) = tls {
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let listener = TlsListener { incoming: tls.incoming(incoming, stopping), addr };
        return axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
    }
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// The TLS connections of the HTTP listener, handshakes done (see [`Tls::incoming`]).
struct TlsListener {
    incoming: ReceiverStream<std::io::Result<TlsStream<TcpStream>>>,
    addr: SocketAddr,
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.incoming.next().await {
                Some(Ok(stream)) => {
                    let peer = stream.get_ref().0.peer_addr().unwrap_or(self.addr);
                    return (stream, peer);
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // the acceptor stopped (shutdown): accept nothing more while the server drains
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
