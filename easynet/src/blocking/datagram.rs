//! [`DatagramEndpoint`]: a blocking datagram client over std sockets, the analog of
//! easynetwork's `UDPNetworkClient` (and `UnixDatagramClient`).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::socket::{Datagram, is_timeout, remaining};
use crate::client::{ClientError, encode_error};
use crate::protocol::DatagramProtocol;
use crate::serializers::{PacketDeserializer, PacketSerializer};
use crate::transport::Address;

/// The send side: the datagram buffer (reused) and the encoder.
struct SendSide<S> {
    datagram: BytesMut,
    protocol: DatagramProtocol<S>,
}

/// The receive side: the buffer (one byte more than the largest datagram accepted, to
/// tell a longer one) and the decoder.
struct RecvSide<S> {
    buf: Vec<u8>,
    protocol: DatagramProtocol<S>,
}

/// A blocking datagram socket connected to one remote, sending and receiving packets of
/// the protocol `S` (a [`DatagramSerializer`](crate::DatagramSerializer)), one packet per
/// datagram: the analog of easynetwork's `UDPNetworkClient`, with the same protocols,
/// datagrams and [`ClientError`]s as the async [`UdpClient`](crate::UdpClient).
///
/// It needs no tokio runtime and works on a runtime's thread too (it blocks that thread,
/// as any blocking call does). Methods take `&self` and the client is `Send + Sync`: one
/// thread may send while another receives (sends are serialized among themselves, and so
/// are receives).
///
/// ```no_run
/// use easynet::{DatagramProtocol, JsonSerializer};
/// use easynet::blocking::UdpClient;
/// use serde_json::{json, Value};
/// use std::time::Duration;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
/// let client = UdpClient::connect(("localhost", 9000), protocol)?;
/// client.send_packet(&json!({"message": "Hello"}))?;
/// // UDP may lose the answer: bound the wait.
/// let response = client.recv_packet_timeout(Duration::from_secs(3))?;
/// println!("From server: {response}");
/// client.close();
/// # Ok(()) }
/// ```
///
/// A receive that times out ([`ClientError::Timeout`]) leaves the client as it was: a
/// datagram is received whole or not at all.
pub struct DatagramEndpoint<S> {
    socket: Datagram,
    sender: Mutex<SendSide<S>>,
    receiver: Mutex<RecvSide<S>>,
    closed: AtomicBool,
    local: Address,
    remote: Address,
}

impl<S: Clone> DatagramEndpoint<S> {
    /// Connects a UDP socket, bound to a free port of the matching family, to `addr`
    /// (each address it resolves to is tried in turn, as the async client's first one).
    ///
    /// # Errors
    /// The address does not resolve, or no socket can be bound and connected.
    pub fn connect(addr: impl ToSocketAddrs, protocol: DatagramProtocol<S>) -> io::Result<Self> {
        let mut last = None;
        for remote in addr.to_socket_addrs()? {
            let local: SocketAddr = if remote.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            match UdpSocket::bind(local).and_then(|socket| {
                socket.connect(remote)?;
                Ok(socket)
            }) {
                Ok(socket) => return Self::from_socket(socket, protocol),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        }))
    }

    /// Uses an existing UDP socket, which must be connected (`UdpSocket::connect`). Its
    /// read timeout is replaced by each receive's.
    ///
    /// # Errors
    /// The socket is not connected.
    pub fn from_socket(socket: UdpSocket, protocol: DatagramProtocol<S>) -> io::Result<Self> {
        let remote = Address::Inet(socket.peer_addr()?);
        let local = Address::Inet(socket.local_addr()?);
        Ok(Self::new(Datagram::Udp(socket), local, remote, protocol))
    }

    /// Binds a Unix datagram socket at `local` (a server can only answer a socket bound to
    /// a path) and connects it to the server's socket at `server`. The file at `local` is
    /// not removed on close.
    ///
    /// # Errors
    /// The socket cannot be bound or connected.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn connect_unix(
        server: impl AsRef<std::path::Path>,
        local: impl AsRef<std::path::Path>,
        protocol: DatagramProtocol<S>,
    ) -> io::Result<Self> {
        let socket = std::os::unix::net::UnixDatagram::bind(local)?;
        socket.connect(server)?;
        Self::from_unix_socket(socket, protocol)
    }

    /// Uses an existing Unix datagram socket, which must be connected.
    ///
    /// # Errors
    /// The socket is not connected.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn from_unix_socket(
        socket: std::os::unix::net::UnixDatagram,
        protocol: DatagramProtocol<S>,
    ) -> io::Result<Self> {
        let address = |addr: std::os::unix::net::SocketAddr| {
            Address::Unix(addr.as_pathname().map(ToOwned::to_owned))
        };
        let remote = address(socket.peer_addr()?);
        let local = address(socket.local_addr()?);
        Ok(Self::new(Datagram::Unix(socket), local, remote, protocol))
    }

    fn new(
        socket: Datagram,
        local: Address,
        remote: Address,
        protocol: DatagramProtocol<S>,
    ) -> Self {
        DatagramEndpoint {
            socket,
            sender: Mutex::new(SendSide {
                datagram: BytesMut::new(),
                protocol: protocol.clone(),
            }),
            receiver: Mutex::new(RecvSide {
                buf: vec![0; protocol.max_size() + 1],
                protocol,
            }),
            closed: AtomicBool::new(false),
            local,
            remote,
        }
    }
}

impl<S> DatagramEndpoint<S> {
    /// Sends `packet` as one datagram.
    ///
    /// # Errors
    /// [`ClientError::Closed`] after [`close`](Self::close), [`ClientError::Serialize`],
    /// [`ClientError::TooLarge`] (nothing sent: a datagram is never truncated; the client
    /// stays usable), or [`ClientError::Io`].
    pub fn send_packet<T: ?Sized>(&self, packet: &T) -> Result<(), ClientError>
    where
        S: PacketSerializer<T>,
    {
        if self.is_closing() {
            return Err(ClientError::Closed);
        }
        let mut sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        let SendSide { datagram, protocol } = &mut *sender;
        protocol.encode(packet, datagram).map_err(encode_error)?;
        loop {
            match self.socket.send(datagram) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }

    /// Waits for the next datagram and decodes it.
    ///
    /// # Errors
    /// [`ClientError::Closed`] after (or during) [`close`](Self::close),
    /// [`ClientError::Parse`] for a datagram that does not decode or is larger than the
    /// protocol's limit (the next one is decoded normally), [`ClientError::Io`] (on some
    /// systems, a UDP datagram sent earlier to a port nobody listens on is reported here
    /// as "connection refused"), as the async client.
    pub fn recv_packet(&self) -> Result<S::Packet, ClientError>
    where
        S: PacketDeserializer,
    {
        self.recv(None)
    }

    /// [`recv_packet`](Self::recv_packet), for at most `timeout`.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when no datagram came in time (the client stays usable),
    /// or as `recv_packet`.
    pub fn recv_packet_timeout(&self, timeout: Duration) -> Result<S::Packet, ClientError>
    where
        S: PacketDeserializer,
    {
        self.recv(Some(Instant::now() + timeout))
    }

    fn recv(&self, deadline: Option<Instant>) -> Result<S::Packet, ClientError>
    where
        S: PacketDeserializer,
    {
        let mut receiver = self.receiver.lock().unwrap_or_else(PoisonError::into_inner);
        let RecvSide { buf, protocol } = &mut *receiver;
        loop {
            if self.is_closing() {
                return Err(ClientError::Closed);
            }
            let timeout = remaining(deadline).ok_or(ClientError::Timeout)?;
            self.socket.set_read_timeout(timeout)?;
            match self.socket.recv(buf) {
                // `close` shut the socket down to wake this receive: the loop's check
                // reports it. (An empty datagram is one too, otherwise.)
                Ok(0) if self.is_closing() => {}
                Ok(len) => return Ok(protocol.decode(&buf[..len])?),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(ClientError::Timeout),
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }

    /// The packets received, as an iterator that blocks for each. It ends when the
    /// client is closed; a datagram that fails to decode is an `Err` item and the
    /// iteration goes on (an I/O error is one too).
    pub fn packets(&self) -> DatagramPackets<'_, S> {
        DatagramPackets { client: self }
    }

    /// Closes the client: pending and later sends and receives fail with
    /// [`ClientError::Closed`] (a thread waiting in [`recv_packet`](Self::recv_packet) is
    /// woken). The socket is released when the client is dropped. Closing twice is
    /// harmless.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // Wakes a thread blocked receiving: it receives nothing, then sees `closed`.
            if let Err(e) = self.socket.shutdown_read() {
                tracing::debug!(server = %self.remote, "closing: shutdown failed: {e}");
            }
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closing(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The client's own address (unspecified for a Unix socket).
    pub fn local_addr(&self) -> SocketAddr {
        self.local.inet_or_unspecified()
    }

    /// The server's address (unspecified for a Unix socket).
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote.inet_or_unspecified()
    }

    /// The address of this client's socket, whatever the transport.
    pub fn local_address(&self) -> &Address {
        &self.local
    }

    /// The address of the remote it is connected to, whatever the transport.
    pub fn remote_address(&self) -> &Address {
        &self.remote
    }
}

/// The iterator of [`DatagramEndpoint::packets`].
pub struct DatagramPackets<'a, S> {
    client: &'a DatagramEndpoint<S>,
}

impl<S: PacketDeserializer> Iterator for DatagramPackets<'_, S> {
    type Item = Result<S::Packet, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.client.recv_packet() {
            Err(ClientError::Closed) => None,
            item => Some(item),
        }
    }
}

impl<S> fmt::Debug for DatagramPackets<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramPackets")
            .field("client", self.client)
            .finish()
    }
}

impl<S> fmt::Debug for DatagramEndpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::DatagramEndpoint")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("closed", &self.is_closing())
            .finish_non_exhaustive()
    }
}
