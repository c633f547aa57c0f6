//! [`Client`]: a blocking client over std sockets, the analog of easynetwork's
//! `TCPNetworkClient` (and `UnixStreamClient`).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use super::send_lock::SendLock;
use super::socket::{Socket, is_timeout, remaining};
use crate::client::ClientError;
use crate::error::{ParseError, ProtocolError, is_disconnect};
use crate::transport::Address;

/// How many bytes the client reads at once, at most (as the async client).
const READ_SIZE: usize = 16 * 1024;

/// The send buffer's memory is freed after a packet that grew it past this.
const SHRINK_ABOVE: usize = 64 * 1024;

/// How long [`Client::close`] may take on plain TCP (over TLS, the settings' shutdown
/// timeout): 30 s, as the async client.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

struct ReadSide<P> {
    buf: BytesMut,
    decoder: P,
    /// Bytes read from the socket: the frame bytes themselves, or TLS records.
    scratch: Box<[u8]>,
    eof: bool,
}

/// The send side: `out[written..]` is still to be written to the socket. A send whose
/// timeout ran out midway leaves the rest of its frame here, and the next send (or
/// [`Client::flush`], or [`Client::close`]) writes it before anything else: frames go out
/// whole and in order.
struct WriteSide<P> {
    out: BytesMut,
    written: usize,
    /// Over TLS, the frame is encoded here, then encrypted into `out`.
    #[cfg(feature = "tls")]
    plain: BytesMut,
    encoder: P,
    /// The write side is shut down (`send_eof` or `close` ran).
    eof_sent: bool,
}

/// A blocking client that exchanges packets with a server over TCP, TLS or a Unix
/// socket, for any thread: the analog of easynetwork's `TCPNetworkClient`. It needs no
/// tokio runtime, and works on a runtime's thread too (it blocks that thread, as any
/// blocking call does: prefer [`TcpClient`](crate::TcpClient) there).
///
/// `P` is the protocol, as for the async client: the same [`StreamProtocol`]s, the same
/// frames, the same [`ClientError`]s.
///
/// It is thread-safe the way easynetwork's is: methods take `&self` and the client is
/// `Send + Sync`, so one thread may send while another receives (share it with an `Arc`
/// or scoped threads). Sends are serialized among themselves, and so are receives:
/// frames of two senders never interleave.
///
/// ```no_run
/// use easynet::JsonLines;
/// use easynet::blocking::TcpClient;
/// use serde_json::{json, Value};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = TcpClient::connect(("localhost", 9000), JsonLines::<Value>::new())?;
/// client.send_packet(&json!({"message": "Hello"}))?;
/// let response: Value = client.recv_packet()?;
/// println!("From server: {response}");
/// client.close();
/// # Ok(()) }
/// ```
///
/// # Timeouts
/// [`recv_packet_timeout`](Self::recv_packet_timeout) gives up with
/// [`ClientError::Timeout`]; the bytes of a partial frame stay buffered and the next call
/// goes on with them. [`send_packet_timeout`](Self::send_packet_timeout) gives up with
/// [`ClientError::Io`] of kind [`io::ErrorKind::TimedOut`]: what was written stays
/// written, and the rest of the frame stays queued and goes out first on the next send,
/// [`flush`](Self::flush) or [`close`](Self::close), so the server never sees half a
/// frame followed by another one. Timeouts are bounds on the wait, set on the socket
/// before each read and write (`SO_RCVTIMEO`, `SO_SNDTIMEO`).
///
/// [`StreamProtocol`]: crate::StreamProtocol
pub struct Client<P> {
    socket: Socket,
    reader: Mutex<ReadSide<P>>,
    writer: SendLock<WriteSide<P>>,
    closed: AtomicBool,
    close_timeout: Duration,
    local_addr: Address,
    remote_addr: Address,
    #[cfg(feature = "tls")]
    tls: Option<super::tls::TlsSession>,
}

impl<P> Client<P>
where
    P: Decoder<Error = ProtocolError> + Clone,
{
    /// Connects to `addr` (every address it resolves to is tried in turn).
    pub fn connect(addr: impl ToSocketAddrs, protocol: P) -> io::Result<Self> {
        Self::from_stream(TcpStream::connect(addr)?, protocol)
    }

    /// Connects, giving up on each address after what is left of `timeout`, and with
    /// [`io::ErrorKind::TimedOut`] once it has run out. Resolving a host name is not
    /// bounded (the system resolver decides; give an IP address to avoid it).
    pub fn connect_timeout(
        addr: impl ToSocketAddrs,
        protocol: P,
        timeout: Duration,
    ) -> io::Result<Self> {
        let deadline = Instant::now() + timeout;
        Self::from_stream(connect_until(addr, deadline)?, protocol)
    }

    /// Wraps an already connected stream (`TCP_NODELAY` is turned on).
    pub fn from_stream(stream: TcpStream, protocol: P) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        let local_addr = stream.local_addr()?.into();
        let remote_addr = stream.peer_addr()?.into();
        Ok(Self::new(
            Socket::Tcp(stream),
            protocol,
            local_addr,
            remote_addr,
            CLOSE_TIMEOUT,
        ))
    }

    /// Connects to the Unix stream socket at `path` (a [`UnixServer`](crate::UnixServer)'s).
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn connect_unix(path: impl AsRef<std::path::Path>, protocol: P) -> io::Result<Self> {
        let stream = std::os::unix::net::UnixStream::connect(path)?;
        let address = |addr: std::os::unix::net::SocketAddr| {
            Address::Unix(addr.as_pathname().map(ToOwned::to_owned))
        };
        let local_addr = address(stream.local_addr()?);
        let remote_addr = address(stream.peer_addr()?);
        Ok(Self::new(
            Socket::Unix(stream),
            protocol,
            local_addr,
            remote_addr,
            CLOSE_TIMEOUT,
        ))
    }

    /// Connects to `host:port` over TLS, with the same [`ClientTls`] settings as
    /// [`TcpClient::connect_tls`](crate::TcpClient::connect_tls): every address `host`
    /// resolves to is tried in turn, then the handshake runs (rustls' synchronous API),
    /// bounded by the settings' handshake timeout. The server's certificate is checked
    /// against `host`, unless the settings name another server.
    ///
    /// # Errors
    /// As the async client's: connecting fails; the handshake fails (the error's
    /// [`get_ref`](io::Error::get_ref) is the [`rustls::Error`]);
    /// [`io::ErrorKind::TimedOut`] when the handshake times out;
    /// [`io::ErrorKind::InvalidInput`] when `host` is not a valid server name.
    ///
    /// [`ClientTls`]: crate::tls::ClientTls
    /// [`rustls::Error`]: crate::tls::rustls::Error
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn connect_tls(
        host: &str,
        port: u16,
        protocol: P,
        tls: &crate::transport::tls::ClientTls,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect((host, port))?;
        stream.set_nodelay(true)?;
        let local_addr = stream.local_addr()?.into();
        let remote_addr = stream.peer_addr()?.into();
        let socket = Socket::Tcp(stream);
        let session = super::tls::TlsSession::handshake(tls, host, &socket)?;
        let mut client = Self::new(
            socket,
            protocol,
            local_addr,
            remote_addr,
            tls.shutdown_timeout(),
        );
        client.tls = Some(session);
        Ok(client)
    }

    fn new(
        socket: Socket,
        protocol: P,
        local_addr: Address,
        remote_addr: Address,
        close_timeout: Duration,
    ) -> Self {
        Client {
            socket,
            reader: Mutex::new(ReadSide {
                buf: BytesMut::new(),
                decoder: protocol.clone(),
                scratch: vec![0; READ_SIZE].into_boxed_slice(),
                eof: false,
            }),
            writer: SendLock::new(WriteSide {
                out: BytesMut::new(),
                written: 0,
                #[cfg(feature = "tls")]
                plain: BytesMut::new(),
                encoder: protocol,
                eof_sent: false,
            }),
            closed: AtomicBool::new(false),
            close_timeout,
            local_addr,
            remote_addr,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Sends one packet and waits until it is written to the socket (over TLS, its
    /// records). If an earlier send timed out with its frame partly written, the rest of
    /// that frame is written first.
    ///
    /// # Errors
    /// [`ClientError::Closed`] after [`close`](Self::close) (nothing is sent);
    /// [`ClientError::Serialize`] if the packet cannot be serialized (nothing of it is
    /// sent, the client stays usable); [`ClientError::Io`] if writing fails, of kind
    /// [`io::ErrorKind::BrokenPipe`] after [`send_eof`](Self::send_eof).
    pub fn send_packet<T>(&self, packet: &T) -> Result<(), ClientError>
    where
        T: ?Sized,
        P: for<'a> Encoder<&'a T, Error = ProtocolError>,
    {
        self.send(packet, None)
    }

    /// [`send_packet`](Self::send_packet), giving up after `timeout` with
    /// [`ClientError::Io`] of kind [`io::ErrorKind::TimedOut`]. The rest of a frame not
    /// written in time stays queued: it is written first by the next send,
    /// [`flush`](Self::flush) or [`close`](Self::close) (so a packet whose send timed out
    /// may still reach the server, whole).
    pub fn send_packet_timeout<T>(&self, packet: &T, timeout: Duration) -> Result<(), ClientError>
    where
        T: ?Sized,
        P: for<'a> Encoder<&'a T, Error = ProtocolError>,
    {
        self.send(packet, Some(Instant::now() + timeout))
    }

    fn send<T>(&self, packet: &T, deadline: Option<Instant>) -> Result<(), ClientError>
    where
        T: ?Sized,
        P: for<'a> Encoder<&'a T, Error = ProtocolError>,
    {
        let mut writer = self.writer.lock();
        if self.is_closing() {
            return Err(ClientError::Closed);
        }
        if writer.eof_sent {
            return Err(ClientError::Io(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "cannot send after send_eof",
            )));
        }
        // What a timed-out send left goes out before this packet is encoded.
        self.write_out(&mut writer, deadline)?;
        self.encode(&mut writer, packet)?;
        self.write_out(&mut writer, deadline)?;
        Ok(())
    }

    /// Encodes `packet` into the (empty) send buffer; if it cannot be encoded, what the
    /// encoder wrote before failing is taken back out.
    fn encode<T>(&self, writer: &mut WriteSide<P>, packet: &T) -> Result<(), ClientError>
    where
        T: ?Sized,
        P: for<'a> Encoder<&'a T, Error = ProtocolError>,
    {
        let WriteSide { out, encoder, .. } = writer;
        #[cfg(feature = "tls")]
        let out = if self.tls.is_some() {
            &mut writer.plain
        } else {
            out
        };
        let start = out.len();
        if let Err(e) = encoder.encode(packet, out) {
            out.truncate(start);
            return Err(match e {
                ProtocolError::Io(e) => ClientError::Io(e),
                ProtocolError::Parse(e) => ClientError::Serialize(Box::new(e)),
                ProtocolError::Serialize(e) => ClientError::Serialize(e),
            });
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            tls.encrypt(&writer.plain, &mut writer.out)?;
            writer.plain.clear();
            if writer.plain.capacity() > SHRINK_ABOVE {
                writer.plain = BytesMut::new();
            }
        }
        Ok(())
    }

    /// Writes out what the send buffer holds, until `deadline`.
    fn write_out(
        &self,
        writer: &mut WriteSide<P>,
        deadline: Option<Instant>,
    ) -> Result<(), ClientError> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            // Records that reading produced (an alert, a key update answer).
            tls.encrypt(&[], &mut writer.out)?;
        }
        while writer.written < writer.out.len() {
            self.socket.set_write_timeout(left(deadline)?)?;
            match (&self.socket).write(&writer.out[writer.written..]) {
                Ok(0) => return Err(ClientError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => writer.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(send_timed_out()),
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
        writer.out.clear();
        writer.written = 0;
        if writer.out.capacity() > SHRINK_ABOVE {
            writer.out = BytesMut::new();
        }
        Ok(())
    }

    /// Writes out what a timed-out send left queued (the rest of its frame) and waits
    /// until it is written; returns at once when nothing is queued.
    ///
    /// # Errors
    /// [`ClientError::Io`] if writing fails.
    pub fn flush(&self) -> Result<(), ClientError> {
        let mut writer = self.writer.lock();
        self.write_out(&mut writer, None)
    }

    /// [`flush`](Self::flush), giving up after `timeout` as
    /// [`send_packet_timeout`](Self::send_packet_timeout) does (what is not written stays
    /// queued).
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), ClientError> {
        let mut writer = self.writer.lock();
        self.write_out(&mut writer, Some(Instant::now() + timeout))
    }

    /// Waits for the next packet from the server.
    ///
    /// A frame that fails to decode gives [`ClientError::Parse`] and the next call
    /// decodes the following frame. [`ClientError::ConnectionClosed`] once the server has
    /// closed the connection (and every whole frame before it was received);
    /// [`ClientError::Closed`] after [`close`](Self::close), also for a call that was
    /// waiting when another thread closed the client.
    pub fn recv_packet(&self) -> Result<P::Item, ClientError> {
        self.recv(None)
    }

    /// [`recv_packet`](Self::recv_packet), giving up with [`ClientError::Timeout`] after
    /// `timeout`. Bytes of a partial frame stay buffered for the next call.
    pub fn recv_packet_timeout(&self, timeout: Duration) -> Result<P::Item, ClientError> {
        self.recv(Some(Instant::now() + timeout))
    }

    fn recv(&self, deadline: Option<Instant>) -> Result<P::Item, ClientError> {
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let ReadSide {
            buf,
            decoder,
            scratch,
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
            #[cfg(feature = "tls")]
            if let Some(tls) = &self.tls {
                let before = buf.len();
                let open = tls.take_plaintext(buf).map_err(read_error)?;
                *eof = !open;
                if !open || buf.len() > before {
                    continue;
                }
            }
            let timeout = match left(deadline) {
                Ok(timeout) => timeout,
                Err(_) => return Err(ClientError::Timeout),
            };
            self.socket.set_read_timeout(timeout)?;
            let n = match (&self.socket).read(scratch) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) => return Err(ClientError::Timeout),
                Err(e) => return Err(read_error(e)),
            };
            if n == 0 {
                *eof = true;
                continue;
            }
            #[cfg(feature = "tls")]
            if let Some(tls) = &self.tls {
                *eof = !tls.feed(&scratch[..n], buf).map_err(read_error)?;
                continue;
            }
            buf.extend_from_slice(&scratch[..n]);
        }
    }

    /// The packets the server sends, as an iterator that blocks for each. It ends when
    /// the server closes the connection or the client is closed; a frame that fails to
    /// decode is an `Err` item and the iteration goes on (an I/O error is one too).
    ///
    /// ```no_run
    /// # use easynet::{blocking::TcpClient, StringLines};
    /// # fn run(client: &TcpClient<StringLines>) {
    /// for line in client.packets() {
    ///     println!("{}", line.expect("a valid line"));
    /// }
    /// # }
    /// ```
    pub fn packets(&self) -> Packets<'_, P> {
        Packets { client: self }
    }

    /// Shuts down the write side: writes out what a timed-out send left queued, sends
    /// TLS `close_notify`, then the end of the stream. The client can still receive (the
    /// server's answers to what was sent, then its end of the stream); later sends fail
    /// with [`ClientError::Io`] of kind [`io::ErrorKind::BrokenPipe`]. Calling it again
    /// does nothing.
    ///
    /// # Errors
    /// [`ClientError::Closed`] after [`close`](Self::close); [`ClientError::Io`] if
    /// writing fails.
    pub fn send_eof(&self) -> Result<(), ClientError> {
        let mut writer = self.writer.lock();
        if self.is_closing() {
            return Err(ClientError::Closed);
        }
        if writer.eof_sent {
            return Ok(());
        }
        self.write_out(&mut writer, None)?;
        self.shut_down_writing(&mut writer, None)?;
        Ok(())
    }

    /// Sends `close_notify` (over TLS) and the end of the stream; the side then counts as
    /// shut down whatever happened.
    fn shut_down_writing(
        &self,
        writer: &mut WriteSide<P>,
        deadline: Option<Instant>,
    ) -> Result<(), ClientError> {
        writer.eof_sent = true;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            tls.close_notify(&mut writer.out)?;
            self.write_out(writer, deadline)?;
        }
        let _ = deadline;
        match self.socket.shutdown(Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(ClientError::Io(e)),
            _ => Ok(()),
        }
    }

    /// Closes the connection: pending and later calls fail with
    /// [`ClientError::Closed`] (a thread waiting in [`recv_packet`](Self::recv_packet) is
    /// woken), what a timed-out send left queued is written out, TLS `close_notify` is
    /// sent, then the end of the stream. A send already writing its frame is not
    /// interrupted: `close` waits for it.
    ///
    /// Bounded as the async client's close: all of it takes at most the TLS shutdown
    /// timeout (`ClientTls`'s `shutdown_timeout`, 30 s by default), and on plain TCP at
    /// most 30 s too. Past that, a server that does not read is given up on: the socket
    /// is shut down both ways (the server may see a truncated frame, then the end of the
    /// stream; a send still blocked fails). The socket itself is released when the client
    /// is dropped. Closing twice is harmless.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // Wakes a thread blocked reading: it reads the end of the stream, then sees
        // `closed`.
        let _ = self.socket.shutdown(Shutdown::Read);
        let deadline = Instant::now() + self.close_timeout;
        let Some(mut writer) = self.writer.lock_until(deadline) else {
            tracing::debug!(
                server = %self.remote_addr,
                "a send in progress did not finish within {:?}; closing gives up",
                self.close_timeout
            );
            let _ = self.socket.shutdown(Shutdown::Both);
            return;
        };
        if writer.eof_sent {
            return;
        }
        if let Err(e) = self.write_out(&mut writer, Some(deadline)) {
            tracing::debug!(server = %self.remote_addr, "closing: writing failed: {e}");
        }
        // Whatever happened, nothing stays queued.
        writer.out = BytesMut::new();
        writer.written = 0;
        if let Err(e) = self.shut_down_writing(&mut writer, Some(deadline)) {
            tracing::debug!(server = %self.remote_addr, "closing: shutdown failed: {e}");
            let _ = self.socket.shutdown(Shutdown::Both);
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closing(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The client's own address (unspecified for a Unix socket).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr.inet_or_unspecified()
    }

    /// The server's address (unspecified for a Unix socket).
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

    /// What the TLS handshake negotiated; `None` for a plain connection.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(&self) -> Option<&crate::transport::tls::TlsInfo> {
        self.tls.as_ref().map(|tls| &tls.info)
    }
}

/// The iterator of [`Client::packets`].
pub struct Packets<'a, P> {
    client: &'a Client<P>,
}

impl<P> Iterator for Packets<'_, P>
where
    P: Decoder<Error = ProtocolError> + Clone,
{
    type Item = Result<P::Item, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.client.recv_packet() {
            Err(ClientError::ConnectionClosed | ClientError::Closed) => None,
            item => Some(item),
        }
    }
}

impl<P> fmt::Debug for Packets<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packets")
            .field("client", self.client)
            .finish()
    }
}

/// What is left until `deadline`, as a socket timeout (`None`: no deadline); an error once
/// it has passed.
fn left(deadline: Option<Instant>) -> Result<Option<Duration>, ClientError> {
    remaining(deadline).ok_or_else(send_timed_out)
}

fn send_timed_out() -> ClientError {
    ClientError::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        "send timed out: the rest of its frame is written before the next one",
    ))
}

fn read_error(error: io::Error) -> ClientError {
    if is_disconnect(&error) {
        ClientError::ConnectionClosed
    } else {
        ClientError::Io(error)
    }
}

fn protocol_to_client(error: ProtocolError) -> ClientError {
    match error {
        ProtocolError::Parse(e) => ClientError::Parse(e),
        ProtocolError::Serialize(e) => ClientError::Parse(ParseError::invalid("invalid packet", e)),
        ProtocolError::Io(e) => ClientError::Io(e),
    }
}

/// Connects to the first address of `addr` that accepts before `deadline`.
fn connect_until(addr: impl ToSocketAddrs, deadline: Instant) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        else {
            break;
        };
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() != io::ErrorKind::TimedOut => e,
        Some(_) => io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        None if Instant::now() >= deadline => {
            io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
        }
        None => io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        ),
    })
}

impl<P> fmt::Debug for Client<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Client")
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}
