//! The transport layer: listening sockets (TCP in `tcp.rs`, Unix sockets in `unix.rs`,
//! datagram sockets in `datagram.rs`, binding them in `bind.rs`), accepted
//! connections, what accept errors mean (`accept.rs`), the addresses of either end
//! (`address.rs`), the PROXY protocol's header (`proxy/`); with the `tls` feature, TLS
//! (`tls/`). Everything above it sees a byte stream ([`ReadHalf`] for the read side,
//! `AsyncWrite` for the write side) or datagrams.

mod accept;
mod address;
mod bind;
mod datagram;
pub(crate) mod proxy;
mod read_half;
mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(unix)]
mod unix;

pub(crate) use accept::{ACCEPT_PAUSE, AcceptFailure, classify_accept_error};
pub use address::{Address, PeerCredentials};
pub(crate) use bind::{bind_every_interface, resolve_hosts};
#[cfg(unix)]
pub(crate) use datagram::bind_unix_datagram;
pub(crate) use datagram::{DatagramSocket, bind_udp};
pub use proxy::{ProxyInfo, TrustedSources, TrustedSourcesError};
pub(crate) use read_half::ReadHalf;
pub(crate) use tcp::{adopt_listener, bind_listeners, prepare_accepted};
#[cfg(unix)]
pub(crate) use unix::{UnixBind, UnixSocketFile, adopt_unix, bind_unix};
