//! The transport layer: listening sockets, accepted connections, and what accept errors
//! mean; with the `tls` feature, TLS (`tls/`). Everything above it sees a byte stream
//! (`AsyncRead + AsyncWrite`).

#[cfg(feature = "tls")]
pub mod tls;

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, Socket, Type};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Binds one listening socket per address, as asyncio's `create_server` does:
/// `SO_REUSEADDR` on, IPv6 sockets IPv6-only (so that `0.0.0.0` and `::` can both be
/// bound on the same port), the given backlog.
pub(crate) fn bind_listeners(
    addrs: &[SocketAddr],
    backlog: u32,
    reuse_port: bool,
) -> io::Result<Vec<TcpListener>> {
    addrs
        .iter()
        .map(|addr| bind_one(*addr, backlog, reuse_port))
        .collect()
}

fn bind_one(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
    if reuse_port {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "reuse_port is not supported on this platform",
        ));
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    TcpListener::from_std(socket.into())
}

/// The read side of a connection, as the server's reader uses it.
pub(crate) trait ReadHalf: AsyncRead + Unpin {
    /// Ready once there is something to read (data, the end of the stream or an error),
    /// so that the reader allocates its buffer only then. A transport that cannot tell
    /// is ready at once, and the reader allocates up front.
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }
}

impl ReadHalf for tokio::net::tcp::OwnedReadHalf {
    /// Peeks one byte: tokio reports a new socket readable until a read says otherwise,
    /// so readiness alone would not wait.
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        self.poll_peek(cx, &mut buf).map_ok(drop)
    }
}

/// TLS (through `tokio::io::split`): rustls may hold decrypted bytes the socket's
/// readiness does not show, so it reads at once.
impl<T: AsyncRead> ReadHalf for tokio::io::ReadHalf<T> {}

/// In-memory pipes, for the driver's unit tests.
#[cfg(test)]
impl ReadHalf for tokio::io::DuplexStream {}

/// Sets up an accepted connection: `TCP_NODELAY`, since packets are small and a
/// response must not wait for Nagle's algorithm.
pub(crate) fn prepare_accepted(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)
}

/// What to do after `accept` failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// The process or the system ran out of something (file descriptors, buffers,
    /// memory): wait a little before accepting again, as easynetwork does (100 ms).
    OutOfResources,
    /// The connection went away before we took it, or a transient error: go on at once.
    Transient,
}

pub(crate) fn classify_accept_error(error: &io::Error) -> AcceptFailure {
    #[cfg(unix)]
    if let Some(code) = error.raw_os_error()
        && [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM].contains(&code)
    {
        return AcceptFailure::OutOfResources;
    }
    if error.kind() == io::ErrorKind::OutOfMemory {
        return AcceptFailure::OutOfResources;
    }
    AcceptFailure::Transient
}

/// How long to pause accepting after running out of resources (easynetwork: 100 ms).
pub(crate) const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_pauses_accepting() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(
            classify_accept_error(&emfile),
            AcceptFailure::OutOfResources
        );
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(classify_accept_error(&aborted), AcceptFailure::Transient);
    }

    #[tokio::test]
    async fn accepted_sockets_have_nodelay() {
        let listeners = bind_listeners(&["127.0.0.1:0".parse().unwrap()], 10, false).unwrap();
        let addr = listeners[0].local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listeners[0].accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap());
        prepare_accepted(&accepted).unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
