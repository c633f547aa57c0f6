//! Where a server binds: its hosts resolved at a port, or every interface.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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
