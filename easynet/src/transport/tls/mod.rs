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

mod client;
mod info;
mod pem;
mod server;
mod verifier;

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[cfg(doc)] // For the links of the docs above.
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

pub use rustls;

pub use client::{ClientTls, ClientTlsBuilder};
pub use info::TlsInfo;
pub use pem::{load_certificates, load_private_key};
pub(crate) use server::ServerTls;
pub use server::{server_config_from_pem, server_config_with_client_auth};

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

/// A throwaway PKI for the unit tests: a self-signed `localhost` certificate and its key.
#[cfg(test)]
mod test_pki {
    use std::path::PathBuf;

    pub(super) struct Pki {
        pub(super) dir: PathBuf,
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    pub(super) fn pki(name: &str) -> Pki {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_provider_for_everything() {
        assert!(Arc::ptr_eq(&crypto_provider(), &crypto_provider()));
    }
}
