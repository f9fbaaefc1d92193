//! The review page for moderators, served under `/review` on the HTTP listener ([`crate::http`]):
//! server-rendered HTML (maud templates in `html.rs` and `compare.rs`, which escape every value
//! they are given) with a little plain JavaScript and no build step.
//!
//! Every view calls the [`Engine`] in process, as the gRPC method it stands for would, and is allowed
//! to whoever that method is allowed to ([`Auth::authorize_token`]): with an auth file, a moderator
//! signs in with an API key, which the page keeps in an `HttpOnly`, `SameSite=Strict` cookie and checks
//! again on every request (so a key removed from the file and reloaded stops working at once). Every
//! POST must come from a page of this origin (its `Origin` header), against cross-site request forgery.
//! A content security policy allows only this origin's script and style, so text that escaped
//! escaping still could not run.

mod compare;
mod html;

use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, Identity, Role};
use crate::domain::MatchReason;
use crate::engine::feed::{FeedFilter, FeedQuery, parse_cursor};
use crate::engine::{Engine, verdicts};
use crate::error::Error;
use crate::store::feed::{DuplicateEvent, EventCursor};

/// The gRPC methods the views stand for: a view is allowed to whoever may call its method.
mod method {
    pub const GET_ARTICLE: &str = "/dedup.v1.Deduplicator/GetArticle";
    pub const GET_CLUSTER: &str = "/dedup.v1.Deduplicator/GetCluster";
    pub const LIST_DUPLICATES: &str = "/dedup.v1.Deduplicator/ListDuplicates";
    pub const WATCH_DUPLICATES: &str = "/dedup.v1.Deduplicator/WatchDuplicates";
    pub const MARK_DISTINCT: &str = "/dedup.v1.Deduplicator/MarkDistinct";
    pub const MARK_DUPLICATE: &str = "/dedup.v1.Deduplicator/MarkDuplicate";
    pub const SET_CANONICAL: &str = "/dedup.v1.Deduplicator/SetCanonical";
    pub const EXPLAIN: &str = "/dedup.v1.Deduplicator/Explain";
}

/// The cookie holding a signed-in moderator's API key (hex-encoded, so that any token is a valid
/// cookie value).
const COOKIE: &str = "dedupd_review";

/// What the review page needs: the engine it reads and decides with, the keys, and whether it is
/// served over TLS (its cookie is then `Secure`).
#[derive(Clone)]
pub struct ReviewPage {
    engine: Engine,
    auth: Auth,
    secure: bool,
    /// Cancelled at shutdown: ends the live feeds, which would otherwise hold the server open.
    stopping: CancellationToken,
}

impl ReviewPage {
    /// The page over `engine`, with the server's keys; `secure` when the listener is TLS.
    pub fn new(engine: Engine, auth: Auth, secure: bool, stopping: CancellationToken) -> Self {
        ReviewPage { engine, auth, secure, stopping }
    }

    /// Who is asking, if they may call `method`; otherwise the answer to give them (the sign-in
    /// page for a browser without a usable key, 403 for a key whose role may not).
    fn allow(&self, headers: &HeaderMap, method: &str) -> Result<Viewer, Refusal> {
        let token = cookie_token(headers);
        match self.auth.authorize_token(method, token.as_deref()) {
            Ok(identity) => Ok(self.viewer(identity, token.as_deref())),
            Err(status) if status.code() == tonic::Code::PermissionDenied => {
                Err(Refusal::Forbidden(status.message().to_string()))
            }
            Err(_) => Err(Refusal::SignIn),
        }
    }

    fn viewer(&self, identity: Identity, token: Option<&str>) -> Viewer {
        Viewer {
            name: identity.name,
            role: identity.role.map(Role::name),
            signed_in: self.auth.enabled(),
            may_moderate: self.auth.authorize_token(method::MARK_DISTINCT, token).is_ok(),
        }
    }
}

/// Why a request was not served.
enum Refusal {
    /// No key, or one the server does not know (any more): to the sign-in page.
    SignIn,
    /// The key's role may not do this.
    Forbidden(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn => Redirect::to("/review/login").into_response(),
            Refusal::Forbidden(why) => (StatusCode::FORBIDDEN, html::message("Not allowed", &why)).into_response(),
        }
    }
}

/// Who is looking at a page, for its header and for which controls it shows.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    name: String,
    /// The key's role; `None` with open access.
    role: Option<&'static str>,
    /// Whether the server has keys (and so a sign-out button makes sense).
    signed_in: bool,
    may_moderate: bool,
}

/// The routes under `/review`.
pub fn router(review: ReviewPage) -> Router {
    Router::new()
        .route("/", get(feed))
        .route("/events", get(events))
        .route("/sources", get(sources))
        .route("/clusters/{cluster_id}", get(cluster))
        .route("/articles", get(article))
        .route("/verdicts/{kind}", post(verdict))
        .route("/compare", get(compare::compare))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/static/review.css", get(|| static_file("text/css; charset=utf-8", include_str!("review.css"))))
        .route("/static/review.js", get(|| static_file("text/javascript; charset=utf-8", include_str!("review.js"))))
        .layer(middleware::from_fn(guard))
        .with_state(review)
}

/// Refuses a POST that does not come from a page of this origin, and sets the headers every answer
/// carries: the content security policy, no framing, no sniffing, no caching of moderation data.
async fn guard(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !same_origin(request.headers(), request.uri()) {
        tracing::debug!(path = %request.uri().path(), "review: cross-origin post refused");
        return (StatusCode::FORBIDDEN, html::message("Refused", "this form must be sent from the review page"))
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Whether the request's `Origin` is the host it was sent to (HTTP/1.1 `Host`, HTTP/2 `:authority`).
/// A browser sends `Origin` with every POST; a request without one is refused.
fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(axum::http::uri::Authority::as_str));
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    match (host, origin) {
        (Some(host), Some(origin)) => origin.split_once("://").is_some_and(|(_, authority)| authority == host),
        _ => false,
    }
}

fn static_file(content_type: &'static str, body: &'static str) -> std::future::Ready<Response> {
    let headers = [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "max-age=300")];
    std::future::ready((headers, body).into_response())
}

/// The API key in the request's cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .and_then(unhex)
}

fn hex(text: &str) -> String {
    text.bytes().fold(String::with_capacity(text.len() * 2), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

/// An engine error as a page: its gRPC status code decides the HTTP one.
fn failure(error: &Error) -> Response {
    let code = crate::grpc::status::code(error);
    let status = http_status(code);
    if status.is_server_error() {
        tracing::warn!(%error, "review page request failed");
    }
    (status, html::message("Something went wrong", &error.to_string())).into_response()
}

/// The HTTP status for a gRPC status code.
fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code;
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Cancelled | Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The rule's name as the page shows it.
pub(crate) fn rule_name(reason: MatchReason) -> &'static str {
    match reason {
        MatchReason::Words => "words",
        MatchReason::Skeleton => "skeleton (spun)",
        MatchReason::ShortWords => "short text, words",
        MatchReason::ShortSkeleton => "short text, skeleton",
        MatchReason::Distinctive => "distinctive (teaser)",
    }
}

/// A path segment or query value, percent-encoded (ids are the callers' strings).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `/review/clusters/{id}`, with the member `article` marked.
pub(crate) fn cluster_href(cluster_id: &str, article: Option<&str>) -> String {
    match article {
        Some(article) => format!("/review/clusters/{}?article={}", encode(cluster_id), encode(article)),
        None => format!("/review/clusters/{}", encode(cluster_id)),
    }
}

/// Copies listed on the feed page before its live part takes over.
const FEED_PAGE: usize = 100;

/// Events the per-source view counts: the latest of the log.
const SOURCE_WINDOW: usize = 10_000;

/// The feed's filters, from the page's query string (and passed on to its live part).
#[derive(Debug, Default, Deserialize)]
struct FeedParams {
    #[serde(default)]
    source: String,
    #[serde(default)]
    min_similarity: Option<f64>,
    /// Where the live part starts: the newest event the page showed.
    #[serde(default)]
    after: Option<String>,
}

impl FeedParams {
    fn filter(&self) -> Result<FeedFilter, Error> {
        FeedFilter::new(&self.source, self.min_similarity.unwrap_or(0.0))
    }
}

/// A feed event as the page's script receives it: every field is text it sets with `textContent`.
#[derive(Debug, Serialize)]
pub(crate) struct FeedItem {
    pub id: String,
    pub title: String,
    pub source: String,
    pub found: String,
    pub canonical: String,
    pub similarity: String,
    pub rule: &'static str,
    /// The cluster view, with this article marked.
    pub cluster: String,
    /// The side-by-side view of the article and its canonical (of its best match, when it is the
    /// canonical itself: an original that arrived after its copy).
    pub compare: String,
}

impl FeedItem {
    pub(crate) fn new(event: &DuplicateEvent) -> FeedItem {
        let id = &event.article.id;
        let other = if event.canonical_id == *id { &event.matched_id } else { &event.canonical_id };
        FeedItem {
            id: id.clone(),
            title: event.article.title.clone(),
            source: event.article.source.clone(),
            found: html::short_time(event.found_us()),
            canonical: event.canonical_id.clone(),
            similarity: format!("{:.3}", event.similarity),
            rule: rule_name(event.reason),
            cluster: cluster_href(event.cluster_id.as_str(), Some(id)),
            compare: compare_href(other, id),
        }
    }
}

/// The side-by-side view of `a` (the original, on the left) and `b`.
pub(crate) fn compare_href(a: &str, b: &str) -> String {
    format!("/review/compare?a={}&b={}", encode(a), encode(b))
}

/// The live feed: the latest copies, then, through the page's script, every new one as it is found.
async fn feed(State(review): State<ReviewPage>, headers: HeaderMap, Query(params): Query<FeedParams>) -> Response {
    let viewer = match review.allow(&headers, method::LIST_DUPLICATES) {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal.into_response(),
    };
    let filter = match params.filter() {
        Ok(filter) => filter,
        Err(error) => return failure(&error),
    };
    let query = FeedQuery { filter, page_size: FEED_PAGE, ..FeedQuery::default() };
    let page = match review.engine.list_duplicates(&query).await {
        Ok(page) => page,
        Err(error) => return failure(&error),
    };
    let items: Vec<FeedItem> = page.duplicates.iter().map(|listed| FeedItem::new(&listed.event)).collect();
    // the live part starts after the newest event listed (from the log's start when it is empty), so
    // that nothing found between this answer and the script's connection is missed
    let after = page.duplicates.first().map_or(EventCursor::ZERO, |listed| listed.event.cursor);
    let mut events = format!("/review/events?after={}", encode(&after.to_string()));
    if !params.source.trim().is_empty() {
        events += &format!("&source={}", encode(params.source.trim()));
    }
    if let Some(min) = params.min_similarity {
        events += &format!("&min_similarity={min}");
    }
    html::feed(&viewer, &items, &events, &params.source, params.min_similarity).into_response()
}

/// The feed's live part, as server-sent events: one `copy` event per duplicate found after the
/// cursor (`Last-Event-ID` when the browser reconnects, else `after`), with the cursor as its id. It
/// ends at shutdown; the browser reconnects (to this replica or another) from the last id it saw.
async fn events(State(review): State<ReviewPage>, headers: HeaderMap, Query(params): Query<FeedParams>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    if let Err(refusal) = review.allow(&headers, method::WATCH_DUPLICATES) {
        // a script cannot follow a redirect to a form: say it plainly
        return match refusal {
            Refusal::SignIn => StatusCode::UNAUTHORIZED.into_response(),
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN.into_response(),
        };
    }
    let filter = match params.filter() {
        Ok(filter) => filter,
        Err(error) => return failure(&error),
    };
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let after = match resume.or(params.after).filter(|text| !text.is_empty()) {
        Some(text) => match parse_cursor("after", &text) {
            Ok(cursor) => Some(cursor),
            Err(error) => return failure(&error),
        },
        None => None,
    };
    let watched = match review.engine.watch_duplicates(after, filter.clone(), review.stopping.clone()).await {
        Ok(stream) => stream.boxed(),
        // events after the page's cursor were trimmed: go on from now (the page says what it shows)
        Err(Error::OutOfRange { .. }) => {
            match review.engine.watch_duplicates(None, filter, review.stopping.clone()).await {
                Ok(stream) => stream.boxed(),
                Err(error) => return failure(&error),
            }
        }
        Err(error) => return failure(&error),
    };
    let stream = sse_events(watched).map(|event| {
        Ok::<Event, std::convert::Infallible>(
            Event::default()
                .event("copy")
                .id(event.cursor.to_string())
                .json_data(FeedItem::new(&event))
                .unwrap_or_else(
                    // a FeedItem is strings: serialising it cannot fail; send a comment rather than panic
                    |_| Event::default().comment("unserialisable event"),
                ),
        )
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// The events of a watch, ending at its first error (logged): the browser reconnects from its last
/// event id and gets the error as a status then.
fn sse_events(
    watched: impl Stream<Item = Result<DuplicateEvent, Error>> + Send + 'static,
) -> impl Stream<Item = DuplicateEvent> + Send + 'static {
    watched
        .take_while(|item| {
            if let Err(error) = item {
                tracing::warn!(%error, "review feed: watch ended");
            }
            std::future::ready(item.is_ok())
        })
        .filter_map(|item| std::future::ready(item.ok()))
}

/// Which sources publish the most copies, and whose originals are copied most.
async fn sources(State(review): State<ReviewPage>, headers: HeaderMap) -> Response {
    let viewer = match review.allow(&headers, method::LIST_DUPLICATES) {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal.into_response(),
    };
    match review.engine.source_counts(SOURCE_WINDOW).await {
        Ok(counts) => html::sources(&viewer, &counts).into_response(),
        Err(error) => failure(&error),
    }
}

#[derive(Deserialize)]
struct ClusterQuery {
    /// A member to mark.
    article: Option<String>,
    /// The cluster the marked member was split from, after a *not a copy*.
    split_from: Option<String>,
}

async fn cluster(
    State(review): State<ReviewPage>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
    Query(query): Query<ClusterQuery>,
) -> Response {
    let viewer = match review.allow(&headers, method::GET_CLUSTER) {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal.into_response(),
    };
    match review.engine.cluster(&cluster_id).await {
        Ok((cluster, members)) => {
            let marked = query.article.as_deref();
            html::cluster(&viewer, cluster.cluster_id.as_str(), &members, marked, query.split_from.as_deref())
                .into_response()
        }
        Err(error) => failure(&error),
    }
}

#[derive(Deserialize)]
struct ArticleQuery {
    id: String,
}

/// An article id typed into the header's search: its cluster, with the article marked.
async fn article(State(review): State<ReviewPage>, headers: HeaderMap, Query(query): Query<ArticleQuery>) -> Response {
    if let Err(refusal) = review.allow(&headers, method::GET_ARTICLE) {
        return refusal.into_response();
    }
    let id = query.id.trim();
    match review.engine.article(id).await {
        Ok(view) => match &view.article.cluster_id {
            Some(cluster_id) => Redirect::to(&cluster_href(cluster_id.as_str(), Some(id))).into_response(),
            None => failure(&Error::NotFound { what: "article", id: id.to_string() }),
        },
        Err(error) => failure(&error),
    }
}

/// The verdicts the page's buttons give, by the last segment of the path they post to.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    /// *Not a copy*: `MarkDistinct(article_id, from_id)`.
    Distinct,
    /// *Same story*: `MarkDuplicate(article_id, of_id)`.
    Duplicate,
    /// *Make canonical*: `SetCanonical(cluster_id, article_id)`.
    Canonical,
}

/// A verdict form: the fields its verdict reads (the cluster view's one form carries them all).
#[derive(Debug, Deserialize)]
struct VerdictForm {
    article_id: String,
    #[serde(default)]
    from_id: String,
    #[serde(default)]
    of_id: String,
    #[serde(default)]
    cluster_id: String,
    #[serde(default)]
    reason: String,
}

/// Gives a verdict as the signed-in key (its name is the reviewer), then shows the article's
/// cluster as it is now.
async fn verdict(
    State(review): State<ReviewPage>,
    headers: HeaderMap,
    Path(kind): Path<Verdict>,
    Form(form): Form<VerdictForm>,
) -> Response {
    let method = match kind {
        Verdict::Distinct => method::MARK_DISTINCT,
        Verdict::Duplicate => method::MARK_DUPLICATE,
        Verdict::Canonical => method::SET_CANONICAL,
    };
    let viewer = match review.allow(&headers, method) {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal.into_response(),
    };
    let who = verdicts::Review { reviewer: viewer.name.clone(), reason: form.reason.trim().to_string() };
    let article_id = form.article_id.trim();
    let done = match kind {
        Verdict::Distinct => review.engine.mark_distinct(article_id, form.from_id.trim(), who).await,
        Verdict::Duplicate => review.engine.mark_duplicate(article_id, form.of_id.trim(), who).await,
        Verdict::Canonical => review.engine.set_canonical(form.cluster_id.trim(), article_id, who).await,
    };
    match done {
        Ok(done) => {
            let mut next = cluster_href(done.verdict.cluster_id.as_str(), Some(article_id));
            if let Some(from) = &done.verdict.from_cluster_id {
                next += &format!("&split_from={}", encode(from.as_str()));
            }
            Redirect::to(&next).into_response()
        }
        Err(error) => failure(&error),
    }
}

async fn login_form(State(review): State<ReviewPage>) -> Response {
    if !review.auth.enabled() {
        return Redirect::to("/review").into_response();
    }
    html::login(None).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

/// Checks the key and keeps it in the page's cookie: only a key that may read gets in.
async fn login(State(review): State<ReviewPage>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    match review.auth.authorize_token(method::GET_CLUSTER, Some(token)) {
        Ok(identity) => {
            tracing::info!(identity = %identity.name, "review page: signed in");
            let secure = if review.secure { "; Secure" } else { "" };
            let cookie = format!("{COOKIE}={}; Path=/review; HttpOnly; SameSite=Strict{secure}", hex(token));
            match HeaderValue::from_str(&cookie) {
                Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/review")).into_response(),
                Err(_) => (StatusCode::BAD_REQUEST, html::login(Some("that key cannot be kept"))).into_response(),
            }
        }
        Err(status) if status.code() == tonic::Code::PermissionDenied => {
            (StatusCode::FORBIDDEN, html::login(Some("this key may not read"))).into_response()
        }
        Err(_) => (StatusCode::UNAUTHORIZED, html::login(Some("unknown key"))).into_response(),
    }
}

async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/review; HttpOnly; SameSite=Strict; Max-Age=0");
    match HeaderValue::from_str(&cookie) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/review/login")).into_response(),
        Err(_) => Redirect::to("/review/login").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_the_cookie() {
        for token in ["plain", "with space; and=semicolon", "ünïcode"] {
            assert_eq!(unhex(&hex(token)).as_deref(), Some(token));
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("a=b; {COOKIE}={}", hex("k"))).expect("value"));
        assert_eq!(cookie_token(&headers).as_deref(), Some("k"));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn only_same_origin_posts_pass() {
        let uri: axum::http::Uri = "/review/login".parse().expect("uri");
        let with = |origin: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_str(origin).expect("value"));
            }
            same_origin(&headers, &uri)
        };
        assert!(with(Some("http://127.0.0.1:8080")));
        assert!(with(Some("https://127.0.0.1:8080")));
        assert!(!with(Some("http://evil.example")));
        assert!(!with(Some("http://127.0.0.1:8080.evil.example")));
        assert!(!with(Some("null")));
        assert!(!with(None));
    }

    #[test]
    fn ids_are_encoded_in_links() {
        assert_eq!(encode("a b/../?x=<y>"), "a%20b%2F..%2F%3Fx%3D%3Cy%3E");
        assert_eq!(cluster_href("c1", Some("é")), "/review/clusters/c1?article=%C3%A9");
    }
}
