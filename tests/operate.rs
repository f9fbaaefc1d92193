//! The operator commands through the real binary: `dedupd health` against a real server on
//! `127.0.0.1:0` (exit code 0 when serving, 1 otherwise), and `dedupd config check` on good and bad
//! configurations and on every example configuration in `deploy/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dedupd::config::ServeConfig;
use dedupd::server::Server;
use tokio::net::TcpListener;

const DEDUPD: &str = env!("CARGO_BIN_EXE_dedupd");

/// Runs the binary with `args`, off the async runtime, with no DEDUPD_* variable of the caller's.
async fn dedupd(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(DEDUPD);
        command.args(&args);
        for (key, _) in std::env::vars() {
            if key.starts_with("DEDUPD_") {
                command.env_remove(key);
            }
        }
        command.output().expect("run dedupd")
    })
    .await
    .expect("blocking task")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn health_exits_zero_only_while_the_server_serves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let config = ServeConfig { store: "memory://".into(), ..ServeConfig::default() };
    let server = Server::start(config, listener).await.expect("server starts");
    let url = server.url();

    let serving = dedupd(&["health", "--server", &url]).await;
    assert_eq!(serving.status.code(), Some(0), "stderr: {}", text(&serving.stderr));
    assert_eq!(text(&serving.stdout).trim(), "SERVING");
    let whole = dedupd(&["health", "--server", &url, "--service", ""]).await;
    assert_eq!(whole.status.code(), Some(0), "the server as a whole: {}", text(&whole.stderr));

    let unknown = dedupd(&["health", "--server", &url, "--service", "no.such.Service"]).await;
    assert_eq!(unknown.status.code(), Some(1), "an unknown service is not healthy");
    assert!(text(&unknown.stderr).contains("NotFound"), "stderr: {}", text(&unknown.stderr));

    server.shutdown().await.expect("server stops");
    let stopped = dedupd(&["health", "--server", &url, "--timeout", "2s"]).await;
    assert_eq!(stopped.status.code(), Some(1), "a stopped server is not healthy");
    assert!(text(&stopped.stderr).contains("cannot connect"), "stderr: {}", text(&stopped.stderr));
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write config");
    path
}

#[tokio::test]
async fn config_check_refuses_a_bad_setting_by_name() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let good = write(dir.path(), "good.env", "DEDUPD_STORE=redis://redis:6379\nDEDUPD_RETENTION=30d\n");
    let output = dedupd(&["config", "check", &good.to_string_lossy()]).await;
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    assert!(text(&output.stdout).contains("ok (2 settings)"), "stdout: {}", text(&output.stdout));

    let bad = write(dir.path(), "bad.env", "DEDUPD_STORE=redis://redis:6379\nDEDUPD_CONCURRENCY_LIMIT=many\n");
    let output = dedupd(&["config", "check", &bad.to_string_lossy()]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("line 2: DEDUPD_CONCURRENCY_LIMIT: invalid value 'many'"), "stderr: {stderr}");

    let configmap = write(
        dir.path(),
        "configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dedupd\ndata:\n  DEDUPD_LOG_FORMAT: yaml\n",
    );
    let output = dedupd(&["config", "check", &configmap.to_string_lossy()]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("ConfigMap dedupd: DEDUPD_LOG_FORMAT: invalid value 'yaml'"), "stderr: {stderr}");
}

/// Every example configuration shipped in `deploy/` is one the server accepts.
#[tokio::test]
async fn every_example_configuration_passes() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut examples = Vec::new();
    let mut dirs = vec![deploy];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read deploy/") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "env") {
                examples.push(path);
            }
        }
    }
    assert!(!examples.is_empty(), "deploy/ has example env files");
    for example in examples {
        let output = dedupd(&["config", "check", &example.to_string_lossy()]).await;
        assert_eq!(output.status.code(), Some(0), "{}: {}", example.display(), text(&output.stderr));
    }
}
