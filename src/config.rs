//! Server configuration: one typed struct with defaults, set by flags or `DEDUPD_*` environment
//! variables (clap reads both). The README's configuration table lists these fields; a test in
//! `tests/readme.rs` checks that every flag appears there.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::engine::{EngineConfig, validate};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything `dedupd serve` can be told.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address of the gRPC listener.
    #[arg(long, env = "DEDUPD_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Store URL: empty or `embedded://` for the embedded store in --data-dir, `memory://` for a
    /// throwaway one, `redis://host:port[/db]` or `rediss://…` for Redis.
    #[arg(long, env = "DEDUPD_STORE", default_value = "embedded://")]
    pub store: String,

    /// Directory of the embedded store.
    #[arg(long, env = "DEDUPD_DATA_DIR", default_value = "./dedupd-data")]
    pub data_dir: PathBuf,

    /// Address of the Prometheus `/metrics` HTTP listener; off when not set.
    #[arg(long, env = "DEDUPD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log format.
    #[arg(long, env = "DEDUPD_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Largest accepted article body, in bytes.
    #[arg(long, env = "DEDUPD_MAX_BODY_BYTES", default_value_t = validate::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Most requests served at once (across all connections and streams); more wait their turn.
    #[arg(long, env = "DEDUPD_CONCURRENCY_LIMIT", default_value_t = 256)]
    pub concurrency_limit: usize,

    /// How long shutdown waits for requests in flight before giving up.
    #[arg(long, env = "DEDUPD_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: std::time::Duration,
}

impl ServeConfig {
    pub fn engine(&self) -> EngineConfig {
        EngineConfig { max_body_bytes: self.max_body_bytes, ..EngineConfig::default() }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            store: "embedded://".into(),
            data_dir: PathBuf::from("./dedupd-data"),
            metrics_listen: None,
            log_format: LogFormat::Text,
            max_body_bytes: validate::DEFAULT_MAX_BODY_BYTES,
            concurrency_limit: 256,
            shutdown_grace: std::time::Duration::from_secs(10),
        }
    }
}
