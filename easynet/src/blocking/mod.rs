//! The synchronous API, for a plain `fn main` or any thread, as easynetwork's
//! "Synchronous API with classic def functions, usable in any context".
//!
//! - [`TcpClient`] (and [`UnixClient`]): a blocking client over std sockets, the analog of
//!   easynetwork's `TCPNetworkClient`. No tokio runtime needed, none started; thread-safe
//!   (one thread may send while another receives); timeouts that leave the connection
//!   usable; TLS with the async client's `ClientTls` settings.
//! - [`StandaloneTcpServer`] (and [`StandaloneUnixServer`]): the async server with a tokio
//!   runtime of its own, driven by blocking calls (`serve_forever`, `wait_serving`,
//!   `shutdown` from any thread), the analog of easynetwork's
//!   `StandaloneTCPNetworkServer`; [`ServerThread`] runs one in the background, the
//!   analog of its `NetworkServerThread`.

mod client;
mod send_lock;
mod server;
mod socket;
mod thread;
#[cfg(feature = "tls")]
mod tls;

pub use client::{Client, Packets};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use server::StandaloneUnixServer;
pub use server::{StandaloneServer, StandaloneTcpServer};
pub use thread::ServerThread;

/// A blocking [`Client`] over TCP (or TLS): `TcpClient::connect(addr, protocol)`, the
/// analog of easynetwork's `TCPNetworkClient`.
pub type TcpClient<P> = Client<P>;

/// A blocking [`Client`] over a Unix stream socket: `UnixClient::connect_unix(path,
/// protocol)`, the analog of easynetwork's `UnixStreamClient`.
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type UnixClient<P> = Client<P>;
