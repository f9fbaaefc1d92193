//! The HTTP side of a real server on `127.0.0.1:0`: `/metrics` on the HTTP listener, gRPC-Web on the
//! gRPC port (grpc-web framing over HTTP/1.1) with its CORS policy, and the review page's sign-in and
//! cross-origin checks, all from a plain HTTP/1.1 client.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use dedupd::auth::token_hash;
use dedupd::config::ServeConfig;
use dedupd::proto::deduplicator_client::DeduplicatorClient;
use dedupd::proto::{Article, ArticleRecord, GetArticleRequest, IngestRequest, ListVerdictsRequest};
use dedupd::server::Server;
use dedupd::synthetic::{spun, text as article_text};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use prost::bytes::Bytes;
use tokio::net::TcpListener;
use tonic::codegen::http::{HeaderMap, Method, Request, StatusCode, header};

const READ_TOKEN: &str = "read-token-0d8c1f5a2b7e4936";
const MODERATE_TOKEN: &str = "moderate-token-9a4e7c2d1f0b3865";
const INGEST_TOKEN: &str = "ingest-token-3b6f9e1c8d2a4057";
const ALLOWED_ORIGIN: &str = "https://dashboard.example";

async fn start(config: ServeConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let config =
        ServeConfig { store: "memory://".into(), http_listen: Some("127.0.0.1:0".parse().expect("addr")), ..config };
    Server::start(config, listener).await.expect("server starts")
}

fn write_keys(path: &Path) {
    let text = format!(
        "{} read dashboard\n{} moderate moderator\n{} ingest feeder\n",
        token_hash(READ_TOKEN),
        token_hash(MODERATE_TOKEN),
        token_hash(INGEST_TOKEN)
    );
    std::fs::write(path, text).expect("write the auth file");
}

fn article(id: &str, body: String) -> Article {
    Article {
        id: id.into(),
        url: format!("https://{id}.example/story"),
        source: format!("{id}.example"),
        title: format!("Title of {id}"),
        body,
        published_at: None,
    }
}

/// An HTTP/1.1 answer: status, headers and the whole body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request over HTTP/1.1 (redirects are not followed).
async fn send(request: Request<Full<Bytes>>) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.request(request).await.expect("http request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("read the body").to_bytes();
    Answer { status: parts.status, headers: parts.headers, body }
}

fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = Request::get(format!("http://{addr}{path}"));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Full::default()).expect("request")
}

/// A form POST as a browser sends it, with `origin` as its `Origin` header.
fn post_form(
    addr: SocketAddr,
    path: &str,
    form: &str,
    origin: Option<&str>,
    cookie: Option<&str>,
) -> Request<Full<Bytes>> {
    let mut request =
        Request::post(format!("http://{addr}{path}")).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Full::new(Bytes::from(form.to_string()))).expect("request")
}

/// A gRPC-Web call: the message in one length-prefixed frame, as a browser's client sends it.
fn grpc_web(addr: SocketAddr, method: &str, message: &impl Message, origin: Option<&str>) -> Request<Full<Bytes>> {
    let encoded = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    framed.extend_from_slice(&encoded);
    let mut request = Request::post(format!("http://{addr}/dedup.v1.Deduplicator/{method}"))
        .header(header::CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    request.body(Full::new(Bytes::from(framed))).expect("request")
}

/// The frames of a gRPC-Web answer: the messages, and the trailers (from the trailer frame, or the
/// headers of a trailers-only answer).
fn grpc_web_frames(answer: &Answer) -> (Vec<Vec<u8>>, String) {
    let mut messages = Vec::new();
    let mut trailers = String::new();
    let mut rest = &answer.body[..];
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let frame = &rest[5..5 + len];
        if flag & 0x80 == 0 {
            messages.push(frame.to_vec());
        } else {
            trailers += &String::from_utf8_lossy(frame).to_lowercase();
        }
        rest = &rest[5 + len..];
    }
    if let Some(status) = answer.header("grpc-status") {
        trailers += &format!("grpc-status:{status}\r\n");
    }
    (messages, trailers)
}

/// `/metrics` is on the HTTP listener, in the Prometheus text format, and counts what the gRPC
/// listener served; `/` leads to the review page.
#[tokio::test]
async fn metrics_are_served_on_the_http_listener() {
    let server = start(ServeConfig::default()).await;
    let http = server.http_addr().expect("an http listener");
    assert_ne!(http, server.addr());
    let mut client = DeduplicatorClient::connect(server.url()).await.expect("connect");
    client.ingest(IngestRequest { article: Some(article("m1", article_text(1, 200))) }).await.expect("ingest");

    let answer = send(get(http, "/metrics", None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let body = answer.text();
    assert!(body.contains("# TYPE dedupd_request_seconds histogram"), "{body}");
    assert!(body.contains(r#"dedupd_requests_total{method="Ingest",code="OK"}"#), "{body}");

    let root = send(get(http, "/", None)).await;
    assert!(root.status.is_redirection(), "{}", root.status);
    assert_eq!(root.header("location"), Some("/review"));
    assert_eq!(send(get(http, "/nothing-here", None)).await.status, StatusCode::NOT_FOUND);
    server.shutdown().await.expect("shutdown");
}

/// A gRPC-Web call over HTTP/1.1 gets the message and an OK status; an unknown id gets `NOT_FOUND` in
/// the trailers; the API keys apply to gRPC-Web calls as to any other.
#[tokio::test]
async fn grpc_web_calls_are_answered_over_http1() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    write_keys(&keys);
    let server = start(ServeConfig { auth_file: Some(keys), ..ServeConfig::default() }).await;
    let mut client = DeduplicatorClient::connect(server.url()).await.expect("connect");
    let mut request = tonic::Request::new(IngestRequest { article: Some(article("web-1", article_text(2, 200))) });
    request.metadata_mut().insert("authorization", format!("Bearer {INGEST_TOKEN}").parse().expect("header"));
    client.ingest(request).await.expect("ingest");

    let mut call = grpc_web(server.addr(), "GetArticle", &GetArticleRequest { id: "web-1".into() }, None);
    call.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {READ_TOKEN}").parse().expect("header"));
    let answer = send(call).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.header("content-type").is_some_and(|t| t.starts_with("application/grpc-web")),
        "{:?}",
        answer.headers
    );
    let (messages, trailers) = grpc_web_frames(&answer);
    assert!(trailers.contains("grpc-status:0"), "{trailers:?}");
    assert_eq!(messages.len(), 1);
    let record = ArticleRecord::decode(&messages[0][..]).expect("an ArticleRecord");
    assert_eq!((record.id.as_str(), record.canonical_id.as_str()), ("web-1", "web-1"));

    let mut missing = grpc_web(server.addr(), "GetArticle", &GetArticleRequest { id: "nope".into() }, None);
    missing.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {READ_TOKEN}").parse().expect("header"));
    let (_, trailers) = grpc_web_frames(&send(missing).await);
    assert!(trailers.contains("grpc-status:5"), "NOT_FOUND expected: {trailers:?}");

    let anonymous = send(grpc_web(server.addr(), "GetArticle", &GetArticleRequest { id: "web-1".into() }, None)).await;
    let (messages, trailers) = grpc_web_frames(&anonymous);
    assert!(messages.is_empty() && trailers.contains("grpc-status:16"), "UNAUTHENTICATED expected: {trailers:?}");
    server.shutdown().await.expect("shutdown");
}

/// A CORS preflight from an allowed origin gets the headers a gRPC-Web client needs, and so does its
/// call; one from another origin gets none, and neither does a server without `--cors-origin`.
#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let server = start(ServeConfig { cors_origins: vec![ALLOWED_ORIGIN.to_string()], ..ServeConfig::default() }).await;
    let preflight = |addr: SocketAddr, origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri(format!("http://{addr}/dedup.v1.Deduplicator/GetArticle"))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type,x-grpc-web,authorization")
            .body(Full::default())
            .expect("request")
    };
    let allowed = send(preflight(server.addr(), ALLOWED_ORIGIN)).await;
    assert!(allowed.status.is_success(), "{}", allowed.status);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(ALLOWED_ORIGIN));
    let methods = allowed.header("access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.header("access-control-allow-headers").unwrap_or_default().to_lowercase();
    for needed in ["content-type", "x-grpc-web", "authorization"] {
        assert!(headers.contains(needed), "{needed} not allowed: {headers}");
    }

    let other = send(preflight(server.addr(), "https://elsewhere.example")).await;
    assert_eq!(other.header("access-control-allow-origin"), None, "{:?}", other.headers);

    let call =
        send(grpc_web(server.addr(), "GetArticle", &GetArticleRequest { id: "x".into() }, Some(ALLOWED_ORIGIN))).await;
    assert_eq!(call.header("access-control-allow-origin"), Some(ALLOWED_ORIGIN));
    let exposed = call.header("access-control-expose-headers").unwrap_or_default().to_lowercase();
    assert!(exposed.contains("grpc-status") && exposed.contains("grpc-message"), "{exposed}");
    server.shutdown().await.expect("shutdown");

    let closed = start(ServeConfig::default()).await;
    let answer = send(preflight(closed.addr(), ALLOWED_ORIGIN)).await;
    assert_eq!(answer.header("access-control-allow-origin"), None, "no origin is allowed by default");
    closed.shutdown().await.expect("shutdown");

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let bad = ServeConfig {
        store: "memory://".into(),
        cors_origins: vec!["dashboard.example/x".into()],
        ..ServeConfig::default()
    };
    let refused = Server::start(bad, listener).await.map(|_| ()).expect_err("an origin without a scheme is refused");
    assert!(refused.to_string().contains("--cors-origin"), "{refused}");
}

/// The session cookie of a sign-in answer, as a browser would send it back.
fn session(answer: &Answer) -> String {
    let cookie = answer.header("set-cookie").expect("a cookie is set");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/review"] {
        assert!(cookie.contains(attribute), "the cookie lacks {attribute}: {cookie}");
    }
    cookie.split(';').next().expect("name=value").to_string()
}

/// With an auth file the page asks for a key: without one it leads to the sign-in form; an unknown key
/// or one that may not read is refused; a read key gets in, through a cookie the page's scripts
/// cannot read; a POST from another origin (or none) is refused; a key removed from the file and
/// reloaded stops working at once.
#[tokio::test]
async fn review_page_signs_in_with_a_key_and_refuses_cross_origin_posts() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    write_keys(&keys);
    let server = start(ServeConfig { auth_file: Some(keys.clone()), ..ServeConfig::default() }).await;
    let http = server.http_addr().expect("http");
    let origin = format!("http://{http}");

    let anonymous = send(get(http, "/review", None)).await;
    assert!(anonymous.status.is_redirection(), "{}", anonymous.status);
    assert_eq!(anonymous.header("location"), Some("/review/login"));
    let form = send(get(http, "/review/login", None)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text().contains(r#"type="password""#), "{}", form.text());
    let csp = form.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");

    let unknown = send(post_form(http, "/review/login", "token=wrong", Some(&origin), None)).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.header("set-cookie").is_none());
    let ingest_only =
        send(post_form(http, "/review/login", &format!("token={INGEST_TOKEN}"), Some(&origin), None)).await;
    assert_eq!(ingest_only.status, StatusCode::FORBIDDEN, "an ingest key may not read");

    let forged =
        send(post_form(http, "/review/login", &format!("token={READ_TOKEN}"), Some("http://evil.example"), None)).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.header("set-cookie").is_none());
    let no_origin = send(post_form(http, "/review/login", &format!("token={READ_TOKEN}"), None, None)).await;
    assert_eq!(no_origin.status, StatusCode::FORBIDDEN);

    let signed_in = send(post_form(http, "/review/login", &format!("token={READ_TOKEN}"), Some(&origin), None)).await;
    assert!(signed_in.status.is_redirection(), "{}", signed_in.status);
    let cookie = session(&signed_in);
    assert!(!cookie.contains(READ_TOKEN), "the cookie holds the key encoded, not as typed");
    let page = send(get(http, "/review", Some(&cookie))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("dashboard"), "the page names who is signed in");

    // the key leaves the file: the next request is sent to sign in again
    std::fs::write(&keys, format!("{} moderate moderator\n", token_hash(MODERATE_TOKEN))).expect("write");
    assert!(server.reload());
    let after = send(get(http, "/review", Some(&cookie))).await;
    assert!(after.status.is_redirection(), "a removed key still reads: {}", after.status);
    server.shutdown().await.expect("shutdown");
}

/// Without an auth file the page is open, like the API; a cluster view escapes what it shows.
#[tokio::test]
async fn review_page_is_open_without_keys_and_escapes_article_text() {
    let server = start(ServeConfig::default()).await;
    let http = server.http_addr().expect("http");
    let mut client = DeduplicatorClient::connect(server.url()).await.expect("connect");
    let text = article_text(3, 300);
    let mut original = article("orig-1", text.clone());
    original.title = "<script>alert('title')</script>".into();
    client.ingest(IngestRequest { article: Some(original) }).await.expect("ingest");
    let mut copy = article("<img src=x onerror=alert(1)>", spun(&text, 5, 1));
    copy.source = "\"><b>source</b>".into();
    let decided = client.ingest(IngestRequest { article: Some(copy) }).await.expect("ingest a copy").into_inner();
    assert!(decided.duplicate, "the copy is found");

    assert_eq!(send(get(http, "/review/login", None)).await.status, StatusCode::SEE_OTHER);
    let found = send(get(http, "/review/articles?id=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", None)).await;
    assert!(found.status.is_redirection(), "{}", found.status);
    let location = found.header("location").expect("to the cluster").to_string();
    assert!(location.starts_with(&format!("/review/clusters/{}", decided.cluster_id)), "{location}");
    let page = send(get(http, &location, None)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    for raw in ["<script>alert", "<img src=x", "<b>source"] {
        assert!(!html.contains(raw), "{raw} reached the page unescaped");
    }
    for escaped in ["&lt;script&gt;alert(", "&lt;img src=x onerror=alert(1)&gt;", "&quot;&gt;&lt;b&gt;source"] {
        assert!(html.contains(escaped), "{escaped} missing from the page");
    }
    let missing = send(get(http, "/review/clusters/no-such-cluster", None)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    server.shutdown().await.expect("shutdown");
}

/// A cluster of 500 copies is one page: every member listed once, canonical first, each with its
/// verdict buttons, in one form.
#[tokio::test]
async fn a_cluster_of_500_copies_renders_on_one_page() {
    const COPIES: usize = 500;
    let server = start(ServeConfig::default()).await;
    let http = server.http_addr().expect("http");
    let mut client = DeduplicatorClient::connect(server.url()).await.expect("connect");
    let text = article_text(21, 300);
    let original = client
        .ingest(IngestRequest { article: Some(article("wire-500", text.clone())) })
        .await
        .expect("ingest")
        .into_inner();
    let copies: Vec<IngestRequest> = (0..COPIES)
        .map(|n| IngestRequest { article: Some(article(&format!("copy-{n:03}"), spun(&text, 5, n as u64))) })
        .collect();
    let mut answers = client.ingest_stream(tokio_stream::iter(copies)).await.expect("stream").into_inner();
    let mut joined = 0;
    while let Some(answer) = answers.message().await.expect("answer") {
        assert!(answer.error.is_empty(), "{}", answer.error);
        joined += usize::from(answer.cluster_id == original.cluster_id);
    }
    assert_eq!(joined, COPIES, "every copy joins the original's cluster");

    let page = send(get(http, &format!("/review/clusters/{}", original.cluster_id), None)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    let rows = html.split("<tr").filter(|row| row.contains("data-id=")).count();
    assert_eq!(rows, COPIES + 1, "every member is listed once");
    let first = html.find(r#"data-id="wire-500""#).expect("the canonical is listed");
    assert!(html.find(r#"data-id="copy-"#).is_some_and(|copy| first < copy), "the canonical comes first");
    assert_eq!(html.matches(r#"id="verdicts""#).count(), 1, "one form holds every member's buttons");
    assert_eq!(html.matches(">Not a copy<").count(), COPIES, "one button per copy");
    server.shutdown().await.expect("shutdown");
}

/// The verdict buttons need a key that may give verdicts: a read key's POST is refused and changes
/// nothing, a moderator's splits the cluster and is recorded under the key's name.
#[tokio::test]
async fn verdicts_from_the_page_need_a_moderator_key() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    write_keys(&keys);
    let server = start(ServeConfig { auth_file: Some(keys), ..ServeConfig::default() }).await;
    let http = server.http_addr().expect("http");
    let origin = format!("http://{http}");
    let channel = tonic::transport::Channel::from_shared(server.url()).expect("url").connect().await.expect("connect");
    let mut client = DeduplicatorClient::with_interceptor(channel, |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", format!("Bearer {MODERATE_TOKEN}").parse().expect("header"));
        Ok(request)
    });
    let mut feeder = DeduplicatorClient::connect(server.url()).await.expect("connect");
    let text = article_text(5, 300);
    for (id, body) in [("orig", text.clone()), ("copy", spun(&text, 5, 1))] {
        let mut request = tonic::Request::new(IngestRequest { article: Some(article(id, body)) });
        request.metadata_mut().insert("authorization", format!("Bearer {INGEST_TOKEN}").parse().expect("header"));
        feeder.ingest(request).await.expect("ingest");
    }
    let cluster =
        client.get_article(GetArticleRequest { id: "orig".into() }).await.expect("get").into_inner().cluster_id;

    let sign_in = |token: &str| post_form(http, "/review/login", &format!("token={token}"), Some(&origin), None);
    let reader = session(&send(sign_in(READ_TOKEN)).await);
    let page = send(get(http, &format!("/review/clusters/{cluster}"), Some(&reader))).await;
    assert!(!page.text().contains(">Not a copy<"), "a read key sees no verdict buttons");
    let form = "article_id=copy&from_id=orig&reason=r";
    let refused = send(post_form(http, "/review/verdicts/distinct", form, Some(&origin), Some(&reader))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let still = client.get_article(GetArticleRequest { id: "copy".into() }).await.expect("get").into_inner();
    assert_eq!(still.cluster_id, cluster, "a refused verdict changed nothing");

    let moderator = session(&send(sign_in(MODERATE_TOKEN)).await);
    let page = send(get(http, &format!("/review/clusters/{cluster}"), Some(&moderator))).await;
    assert!(page.text().contains(">Not a copy<"), "a moderator sees the verdict buttons");
    let forged =
        send(post_form(http, "/review/verdicts/distinct", form, Some("http://evil.example"), Some(&moderator))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "a cross-origin verdict is refused");
    let split = send(post_form(http, "/review/verdicts/distinct", form, Some(&origin), Some(&moderator))).await;
    assert_eq!(split.status, StatusCode::SEE_OTHER);
    let moved = client.get_article(GetArticleRequest { id: "copy".into() }).await.expect("get").into_inner();
    assert_ne!(moved.cluster_id, cluster, "the split happened");
    let location = split.header("location").unwrap_or_default();
    assert!(location.contains(&moved.cluster_id) && location.contains("split_from="), "{location}");
    let verdicts = client.list_verdicts(ListVerdictsRequest::default()).await.expect("verdicts").into_inner();
    let verdict = verdicts.verdicts.first().expect("recorded");
    assert_eq!((verdict.reviewer.as_str(), verdict.reason.as_str()), ("moderator", "r"));

    // a verdict the engine refuses is shown, not swallowed: these two are in different clusters now
    let again = send(post_form(
        http,
        "/review/verdicts/canonical",
        &format!("cluster_id={cluster}&article_id=copy"),
        Some(&origin),
        Some(&moderator),
    ))
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    server.shutdown().await.expect("shutdown");
}

/// Side by side needs kept text: without it the page says which option is missing, instead of
/// failing blank; with it, both bodies are on the page, escaped.
#[tokio::test]
async fn side_by_side_needs_kept_text_and_escapes_bodies() {
    let text = article_text(8, 300);
    let hostile = format!("{} <script>alert('body')</script>", spun(&text, 10, 3));
    for keep_text in [false, true] {
        let server = start(ServeConfig { keep_text: Some(keep_text), ..ServeConfig::default() }).await;
        let http = server.http_addr().expect("http");
        let mut client = DeduplicatorClient::connect(server.url()).await.expect("connect");
        for (id, body) in [("a", text.clone()), ("b", hostile.clone())] {
            client.ingest(IngestRequest { article: Some(article(id, body)) }).await.expect("ingest");
        }
        let page = send(get(http, "/review/compare?a=a&b=b", None)).await;
        if keep_text {
            assert_eq!(page.status, StatusCode::OK, "{}", page.text());
            let html = page.text();
            assert!(html.contains(r#"<mark class="shared">"#), "shared passages are highlighted");
            assert!(html.contains("&lt;script&gt;alert('body')&lt;/script&gt;"), "the body is shown as text");
            assert!(!html.contains("<script>alert"), "the body reached the page unescaped");
        } else {
            assert_eq!(page.status, StatusCode::CONFLICT);
            assert!(page.text().contains("--keep-text"), "the page names the option: {}", page.text());
        }
        server.shutdown().await.expect("shutdown");
    }
}

/// A browser following the live feed does not hold the server open: shutdown ends the stream and
/// the server drains (the grace period is long, so finishing means the stream ended).
#[tokio::test]
async fn shutdown_ends_the_live_feed() {
    let server =
        start(ServeConfig { shutdown_grace: std::time::Duration::from_secs(3600), ..ServeConfig::default() }).await;
    let http = server.http_addr().expect("http");
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.request(get(http, "/review/events", None)).await.expect("events");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"))
    );
    let mut body = response.into_body();
    let stopping = tokio::spawn(server.shutdown());
    // the stream ends (keep-alive comments may come first)
    let ended = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the live feed outlived the shutdown");
    stopping.await.expect("join").expect("shutdown");
}
