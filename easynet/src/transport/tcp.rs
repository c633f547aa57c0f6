//! TCP: listening sockets bound as asyncio's `create_server` binds them, and accepted
//! connections set up for small packets.

use std::io;
use std::net::SocketAddr;

use socket2::{Socket, Type};
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
    let socket = super::bind::bind_socket(addr, Type::STREAM, true, reuse_port)?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    TcpListener::from_std(socket.into())
}

/// Takes a TCP listening socket bound elsewhere (a parent process, systemd's socket
/// activation) for a server: it must be a stream socket with an IP address and, where
/// the system tells (Linux, Android, FreeBSD, Fuchsia), already listening. Made
/// non-blocking; its backlog and socket options stay as they were set.
pub(crate) fn adopt_listener(socket: Socket) -> io::Result<TcpListener> {
    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the inherited socket {what}"),
        )
    };
    if socket.r#type()? != Type::STREAM {
        return Err(invalid("is not a stream socket"));
    }
    if socket.local_addr()?.as_socket().is_none() {
        return Err(invalid("is not a TCP socket (no IP address)"));
    }
    #[cfg(any(
        target_os = "android",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "linux"
    ))]
    if !socket.is_listener()? {
        return Err(invalid("is not listening (call listen() on it first)"));
    }
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// Sets up an accepted connection: `TCP_NODELAY`, since packets are small and a
/// response must not wait for Nagle's algorithm.
pub(crate) fn prepare_accepted(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)
}

#[cfg(test)]
mod tests {
    use super::*;

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
