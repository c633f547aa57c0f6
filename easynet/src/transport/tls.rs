//! TLS for servers and clients, through [rustls] with the `ring` crypto provider (cargo
//! feature `tls`): the how-to's "SSL/TLS Connection".
//!
//! **Server.** Give [`TcpServerBuilder::tls`](crate::TcpServerBuilder::tls) a rustls
//! [`ServerConfig`]; [`server_config_from_pem`] makes one from a certificate chain and a
//! private key in PEM files (what Python's `ssl_context.load_cert_chain(cert, key)` does),
//! [`server_config_with_client_auth`] one that also requires a client certificate
//! (mutual TLS). Each connection's handshake runs in its own task, bounded by
//! [`ServerOptions::tls_handshake_timeout`](crate::ServerOptions::tls_handshake_timeout)
//! (60 s by default, as easynetwork): a client whose handshake fails or times out is
//! dropped before any handler hook runs, is logged at `DEBUG`, and never disturbs other
//! clients. Closing a connection sends TLS `close_notify`, bounded by
//! [`ServerOptions::tls_shutdown_timeout`](crate::ServerOptions::tls_shutdown_timeout)
//! (30 s). In the handler, [`StreamClient::tls`](crate::StreamClient::tls) gives the
//! negotiated [`TlsInfo`].
//!
//! ```no_run
//! # use easynet::{handler, recv, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer};
//! # struct Echo;
//! # impl StreamRequestHandler for Echo {
//! #     type Request = serde_json::Value;
//! #     type Response = serde_json::Value;
//! #     #[handler]
//! #     async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
//! #         let request = recv!()?;
//! #         client.send_packet(&request).await?;
//! #         Ok(())
//! #     }
//! # }
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = easynet::tls::server_config_from_pem("ssl_cert.pem", "ssl_key.pem")?;
//! let server = TcpServer::builder(JsonLines::new(), Echo)
//!     .host("localhost")
//!     .port(9000)
//!     .tls(tls)
//!     .bind()
//!     .await?;
//! server.serve_forever().await?;
//! # Ok(()) }
//! ```
//!
//! **Client.** [`TcpClient::connect_tls`](crate::TcpClient::connect_tls) takes a
//! [`ClientTls`]: the built-in roots (Mozilla's, from `webpki-roots`) by default, or the
//! CAs you give, an explicit server name, a client certificate for mutual TLS. Certificate
//! checks can be turned off only with
//! [`ClientTlsBuilder::dangerous_accept_invalid_certs`].
//!
//! ```no_run
//! use easynet::{JsonLines, TcpClient};
//! use easynet::tls::ClientTls;
//! use serde_json::Value;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = ClientTls::builder().ca_file("ca.pem")?.build()?;
//! let client = TcpClient::connect_tls("localhost", 9000, JsonLines::<Value>::new(), &tls).await?;
//! # Ok(()) }
//! ```
//!
//! **Configs of your own.** Build them with [`crypto_provider`] and rustls'
//! `builder_with_provider`, never with `ServerConfig::builder()` / `ClientConfig::builder()`:
//! those use a process-wide default provider, which panics at run time when another crate
//! of the program enables a second provider. [`rustls`] is re-exported here so that your
//! configs use the same version as easynet's.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CipherSuite, ClientConfig, CommonState, DigitallySignedStruct, ProtocolVersion, RootCertStore,
    ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use rustls;

/// easynetwork's default TLS handshake timeout (also nginx's).
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// easynetwork's default TLS shutdown (`close_notify`) timeout.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The crypto provider every config easynet builds uses: rustls' `ring` provider (TLS 1.3
/// and 1.2, their safe default cipher suites and key exchanges).
///
/// Pass it to `ServerConfig::builder_with_provider` / `ClientConfig::builder_with_provider`
/// when you build a config yourself. It is built once; every call returns the same `Arc`.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A PEM file is malformed, or holds nothing of the expected kind.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong (`"no certificate found"`, a PEM syntax error, ...).
        what: String,
    },
    /// The server name is neither a DNS name nor an IP address.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    /// rustls refused the configuration (a key that does not match the certificate, an
    /// unsupported key type, a bad CA certificate, ...).
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (for example, no CA given).
    #[error("invalid client certificate verifier: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

fn read_pem_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, what: impl fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        what: what.to_string(),
    }
}

/// Loads every certificate (`-----BEGIN CERTIFICATE-----` section) of a PEM file, in
/// order: for a server or client chain, the end-entity certificate first, then the
/// intermediates; for a CA file, the trusted CAs. Other sections are ignored.
///
/// # Errors
/// The file cannot be read, is malformed PEM, or holds no certificate.
pub fn load_certificates(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let path = path.as_ref();
    let pem = read_pem_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no certificate found"));
    }
    Ok(certs)
}

/// Loads the first private key of a PEM file: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1
/// (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`). Encrypted keys are not
/// supported.
///
/// # Errors
/// The file cannot be read, is malformed PEM, or holds no private key.
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let path = path.as_ref();
    let pem = read_pem_file(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => pem_error(path, "no private key found"),
        e => pem_error(path, e),
    })
}

/// A root store holding every certificate of the PEM file `path`.
fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certificates(path)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

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

/// What a TLS handshake negotiated: the protocol version, the cipher suite, the peer's
/// certificates. [`StreamClient::tls`](crate::StreamClient::tls) gives it to a handler,
/// [`TcpClient::tls`](crate::TcpClient::tls) to a client.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsInfo {
    protocol_version: ProtocolVersion,
    cipher_suite: CipherSuite,
    peer_certificates: Vec<CertificateDer<'static>>,
    alpn_protocol: Option<Vec<u8>>,
    server_name: Option<String>,
}

impl TlsInfo {
    /// Reads what the finished handshake of `state` negotiated. `server_name`: the SNI the
    /// client sent (server side) or the name we checked (client side).
    pub(crate) fn new(state: &CommonState, server_name: Option<String>) -> TlsInfo {
        TlsInfo {
            // A finished handshake always has both; the fallbacks are never used.
            protocol_version: state
                .protocol_version()
                .unwrap_or(ProtocolVersion::Unknown(0)),
            cipher_suite: state
                .negotiated_cipher_suite()
                .map_or(CipherSuite::Unknown(0), |suite| suite.suite()),
            peer_certificates: state
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
            alpn_protocol: state.alpn_protocol().map(<[u8]>::to_vec),
            server_name,
        }
    }

    /// The negotiated protocol version (`ProtocolVersion::TLSv1_3` or `TLSv1_2`; Python's
    /// `SSLObject.version()`).
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.protocol_version
    }

    /// The negotiated cipher suite, for example
    /// `CipherSuite::TLS13_AES_256_GCM_SHA384` (Python's `SSLObject.cipher()`).
    pub fn cipher_suite(&self) -> CipherSuite {
        self.cipher_suite
    }

    /// The certificates the peer presented, its own first, in DER. On a server: the
    /// client's (empty unless the config asks for client certificates, as
    /// [`server_config_with_client_auth`] does). On a client: the server's chain.
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.peer_certificates
    }

    /// The ALPN protocol agreed on, if the configs offered any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn_protocol.as_deref()
    }

    /// On a server, the name the client asked for (SNI), if it sent one. On a client, the
    /// name the server's certificate was checked against.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }
}

impl fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsInfo")
            .field("protocol_version", &self.protocol_version)
            .field("cipher_suite", &self.cipher_suite)
            .field("peer_certificates", &self.peer_certificates.len())
            .field(
                "alpn_protocol",
                &self.alpn_protocol.as_deref().map(String::from_utf8_lossy),
            )
            .field("server_name", &self.server_name)
            .finish()
    }
}

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
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => parse_server_name(host)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        };
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

/// The verifier of [`ClientTlsBuilder::dangerous_accept_invalid_certs`]: any certificate
/// is accepted, but the handshake signature must still be valid for it.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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

    struct Pki {
        dir: PathBuf,
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn pki(name: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("easynet-tls-unit-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(dir.join("empty.pem"), "").unwrap();
        Pki { dir }
    }

    #[test]
    fn pem_files_load_and_errors_name_the_file() {
        let pki = pki("pem");
        let d = &pki.dir;
        assert_eq!(load_certificates(d.join("cert.pem")).unwrap().len(), 1);
        load_private_key(d.join("key.pem")).unwrap();
        server_config_from_pem(d.join("cert.pem"), d.join("key.pem")).unwrap();
        server_config_with_client_auth(d.join("cert.pem"), d.join("key.pem"), d.join("cert.pem"))
            .unwrap();

        let e = load_certificates(d.join("empty.pem")).unwrap_err();
        assert!(
            e.to_string().ends_with("empty.pem: no certificate found"),
            "{e}"
        );
        let e = load_private_key(d.join("cert.pem")).unwrap_err();
        assert!(
            e.to_string().ends_with("cert.pem: no private key found"),
            "{e}"
        );
        let e = load_certificates(d.join("missing.pem")).unwrap_err();
        assert!(
            matches!(e, TlsError::Read { ref source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
        // A key that belongs to another certificate is refused.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(d.join("other-key.pem"), other.serialize_pem()).unwrap();
        let e = server_config_from_pem(d.join("cert.pem"), d.join("other-key.pem")).unwrap_err();
        assert!(matches!(e, TlsError::Config(_)), "{e}");
    }

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

    #[test]
    fn one_provider_for_everything() {
        assert!(Arc::ptr_eq(&crypto_provider(), &crypto_provider()));
    }
}
