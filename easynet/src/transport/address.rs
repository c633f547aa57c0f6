//! [`Address`]: where one end of a connection is, whatever the transport.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The address of one end of a stream connection.
///
/// TCP connections have [`Inet`](Address::Inet) addresses, Unix-socket connections
/// [`Unix`](Address::Unix) ones; a stream handed to a server by hand has whatever its
/// caller says, or [`Unknown`](Address::Unknown). Shown as `127.0.0.1:9000`, `[::1]:9000`,
/// `unix:/run/app.sock`, `unix:(unnamed)` or `(unknown)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// An IP address and port.
    Inet(SocketAddr),
    /// A Unix socket's path; `None` for an unnamed socket (a client that did not bind
    /// its end, the usual case).
    Unix(Option<PathBuf>),
    /// Not known (a stream of another kind).
    Unknown,
}

impl Address {
    /// The IP address and port, for an [`Inet`](Address::Inet) address.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            Address::Inet(addr) => Some(*addr),
            _ => None,
        }
    }

    /// The path, for a named [`Unix`](Address::Unix) address.
    pub fn as_unix_path(&self) -> Option<&Path> {
        match self {
            Address::Unix(path) => path.as_deref(),
            _ => None,
        }
    }

    /// The IP address and port, or the unspecified `0.0.0.0:0` for an address of
    /// another kind: what `remote_addr()` and `local_addr()` give.
    pub(crate) fn inet_or_unspecified(&self) -> SocketAddr {
        self.as_inet()
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Address::Inet(addr)
    }
}

#[cfg(unix)]
impl From<tokio::net::unix::SocketAddr> for Address {
    fn from(addr: tokio::net::unix::SocketAddr) -> Self {
        Address::Unix(addr.as_pathname().map(Path::to_path_buf))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet(addr) => addr.fmt(f),
            Address::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            Address::Unix(None) => f.write_str("unix:(unnamed)"),
            Address::Unknown => f.write_str("(unknown)"),
        }
    }
}

/// The credentials of the process at the other end of a Unix-socket connection, as the
/// kernel reports them when the connection is accepted (`SO_PEERCRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) pid: Option<i32>,
}

impl PeerCredentials {
    /// The peer's user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The peer's group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The peer's process id, where the platform gives it (Linux, Android, macOS and
    /// iOS do).
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }
}

#[cfg(unix)]
impl From<tokio::net::unix::UCred> for PeerCredentials {
    fn from(cred: tokio::net::unix::UCred) -> Self {
        PeerCredentials {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        }
    }
}
