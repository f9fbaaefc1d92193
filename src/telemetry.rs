//! Logs (tracing, text or JSON), spans (optionally exported over OTLP) and metrics (Prometheus
//! `/metrics`).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global tracing subscriber; `RUST_LOG` filters (default `info`). With `otlp_endpoint`
/// (only in a build with the `otlp` feature) the spans are exported there too, over OTLP/gRPC; this
/// must then run inside a Tokio runtime, and the returned guard flushes the spans still queued when it
/// is dropped. A second call (tests start many servers in one process) installs nothing.
pub fn init_tracing(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<TracingGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt: Box<dyn Layer<_> + Send + Sync> = match format {
        LogFormat::Json => Box::new(fmt.json().flatten_event(true)),
        LogFormat::Text => Box::new(fmt),
    };
    let (otlp, guard) = otlp::layer(otlp_endpoint)?;
    let _ = tracing_subscriber::registry().with(filter).with(fmt).with(otlp).try_init();
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(endpoint, "exporting spans over otlp");
    }
    Ok(guard)
}

/// Keeps the span exporter of [`init_tracing`] (if any) alive; flushes it when dropped.
pub struct TracingGuard {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("warning: cannot flush the spans to the otlp endpoint: {error}");
        }
    }
}

/// The OTLP span exporter, as a tracing layer.
#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use tracing_subscriber::registry::LookupSpan;

    use super::TracingGuard;

    /// A layer exporting spans to `endpoint` (none without one), and the guard that flushes them.
    pub fn layer<S>(
        endpoint: Option<&str>,
    ) -> anyhow::Result<(
        Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>>,
        TracingGuard,
    )>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let Some(endpoint) = endpoint else { return Ok((None, TracingGuard { provider: None })) };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot export spans to {endpoint}: {e}"))?;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("dedupd").build())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("dedupd"));
        Ok((Some(layer), TracingGuard { provider: Some(provider) }))
    }
}

/// Without the `otlp` feature: no exporter, and an endpoint is refused rather than ignored.
#[cfg(not(feature = "otlp"))]
mod otlp {
    use super::TracingGuard;

    pub fn layer(
        endpoint: Option<&str>,
    ) -> anyhow::Result<(Option<tracing_subscriber::layer::Identity>, TracingGuard)> {
        match endpoint {
            Some(_) => anyhow::bail!("--otlp-endpoint needs a dedupd built with `cargo build --features otlp`"),
            None => Ok((None, TracingGuard {})),
        }
    }
}

/// Request and store latency histogram buckets, in seconds: from a cached embedded-store read to a
/// store call that hits its deadline.
const LATENCY_BUCKETS: [f64; 17] =
    [0.000_25, 0.000_5, 0.001, 0.001_5, 0.002, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Buckets of `dedupd_embedded_commit_batch` (ingests per journal commit).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// What a metric is, for its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (`_total`).
    Counter,
    /// A value that is set.
    Gauge,
    /// Observations in buckets (`_bucket`, `_sum`, `_count`).
    Histogram,
}

/// Every metric the server exports: name, kind, labels and help. The dashboard and the alert rules in
/// `deploy/` use these names, and `tests/deploy.rs` checks them against a running server's `/metrics`.
pub const METRICS: [(&str, MetricKind, &str, &str); 12] = [
    ("dedupd_info", MetricKind::Gauge, "version, store", "always 1: the running version and its store"),
    ("dedupd_requests_total", MetricKind::Counter, "method, code", "gRPC calls answered, by method and status code"),
    ("dedupd_request_seconds", MetricKind::Histogram, "method", "time to answer a gRPC call (a stream: each article)"),
    ("dedupd_ingested_total", MetricKind::Counter, "", "articles ingested"),
    ("dedupd_duplicates_total", MetricKind::Counter, "", "ingested articles found to be copies of another"),
    ("dedupd_deleted_total", MetricKind::Counter, "", "articles deleted through the API"),
    ("dedupd_expired_total", MetricKind::Counter, "", "articles removed by the retention sweeper"),
    ("dedupd_expire_sweeps_total", MetricKind::Counter, "", "retention sweeps that finished"),
    ("dedupd_expire_failures_total", MetricKind::Counter, "", "retention sweeps that failed (retried at the next)"),
    ("dedupd_store_seconds", MetricKind::Histogram, "store, op", "time of one store call, by store and operation"),
    ("dedupd_store_errors_total", MetricKind::Counter, "store, op, error", "store calls that failed, by error kind"),
    (
        "dedupd_auth_refused_total",
        MetricKind::Counter,
        "code",
        "calls refused by the key check or the limits (connection_limit: connections closed at accept)",
    ),
];

/// The `code` label values of `dedupd_auth_refused_total`.
pub const REFUSAL_CODES: [&str; 4] = ["unauthenticated", "permission_denied", "resource_exhausted", "connection_limit"];

/// The embedded store's own metric, exported only by servers on that store.
pub const EMBEDDED_METRICS: [(&str, MetricKind, &str, &str); 1] =
    [("dedupd_embedded_commit_batch", MetricKind::Histogram, "", "ingests made durable by one journal commit")];

/// How often the recorder folds recorded histogram samples into its buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The Prometheus recorder, installed by the first call (for the process: tests start many servers in
/// one), with histograms as buckets (so that they aggregate across replicas, as summaries do not). Its
/// [`PrometheusHandle::render`] is the body of `GET /metrics` (see [`crate::http`]).
pub fn metrics() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE.get_or_init(|| install_metrics().map_err(|e| format!("{e:#}"))).clone().map_err(anyhow::Error::msg)
}

fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    use metrics_exporter_prometheus::Matcher;
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full("dedupd_embedded_commit_batch".into()), &BATCH_BUCKETS)?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
    for (name, kind, _, help) in METRICS.iter().chain(&EMBEDDED_METRICS) {
        match kind {
            MetricKind::Counter => metrics::describe_counter!(*name, *help),
            MetricKind::Gauge => metrics::describe_gauge!(*name, *help),
            MetricKind::Histogram => metrics::describe_histogram!(*name, *help),
        }
        // unlabelled counters show from the start, at zero, so that rates and alerts have a series
        if *kind == MetricKind::Counter && METRICS.iter().any(|(n, _, labels, _)| n == name && labels.is_empty()) {
            metrics::counter!(*name).increment(0);
        }
    }
    // refusals show at zero too: a rate of refusals is what an operator watches
    for code in REFUSAL_CODES {
        metrics::counter!("dedupd_auth_refused_total", "code" => code).increment(0);
    }
    // a thread rather than a task: it must outlive any one runtime (tests run one per test)
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| anyhow::anyhow!("cannot start the metrics upkeep thread: {e}"))?;
    Ok(handle)
}
