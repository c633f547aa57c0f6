//! [`UdpServer`]: a [`DatagramServer`] on UDP sockets.

use std::io;
use std::net::SocketAddr;

use super::{DatagramKind, DatagramServer, DatagramServerBuilder, sealed};
use crate::handler::DatagramRequestHandler;
use crate::protocol::{DatagramProtocol, DatagramSerializer};
use crate::transport::{self, DatagramSocket};

/// A datagram server on UDP: see [`DatagramServer`] and [`DatagramRequestHandler`].
///
/// ```
/// use easynet::{handler, recv, DatagramClient, DatagramProtocol, DatagramRequestHandler,
///               HandlerError, JsonSerializer, UdpClient, UdpServer};
/// use serde_json::{json, Value};
///
/// struct Echo;
///
/// impl DatagramRequestHandler for Echo {
///     type Request = Value;
///     type Response = Value;
///
///     #[handler]
///     async fn handle(&self, client: &DatagramClient<Value>) -> Result<(), HandlerError> {
///         let request = recv!()?;
///         client.send_packet(&request).await?;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
/// let server = UdpServer::bind("127.0.0.1:0", protocol.clone(), Echo).await?;
/// let task = server.spawn().await?;
///
/// let client = UdpClient::connect(server.local_addrs()[0], protocol).await?;
/// client.send_packet(&json!({"hello": "world"})).await?;
/// assert_eq!(client.recv_packet().await?, json!({"hello": "world"}));
///
/// task.shutdown().await?;
/// # Ok(()) }
/// ```
pub type UdpServer<H, S> = DatagramServer<H, S, Udp>;

/// Builds a [`UdpServer`]: [`UdpServer::builder`].
pub type UdpServerBuilder<H, S> = DatagramServerBuilder<H, S, Udp>;

/// UDP sockets, as what a [`DatagramServer`] binds.
#[derive(Debug)]
pub struct Udp;

/// What a [`UdpServerBuilder`] binds.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct UdpConfig {
    hosts: Vec<String>,
    addrs: Vec<SocketAddr>,
    port: u16,
}

impl sealed::Sealed for Udp {}

impl DatagramKind for Udp {
    type Config = UdpConfig;
}

impl<H, S> UdpServer<H, S>
where
    H: DatagramRequestHandler,
    S: DatagramSerializer<H::Response, H::Request>,
{
    /// Binds a UDP server to every address `addr` resolves to (port 0 picks a free
    /// port; [`local_addrs`](Self::local_addrs) tells which).
    ///
    /// # Errors
    /// The address does not resolve, or a socket cannot be bound.
    pub async fn bind(
        addr: impl tokio::net::ToSocketAddrs,
        protocol: DatagramProtocol<S>,
        handler: H,
    ) -> io::Result<Self> {
        let mut builder = Self::builder(protocol, handler);
        for addr in tokio::net::lookup_host(addr).await? {
            builder = builder.addr(addr);
        }
        builder.bind().await
    }

    /// A builder, to bind several hosts and set the bounds.
    pub fn builder(protocol: DatagramProtocol<S>, handler: H) -> UdpServerBuilder<H, S> {
        DatagramServerBuilder::new(protocol, handler)
    }
}

impl<H, S> UdpServerBuilder<H, S>
where
    H: DatagramRequestHandler,
    S: DatagramSerializer<H::Response, H::Request>,
{
    /// Binds to `host` (a name or an IP address, resolved at bind) on the builder's
    /// [`port`](Self::port); may be given several times. With no host and no address, the
    /// server binds every interface (IPv4, and IPv6 where the system has it).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.config.hosts.push(host.into());
        self
    }

    /// Binds to `addr`; may be given several times.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.config.addrs.push(addr);
        self
    }

    /// The port for the [`host`](Self::host)s (default 0: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = port;
        self
    }

    /// Sets `SO_REUSEPORT`, so that several servers can share a port (default off).
    pub fn reuse_port(mut self, enabled: bool) -> Self {
        self.options.reuse_port = enabled;
        self
    }

    /// Binds the sockets.
    ///
    /// # Errors
    /// A host does not resolve, or a socket cannot be bound.
    pub async fn bind(self) -> io::Result<UdpServer<H, S>> {
        let config = &self.config;
        let addrs = transport::resolve_hosts(&config.hosts, config.port, &config.addrs).await?;
        let reuse_port = self.options.reuse_port;
        let sockets = if addrs.is_empty() {
            transport::bind_every_interface(config.port, |addr| {
                transport::bind_udp(addr, reuse_port)
            })?
        } else {
            addrs
                .iter()
                .map(|addr| transport::bind_udp(*addr, reuse_port))
                .collect::<io::Result<Vec<_>>>()?
        };
        let sockets = sockets.into_iter().map(DatagramSocket::Udp).collect();
        self.build(
            sockets,
            #[cfg(unix)]
            None,
        )
    }
}
