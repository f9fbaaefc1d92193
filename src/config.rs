//! Server configuration: one typed struct with defaults, set by flags or `DEDUPD_*` environment
//! variables (clap reads both). The README's configuration table lists these fields; a test in
//! `tests/readme.rs` checks that every flag appears there.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::engine::{EngineConfig, MatchRule, SourceTiers, validate};
use crate::store::feed::FeedTrim;

/// Log output format: `text` (human-readable lines) or `json` (one JSON object per line, for log
/// collectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[expect(missing_docs, reason = "clap would show variant docs in `serve --help`, switching it to its long form")]
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
    /// throwaway one, `redis://host:port[/db]` or `rediss://…` for Redis,
    /// `redis+cluster://host:port[,host:port…]` (`rediss+cluster://` with TLS) for a Redis Cluster.
    #[arg(long, env = "DEDUPD_STORE", default_value = "embedded://")]
    pub store: String,

    /// Directory of the embedded store.
    #[arg(long, env = "DEDUPD_DATA_DIR", default_value = "./dedupd-data")]
    pub data_dir: PathBuf,

    /// Prefix of every Redis key this server uses (Redis stores only; `dedupd` when not set): servers
    /// with one namespace share an index, servers with different ones (feeds, customers) share a
    /// Redis without seeing each other's articles. 1 to 64 of a-z, A-Z, 0-9, `_`, `-`, `.`.
    #[arg(long, env = "DEDUPD_NAMESPACE")]
    pub namespace: Option<String>,

    /// Address of the HTTP listener: Prometheus `/metrics` and the review page (`/review`); off when
    /// not set. Served over TLS with --tls-cert, like the gRPC listener.
    #[arg(long, env = "DEDUPD_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,

    /// Origins (`https://dashboard.example`) whose web pages may call the gRPC API over gRPC-Web
    /// (CORS); repeatable, or comma-separated. None by default: gRPC-Web works from pages served by
    /// the same origin and from clients that are not browsers.
    #[arg(long = "cors-origin", env = "DEDUPD_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Redis replicas that must acknowledge each write before the call returns (`WAIT`; Redis
    /// standalone only). Too few within --redis-wait-timeout: the call fails with `UNAVAILABLE`.
    /// 0: acknowledged once the master applied it.
    #[arg(long, env = "DEDUPD_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: usize,

    /// How long a write waits for --redis-wait-replicas.
    #[arg(long, env = "DEDUPD_REDIS_WAIT_TIMEOUT", default_value = "1s", value_parser = positive_duration)]
    pub redis_wait_timeout: std::time::Duration,

    /// CA certificates (PEM) a `rediss://` server's certificate must chain to, instead of the public
    /// roots.
    #[arg(long, env = "DEDUPD_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,

    /// Log format.
    #[arg(long, env = "DEDUPD_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// OpenTelemetry collector to export tracing spans to, over OTLP/gRPC (e.g.
    /// `http://otel-collector:4317`); off when not set. Needs dedupd built with `--features otlp`.
    #[arg(long, env = "DEDUPD_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Largest accepted article body, in bytes.
    #[arg(long, env = "DEDUPD_MAX_BODY_BYTES", default_value_t = validate::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Most requests served at once (across all connections and streams); more wait their turn.
    #[arg(long, env = "DEDUPD_CONCURRENCY_LIMIT", default_value_t = 256)]
    pub concurrency_limit: usize,

    /// The match thresholds (`--match-*`, `--short-*`, `--same-source-*`, `--distinctive-*`).
    #[command(flatten)]
    pub rule: RuleArgs,

    /// Sources whose articles outrank any other as canonical, whatever time the other claims
    /// (comma-separated domains; subdomains match).
    #[arg(long, env = "DEDUPD_TRUSTED_SOURCES", value_delimiter = ',')]
    pub trusted_sources: Vec<String>,

    /// Known aggregators: never canonical while an ordinary or trusted source is in the cluster
    /// (comma-separated domains; subdomains match).
    #[arg(long, env = "DEDUPD_AGGREGATOR_SOURCES", value_delimiter = ',')]
    pub aggregator_sources: Vec<String>,

    /// How long shutdown waits for requests in flight before giving up.
    #[arg(long, env = "DEDUPD_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: std::time::Duration,

    /// Retention window (e.g. `30d`), by effective publication time: older articles leave the index
    /// and new ones that old are refused. Off when not set.
    #[arg(long, env = "DEDUPD_RETENTION", value_parser = positive_duration)]
    pub retention: Option<std::time::Duration>,

    /// How often the retention sweeper runs.
    #[arg(long, env = "DEDUPD_RETENTION_SWEEP", default_value = "1m", value_parser = positive_duration)]
    pub retention_sweep: std::time::Duration,

    /// Stored articles a starting server learns its boilerplate model from (the most recently
    /// published; 0: start with an empty model; Redis Cluster reads no further back than each slot's
    /// eight newest days). More covers more sources' footers and takes longer (the cost per article
    /// of each store is in docs/performance.md); at most 60 s.
    #[arg(long, env = "DEDUPD_WARM_UP_ARTICLES", default_value_t = crate::server::WARM_UP_ARTICLES)]
    pub warm_up_articles: usize,

    /// API keys, one a line: `<sha256-hex-of-token> <role> <name>` (see the README's *Security*).
    /// Reloaded on SIGHUP. Without it every call is allowed.
    #[arg(long, env = "DEDUPD_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,

    /// Serve gRPC reflection (lists the services and their messages to tools such as grpcurl).
    #[arg(long, env = "DEDUPD_REFLECTION")]
    pub reflection: bool,

    /// TLS certificate chain (PEM) of the gRPC listener; with `--tls-key`. Reloaded on SIGHUP.
    #[arg(long, env = "DEDUPD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) of `--tls-cert`. Reloaded on SIGHUP.
    #[arg(long, env = "DEDUPD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// CA certificates (PEM) for mutual TLS: every client must present a certificate they signed.
    /// Reloaded on SIGHUP.
    #[arg(long, env = "DEDUPD_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Calls a second per identity (API key, client certificate, or the peer's IP address without an
    /// auth file); beyond it `RESOURCE_EXHAUSTED` with `retry-after`. 0: no limit.
    #[arg(long, env = "DEDUPD_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,

    /// Calls an identity may make at once above `--rate-limit` (default: the rate limit).
    #[arg(long, env = "DEDUPD_RATE_BURST")]
    pub rate_burst: Option<u32>,

    /// Most client connections open at once; beyond it a new connection is closed. 0: no cap.
    #[arg(long, env = "DEDUPD_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Most `IngestStream` calls one identity may have open at once; beyond it `RESOURCE_EXHAUSTED`.
    /// 0: no cap.
    #[arg(long, env = "DEDUPD_MAX_STREAMS_PER_IDENTITY", default_value_t = 0)]
    pub max_streams_per_identity: usize,

    // the duplicate feed
    /// Most events the duplicate feed keeps; appends trim the oldest past it.
    #[arg(long, env = "DEDUPD_EVENTS_MAX_LEN", default_value_t = FeedTrim::default().max_len, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub events_max_len: usize,

    /// How long the duplicate feed keeps an event (e.g. `7d`); off when not set.
    #[arg(long, env = "DEDUPD_EVENTS_MAX_AGE", value_parser = positive_duration)]
    pub events_max_age: Option<std::time::Duration>,

    /// Keep each article's text (zstd-compressed) so that `Explain` can show why two stored articles
    /// are copies. Default: on for the embedded and memory stores, off for Redis; `--keep-text=false`
    /// turns it off, `--keep-text` on.
    #[arg(long, env = "DEDUPD_KEEP_TEXT", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub keep_text: Option<bool>,
}

/// A humantime duration (`30d`, `90s`, `1h 30m`) greater than zero.
fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_string());
    }
    Ok(duration)
}

impl ServeConfig {
    /// The Redis store's options from these flags.
    pub fn redis(&self) -> crate::store::redis::RedisOptions {
        crate::store::redis::RedisOptions {
            wait_replicas: self.redis_wait_replicas,
            wait_timeout: self.redis_wait_timeout,
            ca: self.redis_ca.clone(),
        }
    }

    /// The engine's settings from these flags.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            max_body_bytes: self.max_body_bytes,
            rule: self.rule.rule(),
            sources: SourceTiers::new(&self.trusted_sources, &self.aggregator_sources),
            retention: self.retention,
            feed: FeedTrim { max_len: self.events_max_len, max_age: self.events_max_age },
            keep_text: self.keeps_text(),
            ..EngineConfig::default()
        }
    }

    /// Whether articles' texts are kept: `--keep-text` if given, else on for the stores in the
    /// process and off for Redis, where every kept byte is memory.
    pub fn keeps_text(&self) -> bool {
        self.keep_text.unwrap_or_else(|| !self.store.trim().starts_with("redis"))
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            store: "embedded://".into(),
            data_dir: PathBuf::from("./dedupd-data"),
            namespace: None,
            http_listen: None,
            cors_origins: Vec::new(),
            redis_wait_replicas: 0,
            redis_wait_timeout: std::time::Duration::from_secs(1),
            redis_ca: None,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            max_body_bytes: validate::DEFAULT_MAX_BODY_BYTES,
            concurrency_limit: 256,
            rule: RuleArgs::default(),
            trusted_sources: Vec::new(),
            aggregator_sources: Vec::new(),
            shutdown_grace: std::time::Duration::from_secs(10),
            retention: None,
            retention_sweep: std::time::Duration::from_secs(60),
            warm_up_articles: crate::server::WARM_UP_ARTICLES,
            auth_file: None,
            reflection: false,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            rate_limit: 0,
            rate_burst: None,
            max_connections: 0,
            max_streams_per_identity: 0,
            events_max_len: FeedTrim::default().max_len,
            events_max_age: None,
            keep_text: None,
        }
    }
}

/// The match thresholds (see [`MatchRule`]), shared by `serve` and `eval` so that what is tuned with
/// `eval` is what the server runs.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct RuleArgs {
    /// Word-shingle containment that alone makes a match.
    #[arg(long, env = "DEDUPD_MATCH_WORDS", default_value_t = MatchRule::default().words)]
    pub match_words: f64,
    /// Skeleton containment that makes a match (with --match-words-floor).
    #[arg(long, env = "DEDUPD_MATCH_SKELETON", default_value_t = MatchRule::default().skeleton)]
    pub match_skeleton: f64,
    /// Word-shingle containment a skeleton match needs too.
    #[arg(long, env = "DEDUPD_MATCH_WORDS_FLOOR", default_value_t = MatchRule::default().words_floor)]
    pub match_words_floor: f64,
    /// Articles with fewer tokens than this follow the short-text rule.
    #[arg(long, env = "DEDUPD_SHORT_TOKENS", default_value_t = MatchRule::default().short_tokens)]
    pub short_tokens: u32,
    /// Word-shingle containment a short text needs.
    #[arg(long, env = "DEDUPD_SHORT_WORDS", default_value_t = MatchRule::default().short_words)]
    pub short_words: f64,
    /// Skeleton containment that makes a short article match (with --short-words-floor).
    #[arg(long, env = "DEDUPD_SHORT_SKELETON", default_value_t = MatchRule::default().short_skeleton)]
    pub short_skeleton: f64,
    /// Word-shingle containment a short article's skeleton match needs too.
    #[arg(long, env = "DEDUPD_SHORT_WORDS_FLOOR", default_value_t = MatchRule::default().short_words_floor)]
    pub short_words_floor: f64,
    /// Word-shingle resemblance (estimated Jaccard) two articles of one source need besides a match,
    /// unless one is nearly all inside the other (--same-source-containment): a publisher's briefs,
    /// updates and templated reports are not copies of each other. 0 turns it off.
    #[arg(long, env = "DEDUPD_SAME_SOURCE_RESEMBLANCE", default_value_t = MatchRule::default().same_source_resemblance)]
    pub same_source_resemblance: f64,
    /// Word-shingle containment at which two articles of one source match whatever their resemblance
    /// (a re-send, an aggregator's excerpt of its own full copy).
    #[arg(long, env = "DEDUPD_SAME_SOURCE_CONTAINMENT", default_value_t = MatchRule::default().same_source_containment)]
    pub same_source_containment: f64,
    /// Containment over distinctive word shingles (neither boilerplate nor shared by candidates of two
    /// or more clusters) that makes two short articles of different sources match: an aggregator's
    /// teaser of a wire item. 0 turns it off.
    #[arg(long, env = "DEDUPD_DISTINCTIVE_WORDS", default_value_t = MatchRule::default().distinctive_words)]
    pub distinctive_words: f64,
    /// The distinctive rule applies when the shorter article has fewer tokens than this.
    #[arg(long, env = "DEDUPD_DISTINCTIVE_TOKENS", default_value_t = MatchRule::default().distinctive_tokens)]
    pub distinctive_tokens: u32,
}

impl Default for RuleArgs {
    fn default() -> Self {
        let rule = MatchRule::default();
        RuleArgs {
            match_words: rule.words,
            match_skeleton: rule.skeleton,
            match_words_floor: rule.words_floor,
            short_tokens: rule.short_tokens,
            short_words: rule.short_words,
            short_skeleton: rule.short_skeleton,
            short_words_floor: rule.short_words_floor,
            same_source_resemblance: rule.same_source_resemblance,
            same_source_containment: rule.same_source_containment,
            distinctive_words: rule.distinctive_words,
            distinctive_tokens: rule.distinctive_tokens,
        }
    }
}

impl RuleArgs {
    /// The match rule these flags describe.
    pub fn rule(&self) -> MatchRule {
        MatchRule {
            words: self.match_words,
            skeleton: self.match_skeleton,
            words_floor: self.match_words_floor,
            short_tokens: self.short_tokens,
            short_words: self.short_words,
            short_skeleton: self.short_skeleton,
            short_words_floor: self.short_words_floor,
            same_source_resemblance: self.same_source_resemblance,
            same_source_containment: self.same_source_containment,
            distinctive_words: self.distinctive_words,
            distinctive_tokens: self.distinctive_tokens,
            ..MatchRule::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn serve(args: &[&str]) -> Result<super::ServeConfig, clap::Error> {
        let cli = Cli::try_parse_from(["dedupd", "serve"].iter().chain(args))?;
        match cli.command {
            Command::Serve(config) => Ok(*config),
            _ => panic!("expected serve"),
        }
    }

    /// Retention is off unless set, takes humantime durations, and refuses zero (a zero sweep interval
    /// would spin, a zero window would refuse every article).
    #[test]
    fn retention_flags_parse() {
        let config = serve(&[]).expect("defaults parse");
        assert_eq!(config.retention, None);
        assert_eq!(config.retention_sweep, std::time::Duration::from_secs(60));
        assert_eq!(config.retention_sweep, super::ServeConfig::default().retention_sweep);
        assert_eq!(config.engine().retention, None);

        let config = serve(&["--retention", "30d", "--retention-sweep", "90s"]).expect("parses");
        assert_eq!(config.retention, Some(std::time::Duration::from_secs(30 * 86_400)));
        assert_eq!(config.retention_sweep, std::time::Duration::from_secs(90));
        assert_eq!(config.engine().retention, config.retention);

        for bad in [["--retention", "0s"], ["--retention-sweep", "0s"], ["--retention", "thirty days"]] {
            assert!(serve(&bad).is_err(), "{bad:?} must be refused");
        }
    }

    /// The distinctive rule is on by default with the documented thresholds, and 0 turns it off.
    #[test]
    fn distinctive_flags_parse() {
        let rule = serve(&[]).expect("defaults parse").rule.rule();
        assert_eq!((rule.distinctive_words, rule.distinctive_tokens), (0.4, 100));
        assert_eq!(rule, crate::engine::MatchRule::default());
        let rule = serve(&["--distinctive-words", "0", "--distinctive-tokens", "80"]).expect("parses").rule.rule();
        assert_eq!((rule.distinctive_words, rule.distinctive_tokens), (0.0, 80));
        assert!(serve(&["--distinctive-tokens", "-5"]).is_err());
    }

    /// Keys, reflection and TLS are off unless set; a certificate needs its key, and a client CA
    /// needs a certificate.
    #[test]
    fn security_flags_parse() {
        let config = serve(&[]).expect("defaults parse");
        assert!(config.auth_file.is_none() && !config.reflection && config.tls_cert.is_none());
        let config = serve(&["--auth-file", "keys", "--reflection", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .expect("parses");
        assert_eq!(config.auth_file, Some(std::path::PathBuf::from("keys")));
        assert!(config.reflection);
        for bad in [&["--tls-cert", "c.pem"][..], &["--tls-key", "k.pem"], &["--tls-client-ca", "ca.pem"]] {
            assert!(serve(bad).is_err(), "{bad:?} must be refused");
        }
    }

    /// The limits are off by default; the burst defaults to the rate (applied in `Limits::new`).
    #[test]
    fn limit_flags_parse() {
        let config = serve(&[]).expect("defaults parse");
        assert_eq!(
            (config.rate_limit, config.rate_burst, config.max_connections, config.max_streams_per_identity),
            (0, None, 0, 0)
        );
        let config = serve(&[
            "--rate-limit",
            "5",
            "--rate-burst",
            "20",
            "--max-connections",
            "100",
            "--max-streams-per-identity",
            "2",
        ])
        .expect("parses");
        assert_eq!(
            (config.rate_limit, config.rate_burst, config.max_connections, config.max_streams_per_identity),
            (5, Some(20), 100, 2)
        );
        assert!(serve(&["--rate-limit", "-1"]).is_err());
    }

    /// The feed keeps a million events and no age limit by default; a length of 0 is refused.
    #[test]
    fn feed_flags_parse() {
        let config = serve(&[]).expect("defaults parse");
        assert_eq!((config.events_max_len, config.events_max_age), (1_000_000, None));
        assert_eq!(config.engine().feed, crate::store::feed::FeedTrim::default());
        let config = serve(&["--events-max-len", "500", "--events-max-age", "7d"]).expect("parses");
        let week = std::time::Duration::from_secs(7 * 86_400);
        assert_eq!((config.engine().feed.max_len, config.engine().feed.max_age), (500, Some(week)));
        for bad in [["--events-max-len", "0"], ["--events-max-age", "0s"], ["--events-max-len", "-3"]] {
            assert!(serve(&bad).is_err(), "{bad:?} must be refused");
        }
    }

    /// Text is kept by default on the stores in the process and not on Redis; the flag overrides
    /// either way.
    #[test]
    fn keep_text_defaults_by_store() {
        assert!(serve(&[]).expect("defaults parse").keeps_text());
        assert!(serve(&["--store", "memory://"]).expect("parses").engine().keep_text);
        assert!(!serve(&["--store", "redis://127.0.0.1:7000"]).expect("parses").keeps_text());
        assert!(!serve(&["--store", "redis+cluster://127.0.0.1:7000"]).expect("parses").keeps_text());
        assert!(!serve(&["--keep-text=false"]).expect("parses").keeps_text());
        assert!(serve(&["--store", "redis://127.0.0.1:7000", "--keep-text"]).expect("parses").keeps_text());
        assert!(serve(&["--store", "rediss://h:1", "--keep-text=true"]).expect("parses").keeps_text());
        assert!(serve(&["--keep-text=maybe"]).is_err());
    }

    /// The warm-up is on by default, with the documented size, and 0 turns it off.
    #[test]
    fn warm_up_flag_parses() {
        let config = serve(&[]).expect("defaults parse");
        assert_eq!(config.warm_up_articles, crate::server::WARM_UP_ARTICLES);
        assert_eq!(config.warm_up_articles, super::ServeConfig::default().warm_up_articles);
        assert_eq!(serve(&["--warm-up-articles", "0"]).expect("parses").warm_up_articles, 0);
        assert!(serve(&["--warm-up-articles", "-1"]).is_err());
    }
}
