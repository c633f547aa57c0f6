//! The client side: [`TcpClient`] connects to a server and exchanges packets with it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
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

#[cfg(feature = "tls")]
type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// The read half of the connection: a plain TCP socket's, or a TLS stream's. An enum
/// rather than a boxed trait object, so the plain path reads the socket directly.
enum ReadIo {
    Tcp(OwnedReadHalf),
    #[cfg(feature = "tls")]
    Tls(tokio::io::ReadHalf<TlsStream>),
}

impl AsyncRead for ReadIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadIo::Tcp(io) => Pin::new(io).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            ReadIo::Tls(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

/// The write half of the connection, as [`ReadIo`].
enum WriteIo {
    Tcp(OwnedWriteHalf),
    #[cfg(feature = "tls")]
    Tls {
        io: tokio::io::WriteHalf<TlsStream>,
        shutdown_timeout: Duration,
    },
}

impl WriteIo {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            WriteIo::Tcp(io) => io.write_all(bytes).await,
            #[cfg(feature = "tls")]
            WriteIo::Tls { io, .. } => {
                // rustls may keep records buffered after a write: push them out.
                io.write_all(bytes).await?;
                io.flush().await
            }
        }
    }

    /// Shuts down the write side; over TLS, sends `close_notify` first, for at most the
    /// shutdown timeout.
    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            WriteIo::Tcp(io) => io.shutdown().await,
            #[cfg(feature = "tls")]
            WriteIo::Tls {
                io,
                shutdown_timeout,
            } => tokio::time::timeout(*shutdown_timeout, io.shutdown())
                .await
                .unwrap_or_else(|_| {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "TLS close_notify not sent in time",
                    ))
                }),
        }
    }
}

struct ReadSide<P> {
    io: ReadIo,
    buf: BytesMut,
    decoder: P,
    eof: bool,
}

struct WriteSide<P> {
    io: WriteIo,
    buf: BytesMut,
    encoder: P,
}

/// How many bytes the client reads at once, at most.
const READ_SIZE: usize = 16 * 1024;

/// A TCP client that exchanges packets with a server: the analog of easynetwork's
/// `AsyncTCPNetworkClient`.
///
/// `P` is the protocol, for example `JsonLines<Response>`: it decodes
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
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::TlsInfo>>,
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
        Ok(Self::new(
            ReadIo::Tcp(read),
            WriteIo::Tcp(write),
            protocol,
            local_addr,
            remote_addr,
        ))
    }

    /// Connects to `host:port` over TLS (the how-to's `ssl=`): every address `host`
    /// resolves to is tried in turn, then the TLS handshake runs, bounded by the
    /// settings' handshake timeout.
    ///
    /// The server's certificate is checked against `host` (a DNS name or an IP address),
    /// unless `tls` names another server (Python's `server_hostname=`).
    ///
    /// ```no_run
    /// use easynet::{JsonLines, TcpClient};
    /// use easynet::tls::ClientTls;
    /// use serde_json::{json, Value};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = ClientTls::builder().ca_file("ca.pem")?.build()?;
    /// let client = TcpClient::connect_tls("localhost", 9000, JsonLines::<Value>::new(), &tls).await?;
    /// client.send_packet(&json!({"message": "Hello"})).await?;
    /// println!("{}", client.recv_packet().await?);
    /// client.close().await; // sends close_notify
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connecting fails; the handshake fails (the error's
    /// [`get_ref`](io::Error::get_ref) is the [`rustls::Error`], for example
    /// `InvalidCertificate(UnknownIssuer)` or `InvalidCertificate(NotValidForName)`);
    /// [`io::ErrorKind::TimedOut`] when the handshake times out;
    /// [`io::ErrorKind::InvalidInput`] when `host` is not a valid server name.
    ///
    /// With TLS 1.3, a server that refuses the client's certificate (mutual TLS) does so
    /// after the client's handshake is done: the refusal then comes out of the first
    /// [`recv_packet`](Self::recv_packet).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn connect_tls(
        host: &str,
        port: u16,
        protocol: P,
        tls: &crate::tls::ClientTls,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let local_addr = stream.local_addr()?;
        let remote_addr = stream.peer_addr()?;
        let (stream, info) = tls.connect(host, stream).await?;
        let (read, write) = tokio::io::split(stream);
        let mut client = Self::new(
            ReadIo::Tls(read),
            WriteIo::Tls {
                io: write,
                shutdown_timeout: tls.shutdown_timeout(),
            },
            protocol,
            local_addr,
            remote_addr,
        );
        client.tls = Some(Box::new(info));
        Ok(client)
    }

    fn new(
        read: ReadIo,
        write: WriteIo,
        protocol: P,
        local_addr: SocketAddr,
        remote_addr: SocketAddr,
    ) -> Self {
        TcpClient {
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
            #[cfg(feature = "tls")]
            tls: None,
        }
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

    /// Closes the connection (shuts down the write side, then stops reading; over TLS,
    /// `close_notify` is sent first). Pending and later calls fail with
    /// [`ClientError::Closed`]. Closing twice is harmless.
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

    /// What the TLS handshake negotiated (protocol version, cipher suite, the server's
    /// certificates); `None` for a plain TCP connection.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_deref()
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
