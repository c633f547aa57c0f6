//! The server layer: [`TcpServer`] accepts connections and runs one task per client,
//! driving the request handler's generators.

mod client;
mod connection;
mod service;

pub(crate) use client::ClientFlags;
pub use client::StreamClient;
pub use service::ExitStack;

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::HandlerError;
use crate::handler::{Context, StreamRequestHandler};
use crate::protocol::StreamProtocol;
use crate::transport::{self, AcceptFailure};
use connection::{Connection, RequestReader};

/// Why [`TcpServer::serve_forever`] returned an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// `serve_forever` is already running for this server.
    #[error("server is already serving")]
    AlreadyServing,
    /// The server was shut down; a server serves once.
    #[error("server closed")]
    Closed,
    /// `service_init` failed; the clean-ups it registered have run.
    #[error("service_init failed: {0}")]
    ServiceInit(#[source] HandlerError),
}

/// The options of a [`TcpServer`], with easynetwork's defaults.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The `listen()` backlog. Default: 100.
    pub backlog: u32,
    /// The most bytes read from a client at once. Default: 16 KiB.
    pub max_recv_size: usize,
    /// Log connections and disconnections at `INFO` level (otherwise at `DEBUG`).
    /// Default: `true`.
    pub log_client_connection: bool,
    /// Set `SO_REUSEPORT` on the listening sockets. Default: `false`.
    pub reuse_port: bool,
    /// At shutdown, how long a handler busy with a request may take to reach its next
    /// `recv!()` before it is dropped. Default: 5 seconds.
    pub shutdown_timeout: Duration,
    /// With TLS, how long a client's handshake may take; past it the connection is closed
    /// without running any hook. Default: 60 seconds (easynetwork's
    /// `ssl_handshake_timeout`). Unused without TLS.
    pub tls_handshake_timeout: Duration,
    /// With TLS, how long closing a connection may take to send `close_notify`; past it
    /// the connection is dropped. Default: 30 seconds (easynetwork's
    /// `ssl_shutdown_timeout`). Unused without TLS.
    pub tls_shutdown_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            backlog: 100,
            max_recv_size: 16 * 1024,
            log_client_connection: true,
            reuse_port: false,
            shutdown_timeout: Duration::from_secs(5),
            tls_handshake_timeout: Duration::from_secs(60),
            tls_shutdown_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Starting,
    Serving,
    Closed,
}

struct HandleInner {
    addrs: Vec<SocketAddr>,
    shutdown: CancellationToken,
    state: watch::Sender<State>,
}

/// A handle on a running (or not yet running) server: its addresses, whether it serves,
/// and a way to shut it down from any task. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<HandleInner>,
}

impl ServerHandle {
    /// The addresses the server listens on (one per bound host).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.inner.addrs
    }

    /// Whether `serve_forever` is running and accepting.
    pub fn is_serving(&self) -> bool {
        *self.inner.state.borrow() == State::Serving
    }

    /// Waits until the server serves (`service_init` done, accepting): the how-to's
    /// `is_up_event`. Returns `false` if the server closed without ever serving.
    pub async fn wait_serving(&self) -> bool {
        let mut state = self.inner.state.subscribe();
        let state = state
            .wait_for(|s| matches!(s, State::Serving | State::Closed))
            .await
            .map(|s| *s);
        matches!(state, Ok(State::Serving))
    }

    /// Shuts the server down and waits until `serve_forever` has returned: accepting
    /// stops, clients waiting for a request are disconnected, handlers busy with one get
    /// up to [`ServerOptions::shutdown_timeout`], then the service's clean-ups run.
    /// Callable from any task, any number of times.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let mut state = self.inner.state.subscribe();
        let _ = state
            .wait_for(|s| matches!(s, State::Idle | State::Closed))
            .await;
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addrs", &self.inner.addrs)
            .field("state", &*self.inner.state.borrow())
            .finish()
    }
}

struct Inner<H, P> {
    handler: Arc<H>,
    protocol: P,
    options: ServerOptions,
    listeners: Mutex<Option<Vec<TcpListener>>>,
    handle: ServerHandle,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::tls::ServerTls>,
}

/// A TCP server that speaks a packet protocol: the analog of easynetwork's
/// `AsyncTCPNetworkServer`.
///
/// ```no_run
/// use easynet::{handler, recv, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer};
///
/// struct Echo;
///
/// impl StreamRequestHandler for Echo {
///     type Request = serde_json::Value;
///     type Response = serde_json::Value;
///
///     #[handler]
///     async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
///         let request = recv!()?;
///         client.send_packet(&request).await?;
///         Ok(())
///     }
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TcpServer::bind(("localhost", 9000), JsonLines::new(), Echo).await?;
/// server.serve_forever().await?;
/// # Ok(()) }
/// ```
///
/// Cloning gives another handle on the same server, so one task can run
/// [`serve_forever`](Self::serve_forever) while another talks to it and then calls
/// [`shutdown`](Self::shutdown) (the how-to's "Run Server In Background").
pub struct TcpServer<H, P> {
    inner: Arc<Inner<H, P>>,
}

impl<H, P> Clone for TcpServer<H, P> {
    fn clone(&self) -> Self {
        TcpServer {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Builds a [`TcpServer`]: hosts, port and options.
pub struct TcpServerBuilder<H, P> {
    handler: H,
    protocol: P,
    hosts: Vec<String>,
    addrs: Vec<SocketAddr>,
    port: u16,
    options: ServerOptions,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
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
        self.hosts.push(host.into());
        self
    }

    /// Adds an exact socket address to listen on (its port is used as is).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addrs.push(addr);
        self
    }

    /// The port for every [`host`](Self::host). `0` (the default) picks a free port; when
    /// several addresses are bound, each gets its own, as with easynetwork.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Replaces every option at once.
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// The `listen()` backlog (default 100).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.options.backlog = backlog;
        self
    }

    /// The most bytes read from a client at once (default 16 KiB).
    pub fn max_recv_size(mut self, size: usize) -> Self {
        self.options.max_recv_size = size;
        self
    }

    /// Log connections at `INFO` (default) or only at `DEBUG`.
    pub fn log_client_connection(mut self, enabled: bool) -> Self {
        self.options.log_client_connection = enabled;
        self
    }

    /// Set `SO_REUSEPORT` on the listening sockets.
    pub fn reuse_port(mut self, enabled: bool) -> Self {
        self.options.reuse_port = enabled;
        self
    }

    /// At shutdown, how long busy handlers get before they are dropped (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.options.shutdown_timeout = timeout;
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
        self.tls = Some(config);
        self
    }

    /// How long a client's TLS handshake may take (default 60 s).
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.options.tls_handshake_timeout = timeout;
        self
    }

    /// How long closing a TLS connection may take to send `close_notify` (default 30 s).
    pub fn tls_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.options.tls_shutdown_timeout = timeout;
        self
    }

    /// Resolves the hosts and binds every listening socket.
    pub async fn bind(self) -> io::Result<TcpServer<H, P>> {
        let mut addrs = self.addrs;
        for host in &self.hosts {
            let resolved = tokio::net::lookup_host((host.as_str(), self.port))
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {host:?}: {e}")))?;
            for addr in resolved {
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
        }
        let mut listeners = Vec::new();
        if addrs.is_empty() {
            // Every interface: IPv4 and, where the system has it, IPv6.
            let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port);
            listeners.extend(transport::bind_listeners(
                &[any4],
                self.options.backlog,
                self.options.reuse_port,
            )?);
            let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port);
            match transport::bind_listeners(&[any6], self.options.backlog, self.options.reuse_port)
            {
                Ok(l) => listeners.extend(l),
                Err(e) => tracing::debug!(error = %e, "no IPv6 listener"),
            }
        } else {
            listeners =
                transport::bind_listeners(&addrs, self.options.backlog, self.options.reuse_port)?;
        }
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let handle = ServerHandle {
            inner: Arc::new(HandleInner {
                addrs,
                shutdown: CancellationToken::new(),
                state: watch::Sender::new(State::Idle),
            }),
        };
        Ok(TcpServer {
            inner: Arc::new(Inner {
                handler: Arc::new(self.handler),
                protocol: self.protocol,
                options: self.options,
                listeners: Mutex::new(Some(listeners)),
                handle,
                #[cfg(feature = "tls")]
                tls: self.tls.map(crate::transport::tls::ServerTls::new),
            }),
        })
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
        TcpServerBuilder {
            handler,
            protocol,
            hosts: Vec::new(),
            addrs: Vec::new(),
            port: 0,
            options: ServerOptions::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A handle to learn the server's state and shut it down from another task.
    pub fn handle(&self) -> ServerHandle {
        self.inner.handle.clone()
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.inner.handle.local_addrs()
    }

    /// Whether the server is serving.
    pub fn is_serving(&self) -> bool {
        self.inner.handle.is_serving()
    }

    /// Waits until the server serves; see [`ServerHandle::wait_serving`].
    pub async fn wait_serving(&self) -> bool {
        self.inner.handle.wait_serving().await
    }

    /// Shuts the server down and waits for `serve_forever` to return; see
    /// [`ServerHandle::shutdown`].
    pub async fn shutdown(&self) {
        self.inner.handle.shutdown().await
    }

    /// The request handler.
    pub fn handler(&self) -> &H {
        &self.inner.handler
    }

    /// Runs `service_init`, then accepts connections until [`shutdown`](Self::shutdown).
    ///
    /// Each client is served by its own task. An accept error that means the process ran
    /// out of resources (file descriptors, memory) pauses accepting for 100 ms instead of
    /// ending the server. After a shutdown, returns once every client task has ended and
    /// the service's clean-ups have run.
    pub async fn serve_forever(&self) -> Result<(), ServerError> {
        let handle = &self.inner.handle.inner;
        let mut refused = None;
        handle.state.send_if_modified(|state| match state {
            State::Idle => {
                *state = State::Starting;
                true
            }
            State::Closed => {
                refused = Some(ServerError::Closed);
                false
            }
            State::Starting | State::Serving => {
                refused = Some(ServerError::AlreadyServing);
                false
            }
        });
        if let Some(error) = refused {
            return Err(error);
        }
        // Whether serve_inner returns or this future is dropped mid-way, the server ends
        // up closed: waiters of `shutdown`/`wait_serving` are released, and client tasks
        // (owned by serve_inner's JoinSet) are aborted with it.
        let _closed = CloseOnDrop(handle);
        self.serve_inner().await
    }

    async fn serve_inner(&self) -> Result<(), ServerError> {
        let inner = &self.inner;
        let shutdown = inner.handle.inner.shutdown.clone();
        let listeners = inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(ServerError::Closed)?;

        let mut exit_stack = ExitStack::new();
        let (init, template) = Context::default()
            .scope(Arc::clone(&inner.handler).service_init(&mut exit_stack, &inner.handle))
            .await;
        if let Err(e) = init {
            exit_stack.close().await;
            return Err(ServerError::ServiceInit(e));
        }
        if shutdown.is_cancelled() {
            exit_stack.close().await;
            return Ok(());
        }
        inner.handle.inner.state.send_replace(State::Serving);
        tracing::info!(addrs = ?inner.handle.local_addrs(), "server started");

        let mut tasks = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = ended
                        && e.is_panic()
                    {
                        tracing::error!(error = %e, "a client task panicked");
                    }
                    continue;
                }
                accepted = accept_any(&listeners) => accepted,
            };
            match accepted {
                Ok((stream, remote)) => {
                    let server = self.clone();
                    let context = template.clone();
                    tasks.spawn(async move {
                        context.scope(server.serve_client(stream, remote)).await;
                    });
                }
                Err(e) => match transport::classify_accept_error(&e) {
                    AcceptFailure::OutOfResources => {
                        tracing::warn!(error = %e, "accept failed, pausing accepting for 100 ms");
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            () = tokio::time::sleep(transport::ACCEPT_PAUSE) => {}
                        }
                    }
                    AcceptFailure::Transient => {
                        tracing::debug!(error = %e, "accept failed");
                    }
                },
            }
        }

        tracing::info!("server shutting down");
        drop(listeners);
        // Clients waiting for a request leave at once; busy handlers get the shutdown
        // timeout, on_disconnection a little more; whatever is left then is aborted.
        let bound = inner.options.shutdown_timeout + Duration::from_secs(2);
        let drained =
            tokio::time::timeout(bound, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                remaining = tasks.len(),
                "aborting client tasks still running"
            );
            tasks.shutdown().await;
        }
        exit_stack.close().await;
        tracing::info!("server stopped");
        Ok(())
    }

    async fn serve_client(self, stream: TcpStream, remote: SocketAddr) {
        let inner = &*self.inner;
        let nodelay = transport::prepare_accepted(&stream).is_ok();
        let local = match stream.local_addr() {
            Ok(addr) => addr,
            Err(e) => {
                tracing::debug!(client = %remote, error = %e, "connection lost before serving it");
                return;
            }
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = &inner.tls {
            return self
                .serve_tls_client(tls, stream, remote, local, nodelay)
                .await;
        }
        self.log_connection(remote, "accepted new connection");
        let (read, write) = stream.into_split();
        let client = StreamClient::new(
            Box::new(write),
            Box::new(inner.protocol.clone()),
            remote,
            local,
            nodelay,
        );
        self.run_connection(&client, read).await;
    }

    /// The TLS path: handshake (bounded, and abandoned at shutdown), then the same
    /// connection driver over the TLS stream's halves.
    #[cfg(feature = "tls")]
    async fn serve_tls_client(
        &self,
        tls: &crate::transport::tls::ServerTls,
        stream: TcpStream,
        remote: SocketAddr,
        local: SocketAddr,
        nodelay: bool,
    ) {
        let inner = &*self.inner;
        let handshake = tokio::select! {
            biased;
            () = inner.handle.inner.shutdown.cancelled() => {
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
        if inner.options.log_client_connection {
            tracing::info!(client = %remote, tls = ?info.protocol_version(), "accepted new connection");
        } else {
            tracing::debug!(client = %remote, tls = ?info.protocol_version(), "accepted new connection");
        }
        let (read, write) = tokio::io::split(stream);
        let client = StreamClient::new(
            Box::new(write),
            Box::new(inner.protocol.clone()),
            remote,
            local,
            nodelay,
        )
        .with_tls(info, inner.options.tls_shutdown_timeout);
        self.run_connection(&client, read).await;
    }

    /// Serves one connection until it ends: monomorphized per transport, so the plain TCP
    /// reader is read directly, with no indirection.
    async fn run_connection<R>(&self, client: &StreamClient<H::Response>, read: R)
    where
        R: crate::transport::ReadHalf,
    {
        let inner = &*self.inner;
        let connection = Connection {
            handler: &*inner.handler,
            client,
            reader: RequestReader::new(read, inner.protocol.clone(), inner.options.max_recv_size),
            shutdown: inner.handle.inner.shutdown.clone(),
            shutdown_timeout: inner.options.shutdown_timeout,
        };
        connection.run().await;
        self.log_connection(client.remote_addr(), "connection closed");
    }

    fn log_connection(&self, remote: SocketAddr, what: &str) {
        if self.inner.options.log_client_connection {
            tracing::info!(client = %remote, "{what}");
        } else {
            tracing::debug!(client = %remote, "{what}");
        }
    }
}

/// Marks the server closed when `serve_forever` ends, even by being dropped.
struct CloseOnDrop<'a>(&'a HandleInner);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shutdown.cancel();
        self.0.state.send_replace(State::Closed);
    }
}

/// Accepts from whichever listener has a connection first.
async fn accept_any(listeners: &[TcpListener]) -> io::Result<(TcpStream, SocketAddr)> {
    poll_fn(|cx| {
        for listener in listeners {
            if let Poll::Ready(result) = listener.poll_accept(cx) {
                return Poll::Ready(result);
            }
        }
        Poll::Pending
    })
    .await
}

impl<H, P> fmt::Debug for TcpServer<H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpServer")
            .field("handle", &self.inner.handle)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}
