//! Identities and roles: API keys read from an auth file, and the tower layer that checks every call.
//!
//! The auth file holds one key a line, `<sha256-hex-of-token> <role> <name>`, or
//! `cn=<common-name> <role> <name>` for a client certificate (mutual TLS). Blank lines and lines
//! starting with `#` are skipped. The server keeps only the hashes: a presented token is hashed and
//! compared with every key in constant time. [`Auth::reload`] reads the file again (on SIGHUP); a file
//! that does not parse leaves the keys in force unchanged.
//!
//! Without an auth file every call is allowed (the server warns at start). Health is always open.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tracing::Instrument;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `Ingest`, `IngestStream`, `Check`.
    Ingest,
    /// `Check` and the reading calls (`Get*`, `List*`, `Watch*`, `Explain*`).
    Read,
    /// Everything `read` may do, and verdicts.
    Moderate,
    /// Everything, `DeleteArticle` included.
    Admin,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        match text {
            "ingest" => Some(Role::Ingest),
            "read" => Some(Role::Read),
            "moderate" => Some(Role::Moderate),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role may make a call that needs `need`.
    fn allows(self, need: Need) -> bool {
        match need {
            Need::Open | Need::Identity | Need::Check => true,
            Need::Ingest => matches!(self, Role::Ingest | Role::Admin),
            Need::Read => matches!(self, Role::Read | Role::Moderate | Role::Admin),
            Need::Moderate => matches!(self, Role::Moderate | Role::Admin),
            Need::Admin => self == Role::Admin,
        }
    }

    /// The role's name as the auth file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Moderate => "moderate",
            Role::Admin => "admin",
        }
    }
}

/// What a gRPC method asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Anyone, with or without a key (health).
    Open,
    /// Any known identity (reflection, when it is on).
    Identity,
    Ingest,
    /// `Check`: ingest and read roles both may.
    Check,
    Read,
    Moderate,
    Admin,
}

/// The need of the method at `path` (`/package.Service/Method`). A method this table does not know
/// needs `admin`, so a new call is closed until someone decides who may make it.
fn need(path: &str) -> Need {
    if path.starts_with("/grpc.health.v1.Health/") {
        return Need::Open;
    }
    if path.starts_with("/grpc.reflection.") {
        return Need::Identity;
    }
    let Some(method) = path.strip_prefix("/dedup.v1.Deduplicator/") else { return Need::Admin };
    match method {
        "Ingest" | "IngestStream" => Need::Ingest,
        "Check" => Need::Check,
        m if ["Get", "List", "Watch", "Explain"].iter().any(|p| m.starts_with(p)) => Need::Read,
        m if m.contains("Verdict") => Need::Moderate,
        _ => Need::Admin,
    }
}

/// Who a key or certificate belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Credential {
    /// SHA-256 of a bearer token.
    TokenHash([u8; 32]),
    /// The common name of a client certificate the TLS layer verified.
    CommonName(String),
}

/// One line of the auth file.
#[derive(Debug, Clone)]
struct Key {
    credential: Credential,
    role: Role,
    name: String,
}

/// The keys of one reading of the auth file.
#[derive(Debug, Default)]
pub struct Keys {
    keys: Vec<Key>,
}

impl Keys {
    /// Parses an auth file's text. Errors name the line, never its content beyond the role.
    pub fn parse(text: &str) -> anyhow::Result<Keys> {
        let mut keys: Vec<Key> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [credential, role, name] = fields[..] else {
                anyhow::bail!("line {number}: expected `<sha256-hex> <role> <name>`, got {} fields", fields.len());
            };
            let credential = match credential.strip_prefix("cn=") {
                Some("") => anyhow::bail!("line {number}: empty common name"),
                Some(cn) => Credential::CommonName(cn.to_string()),
                None => Credential::TokenHash(
                    parse_hash(credential)
                        .ok_or_else(|| anyhow::anyhow!("line {number}: the key must be 64 hexadecimal digits"))?,
                ),
            };
            let role = Role::parse(role).ok_or_else(|| {
                anyhow::anyhow!("line {number}: unknown role {role:?} (ingest, read, moderate or admin)")
            })?;
            if keys.iter().any(|k| k.credential == credential) {
                anyhow::bail!("line {number}: the same key appears twice");
            }
            keys.push(Key { credential, role, name: name.to_string() });
        }
        Ok(Keys { keys })
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key whose hash is the token's. Every key is compared, in constant time each, so the time
    /// taken does not tell how much of a hash a guess got right.
    fn by_token(&self, token: &str) -> Option<&Key> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            if let Credential::TokenHash(expected) = &key.credential
                && bool::from(expected.ct_eq(&hash))
            {
                found = Some(key);
            }
        }
        found
    }

    fn by_common_name(&self, cn: &str) -> Option<&Key> {
        self.keys.iter().find(|k| matches!(&k.credential, Credential::CommonName(name) if name == cn))
    }
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
}

/// The SHA-256 of a token as the auth file spells it (lowercase hexadecimal).
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The identity a call was made as; handlers find it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The key's name from the auth file, the client certificate's subject, or `anonymous`.
    pub name: String,
    /// The key's role; `None` with open access.
    pub role: Option<Role>,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The keys in force (none: open access), shared by every connection and replaced by
/// [`Auth::reload`].
#[derive(Clone)]
pub struct Auth {
    path: Option<PathBuf>,
    keys: Arc<RwLock<Arc<Keys>>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Auth {
    /// Reads the auth file, or allows everything when there is none.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Auth> {
        let keys = match path {
            Some(path) => read(path)?,
            None => Keys::default(),
        };
        Ok(Auth { path: path.map(Path::to_path_buf), keys: Arc::new(RwLock::new(Arc::new(keys))) })
    }

    /// Whether calls need a key (an auth file was given).
    pub fn enabled(&self) -> bool {
        self.path.is_some()
    }

    /// Reads the auth file again and puts its keys in force; on error the keys stay as they were.
    /// Returns how many keys are now in force.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let Some(path) = &self.path else { return Ok(0) };
        let keys = read(path)?;
        let count = keys.len();
        let mut slot = self.keys.write().map_err(|_| anyhow::anyhow!("auth keys lock poisoned"))?;
        *slot = Arc::new(keys);
        Ok(count)
    }

    /// How many keys are in force.
    pub fn key_count(&self) -> usize {
        self.current().len()
    }

    fn current(&self) -> Arc<Keys> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            // a panic while swapping cannot leave a half-written Arc; keep serving with it
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Decides a call to the gRPC method `method` (`/dedup.v1.Deduplicator/GetCluster`) made with
    /// `token` (`None`: without one), exactly as a gRPC call with that bearer token is decided. The
    /// review page checks each view and action against the method it stands for.
    pub fn authorize_token(&self, method: &str, token: Option<&str>) -> Result<Identity, Status> {
        let mut headers = http::HeaderMap::new();
        if let Some(token) = token {
            let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| Status::unauthenticated("missing or unknown api key"))?;
            headers.insert(http::header::AUTHORIZATION, value);
        }
        self.authorize(method, &headers, None)
    }

    /// Decides a call to `path` with these headers, by a client whose verified certificate (mutual
    /// TLS) has `peer` as subject and common name.
    fn authorize(&self, path: &str, headers: &http::HeaderMap, peer: Option<&PeerCert>) -> Result<Identity, Status> {
        let need = need(path);
        if !self.enabled() {
            let name = peer.map_or_else(|| "anonymous".to_string(), |p| p.subject.clone());
            return Ok(Identity { name, role: None });
        }
        if need == Need::Open {
            return Ok(Identity { name: "anonymous".into(), role: None });
        }
        let keys = self.current();
        let key = match bearer(headers) {
            Some(Ok(token)) => keys.by_token(token),
            Some(Err(())) => {
                return Err(Status::unauthenticated("malformed authorization header: expected `Bearer <token>`"));
            }
            None => peer.and_then(|p| p.common_name.as_deref()).and_then(|cn| keys.by_common_name(cn)),
        };
        let Some(key) = key else {
            tracing::debug!(method = path, "unauthenticated call refused");
            metrics::counter!("dedupd_auth_refused_total", "code" => "unauthenticated").increment(1);
            return Err(Status::unauthenticated("missing or unknown api key"));
        };
        if !key.role.allows(need) {
            tracing::debug!(identity = %key.name, role = key.role.name(), method = path, "call refused: role lacks permission");
            metrics::counter!("dedupd_auth_refused_total", "code" => "permission_denied").increment(1);
            return Err(Status::permission_denied(format!("role {} may not call {path}", key.role.name())));
        }
        Ok(Identity { name: key.name.clone(), role: Some(key.role) })
    }
}

fn read(path: &Path) -> anyhow::Result<Keys> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read auth file {}: {e}", path.display()))?;
    Keys::parse(&text).map_err(|e| anyhow::anyhow!("auth file {}: {e}", path.display()))
}

/// The bearer token of the `authorization` header: `None` without one, `Err` when it is not
/// `Bearer <token>`.
fn bearer(headers: &http::HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(http::header::AUTHORIZATION)?;
    let parsed = value.to_str().ok().and_then(|text| {
        let (scheme, token) = text.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    });
    Some(parsed.ok_or(()))
}

/// The verified client certificate of a mutual TLS connection.
#[derive(Debug, Clone)]
struct PeerCert {
    subject: String,
    common_name: Option<String>,
}

fn peer_cert<B>(request: &http::Request<B>) -> Option<PeerCert> {
    let info = request.extensions().get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certs = info.peer_certs()?;
    let (_, cert) = x509_parser::parse_x509_certificate(certs.first()?.as_ref()).ok()?;
    let subject = cert.subject();
    let common_name = subject.iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
    Some(PeerCert { subject: subject.to_string(), common_name })
}

/// The tower layer that checks every call against the [`Auth`] in force.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Auth,
}

impl AuthLayer {
    /// A layer checking calls against `auth`.
    pub fn new(auth: Auth) -> Self {
        AuthLayer { auth }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, auth: self.auth.clone() }
    }
}

/// The service [`AuthLayer`] makes: answers a refused call with its status, and runs an allowed one
/// in a span that names the identity.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Auth,
}

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let peer = peer_cert(&request);
        match self.auth.authorize(request.uri().path(), request.headers(), peer.as_ref()) {
            Ok(identity) => {
                let span = tracing::info_span!("call", identity = %identity.name, method = request.uri().path());
                request.extensions_mut().insert(identity);
                // the clone is ready only after poll_ready; call the one that was polled
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(inner.call(request).instrument(span))
            }
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header"));
        headers
    }

    #[test]
    fn methods_need_their_roles() {
        let cases = [
            ("/grpc.health.v1.Health/Check", Need::Open),
            ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", Need::Identity),
            ("/dedup.v1.Deduplicator/Ingest", Need::Ingest),
            ("/dedup.v1.Deduplicator/IngestStream", Need::Ingest),
            ("/dedup.v1.Deduplicator/Check", Need::Check),
            ("/dedup.v1.Deduplicator/GetArticle", Need::Read),
            ("/dedup.v1.Deduplicator/GetCluster", Need::Read),
            ("/dedup.v1.Deduplicator/Explain", Need::Read),
            ("/dedup.v1.Deduplicator/ExplainText", Need::Read),
            ("/dedup.v1.Deduplicator/SetVerdict", Need::Moderate),
            ("/dedup.v1.Deduplicator/DeleteArticle", Need::Admin),
            ("/dedup.v1.Deduplicator/SomethingNew", Need::Admin),
            ("/other.Service/Ingest", Need::Admin),
        ];
        for (path, expected) in cases {
            assert_eq!(need(path), expected, "{path}");
        }
        assert!(Role::Ingest.allows(Need::Check) && !Role::Ingest.allows(Need::Read));
        assert!(Role::Read.allows(Need::Read) && !Role::Read.allows(Need::Ingest) && !Role::Read.allows(Need::Admin));
        assert!(Role::Moderate.allows(Need::Moderate) && !Role::Moderate.allows(Need::Ingest));
        assert!(Role::Admin.allows(Need::Admin) && Role::Admin.allows(Need::Ingest));
    }

    #[test]
    fn auth_file_parses_and_refuses_bad_lines() {
        let text = format!("# keys\n\n{} ingest feeder\ncn=dashboard read board\n", token_hash("s3cret"));
        let keys = Keys::parse(&text).expect("parses");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.by_token("s3cret").map(|k| k.name.as_str()), Some("feeder"));
        assert!(keys.by_token("s3cret ").is_none() && keys.by_token("other").is_none());
        assert_eq!(keys.by_common_name("dashboard").map(|k| k.role), Some(Role::Read));

        let hash = token_hash("x");
        for bad in [
            format!("{hash} ingest"),
            format!("{hash} root feeder"),
            format!("{} ingest feeder", &hash[..63]),
            format!("{}g ingest feeder", &hash[..63]),
            format!("{hash} ingest a\n{hash} read b"),
            "cn= read b".to_string(),
        ] {
            assert!(Keys::parse(&bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn authorize_answers_by_token_and_role() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("{} read reader\n", token_hash("r"))).expect("write");
        let auth = Auth::open(Some(&path)).expect("open");
        let get = "/dedup.v1.Deduplicator/GetArticle";
        let ingest = "/dedup.v1.Deduplicator/Ingest";
        assert_eq!(auth.authorize(get, &headers("r"), None).ok().map(|i| i.name), Some("reader".to_string()));
        let code = |r: Result<Identity, Status>| r.map_err(|s| s.code()).err();
        assert_eq!(code(auth.authorize(ingest, &headers("r"), None)), Some(tonic::Code::PermissionDenied));
        assert_eq!(code(auth.authorize(get, &headers("x"), None)), Some(tonic::Code::Unauthenticated));
        assert_eq!(code(auth.authorize(get, &http::HeaderMap::new(), None)), Some(tonic::Code::Unauthenticated));
        assert_eq!(code(auth.authorize("/grpc.health.v1.Health/Check", &http::HeaderMap::new(), None)), None);

        // a bad file on reload keeps the keys in force
        std::fs::write(&path, "not a key line\n").expect("write");
        assert!(auth.reload().is_err());
        assert!(auth.authorize(get, &headers("r"), None).is_ok());
        std::fs::write(&path, "").expect("write");
        assert_eq!(auth.reload().expect("reloads"), 0);
        assert_eq!(code(auth.authorize(get, &headers("r"), None)), Some(tonic::Code::Unauthenticated));

        let open = Auth::open(None).expect("open");
        assert!(open.authorize(ingest, &http::HeaderMap::new(), None).is_ok());
    }
}
