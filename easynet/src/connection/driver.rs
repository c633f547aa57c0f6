//! [`Driver`]: runs one connection's conversation, reading a request each time a
//! `recv!()` waits for one, and writing what the handler queued.
//!
//! The driver alternates between two waits, and each is bounded by what the user set:
//! - **The handler runs** (a resume of the conversation): bounded by the shutdown's grace
//!   period (measured once, from `shutdown()`) and by the write timeout. Whenever the
//!   handler awaits something that is not ready (a timer, a database, another task, room
//!   in the send queue), the driver writes what it queued: responses gathered while
//!   pipelined requests were waiting are never held back by work.
//! - **The handler waits in `recv!()`**: the driver reads and decodes, and at the same
//!   time writes what is queued (a peer that does not read cannot stop the read, nor the
//!   `recv!(timeout)`), until a request, the timeout, the peer's end, a close, the
//!   shutdown, its turn in a drain, or the write timeout.
//!
//! In a drain (before the shutdown), a connection takes its turn the first time it waits
//! for a request and nothing is left to read; from that moment on it ends as soon as it
//! is idle (waiting in `recv!()`, no request buffered or half received). A busy handler
//! is never interrupted by a drain: it finishes its request first.

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::{Instant, Sleep};
use tokio_util::codec::Decoder;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::alarm::Alarm;
use super::client::{EndReason, StreamClient};
use super::generator::{Conversation, RecvParams};
use super::reader::{Fill, RequestReader};
use super::recv::{RecvError, RecvSlot};
use crate::error::ProtocolError;
use crate::metrics::Timeout;
use crate::transport::ReadHalf;

/// Drives one connection; see the module docs.
pub(crate) struct Driver<'c, Response, R, D: Decoder> {
    client: &'c StreamClient<Response>,
    reader: RequestReader<R, D>,
    /// The server's drain or shutdown, as one future kept for the connection's life:
    /// once it has registered its waker, a later wait only checks it, where a new future
    /// per wait would register and unregister (two locks of the token's shared waiter
    /// list). It waits for the drain (which the shutdown also triggers) until
    /// `drain_seen`, then for the shutdown itself.
    stop: Pin<Box<WaitForCancellationFutureOwned>>,
    /// A drain began: `stop` now waits for the shutdown.
    drain_seen: bool,
    /// This connection's turn to close in the drain, once taken.
    drain_turn: Option<Instant>,
    drain: Alarm,
    /// The write timeout.
    stall: Alarm,
    limits: ReadLimits,
    /// When the partial request now buffered was first seen.
    frame_since: Option<Instant>,
    frame: Alarm,
    idle: Alarm,
}

/// How long a peer may take to send, while a `recv!()` without a timeout of its own
/// waits.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadLimits {
    /// A request whose first bytes arrived must be complete within this.
    pub(crate) frame_timeout: Option<Duration>,
    /// A connection with no request in progress and nothing to write is closed after
    /// this.
    pub(crate) idle_timeout: Option<Duration>,
}

impl<'c, Response, R, D> Driver<'c, Response, R, D>
where
    R: ReadHalf,
    D: Decoder<Error = ProtocolError>,
{
    pub(crate) fn new(
        client: &'c StreamClient<Response>,
        reader: RequestReader<R, D>,
        limits: ReadLimits,
    ) -> Self {
        Driver {
            client,
            stop: Box::pin(client.shutdown().draining()),
            drain_seen: false,
            drain_turn: None,
            drain: Alarm::default(),
            reader,
            stall: Alarm::default(),
            limits,
            frame_since: None,
            frame: Alarm::default(),
            idle: Alarm::default(),
        }
    }

    /// Resumes the conversation until it ends, receiving a request each time a `recv!()`
    /// waits for one. Returns when the conversation is over or must be dropped.
    pub(crate) async fn drive<F>(
        &mut self,
        mut conversation: Conversation<F>,
        slot: &RecvSlot<D::Item>,
    ) where
        F: Future<Output = ()> + Send,
    {
        let client = self.client;
        // From now on, sends made by the handler (which runs in this task) are told
        // apart from other tasks' sends, and queued bytes have a flusher.
        poll_fn(|cx| {
            client.register_driver(cx);
            Poll::Ready(())
        })
        .await;
        while let Some(params) = self.resume(&mut conversation).await {
            if client.is_closing() {
                return;
            }
            if client.shutdown().is_started() {
                client.end_with(EndReason::Shutdown);
                client.mark_closing();
                return;
            }
            let Some(first) = self.next_request(params.timeout).await else {
                return;
            };
            // The requests already decodable go along: `recv!()` takes them without
            // another trip through the generator.
            slot.deliver(first, &mut self.reader);
        }
    }

    /// Resumes the conversation, catching panics. `None`: it ended or must be dropped
    /// (the connection is lost, or the shutdown's grace period is over).
    async fn resume<F>(&mut self, conversation: &mut Conversation<F>) -> Option<RecvParams>
    where
        F: Future<Output = ()> + Send,
    {
        let client = self.client;
        let mut resumed = pin!(AssertUnwindSafe(conversation.resume()).catch_unwind());
        let mut grace = Alarm::default();
        let outcome = poll_fn(|cx| {
            if let Poll::Ready(resumed) = resumed.as_mut().poll(cx) {
                return Poll::Ready(Some(resumed));
            }
            // The handler awaits something that is not ready: what it queued goes out.
            client.poll_write_queued(cx);
            if self.poll_stall(cx) || client.is_lost() {
                return Poll::Ready(None);
            }
            if self.poll_shutdown(cx) {
                // No request is handed over any more; the handler finishes this one.
                client.mark_closing();
                if grace
                    .poll(cx, client.shutdown().grace_deadline())
                    .is_ready()
                {
                    tracing::warn!(
                        client = %client.remote_address(),
                        "request handler still busy after the shutdown timeout, dropping it"
                    );
                    client.end_with(EndReason::Shutdown);
                    return Poll::Ready(None);
                }
            }
            Poll::Pending
        })
        .await;
        match outcome? {
            Ok(params) => params,
            Err(panic) => {
                tracing::error!(
                    client = %client.remote_address(),
                    panic = %panic_message(&*panic),
                    "request handler panicked, closing the connection"
                );
                None
            }
        }
    }

    /// The next request, waiting at most `timeout`. `Some(Err(Timeout))` when it
    /// expired; `None` when the connection ends (the peer left or was too slow, a close,
    /// the shutdown, the write timeout). A request already buffered costs no clock read
    /// and no timer, but one unit of tokio's cooperative budget: a connection whose
    /// buffer holds many requests yields to other tasks as any tokio resource does.
    async fn next_request(
        &mut self,
        timeout: Option<Duration>,
    ) -> Option<Result<D::Item, RecvError>> {
        let client = self.client;
        let mut expiry = pin!(None::<Sleep>);
        // The frame and idle timeouts watch the peer only while the handler waits
        // without a timeout of its own: `recv!(timeout = ..)` takes precedence.
        let watch_peer = timeout.is_none();
        let mut idle_since = None;
        poll_fn(|cx| {
            let coop = ready!(tokio::task::coop::poll_proceed(cx));
            if let Some(item) = self.reader.next_decoded() {
                coop.made_progress();
                self.frame_since = None;
                return Poll::Ready(Some(item));
            }
            // What is queued goes out first, and goes on going out while we read.
            client.poll_write_queued(cx);
            if client.is_closing() {
                return Poll::Ready(None);
            }
            if client.shutdown().is_started() {
                return Poll::Ready(self.shut_down());
            }
            loop {
                match self.reader.poll_fill(cx) {
                    Poll::Ready(Fill::Data) => {
                        if let Some(item) = self.reader.next_decoded() {
                            coop.made_progress();
                            self.frame_since = None;
                            return Poll::Ready(Some(item));
                        }
                    }
                    Poll::Ready(Fill::Closed) => {
                        client.end_with(EndReason::PeerGone);
                        return Poll::Ready(None);
                    }
                    Poll::Pending => break,
                }
            }
            if let Some(timeout) = timeout
                && expiry.is_none()
            {
                expiry.set(Some(tokio::time::sleep_until(Instant::now() + timeout)));
            }
            if let Some(expiry) = expiry.as_mut().as_pin_mut()
                && expiry.poll(cx).is_ready()
            {
                client.metrics().timeout(Timeout::Recv);
                return Poll::Ready(Some(Err(RecvError::Timeout)));
            }
            if self.poll_stall(cx) || (watch_peer && self.poll_slow_peer(cx, &mut idle_since)) {
                return Poll::Ready(None);
            }
            if self.poll_shutdown(cx) {
                return Poll::Ready(self.shut_down());
            }
            if self.drain_seen && self.poll_drain_turn(cx) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    /// In a drain, whether this idle connection's turn has come (it then ends). Nothing
    /// decodable is buffered here; a request half received is waited for (the frame
    /// timeout and the shutdown bound that).
    fn poll_drain_turn(&mut self, cx: &mut Context<'_>) -> bool {
        let client = self.client;
        if self.drain_turn.is_none() {
            self.drain_turn = client.shutdown().drain_turn();
        }
        if self.drain.poll(cx, self.drain_turn).is_pending() || self.reader.has_partial() {
            return false;
        }
        tracing::debug!(client = %client.remote_address(), "drained, closing the connection");
        client.end_with(EndReason::Drained);
        client.mark_closing();
        true
    }

    /// Whether the peer is too slow: a partial request older than the frame timeout, or
    /// nothing in progress either way for the idle timeout (the connection then ends).
    fn poll_slow_peer(&mut self, cx: &mut Context<'_>, idle_since: &mut Option<Instant>) -> bool {
        let client = self.client;
        let expired = if self.reader.has_partial() {
            *idle_since = None;
            let Some(limit) = self.limits.frame_timeout else {
                return false;
            };
            let since = *self.frame_since.get_or_insert_with(Instant::now);
            self.frame.poll_lazy(cx, Some(since + limit)).is_ready()
                && {
                    client.metrics().timeout(Timeout::Frame);
                    tracing::debug!(
                        client = %client.remote_address(),
                        "a request not completed within the frame timeout ({limit:?}), closing the connection"
                    );
                    true
                }
        } else if client.has_queued() {
            // Something to write: the write timeout watches that.
            *idle_since = None;
            false
        } else {
            let Some(limit) = self.limits.idle_timeout else {
                return false;
            };
            let since = *idle_since.get_or_insert_with(Instant::now);
            self.idle.poll_lazy(cx, Some(since + limit)).is_ready() && {
                client.metrics().timeout(Timeout::Idle);
                tracing::debug!(
                    client = %client.remote_address(),
                    "idle for the idle timeout ({limit:?}), closing the connection"
                );
                true
            }
        };
        if expired {
            client.end_with(EndReason::SlowPeer);
            client.mark_closing();
        }
        expired
    }

    /// Drops the input nobody will handle, so that closing ends the stream in order
    /// instead of resetting it; see [`RequestReader::discard_unread`].
    pub(crate) fn discard_unread(&mut self) {
        self.reader.discard_unread();
    }

    /// A connection waiting for a request when the server shuts down ends at once.
    fn shut_down(&self) -> Option<Result<D::Item, RecvError>> {
        self.client.end_with(EndReason::Shutdown);
        self.client.mark_closing();
        None
    }

    /// Whether the peer has taken nothing for the write timeout (the connection is then
    /// ended).
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> bool {
        let stalled = self.stall.poll(cx, self.client.stall_deadline()).is_ready();
        if stalled {
            self.client.write_timed_out();
        }
        stalled
    }

    /// Whether the server's shutdown has begun (registering for it otherwise). Notes a
    /// drain on the way (`drain_seen`).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> bool {
        let shutdown = self.client.shutdown();
        if shutdown.is_started() {
            return true;
        }
        if !self.drain_seen {
            if self.stop.as_mut().poll(cx).is_pending() {
                return false;
            }
            // A drain began, or the shutdown did just now.
            self.drain_seen = true;
            if shutdown.is_started() {
                return true;
            }
            self.stop = Box::pin(shutdown.started());
        }
        self.stop.as_mut().poll(cx).is_ready()
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
