//! [`DatagramEndpoint`]: a datagram client, connected to one remote ([`UdpClient`],
//! `UnixDatagramClient`).

use std::fmt;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use tokio_util::sync::CancellationToken;

use super::ClientError;
use crate::error::SendError;
use crate::protocol::DatagramProtocol;
use crate::transport::{Address, DatagramSocket};

/// A UDP client: a socket connected to one server, exchanging one packet per datagram.
///
/// See [`DatagramEndpoint`] for its methods, and [`UdpServer`](crate::UdpServer) for an
/// example. UDP may drop, duplicate and reorder datagrams: a `recv_packet` may wait
/// forever for an answer that was lost, use
/// [`recv_packet_timeout`](DatagramEndpoint::recv_packet_timeout).
pub type UdpClient<S> = DatagramEndpoint<S>;

/// A Unix datagram client: see [`DatagramEndpoint::connect_unix`].
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type UnixDatagramClient<S> = DatagramEndpoint<S>;

/// A datagram socket connected to one remote, sending and receiving packets of the
/// protocol `S` (a [`DatagramSerializer`](crate::DatagramSerializer)): [`UdpClient`], `UnixDatagramClient`.
///
/// Every method takes `&self`: share it (in an `Arc`) between a task that sends and one
/// that receives.
pub struct DatagramEndpoint<S> {
    socket: DatagramSocket,
    encoder: Mutex<DatagramProtocol<S>>,
    /// The receive buffer and decoder, one receiver at a time.
    decoder: tokio::sync::Mutex<(Vec<u8>, DatagramProtocol<S>)>,
    closed: CancellationToken,
    local: Address,
    remote: Address,
}

impl<S: Clone> DatagramEndpoint<S> {
    /// Connects a UDP socket, bound to a free port of the matching family, to `addr`
    /// (the first address it resolves to).
    ///
    /// # Errors
    /// The address does not resolve, or the socket cannot be bound or connected.
    pub async fn connect(
        addr: impl tokio::net::ToSocketAddrs,
        protocol: DatagramProtocol<S>,
    ) -> io::Result<Self> {
        let remote = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        })?;
        let local: std::net::SocketAddr = if remote.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = tokio::net::UdpSocket::bind(local).await?;
        socket.connect(remote).await?;
        Self::from_socket(socket, protocol)
    }

    /// Uses an existing UDP socket, which must be connected (`UdpSocket::connect`).
    ///
    /// # Errors
    /// The socket is not connected.
    pub fn from_socket(
        socket: tokio::net::UdpSocket,
        protocol: DatagramProtocol<S>,
    ) -> io::Result<Self> {
        Self::from_datagram_socket(DatagramSocket::Udp(socket), protocol)
    }

    /// Binds a Unix datagram socket at `local` (a server can only answer a socket bound to
    /// a path) and connects it to the server's socket at `server`. The file at `local` is
    /// not removed on close.
    ///
    /// # Errors
    /// The socket cannot be bound or connected.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub async fn connect_unix(
        server: impl AsRef<std::path::Path>,
        local: impl AsRef<std::path::Path>,
        protocol: DatagramProtocol<S>,
    ) -> io::Result<Self> {
        let socket = tokio::net::UnixDatagram::bind(local)?;
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
        socket: tokio::net::UnixDatagram,
        protocol: DatagramProtocol<S>,
    ) -> io::Result<Self> {
        Self::from_datagram_socket(DatagramSocket::Unix(socket), protocol)
    }

    fn from_datagram_socket(
        socket: DatagramSocket,
        protocol: DatagramProtocol<S>,
    ) -> io::Result<Self> {
        let remote = socket.peer_address()?;
        let local = socket.local_address()?;
        let buf = vec![0u8; protocol.max_size() + 1];
        Ok(DatagramEndpoint {
            socket,
            encoder: Mutex::new(protocol.clone()),
            decoder: tokio::sync::Mutex::new((buf, protocol)),
            closed: CancellationToken::new(),
            local,
            remote,
        })
    }
}

impl<S> DatagramEndpoint<S> {
    /// Sends `packet` as one datagram.
    ///
    /// # Errors
    /// [`ClientError::Closed`] after [`close`](Self::close), [`ClientError::Serialize`],
    /// [`ClientError::TooLarge`] (nothing sent: a datagram is never truncated), or
    /// [`ClientError::Io`].
    pub async fn send_packet<T: ?Sized>(&self, packet: &T) -> Result<(), ClientError>
    where
        S: crate::serializers::PacketSerializer<T>,
    {
        if self.closed.is_cancelled() {
            return Err(ClientError::Closed);
        }
        let mut datagram = BytesMut::new();
        self.encoder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .encode(packet, &mut datagram)
            .map_err(encode_error)?;
        tokio::select! {
            () = self.closed.cancelled() => Err(ClientError::Closed),
            sent = self.socket.send(&datagram) => sent.map_err(ClientError::Io),
        }
    }

    /// Waits for the next datagram and decodes it.
    ///
    /// # Errors
    /// [`ClientError::Closed`] after (or during) [`close`](Self::close),
    /// [`ClientError::Parse`] for a datagram that does not decode (the next one is
    /// decoded normally), [`ClientError::Io`] (on some systems, a UDP datagram sent
    /// earlier to a port nobody listens on is reported here as "connection refused").
    pub async fn recv_packet(&self) -> Result<S::Packet, ClientError>
    where
        S: crate::serializers::PacketDeserializer,
    {
        if self.closed.is_cancelled() {
            return Err(ClientError::Closed);
        }
        let mut guard = tokio::select! {
            () = self.closed.cancelled() => return Err(ClientError::Closed),
            guard = self.decoder.lock() => guard,
        };
        let (buf, protocol) = &mut *guard;
        let len = tokio::select! {
            () = self.closed.cancelled() => return Err(ClientError::Closed),
            len = self.socket.recv(buf) => len?,
        };
        Ok(protocol.decode(&buf[..len])?)
    }

    /// [`recv_packet`](Self::recv_packet), for at most `timeout`.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when no datagram came in time, or as `recv_packet`.
    pub async fn recv_packet_timeout(&self, timeout: Duration) -> Result<S::Packet, ClientError>
    where
        S: crate::serializers::PacketDeserializer,
    {
        tokio::time::timeout(timeout, self.recv_packet())
            .await
            .unwrap_or(Err(ClientError::Timeout))
    }

    /// Closes the client: pending and later sends and receives fail with
    /// [`ClientError::Closed`]. The socket is closed when the client is dropped.
    pub async fn close(&self) {
        self.closed.cancel();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closing(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// The address of this client's socket.
    pub fn local_address(&self) -> &Address {
        &self.local
    }

    /// The address of the remote it is connected to.
    pub fn remote_address(&self) -> &Address {
        &self.remote
    }
}

/// What a datagram client reports for a packet its protocol could not encode (nothing
/// was sent); the blocking client's too.
pub(crate) fn encode_error(error: SendError) -> ClientError {
    match error {
        SendError::TooLarge { size, max } => ClientError::TooLarge { size, max },
        SendError::Serialize(e) => ClientError::Serialize(e),
        SendError::Io(e) => ClientError::Io(e),
        other => ClientError::Serialize(Box::new(other)),
    }
}

impl<S> fmt::Debug for DatagramEndpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramEndpoint")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("closed", &self.closed.is_cancelled())
            .finish_non_exhaustive()
    }
}
