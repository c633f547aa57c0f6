//! The server layer: a [`Server`] accepts connections on its [`Transport`] (TCP in
//! `tcp.rs`, Unix sockets in `unix.rs`) and runs one task per client, in which the
//! handler's lifecycle runs over the connection layer.

mod builder;
mod datagram;
mod kind;
mod options;
mod proxy;
mod registry;
mod tcp;
#[cfg(unix)]
mod unix;

pub use builder::ServerBuilder;
pub use datagram::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_ADDRESSES, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_QUEUE_SIZE,
    DatagramKind, DatagramServer, DatagramServerBuilder, Udp, UdpServer, UdpServerBuilder,
};
#[cfg(unix)]
pub use datagram::{UnixDatagram, UnixDatagramServer, UnixDatagramServerBuilder};
pub use kind::Transport;
pub use options::ServerOptions;
pub use tcp::{Tcp, TcpServer, TcpServerBuilder};
#[cfg(unix)]
pub use unix::{Unix, UnixServer, UnixServerBuilder};

use std::any::Any;
use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::connection::{
    Broadcast, ClientId, Driver, Encoded, EndReason, Peer, RequestReader, Shutdown, StreamClient,
    broadcast,
};
use crate::error::SendError;
use crate::handler::{self, Context, StreamRequestHandler};
use crate::metrics::{CloseReason, Metrics};
use crate::protocol::StreamProtocol;
use crate::service::{ExitStack, ServerError, ServerHandle, ServerTask};
use crate::transport::{self, AcceptFailure, Address, ReadHalf};
use registry::Registry;

/// How long past every connection's bound the server waits before it aborts the tasks
/// still running (none should be).
const ABORT_MARGIN: Duration = Duration::from_millis(500);

struct Inner<H, P, T> {
    handler: Arc<H>,
    protocol: P,
    options: ServerOptions,
    transport: T,
    handle: ServerHandle,
    /// The `Registry<H::Response>`, type-erased so that `Server<H, P, T>` needs no bound
    /// on `H` to be named (a struct holding a server needs none either).
    clients: Box<dyn Any + Send + Sync>,
    /// The client variables `service_init` set, copied into every client's context.
    template: Mutex<Context>,
}

/// A server that speaks a packet protocol over a stream transport `T`: the analog of
/// easynetwork's `AsyncTCPNetworkServer` ([`TcpServer`]) and `AsyncUnixStreamServer`
/// ([`UnixServer`]).
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
/// [`broadcast`](Self::broadcast) to all of them. [`serve_stream`](Self::serve_stream)
/// serves a connection accepted elsewhere, of any stream type.
pub struct Server<H, P, T> {
    inner: Arc<Inner<H, P, T>>,
}

impl<H, P, T> Clone for Server<H, P, T> {
    fn clone(&self) -> Self {
        Server {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H, P, T> Server<H, P, T>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
    T: Transport,
{
    pub(crate) fn new(builder: ServerBuilder<H, P, T>, transport: T, handle: ServerHandle) -> Self {
        let mut options = builder.options;
        // Resolved once per server; its connections share the handles.
        options.metrics = Metrics::new(&options.name);
        Server {
            inner: Arc::new(Inner {
                handler: Arc::new(builder.handler),
                protocol: builder.protocol,
                options,
                transport,
                handle,
                clients: Box::new(Registry::<H::Response>::new()),
                template: Mutex::new(Context::default()),
            }),
        }
    }

    fn clients_registry(&self) -> &Registry<H::Response> {
        self.inner
            .clients
            .downcast_ref()
            .expect("the registry has the handler's response type")
    }

    /// The transport's own state (listeners, TLS).
    pub(crate) fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// A handle to learn the server's state and shut it down from another task.
    pub fn handle(&self) -> ServerHandle {
        self.inner.handle.clone()
    }

    /// The server's settings.
    pub fn options(&self) -> &ServerOptions {
        &self.inner.options
    }

    /// The IP addresses the server listens on (one per bound host); empty for a
    /// transport without IP addresses (a Unix socket).
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

    /// Drains the server (no new connection, idle ones closed one by one over `grace`),
    /// then shuts it down; see [`ServerHandle::drain`].
    pub async fn drain(&self, grace: Duration) {
        self.inner.handle.drain(grace).await
    }

    /// The request handler.
    pub fn handler(&self) -> &H {
        &self.inner.handler
    }

    /// The clients connected now (from the end of their TLS handshake to the end of
    /// their last request; a client whose connection is ending is no longer listed, even
    /// while its `on_disconnection` runs).
    pub fn clients(&self) -> Vec<StreamClient<H::Response>> {
        self.clients_registry().snapshot()
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
        self.clients_registry().get(id)
    }

    /// Sends one packet to every connected client, encoded once; see
    /// [`broadcast`](crate::broadcast) (it never waits for a slow client).
    pub fn broadcast(&self, packet: &H::Response) -> Result<Broadcast<H::Response>, SendError> {
        broadcast(&self.clients(), packet)
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
        let listening = inner
            .transport
            .take_listening()
            .ok_or(ServerError::Closed)?;

        let mut exit_stack = ExitStack::new();
        let (init, template) = Context::default()
            .scope(Arc::clone(&inner.handler).service_init(&mut exit_stack, &inner.handle))
            .await;
        if let Err(e) = init {
            exit_stack.close().await;
            return Err(ServerError::ServiceInit(e));
        }
        if shutdown.is_draining() {
            exit_stack.close().await;
            return Ok(());
        }
        *inner
            .template
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = template.clone();
        inner.handle.set_serving();
        tracing::info!(addrs = ?inner.handle.local_addrs(), "server started");

        let mut tasks = JoinSet::new();
        // A drain stops accepting as the shutdown does.
        let mut stopping = std::pin::pin!(shutdown.draining());
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
                accepted = poll_fn(|cx| T::poll_accept(&listening, cx)) => accepted,
            };
            match accepted {
                Ok(accepted) => {
                    let server = self.clone();
                    let context = template.clone();
                    let counted = inner.handle.count_connection();
                    let metrics = inner.options.metrics.clone();
                    metrics.accepted();
                    tasks.spawn(async move {
                        context.scope(T::serve(server, accepted)).await;
                        metrics.connection_ended();
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

        drop(listening);
        if !shutdown.is_started() {
            // A drain: the listeners are closed (so health checks fail), the connections
            // close one by one as they become idle (driver.rs); the shutdown follows the
            // grace period, or comes now if every connection ended before.
            tracing::info!("server draining");
            let mut shutting_down = std::pin::pin!(shutdown.started());
            loop {
                tokio::select! {
                    biased;
                    () = &mut shutting_down => break,
                    ended = tasks.join_next() => match ended {
                        Some(ended) => log_task_end(ended),
                        None => {
                            shutdown.begin();
                            break;
                        }
                    },
                }
            }
        }
        tracing::info!("server shutting down");
        // Every connection ends by the shutdown's close deadline on its own (clients
        // waiting for a request at once, busy handlers within the grace period).
        join_within_bound(&mut tasks, &shutdown, "client").await;
        exit_stack.close().await;
        tracing::info!("server stopped");
        Ok(())
    }

    /// Serves a connection accepted elsewhere, of any stream type (a Unix socket, an
    /// in-memory `tokio::io::duplex` pipe, a stream from another library), until it ends,
    /// exactly as an accepted one: the same handler and protocol, the client listed and
    /// counted, the same bounds and the same shutdown. `remote` is what
    /// [`StreamClient::remote_address`] says. Spawn it to serve several at once.
    ///
    /// The stream is read at once (no readiness wait first) and written in full per
    /// send. Decode errors are easynet's: a frame that fails to decode is a parse error
    /// out of `recv!()`, and the stream goes on with the next frame (tokio-util's
    /// `Framed` ends its stream at the first decode error instead).
    ///
    /// It runs in the caller's task: `serve_forever` does not wait for it at shutdown,
    /// but the shutdown ends it within the same bound as the accepted connections.
    pub async fn serve_stream<S>(&self, stream: S, remote: Address)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let counted = self.inner.handle.count_connection();
        let template = self
            .inner
            .template
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (read, write) = tokio::io::split(stream);
        let peer = Peer {
            remote,
            local: Address::Unknown,
            nodelay: false,
            credentials: None,
            proxy: None,
        };
        let client = self.new_client(Box::new(write), peer);
        let metrics = &self.inner.options.metrics;
        metrics.accepted();
        template.scope(self.run_connection(client, read)).await;
        metrics.connection_ended();
        drop(counted);
    }

    /// A client handle over `write`, with this server's protocol and send settings.
    pub(crate) fn new_client(
        &self,
        write: crate::connection::BoxedWriter,
        peer: Peer,
    ) -> StreamClient<H::Response> {
        StreamClient::new(
            write,
            Box::new(self.inner.protocol.clone()),
            peer,
            self.inner.options.send_options(),
            self.inner.handle.shutdown_signal().clone(),
        )
    }

    /// Serves one connection until it ends: monomorphized per transport, so the plain TCP
    /// reader is read directly, with no indirection.
    pub(crate) async fn run_connection<R: ReadHalf>(
        &self,
        client: StreamClient<H::Response>,
        read: R,
    ) {
        let inner = &*self.inner;
        if inner.options.log_client_connection {
            tracing::info!(client = %client.remote_address(), tls = ?client.tls_version(), proxy = client.proxy_address().map(tracing::field::display), "accepted new connection");
        } else {
            tracing::debug!(client = %client.remote_address(), tls = ?client.tls_version(), proxy = client.proxy_address().map(tracing::field::display), "accepted new connection");
        }
        let registration = self
            .clients_registry()
            .register(&client, inner.handle.count_client());
        let reader = RequestReader::new(read, inner.protocol.clone(), inner.options.max_recv_size)
            .with_metrics(inner.options.metrics.clone());
        let driver = Driver::new(&client, reader, inner.options.read_limits());
        handler::serve(&*inner.handler, &client, driver, || drop(registration)).await;
        inner
            .options
            .metrics
            .closed(closed_reason(client.end_reason()));
        self.log_connection(client.remote_address(), "connection closed");
    }

    pub(crate) fn log_connection(&self, remote: &Address, what: &str) {
        if self.inner.options.log_client_connection {
            tracing::info!(client = %remote, "{what}");
        } else {
            tracing::debug!(client = %remote, "{what}");
        }
    }
}

/// Logs a client task that ended by panicking (the lifecycle catches the handler's
/// panics: this would be one of easynet's own).
/// Waits for `tasks` (each of which ends by the shutdown's close deadline on its own), and
/// aborts what is still running [`ABORT_MARGIN`] past that deadline (nothing should be).
async fn join_within_bound(tasks: &mut JoinSet<()>, shutdown: &Shutdown, what: &str) {
    let abort_at = shutdown
        .close_deadline()
        .map_or_else(tokio::time::Instant::now, |deadline| {
            deadline + ABORT_MARGIN
        });
    let joined = tokio::time::timeout_at(abort_at, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if joined.is_err() {
        tracing::warn!(
            remaining = tasks.len(),
            "aborting {what} tasks still running past the shutdown bound"
        );
        tasks.shutdown().await;
    }
}

fn log_task_end(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended
        && e.is_panic()
    {
        tracing::error!(error = %e, "a client task panicked");
    }
}

/// The `reason` label of a connection that ended this way.
fn closed_reason(reason: EndReason) -> CloseReason {
    match reason {
        EndReason::PeerGone => CloseReason::PeerClosed,
        EndReason::Open | EndReason::Handler => CloseReason::HandlerEnded,
        EndReason::Closed => CloseReason::Closed,
        EndReason::TransportError => CloseReason::Error,
        EndReason::WriteTimeout => CloseReason::WriteTimeout,
        EndReason::Shutdown => CloseReason::Shutdown,
        EndReason::SlowPeer => CloseReason::SlowPeer,
        EndReason::Drained => CloseReason::Drained,
    }
}

/// Marks the server closed when `serve_forever` ends, even by being dropped.
struct CloseOnDrop<'a>(&'a ServerHandle);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set_closed();
    }
}

impl<H, P, T> fmt::Debug for Server<H, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("handle", &self.inner.handle)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}
