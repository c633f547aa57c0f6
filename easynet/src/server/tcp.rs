//! [`TcpServer`]: a [`Server`] on TCP (and TLS) listening sockets.

use std::io;
use std::net::SocketAddr;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::kind::sealed;
use super::proxy::Proxied;
use super::{Server, ServerBuilder};
use crate::connection::{Peer, Shutdown};
use crate::handler::StreamRequestHandler;
use crate::protocol::StreamProtocol;
use crate::service::ServerHandle;
use crate::transport::proxy::Rewind;
use crate::transport::{self, Address};

/// A [`Server`] on TCP: the analog of easynetwork's `AsyncTCPNetworkServer`.
pub type TcpServer<H, P> = Server<H, P, Tcp>;

/// Builds a [`TcpServer`]: hosts, port, TLS, and the settings of [`ServerBuilder`].
pub type TcpServerBuilder<H, P> = ServerBuilder<H, P, Tcp>;

/// The TCP transport of a [`TcpServer`]: its listening sockets, and TLS when it serves
/// TLS.
pub struct Tcp {
    listeners: Mutex<Option<Vec<TcpListener>>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::tls::ServerTls>,
}

impl std::fmt::Debug for Tcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tcp").finish_non_exhaustive()
    }
}

/// Where a [`TcpServer`] listens, as the builder is told.
#[derive(Default)]
pub struct TcpConfig {
    hosts: Vec<String>,
    addrs: Vec<SocketAddr>,
    port: u16,
    /// Listening sockets bound elsewhere.
    inherited: Vec<socket2::Socket>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl sealed::Transport for Tcp {
    type Listening = Vec<TcpListener>;
    type Accepted = (TcpStream, SocketAddr);
    type Config = TcpConfig;

    fn take_listening(&self) -> Option<Vec<TcpListener>> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn poll_accept(
        listening: &Vec<TcpListener>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        for listener in listening {
            if let Poll::Ready(result) = listener.poll_accept(cx) {
                return Poll::Ready(result);
            }
        }
        Poll::Pending
    }

    async fn serve<H, P>(server: TcpServer<H, P>, (stream, remote): (TcpStream, SocketAddr))
    where
        H: StreamRequestHandler,
        P: StreamProtocol<H::Response, H::Request>,
    {
        let nodelay = transport::prepare_accepted(&stream).is_ok();
        let local = match stream.local_addr() {
            Ok(addr) => addr,
            Err(e) => {
                tracing::debug!(client = %remote, error = %e, "connection lost before serving it");
                return;
            }
        };
        let mut peer = Peer {
            remote: Address::Inet(remote),
            local: Address::Inet(local),
            nodelay,
            credentials: None,
            proxy: None,
        };
        let mut stream = stream;
        match server.read_proxy_header(&mut stream, &mut peer).await {
            Proxied::Close => {}
            Proxied::Plain => {
                #[cfg(feature = "tls")]
                if let Some(tls) = &server.transport().tls {
                    return server.serve_tls_client(tls, stream, peer).await;
                }
                let (read, write) = stream.into_split();
                let client = server.new_client(Box::new(write), peer);
                server.run_connection(client, read).await;
            }
            Proxied::Read(rest) => {
                // The header came before TLS: the handshake reads what followed it first.
                #[cfg(feature = "tls")]
                if let Some(tls) = &server.transport().tls {
                    let stream = Rewind::new(rest, stream);
                    return server.serve_tls_client(tls, stream, peer).await;
                }
                let (read, write) = Rewind::new(rest, stream).map(TcpStream::into_split);
                let client = server.new_client(Box::new(write), peer);
                server.run_connection(client, read).await;
            }
        }
    }
}

impl<H, P> TcpServer<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    /// Binds a server on every address `addr` resolves to, with default options.
    ///
    /// `addr` is anything tokio can resolve: `("localhost", 9000)`, `"127.0.0.1:0"`, a
    /// `SocketAddr`, a slice of them.
    pub async fn bind(
        addr: impl tokio::net::ToSocketAddrs,
        protocol: P,
        handler: H,
    ) -> io::Result<Self> {
        let mut builder = Self::builder(protocol, handler);
        for addr in tokio::net::lookup_host(addr).await? {
            builder = builder.addr(addr);
        }
        builder.bind().await
    }

    /// Starts building a server; call [`bind`](TcpServerBuilder::bind) to create it.
    pub fn builder(protocol: P, handler: H) -> TcpServerBuilder<H, P> {
        ServerBuilder::new(protocol, handler, TcpConfig::default())
    }

    /// The TLS path: handshake (bounded, and abandoned at shutdown), then the same
    /// connection driver over the TLS stream's halves.
    #[cfg(feature = "tls")]
    async fn serve_tls_client<S>(
        &self,
        tls: &crate::transport::tls::ServerTls,
        stream: S,
        peer: Peer,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let inner = &*self.inner;
        let remote = peer.remote.clone();
        let handshake = tokio::select! {
            biased;
            () = inner.handle.shutdown_signal().started() => {
                tracing::debug!(client = %remote, "server shutting down during the TLS handshake");
                return;
            }
            handshake = tls.accept(stream, inner.options.tls_handshake_timeout) => handshake,
        };
        let (stream, info) = match handshake {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(client = %remote, error = %e, "TLS handshake failed, closing the connection");
                return;
            }
        };
        let (read, write) = tokio::io::split(stream);
        let client = crate::connection::StreamClient::with_tls(
            Box::new(write),
            Box::new(inner.protocol.clone()),
            peer,
            inner.options.send_options(),
            inner.handle.shutdown_signal().clone(),
            info,
            inner.options.tls_shutdown_timeout,
        );
        self.run_connection(client, read).await;
    }
}

impl<H, P> TcpServerBuilder<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    /// Adds a host to listen on: a name (`"localhost"`, every address it resolves to is
    /// bound) or an IP address. With no host, the server listens on every interface
    /// (`0.0.0.0` and `::`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.config.hosts.push(host.into());
        self
    }

    /// Adds an exact socket address to listen on (its port is used as is).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.config.addrs.push(addr);
        self
    }

    /// The port for every [`host`](Self::host). `0` (the default) picks a free port; when
    /// several addresses are bound, each gets its own, as with easynetwork.
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = port;
        self
    }

    /// Listens on a socket already bound (and listening), instead of binding one: a
    /// listener a parent process made, or one of several given. With no
    /// [`host`](Self::host) nor [`addr`](Self::addr), the server listens on the given
    /// listeners only; otherwise on both. [`backlog`](ServerBuilder::backlog) and
    /// [`reuse_port`](Self::reuse_port) do not apply to it (it is listening already).
    pub fn std_listener(mut self, listener: std::net::TcpListener) -> Self {
        self.config.inherited.push(socket2::Socket::from(listener));
        self
    }

    /// Listens on an inherited file descriptor: systemd's socket activation, or a
    /// socket a parent process passed. [`bind`](Self::bind) fails if it is not a TCP
    /// socket that listens. As [`std_listener`](Self::std_listener) otherwise.
    ///
    /// With systemd, a `.socket` unit (`ListenStream=9000`, and `ReusePort=yes` for
    /// several instances) passes its sockets from file descriptor 3
    /// (`SD_LISTEN_FDS_START`) on, `LISTEN_FDS` of them, when `LISTEN_PID` is the
    /// service's pid. Taking ownership of a raw descriptor is `unsafe` (only the caller
    /// knows nobody else owns it):
    ///
    /// ```no_run
    /// # use easynet::{handler, recv, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer};
    /// # struct Echo;
    /// # impl StreamRequestHandler for Echo {
    /// #     type Request = serde_json::Value;
    /// #     type Response = serde_json::Value;
    /// #     #[handler]
    /// #     async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
    /// #         let request = recv!()?;
    /// #         client.send_packet(&request).await?;
    /// #         Ok(())
    /// #     }
    /// # }
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::os::fd::{FromRawFd, OwnedFd};
    ///
    /// let ours = std::env::var("LISTEN_PID").ok() == Some(std::process::id().to_string());
    /// assert!(ours && std::env::var("LISTEN_FDS").as_deref() == Ok("1"));
    /// // SAFETY: systemd passed descriptor 3 to this process, and nothing else owns it.
    /// let fd = unsafe { OwnedFd::from_raw_fd(3) };
    /// let server = TcpServer::builder(JsonLines::new(), Echo)
    ///     .listener_fd(fd)
    ///     .bind()
    ///     .await?;
    /// server.serve_forever().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn listener_fd(mut self, fd: std::os::fd::OwnedFd) -> Self {
        self.config.inherited.push(socket2::Socket::from(fd));
        self
    }

    /// Set `SO_REUSEPORT` on the listening sockets. Default: off.
    pub fn reuse_port(mut self, enabled: bool) -> Self {
        self.options.reuse_port = enabled;
        self
    }

    /// Serves TLS with this rustls config (the how-to's `ssl=ssl_context`): every
    /// accepted connection does a TLS handshake, in its own task and bounded by
    /// [`tls_handshake_timeout`](Self::tls_handshake_timeout), before any hook runs. A
    /// client whose handshake fails or times out is closed and logged at `DEBUG`; other
    /// clients are not disturbed.
    ///
    /// [`tls::server_config_from_pem`](crate::tls::server_config_from_pem) makes a config
    /// from PEM files; build your own with
    /// [`tls::crypto_provider`](crate::tls::crypto_provider).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.config.tls = Some(config);
        self
    }

    /// How long a client's TLS handshake may take. Default: 60 s (easynetwork's
    /// `ssl_handshake_timeout`). Unused without TLS.
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.options.tls_handshake_timeout = timeout;
        self
    }

    /// How long closing a TLS connection may take to send `close_notify`. Default: 30 s
    /// (easynetwork's `ssl_shutdown_timeout`). Unused without TLS.
    pub fn tls_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.options.tls_shutdown_timeout = timeout;
        self
    }

    /// Resolves the hosts and binds every listening socket.
    pub async fn bind(self) -> io::Result<TcpServer<H, P>> {
        let config = &self.config;
        let addrs = transport::resolve_hosts(&config.hosts, config.port, &config.addrs).await?;
        let (backlog, reuse_port) = (self.options.backlog, self.options.reuse_port);
        let mut listeners = if addrs.is_empty() && config.inherited.is_empty() {
            transport::bind_every_interface(config.port, |addr| {
                transport::bind_listeners(&[addr], backlog, reuse_port)
            })?
            .into_iter()
            .flatten()
            .collect()
        } else {
            transport::bind_listeners(&addrs, backlog, reuse_port)?
        };
        let mut builder = self;
        for socket in std::mem::take(&mut builder.config.inherited) {
            listeners.push(transport::adopt_listener(socket)?);
        }
        let this = builder;
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let handle = ServerHandle::new(addrs, Shutdown::new(this.options.shutdown_timeout));
        #[cfg(feature = "tls")]
        let tls = this
            .config
            .tls
            .clone()
            .map(crate::transport::tls::ServerTls::new);
        let transport = Tcp {
            listeners: Mutex::new(Some(listeners)),
            #[cfg(feature = "tls")]
            tls,
        };
        Ok(Server::new(this, transport, handle))
    }
}
