//! The server layer: [`TcpServer`] accepts connections and runs one task per client, in
//! which the handler's lifecycle runs over the connection layer.

mod builder;
mod options;
mod registry;

pub use builder::TcpServerBuilder;
pub use options::ServerOptions;

use std::any::Any;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::connection::{
    Broadcast, ClientId, Driver, Encoded, Peer, RequestReader, StreamClient, broadcast,
};
use crate::error::SendError;
use crate::handler::{self, Context, StreamRequestHandler};
use crate::protocol::StreamProtocol;
use crate::service::{ExitStack, ServerError, ServerHandle, ServerTask};
use crate::transport::{self, AcceptFailure, ReadHalf};
use registry::Registry;

/// How long past every connection's bound the server waits before it aborts the tasks
/// still running (none should be).
const ABORT_MARGIN: Duration = Duration::from_millis(500);

struct Inner<H, P> {
    handler: Arc<H>,
    protocol: P,
    options: ServerOptions,
    listeners: Mutex<Option<Vec<TcpListener>>>,
    handle: ServerHandle,
    /// The `Registry<H::Response>`, type-erased so that `TcpServer<H, P>` needs no bound
    /// on `H` to be named (a struct holding a server needs none either).
    clients: Box<dyn Any + Send + Sync>,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::tls::ServerTls>,
}

impl<H: StreamRequestHandler, P> Inner<H, P> {
    fn clients(&self) -> &Registry<H::Response> {
        self.clients
            .downcast_ref()
            .expect("the registry has the handler's response type")
    }

    fn new(
        handler: H,
        protocol: P,
        options: ServerOptions,
        listeners: Vec<TcpListener>,
        handle: ServerHandle,
        #[cfg(feature = "tls")] tls: Option<crate::transport::tls::ServerTls>,
    ) -> Self {
        Inner {
            handler: Arc::new(handler),
            protocol,
            options,
            listeners: Mutex::new(Some(listeners)),
            handle,
            clients: Box::new(Registry::<H::Response>::new()),
            #[cfg(feature = "tls")]
            tls,
        }
    }
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
/// [`shutdown`](Self::shutdown) (the how-to's "Run Server In Background";
/// [`spawn`](Self::spawn) does both steps). The server knows its clients:
/// [`clients`](Self::clients), [`client`](Self::client) by id,
/// [`broadcast`](Self::broadcast) to all of them.
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
        TcpServerBuilder::new(protocol, handler)
    }

    /// A handle to learn the server's state and shut it down from another task.
    pub fn handle(&self) -> ServerHandle {
        self.inner.handle.clone()
    }

    /// The server's settings.
    pub fn options(&self) -> &ServerOptions {
        &self.inner.options
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

    /// The clients connected now (from the end of their TLS handshake to the end of
    /// their last request; a client whose connection is ending is no longer listed, even
    /// while its `on_disconnection` runs).
    pub fn clients(&self) -> Vec<StreamClient<H::Response>> {
        self.inner.clients().snapshot()
    }

    /// How many clients are connected now; see [`ServerHandle::client_count`].
    pub fn client_count(&self) -> usize {
        self.inner.handle.client_count()
    }

    /// How many connections are open now; see [`ServerHandle::connection_count`].
    pub fn connection_count(&self) -> usize {
        self.inner.handle.connection_count()
    }

    /// The connected client with this id ([`StreamClient::id`]).
    pub fn client(&self, id: ClientId) -> Option<StreamClient<H::Response>> {
        self.inner.clients().get(id)
    }

    /// Sends one packet to every connected client, encoded once; see
    /// [`broadcast`](crate::broadcast) (it never waits for a slow client).
    pub async fn broadcast(
        &self,
        packet: &H::Response,
    ) -> Result<Broadcast<H::Response>, SendError> {
        broadcast(&self.clients(), packet).await
    }

    /// Encodes a packet once with this server's protocol, for
    /// [`StreamClient::send_encoded`]. `None` when no client is connected (the encoder
    /// of a connected client does the work).
    pub fn encode(&self, packet: &H::Response) -> Option<Result<Encoded<H::Response>, SendError>> {
        self.clients()
            .into_iter()
            .find_map(|client| match client.encode(packet) {
                Err(SendError::Closed) => None,
                encoded => Some(encoded),
            })
    }

    /// Runs [`serve_forever`](Self::serve_forever) in a background task and waits until
    /// the server serves (the how-to's "Run Server In Background").
    ///
    /// ```
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
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), Echo).await?;
    /// let running = server.spawn().await?;
    /// // ... talk to server.local_addrs()[0] ...
    /// running.shutdown().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// What `serve_forever` returned, when the server closed without serving
    /// (`service_init` failed, or it was already serving or closed).
    pub async fn spawn(&self) -> Result<ServerTask, ServerError> {
        let server = self.clone();
        ServerTask::spawn(self.handle(), async move { server.serve_forever().await }).await
    }

    /// Runs `service_init`, then accepts connections until [`shutdown`](Self::shutdown).
    ///
    /// Each client is served by its own task. An accept error that means the process ran
    /// out of resources (file descriptors, memory) pauses accepting for 100 ms instead of
    /// ending the server. After a shutdown, returns once every client task has ended and
    /// the service's clean-ups have run.
    pub async fn serve_forever(&self) -> Result<(), ServerError> {
        let handle = &self.inner.handle;
        handle.start()?;
        // Whether serve_inner returns or this future is dropped mid-way, the server ends
        // up closed: waiters of `shutdown`/`wait_serving` are released, and client tasks
        // (owned by serve_inner's JoinSet) are aborted with it.
        let _closed = CloseOnDrop(handle);
        self.serve_inner().await
    }

    async fn serve_inner(&self) -> Result<(), ServerError> {
        let inner = &self.inner;
        let shutdown = inner.handle.shutdown_signal().clone();
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
        if shutdown.is_started() {
            exit_stack.close().await;
            return Ok(());
        }
        inner.handle.set_serving();
        tracing::info!(addrs = ?inner.handle.local_addrs(), "server started");

        let mut tasks = JoinSet::new();
        let mut stopping = std::pin::pin!(shutdown.started());
        let limit = inner
            .options
            .max_connections
            .map(|n| (n, Arc::new(Semaphore::new(n))));
        // Reaching the limit is logged once per episode: an episode ends when a
        // connection is accepted with room to spare.
        let mut at_limit = false;
        loop {
            // At the connection limit, stop accepting (newcomers wait in the kernel's
            // backlog) until a connection ends.
            let permit = match &limit {
                None => None,
                Some((n, slots)) => match Arc::clone(slots).try_acquire_owned() {
                    Ok(permit) => {
                        if std::mem::take(&mut at_limit) {
                            tracing::debug!(limit = n, "below the connection limit again");
                        }
                        Some(permit)
                    }
                    Err(_) => {
                        if !std::mem::replace(&mut at_limit, true) {
                            tracing::warn!(limit = n, "connection limit reached, accepting paused");
                        }
                        let permit = loop {
                            tokio::select! {
                                biased;
                                () = &mut stopping => break None,
                                Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                                    log_task_end(ended);
                                }
                                permit = Arc::clone(slots).acquire_owned() => break permit.ok(),
                            }
                        };
                        let Some(permit) = permit else { break };
                        Some(permit)
                    }
                },
            };
            let accepted = tokio::select! {
                biased;
                () = &mut stopping => break,
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                    log_task_end(ended);
                    continue;
                }
                accepted = accept_any(&listeners) => accepted,
            };
            match accepted {
                Ok((stream, remote)) => {
                    let server = self.clone();
                    let context = template.clone();
                    let counted = inner.handle.count_connection();
                    tasks.spawn(async move {
                        context.scope(server.serve_client(stream, remote)).await;
                        drop((counted, permit));
                    });
                }
                Err(e) => match transport::classify_accept_error(&e) {
                    AcceptFailure::OutOfResources => {
                        tracing::warn!(error = %e, "accept failed, pausing accepting for 100 ms");
                        tokio::select! {
                            () = &mut stopping => break,
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
        // Every connection ends by the shutdown's close deadline on its own (clients
        // waiting for a request at once, busy handlers within the grace period); what
        // is still running past it (nothing should be) is aborted.
        let abort_at = shutdown
            .close_deadline()
            .map_or_else(tokio::time::Instant::now, |deadline| {
                deadline + ABORT_MARGIN
            });
        let drained = tokio::time::timeout_at(abort_at, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = tasks.len(),
                "aborting client tasks still running past the shutdown bound"
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
        let peer = Peer {
            remote,
            local,
            nodelay,
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = &inner.tls {
            return self.serve_tls_client(tls, stream, peer).await;
        }
        self.log_connection(remote, "accepted new connection");
        let (read, write) = stream.into_split();
        let client = StreamClient::new(
            Box::new(write),
            Box::new(inner.protocol.clone()),
            peer,
            inner.options.send_options(),
            inner.handle.shutdown_signal().clone(),
        );
        self.run_connection(client, read).await;
    }

    /// The TLS path: handshake (bounded, and abandoned at shutdown), then the same
    /// connection driver over the TLS stream's halves.
    #[cfg(feature = "tls")]
    async fn serve_tls_client(
        &self,
        tls: &crate::transport::tls::ServerTls,
        stream: TcpStream,
        peer: Peer,
    ) {
        let inner = &*self.inner;
        let remote = peer.remote;
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
        if inner.options.log_client_connection {
            tracing::info!(client = %remote, tls = ?info.protocol_version(), "accepted new connection");
        } else {
            tracing::debug!(client = %remote, tls = ?info.protocol_version(), "accepted new connection");
        }
        let (read, write) = tokio::io::split(stream);
        let client = StreamClient::with_tls(
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

    /// Serves one connection until it ends: monomorphized per transport, so the plain TCP
    /// reader is read directly, with no indirection.
    async fn run_connection<R: ReadHalf>(&self, client: StreamClient<H::Response>, read: R) {
        let inner = &*self.inner;
        let registration = inner
            .clients()
            .register(&client, inner.handle.count_client());
        let reader = RequestReader::new(read, inner.protocol.clone(), inner.options.max_recv_size);
        let driver = Driver::new(&client, reader, inner.options.read_limits());
        handler::serve(&*inner.handler, &client, driver, || drop(registration)).await;
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

/// Logs a client task that ended by panicking (the lifecycle catches the handler's
/// panics: this would be one of easynet's own).
fn log_task_end(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended
        && e.is_panic()
    {
        tracing::error!(error = %e, "a client task panicked");
    }
}

/// Marks the server closed when `serve_forever` ends, even by being dropped.
struct CloseOnDrop<'a>(&'a ServerHandle);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set_closed();
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
