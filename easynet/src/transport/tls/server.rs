//! The server side: configs from PEM files, and the acceptor that runs each
//! connection's handshake under a timeout.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use super::pem::{load_certificates, load_private_key, load_roots};
use super::{TlsError, TlsInfo, crypto_provider};

/// A server config from a certificate chain and its private key in PEM files, the analog
/// of Python's `ssl.create_default_context(Purpose.CLIENT_AUTH)` followed by
/// `load_cert_chain(cert_chain, key)`: TLS 1.3 and 1.2, no client certificate asked.
///
/// Built with [`crypto_provider`]. Adjust the result with `Arc::make_mut` (ALPN
/// protocols, session storage) before giving it to the server if you need to.
///
/// # Errors
/// A file cannot be read or parsed, or the key does not match the certificate.
pub fn server_config_from_pem(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_certificates(cert_chain)?;
    let key = load_private_key(key)?;
    let config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Like [`server_config_from_pem`], for mutual TLS: every client must present a
/// certificate issued by one of the CAs of the PEM file `client_ca`, or its handshake
/// fails (Python: `verify_mode = CERT_REQUIRED` with `load_verify_locations(client_ca)`).
/// A handler sees the client's certificates in
/// [`TlsInfo::peer_certificates`].
///
/// # Errors
/// A file cannot be read or parsed, or the key does not match the certificate.
pub fn server_config_with_client_auth(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
    client_ca: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_certificates(cert_chain)?;
    let key = load_private_key(key)?;
    let roots = load_roots(client_ca.as_ref())?;
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider()).build()?;
    let config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// The server side of TLS: the acceptor and the timeouts, shared by every connection.
#[derive(Clone)]
pub(crate) struct ServerTls {
    acceptor: TlsAcceptor,
}

impl ServerTls {
    pub(crate) fn new(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls {
            acceptor: TlsAcceptor::from(config),
        }
    }

    /// Runs the server handshake over `stream`, bounded by `timeout`.
    pub(crate) async fn accept<S>(
        &self,
        stream: S,
        timeout: Duration,
    ) -> io::Result<(tokio_rustls::server::TlsStream<S>, TlsInfo)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let stream = tokio::time::timeout(timeout, self.acceptor.accept(stream))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS handshake timed out after {timeout:?}"),
                )
            })??;
        let session = stream.get_ref().1;
        let info = TlsInfo::new(session, session.server_name().map(str::to_owned));
        Ok((stream, info))
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::tls::test_pki::pki;

    #[test]
    fn server_configs_build_from_pem_files() {
        let pki = pki("server");
        let d = &pki.dir;
        server_config_from_pem(d.join("cert.pem"), d.join("key.pem")).unwrap();
        server_config_with_client_auth(d.join("cert.pem"), d.join("key.pem"), d.join("cert.pem"))
            .unwrap();
        // A key that belongs to another certificate is refused.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(d.join("other-key.pem"), other.serialize_pem()).unwrap();
        let e = server_config_from_pem(d.join("cert.pem"), d.join("other-key.pem")).unwrap_err();
        assert!(matches!(e, TlsError::Config(_)), "{e}");
    }
}
