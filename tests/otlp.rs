//! With the `otlp` feature (`cargo test --features otlp --test otlp`): `dedupd serve --otlp-endpoint`
//! exports a span per gRPC call to an OpenTelemetry collector, here a minimal one on `127.0.0.1:0`
//! that records what it is sent.
#![cfg(feature = "otlp")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{Article, IngestRequest};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use common::free_port;
use dedupd::synthetic::text as article_text;

/// One exported span: the service that sent it, its name and its string attributes.
#[derive(Debug)]
struct Exported {
    service: String,
    name: String,
    attributes: Vec<(String, String)>,
}

struct Collector {
    spans: mpsc::UnboundedSender<Exported>,
}

fn string(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        _ => String::new(),
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        for resource_spans in request.into_inner().resource_spans {
            let attributes = resource_spans.resource.map(|resource| resource.attributes).unwrap_or_default();
            let service = attributes.iter().find(|kv| kv.key == "service.name").map(|kv| string(kv.value.as_ref()));
            for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                let attributes = span.attributes.iter().map(|kv| (kv.key.clone(), string(kv.value.as_ref()))).collect();
                let _ = self.spans.send(Exported {
                    service: service.clone().unwrap_or_default(),
                    name: span.name,
                    attributes,
                });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tokio::test]
async fn serve_exports_a_span_per_grpc_call() {
    let (sender, mut spans) = mpsc::unbounded_channel();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the collector");
    let collector = listener.local_addr().expect("collector address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector { spans: sender }))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_dedupd"))
        .args(["serve", "--store", "memory://", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--otlp-endpoint", &format!("http://{collector}")])
        .env_remove("DEDUPD_HTTP_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dedupd serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = loop {
        if let Ok(client) = DeduplicatorClient::connect(format!("http://127.0.0.1:{port}")).await {
            break client;
        }
        assert!(Instant::now() < deadline, "dedupd serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let article = Article {
        id: "traced".into(),
        url: "https://example.com/traced".into(),
        source: "example.com".into(),
        title: "traced".into(),
        body: article_text(3, 200),
        published_at: None,
    };
    client.ingest(IngestRequest { article: Some(article) }).await.expect("ingest");

    // a stopping server flushes the spans still queued
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("run kill");
    assert!(status.success());
    let exited = tokio::task::spawn_blocking(move || server.wait()).await.expect("wait task").expect("wait");
    assert!(exited.success(), "dedupd serve exited with {exited}");

    let mut found = None;
    while let Ok(Some(span)) = tokio::time::timeout(Duration::from_secs(5), spans.recv()).await {
        let path = span.attributes.iter().find(|(key, _)| key == "path").map(|(_, value)| value.clone());
        if span.name == "grpc" && path.as_deref() == Some("/dedup.v1.Deduplicator/Ingest") {
            found = Some(span);
            break;
        }
    }
    let span = found.expect("the collector received the Ingest call's span");
    assert_eq!(span.service, "dedupd");
}
