//! [`ServerHandle`]: a server's state, shared by the server, its background tasks and
//! whoever shuts it down.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::connection::Shutdown;
use crate::error::HandlerError;

/// Why `serve_forever` returned an error.
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
    /// The task running `serve_forever` panicked or was aborted.
    #[error("the server task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Starting,
    Serving,
    Closed,
}

struct Inner {
    addrs: Vec<SocketAddr>,
    shutdown: Shutdown,
    state: watch::Sender<State>,
    clients: AtomicUsize,
    connections: AtomicUsize,
    /// Datagram servers: datagrams received and dropped (see `dropped_datagrams`).
    dropped: AtomicU64,
}

/// A handle on a running (or not yet running) server: its addresses, whether it serves,
/// how many clients it has, and a way to shut it down from any task. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<Inner>,
}

impl ServerHandle {
    pub(crate) fn new(addrs: Vec<SocketAddr>, shutdown: Shutdown) -> Self {
        ServerHandle {
            inner: Arc::new(Inner {
                addrs,
                shutdown,
                state: watch::Sender::new(State::Idle),
                clients: AtomicUsize::new(0),
                connections: AtomicUsize::new(0),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// The addresses the server listens on (one per bound host).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.inner.addrs
    }

    /// Whether `serve_forever` is running and accepting.
    pub fn is_serving(&self) -> bool {
        *self.inner.state.borrow() == State::Serving
    }

    /// How many clients are connected now: handed to the handler, not yet ended. On a
    /// datagram server: how many remote addresses have live state (a conversation).
    pub fn client_count(&self) -> usize {
        self.inner.clients.load(Ordering::Relaxed)
    }

    /// Datagram servers ([`UdpServer`](crate::UdpServer)): how many received datagrams
    /// were dropped unhandled since the server was bound: over an address's queue bound,
    /// over the bound on addresses or queued bytes, or from a peer that cannot be
    /// answered (an unnamed Unix socket). Always 0 on stream servers.
    pub fn dropped_datagrams(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn count_dropped_datagram(&self) {
        self.inner.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// How many connections are open now: accepted and not yet closed, TLS handshakes in
    /// progress included. What [`max_connections`](crate::TcpServerBuilder::max_connections)
    /// limits.
    pub fn connection_count(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
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

    /// Shuts the server down and waits until `serve_forever` has returned. Callable from
    /// any task, any number of times.
    ///
    /// In order: accepting stops; clients waiting for a request are disconnected at
    /// once; a handler busy with a request gets the shutdown timeout
    /// ([`TcpServerBuilder::shutdown_timeout`](crate::TcpServerBuilder::shutdown_timeout),
    /// measured once, from this call) to reach its next `recv!()`, and is dropped past
    /// it; no further request is handed to any handler (pipelined requests not yet
    /// handed over, and requests that arrive meanwhile, are not handled); each
    /// connection then runs `on_disconnection`, writes what it had queued and closes,
    /// within one more second; then the service's clean-ups run. So every connection has
    /// ended within the shutdown timeout plus one second.
    pub async fn shutdown(&self) {
        self.inner.shutdown.begin();
        let mut state = self.inner.state.subscribe();
        let _ = state
            .wait_for(|s| matches!(s, State::Idle | State::Closed))
            .await;
    }

    /// Drains the server, then shuts it down, and waits until `serve_forever` has
    /// returned: what a rolling restart behind a load balancer wants. Callable from any
    /// task; a drain after a drain or a shutdown only waits for the end.
    ///
    /// In order:
    /// 1. accepting stops and the listening sockets are closed, so a balancer's health
    ///    checks fail and new clients go elsewhere;
    /// 2. a handler busy with a request is not interrupted: it finishes it (and may
    ///    handle the requests its client sends meanwhile);
    /// 3. idle connections (waiting in `recv!()`, no request half received) are closed
    ///    one by one, spread evenly over `grace`: of the `n` connections open when the
    ///    drain began, the `k`-th to be idle closes `k/n` of the way in, or at once if
    ///    its turn has passed; their clients reconnect elsewhere gradually, not all at
    ///    once. A closed connection's queued responses are written first;
    ///    `on_disconnection` runs as for any other end;
    /// 4. once `grace` is over, or earlier when every accepted connection has ended,
    ///    the server [shuts down](Self::shutdown) as usual: what is left gets the
    ///    shutdown timeout.
    ///
    /// A shutdown asked for meanwhile (a second signal) ends the drain at once. Connections
    /// given to [`serve_stream`](crate::Server::serve_stream) drain with the others, but
    /// are not waited for: the shutdown may come before their turn.
    pub async fn drain(&self, grace: Duration) {
        self.inner.shutdown.drain(grace, self.connection_count());
        let mut state = self.inner.state.subscribe();
        let ended = state.wait_for(|s| matches!(s, State::Idle | State::Closed));
        let deadline = self.inner.shutdown.drain_deadline();
        let _ = tokio::time::timeout_at(deadline.unwrap_or_else(Instant::now), ended).await;
        self.shutdown().await;
    }

    /// Whether a drain was asked for (or a shutdown, which ends a drain).
    pub fn is_draining(&self) -> bool {
        self.inner.shutdown.is_draining()
    }

    /// Whether a shutdown was asked for.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_started()
    }

    pub(crate) fn shutdown_signal(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    /// Moves the server from idle to starting, or says why it cannot serve.
    pub(crate) fn start(&self) -> Result<(), ServerError> {
        let mut refused = None;
        self.inner.state.send_if_modified(|state| match state {
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
        refused.map_or(Ok(()), Err)
    }

    pub(crate) fn set_serving(&self) {
        self.inner.state.send_replace(State::Serving);
    }

    /// Marks the server closed: waiters of `shutdown`/`wait_serving` are released.
    pub(crate) fn set_closed(&self) {
        self.inner.shutdown.begin();
        self.inner.state.send_replace(State::Closed);
    }

    /// Counts a client in; the count goes down when the guard drops.
    pub(crate) fn count_client(&self) -> Counted {
        self.count(Counter::Clients)
    }

    /// Counts an accepted connection in; the count goes down when the guard drops.
    pub(crate) fn count_connection(&self) -> Counted {
        self.count(Counter::Connections)
    }

    fn count(&self, counter: Counter) -> Counted {
        counter.of(&self.inner).fetch_add(1, Ordering::Relaxed);
        Counted {
            handle: self.clone(),
            counter,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Counter {
    Clients,
    Connections,
}

impl Counter {
    fn of(self, inner: &Inner) -> &AtomicUsize {
        match self {
            Counter::Clients => &inner.clients,
            Counter::Connections => &inner.connections,
        }
    }
}

/// One client or connection in a [`ServerHandle`]'s counts, until dropped.
pub(crate) struct Counted {
    handle: ServerHandle,
    counter: Counter,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counter
            .of(&self.handle.inner)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addrs", &self.inner.addrs)
            .field("state", &*self.inner.state.borrow())
            .field("clients", &self.client_count())
            .field("connections", &self.connection_count())
            .finish()
    }
}
