use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::domain::{ArticleMeta, ClusterId, SourceTier};

/// The zset member order must be the canonical order, tiers and negative times included.
#[test]
fn member_order_is_canonical_order() {
    let times: [Micros; 7] = [i64::MIN, -1_000_000, -1, 0, 1, 1_700_000_000_000_000, i64::MAX];
    let tiers = [SourceTier::Trusted, SourceTier::Ordinary, SourceTier::Aggregator];
    let mut ranks = Vec::new();
    for tier in tiers {
        for &published in &times {
            for &ingested in &times {
                for id in ["a", "ab", "b"] {
                    let member = member(&article(id, tier, published, ingested));
                    assert_eq!(member.len(), RANK_WIDTH + id.len());
                    assert_eq!(member_id(&member), id);
                    ranks.push(((tier, published, ingested, id), member));
                }
            }
        }
    }
    let mut by_rank = ranks.clone();
    by_rank.sort_by(|a, b| a.0.cmp(&b.0));
    let mut by_member = ranks;
    by_member.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
    assert_eq!(by_rank, by_member);
}

#[test]
fn redact_hides_passwords() {
    assert_eq!(redact("redis://:secret@host:6379/0"), "redis://***@host:6379/0");
    assert_eq!(redact("rediss://host:6380"), "rediss://host:6380");
}

#[test]
fn namespaces_are_restricted() {
    assert!(validate_namespace("dedupd").is_ok());
    assert!(validate_namespace("tenant-1.prod").is_ok());
    assert!(validate_namespace("").is_err());
    assert!(validate_namespace("a:b").is_err());
    assert!(validate_namespace("{a}").is_err());
}

/// The shebang a body starts with comes first, before the prelude; everything else keeps its order.
#[test]
fn scripts_are_prelude_libraries_then_sources() {
    let text = source(&[Lib::Numbers], &["-- common", "return 1"]);
    let (prelude, rest) = text.split_once("\n-- Article numbers").expect("numbers.lua follows the prelude");
    assert!(prelude.starts_with("local CLUSTER_AT = 1\n"), "{prelude}");
    assert!(prelude.contains("local SLOTS = 4096\n"), "{prelude}");
    assert!(rest.ends_with("-- common\nreturn 1\n"));
    assert!(!text.contains("local function record_cluster"), "only the libraries asked for");
    let flagged = source(&[], &["#!lua flags=allow-cross-slot-keys\nreturn 1"]);
    assert!(flagged.starts_with("#!lua flags=allow-cross-slot-keys\nlocal CLUSTER_AT = 1\n"), "{flagged}");
    assert!(flagged.ends_with("\nreturn 1\n"));
}

/// A record encoded in Rust reads right in Lua: every header field through `lua/lib/record.lua`, the
/// number as `lua/lib/numbers.lua` reads it, and the member as [`member`] builds it. Against a real
/// redis-server, the scripts' only reader.
#[test]
fn lua_reads_the_header_rust_writes() {
    let server = RedisServer::start();
    let mut connection = server.connection();
    let mut article = article("an id, ünïcode", SourceTier::Aggregator, -1_234_567, 1_700_000_000_000_001);
    article.content_hash = 0xDEAD_BEEF_0123_4567;
    article.band_keys = vec![0x1_0000_0001, 0x2_FFFF_FFFF, 0x1_1234_5678];
    let cluster_id = ClusterId::new(1_700_000_000_000_000, "founder");
    let number: u64 = 4096 * 1234 + 567;
    let mut stored = record::encode(&article).expect("encode");
    stored[..record::CLUSTER_WIDTH].copy_from_slice(cluster_id.as_str().as_bytes());
    let unassigned = record::encode(&article).expect("encode");

    let read = script(
        &[Lib::Record, Lib::Numbers],
        &[r"
            local record, unassigned = ARGV[1], ARGV[2]
            local number = string.sub(ARGV[3], 1 + 8 - NUMBER_WIDTH)
            local numbered = with_number(record, number)
            local member = record_member(numbered, ARGV[4])
            return {
              record_cluster(numbered), tostring(record_cluster(unassigned)), record_hash(numbered),
              record_published(numbered), member, member_id(member),
              tostring(member_matches(numbered, member)), tostring(member_matches(unassigned, 'x' .. member)),
              record_number(numbered), string.format('%.0f', number_at(numbered, NUMBER_AT)),
              table.concat(record_bands(numbered)), #numbered == #record and 'same length' or 'resized',
            }
        "],
    );
    let answer: Vec<Vec<u8>> = read
        .arg(&stored)
        .arg(&unassigned)
        .arg(&number.to_be_bytes()[..])
        .arg(&article.meta.id)
        .invoke(&mut connection)
        .expect("the script runs");
    let member = member(&article);
    let number_bytes = &number.to_be_bytes()[8 - record::NUMBER_WIDTH..];
    let expected: Vec<Vec<u8>> = vec![
        cluster_id.as_str().into(),
        b"false".to_vec(),
        article.content_hash.to_be_bytes().to_vec(),
        record::sortable(article.published_us).to_vec(),
        member.into(),
        article.meta.id.clone().into(),
        b"true".to_vec(),
        b"false".to_vec(),
        number_bytes.to_vec(),
        number.to_string().into(),
        record::bands(&article.band_keys).expect("narrow keys"),
        b"same length".to_vec(),
    ];
    assert_eq!(answer, expected);
}

fn article(id: &str, tier: SourceTier, published_us: Micros, ingested_us: Micros) -> StoredArticle {
    StoredArticle {
        meta: ArticleMeta {
            id: id.into(),
            url: "https://example.org/a".into(),
            source: "example.org".into(),
            title: String::new(),
        },
        tier,
        published_us,
        ingested_us,
        content_hash: 0,
        band_keys: vec![],
        fingerprint: crate::fingerprint::fingerprint("one two three four five six"),
        cluster_id: None,
    }
}

/// A throwaway `redis-server` on a Unix socket in a temporary directory (no port to race for);
/// killed on drop.
struct RedisServer {
    child: Child,
    dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocket"])
            .arg(&socket)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/test installs it)");
        let server = RedisServer { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.client().get_connection().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn client(&self) -> redis::Client {
        let socket = self.dir.path().join("redis.sock");
        redis::Client::open(format!("redis+unix://{}", socket.display())).expect("socket url")
    }

    fn connection(&self) -> redis::Connection {
        self.client().get_connection().expect("connect")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
