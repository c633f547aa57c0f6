//! Datagram servers: [`UdpServer`] (`udp.rs`) and, on Unix, `UnixDatagramServer`
//! (`unix.rs`), one [`DatagramServer`] over their sockets.
//!
//! One task reads every socket of the server and dispatches each datagram, through the
//! table of addresses (`table.rs`), to its address's task, which runs the handler's
//! conversation (`handler::serve_datagrams`) and decodes the datagrams as its
//! `recv!()` asks for them. Everything is bounded: datagrams queued per address,
//! addresses with live state, bytes queued in all; an address idle past the idle
//! timeout is forgotten.

mod table;
mod udp;
#[cfg(unix)]
mod unix;

pub use udp::{Udp, UdpServer, UdpServerBuilder};
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixDatagramServer, UnixDatagramServerBuilder};

use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::io::ReadBuf;
use tokio::task::JoinSet;

use super::options::DEFAULT_SHUTDOWN_TIMEOUT;
use super::{CloseOnDrop, join_within_bound, log_task_end};
use crate::connection::{DatagramClient, DatagramDriver};
use crate::handler::{self, Context, DatagramRequestHandler};
use crate::metrics::{DatagramDrop, Metrics};
use crate::protocol::{DatagramProtocol, DatagramSerializer};
use crate::service::{ExitStack, ServerError, ServerHandle, ServerTask};
use crate::transport::{ACCEPT_PAUSE, Address, DatagramSocket};
use table::{Bounds, Dispatched, Key, Table};

/// Default bound on the datagrams queued for one address while its handler is busy: a
/// burst from one peer (a client sending several requests at once) fits, and one peer
/// can hold at most 32 × 64 KiB (2 MiB) of queued datagrams.
pub const DEFAULT_QUEUE_SIZE: usize = 32;
/// Default bound on the remote addresses with live state (a task and a queue each, a few
/// KiB): a flood from many source addresses (spoofed ones are free on UDP) cannot grow
/// the server past it; datagrams from further addresses are dropped until some are
/// forgotten.
pub const DEFAULT_MAX_ADDRESSES: usize = 4096;
/// Default bound on the bytes of all datagrams queued on the server, whatever their
/// addresses: the memory that queued datagrams take stays under 16 MiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// Default time after which an address with nothing arriving is forgotten (its waiting
/// handler dropped): a minute, about as long as NAT devices keep a UDP mapping, after
/// which the peer's replies could not reach it anyway.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The settings of a datagram server; see the builder's methods.
#[derive(Debug, Clone)]
pub(crate) struct DatagramOptions {
    pub(crate) queue_size: usize,
    pub(crate) max_addresses: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) reuse_port: bool,
    /// The `server` label of its metrics.
    pub(crate) name: String,
}

impl Default for DatagramOptions {
    fn default() -> Self {
        DatagramOptions {
            queue_size: DEFAULT_QUEUE_SIZE,
            max_addresses: DEFAULT_MAX_ADDRESSES,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            reuse_port: false,
            name: "easynet".to_owned(),
        }
    }
}

/// Builds a [`DatagramServer`]: [`UdpServerBuilder`], `UnixDatagramServerBuilder`.
pub struct DatagramServerBuilder<H, S, K: DatagramKind> {
    handler: H,
    protocol: DatagramProtocol<S>,
    options: DatagramOptions,
    config: K::Config,
}

/// What a datagram server binds: [`Udp`] sockets, or a `UnixDatagram` socket file.
pub trait DatagramKind: sealed::Sealed + Send + Sync + 'static {
    /// What the builder collects to bind.
    #[doc(hidden)]
    type Config: Default + Send;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

impl<H, S, K> DatagramServerBuilder<H, S, K>
where
    H: DatagramRequestHandler,
    S: DatagramSerializer<H::Response, H::Request>,
    K: DatagramKind,
{
    fn new(protocol: DatagramProtocol<S>, handler: H) -> Self {
        DatagramServerBuilder {
            handler,
            protocol,
            options: DatagramOptions::default(),
            config: K::Config::default(),
        }
    }

    /// At most `n` datagrams wait for one address while its handler is busy (default
    /// [`DEFAULT_QUEUE_SIZE`]); further ones are dropped and counted
    /// ([`ServerHandle::dropped_datagrams`]). easynetwork's queue has no bound.
    pub fn queue_size(mut self, n: usize) -> Self {
        self.options.queue_size = n.max(1);
        self
    }

    /// At most `n` remote addresses have live state at once (default
    /// [`DEFAULT_MAX_ADDRESSES`]); datagrams from a further address are dropped and
    /// counted until one is forgotten.
    pub fn max_addresses(mut self, n: usize) -> Self {
        self.options.max_addresses = n.max(1);
        self
    }

    /// At most `bytes` of received datagrams wait in all queues together (default
    /// [`DEFAULT_MAX_QUEUED_BYTES`]); further ones are dropped and counted.
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.options.max_queued_bytes = bytes;
        self
    }

    /// An address with nothing arriving for `timeout` is forgotten (default
    /// [`DEFAULT_IDLE_TIMEOUT`]): between two `handle`s, or while `handle` waits in a
    /// `recv!()` without a timeout of its own (the handler is then dropped, its guards
    /// run). A `recv!(timeout = ..)` is bounded by its own timeout only.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.options.idle_timeout = timeout;
        self
    }

    /// How long handlers still busy at [`shutdown`](DatagramServer::shutdown) may run
    /// before they are dropped (default 5 s, as TCP servers).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.options.shutdown_timeout = timeout;
        self
    }

    /// The server's name: the `server` label of every metric it records (cargo feature
    /// `metrics`, see the README's "Metrics" section), as
    /// [`TcpServerBuilder::name`](crate::TcpServerBuilder::name). Default: `easynet`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = name.into();
        self
    }

    fn build(
        self,
        sockets: Vec<DatagramSocket>,
        #[cfg(unix)] file: Option<crate::transport::UnixSocketFile>,
    ) -> std::io::Result<DatagramServer<H, S, K>> {
        let local = sockets
            .iter()
            .map(DatagramSocket::local_address)
            .collect::<std::io::Result<Vec<_>>>()?;
        let addrs = local.iter().filter_map(Address::as_inet).collect();
        let handle = ServerHandle::new(
            addrs,
            crate::connection::Shutdown::new(self.options.shutdown_timeout),
        );
        let table = Table::new(Bounds {
            queue_size: self.options.queue_size,
            max_addresses: self.options.max_addresses,
            max_queued_bytes: self.options.max_queued_bytes,
        });
        let metrics = Metrics::new(&self.options.name);
        Ok(DatagramServer {
            inner: Arc::new(Inner {
                metrics,
                handler: Arc::new(self.handler),
                protocol: self.protocol,
                options: self.options,
                sockets: sockets.into_iter().map(Arc::new).collect(),
                local,
                taken: AtomicBool::new(false),
                #[cfg(unix)]
                file: Mutex::new(file),
                handle,
                table,
                template: Mutex::new(Context::default()),
            }),
            kind: PhantomData,
        })
    }
}

impl<H, S, K: DatagramKind> fmt::Debug for DatagramServerBuilder<H, S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServerBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

struct Inner<H, S> {
    handler: Arc<H>,
    protocol: DatagramProtocol<S>,
    options: DatagramOptions,
    sockets: Vec<Arc<DatagramSocket>>,
    local: Vec<Address>,
    /// `serve_forever` ran: a server serves once.
    taken: AtomicBool,
    /// The Unix socket file, removed (when asked to) once the server stops.
    #[cfg(unix)]
    file: Mutex<Option<crate::transport::UnixSocketFile>>,
    handle: ServerHandle,
    table: Table,
    template: Mutex<Context>,
    metrics: Metrics,
}

/// A datagram server: [`UdpServer`] or `UnixDatagramServer`. Cheap to clone (one `Arc`).
///
/// Its life is a [`TcpServer`](crate::TcpServer)'s: bind (several addresses, or port 0),
/// [`serve_forever`](Self::serve_forever) (or [`spawn`](Self::spawn)),
/// [`wait_serving`](Self::wait_serving), [`shutdown`](Self::shutdown) from any task.
/// The handler is a [`DatagramRequestHandler`], whose docs give the rules of a datagram
/// conversation.
pub struct DatagramServer<H, S, K> {
    inner: Arc<Inner<H, S>>,
    kind: PhantomData<fn() -> K>,
}

impl<H, S, K> Clone for DatagramServer<H, S, K> {
    fn clone(&self) -> Self {
        DatagramServer {
            inner: Arc::clone(&self.inner),
            kind: PhantomData,
        }
    }
}

impl<H, S, K> DatagramServer<H, S, K>
where
    H: DatagramRequestHandler,
    S: DatagramSerializer<H::Response, H::Request>,
    K: DatagramKind,
{
    /// The server's handle: its state, shutdown, and counters, for any task.
    pub fn handle(&self) -> ServerHandle {
        self.inner.handle.clone()
    }

    /// The IP addresses the server is bound to (with the ports given for port 0); empty
    /// for a Unix datagram server.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.inner.handle.local_addrs()
    }

    /// The addresses the server's sockets are bound to, whatever the transport.
    pub fn local_addresses(&self) -> &[Address] {
        &self.inner.local
    }

    /// Whether the server is serving now.
    pub fn is_serving(&self) -> bool {
        self.inner.handle.is_serving()
    }

    /// Waits until the server serves (`true`) or has closed without serving (`false`).
    pub async fn wait_serving(&self) -> bool {
        self.inner.handle.wait_serving().await
    }

    /// Shuts the server down and waits until it has: reading stops, conversations
    /// waiting for a datagram are dropped at once, busy handlers have the shutdown
    /// timeout to finish, then the `service_init` clean-ups run.
    pub async fn shutdown(&self) {
        self.inner.handle.shutdown().await
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.inner.handler
    }

    /// How many remote addresses have live state now (a conversation, running or
    /// waiting for their next datagram).
    pub fn address_count(&self) -> usize {
        self.inner.table.len()
    }

    /// How many received datagrams were dropped unhandled: see
    /// [`ServerHandle::dropped_datagrams`].
    pub fn dropped_datagrams(&self) -> u64 {
        self.inner.handle.dropped_datagrams()
    }

    /// Serves in a background task, once serving has begun; see
    /// [`TcpServer::spawn`](crate::TcpServer::spawn).
    ///
    /// # Errors
    /// As [`serve_forever`](Self::serve_forever), when it fails before serving.
    pub async fn spawn(&self) -> Result<ServerTask, ServerError> {
        let server = self.clone();
        ServerTask::spawn(self.handle(), async move { server.serve_forever().await }).await
    }

    /// Serves until [`shutdown`](Self::shutdown): runs `service_init`, then reads
    /// datagrams and runs the handler for their addresses.
    ///
    /// # Errors
    /// [`ServerError::AlreadyServing`], [`ServerError::Closed`] (a server serves once),
    /// or [`ServerError::ServiceInit`].
    pub async fn serve_forever(&self) -> Result<(), ServerError> {
        let handle = &self.inner.handle;
        handle.start()?;
        let _closed = CloseOnDrop(handle);
        let result = self.serve_inner().await;
        #[cfg(unix)]
        drop(
            self.inner
                .file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        result
    }

    async fn serve_inner(&self) -> Result<(), ServerError> {
        let inner = &*self.inner;
        if inner.taken.swap(true, Ordering::AcqRel) {
            return Err(ServerError::Closed);
        }
        let shutdown = inner.handle.shutdown_signal().clone();
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
        *inner
            .template
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = template.clone();
        inner.handle.set_serving();
        tracing::info!(addrs = ?inner.local, "datagram server started");

        let mut tasks = JoinSet::new();
        let mut stopping = std::pin::pin!(shutdown.started());
        // One byte more than the largest datagram accepted, to tell a longer one.
        let mut buf = vec![0u8; inner.protocol.max_size() + 1];
        loop {
            let received = tokio::select! {
                biased;
                () = &mut stopping => break,
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                    log_task_end(ended);
                    continue;
                }
                received = poll_fn(|cx| {
                    for (index, socket) in inner.sockets.iter().enumerate() {
                        let mut read = ReadBuf::new(&mut buf);
                        if let Poll::Ready(result) = socket.poll_recv_from(cx, &mut read) {
                            let len = read.filled().len();
                            return Poll::Ready(result.map(|from| (index, len, from)));
                        }
                    }
                    Poll::Pending
                }) => received,
            };
            match received {
                Ok((index, len, from)) => {
                    inner.metrics.bytes_received(len);
                    self.dispatch((index, from), &buf[..len], &mut tasks, &template);
                }
                // ICMP errors about earlier sends, on some systems: not this socket's.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    tracing::debug!(error = %e, "datagram receive error");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "datagram receive failed, pausing for 100 ms");
                    tokio::select! {
                        () = &mut stopping => break,
                        () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                    }
                }
            }
        }

        tracing::info!("datagram server shutting down");
        inner.table.clear();
        join_within_bound(&mut tasks, &shutdown, "address").await;
        exit_stack.close().await;
        tracing::info!("datagram server stopped");
        Ok(())
    }

    fn dispatch(&self, key: Key, data: &[u8], tasks: &mut JoinSet<()>, template: &Context) {
        let inner = &*self.inner;
        let dispatched = if matches!(key.1, Address::Unix(None)) {
            Dispatched::Dropped(DatagramDrop::Unnamed)
        } else {
            inner.table.dispatch(&key, data)
        };
        match dispatched {
            Dispatched::Queued => {}
            Dispatched::Dropped(why) => {
                inner.handle.count_dropped_datagram();
                inner.metrics.datagram_dropped(why);
                tracing::debug!(client = %key.1, "datagram dropped: {}", why.describe());
            }
            Dispatched::Started(mut queue) => {
                let server = self.clone();
                let context = template.clone();
                let counted = inner.handle.count_client();
                tasks.spawn(async move {
                    let inner = &*server.inner;
                    let (index, remote) = key.clone();
                    let client = DatagramClient::new(
                        Arc::clone(&inner.sockets[index]),
                        inner.local[index].clone(),
                        remote.clone(),
                        inner.protocol.clone(),
                        inner.metrics.clone(),
                    );
                    let driver = DatagramDriver::new(
                        &mut queue,
                        inner.protocol.clone(),
                        inner.options.idle_timeout,
                        inner.handle.shutdown_signal().clone(),
                        &remote,
                        inner.metrics.clone(),
                    );
                    let forget = |queue: &_| inner.table.forget(&key, queue);
                    context
                        .scope(handler::serve_datagrams(
                            &*inner.handler,
                            &client,
                            driver,
                            &forget,
                        ))
                        .await;
                    drop(counted);
                });
            }
        }
    }
}

impl<H, S, K> fmt::Debug for DatagramServer<H, S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServer")
            .field("handle", &self.inner.handle)
            .field("local", &self.inner.local)
            .finish_non_exhaustive()
    }
}
