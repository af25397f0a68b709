//! TLS to the servers: the backend socket as plain TCP or TLS
//! ([`BackendIo`]), the `[backend] tls` modes and the rustls client
//! configuration for each (`require`: encrypted, certificate not checked;
//! `verify_ca`: chain checked against `tls_ca`, name not; `verify_identity`:
//! chain and the node address's host).
//!
//! Owns: the backend socket's upgrade (its bytes go through
//! `wire::tls::MaybeTls`, shared with clients) and building the client
//! configuration. Must not look at packets or log in (that is
//! `backend::connection`).

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::TlsConnector;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::tls::MaybeTls;

/// `[backend] tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Never (the default).
    #[default]
    Off,
    /// When the server offers it, without checking its certificate.
    Prefer,
    /// Always, without checking the certificate (refused if not offered).
    Require,
    /// Always, certificate chain checked against `tls_ca`.
    VerifyCa,
    /// Always, chain checked and the certificate must name the host.
    VerifyIdentity,
}

impl std::str::FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<TlsMode, String> {
        Ok(match s {
            "" | "off" => TlsMode::Off,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify_ca" => TlsMode::VerifyCa,
            "verify_identity" => TlsMode::VerifyIdentity,
            _ => {
                return Err(format!(
                    "[backend] tls = {s:?}: expected \"off\", \"prefer\", \"require\", \"verify_ca\" or \"verify_identity\""
                ))
            }
        })
    }
}

/// The TLS side of backend connections: the mode and its configuration.
#[derive(Debug, Clone, Default)]
pub struct BackendTls {
    pub mode: TlsMode,
    pub config: Option<Arc<rustls::ClientConfig>>,
}

/// ring, as for clients (`wire::tls`): deprecated only for lacking
/// post-quantum key exchange.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client configuration of `mode` (`ca`: PEM file of the
/// certificate authorities, required by the verifying modes; `client`:
/// PEM files of a client certificate chain and its key, presented when a
/// server asks for one).
pub fn load_backend_tls(
    mode: TlsMode,
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<BackendTls, String> {
    use rustls::pki_types::pem::PemObject;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        TlsMode::Off => return Ok(BackendTls::default()),
        TlsMode::Prefer | TlsMode::Require => Arc::new(Unchecked {
            provider: provider(),
        }),
        TlsMode::VerifyCa | TlsMode::VerifyIdentity => {
            let ca = ca.ok_or("[backend] tls = \"verify_ca\"/\"verify_identity\" needs tls_ca")?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("tls_ca {}: {e}", ca.display()))?
            {
                let cert = cert.map_err(|e| format!("tls_ca {}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls_ca {}: {e}", ca.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("tls_ca {}: no certificate found", ca.display()));
            }
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| format!("tls_ca {}: {e}", ca.display()))?;
            Arc::new(Checked {
                inner,
                names: mode == TlsMode::VerifyIdentity,
                provider: provider(),
            })
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("[backend] tls: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, key) = super::tls::load_cert_and_key(cert, key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("[backend] tls_cert/tls_key: {e}"))?
        }
    };
    Ok(BackendTls {
        mode,
        config: Some(Arc::new(config)),
    })
}

/// The name a server's certificate must carry: the host of its address.
pub fn server_name(addr: &str) -> ServerName<'static> {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("valid name"))
}

/// The two signature checks of a verifier and its schemes, by the
/// provider's algorithms in `self.$provider` (as rustls' own WebPKI
/// verifier does): one definition for every mode.
macro_rules! provider_signatures {
    ($provider:ident) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algs = &self.$provider.signature_verification_algorithms;
            rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algs = &self.$provider.signature_verification_algorithms;
            rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.$provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

/// `verify_ca` / `verify_identity`.
#[derive(Debug)]
struct Checked {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    names: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    provider_signatures!(provider);
}

/// `prefer` / `require`: encrypted, any certificate (signatures of the
/// handshake still checked).
#[derive(Debug)]
struct Unchecked {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    provider_signatures!(provider);
}

/// A backend socket, plain or TLS.
pub type BackendIo = super::tls::MaybeTls<TlsStream<TcpStream>>;

impl BackendIo {
    /// The TCP socket (under TLS, the one carrying it).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            MaybeTls::Plain(t) => Some(t),
            MaybeTls::Tls(t) => Some(t.get_ref().0),
            MaybeTls::Gone | MaybeTls::Capture(_) => None,
        }
    }

    /// Runs the client side of the TLS handshake.
    pub async fn start_tls(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<()> {
        let MaybeTls::Plain(tcp) = std::mem::replace(self, MaybeTls::Gone) else {
            return Err(io::Error::other("TLS requested twice"));
        };
        let stream = TlsConnector::from(config).connect(name, tcp).await?;
        *self = MaybeTls::Tls(Box::new(stream));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_names() {
        assert_eq!("verify_ca".parse::<TlsMode>(), Ok(TlsMode::VerifyCa));
        assert!("on".parse::<TlsMode>().is_err());
        assert!(load_backend_tls(TlsMode::VerifyCa, None, None).is_err());
        assert!(load_backend_tls(TlsMode::Require, None, None).is_ok_and(|t| t.config.is_some()));
        assert!(matches!(
            server_name("127.0.0.1:3306"),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("db.example:3306"),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name("[::1]:3306"),
            ServerName::IpAddress(_)
        ));
    }
}
