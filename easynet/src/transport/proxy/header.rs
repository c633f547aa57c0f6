//! Parsing one PROXY protocol header (v1 text or v2 binary) from the bytes read so far:
//! sans-IO, so the reader in `read.rs`, the unit tests and the fuzz target share it.
//!
//! The fields are parsed by the `ppp` crate, a small, maintained, sans-IO parser of both
//! versions: hand-written parsing of the v1 text (address syntax, ports without leading
//! zeroes) and of the v2 address blocks would only repeat it. What `ppp` does not decide
//! is decided here: where a header ends (v1: the CRLF within 107 bytes; v2: 16 bytes
//! plus the length field), whether more bytes are needed, and that the first bytes can
//! still begin a header at all (so garbage is refused without waiting for more).

use ppp::v1;
use ppp::v2;

use super::info::ProxyInfo;
use crate::transport::Address;

/// v1's longest header, CRLF included (the spec's 107 bytes).
pub(crate) const V1_MAX_LEN: usize = 107;
/// v1's first bytes.
const V1_PREFIX: &[u8] = b"PROXY ";
/// v2's fixed part: the 12-byte signature, version and command, family and protocol,
/// and the length of what follows.
const V2_FIXED_LEN: usize = 16;
/// v2's longest header: the fixed part plus the largest length the field can hold.
pub(crate) const V2_MAX_LEN: usize = V2_FIXED_LEN + u16::MAX as usize;

/// TLV types a handler may want (spec section 2.2).
const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_UNIQUE_ID: u8 = 0x05;

/// A complete header, as the server acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Header {
    /// v2 `LOCAL`: the proxy's own connection (a health check); the connection's real
    /// addresses stand.
    Local,
    /// A proxied connection. `info` says who the client is, when the header says it.
    Proxy(ProxyInfo),
}

/// What the bytes so far hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A header's beginning: read more.
    Incomplete,
    /// A whole header, and how many bytes it took (the rest is the client's data).
    Complete(Header, usize),
}

/// Why the bytes are not a header; shown in the DEBUG line that closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HeaderError(pub(crate) String);

/// Parses the header at the start of `buf`, the bytes a trusted connection sent so far.
///
/// `proxy` is the connection's peer (the proxy), recorded in the result.
pub(crate) fn parse(buf: &[u8], proxy: &Address) -> Result<Parsed, HeaderError> {
    let sig = v2::PROTOCOL_PREFIX;
    if buf.len() < sig.len().min(V1_PREFIX.len())
        && (sig.starts_with(buf) || V1_PREFIX.starts_with(buf))
    {
        return Ok(Parsed::Incomplete);
    }
    if buf.starts_with(sig) || (buf.len() < sig.len() && sig.starts_with(buf)) {
        return parse_v2(buf, proxy);
    }
    if buf.starts_with(V1_PREFIX) {
        return parse_v1(buf, proxy);
    }
    Err(HeaderError("not a PROXY protocol header".into()))
}

fn parse_v1(buf: &[u8], proxy: &Address) -> Result<Parsed, HeaderError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(cr) = memchr::memchr2(b'\r', b'\n', window) else {
        if buf.len() >= V1_MAX_LEN {
            return Err(HeaderError(format!(
                "v1 header longer than {V1_MAX_LEN} bytes"
            )));
        }
        return Ok(Parsed::Incomplete);
    };
    if buf[cr] == b'\n' {
        return Err(HeaderError("v1 header: LF without CR".into()));
    }
    if cr + 1 == buf.len() {
        return Ok(Parsed::Incomplete);
    }
    let len = cr + 2;
    if buf[cr + 1] != b'\n' {
        return Err(HeaderError("v1 header: CR not followed by LF".into()));
    }
    let header =
        v1::Header::try_from(&buf[..len]).map_err(|e| HeaderError(format!("v1 header: {e}")))?;
    let (source, destination) = match header.addresses {
        v1::Addresses::Tcp4(a) => (
            Some(Address::Inet((a.source_address, a.source_port).into())),
            Some(Address::Inet(
                (a.destination_address, a.destination_port).into(),
            )),
        ),
        v1::Addresses::Tcp6(a) => (
            Some(Address::Inet((a.source_address, a.source_port).into())),
            Some(Address::Inet(
                (a.destination_address, a.destination_port).into(),
            )),
        ),
        // "PROXY UNKNOWN": the connection's real addresses stand (spec 2.1).
        v1::Addresses::Unknown => (None, None),
    };
    let info = ProxyInfo {
        version: 1,
        proxy: proxy.clone(),
        source,
        destination,
        tlvs: Vec::new(),
    };
    Ok(Parsed::Complete(Header::Proxy(info), len))
}

fn parse_v2(buf: &[u8], proxy: &Address) -> Result<Parsed, HeaderError> {
    if buf.len() < V2_FIXED_LEN {
        return Ok(Parsed::Incomplete);
    }
    let len = V2_FIXED_LEN + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if buf.len() < len {
        return Ok(Parsed::Incomplete);
    }
    let header =
        v2::Header::try_from(&buf[..len]).map_err(|e| HeaderError(format!("v2 header: {e}")))?;
    let mut tlvs = Vec::new();
    for tlv in header.tlvs() {
        let tlv = tlv.map_err(|e| HeaderError(format!("v2 header: {e}")))?;
        tlvs.push((tlv.kind, tlv.value.into_owned().into_boxed_slice()));
    }
    if header.command == v2::Command::Local {
        return Ok(Parsed::Complete(Header::Local, len));
    }
    let (source, destination) = match header.addresses {
        v2::Addresses::IPv4(a) => (
            Some(Address::Inet((a.source_address, a.source_port).into())),
            Some(Address::Inet(
                (a.destination_address, a.destination_port).into(),
            )),
        ),
        v2::Addresses::IPv6(a) => (
            Some(Address::Inet((a.source_address, a.source_port).into())),
            Some(Address::Inet(
                (a.destination_address, a.destination_port).into(),
            )),
        ),
        v2::Addresses::Unix(a) => (
            Some(unix_address(&a.source)),
            Some(unix_address(&a.destination)),
        ),
        // AF_UNSPEC: the connection's real addresses stand (spec 2.2).
        v2::Addresses::Unspecified => (None, None),
    };
    let info = ProxyInfo {
        version: 2,
        proxy: proxy.clone(),
        source,
        destination,
        tlvs,
    };
    Ok(Parsed::Complete(Header::Proxy(info), len))
}

/// A v2 `AF_UNIX` address: a path padded with NULs; empty for an unnamed socket.
fn unix_address(raw: &[u8; 108]) -> Address {
    let end = memchr::memchr(0, raw).unwrap_or(raw.len());
    if end == 0 {
        return Address::Unix(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Address::Unix(Some(std::ffi::OsStr::from_bytes(&raw[..end]).into()))
    }
    #[cfg(not(unix))]
    {
        Address::Unix(Some(
            String::from_utf8_lossy(&raw[..end]).into_owned().into(),
        ))
    }
}

impl ProxyInfo {
    pub(crate) fn tlv_value(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| &**v)
    }

    pub(crate) fn alpn_tlv(&self) -> Option<&[u8]> {
        self.tlv_value(PP2_TYPE_ALPN)
    }

    pub(crate) fn authority_tlv(&self) -> Option<&[u8]> {
        self.tlv_value(PP2_TYPE_AUTHORITY)
    }

    pub(crate) fn unique_id_tlv(&self) -> Option<&[u8]> {
        self.tlv_value(PP2_TYPE_UNIQUE_ID)
    }
}
