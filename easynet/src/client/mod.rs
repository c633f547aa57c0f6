//! The client side: [`TcpClient`] connects to a server and exchanges packets with it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use futures_core::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{BoxError, ParseError, ProtocolError, is_disconnect};

/// An error of a [`TcpClient`] operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The client was closed with [`TcpClient::close`].
    #[error("client closed")]
    Closed,
    /// The server closed the connection (end of stream).
    #[error("connection closed by the server")]
    ConnectionClosed,
    /// No packet arrived in time. Bytes of a partial packet are kept for the next call.
    #[error("timed out waiting for a packet")]
    Timeout,
    /// A received frame is not a valid packet; the stream stays usable.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A packet could not be serialized; nothing was sent.
    #[error("cannot serialize packet: {0}")]
    Serialize(#[source] BoxError),
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

struct ReadSide<P> {
    io: OwnedReadHalf,
    buf: BytesMut,
    decoder: P,
    eof: bool,
}

struct WriteSide<P> {
    io: OwnedWriteHalf,
    buf: BytesMut,
    encoder: P,
}

/// How many bytes the client reads at once, at most.
const READ_SIZE: usize = 16 * 1024;

/// A TCP client that exchanges packets with a server: the analog of easynetwork's
/// `AsyncTCPNetworkClient`.
///
/// `P` is the protocol, for example [`JsonLines<Response>`](crate::JsonLines): it decodes
/// what the server sends and encodes what the client sends. Methods take `&self`, so one
/// task may send while another receives (share the client with an `Arc`).
///
/// ```no_run
/// use easynet::{JsonLines, TcpClient};
/// use serde_json::{json, Value};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = TcpClient::connect(("localhost", 9000), JsonLines::<Value>::new()).await?;
/// client.send_packet(&json!({"message": "Hello"})).await?;
/// let response: Value = client.recv_packet().await?;
/// client.close().await;
/// # Ok(()) }
/// ```
pub struct TcpClient<P> {
    reader: Mutex<ReadSide<P>>,
    writer: Mutex<WriteSide<P>>,
    closed: AtomicBool,
    local_addr: SocketAddr,
    remote_addr: SocketAddr,
}

impl<P> TcpClient<P>
where
    P: Decoder<Error = ProtocolError> + Clone,
{
    /// Connects to `addr` (every address it resolves to is tried in turn).
    pub async fn connect(addr: impl tokio::net::ToSocketAddrs, protocol: P) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        Self::from_stream(stream, protocol)
    }

    /// Connects, giving up with [`io::ErrorKind::TimedOut`] after `timeout`.
    pub async fn connect_timeout(
        addr: impl tokio::net::ToSocketAddrs,
        protocol: P,
        timeout: Duration,
    ) -> io::Result<Self> {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(stream) => Self::from_stream(stream?, protocol),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    }

    /// Wraps an already connected stream (`TCP_NODELAY` is turned on).
    pub fn from_stream(stream: TcpStream, protocol: P) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        let local_addr = stream.local_addr()?;
        let remote_addr = stream.peer_addr()?;
        let (read, write) = stream.into_split();
        Ok(TcpClient {
            reader: Mutex::new(ReadSide {
                io: read,
                buf: BytesMut::new(),
                decoder: protocol.clone(),
                eof: false,
            }),
            writer: Mutex::new(WriteSide {
                io: write,
                buf: BytesMut::new(),
                encoder: protocol,
            }),
            closed: AtomicBool::new(false),
            local_addr,
            remote_addr,
        })
    }

    /// Sends one packet and waits until it is written to the socket.
    pub async fn send_packet<T>(&self, packet: &T) -> Result<(), ClientError>
    where
        T: ?Sized,
        P: for<'a> Encoder<&'a T, Error = ProtocolError>,
    {
        let mut writer = self.writer.lock().await;
        if self.is_closing() {
            return Err(ClientError::Closed);
        }
        let WriteSide { io, buf, encoder } = &mut *writer;
        buf.clear();
        match encoder.encode(packet, buf) {
            Ok(()) => {}
            Err(ProtocolError::Io(e)) => return Err(ClientError::Io(e)),
            Err(ProtocolError::Parse(e)) => return Err(ClientError::Serialize(Box::new(e))),
            Err(ProtocolError::Serialize(e)) => return Err(ClientError::Serialize(e)),
        }
        io.write_all(buf).await?;
        buf.clear();
        if buf.capacity() > 64 * 1024 {
            *buf = BytesMut::new();
        }
        Ok(())
    }

    /// Waits for the next packet from the server.
    ///
    /// Cancel-safe: if the future is dropped (a timeout around it), bytes of a partial
    /// packet stay buffered for the next call. A frame that fails to decode gives
    /// [`ClientError::Parse`] and the next call decodes the following frame.
    pub async fn recv_packet(&self) -> Result<P::Item, ClientError> {
        let mut reader = self.reader.lock().await;
        let ReadSide {
            io,
            buf,
            decoder,
            eof,
        } = &mut *reader;
        loop {
            if self.is_closing() {
                return Err(ClientError::Closed);
            }
            if let Some(packet) = decoder.decode(buf).map_err(protocol_to_client)? {
                return Ok(packet);
            }
            if *eof {
                return Err(ClientError::ConnectionClosed);
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(buf.len().clamp(4096, READ_SIZE));
            }
            match io.read_buf(buf).await {
                Ok(0) => *eof = true,
                Ok(_) => {}
                Err(e) if is_disconnect(&e) => return Err(ClientError::ConnectionClosed),
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }

    /// [`recv_packet`](Self::recv_packet), giving up with [`ClientError::Timeout`] after
    /// `timeout`.
    pub async fn recv_packet_timeout(&self, timeout: Duration) -> Result<P::Item, ClientError> {
        tokio::time::timeout(timeout, self.recv_packet())
            .await
            .unwrap_or(Err(ClientError::Timeout))
    }

    /// The packets the server sends, as a `Stream`. It ends when the server closes the
    /// connection or the client is closed; a frame that fails to decode is an `Err` item
    /// and the stream goes on.
    pub fn packets(&self) -> impl Stream<Item = Result<P::Item, ClientError>> + '_ {
        futures_util::stream::unfold(self, |client| async move {
            match client.recv_packet().await {
                Err(ClientError::ConnectionClosed | ClientError::Closed) => None,
                item => Some((item, client)),
            }
        })
    }

    /// Closes the connection (shuts down the write side, then stops reading). Pending
    /// and later calls fail with [`ClientError::Closed`]. Closing twice is harmless.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut writer = self.writer.lock().await;
        let _ = writer.io.shutdown().await;
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closing(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The client's own address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }
}

fn protocol_to_client(error: ProtocolError) -> ClientError {
    match error {
        ProtocolError::Parse(e) => ClientError::Parse(e),
        ProtocolError::Serialize(e) => ClientError::Parse(ParseError::invalid("invalid packet", e)),
        ProtocolError::Io(e) => ClientError::Io(e),
    }
}

impl<P> fmt::Debug for TcpClient<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpClient")
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}
