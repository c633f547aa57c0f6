//! [`ProxyInfo`]: what a connection's PROXY protocol header said, as a handler reads it
//! on the client handle.

use crate::transport::Address;

/// What a trusted proxy's PROXY protocol header said about a connection, from
/// [`StreamClient::proxy`](crate::StreamClient::proxy).
///
/// When the header gives the client's address, the client handle's
/// [`remote_address`](crate::StreamClient::remote_address) is that address and
/// [`proxy_address`](Self::proxy_address) is the proxy's (the connection's real peer).
/// A header without addresses (v1 `UNKNOWN`, v2 `AF_UNSPEC`) leaves the connection's
/// real addresses in place, as the spec requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    pub(crate) version: u8,
    pub(crate) proxy: Address,
    pub(crate) source: Option<Address>,
    pub(crate) destination: Option<Address>,
    /// v2 TLVs (type, value), in the header's order; empty for v1.
    pub(crate) tlvs: Vec<(u8, Box<[u8]>)>,
}

impl ProxyInfo {
    /// The header's version: 1 (text) or 2 (binary).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The proxy's address: the connection's real peer.
    pub fn proxy_address(&self) -> &Address {
        &self.proxy
    }

    /// The client's address as the header gives it; `None` for v1 `UNKNOWN` or v2
    /// `AF_UNSPEC`.
    pub fn source(&self) -> Option<&Address> {
        self.source.as_ref()
    }

    /// The address the client connected to, on the proxy, as the header gives it.
    pub fn destination(&self) -> Option<&Address> {
        self.destination.as_ref()
    }

    /// v2's `PP2_TYPE_ALPN`: the application protocol the client negotiated with the
    /// proxy (`b"h2"`), when the proxy terminated TLS and sent it.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn_tlv()
    }

    /// v2's `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), when
    /// sent; `None` too if it is not UTF-8.
    pub fn authority(&self) -> Option<&str> {
        self.authority_tlv()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// v2's `PP2_TYPE_UNIQUE_ID`: the proxy's id for this connection (HAProxy's
    /// `unique-id-format`, with `proxy-v2-options unique-id`), up to 128 bytes.
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.unique_id_tlv()
    }

    /// The value of the first v2 TLV of this type (spec section 2.2), for the types
    /// without their own method.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlv_value(kind)
    }
}
