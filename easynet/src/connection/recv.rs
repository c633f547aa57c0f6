//! What `recv!()` is made of: the connection's [`RecvSlot`], where the driver puts the
//! requests it decoded, the body-side [`Recv`] handle, and [`Handler`], the body of a
//! `#[handler]` fn.
//!
//! # Requests already received skip the round trip
//!
//! When the bytes of several requests arrived together (a client pipelining), the driver
//! decodes them all into the slot's inbox at once, up to [`INBOX_CAPACITY`]. A `recv!()`
//! that finds a request waiting there takes it without suspending: it would come back at
//! once anyway, and a suspension costs a trip through genawaiter's shared cell and the
//! driver. It still suspends (and the driver stops the connection) once the client is
//! closing, as it would have.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Poll, ready};

use super::client::ClientFlags;
use super::generator::{RecvParams, Suspender};
use crate::error::{HandlerError, ParseError};

/// The most requests decoded ahead into a connection's inbox: enough that a burst read
/// in one call is handed over in one resume, few enough that a burst of tiny requests
/// does not turn into a long queue of decoded packets.
pub(crate) const INBOX_CAPACITY: usize = 32;

/// Why `recv!()` gave no request. The handler goes on after either: the connection stays
/// usable.
///
/// A disconnect is never a `RecvError`: when the peer goes away (or the server shuts
/// down) while the handler waits in `recv!()`, the generator is dropped instead, so guards
/// and `Drop` impls in the handler run (Python's `GeneratorExit`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The next frame could not be decoded (bad data, or a frame over the protocol's
    /// size limit). The frame is discarded; the next one is decoded normally.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// No complete request arrived within the `recv!(timeout = ..)` delay. Bytes of a
    /// partial request already received are kept for the next `recv!()`.
    #[error("timed out waiting for a request")]
    Timeout,
}

impl RecvError {
    /// Is this a [`RecvError::Timeout`]?
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvError::Timeout)
    }

    /// Is this a [`RecvError::Parse`]?
    pub fn is_parse(&self) -> bool {
        matches!(self, RecvError::Parse(_))
    }
}

/// Requests received and decoded, not yet handed over: the driver's reader.
pub(crate) trait BufferedRequests<Request> {
    /// The next one, without reading from the network.
    fn next_buffered(&mut self) -> Option<Result<Request, RecvError>>;
    /// Whether [`next_buffered`](Self::next_buffered) would give one.
    fn has_buffered_request(&self) -> bool;
}

/// Where the server puts the requests that `recv!()` takes.
///
/// One per connection, owned by the server's connection task and lent to every body of
/// that connection (the `#[handler]`-generated methods take it as a hidden parameter).
pub struct RecvSlot<Request> {
    /// The connection's generator, set when its conversation starts.
    suspender: OnceLock<Suspender>,
    inbox: Mutex<Inbox<Request>>,
    /// How many results `recv!()` has taken, ever: tells whether a body received any.
    taken: AtomicU64,
    /// How many results the inbox holds, mirrored outside its lock, so that a
    /// `recv!()` that finds nothing waiting (the common case when requests do not
    /// arrive together) does not take the lock to learn it.
    waiting: AtomicUsize,
    /// The client's `closing` and `batching` flags.
    flags: Arc<ClientFlags>,
}

struct Inbox<Request> {
    /// Results for `recv!()`, in order.
    items: VecDeque<Result<Request, RecvError>>,
    /// The driver's reader holds a further complete request beyond `items`.
    more_buffered: bool,
}

impl<Request> RecvSlot<Request> {
    pub(crate) fn new(flags: Arc<ClientFlags>) -> Self {
        RecvSlot {
            suspender: OnceLock::new(),
            inbox: Mutex::new(Inbox {
                items: VecDeque::new(),
                more_buffered: false,
            }),
            taken: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            flags,
        }
    }

    /// Connects the slot to its conversation's generator; once per slot.
    pub(crate) fn attach(&self, suspender: Suspender) {
        if self.suspender.set(suspender).is_err() {
            unreachable!("easynet: a connection's RecvSlot started a second conversation");
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inbox<Request>> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next result, if one is waiting. Tells the client whether responses may still
    /// be gathered: only while further requests are already here.
    fn take(&self) -> Option<Result<Request, RecvError>> {
        let mut inbox = self.lock();
        let item = inbox.items.pop_front()?;
        self.waiting.store(inbox.items.len(), Ordering::Relaxed);
        // Only ever written under the inbox lock: a plain increment, no atomic
        // read-modify-write (which costs as much as the lock itself).
        let taken = self.taken.load(Ordering::Relaxed);
        self.taken.store(taken + 1, Ordering::Relaxed);
        let more = !inbox.items.is_empty() || inbox.more_buffered;
        self.flags.batching.store(more, Ordering::Relaxed);
        Some(item)
    }

    /// A result already waiting, unless the client is closing (then `recv!()` suspends,
    /// and the driver ends the connection).
    fn take_waiting(&self) -> Option<Result<Request, RecvError>> {
        if self.waiting.load(Ordering::Relaxed) == 0 || self.flags.closing.load(Ordering::Acquire) {
            return None;
        }
        self.take()
    }

    /// Whether a result is waiting (without its lock).
    fn has_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) != 0
    }

    fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// Hands results over to `recv!()`: `first`, then those already received that
    /// `source` gives, while the inbox has room.
    pub(crate) fn deliver(
        &self,
        first: Result<Request, RecvError>,
        source: &mut impl BufferedRequests<Request>,
    ) {
        let mut inbox = self.lock();
        inbox.items.push_back(first);
        while inbox.items.len() < INBOX_CAPACITY {
            match source.next_buffered() {
                Some(item) => inbox.items.push_back(item),
                None => break,
            }
        }
        inbox.more_buffered = source.has_buffered_request();
        self.waiting.store(inbox.items.len(), Ordering::Relaxed);
    }

    /// Returns once a result is waiting, suspending the conversation (as "between two
    /// bodies") if none is: a datagram conversation starts each `handle` body only when
    /// its address's next datagram is here.
    pub(crate) async fn wait_for_request(&self) {
        if self.has_waiting() {
            return;
        }
        self.suspend(RecvParams {
            timeout: None,
            between: true,
        })
        .await;
    }

    /// Drops the first waiting result, unseen: the datagram of a body that returned
    /// before its first `recv!()`.
    pub(crate) fn discard_first(&self) {
        let mut inbox = self.lock();
        inbox.items.pop_front();
        self.waiting.store(inbox.items.len(), Ordering::Relaxed);
    }

    fn suspend(&self, params: RecvParams) -> impl Future<Output = ()> + '_ {
        self.suspender
            .get()
            .expect("easynet: recv!() outside a running connection")
            .suspend(params)
    }
}

impl<Request> std::fmt::Debug for RecvSlot<Request> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvSlot").finish_non_exhaustive()
    }
}

/// The body side of `recv!()`: the macro rewrites each `recv!(..)` into
/// `Recv::recv(&handle, params).await`.
#[doc(hidden)]
pub struct Recv<'a, Request> {
    slot: &'a RecvSlot<Request>,
}

impl<Request> Recv<'_, Request> {
    #[doc(hidden)]
    pub async fn recv(&self, params: RecvParams) -> Result<Request, RecvError> {
        if let Some(item) = self.take_waiting().await {
            return item;
        }
        self.slot.suspend(params).await;
        self.slot.take().expect(
            "easynet: the generator was resumed without a request (two `recv!()` awaited at once?)",
        )
    }
}

impl<Request> Recv<'_, Request> {
    /// A request already waiting in the inbox, taken for one unit of tokio's cooperative
    /// budget (a burst of pipelined requests yields to other tasks like any tokio
    /// resource); `None` when the inbox is empty or the client is closing.
    async fn take_waiting(&self) -> Option<Result<Request, RecvError>> {
        if !self.slot.has_waiting() {
            return None;
        }
        poll_fn(|cx| {
            let coop = ready!(tokio::task::coop::poll_proceed(cx));
            let item = self.slot.take_waiting();
            if item.is_some() {
                coop.made_progress();
            }
            Poll::Ready(item)
        })
        .await
    }
}

/// A request handler's body: what a [`#[handler]`](crate::handler) fn returns.
///
/// `F` is the body's future (its type is never written: the trait names it
/// `impl Future`). You do not build or drive one yourself: the server runs it inside the
/// connection's generator, which it resumes up to each `recv!()`, decodes the next
/// request, hands it over and resumes again, until the body returns.
pub struct Handler<'a, Request, F: Future> {
    body: F,
    slot: &'a RecvSlot<Request>,
}

/// How a body ended.
pub(crate) struct Finished {
    pub(crate) result: Result<(), HandlerError>,
    /// Whether it took at least one result from `recv!()`.
    pub(crate) received: bool,
}

impl<'a, Request, F> Handler<'a, Request, F>
where
    F: Future<Output = Result<(), HandlerError>> + Send,
{
    /// Wraps a body that receives through `slot`. Used by the `#[handler]` expansion.
    #[doc(hidden)]
    pub fn new(slot: &'a RecvSlot<Request>, body: impl FnOnce(Recv<'a, Request>) -> F) -> Self {
        Handler {
            body: body(Recv { slot }),
            slot,
        }
    }

    /// Runs the body to its end, inside the connection's conversation.
    pub(crate) async fn run(self) -> Finished {
        let before = self.slot.taken();
        let result = self.body.await;
        Finished {
            result,
            received: self.slot.taken() != before,
        }
    }
}

impl<Request, F: Future> std::fmt::Debug for Handler<'_, Request, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler").finish_non_exhaustive()
    }
}
