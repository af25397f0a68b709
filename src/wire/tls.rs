//! TLS to clients: the client socket as either plain TCP or TLS
//! ([`ClientIo`]), the upgrade after MySQL's SSL request packet, and the
//! rustls server configuration built from the `[server] tls_cert` and
//! `tls_key` PEM files.
//!
//! Owns: bytes in and out of a socket, encrypted or not ([`MaybeTls`],
//! for clients and servers alike), and reading certificate files. Must not look at packets (that is
//! `wire::codec`) nor decide who must use TLS (that is the handshake).

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The TLS settings clients are offered (certificate chain and key).
pub type ServerTls = Arc<rustls::ServerConfig>;

/// A certificate chain and its private key.
pub type CertAndKey = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// Reads a PEM certificate chain (first certificate first) and its
/// private key (PKCS#8, PKCS#1 or SEC1): for the server side here and for
/// the client certificate of backend TLS. Errors name the files, never
/// their contents.
pub fn load_cert_and_key(cert: &Path, key: &Path) -> Result<CertAndKey, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("tls_cert {}: no certificate found", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "tls_key {}: no usable private key ({})",
            key.display(),
            pem_error_kind(&e)
        )
    })?;
    Ok((chain, key))
}

/// Reads a PEM certificate chain and private key into a rustls server
/// configuration; with `client_ca`, clients are asked for a certificate
/// (optional) that must verify against it. Errors name the files, never
/// their contents.
pub fn load_server_tls(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ServerTls, String> {
    let (chain, key) = load_cert_and_key(cert, key)?;
    // ring (not aws-lc-rs, which needs cmake and a long C build); its
    // provider is marked deprecated only for lacking post-quantum key
    // exchange, which MySQL clients do not offer anyway.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, provider)?),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("tls_cert/tls_key: {e}"))?;
    Ok(Arc::new(config))
}

/// Verifies client certificates against the CA certificates in `ca`; a
/// client without a certificate passes the handshake (the login decides:
/// `require_x509`).
fn client_verifier(
    ca: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls_client_ca {}: {e}", ca.display()))?;
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("tls_client_ca {}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "tls_client_ca {}: no certificate found",
            ca.display()
        ));
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("tls_client_ca {}: {e}", ca.display()))
}

/// A PEM error described without any of the file's bytes.
fn pem_error_kind(e: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error;
    match e {
        Error::NoItemsFound => "no PEM private key block",
        Error::Io(_) => "cannot read the file",
        _ => "malformed PEM",
    }
}

/// A socket: plain TCP, or TLS over TCP once the peer and the proxy
/// agreed on it (`T`: the rustls stream of either side). [`ClientIo`]
/// here, `backend_tls::BackendIo` for the servers.
pub enum MaybeTls<T> {
    Plain(TcpStream),
    Tls(Box<T>),
    /// Only while upgrading (or after a failed upgrade): reads and writes
    /// fail.
    Gone,
    /// Not a socket: an answer written into memory, to be served later
    /// (a server-side cursor on a merged result). Reads fail.
    Capture(Box<Capture>),
}

/// Bytes written to a [`MaybeTls::Capture`], at most `limit`.
#[derive(Debug, Default)]
pub struct Capture {
    pub bytes: Vec<u8>,
    pub limit: usize,
    /// A write went past `limit` (and failed).
    pub overflowed: bool,
}

/// A client's socket.
pub type ClientIo = MaybeTls<TlsStream<Prefixed>>;

impl From<TcpStream> for ClientIo {
    fn from(tcp: TcpStream) -> Self {
        MaybeTls::Plain(tcp)
    }
}

impl<T> MaybeTls<T> {
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }
}

impl ClientIo {
    /// The client presented a certificate that verified against `[server]
    /// tls_client_ca` (rustls refuses the handshake otherwise).
    pub fn has_verified_certificate(&self) -> bool {
        match self {
            MaybeTls::Tls(t) => t
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty()),
            _ => false,
        }
    }

    /// The TCP socket under the stream (for watching disconnects).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            MaybeTls::Plain(t) => Some(t),
            MaybeTls::Tls(t) => Some(&t.get_ref().0.tcp),
            MaybeTls::Gone | MaybeTls::Capture(_) => None,
        }
    }

    /// Runs the server side of the TLS handshake on a plain stream.
    /// `early` holds bytes already read past the SSL request (the start of
    /// the client's TLS hello, sent without waiting).
    pub async fn start_tls(&mut self, early: Bytes, tls: &ServerTls) -> io::Result<()> {
        let MaybeTls::Plain(tcp) = std::mem::replace(self, MaybeTls::Gone) else {
            return Err(io::Error::other("TLS requested twice"));
        };
        let stream = TlsAcceptor::from(tls.clone())
            .accept(Prefixed { early, tcp })
            .await?;
        *self = MaybeTls::Tls(Box::new(stream));
        Ok(())
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket unusable")
}

impl<T: AsyncRead + Unpin> AsyncRead for MaybeTls<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(t) => Pin::new(t).poll_read(cx, buf),
            MaybeTls::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
            MaybeTls::Gone | MaybeTls::Capture(_) => Poll::Ready(Err(gone())),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for MaybeTls<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(t) => Pin::new(t).poll_write(cx, data),
            MaybeTls::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, data),
            MaybeTls::Gone => Poll::Ready(Err(gone())),
            MaybeTls::Capture(c) => {
                if c.bytes.len() + data.len() > c.limit {
                    c.overflowed = true;
                    return Poll::Ready(Err(io::Error::other("captured answer too large")));
                }
                c.bytes.extend_from_slice(data);
                Poll::Ready(Ok(data.len()))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(t) => Pin::new(t).poll_flush(cx),
            MaybeTls::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
            MaybeTls::Gone | MaybeTls::Capture(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(t) => Pin::new(t).poll_shutdown(cx),
            MaybeTls::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
            MaybeTls::Gone | MaybeTls::Capture(_) => Poll::Ready(Ok(())),
        }
    }
}

/// A TCP stream whose first bytes were already read into `early`.
pub struct Prefixed {
    early: Bytes,
    tcp: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.early.has_remaining() {
            let n = me.early.len().min(buf.remaining());
            buf.put_slice(&me.early[..n]);
            me.early.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
