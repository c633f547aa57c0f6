//! [`StandaloneServer`]: an async server (stream or datagram) with a tokio runtime of its
//! own, driven by blocking calls from any thread; [`AsyncServer`]: what it can run.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::handler::{DatagramRequestHandler, StreamRequestHandler};
use crate::protocol::{DatagramSerializer, StreamProtocol};
use crate::server::{DatagramKind, DatagramServer, Server, Tcp, Transport, Udp};
use crate::service::{ServerError, ServerHandle};

mod sealed {
    pub trait Sealed {}
}

/// An async server a [`StandaloneServer`] can run: a stream [`Server`]
/// ([`TcpServer`](crate::TcpServer), [`UnixServer`](crate::UnixServer)) or a
/// [`DatagramServer`] ([`UdpServer`](crate::UdpServer),
/// [`UnixDatagramServer`](crate::UnixDatagramServer)). Implemented for those only (the
/// trait is sealed).
pub trait AsyncServer: sealed::Sealed + Clone + Send + Sync + 'static {
    /// The server's handle: its state, addresses and shutdown.
    fn server_handle(&self) -> ServerHandle;

    /// The server's `serve_forever`, as a future of its own.
    fn serve(self) -> impl Future<Output = Result<(), ServerError>> + Send + 'static;
}

impl<H, P, T> sealed::Sealed for Server<H, P, T> {}

impl<H, P, T> AsyncServer for Server<H, P, T>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
    T: Transport,
{
    fn server_handle(&self) -> ServerHandle {
        self.handle()
    }

    async fn serve(self) -> Result<(), ServerError> {
        self.serve_forever().await
    }
}

impl<H, S, K> sealed::Sealed for DatagramServer<H, S, K> {}

impl<H, S, K> AsyncServer for DatagramServer<H, S, K>
where
    H: DatagramRequestHandler,
    S: DatagramSerializer<H::Response, H::Request>,
    K: DatagramKind,
{
    fn server_handle(&self) -> ServerHandle {
        self.handle()
    }

    async fn serve(self) -> Result<(), ServerError> {
        self.serve_forever().await
    }
}

/// How long dropping a standalone server waits for its runtime's threads to end, after
/// the server itself has shut down (its tasks have ended by then: this bounds only
/// blocking work a handler started with `spawn_blocking`).
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(10);

/// An async server (the same handlers, protocols and settings: any [`AsyncServer`]) on a
/// tokio runtime of its own, with `worker_threads` threads: the analog of easynetwork's
/// `StandaloneTCPNetworkServer`, `StandaloneUDPNetworkServer` and their Unix variants. Every method blocks the
/// calling thread instead of being awaited, and works from any thread, a runtime's
/// included (no "cannot start a runtime from within a runtime" panic: the work runs on the
/// server's own runtime and the caller waits for it).
///
/// Share it between threads with an `Arc`: one thread runs
/// [`serve_forever`](Self::serve_forever), another waits for
/// [`wait_serving`](Self::wait_serving) then calls [`shutdown`](Self::shutdown).
/// [`ServerThread`](super::ServerThread) does that in one call.
///
/// ```no_run
/// use easynet::{handler, recv, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer};
/// use easynet::blocking::StandaloneTcpServer;
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
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // Any async builder's `bind()` future: it runs on the server's runtime.
/// let bind = TcpServer::builder(JsonLines::new(), Echo).host("localhost").port(9000).bind();
/// let server = StandaloneTcpServer::new(4, bind)?;
/// server.serve_forever()?; // until another thread calls server.shutdown()
/// # Ok(()) }
/// ```
///
/// Dropping it shuts the server down (if it serves, as [`shutdown`](Self::shutdown)) and
/// then stops its runtime, whose threads have ended when the drop returns.
pub struct StandaloneServer<S> {
    server: S,
    handle: ServerHandle,
    // `None` only while dropping.
    runtime: Option<Runtime>,
}

/// A [`StandaloneServer`] over TCP (or TLS), the analog of easynetwork's
/// `StandaloneTCPNetworkServer`.
pub type StandaloneTcpServer<H, P> = StandaloneServer<Server<H, P, Tcp>>;

/// A [`StandaloneServer`] over a Unix socket, the analog of easynetwork's
/// `StandaloneUnixStreamServer`.
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type StandaloneUnixServer<H, P> = StandaloneServer<Server<H, P, crate::server::Unix>>;

/// A [`StandaloneServer`] over UDP, the analog of easynetwork's
/// `StandaloneUDPNetworkServer`: `StandaloneUdpServer::new(workers, UdpServer::builder(..).bind())`.
pub type StandaloneUdpServer<H, S> = StandaloneServer<DatagramServer<H, S, Udp>>;

/// A [`StandaloneServer`] over a Unix datagram socket, the analog of easynetwork's
/// `StandaloneUnixDatagramServer`.
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub type StandaloneUnixDatagramServer<H, S> =
    StandaloneServer<DatagramServer<H, S, crate::server::UnixDatagram>>;

impl<S: AsyncServer> StandaloneServer<S> {
    /// Starts a runtime with `worker_threads` worker threads (at least one), and binds the
    /// server on it: `bind` is an async builder's `bind()` future
    /// ([`TcpServerBuilder::bind`](crate::TcpServerBuilder::bind),
    /// [`UnixServerBuilder::bind`](crate::UnixServerBuilder::bind),
    /// [`UdpServerBuilder::bind`](crate::UdpServerBuilder::bind),
    /// [`UnixDatagramServerBuilder::bind`](crate::UnixDatagramServerBuilder::bind)) or any
    /// future that makes a server.
    ///
    /// # Errors
    /// The runtime cannot be started, or binding fails.
    pub fn new<F>(worker_threads: usize, bind: F) -> io::Result<Self>
    where
        F: Future<Output = io::Result<S>> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name("easynet-server")
            .enable_all()
            .build()?;
        let server = run_on(&runtime, bind).unwrap_or_else(|| {
            Err(io::Error::other(
                "the server's runtime stopped while binding",
            ))
        });
        match server {
            Ok(server) => Ok(StandaloneServer {
                handle: server.server_handle(),
                server,
                runtime: Some(runtime),
            }),
            Err(e) => {
                stop_runtime(runtime);
                Err(e)
            }
        }
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    /// Runs `service_init`, then serves until [`shutdown`](Self::shutdown) (called from
    /// another thread), and returns once every client has ended and the service's
    /// clean-ups have run: the server's `serve_forever`
    /// ([`Server::serve_forever`], [`DatagramServer::serve_forever`]), blocking.
    ///
    /// # Errors
    /// As `serve_forever`: [`ServerError::AlreadyServing`],
    /// [`ServerError::Closed`] (a server serves once), [`ServerError::ServiceInit`].
    pub fn serve_forever(&self) -> Result<(), ServerError> {
        run_on(self.runtime(), self.server.clone().serve()).unwrap_or(Err(ServerError::Closed))
    }

    /// Waits until the server serves (`service_init` done, accepting), at most `timeout`
    /// (`None`: as long as it takes): the how-to's `is_up_event`. `false` if the server
    /// closed without serving, or on timeout.
    pub fn wait_serving(&self, timeout: Option<Duration>) -> bool {
        let handle = self.handle.clone();
        let (sender, receiver) = mpsc::sync_channel(1);
        self.runtime().spawn(async move {
            let _ = sender.send(handle.wait_serving().await);
        });
        match timeout {
            None => receiver.recv().unwrap_or(false),
            Some(timeout) => receiver.recv_timeout(timeout).unwrap_or(false),
        }
    }

    /// Whether the server serves now.
    pub fn is_serving(&self) -> bool {
        self.handle.is_serving()
    }

    /// Shuts the server down and waits until [`serve_forever`](Self::serve_forever) has
    /// returned, from any thread, any number of times: [`ServerHandle::shutdown`], in
    /// easynetwork's order (accepting stops; waiting clients are disconnected; busy
    /// handlers get the shutdown timeout to reach their next `recv!()`; every connection
    /// runs `on_disconnection` and closes; then the service's clean-ups run). Returns at
    /// once for a server that is not serving.
    ///
    /// Not from inside one of this server's own handlers: the handler's thread would wait
    /// for its own connection to end. There, use [`handle`](Self::handle)`.shutdown()`
    /// (spawned, or awaited after the handler's work).
    pub fn shutdown(&self) {
        let handle = self.handle.clone();
        let _ = run_on(self.runtime(), async move { handle.shutdown().await });
    }

    /// The addresses the server listens on (empty for a Unix socket).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.handle.local_addrs()
    }

    /// The async server underneath, for everything else it offers (its clients,
    /// `broadcast`, ...); its async methods need a runtime: [`runtime`](Self::runtime_handle)'s.
    pub fn server(&self) -> &S {
        &self.server
    }

    /// A handle on the server's state (shareable with async code).
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The server's runtime, to run async work next to it (`block_on`, `spawn`).
    pub fn runtime_handle(&self) -> &tokio::runtime::Handle {
        self.runtime().handle()
    }
}

impl<S> Drop for StandaloneServer<S> {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let handle = self.handle.clone();
        let _ = run_on(&runtime, async move { handle.shutdown().await });
        stop_runtime(runtime);
    }
}

impl<S: fmt::Debug> fmt::Debug for StandaloneServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandaloneServer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Runs `future` on `runtime` and waits for it on this thread (a spawn and a channel
/// rather than `block_on`, which panics on a runtime's thread). `None` if the runtime
/// dropped the task.
fn run_on<F>(runtime: &Runtime, future: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (sender, receiver) = mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver.recv().ok()
}

/// Stops a runtime and waits for its threads; on a runtime's thread, where waiting is not
/// allowed, lets them end in the background.
fn stop_runtime(runtime: Runtime) {
    if tokio::runtime::Handle::try_current().is_ok() {
        runtime.shutdown_background();
    } else {
        runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    }
}
