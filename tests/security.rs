//! Identities, roles and TLS, checked from a client's side: real servers on `127.0.0.1:0` (in this
//! process, or a spawned `dedupd serve` where a signal or the logs are the point), API keys in an auth
//! file, and certificates generated here with `rcgen`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dedupd::auth::token_hash;
use dedupd::config::ServeConfig;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{
    Article, DeleteArticleRequest, ExplainRequest, ExplainTextRequest, GetArticleRequest, IngestRequest,
};
use dedupd::server::Server;
use prost_types::Timestamp;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Request};

const INGEST_TOKEN: &str = "ingest-token-5b1f0c27e9d84a61";
const READ_TOKEN: &str = "read-token-c3e8a0d9f7b24e15";
const ADMIN_TOKEN: &str = "admin-token-77d2e4b1a9c03f58";

/// An auth file with an ingest, a read and an admin key.
fn write_keys(path: &Path, with_ingest: bool) {
    let mut text = String::from("# test keys\n");
    if with_ingest {
        text += &format!("{} ingest feeder\n", token_hash(INGEST_TOKEN));
    }
    text += &format!("{} read dashboard\n", token_hash(READ_TOKEN));
    text += &format!("{} admin operator\n", token_hash(ADMIN_TOKEN));
    std::fs::write(path, text).expect("write the auth file");
}

fn article(id: &str) -> Article {
    Article {
        id: id.into(),
        url: format!("https://{id}.example/story"),
        source: format!("{id}.example"),
        title: format!("Title of {id}"),
        body: "The city council approved the new budget on Tuesday after a long debate about school \
               funding, road repairs and the future of the public library in the old town centre."
            .repeat(3),
        published_at: Some(Timestamp { seconds: 1_780_000_000, nanos: 0 }),
    }
}

/// `message` with `authorization: Bearer <token>` when a token is given.
fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header value"));
    }
    request
}

async fn ingest(client: &mut DeduplicatorClient<Channel>, id: &str, token: Option<&str>) -> Result<(), Code> {
    let request = with_token(IngestRequest { article: Some(article(id)) }, token);
    client.ingest(request).await.map(|_| ()).map_err(|s| s.code())
}

async fn get(client: &mut DeduplicatorClient<Channel>, id: &str, token: Option<&str>) -> Result<(), Code> {
    client.get_article(with_token(GetArticleRequest { id: id.into() }, token)).await.map(|_| ()).map_err(|s| s.code())
}

async fn delete(client: &mut DeduplicatorClient<Channel>, id: &str, token: Option<&str>) -> Result<(), Code> {
    let request = with_token(DeleteArticleRequest { id: id.into() }, token);
    client.delete_article(request).await.map(|_| ()).map_err(|s| s.code())
}

async fn start(config: ServeConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Server::start(ServeConfig { store: "memory://".into(), ..config }, listener).await.expect("server starts")
}

async fn plain_client(server: &Server) -> DeduplicatorClient<Channel> {
    let channel = Channel::from_shared(server.url()).expect("url").connect().await.expect("connect");
    DeduplicatorClient::new(channel)
}

/// Without a key a call is unauthenticated; a read key reads (and explains) but cannot ingest or
/// delete; an ingest key ingests; an admin key deletes; health needs no key and reflection is off by default.
#[tokio::test]
async fn roles_decide_what_a_key_may_call() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    write_keys(&keys, true);
    let server = start(ServeConfig { auth_file: Some(keys), ..ServeConfig::default() }).await;
    let mut client = plain_client(&server).await;

    assert_eq!(ingest(&mut client, "a", None).await, Err(Code::Unauthenticated));
    assert_eq!(ingest(&mut client, "a", Some("not-a-key")).await, Err(Code::Unauthenticated));
    assert_eq!(ingest(&mut client, "a", Some(READ_TOKEN)).await, Err(Code::PermissionDenied));
    assert_eq!(ingest(&mut client, "a", Some(INGEST_TOKEN)).await, Ok(()));
    assert_eq!(get(&mut client, "a", Some(READ_TOKEN)).await, Ok(()));
    for (token, expected) in [(READ_TOKEN, Err(Code::PermissionDenied)), (INGEST_TOKEN, Ok(()))] {
        let requests = tokio_stream::iter([IngestRequest { article: Some(article("s")) }]);
        let answer = client.ingest_stream(with_token(requests, Some(token))).await;
        assert_eq!(answer.map(|_| ()).map_err(|s| s.code()), expected, "IngestStream needs the ingest role");
    }
    assert_eq!(get(&mut client, "a", Some(INGEST_TOKEN)).await, Err(Code::PermissionDenied));
    for (token, expected) in [(READ_TOKEN, Ok(())), (INGEST_TOKEN, Err(Code::PermissionDenied))] {
        let request = ExplainTextRequest { a: Some(article("x")), b: Some(article("y")) };
        let answer = client.explain_text(with_token(request, Some(token))).await;
        assert_eq!(answer.map(|_| ()).map_err(|s| s.code()), expected, "ExplainText needs the read role");
        let request = ExplainRequest { a_id: "a".into(), b_id: "a".into() };
        let answer = client.explain(with_token(request, Some(token))).await;
        assert_eq!(answer.map(|_| ()).map_err(|s| s.code()), expected, "Explain needs the read role");
    }
    assert_eq!(delete(&mut client, "a", Some(READ_TOKEN)).await, Err(Code::PermissionDenied));
    assert_eq!(delete(&mut client, "a", Some(INGEST_TOKEN)).await, Err(Code::PermissionDenied));
    assert_eq!(get(&mut client, "a", None).await, Err(Code::Unauthenticated));
    assert_eq!(delete(&mut client, "a", Some(ADMIN_TOKEN)).await, Ok(()));
    assert_eq!(get(&mut client, "a", Some(ADMIN_TOKEN)).await, Err(Code::NotFound));

    let channel = Channel::from_shared(server.url()).expect("url").connect().await.expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let request = tonic_health::pb::HealthCheckRequest { service: "dedup.v1.Deduplicator".into() };
    health.check(request).await.expect("health is open without a key");

    let mut reflection = tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let answer = reflection.server_reflection_info(with_token(tokio_stream::iter([request]), Some(ADMIN_TOKEN))).await;
    assert_eq!(answer.map(|_| ()).map_err(|s| s.code()), Err(Code::Unimplemented), "reflection is off by default");
    server.shutdown().await.expect("shutdown");
}

/// Without an auth file everything is open.
#[tokio::test]
async fn no_auth_file_means_open_access() {
    let server = start(ServeConfig::default()).await;
    let mut client = plain_client(&server).await;
    assert_eq!(ingest(&mut client, "open", None).await, Ok(()));
    assert_eq!(delete(&mut client, "open", None).await, Ok(()));
    server.shutdown().await.expect("shutdown");
}

/// A CA, and certificates it signs.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "dedupd test ca");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("ca key")).expect("ca");
        Pki { ca, dir: tempfile::tempdir().expect("dir") }
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A certificate with `cn` for `usage`: (certificate PEM, key PEM).
    fn issue(&self, cn: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a server certificate and key, and the CA, into files: (cert, key, ca).
    fn server_files(&self) -> (PathBuf, PathBuf, PathBuf) {
        let (cert, key) = self.issue("localhost", ExtendedKeyUsagePurpose::ServerAuth);
        let paths = ["server.pem", "server.key", "ca.pem"].map(|name| self.dir.path().join(name));
        for (path, text) in paths.iter().zip([cert, key, self.ca_pem()]) {
            std::fs::write(path, text).expect("write pem");
        }
        let [cert, key, ca] = paths;
        (cert, key, ca)
    }
}

async fn tls_channel(server: &Server, ca: &str, identity: Option<(String, String)>) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let endpoint = Channel::from_shared(server.url()).expect("url").tls_config(tls).map_err(|e| e.to_string())?;
    endpoint.connect().await.map_err(|e| format!("{e:?}"))
}

/// A TLS client that trusts the CA connects and calls; a plaintext client gets nothing.
#[tokio::test]
async fn tls_serves_tls_clients_only() {
    let pki = Pki::new();
    let (cert, key, _) = pki.server_files();
    let server = start(ServeConfig { tls_cert: Some(cert), tls_key: Some(key), ..ServeConfig::default() }).await;
    assert!(server.url().starts_with("https://"), "{}", server.url());

    let channel = tls_channel(&server, &pki.ca_pem(), None).await.expect("a tls client connects");
    let mut client = DeduplicatorClient::new(channel);
    assert_eq!(ingest(&mut client, "tls", None).await, Ok(()));

    let plain = Channel::from_shared(format!("http://{}", server.addr())).expect("url").connect().await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => {
            DeduplicatorClient::new(channel).get_article(GetArticleRequest { id: "tls".into() }).await.is_err()
        }
    };
    assert!(refused, "a plaintext client must not be served");

    // so does the `dedupd` client, given the CA
    let ca = pki.dir.path().join("ca.pem");
    let shown = dedupd_cli(&["article", "tls", "--server", &server.url()], None, Some(&ca)).await;
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    // and `dedupd health`, as a container's health check runs it
    let healthy = dedupd_cli(&["health", "--server", &server.url()], None, Some(&ca)).await;
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));
    let blind = dedupd_cli(&["health", "--server", &server.url()], None, None).await;
    assert!(!blind.status.success(), "a health check that does not trust the server's CA must fail");

    // a client that does not trust the server's CA refuses it
    let other = Pki::new();
    assert!(tls_channel(&server, &other.ca_pem(), None).await.is_err(), "an untrusted server certificate was accepted");
    server.shutdown().await.expect("shutdown");
}

/// A reload serves the certificate now in the files to new connections; files that do not load
/// leave the one in force.
#[tokio::test]
async fn tls_reload_switches_to_the_new_certificate() {
    let pki = Pki::new();
    let (cert, key, _) = pki.server_files();
    let server =
        start(ServeConfig { tls_cert: Some(cert.clone()), tls_key: Some(key.clone()), ..ServeConfig::default() }).await;
    tls_channel(&server, &pki.ca_pem(), None).await.expect("connects with the first certificate");

    std::fs::write(&cert, "not a certificate").expect("write");
    assert!(!server.reload(), "a broken certificate file must fail to reload");
    tls_channel(&server, &pki.ca_pem(), None).await.expect("the first certificate stays in force");

    let next = Pki::new();
    let (next_cert, next_key) = next.issue("localhost", ExtendedKeyUsagePurpose::ServerAuth);
    std::fs::write(&cert, next_cert).expect("write");
    std::fs::write(&key, next_key).expect("write");
    assert!(server.reload(), "the new certificate loads");
    tls_channel(&server, &next.ca_pem(), None).await.expect("connects with the new certificate");
    assert!(tls_channel(&server, &pki.ca_pem(), None).await.is_err(), "the old certificate is still served");
    server.shutdown().await.expect("shutdown");
}

/// `GET /metrics` on the HTTP listener over TLS, trusting `ca`: the status line, or why it failed.
async fn https_metrics(addr: std::net::SocketAddr, ca: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca.as_bytes()).expect("ca pem")).expect("ca");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await.map_err(|e| e.to_string())?;
    Ok(response.lines().next().unwrap_or_default().to_string())
}

/// The HTTP listener is TLS too when the gRPC one is, with the same certificate: a client trusting
/// the CA reads `/metrics`, a plaintext one gets no answer, and a reload switches both listeners to
/// the new certificate.
#[tokio::test]
async fn http_listener_serves_tls_with_the_grpc_certificate() {
    let pki = Pki::new();
    let (cert, key, _) = pki.server_files();
    let config = ServeConfig {
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        http_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..ServeConfig::default()
    };
    let server = start(config).await;
    let http = server.http_addr().expect("an http listener");
    assert_eq!(server.http_url(), Some(format!("https://{http}")));
    let status = https_metrics(http, &pki.ca_pem()).await.expect("a tls client reads /metrics");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    let plain = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(http).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("plain client");
    assert!(!plain.contains("200 OK"), "a plaintext client was served: {plain}");

    let next = Pki::new();
    let (next_cert, next_key) = next.issue("localhost", ExtendedKeyUsagePurpose::ServerAuth);
    std::fs::write(&cert, next_cert).expect("write");
    std::fs::write(&key, next_key).expect("write");
    assert!(server.reload(), "the new certificate loads");
    https_metrics(http, &next.ca_pem()).await.expect("the http listener serves the new certificate");
    assert!(https_metrics(http, &pki.ca_pem()).await.is_err(), "the http listener still serves the old certificate");
    tls_channel(&server, &next.ca_pem(), None).await.expect("and so does the grpc listener");
    server.shutdown().await.expect("shutdown");
}

/// With mutual TLS a client needs a certificate the CA signed; its common name can stand for an API
/// key in the auth file.
#[tokio::test]
async fn mutual_tls_requires_a_client_certificate() {
    let pki = Pki::new();
    let (cert, key, ca) = pki.server_files();
    let keys = pki.dir.path().join("keys");
    std::fs::write(&keys, "cn=reader-box read reader\ncn=ingest-box ingest feeder\n").expect("write keys");
    let server = start(ServeConfig {
        tls_cert: Some(cert),
        tls_key: Some(key),
        tls_client_ca: Some(ca),
        auth_file: Some(keys),
        ..ServeConfig::default()
    })
    .await;

    let without = match tls_channel(&server, &pki.ca_pem(), None).await {
        Err(_) => true,
        Ok(channel) => DeduplicatorClient::new(channel)
            .get_article(GetArticleRequest { id: "x".into() })
            .await
            .is_err_and(|s| s.code() == Code::Unavailable || s.code() == Code::Unknown),
    };
    assert!(without, "a client without a certificate must be refused");

    let stranger = Pki::new().issue("ingest-box", ExtendedKeyUsagePurpose::ClientAuth);
    let foreign = match tls_channel(&server, &pki.ca_pem(), Some(stranger)).await {
        Err(_) => true,
        Ok(channel) => DeduplicatorClient::new(channel)
            .get_article(GetArticleRequest { id: "x".into() })
            .await
            .is_err_and(|s| s.code() != Code::NotFound),
    };
    assert!(foreign, "a certificate another CA signed must be refused");

    let reader = pki.issue("reader-box", ExtendedKeyUsagePurpose::ClientAuth);
    let channel =
        tls_channel(&server, &pki.ca_pem(), Some(reader)).await.expect("a client with a certificate connects");
    let mut client = DeduplicatorClient::new(channel);
    assert_eq!(get(&mut client, "x", None).await, Err(Code::NotFound), "the reader certificate may read");
    assert_eq!(ingest(&mut client, "x", None).await, Err(Code::PermissionDenied));

    // the `dedupd` client presents its certificate too
    let (cert_pem, key_pem) = pki.issue("reader-box", ExtendedKeyUsagePurpose::ClientAuth);
    let (cert_file, key_file) = (pki.dir.path().join("client.pem"), pki.dir.path().join("client.key"));
    std::fs::write(&cert_file, cert_pem).expect("write");
    std::fs::write(&key_file, key_pem).expect("write");
    let url = server.url();
    let ca = pki.dir.path().join("ca.pem");
    let args =
        ["article", "x", "--server", &url, "--client-cert", path_str(&cert_file), "--client-key", path_str(&key_file)];
    let shown = dedupd_cli(&args, None, Some(&ca)).await;
    assert!(String::from_utf8_lossy(&shown.stderr).contains("NotFound"), "{shown:?}");
    let bare = dedupd_cli(&args[..4], None, Some(&ca)).await;
    assert!(!bare.status.success() && !String::from_utf8_lossy(&bare.stderr).contains("NotFound"), "{bare:?}");

    let feeder = pki.issue("ingest-box", ExtendedKeyUsagePurpose::ClientAuth);
    let channel = tls_channel(&server, &pki.ca_pem(), Some(feeder.clone())).await.expect("connects");
    let mut client = DeduplicatorClient::new(channel);
    assert_eq!(ingest(&mut client, "x", None).await, Ok(()));

    // a reload reads the client CA too: certificates of the old one are refused from then on
    let next = Pki::new();
    std::fs::write(&ca, next.ca_pem()).expect("write");
    assert!(server.reload(), "the new client ca loads");
    let refused = match tls_channel(&server, &pki.ca_pem(), Some(feeder)).await {
        Err(_) => true,
        Ok(channel) => DeduplicatorClient::new(channel)
            .get_article(GetArticleRequest { id: "x".into() })
            .await
            .is_err_and(|s| s.code() != Code::NotFound),
    };
    assert!(refused, "a certificate of the replaced client ca must be refused");
    let moved = next.issue("ingest-box", ExtendedKeyUsagePurpose::ClientAuth);
    let channel = tls_channel(&server, &pki.ca_pem(), Some(moved)).await.expect("connects with the new ca");
    let mut client = DeduplicatorClient::new(channel);
    assert_eq!(ingest(&mut client, "y", None).await, Ok(()));
    server.shutdown().await.expect("shutdown");
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs a `dedupd` client command (off the runtime, which may be serving the server it calls).
async fn dedupd_cli(args: &[&str], token: Option<&str>, tls_ca: Option<&Path>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dedupd"));
    command.args(args).env_remove("DEDUPD_TOKEN").env_remove("DEDUPD_TLS_CA").env_remove("DEDUPD_SERVER");
    command.env_remove("DEDUPD_CLIENT_CERT").env_remove("DEDUPD_CLIENT_KEY").stdin(Stdio::null());
    if let Some(token) = token {
        command.env("DEDUPD_TOKEN", token);
    }
    if let Some(ca) = tls_ca {
        command.arg("--tls-ca").arg(ca);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run dedupd")).await.expect("join")
}

/// A `dedupd serve` child process, killed on drop; its log goes to a file.
struct Spawned {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Spawned {
    fn start(args: &[&str], log: PathBuf) -> Spawned {
        for _ in 0..5 {
            let port = common::free_port();
            let file = std::fs::File::create(&log).expect("log file");
            let child = Command::new(env!("CARGO_BIN_EXE_dedupd"))
                .args(["serve", "--store", "memory://", "--listen", &format!("127.0.0.1:{port}")])
                .args(args)
                .env("RUST_LOG", "debug")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(file))
                .spawn()
                .expect("spawn dedupd serve");
            let mut spawned = Spawned { child, port, log: log.clone() };
            if spawned.wait_ready() {
                return spawned;
            }
        }
        panic!("dedupd serve did not start on any of 5 free ports");
    }

    /// Waits until the server answers health checks; false if it exited (its port was taken).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains("dedupd serving")) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("dedupd serve did not report serving; log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    async fn client(&self) -> DeduplicatorClient<Channel> {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{}", self.port))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        DeduplicatorClient::new(channel)
    }

    fn hangup(&self) {
        let status = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -HUP failed");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).expect("read the server log")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key removed from the auth file is refused after SIGHUP; a broken file on SIGHUP keeps the keys
/// in force; and no token, good or bad, appears in the server's debug log.
#[tokio::test]
async fn sighup_reloads_keys_and_tokens_stay_out_of_logs() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    write_keys(&keys, true);
    let server = Spawned::start(&["--auth-file", keys.to_str().expect("utf-8 path")], dir.path().join("log"));
    let mut client = server.client().await;

    assert_eq!(ingest(&mut client, "h1", Some(INGEST_TOKEN)).await, Ok(()));
    assert_eq!(ingest(&mut client, "h2", Some(READ_TOKEN)).await, Err(Code::PermissionDenied));
    let wrong = "wrong-token-0f9e8d7c6b5a4938";
    assert_eq!(ingest(&mut client, "h3", Some(wrong)).await, Err(Code::Unauthenticated));

    // a file that does not parse: the old keys stay
    std::fs::write(&keys, "this is not a key line\n").expect("write");
    server.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("auth file reload failed") {
        assert!(Instant::now() < deadline, "no reload error logged:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ingest(&mut client, "h4", Some(INGEST_TOKEN)).await, Ok(()));

    // the ingest key removed: refused once the server has reloaded
    write_keys(&keys, false);
    server.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ingest(&mut client, "h5", Some(INGEST_TOKEN)).await != Err(Code::Unauthenticated) {
        assert!(Instant::now() < deadline, "the removed key is still accepted:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&mut client, "h1", Some(READ_TOKEN)).await, Ok(()), "the keys left in the file still work");

    // the client commands send the key from the environment
    let url = format!("http://127.0.0.1:{}", server.port);
    let shown = dedupd_cli(&["article", "h1", "--server", &url], Some(READ_TOKEN), None).await;
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(String::from_utf8_lossy(&shown.stdout).contains("h1"));
    let refused = dedupd_cli(&["article", "h1", "--server", &url], None, None).await;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Unauthenticated"), "{refused:?}");

    let log = server.log();
    assert!(log.contains("dashboard"), "the identity's name is logged:\n{log}");
    for token in [INGEST_TOKEN, READ_TOKEN, ADMIN_TOKEN, wrong] {
        assert!(!log.contains(token), "a token appears in the log");
    }
    assert!(!log.contains(&token_hash(INGEST_TOKEN)), "a key hash appears in the log");
}

/// A server with the three test keys and `limits` applied to `config`.
async fn start_with_keys(dir: &Path, config: ServeConfig) -> Server {
    let keys = dir.join("keys");
    write_keys(&keys, true);
    start(ServeConfig { auth_file: Some(keys), ..config }).await
}

/// With a rate of 1/s and bursts of 2, a key's third quick call is refused with `RESOURCE_EXHAUSTED`
/// and a `retry-after`; another key keeps its own allowance.
#[tokio::test]
async fn rate_limit_refuses_a_burst_per_identity() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ServeConfig { rate_limit: 1, rate_burst: Some(2), ..ServeConfig::default() };
    let server = start_with_keys(dir.path(), config).await;
    let mut client = plain_client(&server).await;

    assert_eq!(get(&mut client, "a", Some(READ_TOKEN)).await, Err(Code::NotFound));
    assert_eq!(get(&mut client, "a", Some(READ_TOKEN)).await, Err(Code::NotFound));
    let refused = client
        .get_article(with_token(GetArticleRequest { id: "a".into() }, Some(READ_TOKEN)))
        .await
        .expect_err("the third call of a burst of 2 is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("retry"), "the message says when to retry: {}", refused.message());
    let retry_after = refused.metadata().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    assert!(matches!(retry_after, Some(1_u64..=2)), "retry-after in seconds: {retry_after:?}");

    assert_eq!(get(&mut client, "a", Some(ADMIN_TOKEN)).await, Err(Code::NotFound), "another key is unaffected");
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        Channel::from_shared(server.url()).expect("url").connect().await.expect("connect"),
    );
    for _ in 0..3 {
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        health.check(request).await.expect("health is never rate limited");
    }
    server.shutdown().await.expect("shutdown");
}

/// Without an auth file the rate limit applies per peer address.
#[tokio::test]
async fn rate_limit_without_keys_is_per_address() {
    let config = ServeConfig { rate_limit: 1, rate_burst: Some(1), ..ServeConfig::default() };
    let server = start(config).await;
    let mut client = plain_client(&server).await;
    assert_eq!(get(&mut client, "a", None).await, Err(Code::NotFound));
    assert_eq!(get(&mut client, "a", None).await, Err(Code::ResourceExhausted));
    // a second connection from the same address shares the allowance
    let mut other = plain_client(&server).await;
    assert_eq!(get(&mut other, "a", None).await, Err(Code::ResourceExhausted));
    server.shutdown().await.expect("shutdown");
}

/// With `--max-connections 1`, a second connection is closed while the first is open, and accepted
/// once the first has gone.
#[tokio::test]
async fn connections_beyond_the_cap_are_refused() {
    let server = start(ServeConfig { max_connections: 1, ..ServeConfig::default() }).await;
    let mut first = plain_client(&server).await;
    assert_eq!(get(&mut first, "a", None).await, Err(Code::NotFound));

    let second = match Channel::from_shared(server.url()).expect("url").connect().await {
        Err(_) => Err(Code::Unavailable),
        Ok(channel) => get(&mut DeduplicatorClient::new(channel), "a", None).await,
    };
    assert!(second.is_err() && second != Err(Code::NotFound), "a connection beyond the cap was served: {second:?}");
    assert_eq!(get(&mut first, "a", None).await, Err(Code::NotFound), "the first connection still works");

    drop(first);
    // the server notices the first connection's end on its own time
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = match Channel::from_shared(server.url()).expect("url").connect().await {
            Err(_) => Err(Code::Unavailable),
            Ok(channel) => get(&mut DeduplicatorClient::new(channel), "a", None).await,
        };
        if answer == Err(Code::NotFound) {
            break;
        }
        assert!(Instant::now() < deadline, "a new connection is still refused after the first closed: {answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await.expect("shutdown");
}

/// With `--max-streams-per-identity 1`, a key's second open `IngestStream` is refused, another key's
/// is not, and the key may open one again once its first has ended.
#[tokio::test]
async fn streams_beyond_the_cap_per_identity_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let server =
        start_with_keys(dir.path(), ServeConfig { max_streams_per_identity: 1, ..ServeConfig::default() }).await;
    let mut client = plain_client(&server).await;

    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    sender.send(IngestRequest { article: Some(article("open")) }).await.expect("send");
    let open = tokio_stream::wrappers::ReceiverStream::new(receiver);
    let mut answers =
        client.ingest_stream(with_token(open, Some(INGEST_TOKEN))).await.expect("the first stream opens").into_inner();
    answers.message().await.expect("first stream answers").expect("an answer");

    let second = tokio_stream::iter([IngestRequest { article: Some(article("second")) }]);
    let refused = client.ingest_stream(with_token(second, Some(INGEST_TOKEN))).await.map(|_| ());
    assert_eq!(refused.map_err(|s| s.code()), Err(Code::ResourceExhausted));
    let other = tokio_stream::iter([IngestRequest { article: Some(article("other")) }]);
    let allowed = client.ingest_stream(with_token(other, Some(ADMIN_TOKEN))).await.map(|_| ());
    assert_eq!(allowed.map_err(|s| s.code()), Ok(()), "another key has its own streams");

    drop(sender);
    while answers.message().await.expect("the first stream ends cleanly").is_some() {}
    // the server releases the place when it has dropped the answer, just after the client saw its end
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = tokio_stream::iter([IngestRequest { article: Some(article("again")) }]);
        match client.ingest_stream(with_token(again, Some(INGEST_TOKEN))).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted);
                assert!(Instant::now() < deadline, "the ended stream still holds its place");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    server.shutdown().await.expect("shutdown");
}

/// With TLS the cap counts connections from accept, before their handshake: a client that connects
/// and never says hello holds the only place, and a TLS client gets in once it has gone.
#[tokio::test]
async fn tls_connections_count_before_their_handshake() {
    let pki = Pki::new();
    let (cert, key, _) = pki.server_files();
    let config = ServeConfig { tls_cert: Some(cert), tls_key: Some(key), max_connections: 1, ..ServeConfig::default() };
    let server = start(config).await;
    let silent = tokio::net::TcpStream::connect(server.addr()).await.expect("tcp connect");

    let served = |channel: Result<Channel, String>| async move {
        match channel {
            Err(_) => false,
            Ok(channel) => get(&mut DeduplicatorClient::new(channel), "a", None).await == Err(Code::NotFound),
        }
    };
    assert!(!served(tls_channel(&server, &pki.ca_pem(), None).await).await, "a client beyond the cap was served");

    drop(silent);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !served(tls_channel(&server, &pki.ca_pem(), None).await).await {
        assert!(Instant::now() < deadline, "a tls client is still refused after the silent one left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await.expect("shutdown");
}
