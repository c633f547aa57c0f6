//! [`Client`]: connects to a server (over TCP, TLS, a Unix socket, or any stream) and
//! exchanges packets with it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

use super::error::ClientError;
use crate::error::{ParseError, ProtocolError, is_disconnect};
use crate::transport::Address;

#[cfg(feature = "tls")]
type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// A stream of any type, for [`Client::from_io`].
trait AnyStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> AnyStream for S {}

type BoxedStream = Box<dyn AnyStream>;

/// The read half of the connection: a plain TCP socket's, a TLS stream's, a Unix
/// socket's, or any stream's. An enum rather than a boxed trait object, so the plain
/// path reads the socket directly.
enum ReadIo {
    Tcp(OwnedReadHalf),
    #[cfg(feature = "tls")]
    Tls(tokio::io::ReadHalf<TlsStream>),
    #[cfg(unix)]
    Unix(tokio::net::unix::OwnedReadHalf),
    Other(tokio::io::ReadHalf<BoxedStream>),
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
            #[cfg(unix)]
            ReadIo::Unix(io) => Pin::new(io).poll_read(cx, buf),
            ReadIo::Other(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

/// The write half of the connection, as [`ReadIo`].
enum WriteIo {
    Tcp(OwnedWriteHalf),
    #[cfg(feature = "tls")]
    Tls(tokio::io::WriteHalf<TlsStream>),
    #[cfg(unix)]
    Unix(tokio::net::unix::OwnedWriteHalf),
    Other(tokio::io::WriteHalf<BoxedStream>),
}

impl WriteIo {
    /// Writes some of `bytes` and says how many. Cancel-safe: a call dropped before it
    /// returns has taken nothing (the socket's `poll_write`, and rustls', either take
    /// bytes and return, or take none and wait).
    async fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            WriteIo::Tcp(io) => io.write(bytes).await,
            #[cfg(feature = "tls")]
            WriteIo::Tls(io) => io.write(bytes).await,
            #[cfg(unix)]
            WriteIo::Unix(io) => io.write(bytes).await,
            WriteIo::Other(io) => io.write(bytes).await,
        }
    }

    /// Pushes out what the transport itself holds: the TLS records rustls keeps after a
    /// write, or whatever a stream of another kind buffers. Nothing to do on a socket.
    /// Cancel-safe: the records stay in rustls.
    async fn flush(&mut self) -> io::Result<()> {
        match self {
            WriteIo::Tcp(_) => Ok(()),
            #[cfg(feature = "tls")]
            WriteIo::Tls(io) => io.flush().await,
            #[cfg(unix)]
            WriteIo::Unix(_) => Ok(()),
            WriteIo::Other(io) => io.flush().await,
        }
    }

    /// Shuts down the write side. Plain TCP's shutdown never waits (the FIN follows the
    /// bytes already in the kernel); over TLS, `close_notify` is written first, and that
    /// is given up at `deadline`.
    async fn shutdown(&mut self, deadline: Instant) -> io::Result<()> {
        match self {
            WriteIo::Tcp(io) => io.shutdown().await,
            #[cfg(unix)]
            WriteIo::Unix(io) => io.shutdown().await,
            WriteIo::Other(io) => tokio::time::timeout_at(deadline, io.shutdown())
                .await
                .unwrap_or_else(|_| {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "shutdown not done in time",
                    ))
                }),
            #[cfg(feature = "tls")]
            WriteIo::Tls(io) => tokio::time::timeout_at(deadline, io.shutdown())
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

/// The write side, in the manner of tokio-util's `FramedWrite`: the buffer outlives each
/// send, and a send first writes out what the buffer still holds (a backpressure boundary
/// of zero) before it encodes its own packet. So the buffer holds at most one packet, and
/// a packet whose send was cancelled midway is always finished before the next begins.
///
/// Every change to `buf` and `written` is made between awaits, so a send dropped at any
/// await leaves them consistent.
struct WriteSide<P> {
    io: WriteIo,
    /// The packet being written, or the rest of one whose send was cancelled:
    /// `buf[written..]` is still to be written.
    buf: BytesMut,
    written: usize,
    encoder: P,
    /// [`Client::close`] has run to its end: the write side is shut down (or was given
    /// up on) and nothing is queued.
    shut_down: bool,
}

impl<P> WriteSide<P> {
    /// Encodes `packet` after what is queued (in practice, into the empty buffer). If it
    /// cannot be encoded, whatever the encoder wrote before failing is taken back out.
    fn encode<T>(&mut self, packet: &T) -> Result<(), ClientError>
    where
        T: ?Sized,
        P: for<'a> Encoder<&'a T, Error = ProtocolError>,
    {
        let start = self.buf.len();
        self.encoder.encode(packet, &mut self.buf).map_err(|e| {
            self.buf.truncate(start);
            self.shrink();
            match e {
                ProtocolError::Io(e) => ClientError::Io(e),
                ProtocolError::Parse(e) => ClientError::Serialize(Box::new(e)),
                ProtocolError::Serialize(e) => ClientError::Serialize(e),
            }
        })
    }

    /// Writes out everything queued, then flushes the transport (TLS). Cancel-safe: what
    /// is written is recorded after every write, so a dropped call leaves the rest queued.
    async fn write_out(&mut self) -> io::Result<()> {
        while self.written < self.buf.len() {
            let n = self.io.write(&self.buf[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        self.shrink();
        self.io.flush().await
    }

    /// Frees an empty buffer that a large packet grew.
    fn shrink(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > SHRINK_ABOVE {
            self.buf = BytesMut::new();
        }
    }
}

/// How many bytes the client reads at once, at most.
const READ_SIZE: usize = 16 * 1024;

/// The send buffer's memory is freed after a packet that grew it past this.
const SHRINK_ABOVE: usize = 64 * 1024;

/// How long [`Client::close`] may take on plain TCP: 30 s, the default of the TLS
/// shutdown timeout (which bounds it over TLS).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A client that exchanges packets with a server: the analog of easynetwork's
/// `AsyncTCPNetworkClient` and `AsyncUnixStreamClient`. It connects over TCP
/// ([`connect`](Self::connect); [`TcpClient`](crate::TcpClient) names it so), TLS
/// (`connect_tls`, with the `tls` feature), a Unix socket
/// ([`connect_unix`](Self::connect_unix); [`UnixClient`](crate::UnixClient)), or wraps
/// any connected stream ([`from_io`](Self::from_io)).
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
pub struct Client<P> {
    reader: Mutex<ReadSide<P>>,
    // An async mutex: a send holds it across its writes, and waiting for it is
    // cancel-safe (a dropped waiter leaves the queue).
    writer: Mutex<WriteSide<P>>,
    closed: AtomicBool,
    /// How long `close` may take: [`CLOSE_TIMEOUT`], or the TLS shutdown timeout.
    close_timeout: Duration,
    local_addr: Address,
    remote_addr: Address,
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::transport::tls::TlsInfo>>,
}

impl<P> Client<P>
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
        let local_addr = stream.local_addr()?.into();
        let remote_addr = stream.peer_addr()?.into();
        let (read, write) = stream.into_split();
        Ok(Self::new(
            ReadIo::Tcp(read),
            WriteIo::Tcp(write),
            protocol,
            local_addr,
            remote_addr,
            CLOSE_TIMEOUT,
        ))
    }

    /// Connects to the Unix stream socket at `path` (a [`UnixServer`](crate::UnixServer)'s).
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub async fn connect_unix(path: impl AsRef<std::path::Path>, protocol: P) -> io::Result<Self> {
        let stream = tokio::net::UnixStream::connect(path).await?;
        Self::from_unix_stream(stream, protocol)
    }

    /// Wraps an already connected Unix stream socket.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn from_unix_stream(stream: tokio::net::UnixStream, protocol: P) -> io::Result<Self> {
        let local_addr = stream.local_addr()?.into();
        let remote_addr = stream.peer_addr()?.into();
        let (read, write) = stream.into_split();
        Ok(Self::new(
            ReadIo::Unix(read),
            WriteIo::Unix(write),
            protocol,
            local_addr,
            remote_addr,
            CLOSE_TIMEOUT,
        ))
    }

    /// Wraps an already connected stream of any type (an in-memory
    /// `tokio::io::duplex` pipe, a stream from another library): the same packets and
    /// easynet's decode errors over it (a frame that fails to decode is one
    /// [`ClientError::Parse`] and the stream goes on, where tokio-util's `Framed` ends at
    /// the first one). Its addresses are [`Address::Unknown`]; every send is flushed.
    pub fn from_io<S>(stream: S, protocol: P) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (read, write) = tokio::io::split(Box::new(stream) as BoxedStream);
        Self::new(
            ReadIo::Other(read),
            WriteIo::Other(write),
            protocol,
            Address::Unknown,
            Address::Unknown,
            CLOSE_TIMEOUT,
        )
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
        tls: &crate::transport::tls::ClientTls,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let local_addr = stream.local_addr()?.into();
        let remote_addr = stream.peer_addr()?.into();
        let (stream, info) = tls.connect(host, stream).await?;
        let (read, write) = tokio::io::split(stream);
        let mut client = Self::new(
            ReadIo::Tls(read),
            WriteIo::Tls(write),
            protocol,
            local_addr,
            remote_addr,
            tls.shutdown_timeout(),
        );
        client.tls = Some(Box::new(info));
        Ok(client)
    }

    fn new(
        read: ReadIo,
        write: WriteIo,
        protocol: P,
        local_addr: Address,
        remote_addr: Address,
        close_timeout: Duration,
    ) -> Self {
        Client {
            reader: Mutex::new(ReadSide {
                io: read,
                buf: BytesMut::new(),
                decoder: protocol.clone(),
                eof: false,
            }),
            writer: Mutex::new(WriteSide {
                io: write,
                buf: BytesMut::new(),
                written: 0,
                encoder: protocol,
                shut_down: false,
            }),
            closed: AtomicBool::new(false),
            close_timeout,
            local_addr,
            remote_addr,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Sends one packet and waits until it is written to the socket (over TLS, until its
    /// records are).
    ///
    /// If an earlier send was cancelled with its packet partly written, the rest of that
    /// packet is written first: packets go out whole and in order, never one inside
    /// another.
    ///
    /// # Errors
    /// [`ClientError::Closed`] after [`close`](Self::close) (nothing is sent);
    /// [`ClientError::Serialize`] if the packet cannot be serialized (nothing of it is
    /// sent, and the client stays usable); [`ClientError::Io`] if writing fails (what is
    /// not written stays queued, as for a cancelled send, but the connection is most
    /// likely broken).
    ///
    /// # Cancel safety
    /// This method is cancel safe in this sense: if the future is dropped before it
    /// completes (a [`tokio::time::timeout`] around it, a `select!` branch that lost), it
    /// leaves either nothing of its packet queued (it was dropped while waiting for
    /// another send, or while finishing what an earlier cancelled send left), or its whole
    /// packet: then the part not yet written goes out first on the next `send_packet`,
    /// [`flush`](Self::flush) or [`close`](Self::close). A cancelled send never leaves half
    /// a packet for the next one to follow. Cancelling does not take back what is already
    /// written, so a packet whose send timed out may still reach the server.
    ///
    /// The send buffer holds at most one packet; its memory is freed after a packet over
    /// 64 KiB.
    pub async fn send_packet<T>(&self, packet: &T) -> Result<(), ClientError>
    where
        T: ?Sized,
        P: for<'a> Encoder<&'a T, Error = ProtocolError>,
    {
        let mut writer = self.writer.lock().await;
        if self.is_closing() {
            return Err(ClientError::Closed);
        }
        // What a cancelled send left goes out before this packet is encoded.
        writer.write_out().await?;
        writer.encode(packet)?;
        writer.write_out().await?;
        Ok(())
    }

    /// Writes out what a cancelled [`send_packet`](Self::send_packet) left queued (the
    /// rest of its packet) and waits until it is written; returns at once when nothing
    /// is queued, and after [`close`](Self::close), which writes it itself.
    ///
    /// # Errors
    /// [`ClientError::Io`] if writing fails.
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped, what is not yet written stays queued.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let mut writer = self.writer.lock().await;
        if writer.shut_down {
            return Ok(());
        }
        writer.write_out().await?;
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

    /// Closes the connection: writes out what a cancelled
    /// [`send_packet`](Self::send_packet) left queued, shuts down the write side (over
    /// TLS, sends `close_notify`), and stops reading. Pending and later calls fail with
    /// [`ClientError::Closed`]; a send already writing its packet is not interrupted, and
    /// `close` waits for it.
    ///
    /// Bounded: all of it (waiting for a send in progress, writing what is queued,
    /// `close_notify`) takes at most the TLS shutdown timeout (`ClientTls`'s
    /// `shutdown_timeout`, 30 s by default), and on plain TCP at most 30 s too. Past that,
    /// a server that does not read is given up on: what is still queued is dropped and, on
    /// plain TCP, the write side is shut down all the same (the server then sees a
    /// truncated packet, then the end of the stream). Over TLS, or when a send in progress
    /// held the connection up, the connection is left as it is until the client is
    /// dropped.
    ///
    /// Closing twice is harmless. If the future is dropped before it completes, the
    /// client still counts as closed, and calling `close` again finishes the work.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let deadline = Instant::now() + self.close_timeout;
        let Ok(mut writer) = tokio::time::timeout_at(deadline, self.writer.lock()).await else {
            tracing::debug!(
                server = %self.remote_addr,
                "a send in progress did not finish within {:?}; closing gives up",
                self.close_timeout
            );
            return;
        };
        if writer.shut_down {
            return;
        }
        match tokio::time::timeout_at(deadline, writer.write_out()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(server = %self.remote_addr, "closing: writing failed: {e}");
            }
            Err(_) => tracing::debug!(
                server = %self.remote_addr,
                "closing: queued bytes not written within {:?}, dropped",
                self.close_timeout
            ),
        }
        // Whatever happened, nothing stays queued.
        writer.buf = BytesMut::new();
        writer.written = 0;
        if let Err(e) = writer.io.shutdown(deadline).await {
            tracing::debug!(server = %self.remote_addr, "closing: shutdown failed: {e}");
        }
        writer.shut_down = true;
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closing(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The client's own address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr.inet_or_unspecified()
    }

    /// The server's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr.inet_or_unspecified()
    }

    /// The client's own address, whatever the transport.
    pub fn local_address(&self) -> &Address {
        &self.local_addr
    }

    /// The server's address, whatever the transport.
    pub fn remote_address(&self) -> &Address {
        &self.remote_addr
    }

    /// What the TLS handshake negotiated (protocol version, cipher suite, the server's
    /// certificates); `None` for a plain TCP connection.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(&self) -> Option<&crate::transport::tls::TlsInfo> {
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

impl<P> fmt::Debug for Client<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BytesLines;
    use tokio::net::TcpListener;

    /// A client connected to a raw server socket on loopback.
    async fn connected() -> (Client<BytesLines>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) =
            tokio::join!(Client::connect(addr, BytesLines::new()), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    /// More than the loopback socket buffers hold: sending it blocks while the server
    /// reads nothing.
    const BIG: usize = 16 << 20;

    /// Only the cancellation mechanism: the send cannot finish, as the server never reads.
    const CANCEL_AFTER: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn the_send_buffer_is_freed_after_a_large_packet() {
        let (client, mut server) = connected().await;
        let big = vec![b'x'; 1 << 20];
        let reader = tokio::spawn(async move {
            let mut frame = vec![0; (1 << 20) + 1];
            server.read_exact(&mut frame).await.unwrap();
            server
        });
        client.send_packet(&big).await.unwrap();
        let writer = client.writer.lock().await;
        assert!(writer.buf.is_empty());
        assert_eq!(writer.buf.capacity(), 0);
        drop(writer);
        drop(reader.await.unwrap());
    }

    #[tokio::test]
    async fn close_gives_up_on_a_server_that_never_reads() {
        let (mut client, mut server) = connected().await;
        client.close_timeout = Duration::from_millis(200);
        let big = vec![b'x'; BIG];
        assert!(
            tokio::time::timeout(CANCEL_AFTER, client.send_packet(&big))
                .await
                .is_err()
        );
        assert!(client.writer.lock().await.written < BIG);
        // The bound is what ends close here: the server never reads.
        tokio::time::timeout(Duration::from_secs(10), client.close())
            .await
            .expect("close is bounded");
        {
            let writer = client.writer.lock().await;
            assert!(writer.shut_down);
            assert_eq!(writer.buf.capacity(), 0);
        }
        // The write side was shut down all the same: the server gets what the kernel
        // held, then the end of the stream, never the whole frame.
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), server.read_to_end(&mut received))
            .await
            .unwrap()
            .unwrap();
        assert!(!received.is_empty() && received.len() < BIG);
        assert!(received.iter().all(|&b| b == b'x'));
        // Closing again returns at once; flushing has nothing to do.
        client.close().await;
        client.flush().await.unwrap();
    }
}
