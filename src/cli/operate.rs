//! The operator commands: `health` (a gRPC health check, for container and orchestrator probes) and
//! `config check` (validates a configuration before a server is started with it).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use serde::Deserialize;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::Cli;
use crate::config::ServeConfig;

/// The gRPC service whose health `dedupd health` asks for by default: the one the server turns to
/// `NOT_SERVING` as soon as it starts shutting down.
pub const HEALTH_SERVICE: &str = "dedup.v1.Deduplicator";

/// Settings a configuration may hold besides the `serve` flags' variables: the client commands'
/// server address and the log filter.
const OTHER_SETTINGS: [&str; 2] = ["DEDUPD_SERVER", "RUST_LOG"];

/// `dedupd health`: what to ask and how long to wait.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// Which server to ask, and its CA or client certificate when it serves TLS.
    #[command(flatten)]
    pub client: super::ClientOptions,
    /// The service to ask about (`""` for the server as a whole).
    #[arg(long, default_value = HEALTH_SERVICE)]
    pub service: String,
    /// How long to wait for the connection and the answer together.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// `dedupd config`: its subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration: an env file (`KEY=value` lines) or a Kubernetes ConfigMap (YAML; its
    /// `data`). Every key must be a dedupd setting with a valid value; exits 1 naming each bad one.
    Check {
        /// The env file or ConfigMap manifest (`-` for stdin).
        file: PathBuf,
    },
}

/// Asks the server's gRPC health service about `args.service`: `Ok` when it answers `SERVING`.
pub async fn health(args: &HealthArgs) -> anyhow::Result<()> {
    let status = tokio::time::timeout(args.timeout, health_status(args))
        .await
        .map_err(|_| anyhow::anyhow!("no health answer from {} within {:?}", args.client.server, args.timeout))??;
    if status == ServingStatus::Serving {
        println!("{}", status.as_str_name());
        return Ok(());
    }
    anyhow::bail!("{} reports {} for service {:?}", args.client.server, status.as_str_name(), args.service)
}

async fn health_status(args: &HealthArgs) -> anyhow::Result<ServingStatus> {
    let channel = super::client::channel(&args.client).await?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest { service: args.service.clone() })
        .await
        .map_err(|status| anyhow::anyhow!("health check failed: {:?}: {}", status.code(), status.message()))?;
    Ok(ServingStatus::try_from(response.into_inner().status).unwrap_or(ServingStatus::Unknown))
}

/// Runs a `config` subcommand.
pub fn config(command: &ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { file } => {
            let text = read(file)?;
            let settings = parse_settings(&text)?;
            let problems = check_settings(&settings);
            if problems.is_empty() {
                println!("{}: ok ({} settings)", file.display(), settings.len());
                return Ok(());
            }
            for problem in &problems {
                eprintln!("{}: {problem}", file.display());
            }
            anyhow::bail!("{}: {} invalid setting(s)", file.display(), problems.len())
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// One `KEY=value` of a configuration, with where it was found (`line 12`, `ConfigMap dedupd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Where the setting was read, for messages.
    pub at: String,
    /// The variable's name.
    pub key: String,
    /// Its value, as the server would read it from its environment.
    pub value: String,
}

/// The settings of an env file, or of every ConfigMap's `data` in a YAML manifest (a file whose first
/// significant line starts a YAML document or names an `apiVersion` or `kind`).
pub fn parse_settings(text: &str) -> anyhow::Result<Vec<Setting>> {
    let first = text.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with('#'));
    let yaml = first.is_some_and(|line| ["---", "apiVersion:", "kind:"].iter().any(|start| line.starts_with(start)));
    if yaml { configmap_settings(text) } else { env_settings(text) }
}

/// `KEY=value` lines; blank lines, `#` comments and a leading `export` are skipped, and one pair of
/// matching quotes around a value is removed, as Docker Compose reads an `env_file`.
fn env_settings(text: &str) -> anyhow::Result<Vec<Setting>> {
    let mut settings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("line {}", index + 1);
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line.split_once('=').with_context(|| format!("{at}: expected KEY=value"))?;
        let value = value.trim();
        let unquoted = ['"', '\''].iter().find_map(|quote| {
            value.strip_prefix(*quote).and_then(|v| v.strip_suffix(*quote)).filter(|_| value.len() >= 2)
        });
        settings.push(Setting { at, key: key.trim().to_string(), value: unquoted.unwrap_or(value).to_string() });
    }
    Ok(settings)
}

/// The dedupd settings of a YAML stream (a ConfigMap, or a whole rendered manifest): the `data` of
/// every ConfigMap that holds a `DEDUPD_*` key, and the `DEDUPD_*` keys of every Secret's `stringData`
/// (where the store URL and its password go). Other ConfigMaps (another program's) are skipped.
fn configmap_settings(text: &str) -> anyhow::Result<Vec<Setting>> {
    use serde_yaml_ng::Value;
    let mut settings = Vec::new();
    let mut configmaps = 0;
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).context("not a valid YAML document")?;
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
        let (field, only_dedupd) = match kind {
            "ConfigMap" => ("data", false),
            "Secret" => ("stringData", true),
            _ => continue,
        };
        let name = value.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("(unnamed)");
        let at = format!("{kind} {name}");
        let Some(data) = value.get(field) else { continue };
        let data = data.as_mapping().with_context(|| format!("{at}: {field} is not a mapping"))?;
        let dedupd_key = |key: &Value| key.as_str().is_some_and(|key| key.starts_with("DEDUPD_"));
        if kind == "ConfigMap" {
            if !data.keys().any(dedupd_key) {
                continue;
            }
            configmaps += 1;
        }
        for (key, value) in data {
            if only_dedupd && !dedupd_key(key) {
                continue;
            }
            let key = key.as_str().with_context(|| format!("{at}: a key is not a string"))?;
            let value = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                _ => anyhow::bail!("{at}: {key}: a value must be a string"),
            };
            settings.push(Setting { at: at.clone(), key: key.to_string(), value });
        }
    }
    anyhow::ensure!(configmaps > 0, "no ConfigMap with DEDUPD_* settings in this YAML");
    Ok(settings)
}

/// Every problem with `settings`, each naming the setting: a key that is no dedupd setting, one given
/// twice, a value the server would refuse at start (parsed exactly as `dedupd serve` parses it from its
/// environment), and a store URL or namespace the store would refuse.
pub fn check_settings(settings: &[Setting]) -> Vec<String> {
    // the process's own DEDUPD_* variables must not fill in or mask what the file says
    let serve = Cli::command()
        .find_subcommand("serve")
        .cloned()
        .map(|serve| serve.mut_args(|arg| arg.env(None)))
        .unwrap_or_else(|| clap::Command::new("serve"));
    let mut flags = HashMap::new();
    for arg in Cli::command().find_subcommand("serve").into_iter().flat_map(clap::Command::get_arguments) {
        if let (Some(env), Some(long)) = (arg.get_env().and_then(|env| env.to_str()), arg.get_long()) {
            flags.insert(env.to_string(), long.to_string());
        }
    }
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut args = vec!["serve".to_string()];
    for setting in settings {
        let Setting { at, key, value } = setting;
        if let Some(first) = seen.insert(key, at) {
            problems.push(format!("{at}: {key}: set twice (first at {first})"));
            continue;
        }
        let Some(long) = flags.get(key.as_str()) else {
            if !OTHER_SETTINGS.contains(&key.as_str()) {
                problems.push(format!("{at}: {key}: not a dedupd setting"));
            }
            continue;
        };
        if key == "DEDUPD_OTLP_ENDPOINT" && !cfg!(feature = "otlp") {
            problems.push(format!("{at}: {key}: this dedupd was built without the otlp feature"));
            continue;
        }
        let arg = format!("--{long}={value}");
        if let Err(error) = serve.clone().try_get_matches_from(["serve", arg.as_str()]) {
            problems.push(format!("{at}: {key}: {}", first_line(&error)));
            continue;
        }
        args.push(arg);
    }
    if !problems.is_empty() {
        return problems;
    }
    let config = serve
        .try_get_matches_from(&args)
        .map_err(|error| first_line(&error))
        .and_then(|matches| ServeConfig::from_arg_matches(&matches).map_err(|error| first_line(&error)));
    match config {
        Ok(config) => {
            if let Err(crate::error::Error::InvalidArgument { field, reason }) =
                crate::store::check_url(&config.store, config.namespace.as_deref())
            {
                let key = format!("DEDUPD_{}", field.to_uppercase());
                let at = settings.iter().find(|s| s.key == key).map_or("default", |s| s.at.as_str());
                problems.push(format!("{at}: {key}: {reason}"));
            }
        }
        Err(error) => problems.push(error),
    }
    problems
}

/// clap's message without its `error: ` prefix and usage hint.
fn first_line(error: &clap::Error) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Vec<Setting> {
        parse_settings(text).expect("parses")
    }

    /// `dedupd health` asks by default about the service the server registers (and turns to
    /// `NOT_SERVING` at shutdown).
    #[test]
    fn health_asks_about_the_served_service() {
        use tonic::server::NamedService;
        type Served = crate::proto::deduplicator_server::DeduplicatorServer<crate::grpc::DedupService>;
        assert_eq!(HEALTH_SERVICE, <Served as NamedService>::NAME);
    }

    /// Comments, blank lines, `export` and quotes are read as Compose reads an env file.
    #[test]
    fn env_files_parse() {
        let parsed =
            settings("# comment\n\nexport DEDUPD_LISTEN=0.0.0.0:1\nDEDUPD_NAMESPACE='a b'\nRUST_LOG=\"info\"\n");
        let pairs: Vec<(&str, &str)> = parsed.iter().map(|s| (s.key.as_str(), s.value.as_str())).collect();
        assert_eq!(pairs, [("DEDUPD_LISTEN", "0.0.0.0:1"), ("DEDUPD_NAMESPACE", "a b"), ("RUST_LOG", "info")]);
        assert_eq!(parsed[1].at, "line 4");
        assert!(parse_settings("DEDUPD_LISTEN\n").is_err(), "a line without = is refused");
    }

    /// A ConfigMap's data is read, numbers and booleans as the strings Kubernetes would pass.
    #[test]
    fn configmaps_parse() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dedupd\ndata:\n  DEDUPD_CONCURRENCY_LIMIT: 64\n---\nkind: ConfigMap\ndata:\n  redis.conf: x\n---\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  DEDUPD_STORE: memory://\n  OTHER: y\n";
        let parsed = settings(yaml);
        let pairs: Vec<(&str, &str)> = parsed.iter().map(|s| (s.key.as_str(), s.value.as_str())).collect();
        assert_eq!(pairs, [("DEDUPD_CONCURRENCY_LIMIT", "64"), ("DEDUPD_STORE", "memory://")]);
        assert_eq!((parsed[0].at.as_str(), parsed[1].at.as_str()), ("ConfigMap dedupd", "Secret s"));
        assert!(parse_settings("kind: Secret\ndata: {}\n").is_err(), "YAML without a ConfigMap is refused");
    }

    /// Good settings pass; each bad one is named, with the reason.
    #[test]
    fn bad_settings_are_named() {
        let good = settings(
            "DEDUPD_STORE=redis://:secret@redis:6379/0\nDEDUPD_NAMESPACE=feed-a\nDEDUPD_RETENTION=30d\nRUST_LOG=debug\nDEDUPD_TRUSTED_SOURCES=a.com,b.org\n",
        );
        assert_eq!(check_settings(&good), Vec::<String>::new());

        let cases = [
            ("DEDUPD_MAX_BODY_BYTES=lots\n", "DEDUPD_MAX_BODY_BYTES"),
            ("DEDUPD_LOG_FORMAT=xml\n", "DEDUPD_LOG_FORMAT"),
            ("DEDUPD_RETENTION=0s\n", "DEDUPD_RETENTION"),
            ("DEDUPD_LISTEN=localhost\n", "DEDUPD_LISTEN"),
            ("DEDUPD_COLOUR=blue\n", "DEDUPD_COLOUR"),
            ("DEDUPD_STORE=mongodb://db\n", "DEDUPD_STORE"),
            ("DEDUPD_STORE=redis://r:6379\nDEDUPD_NAMESPACE=a/b\n", "DEDUPD_NAMESPACE"),
            ("DEDUPD_STORE=embedded://\nDEDUPD_NAMESPACE=feed\n", "DEDUPD_NAMESPACE"),
            ("DEDUPD_STORE=redis+cluster://\n", "DEDUPD_STORE"),
            ("DEDUPD_LISTEN=0.0.0.0:1\nDEDUPD_LISTEN=0.0.0.0:2\n", "DEDUPD_LISTEN"),
        ];
        for (text, key) in cases {
            let problems = check_settings(&settings(text));
            assert_eq!(problems.len(), 1, "{text:?}: {problems:?}");
            assert!(problems[0].contains(key), "{text:?}: {problems:?} does not name {key}");
        }
    }

    /// An OTLP endpoint is accepted only by a build that can export to it.
    #[test]
    fn otlp_endpoint_needs_the_feature() {
        let problems = check_settings(&settings("DEDUPD_OTLP_ENDPOINT=http://collector:4317\n"));
        if cfg!(feature = "otlp") {
            assert_eq!(problems, Vec::<String>::new());
        } else {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains("DEDUPD_OTLP_ENDPOINT") && problems[0].contains("otlp feature"));
        }
    }
}
