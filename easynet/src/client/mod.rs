//! The client side: [`Client`] connects to a server and exchanges packets with it, over
//! TCP ([`TcpClient`]), TLS, a Unix socket ([`UnixClient`]) or any connected stream.

mod datagram;
mod error;
mod stream;

#[cfg(unix)]
pub use datagram::UnixDatagramClient;
pub(crate) use datagram::encode_error;
pub use datagram::{DatagramEndpoint, UdpClient};
pub use error::ClientError;
pub use stream::Client;

/// A [`Client`] over TCP (or TLS): `TcpClient::connect(addr, protocol)`, the analog of
/// easynetwork's `AsyncTCPNetworkClient`.
pub type TcpClient<P> = Client<P>;

/// A [`Client`] over a Unix stream socket: `UnixClient::connect_unix(path, protocol)`,
/// the analog of easynetwork's `AsyncUnixStreamClient`.
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type UnixClient<P> = Client<P>;
