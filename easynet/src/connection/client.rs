//! [`StreamClient`]: the handle on one connected client, which every hook receives and
//! any task may keep.

use std::fmt;
use std::future::poll_fn;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use super::alarm::{Alarm, earliest};
use super::encoded::Encoded;
use super::send::{BoxedEncoder, BoxedWriter, SendQueue};
use super::shutdown::Shutdown;
use crate::error::{SendError, is_disconnect};
use crate::metrics::{Metrics, Timeout};
use crate::transport::{Address, PeerCredentials};

/// Identifies one connection of a server process, for as long as the process runs (ids
/// are never reused). Shown as `#7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(u64);

impl ClientId {
    fn next() -> ClientId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ClientId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a client handle and its connection's request slot both look at.
pub(crate) struct ClientFlags {
    /// The connection is ending ([`StreamClient::close`], the peer, shutdown): no request
    /// is handed to the handler any more.
    pub(crate) closing: AtomicBool,
    /// A further request is already received and decoded: a response to the current one
    /// may wait in the queue, to be written together with the next ones.
    pub(crate) batching: AtomicBool,
}

/// Why a connection ended, kept so that what follows (logs) can tell a lost peer from a
/// handler's own decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum EndReason {
    Open = 0,
    /// [`StreamClient::close`] was called.
    Closed,
    /// The handler returned, failed or panicked.
    Handler,
    /// The peer closed the connection or reset it.
    PeerGone,
    /// Reading or writing failed otherwise.
    TransportError,
    /// The peer made no progress reading for the write timeout.
    WriteTimeout,
    /// The server shut down.
    Shutdown,
    /// The peer was too slow: a frame not completed within the frame timeout, or nothing
    /// received for the idle timeout.
    SlowPeer,
    /// Closed, idle, in the server's drain.
    Drained,
}

impl EndReason {
    fn from_u8(value: u8) -> EndReason {
        [
            EndReason::Open,
            EndReason::Closed,
            EndReason::Handler,
            EndReason::PeerGone,
            EndReason::TransportError,
            EndReason::WriteTimeout,
            EndReason::Shutdown,
            EndReason::SlowPeer,
            EndReason::Drained,
        ]
        .get(usize::from(value))
        .copied()
        .unwrap_or(EndReason::Open)
    }
}

/// The send-side settings of a connection.
#[derive(Debug, Clone)]
pub(crate) struct SendOptions {
    pub(crate) high_water: usize,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) metrics: Metrics,
}

/// Who is at either end of a connection.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) remote: Address,
    pub(crate) local: Address,
    pub(crate) nodelay: bool,
    /// A Unix-socket peer's credentials.
    pub(crate) credentials: Option<PeerCredentials>,
    /// What a trusted proxy's PROXY protocol header said (`remote` is then the client's
    /// address it gave).
    pub(crate) proxy: Option<Box<crate::transport::ProxyInfo>>,
}

struct Shared<Response> {
    queue: Mutex<SendQueue<Response>>,
    /// The queue may hold bytes not yet written: lets the driver skip the lock when there
    /// is nothing to write.
    pending: AtomicBool,
    /// Shared with the connection's request slot.
    flags: Arc<ClientFlags>,
    end: AtomicU8,
    id: ClientId,
    peer: Peer,
    write_timeout: Option<Duration>,
    /// Over TLS, how long closing may take (sending `close_notify`).
    close_timeout: Option<Duration>,
    shutdown: Shutdown,
    metrics: Metrics,
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::transport::tls::TlsInfo>>,
}

/// A connected client, as every hook of a
/// [`StreamRequestHandler`](crate::StreamRequestHandler) receives it: send packets to it,
/// close it, learn its addresses. The analog of easynetwork's `AsyncStreamClient`.
///
/// It is a handle: cheap to clone (one reference count), `Send + Sync + 'static`, so a
/// handler may keep clones in a registry, a channel or another task, and
/// [`send_packet`](Self::send_packet) works from any task while the connection is open:
///
/// ```
/// use std::collections::HashSet;
/// use std::sync::Mutex;
/// use easynet::{handler, recv, HandlerError, StreamClient, StreamRequestHandler};
///
/// #[derive(Default)]
/// struct Room {
///     members: Mutex<HashSet<StreamClient<String>>>,
/// }
///
/// impl StreamRequestHandler for Room {
///     type Request = String;
///     type Response = String;
///
///     async fn on_connection(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
///         self.members.lock().unwrap().insert(client.clone());
///         Ok(())
///     }
///
///     #[handler]
///     async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
///         let line = recv!()?;
///         let members: Vec<_> = self.members.lock().unwrap().iter().cloned().collect();
///         easynet::broadcast(&members, &format!("{}: {line}", client.id()))?;
///         Ok(())
///     }
///
///     async fn on_disconnection(&self, client: &StreamClient<String>) {
///         self.members.lock().unwrap().remove(client);
///     }
/// }
/// ```
///
/// Clones compare equal (and hash alike) when they are handles on the same connection.
/// Once the connection has ended, a clone still answers its addresses, [`id`](Self::id)
/// and [`is_closing`](Self::is_closing), but holds no socket and no buffer, and
/// [`send_packet`](Self::send_packet) fails with [`SendError::Closed`].
///
/// # The send queue
///
/// Each connection has a send queue bounded by a high-water mark
/// ([`TcpServerBuilder::send_high_water`](crate::TcpServerBuilder::send_high_water),
/// 64 KiB by default). [`send_packet`](Self::send_packet) waits while the queue holds the
/// mark or more, then encodes its packet whole into it and writes what the transport
/// takes at once; so the queue never holds more than the mark plus one packet, and sends
/// from several tasks never interleave their bytes. A peer that takes nothing for the
/// write timeout ([`TcpServerBuilder::write_timeout`](crate::TcpServerBuilder::write_timeout))
/// is disconnected.
pub struct StreamClient<Response> {
    shared: Arc<Shared<Response>>,
}

impl<Response> Clone for StreamClient<Response> {
    fn clone(&self) -> Self {
        StreamClient {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<Response> PartialEq for StreamClient<Response> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<Response> Eq for StreamClient<Response> {}

impl<Response> Hash for StreamClient<Response> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.shared.id.hash(state);
    }
}

impl<Response> StreamClient<Response> {
    pub(crate) fn new(
        io: BoxedWriter,
        encoder: BoxedEncoder<Response>,
        peer: Peer,
        options: SendOptions,
        shutdown: Shutdown,
    ) -> Self {
        StreamClient {
            shared: Arc::new(Shared {
                queue: Mutex::new(
                    SendQueue::new(io, encoder, options.high_water)
                        .with_metrics(options.metrics.clone()),
                ),
                pending: AtomicBool::new(false),
                flags: Arc::new(ClientFlags {
                    closing: AtomicBool::new(false),
                    batching: AtomicBool::new(false),
                }),
                end: AtomicU8::new(EndReason::Open as u8),
                id: ClientId::next(),
                peer,
                write_timeout: options.write_timeout,
                close_timeout: None,
                shutdown,
                metrics: options.metrics,
                #[cfg(feature = "tls")]
                tls: None,
            }),
        }
    }

    /// Marks the connection as TLS: what the handshake negotiated, and how long sending
    /// `close_notify` may take when closing. Only before the handle is shared.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(
        io: BoxedWriter,
        encoder: BoxedEncoder<Response>,
        peer: Peer,
        options: SendOptions,
        shutdown: Shutdown,
        info: crate::transport::tls::TlsInfo,
        close_timeout: Duration,
    ) -> Self {
        let mut client = Self::new(io, encoder, peer, options, shutdown);
        let shared = Arc::get_mut(&mut client.shared).expect("a new client is not shared");
        shared.tls = Some(Box::new(info));
        shared.close_timeout = Some(close_timeout);
        shared
            .queue
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .flush_transport();
        client
    }

    fn lock(&self) -> MutexGuard<'_, SendQueue<Response>> {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends a packet to the client: waits while the send queue is at its high-water
    /// mark, then queues the packet whole and writes what the transport takes at once.
    ///
    /// When it returns `Ok`, the packet is queued and will be written in order: at once
    /// when the peer reads, or, while the client has already sent further requests that
    /// are waiting to be handled (pipelining), together with the responses to those, as
    /// soon as the handler waits for anything. Call [`flush`](Self::flush) to wait until
    /// it is written.
    ///
    /// # Cancel safety
    ///
    /// A dropped `send_packet` future leaves either nothing queued (it was still waiting
    /// for room) or its whole packet, which is then written as if the send had
    /// completed. Never part of a packet.
    ///
    /// # Errors
    /// [`SendError::Closed`] after [`close`](Self::close) or once the connection has
    /// ended (nothing is sent); [`SendError::Serialize`] if the packet cannot be
    /// serialized (nothing is sent, the connection stays usable); [`SendError::Io`] if
    /// writing failed (the connection then ends).
    ///
    /// # Panics
    /// If the protocol's encoder panics, the panic goes on here; the packet's partial
    /// bytes are dropped first, so the connection stays usable and the frames queued
    /// before it are intact. (In the connection's own handler, the panic then ends the
    /// handler, and the connection closes cleanly after writing what was queued.)
    pub async fn send_packet(&self, packet: &Response) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_send(cx, true, &mut |queue| queue.encode(packet))).await
    }

    /// Sends a packet if the send queue has room now, without waiting: as
    /// [`send_packet`](Self::send_packet), but [`SendError::Full`] (nothing queued) when
    /// the queue is at its high-water mark. Not `async`: callable anywhere, even holding a
    /// lock.
    pub fn try_send_packet(&self, packet: &Response) -> Result<(), SendError> {
        self.try_send(&mut |queue| queue.encode(packet))
    }

    /// Encodes `packet` once, for sending to many clients with
    /// [`send_encoded`](Self::send_encoded) or [`broadcast`](crate::broadcast).
    ///
    /// The bytes are those this client's protocol gives; send them only to clients of the
    /// same protocol (the clients of one server). Every easynet protocol encodes each
    /// packet on its own, with no state carried from one packet to the next.
    pub fn encode(&self, packet: &Response) -> Result<Encoded<Response>, SendError> {
        let bytes = self.lock().encode_alone(packet)?;
        Ok(Encoded::new(bytes))
    }

    /// Sends a packet encoded by [`encode`](Self::encode), as
    /// [`send_packet`](Self::send_packet) does (waiting for room).
    pub async fn send_encoded(&self, packet: &Encoded<Response>) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_send(cx, true, &mut |queue| queue.push_encoded(packet.as_bytes())))
            .await
    }

    /// Sends a packet encoded by [`encode`](Self::encode) if the queue has room now, as
    /// [`try_send_packet`](Self::try_send_packet).
    pub fn try_send_encoded(&self, packet: &Encoded<Response>) -> Result<(), SendError> {
        self.try_send(&mut |queue| queue.push_encoded(packet.as_bytes()))
    }

    /// A send that never waits. It writes with a no-op waker: when the transport cannot
    /// take everything, the driver is woken to write the rest (and to take the socket's
    /// readiness back from the no-op waker), as for any send from another task.
    fn try_send(
        &self,
        put: &mut dyn FnMut(&mut SendQueue<Response>) -> Result<(), SendError>,
    ) -> Result<(), SendError> {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_send(&mut cx, false, put) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(SendError::Full),
        }
    }

    /// The one send path: make room (or wait for it, or give up when `wait` is false),
    /// queue with `put`, then write what the transport takes now.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        wait: bool,
        put: &mut dyn FnMut(&mut SendQueue<Response>) -> Result<(), SendError>,
    ) -> Poll<Result<(), SendError>> {
        let mut queue = self.lock();
        if !queue.accepts() {
            return Poll::Ready(Err(SendError::Closed));
        }
        // Sends from the connection's own task leave what they cannot write to the
        // driver, which writes it as soon as the handler waits; others wake the driver.
        let driver = queue.is_driver(cx.waker());
        if !queue.has_room() {
            if let Poll::Ready(Err(e)) = queue.poll_flush(cx) {
                self.write_failed(&e);
                return Poll::Ready(Err(SendError::Io(e)));
            }
            self.sync_pending(&queue);
            if !queue.has_room() {
                if !wait {
                    if !driver {
                        queue.wake_driver();
                    }
                    return Poll::Ready(Err(SendError::Full));
                }
                queue.count_send_wait(cx.waker());
                queue.wait(cx);
                return Poll::Pending;
            }
        }
        put(&mut queue)?;
        self.shared.pending.store(true, Ordering::Relaxed);
        if driver && self.shared.flags.batching.load(Ordering::Relaxed) && queue.has_room() {
            // Gathered: written with the responses to the requests already here.
            return Poll::Ready(Ok(()));
        }
        match queue.poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.shared.pending.store(false, Ordering::Relaxed);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                self.write_failed(&e);
                Poll::Ready(Err(SendError::Io(e)))
            }
            Poll::Pending => {
                if !driver {
                    queue.wake_driver();
                }
                Poll::Ready(Ok(()))
            }
        }
    }

    fn sync_pending(&self, queue: &SendQueue<Response>) {
        self.shared
            .pending
            .store(queue.len() != 0, Ordering::Relaxed);
    }

    /// The send side failed: the connection ends (quietly, if the peer is just gone).
    fn write_failed(&self, error: &io::Error) {
        self.shared.pending.store(false, Ordering::Relaxed);
        let reason = if is_disconnect(error) {
            EndReason::PeerGone
        } else {
            EndReason::TransportError
        };
        if self.end_with(reason) {
            tracing::debug!(client = %self.remote_address(), %error, "write failed, closing the connection");
        }
        self.mark_closing();
    }

    /// Waits until every packet queued so far is written.
    ///
    /// # Errors
    /// [`SendError::Closed`] once the connection has ended (or [`close`](Self::close) was
    /// called); [`SendError::Io`] if writing failed.
    pub async fn flush(&self) -> Result<(), SendError> {
        poll_fn(|cx| {
            let mut queue = self.lock();
            if queue.is_closed() {
                return Poll::Ready(Err(SendError::Closed));
            }
            if !self.shared.pending.load(Ordering::Relaxed) {
                return Poll::Ready(Ok(()));
            }
            match queue.poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.shared.pending.store(false, Ordering::Relaxed);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => {
                    self.write_failed(&e);
                    Poll::Ready(Err(SendError::Io(e)))
                }
                Poll::Pending => {
                    queue.wait(cx);
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Closes the connection: the packets queued are written, the write side is shut
    /// down (over TLS, `close_notify` is sent first), and the server stops reading from
    /// this client. No new request is handed to the handler and no new `handle` starts;
    /// `on_disconnection` still runs. Later [`send_packet`](Self::send_packet) calls fail
    /// with [`SendError::Closed`]. Callable from any clone, any number of times.
    ///
    /// Bounded: writing stops when the peer takes nothing for the write timeout, over TLS
    /// after [`tls_shutdown_timeout`](crate::TcpServerBuilder::tls_shutdown_timeout), and
    /// during a server shutdown at its bound; the connection is then dropped.
    pub async fn close(&self) {
        self.end_with(EndReason::Closed);
        self.mark_closing();
        {
            // No send is taken from now on, and the driver stops handing requests over
            // at once, whichever task closes.
            let mut queue = self.lock();
            queue.refuse_new();
            queue.wake_driver();
        }
        self.finish().await;
    }

    /// Closes the connection at once, without writing what is queued (it is dropped)
    /// and, over TLS, without `close_notify`: for a peer you give up on (one that reads
    /// too slowly, say), where [`close`](Self::close) would wait for the queue to drain,
    /// up to the write timeout. As after `close`, no request is handed over any more,
    /// `on_disconnection` runs, and later sends fail with [`SendError::Closed`].
    pub fn close_now(&self) {
        self.end_with(EndReason::Closed);
        self.mark_closing();
        self.shared.pending.store(false, Ordering::Relaxed);
        self.lock().close();
    }

    /// Writes what is queued and shuts the transport down, within the bounds `close`
    /// documents, then drops the send side.
    pub(crate) async fn finish(&self) {
        {
            let mut queue = self.lock();
            if queue.is_closed() {
                return;
            }
            queue.refuse_new();
        }
        let finish = async {
            let _ = self.flush().await;
            let _ = poll_fn(|cx| self.lock().poll_shutdown(cx)).await;
        };
        if self
            .bounded(finish, self.shared.close_timeout)
            .await
            .is_none()
        {
            match self.shared.close_timeout {
                Some(timeout) => tracing::debug!(
                    client = %self.remote_address(),
                    "TLS close_notify not sent within {timeout:?} (or by the shutdown's \
                     bound), dropping the connection"
                ),
                None => tracing::debug!(
                    client = %self.remote_address(),
                    "the connection did not close by the shutdown's bound, dropping it"
                ),
            }
        }
        self.shared.pending.store(false, Ordering::Relaxed);
        self.lock().close();
    }

    /// Runs `future` until it ends (`Some`), or until `limit` has passed or the server's
    /// shutdown bound has passed (`None`). A queue that makes no progress for the write
    /// timeout meanwhile is dropped (its sends then fail), so `future` cannot wait on a
    /// peer that does not read.
    pub(crate) async fn bounded<F: Future>(
        &self,
        future: F,
        limit: Option<Duration>,
    ) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        let fixed = limit.map(|t| Instant::now() + t);
        let mut started = std::pin::pin!(self.shared.shutdown.started());
        let (mut stall, mut alarm) = (Alarm::default(), Alarm::default());
        poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            if stall.poll(cx, self.stall_deadline()).is_ready() {
                self.write_timed_out();
                // The future sees its queue gone: poll it again.
                cx.waker().wake_by_ref();
            }
            let _ = started.as_mut().poll(cx);
            let deadline = earliest(fixed, self.shared.shutdown.close_deadline());
            alarm.poll(cx, deadline).map(|()| None)
        })
        .await
    }

    /// When the write timeout ends the connection, if its queue is stalled now.
    pub(crate) fn stall_deadline(&self) -> Option<Instant> {
        let timeout = self.shared.write_timeout?;
        if !self.shared.pending.load(Ordering::Relaxed) {
            return None;
        }
        self.lock().stalled_since().map(|since| since + timeout)
    }

    /// The driver's part: makes its waker the flusher of last resort.
    pub(crate) fn register_driver(&self, cx: &Context<'_>) {
        self.lock().register_driver(cx.waker());
    }

    /// The driver's part: writes what is queued, registering for the transport's
    /// readiness if it cannot all go now. A failure ends the connection
    /// ([`is_lost`](Self::is_lost)).
    pub(crate) fn poll_write_queued(&self, cx: &mut Context<'_>) {
        if !self.shared.pending.load(Ordering::Relaxed) {
            return;
        }
        let mut queue = self.lock();
        queue.register_driver(cx.waker());
        match queue.poll_flush(cx) {
            Poll::Ready(Ok(())) => self.shared.pending.store(false, Ordering::Relaxed),
            Poll::Ready(Err(e)) => self.write_failed(&e),
            Poll::Pending => {}
        }
    }

    /// Whether packets are queued, not yet written.
    pub(crate) fn has_queued(&self) -> bool {
        self.shared.pending.load(Ordering::Relaxed)
    }

    /// Whether the connection is lost: the peer left, the transport failed, or the peer
    /// read nothing for the write timeout. The handler is then dropped at once.
    pub(crate) fn is_lost(&self) -> bool {
        matches!(
            self.end_reason(),
            EndReason::PeerGone | EndReason::TransportError | EndReason::WriteTimeout
        )
    }

    /// The driver's part: the peer took nothing for the write timeout.
    pub(crate) fn write_timed_out(&self) {
        if self.end_with(EndReason::WriteTimeout) {
            self.shared.metrics.timeout(Timeout::Write);
            tracing::debug!(
                client = %self.remote_address(),
                "the peer read nothing for the write timeout, closing the connection"
            );
        }
        self.mark_closing();
        self.shared.pending.store(false, Ordering::Relaxed);
        self.lock().close();
    }

    /// Whether the connection is closing or closed: [`close`](Self::close) was called, or
    /// the connection is ending (the peer left, the server shuts down). The how-to's
    /// `client.is_closing()`.
    pub fn is_closing(&self) -> bool {
        self.shared.flags.closing.load(Ordering::Acquire)
    }

    /// This connection's id, unique in the process.
    pub fn id(&self) -> ClientId {
        self.shared.id
    }

    /// The client's IP address and port; `0.0.0.0:0` for a client of another kind (a
    /// Unix socket: see [`remote_address`](Self::remote_address)).
    pub fn remote_addr(&self) -> SocketAddr {
        self.shared.peer.remote.inet_or_unspecified()
    }

    /// The server's IP address and port this client connected to; `0.0.0.0:0` for a
    /// client of another kind (see [`local_address`](Self::local_address)).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.peer.local.inet_or_unspecified()
    }

    /// The client's address, whatever the transport (an IP address and port, a Unix
    /// socket's path, ...).
    pub fn remote_address(&self) -> &Address {
        &self.shared.peer.remote
    }

    /// The server's address this client connected to, whatever the transport.
    pub fn local_address(&self) -> &Address {
        &self.shared.peer.local
    }

    /// The credentials (user, group, process) of the process at the other end, for a
    /// Unix-socket client; `None` otherwise.
    pub fn peer_credentials(&self) -> Option<PeerCredentials> {
        self.shared.peer.credentials
    }

    /// The proxy's address, for a connection that came through a trusted proxy with a
    /// PROXY protocol header ([`TcpServerBuilder::proxy_protocol`](crate::TcpServerBuilder::proxy_protocol));
    /// [`remote_address`](Self::remote_address) is then the client's. `None` for a
    /// direct connection.
    pub fn proxy_address(&self) -> Option<&Address> {
        self.proxy().map(crate::transport::ProxyInfo::proxy_address)
    }

    /// What the PROXY protocol header said (its version, addresses and v2 TLVs: ALPN,
    /// authority, unique id), for a connection that came through a trusted proxy.
    pub fn proxy(&self) -> Option<&crate::transport::ProxyInfo> {
        self.shared.peer.proxy.as_deref()
    }

    /// Whether `TCP_NODELAY` is on for this connection (the server turns it on for every
    /// accepted socket).
    pub fn nodelay(&self) -> bool {
        self.shared.peer.nodelay
    }

    /// What the TLS handshake negotiated (protocol version, cipher suite, the client's
    /// certificates with mutual TLS); `None` for a plain TCP connection.
    ///
    /// ```
    /// # use easynet::{handler, recv, HandlerError, StreamClient, StreamRequestHandler};
    /// # struct WhoAmI;
    /// # impl StreamRequestHandler for WhoAmI {
    /// #     type Request = String;
    /// #     type Response = String;
    /// #[handler]
    /// async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
    ///     let _request = recv!()?;
    ///     let answer = match client.tls() {
    ///         Some(tls) => format!(
    ///             "{:?} {:?}, {} client certificate(s)",
    ///             tls.protocol_version(),
    ///             tls.cipher_suite(),
    ///             tls.peer_certificates().len()
    ///         ),
    ///         None => "plain TCP".to_owned(),
    ///     };
    ///     client.send_packet(&answer).await?;
    ///     Ok(())
    /// }
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(&self) -> Option<&crate::transport::tls::TlsInfo> {
        self.shared.tls.as_deref()
    }

    /// The negotiated TLS version, for logs (`None` without TLS).
    pub(crate) fn tls_version(&self) -> Option<String> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.shared.tls {
            return Some(format!("{:?}", tls.protocol_version()));
        }
        None
    }

    /// The flags the connection's request slot shares.
    pub(crate) fn flags(&self) -> Arc<ClientFlags> {
        Arc::clone(&self.shared.flags)
    }

    /// Marks the connection as ending: no further request is handed to the handler, and
    /// no new `handle` body starts.
    pub(crate) fn mark_closing(&self) {
        self.shared.flags.closing.store(true, Ordering::Release);
    }

    /// Records why the connection ended; the first reason stays. Whether this one did.
    pub(crate) fn end_with(&self, reason: EndReason) -> bool {
        self.shared
            .end
            .compare_exchange(
                EndReason::Open as u8,
                reason as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Why the connection ended, so far.
    pub(crate) fn end_reason(&self) -> EndReason {
        EndReason::from_u8(self.shared.end.load(Ordering::Acquire))
    }

    /// The server's shutdown, as this connection sees it.
    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.shared.shutdown
    }

    /// The server's metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }
}

/// Shows an address as `127.0.0.1:9000` in a `Debug` struct, as `SocketAddr`'s own
/// `Debug` does.
struct DisplayAsDebug<'a>(&'a Address);

impl fmt::Debug for DisplayAsDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

impl<Response> fmt::Debug for StreamClient<Response> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamClient")
            .field("remote_addr", &DisplayAsDebug(&self.shared.peer.remote))
            .field("local_addr", &DisplayAsDebug(&self.shared.peer.local))
            .field("closing", &self.is_closing())
            .finish()
    }
}
