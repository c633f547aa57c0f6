//! The client side: [`ClientTls`], its builder, and the connector that runs the
//! handshake under a timeout.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use super::pem::{load_certificates, load_private_key};
use super::verifier::AcceptAnyServerCert;
use super::{
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT, TlsError, TlsInfo, crypto_provider,
};

/// The TLS settings of a [`TcpClient`](crate::TcpClient): the rustls client config, the
/// server name to check, the handshake and shutdown timeouts. Cheap to clone; reuse one
/// for many connections (TLS sessions are resumed through it).
///
/// Made with [`ClientTls::builder`] (or [`ClientTls::new`] for the defaults), or from a
/// config of your own with [`ClientTls::from_config`].
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl ClientTls {
    /// The defaults: the server's certificate must chain to one of the built-in roots
    /// (Mozilla's, from `webpki-roots`) and be valid for the host connected to; no client
    /// certificate. Python: `ssl.create_default_context()`.
    pub fn new() -> ClientTls {
        ClientTls::builder().build().expect(
            "a client config with the built-in roots and no client certificate is always valid",
        )
    }

    /// Starts building client TLS settings.
    pub fn builder() -> ClientTlsBuilder {
        ClientTlsBuilder {
            roots: None,
            identity: None,
            accept_invalid_certs: false,
            server_name: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// Uses a rustls config built by you (build it with [`crypto_provider`]), with the
    /// default timeouts and the host connected to as the server name.
    pub fn from_config(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls {
            connector: TlsConnector::from(config),
            server_name: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// Checks the server's certificate against `name` (and sends it as SNI) instead of the
    /// host connected to. Python's `server_hostname=`.
    ///
    /// # Errors
    /// `name` is neither a DNS name nor an IP address.
    pub fn with_server_name(mut self, name: &str) -> Result<ClientTls, TlsError> {
        self.server_name = Some(parse_server_name(name)?);
        Ok(self)
    }

    /// How long the handshake may take (default 60 s); past it, connecting fails with
    /// [`io::ErrorKind::TimedOut`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> ClientTls {
        self.handshake_timeout = timeout;
        self
    }

    /// How long [`TcpClient::close`](crate::TcpClient::close) may take to send
    /// `close_notify` (default 30 s); past it, the connection is dropped.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> ClientTls {
        self.shutdown_timeout = timeout;
        self
    }

    /// The rustls config.
    pub fn config(&self) -> &Arc<ClientConfig> {
        self.connector.config()
    }

    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The name to check the server's certificate against: the one set, or `host`.
    pub(crate) fn server_name_for(&self, host: &str) -> io::Result<ServerName<'static>> {
        match &self.server_name {
            Some(name) => Ok(name.clone()),
            None => {
                parse_server_name(host).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
            }
        }
    }

    /// Runs the client handshake over `stream`, bounded by the handshake timeout. `host` is
    /// the name to check when no explicit server name was set.
    pub(crate) async fn connect<S>(
        &self,
        host: &str,
        stream: S,
    ) -> io::Result<(tokio_rustls::client::TlsStream<S>, TlsInfo)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = self.server_name_for(host)?;
        let shown = name.to_str().into_owned();
        let handshake = self.connector.connect(name, stream);
        let stream = tokio::time::timeout(self.handshake_timeout, handshake)
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS handshake timed out after {:?}", self.handshake_timeout),
                )
            })??;
        let info = TlsInfo::new(stream.get_ref().1, Some(shown));
        Ok((stream, info))
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls::new()
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    // `[::1]` as written in URLs is the IP address `::1`.
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::InvalidServerName(name.to_owned()))
}

/// Builds a [`ClientTls`]. Every setting is optional.
///
/// ```no_run
/// use easynet::tls::ClientTls;
///
/// # fn run() -> Result<(), easynet::tls::TlsError> {
/// let tls = ClientTls::builder()
///     .ca_file("ca.pem")?                                   // trust this CA (only it)
///     .client_cert_files("client.pem", "client-key.pem")?   // mutual TLS
///     .server_name("server.example")                        // check this name
///     .build()?;
/// # Ok(()) }
/// ```
pub struct ClientTlsBuilder {
    roots: Option<RootCertStore>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    accept_invalid_certs: bool,
    server_name: Option<String>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl ClientTlsBuilder {
    /// Trusts the CA certificates of the PEM file `path`. Once any CA is given, only the
    /// CAs given are trusted, not the built-in roots (as with Python's
    /// `create_default_context(cafile=...)`). May be called several times.
    ///
    /// # Errors
    /// The file cannot be read or parsed, or a certificate in it is not a valid CA.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let certs = load_certificates(path)?;
        certs
            .into_iter()
            .try_fold(self, |builder, cert| builder.add_root_certificate(cert))
    }

    /// Trusts one CA certificate (DER). Like [`ca_file`](Self::ca_file), this replaces
    /// the built-in roots.
    ///
    /// # Errors
    /// The certificate cannot be parsed as a trust anchor.
    pub fn add_root_certificate(mut self, cert: CertificateDer<'static>) -> Result<Self, TlsError> {
        self.roots
            .get_or_insert_with(RootCertStore::empty)
            .add(cert)?;
        Ok(self)
    }

    /// Presents a client certificate (mutual TLS): the chain and its private key in PEM
    /// files. Python: `ssl_context.load_cert_chain(cert_chain, key)` on the client.
    ///
    /// # Errors
    /// A file cannot be read or parsed.
    pub fn client_cert_files(
        self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let chain = load_certificates(cert_chain)?;
        let key = load_private_key(key)?;
        Ok(self.client_cert(chain, key))
    }

    /// Presents a client certificate (mutual TLS): the chain (the client's own
    /// certificate first) and its private key.
    pub fn client_cert(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.identity = Some((chain, key));
        self
    }

    /// Checks the server's certificate against `name` (and sends it as SNI) instead of the
    /// host connected to: Python's `server_hostname=`. A DNS name or an IP address.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// **Dangerous**: with `true`, any certificate the server presents is accepted,
    /// whoever issued it and whatever name it is for, so anyone on the path can read and
    /// change the traffic. The handshake signature is still checked. Only for tests and
    /// debugging (Python: `check_hostname = False`, `verify_mode = CERT_NONE`).
    pub fn dangerous_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// How long the handshake may take (default 60 s, as easynetwork's
    /// `ssl_handshake_timeout`).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long closing may take to send `close_notify` (default 30 s, as easynetwork's
    /// `ssl_shutdown_timeout`).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Builds the rustls config (with [`crypto_provider`]).
    ///
    /// # Errors
    /// The server name is invalid, or rustls refuses the client certificate or key.
    pub fn build(self) -> Result<ClientTls, TlsError> {
        let provider = crypto_provider();
        let server_name = self
            .server_name
            .as_deref()
            .map(parse_server_name)
            .transpose()?;
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let builder = if self.accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
        } else {
            let roots = self.roots.unwrap_or_else(|| RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            });
            builder.with_root_certificates(roots)
        };
        let config = match self.identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
            handshake_timeout: self.handshake_timeout,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

impl fmt::Debug for ClientTlsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTlsBuilder")
            .field("roots", &self.roots.as_ref().map(RootCertStore::len))
            .field("client_cert", &self.identity.is_some())
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("server_name", &self.server_name)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::tls::test_pki::pki;

    #[test]
    fn client_settings_build() {
        let pki = pki("client");
        let d = &pki.dir;
        let tls = ClientTls::new();
        assert!(tls.server_name.is_none());
        assert_eq!(tls.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        let tls = ClientTls::builder()
            .ca_file(d.join("cert.pem"))
            .unwrap()
            .client_cert_files(d.join("cert.pem"), d.join("key.pem"))
            .unwrap()
            .server_name("[::1]")
            .build()
            .unwrap();
        assert!(tls.config().client_auth_cert_resolver.has_certs());
        assert_eq!(
            tls.server_name,
            Some(ServerName::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()))
        );
        let e = ClientTls::builder()
            .server_name("bad name!")
            .build()
            .unwrap_err();
        assert_eq!(e.to_string(), "invalid server name \"bad name!\"");
        ClientTls::builder()
            .dangerous_accept_invalid_certs(true)
            .build()
            .unwrap();
    }
}
