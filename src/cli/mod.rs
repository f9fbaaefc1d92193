//! The `dedupd` command line: `serve`, the client commands, `eval`, `bench` (a load generator), and
//! the operator commands `health`, `config check` and `verify`.
//!
//! Client commands talk to a running server over gRPC (`--server`, env `DEDUPD_SERVER`) and print
//! readable text, or JSON with `--json`.

pub mod bench;
mod client;
mod eval;
pub mod operate;
pub mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, ServeConfig};

/// The `dedupd` command line, as clap parses it.
#[derive(Debug, Parser)]
#[command(name = "dedupd", version, about = "Finds syndicated and spun copies of news articles")]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by the client commands.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientOptions {
    /// URL of the dedupd server.
    #[arg(long, env = "DEDUPD_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
    pub server: String,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// How to prove who calls, and whom: API key and TLS.
    #[command(flatten)]
    pub credentials: Credentials,
}

/// The API key and TLS settings of a client; `dedupd eval --server` takes them too.
#[derive(Clone, Default, clap::Args)]
pub struct Credentials {
    /// API key, sent as `authorization: Bearer <token>`. Prefer the environment variable: a flag is
    /// visible to other users in the process list.
    #[arg(long, env = "DEDUPD_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) that signed an `https://` server's certificate.
    #[arg(long, env = "DEDUPD_TLS_CA", global = true)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a server that requires mutual TLS; with `--client-key`.
    #[arg(long, env = "DEDUPD_CLIENT_CERT", global = true, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of `--client-cert`.
    #[arg(long, env = "DEDUPD_CLIENT_KEY", global = true, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// Written out so that a debug print never shows the token.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls_ca", &self.tls_ca)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish()
    }
}

impl ClientOptions {
    /// Options for `server` with `credentials`, printing text.
    pub fn new(server: &str, credentials: Credentials) -> Self {
        ClientOptions { server: server.to_string(), json: false, credentials }
    }

    /// Options for a plaintext server without keys.
    pub fn plain(server: &str) -> Self {
        Self::new(server, Credentials::default())
    }
}

/// The subcommands: the server, the client commands, the load generator and the scorer.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server.
    Serve(Box<ServeConfig>),
    /// Ingest articles from a JSONL file (`-` for stdin) through `IngestStream`.
    Ingest {
        /// One article per line: `{"id", "url", "source", "title", "body", "published_at"}` (RFC 3339 time).
        file: PathBuf,
        /// Which server to send to, and whether to print JSON.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Show the decision one article (a JSON file, `-` for stdin) would get, storing nothing.
    Check {
        /// One article as a JSON object (the `ingest` line format); `-` reads stdin.
        file: PathBuf,
        /// Which server to ask, and whether to print JSON.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Show a stored article with its cluster and canonical.
    Article {
        /// The article's id.
        id: String,
        /// Which server to ask, and whether to print JSON.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Show a cluster and its members.
    Cluster {
        /// A cluster id; one merged into another shows the survivor.
        cluster_id: String,
        /// Which server to ask, and whether to print JSON.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Delete an article.
    Delete {
        /// The article's id.
        id: String,
        /// Which server to ask, and whether to print JSON.
        #[command(flatten)]
        client: ClientOptions,
    },
    /// Drive a running server with load and report throughput, latency percentiles and errors.
    Bench(bench::BenchArgs),
    /// Score dedupd on a labelled set (`articles.jsonl`, `labels.jsonl`, `ambiguous_pairs.jsonl`).
    Eval(eval::EvalArgs),
    /// Ask a server's gRPC health service whether it is serving: exits 0 if so, 1 otherwise (for
    /// container and orchestrator health checks).
    Health(operate::HealthArgs),
    /// Check a store's invariants, and with `--repair` fix what a crash left half-done: exits 1 when
    /// a problem is left.
    Verify(verify::VerifyArgs),
    /// Work with configurations (`dedupd config check FILE`).
    Config {
        /// What to do.
        #[command(subcommand)]
        command: operate::ConfigCommand,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let (log_format, otlp_endpoint) = match &cli.command {
        Command::Serve(config) => (config.log_format, config.otlp_endpoint.clone()),
        _ => (LogFormat::Text, None),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // the span exporter's connection lives on the runtime; the guard flushes it when dropped
    let _tracing =
        match runtime.block_on(async { crate::telemetry::init_tracing(log_format, otlp_endpoint.as_deref()) }) {
            Ok(guard) => guard,
            Err(error) => {
                eprintln!("error: {error:#}");
                return ExitCode::FAILURE;
            }
        };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // a status from the server reads better as its code and message than as tonic's Display
            match error.downcast_ref::<tonic::Status>() {
                Some(status) => eprintln!("error: {:?}: {}", status.code(), status.message()),
                None => eprintln!("error: {error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs one subcommand to completion (on the runtime [`main`] starts).
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => crate::server::serve(*config).await,
        Command::Ingest { file, client } => client::ingest(&client, &file).await,
        Command::Check { file, client } => client::check(&client, &file).await,
        Command::Article { id, client } => client::article(&client, &id).await,
        Command::Cluster { cluster_id, client } => client::cluster(&client, &cluster_id).await,
        Command::Delete { id, client } => client::delete(&client, &id).await,
        Command::Eval(args) => eval::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Health(args) => operate::health(&args).await,
        Command::Config { command } => operate::config(&command),
        Command::Verify(args) => verify::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_options_never_print_their_token() {
        let credentials = super::Credentials { token: Some("s3cret-token".into()), ..super::Credentials::default() };
        let options = super::ClientOptions::new("http://x", credentials);
        let printed = format!("{options:?}");
        assert!(!printed.contains("s3cret-token") && printed.contains("<redacted>"), "{printed}");
    }
}
