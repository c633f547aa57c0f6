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
//! - [`UdpClient`] (and [`UnixDatagramClient`]): the same for datagrams, the analog of
//!   easynetwork's `UDPNetworkClient`; [`StandaloneUdpServer`] (and
//!   [`StandaloneUnixDatagramServer`]): a datagram server on a runtime of its own, the
//!   analog of `StandaloneUDPNetworkServer`. [`StandaloneServer`] and [`ServerThread`] run
//!   any [`AsyncServer`]: a stream server or a datagram server.
//!
//! ```
//! use easynet::blocking::{ServerThread, StandaloneTcpServer, TcpClient};
//! use easynet::{handler, recv, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer};
//! use serde_json::{json, Value};
//!
//! struct Echo;
//!
//! impl StreamRequestHandler for Echo {
//!     type Request = Value;
//!     type Response = Value;
//!
//!     #[handler]
//!     async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
//!         let request = recv!()?;
//!         client.send_packet(&request).await?;
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The async builder's bind() runs on the server's own runtime (2 worker threads).
//!     let bind = TcpServer::builder(JsonLines::new(), Echo).host("127.0.0.1").bind();
//!     let running = ServerThread::start(StandaloneTcpServer::new(2, bind)?)?;
//!
//!     let addr = running.server().local_addrs()[0];
//!     let client = TcpClient::connect(addr, JsonLines::<Value>::new())?;
//!     client.send_packet(&json!({"message": "Hello"}))?;
//!     assert_eq!(client.recv_packet()?, json!({"message": "Hello"}));
//!     client.close();
//!
//!     running.stop()?;
//!     Ok(())
//! }
//! ```
//!
//! The same over UDP:
//!
//! ```
//! use std::time::Duration;
//!
//! use easynet::blocking::{ServerThread, StandaloneUdpServer, UdpClient};
//! use easynet::{handler, recv, DatagramClient, DatagramProtocol, DatagramRequestHandler};
//! use easynet::{HandlerError, JsonSerializer, UdpServer};
//! use serde_json::{json, Value};
//!
//! struct Echo;
//!
//! impl DatagramRequestHandler for Echo {
//!     type Request = Value;
//!     type Response = Value;
//!
//!     #[handler]
//!     async fn handle(&self, client: &DatagramClient<Value>) -> Result<(), HandlerError> {
//!         let request = recv!()?;
//!         client.send_packet(&request).await?;
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let protocol = || DatagramProtocol::new(JsonSerializer::<Value>::new());
//!     let bind = UdpServer::builder(protocol(), Echo).host("127.0.0.1").bind();
//!     let running = ServerThread::start(StandaloneUdpServer::new(1, bind)?)?;
//!
//!     let client = UdpClient::connect(running.server().local_addrs()[0], protocol())?;
//!     client.send_packet(&json!({"message": "Hello"}))?;
//!     let answer = client.recv_packet_timeout(Duration::from_secs(10))?;
//!     assert_eq!(answer, json!({"message": "Hello"}));
//!     client.close();
//!
//!     running.stop()?;
//!     Ok(())
//! }
//! ```

mod client;
mod datagram;
mod send_lock;
mod server;
mod socket;
mod thread;
#[cfg(feature = "tls")]
mod tls;

pub use client::{Client, Packets};
pub use datagram::{DatagramEndpoint, DatagramPackets};
pub use server::{AsyncServer, StandaloneServer, StandaloneTcpServer, StandaloneUdpServer};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use server::{StandaloneUnixDatagramServer, StandaloneUnixServer};
pub use thread::ServerThread;

/// A blocking [`Client`] over TCP (or TLS): `TcpClient::connect(addr, protocol)`, the
/// analog of easynetwork's `TCPNetworkClient`.
pub type TcpClient<P> = Client<P>;

/// A blocking [`Client`] over a Unix stream socket: `UnixClient::connect_unix(path,
/// protocol)`, the analog of easynetwork's `UnixStreamClient`.
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type UnixClient<P> = Client<P>;

/// A blocking [`DatagramEndpoint`] over UDP: `UdpClient::connect(addr, protocol)`, the
/// analog of easynetwork's `UDPNetworkClient`.
pub type UdpClient<S> = DatagramEndpoint<S>;

/// A blocking [`DatagramEndpoint`] over a Unix datagram socket:
/// `UnixDatagramClient::connect_unix(server, local, protocol)`, the analog of
/// easynetwork's `UnixDatagramClient`.
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type UnixDatagramClient<S> = DatagramEndpoint<S>;
