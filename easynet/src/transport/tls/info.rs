//! What a finished handshake negotiated.

use std::fmt;

use rustls::{CipherSuite, CommonState, ProtocolVersion};
use rustls_pki_types::CertificateDer;

#[cfg(doc)] // For the links of the docs below.
use super::server_config_with_client_auth;

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
