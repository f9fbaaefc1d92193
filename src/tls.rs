//! TLS for the gRPC and HTTP listeners (rustls): a certificate and key from PEM files, and optional mutual TLS,
//! where every client must present a certificate signed by `--tls-client-ca`. [`Tls::reload`] (on
//! SIGHUP) reads all three files again and swaps the acceptor: new connections use the new files,
//! open ones are not dropped.
//!
//! Handshakes run in their own tasks, so a slow or silent client does not hold up the others; a
//! connection that fails its handshake (a plaintext client, a client without the required
//! certificate) is closed and logged at debug level.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The longest a client may take over its handshake before its connection is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One certificate for every client (a reload makes a new acceptor with a new one).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The TLS setup of a server: the acceptor in force, and the files a reload reads again.
#[derive(Clone)]
pub struct Tls {
    acceptor: Arc<RwLock<TlsAcceptor>>,
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("client_ca", &self.client_ca)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the certificate chain and key (PEM), and the client CA (PEM) for mutual TLS.
    pub fn new(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<Tls> {
        let acceptor = acceptor(cert, key, client_ca)?;
        Ok(Tls {
            acceptor: Arc::new(RwLock::new(acceptor)),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            client_ca: client_ca.map(Path::to_path_buf),
        })
    }

    /// Reads the certificate, key and client CA again; new connections use them, open ones keep
    /// theirs. On error the old ones stay.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = acceptor(&self.cert, &self.key, self.client_ca.as_deref())?;
        let mut slot = self.acceptor.write().map_err(|_| anyhow::anyhow!("tls acceptor lock poisoned"))?;
        *slot = fresh;
        Ok(())
    }

    fn current(&self) -> TlsAcceptor {
        match self.acceptor.read() {
            Ok(acceptor) => acceptor.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The TLS connections made over `incoming`'s TCP connections, until `stopping` is cancelled.
    pub fn incoming<S, IO>(
        &self,
        incoming: S,
        stopping: CancellationToken,
    ) -> ReceiverStream<std::io::Result<TlsStream<IO>>>
    where
        S: Stream<Item = std::io::Result<IO>> + Send + 'static,
        IO: Connected<ConnectInfo = TcpConnectInfo> + AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut incoming = Box::pin(incoming);
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let tls = self.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stopping.cancelled() => break,
                    accepted = incoming.next() => accepted,
                };
                let Some(accepted) = accepted else { break };
                let tcp = match accepted {
                    Ok(tcp) => tcp,
                    Err(error) => {
                        // out of file descriptors, say: pause rather than spin
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = tls.current();
                let sender = sender.clone();
                tokio::spawn(async move {
                    let peer = tcp.connect_info().remote_addr();
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = sender.send(Ok(stream)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(?peer, %error, "tls handshake failed"),
                        Err(_) => tracing::debug!(?peer, "tls handshake timed out"),
                    }
                });
            }
        });
        ReceiverStream::new(receiver)
    }
}

/// A TLS acceptor for HTTP/2 and HTTP/1.1 with this certificate and key, requiring client certificates signed by
/// `client_ca` when given.
fn acceptor(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = Arc::new(load(cert, key, &provider)?);
    let verifier = match client_ca {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in pem_certs(path)? {
                roots.add(cert).map_err(|e| anyhow::anyhow!("client ca {}: {e}", path.display()))?;
            }
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| anyhow::anyhow!("client ca {}: {e}", path.display()))?
        }
        None => WebPkiClientVerifier::no_client_auth(),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(Fixed(certified)));
    // HTTP/1.1 too: browsers' gRPC-Web calls and the HTTP listener's clients may not speak HTTP/2
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn pem_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .map_err(|e| anyhow::anyhow!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let certs = pem_certs(cert)?;
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read a private key from {}: {e}", key.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| anyhow::anyhow!("unusable private key in {}: {e}", key.display()))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|e| anyhow::anyhow!("{} does not match {}: {e}", key.display(), cert.display()))?;
    Ok(certified)
}
