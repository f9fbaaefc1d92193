//! Throwaway `redis-server`s and Redis Clusters on free ports (never 6379, never a Redis that is
//! already running).
//!
//! A test binary shares one server ([`shared_redis`]) and one three-master cluster
//! ([`shared_cluster`]), started by the first test that asks; tests keep apart by each using its own
//! key namespace ([`namespace`]). A test that restarts, pauses or watches a whole server (`MONITOR`,
//! `CONFIG RESETSTAT`) starts a private one with [`RedisServer::start`] or [`RedisCluster::start`].
//!
//! Every server has a watchdog: a shell that waits for its standard input, a pipe from this process,
//! to close, then kills the server. The pipe closes when the test binary exits however it exits
//! (shared servers are statics, never dropped), so no `redis-server` outlives its tests.

use std::any::Any;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a fresh `redis-server` may take to answer `PING`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The server every test of this binary may share, each under its own [`namespace`].
pub fn shared_redis() -> &'static RedisServer {
    static SHARED: OnceLock<RedisServer> = OnceLock::new();
    SHARED.get_or_init(RedisServer::start)
}

/// The three-master Redis Cluster every test of this binary may share, each under its own
/// [`namespace`]. The first call blocks until the cluster is up (a second or two).
pub fn shared_cluster() -> &'static RedisCluster {
    static SHARED: OnceLock<RedisCluster> = OnceLock::new();
    SHARED.get_or_init(RedisCluster::start)
}

/// A key namespace no other call in this binary returns: `{prefix}-{n}`.
pub fn namespace(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A `redis-server` child process with its own port and directory; killed on drop.
pub struct RedisServer {
    child: Child,
    watchdog: Watchdog,
    port: u16,
    dir: tempfile::TempDir,
    /// Arguments beyond the defaults, kept for [`RedisServer::restart`].
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a private server on a free port and waits until it answers.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Like [`RedisServer::start`], with extra `redis-server` arguments (e.g. cluster mode).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().expect("temporary directory for redis-server");
        let extra: Vec<String> = extra.iter().map(ToString::to_string).collect();
        // a port picked by the kernel can be taken by a parallel test before redis binds it: retry
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn(port, dir.path(), &extra) {
                let watchdog = Watchdog::kill_with_this_process(child.id());
                return RedisServer { child, watchdog, port, dir, extra };
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts a new one on the same port (empty: nothing is persisted), as a
    /// Redis restart looks to its clients.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        // the port is free again as soon as the old process is reaped; retry in case it lingers
        loop {
            if let Some(child) = spawn(self.port, self.dir.path(), &self.extra) {
                self.watchdog = Watchdog::kill_with_this_process(child.id());
                self.child = child;
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not restart on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Freezes the server (SIGSTOP): it keeps its connections but answers nothing, like a hung Redis.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Undoes [`RedisServer::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    fn stop(&mut self) {
        // the watchdog first: once the server is reaped its pid may be another process's
        self.watchdog.stand_down();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A shell that kills a process when this one exits: it blocks reading a pipe whose only writer is
/// this process, and the pipe reaches end of file when this process is gone.
struct Watchdog {
    shell: Child,
}

impl Watchdog {
    fn kill_with_this_process(pid: u32) -> Watchdog {
        let shell = Command::new("sh")
            .args(["-c", r#"read line; kill -9 "$0" 2>/dev/null"#, &pid.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watchdog shell");
        Watchdog { shell }
    }

    /// Ends the watchdog without letting it kill anything.
    fn stand_down(&mut self) {
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

/// A port nothing listens on right now (and that is not the default Redis port).
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        if port != 6379 {
            return port;
        }
    }
}

/// Starts `redis-server` on `port`; `None` if it exited (the port was taken) before answering.
fn spawn(port: u16, dir: &Path, extra: &[String]) -> Option<Child> {
    let spawned = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--dir"])
        .arg(dir)
        // cluster nodes write their node table here (in the server's own directory)
        .args(["--cluster-config-file", "nodes.conf"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("redis-server is not on PATH: run the tests with the README's test command, which installs it")
        }
        Err(e) => panic!("cannot start redis-server: {e}"),
    };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        // the answering server must be ours, not one a parallel test started on the same port
        if served_by(port) == Some(child.id()) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The process id of the Redis answering on `port`, if one answers.
fn served_by(port: u16) -> Option<u32> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // the answer is one bulk string; process_id is in its first lines
    while !answer.windows(11).any(|w| w == b"process_id:") || !answer.ends_with(b"\r\n") {
        let read = stream.read(&mut buffer).ok()?;
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&answer);
    let line = text.lines().find_map(|line| line.strip_prefix("process_id:"))?;
    line.trim().parse().ok()
}

/// A throwaway Redis Cluster: three masters (`--cluster-enabled yes`) on free ports, joined with
/// `redis-cli --cluster create … --cluster-replicas 0`; every server is killed on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts a private cluster of three masters, creates it and waits until every node reports
    /// `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        const MASTERS: usize = 3;
        // redis-cli --cluster create can race a port another test takes between free_port and bind:
        // start the nodes first (each retried on its own), then join them
        let nodes: Vec<RedisServer> =
            (0..MASTERS).map(|_| RedisServer::start_with(&["--cluster-enabled", "yes"])).collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while !cluster.nodes.iter().all(|n| cluster_state_ok(n.port())) {
            assert!(Instant::now() < deadline, "the cluster did not reach cluster_state:ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// `redis+cluster://host:port,host:port,…`, as `--store` takes it.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }
}

/// Whether the node on `port` says `cluster_state:ok` (and has every slot: 3 masters, 16384 slots).
fn cluster_state_ok(port: u16) -> bool {
    let Ok(output) =
        Command::new("redis-cli").args(["-p", &port.to_string(), "cluster", "info"]).stdin(Stdio::null()).output()
    else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    text.contains("cluster_state:ok") && text.contains("cluster_slots_ok:16384")
}

/// A new, empty store of the kind a test names (`embedded`, `redis` or `redis_cluster`) as the server
/// configuration that names it (a fresh directory, or a fresh namespace starting with `prefix` on the
/// shared Redis or cluster), and what must outlive every server on it.
pub async fn new_store(kind: &str, prefix: &str) -> (dedupd::config::ServeConfig, Box<dyn Any + Send + Sync>) {
    use dedupd::config::ServeConfig;
    let on = |store: String, namespace: Option<String>| ServeConfig { store, namespace, ..ServeConfig::default() };
    match kind {
        "embedded" => {
            let dir = tempfile::tempdir().expect("temporary directory");
            (on(format!("embedded://{}", dir.path().display()), None), Box::new(dir))
        }
        "redis" => (on(shared_redis().url(), Some(namespace(prefix))), Box::new(())),
        "redis_cluster" => {
            // the first call starts the cluster, which blocks
            let url = tokio::task::spawn_blocking(|| shared_cluster().url()).await.expect("start the cluster");
            (on(url, Some(namespace(prefix))), Box::new(()))
        }
        other => panic!("unknown store {other}"),
    }
}
