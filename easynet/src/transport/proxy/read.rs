//! Reading a PROXY protocol header off a connection: as many reads as the header needs,
//! parsing after each; the bytes read past the header are handed back, to be read first.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::header::{self, Header, HeaderError, Parsed};
use crate::transport::Address;

/// The first read's size: a v1 header (107 bytes at most) or a v2 header with its usual
/// TLVs fits; a longer v2 header is read to its announced length.
const FIRST_READ: usize = 512;

/// Why a trusted connection did not deliver a header.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// The bytes are not a header (or too long for one).
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(#[from] HeaderError),
    /// The connection ended before a whole header arrived.
    #[error("connection closed before a whole PROXY protocol header ({0} bytes received)")]
    Truncated(usize),
    /// Reading failed.
    #[error("reading the PROXY protocol header failed: {0}")]
    Io(#[from] io::Error),
}

/// Reads one header from `stream`. Returns it with the bytes that followed it in the
/// same reads (the client's first data, sometimes glued to the header).
///
/// Memory is bounded by the largest header: `V2_MAX_LEN` bytes, which only a trusted
/// source can make it read. Not bounded in time: the caller puts a timeout around it.
pub(crate) async fn read_header<S>(
    stream: &mut S,
    proxy: &Address,
) -> Result<(Header, Bytes), ProxyError>
where
    S: AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(FIRST_READ);
    loop {
        if buf.len() == buf.capacity() {
            // A v2 header announces its length: make room for all of it at once.
            let want = if buf.len() >= 16 && buf.starts_with(ppp::v2::PROTOCOL_PREFIX) {
                16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]))
            } else {
                buf.len() + FIRST_READ
            };
            buf.reserve(want.clamp(buf.len() + 1, header::V2_MAX_LEN) - buf.len());
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(ProxyError::Truncated(buf.len()));
        }
        match header::parse(&buf, proxy)? {
            Parsed::Incomplete => continue,
            Parsed::Complete(header, len) => {
                let rest = buf.split_off(len).freeze();
                return Ok((header, rest));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn proxy() -> Address {
        Address::Inet("127.0.0.1:5000".parse().unwrap())
    }

    #[tokio::test]
    async fn a_header_in_pieces_then_data() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for piece in [
                &b"PRO"[..],
                b"XY TCP4 192.0.2.1 ",
                b"198.51.100.2 4000 80\r",
                b"\nhello",
            ] {
                client.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            client
        });
        let (header, rest) = read_header(&mut server, &proxy()).await.unwrap();
        let Header::Proxy(info) = header else {
            panic!("{header:?}")
        };
        assert_eq!(
            info.source(),
            Some(&Address::Inet("192.0.2.1:4000".parse().unwrap()))
        );
        let mut rest = rest.to_vec();
        drop(writer.await.unwrap());
        server.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"hello");
    }

    #[tokio::test]
    async fn eof_mid_header_is_truncated() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"PROXY TCP4 1.2.3.4").await.unwrap();
        drop(client);
        let e = read_header(&mut server, &proxy()).await.unwrap_err();
        assert!(matches!(e, ProxyError::Truncated(18)), "{e}");
    }

    #[tokio::test]
    async fn a_long_v2_header_is_read_whole() {
        let mut bytes = ppp::v2::PROTOCOL_PREFIX.to_vec();
        let tlv_len = 3000u16;
        bytes.extend([0x21, 0x11]);
        bytes.extend((12 + 3 + tlv_len).to_be_bytes());
        bytes.extend([10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0, 80]);
        bytes.push(0x05);
        bytes.extend(tlv_len.to_be_bytes());
        bytes.extend(std::iter::repeat_n(b'x', usize::from(tlv_len)));
        bytes.extend(b"{}\n");
        let (mut client, mut server) = tokio::io::duplex(8192);
        client.write_all(&bytes).await.unwrap();
        let (header, rest) = read_header(&mut server, &proxy()).await.unwrap();
        let Header::Proxy(info) = header else {
            panic!("{header:?}")
        };
        assert_eq!(info.unique_id().map(<[u8]>::len), Some(3000));
        // What was not read with the header is still in the stream.
        drop(client);
        let mut rest = rest.to_vec();
        server.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"{}\n");
    }
}
