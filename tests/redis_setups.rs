//! Redis set up as production runs it, each server started here on free ports: a master with a
//! replica (`--redis-wait-replicas`, a failover), and TLS with an ACL user (`rediss://user:pass@`,
//! `--redis-ca`, certificates generated here with `rcgen`).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use dedupd::config::ServeConfig;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{self, IngestRequest};
use dedupd::server::Server;
use dedupd::synthetic::Synthetic;
use prost_types::Timestamp;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;

use common::{RedisServer, free_port};

/// Article `index` of a synthetic stream (about a third are spun copies of earlier ones).
fn article(articles: &Synthetic, index: u64) -> proto::Article {
    let article = articles.article(index);
    let published = article.published_at.unwrap_or_default();
    proto::Article {
        id: article.id,
        url: article.url,
        source: article.source,
        title: article.title,
        body: article.body,
        published_at: Some(Timestamp { seconds: published.div_euclid(1_000_000), nanos: 0 }),
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<(Server, DeduplicatorClient<Channel>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let server = Server::start(ServeConfig { warm_up_articles: 0, ..config }, listener).await?;
    let client = DeduplicatorClient::connect(server.url()).await.expect("client connects");
    Ok((server, client))
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A master and a replica of it, the replica in sync.
fn master_and_replica() -> (RedisServer, RedisServer) {
    let master = RedisServer::start();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &master.port().to_string()]);
    for _ in 0..200 {
        if redis_cli(replica.port(), &["info", "replication"]).contains("master_link_status:up") {
            return (master, replica);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the replica did not sync with its master");
}

fn waiting(store: String) -> ServeConfig {
    ServeConfig {
        store,
        redis_wait_replicas: 1,
        redis_wait_timeout: Duration::from_millis(500),
        ..ServeConfig::default()
    }
}

/// With `--redis-wait-replicas 1`, every acknowledged article is on the replica: the master is
/// killed (SIGKILL, nothing persisted), the replica promoted, and a new server on it finds every
/// one, in consistent clusters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_articles_survive_a_failover() {
    let (master, replica) = master_and_replica();
    let (server, mut client) = serve(waiting(master.url())).await.expect("server starts on the master");
    let articles = Synthetic::new(7);
    let mut acknowledged = Vec::new();
    for index in 0..60 {
        let article = article(&articles, index);
        let id = article.id.clone();
        let answer = client.ingest(IngestRequest { article: Some(article) }).await.expect("ingest").into_inner();
        acknowledged.push((id, answer.cluster_id));
    }
    drop(master);
    let promoted = redis_cli(replica.port(), &["replicaof", "no", "one"]);
    assert!(promoted.contains("OK"), "REPLICAOF NO ONE: {promoted}");
    server.shutdown().await.expect("clean shutdown");

    let (server, mut client) = serve(ServeConfig { store: replica.url(), ..ServeConfig::default() })
        .await
        .expect("server starts on the promoted replica");
    for (id, _) in &acknowledged {
        let record = client
            .get_article(proto::GetArticleRequest { id: id.clone() })
            .await
            .unwrap_or_else(|status| panic!("acknowledged article {id} lost in the failover: {status}"))
            .into_inner();
        let cluster = client
            .get_cluster(proto::GetClusterRequest { cluster_id: record.cluster_id.clone() })
            .await
            .unwrap_or_else(|status| panic!("cluster of {id}: {status}"))
            .into_inner();
        assert!(cluster.members.iter().any(|m| &m.id == id), "{id} is in its cluster");
        assert_eq!(cluster.canonical_id, record.canonical_id);
    }
    // articles acknowledged together are still together
    for (a, a_cluster) in &acknowledged {
        for (b, b_cluster) in &acknowledged {
            if a_cluster == b_cluster && a < b {
                let cluster_of = |id: &str| {
                    let mut client = client.clone();
                    let id = id.to_string();
                    async move {
                        client.get_article(proto::GetArticleRequest { id }).await.expect("get").into_inner().cluster_id
                    }
                };
                assert_eq!(cluster_of(a).await, cluster_of(b).await, "{a} and {b}");
            }
        }
    }
    server.shutdown().await.expect("clean shutdown");
}

/// A replica that does not answer: the ingest is refused as `UNAVAILABLE` within the wait, saying
/// so, and served again once the replica is back. A server asked to wait for a replica that does not
/// exist refuses to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_replicas_refuse_writes() {
    let (master, replica) = master_and_replica();
    let (server, mut client) = serve(waiting(master.url())).await.expect("server starts on the master");
    let articles = Synthetic::new(8);
    client.ingest(IngestRequest { article: Some(article(&articles, 0)) }).await.expect("ingest with a replica");

    replica.pause();
    let refused = client
        .ingest(IngestRequest { article: Some(article(&articles, 1)) })
        .await
        .expect_err("an ingest no replica acknowledged");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("0 of 1 replicas"), "{}", refused.message());
    replica.resume();
    client.ingest(IngestRequest { article: Some(article(&articles, 1)) }).await.expect("the retry, replica back");
    server.shutdown().await.expect("clean shutdown");

    let lone = RedisServer::start();
    let error = serve(waiting(lone.url())).await.err().expect("a server waiting for a replica that is not there");
    assert!(format!("{error:#}").contains("0 of 1 replicas"), "{error:#}");
}

/// A CA and a server certificate for `127.0.0.1`, written as files: (directory, cert, key, ca).
fn certificates() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "dedupd redis test ca");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("ca key")).expect("ca");
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("server params");
    params.distinguished_name.push(DnType::CommonName, "redis");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &ca).expect("sign");
    let dir = tempfile::tempdir().expect("temporary directory");
    let paths = ["redis.pem", "redis.key", "ca.pem"].map(|name| dir.path().join(name));
    for (path, text) in paths.iter().zip([cert.pem(), key.serialize_pem(), ca.pem()]) {
        std::fs::write(path, text).expect("write pem");
    }
    let [cert, key, ca] = paths;
    (dir, cert, key, ca)
}

const PASSWORD: &str = "tls-acl-password-93c1e7";

/// dedupd over TLS as an ACL user: `rediss://dedupd:PASSWORD@…` with `--redis-ca` serves; a wrong
/// password and a missing CA each stop the server at start with a clear error that does not show
/// the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_an_acl_user() {
    let (_dir, cert, key, ca) = certificates();
    let tls_port = free_port().to_string();
    let paths = [&cert, &key, &ca].map(|path| path.to_str().expect("a utf-8 path").to_string());
    let password = format!(">{PASSWORD}");
    // the plain port stays, for the kit's start-up check; dedupd uses only the TLS port
    let redis = RedisServer::start_with(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &paths[0],
        "--tls-key-file",
        &paths[1],
        "--tls-ca-cert-file",
        &paths[2],
        "--tls-auth-clients",
        "no",
        "--user",
        "dedupd",
        "on",
        &password,
        "~*",
        "&*",
        "+@all",
    ]);
    let _ = redis.port();
    let url = |password: &str| format!("rediss://dedupd:{password}@127.0.0.1:{tls_port}");
    let config = |password: &str, ca: Option<&PathBuf>| ServeConfig {
        store: url(password),
        redis_ca: ca.cloned(),
        namespace: Some("tls".into()),
        ..ServeConfig::default()
    };

    let (server, mut client) = serve(config(PASSWORD, Some(&ca))).await.expect("server starts over rediss");
    let articles = Synthetic::new(9);
    let first = article(&articles, 0);
    let id = first.id.clone();
    client.ingest(IngestRequest { article: Some(first) }).await.expect("ingest over rediss");
    client.get_article(proto::GetArticleRequest { id }).await.expect("read over rediss");
    server.shutdown().await.expect("clean shutdown");

    let wrong = "not-the-password";
    let error = serve(config(wrong, Some(&ca))).await.err().expect("a wrong password");
    let message = format!("{error:#}");
    assert!(message.to_lowercase().contains("authentication failed"), "{message}");
    assert!(!message.contains(wrong) && !message.contains(PASSWORD), "the password leaks: {message}");

    let error = serve(config(PASSWORD, None)).await.err().expect("a certificate no public root signed");
    let message = format!("{error:#}");
    assert!(message.contains("cannot connect to redis"), "{message}");
    assert!(!message.contains(PASSWORD), "the password leaks: {message}");
}
