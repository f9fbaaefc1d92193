//! Helpers shared by the integration tests: a throwaway `redis-server`, and deterministic article texts.
//!
//! Every test that needs Redis starts its own server on a free port (never 6379, never a Redis that
//! is already running), so tests run in parallel and leave nothing behind.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dedupd::domain::{ArticleMeta, Micros, SourceTier, StoredArticle};

/// How long a fresh `redis-server` may take to answer `PING`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` child process with its own port and directory; killed on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// Arguments beyond the defaults, kept for [`RedisServer::restart`].
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Like [`RedisServer::start`], with extra `redis-server` arguments (e.g. cluster mode).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().expect("temporary directory for redis-server");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        // a port picked by the kernel can be taken by a parallel test before redis binds it: retry
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn(port, dir.path(), &extra) {
                return RedisServer { child, port, dir, extra };
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
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

/// Words for [`article_text`]: function words (which the fingerprint keeps in its skeleton), content
/// words, names and places.
const FUNCTION_WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "a", "for", "on", "with", "that", "was", "is", "by", "at", "from", "as", "has",
    "were", "which", "after", "over", "their", "its", "into", "while", "before", "under", "about", "against",
    "between", "during", "through", "because", "until", "also", "but", "or", "not", "had", "have", "been", "would",
    "could", "should", "will", "may", "this", "these", "those", "they", "she", "he", "we", "who", "when", "where",
    "than", "then", "there", "some", "more", "most", "only",
];
const CONTENT_WORDS: &[&str] = &[
    "government",
    "minister",
    "budget",
    "election",
    "council",
    "report",
    "market",
    "shares",
    "company",
    "workers",
    "union",
    "strike",
    "police",
    "court",
    "judge",
    "ruling",
    "storm",
    "flood",
    "river",
    "bridge",
    "hospital",
    "doctors",
    "patients",
    "vaccine",
    "school",
    "teachers",
    "students",
    "energy",
    "prices",
    "inflation",
    "bank",
    "rates",
    "investors",
    "profits",
    "losses",
    "talks",
    "agreement",
    "treaty",
    "border",
    "troops",
    "ceasefire",
    "protest",
    "crowd",
    "stadium",
    "match",
    "season",
    "coach",
    "players",
    "victory",
    "defeat",
    "festival",
    "museum",
    "exhibition",
    "artist",
    "novel",
    "film",
    "director",
    "audience",
    "airport",
    "flights",
    "delays",
    "railway",
    "station",
    "passengers",
    "farmers",
    "harvest",
    "drought",
    "wildfire",
    "village",
    "residents",
    "mayor",
    "officials",
    "investigation",
    "evidence",
    "witnesses",
    "scientists",
    "study",
    "climate",
    "emissions",
    "ocean",
    "species",
    "forest",
    "satellite",
    "launch",
    "rocket",
    "software",
    "users",
    "data",
    "privacy",
    "regulators",
    "fine",
    "merger",
    "deal",
    "contract",
    "exports",
    "imports",
    "tariffs",
    "factory",
    "jobs",
    "wages",
    "housing",
    "rent",
    "tenants",
    "announced",
    "said",
    "warned",
    "rejected",
    "approved",
    "delayed",
    "reported",
    "confirmed",
    "denied",
    "expected",
    "planned",
    "opened",
    "closed",
    "rose",
    "fell",
    "doubled",
    "collapsed",
    "recovered",
    "signed",
    "criticised",
    "praised",
    "new",
    "former",
    "local",
    "national",
    "foreign",
    "major",
    "annual",
    "record",
    "sharp",
    "sudden",
    "quiet",
    "early",
    "late",
    "public",
    "private",
    "rural",
    "urban",
    "coastal",
    "northern",
    "southern",
];
const NAMES: &[&str] = &[
    "Lopez",
    "Carter",
    "Weiss",
    "Sato",
    "Okafor",
    "Dubois",
    "Novak",
    "Haddad",
    "Moreau",
    "Lindqvist",
    "Kowalski",
    "Mensah",
    "Tanaka",
    "Ferreira",
    "Brennan",
    "Berlin",
    "Lagos",
    "Osaka",
    "Lyon",
    "Toronto",
    "Valencia",
    "Nairobi",
    "Quito",
    "Hanoi",
    "Oslo",
    "Reuters",
    "Parliament",
    "Senate",
    "Acme",
    "Northwind",
    "Globex",
    "Brussels",
    "Tuesday",
    "Friday",
    "March",
    "October",
];

/// A deterministic English-like text of exactly `words` words: sentences of function words, content
/// words, capitalised one-word names and numbers. The same seed gives the same text; different seeds
/// give unrelated texts (names are single words because a fixed multi-word name would be a shingle
/// shared by every text using it: as is, about one pair of seeds in 10,000 shares a band key, and no
/// pair comes near a verified match).
pub fn article_text(seed: u64, words: usize) -> String {
    let mut rng = SplitMix(seed ^ 0x5EED_0FA2_71C1_E000);
    let mut sentences: Vec<String> = Vec::new();
    let mut written = 0;
    while written < words {
        let length = (8 + rng.below(12) as usize).min(words - written);
        let mut sentence: Vec<String> = Vec::with_capacity(length);
        for _ in 0..length {
            let word = match rng.below(100) {
                0..=29 => rng.pick(FUNCTION_WORDS).to_string(),
                30..=37 => rng.pick(NAMES).to_string(),
                38..=42 => (1 + rng.below(9999)).to_string(),
                _ => rng.pick(CONTENT_WORDS).to_string(),
            };
            sentence.push(word);
        }
        written += length;
        let mut sentence = sentence.join(" ");
        // every word is ASCII, so the first byte is the first character
        sentence[..1].make_ascii_uppercase();
        sentence.push('.');
        sentences.push(sentence);
    }
    sentences.join(" ")
}

/// An unassigned record of `text`, as the engine would insert it.
pub fn stored_article(id: &str, text: &str, published_us: Micros, ingested_us: Micros) -> StoredArticle {
    let fingerprint = dedupd::fingerprint::fingerprint(text);
    StoredArticle {
        meta: ArticleMeta {
            id: id.to_string(),
            url: format!("https://news.example/{id}"),
            source: "news.example".to_string(),
            title: format!("Article {id}"),
        },
        tier: SourceTier::Ordinary,
        published_us,
        ingested_us,
        content_hash: xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
        band_keys: fingerprint.band_keys(|_, _| false),
        fingerprint,
        cluster_id: None,
    }
}

/// splitmix64: tiny, fast and the same everywhere, which is all a test text needs.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for test texts.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len() as u64) as usize]
    }
}

/// A spun copy of `text`, the way article spinners make them: about `percent`% of the content words
/// swapped for other words (context-blind "synonyms"), function words, names and numbers left alone, and
/// an aggregator footer appended.
pub fn spun_copy(text: &str, percent: u64, seed: u64) -> String {
    let mut rng = SplitMix(seed ^ 0x5B1D_C0FE_E000_0001);
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            let bare = word.trim_end_matches('.');
            let swappable = CONTENT_WORDS.contains(&bare) && !FUNCTION_WORDS.contains(&bare);
            if !swappable || rng.below(100) >= percent {
                return word.to_string();
            }
            let replacement = format!("{}ish", rng.pick(CONTENT_WORDS));
            if word.ends_with('.') { format!("{replacement}.") } else { replacement }
        })
        .collect();
    format!(
        "{}\n\nThis article was automatically aggregated from the world's media. All trademarks belong to their \
         rightful owners. Related Articles. Back to top button.",
        words.join(" ")
    )
}

/// A throwaway Redis Cluster: three masters (`--cluster-enabled yes`) on free ports, joined with
/// `redis-cli --cluster create … --cluster-replicas 0`; every server is killed on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three masters, creates the cluster and waits until every node reports
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
