//! Binding a server's sockets: its hosts resolved at a port, or every interface, and the
//! options every bound socket shares.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Socket, Type};

/// A non-blocking socket of type `kind` bound at `addr`: IPv6 sockets IPv6-only (so that
/// `0.0.0.0` and `::` can both be bound on the same port), `SO_REUSEADDR` as asked, and
/// `SO_REUSEPORT` when asked (an error where the platform has none).
pub(crate) fn bind_socket(
    addr: SocketAddr,
    kind: Type,
    reuse_address: bool,
    reuse_port: bool,
) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    #[cfg(unix)]
    if reuse_address {
        socket.set_reuse_address(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_address;
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
    Ok(socket)
}

/// `addrs`, then every address each of `hosts` resolves to at `port`, without repeats.
pub(crate) async fn resolve_hosts(
    hosts: &[String],
    port: u16,
    addrs: &[SocketAddr],
) -> io::Result<Vec<SocketAddr>> {
    let mut all = addrs.to_vec();
    for host in hosts {
        let resolved = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {host:?}: {e}")))?;
        for addr in resolved {
            if !all.contains(&addr) {
                all.push(addr);
            }
        }
    }
    Ok(all)
}

/// Binds `bind` on every interface at `port`: IPv4 and, where the system has it, IPv6
/// (a failure there is only logged).
pub(crate) fn bind_every_interface<T>(
    port: u16,
    mut bind: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<Vec<T>> {
    let mut bound = vec![bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port,
    ))?];
    match bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)) {
        Ok(socket) => bound.push(socket),
        Err(e) => tracing::debug!(error = %e, "no IPv6 socket on every interface"),
    }
    Ok(bound)
}
