//! Datagram sockets: UDP, and Unix datagram sockets on Unix, behind one
//! [`DatagramSocket`] that sends to and receives from an [`Address`].

use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::Path;

use socket2::Type;
use tokio::net::UdpSocket;
#[cfg(unix)]
use tokio::net::UnixDatagram;

use super::Address;
#[cfg(unix)]
use super::UnixSocketFile;

/// A bound datagram socket.
#[derive(Debug)]
pub(crate) enum DatagramSocket {
    Udp(UdpSocket),
    #[cfg(unix)]
    Unix(UnixDatagram),
}

impl DatagramSocket {
    /// Sends `datagram` to `to`, whole.
    pub(crate) async fn send_to(&self, datagram: &[u8], to: &Address) -> io::Result<()> {
        let sent = match (self, to) {
            (DatagramSocket::Udp(socket), Address::Inet(addr)) => {
                socket.send_to(datagram, addr).await?
            }
            #[cfg(unix)]
            (DatagramSocket::Unix(socket), Address::Unix(Some(path))) => {
                socket.send_to(datagram, path).await?
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot send a datagram to {to} on this socket"),
                ));
            }
        };
        if sent != datagram.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the datagram was not sent whole",
            ));
        }
        Ok(())
    }

    /// Polls for one datagram into `buf` its sender. A datagram longer than `buf` is cut
    /// to it by the system: make `buf` one byte larger than the largest datagram accepted,
    /// to tell.
    pub(crate) fn poll_recv_from(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<Address>> {
        use std::task::Poll;
        match self {
            DatagramSocket::Udp(socket) => match socket.poll_recv_from(cx, buf) {
                Poll::Ready(Ok(from)) => Poll::Ready(Ok(Address::Inet(from))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
            #[cfg(unix)]
            DatagramSocket::Unix(socket) => match socket.poll_recv_from(cx, buf) {
                Poll::Ready(Ok(from)) => Poll::Ready(Ok(Address::from(from))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    /// Sends `datagram`, whole, to the peer a connected socket is connected to.
    pub(crate) async fn send(&self, datagram: &[u8]) -> io::Result<()> {
        let sent = match self {
            DatagramSocket::Udp(socket) => socket.send(datagram).await?,
            #[cfg(unix)]
            DatagramSocket::Unix(socket) => socket.send(datagram).await?,
        };
        if sent != datagram.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the datagram was not sent whole",
            ));
        }
        Ok(())
    }

    /// Receives one datagram from the peer a connected socket is connected to.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            DatagramSocket::Udp(socket) => socket.recv(buf).await,
            #[cfg(unix)]
            DatagramSocket::Unix(socket) => socket.recv(buf).await,
        }
    }

    /// The address of the peer a connected socket is connected to.
    pub(crate) fn peer_address(&self) -> io::Result<Address> {
        match self {
            DatagramSocket::Udp(socket) => Ok(Address::Inet(socket.peer_addr()?)),
            #[cfg(unix)]
            DatagramSocket::Unix(socket) => Ok(Address::from(socket.peer_addr()?)),
        }
    }

    /// The address the socket is bound to.
    pub(crate) fn local_address(&self) -> io::Result<Address> {
        match self {
            DatagramSocket::Udp(socket) => Ok(Address::Inet(socket.local_addr()?)),
            #[cfg(unix)]
            DatagramSocket::Unix(socket) => Ok(Address::from(socket.local_addr()?)),
        }
    }
}

/// Binds a UDP socket at `addr` (IPv6 sockets are IPv6 only, as the TCP listeners).
pub(crate) fn bind_udp(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    let socket = super::bind::bind_socket(addr, Type::DGRAM, false, reuse_port)?;
    UdpSocket::from_std(socket.into())
}

/// Binds a Unix datagram socket at `path`. A socket file already there is stale when
/// nobody receives on it (a datagram socket cannot be connected to): removed when
/// `remove_stale`, else an error; a live socket or any other file is always an error.
#[cfg(unix)]
pub(crate) fn bind_unix_datagram(
    path: &Path,
    mode: Option<u32>,
    remove_stale: bool,
    remove_on_close: bool,
) -> io::Result<(UnixDatagram, UnixSocketFile)> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    let shown = path.display();
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if !metadata.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{shown} exists and is not a socket"),
            ));
        }
        let probe = std::os::unix::net::UnixDatagram::unbound()?;
        match probe.connect(path) {
            Ok(()) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a server is bound to {shown}"),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && remove_stale => {
                tracing::debug!(path = %shown, "removing a stale socket file");
                std::fs::remove_file(path)?;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{shown} is a stale socket file (remove_stale is off)"),
                ));
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("{shown}: {e}"))),
        }
    }
    let socket = UnixDatagram::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {shown}: {e}")))?;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let file = UnixSocketFile::created(path, remove_on_close);
    Ok((socket, file))
}
