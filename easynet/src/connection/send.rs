//! The send queue of a connection: the encoder, the bytes not yet written, and the
//! transport's write half, behind the client handle's lock.
//!
//! Its rules, which every clone of a [`StreamClient`](super::StreamClient) and the
//! connection's driver follow:
//! - **Bounded.** A packet is encoded only while fewer than `high_water` bytes are queued,
//!   so the queue never holds more than the mark plus one packet.
//! - **Whole packets.** A packet is encoded in one synchronous step, so the queue holds
//!   whole frames: a cancelled send leaves nothing or its whole packet, and an encoder that
//!   fails or panics leaves nothing (its partial bytes are cut off).
//! - **One flusher of last resort.** Anyone holding the lock may write. The connection's
//!   driver registers its waker here; a sender from another task that leaves bytes
//!   queued wakes it, so queued bytes are always written even if that sender is dropped.
//! - **Progress is tracked.** The time the queue last stopped making progress lets the
//!   driver end a connection whose peer does not read (the write timeout).

use crate::metrics::Metrics;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;
use tokio::time::Instant;
use tokio_util::codec::Encoder;

use crate::error::{ProtocolError, SendError};

pub(crate) type BoxedEncoder<Response> =
    Box<dyn for<'a> Encoder<&'a Response, Error = ProtocolError> + Send>;
pub(crate) type BoxedWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// A queue that grew past this (a large response, or many gathered ones) is freed once
/// written, so an idle connection keeps no large buffer.
const SHRINK_ABOVE: usize = 16 * 1024;

/// What is still open of the send side; dropped as a whole when the connection ends, so
/// that a client handle kept afterwards holds no socket and no buffer.
struct Open<Response> {
    io: BoxedWriter,
    encoder: BoxedEncoder<Response>,
    buf: BytesMut,
    /// The transport buffers what it is given (TLS): flush it after writing. A TCP
    /// socket does not, so the plain path skips the call.
    flush_io: bool,
    /// The buffer grew past `SHRINK_ABOVE`. Its capacity alone cannot tell once bytes
    /// are written (writing advances the buffer's start, and the capacity left shrinks
    /// with it), so this remembers to free it once it is empty.
    grown: bool,
}

/// The send queue; see the module docs.
pub(crate) struct SendQueue<Response> {
    open: Option<Open<Response>>,
    high_water: usize,
    /// Senders and flushers waiting for room or for the queue to empty.
    waiters: Vec<Waker>,
    /// The connection driver's waker: the flusher of last resort.
    driver: Option<Waker>,
    /// Since when the queue holds bytes the transport does not take.
    stalled_since: Option<Instant>,
    /// The connection is closing: what is queued is still written, nothing more is
    /// taken.
    refusing: bool,
    metrics: Metrics,
}

impl<Response> SendQueue<Response> {
    pub(crate) fn new(io: BoxedWriter, encoder: BoxedEncoder<Response>, high_water: usize) -> Self {
        SendQueue {
            open: Some(Open {
                io,
                encoder,
                buf: BytesMut::new(),
                flush_io: false,
                grown: false,
            }),
            high_water: high_water.max(1),
            waiters: Vec::new(),
            driver: None,
            stalled_since: None,
            refusing: false,
            metrics: Metrics::default(),
        }
    }

    /// Counts packets and bytes sent in the server's metrics.
    pub(crate) fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// A send finds the queue full and starts waiting with this waker: counted once per
    /// wait (later polls of the same send find its waker registered).
    pub(crate) fn count_send_wait(&self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.metrics.send_wait();
        }
    }

    /// The transport buffers what it is given (TLS): flush it after each write.
    #[cfg(feature = "tls")]
    pub(crate) fn flush_transport(&mut self) {
        if let Some(open) = &mut self.open {
            open.flush_io = true;
        }
    }

    /// Whether the send side is gone (closed, failed, or the connection ended).
    pub(crate) fn is_closed(&self) -> bool {
        self.open.is_none()
    }

    /// Whether a new packet may be queued (the send side is open and not closing).
    pub(crate) fn accepts(&self) -> bool {
        self.open.is_some() && !self.refusing
    }

    /// Takes no new packet from now on; what is queued is still written.
    pub(crate) fn refuse_new(&mut self) {
        self.refusing = true;
    }

    /// How many bytes are queued.
    pub(crate) fn len(&self) -> usize {
        self.open.as_ref().map_or(0, |open| open.buf.len())
    }

    /// Whether a packet may be queued now without passing the high-water mark.
    pub(crate) fn has_room(&self) -> bool {
        self.len() < self.high_water
    }

    /// Since when the queue has made no progress, if it holds bytes it cannot write.
    pub(crate) fn stalled_since(&self) -> Option<Instant> {
        self.stalled_since
    }

    /// Is `waker` the connection driver's (is the caller running in the connection's
    /// own task)?
    pub(crate) fn is_driver(&self, waker: &Waker) -> bool {
        self.driver.as_ref().is_some_and(|d| d.will_wake(waker))
    }

    /// Makes `waker` the flusher of last resort.
    pub(crate) fn register_driver(&mut self, waker: &Waker) {
        if !self.is_driver(waker) {
            self.driver = Some(waker.clone());
        }
    }

    /// Asks the driver to write what is queued (a sender of another task is leaving).
    pub(crate) fn wake_driver(&self) {
        if let Some(driver) = &self.driver {
            driver.wake_by_ref();
        }
    }

    /// Waits (with the caller's waker) for room or for the queue to empty.
    pub(crate) fn wait(&mut self, cx: &Context<'_>) {
        if !self.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiters.push(cx.waker().clone());
        }
        if !self.is_driver(cx.waker()) {
            self.wake_driver();
        }
    }

    /// Encodes `packet` at the end of the queue, whole or not at all.
    ///
    /// An encoder that panics leaves nothing queued: its partial bytes are cut off and
    /// the panic goes on (call this with no lock guard alive that the panic would poison:
    /// the caller's guard is fine, since every user of the lock tolerates poisoning).
    pub(crate) fn encode(&mut self, packet: &Response) -> Result<(), SendError> {
        let Some(open) = &mut self.open else {
            return Err(SendError::Closed);
        };
        let start = open.buf.len();
        let Open {
            encoder,
            buf,
            grown,
            ..
        } = open;
        match catch_unwind(AssertUnwindSafe(|| encoder.encode(packet, buf))) {
            Ok(Ok(())) => {
                *grown |= buf.capacity() > SHRINK_ABOVE;
                self.metrics.packet_sent();
                Ok(())
            }
            Ok(Err(e)) => {
                buf.truncate(start);
                Err(e.into())
            }
            Err(panic) => {
                buf.truncate(start);
                resume_unwind(panic)
            }
        }
    }

    /// Encodes `packet` on its own, for [`Encoded`](super::Encoded).
    pub(crate) fn encode_alone(&mut self, packet: &Response) -> Result<Bytes, SendError> {
        let Some(open) = &mut self.open else {
            return Err(SendError::Closed);
        };
        let mut buf = BytesMut::new();
        match catch_unwind(AssertUnwindSafe(|| open.encoder.encode(packet, &mut buf))) {
            Ok(Ok(())) => Ok(buf.freeze()),
            Ok(Err(e)) => Err(e.into()),
            Err(panic) => resume_unwind(panic),
        }
    }

    /// Queues bytes encoded elsewhere (a broadcast).
    pub(crate) fn push_encoded(&mut self, bytes: &[u8]) -> Result<(), SendError> {
        let Some(open) = &mut self.open else {
            return Err(SendError::Closed);
        };
        open.buf.extend_from_slice(bytes);
        open.grown |= open.buf.capacity() > SHRINK_ABOVE;
        self.metrics.packet_sent();
        Ok(())
    }

    /// Writes out what is queued. `Ready(Ok)` once it is all written; `Pending` with the
    /// caller's waker registered by the transport. A write error ends the send side:
    /// every waiter is woken and later sends fail with [`SendError::Closed`].
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        let Some(open) = &mut self.open else {
            return Poll::Ready(Ok(()));
        };
        let mut progressed = false;
        while !open.buf.is_empty() {
            match Pin::new(&mut open.io).poll_write(cx, &open.buf) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(self.fail(io::ErrorKind::WriteZero.into())));
                }
                Poll::Ready(Ok(n)) => {
                    open.buf.advance(n);
                    self.metrics.bytes_sent(n);
                    progressed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(e))),
                Poll::Pending => {
                    if progressed || self.stalled_since.is_none() {
                        self.stalled_since = Some(Instant::now());
                    }
                    if progressed {
                        self.wake_waiters();
                    }
                    return Poll::Pending;
                }
            }
        }
        if open.flush_io {
            match Pin::new(&mut open.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(e))),
                Poll::Pending => {
                    self.stalled_since.get_or_insert_with(Instant::now);
                    return Poll::Pending;
                }
            }
        }
        if open.grown {
            open.buf = BytesMut::new();
            open.grown = false;
        }
        self.stalled_since = None;
        if !self.waiters.is_empty() {
            self.wake_waiters();
        }
        Poll::Ready(Ok(()))
    }

    /// Shuts the transport's write side down (over TLS, sends `close_notify`).
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.open {
            Some(open) => Pin::new(&mut open.io).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Drops the send side: the socket's write half, the encoder and the buffer. Every
    /// waiter is woken (and finds it closed).
    pub(crate) fn close(&mut self) {
        self.open = None;
        self.stalled_since = None;
        self.wake_waiters();
        self.wake_driver();
    }

    fn fail(&mut self, error: io::Error) -> io::Error {
        self.close();
        error
    }

    fn wake_waiters(&mut self) {
        for waker in self.waiters.drain(..) {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll};

    use bytes::Bytes;

    use super::*;
    use crate::BytesLines;

    fn queue(high_water: usize) -> SendQueue<Bytes> {
        SendQueue::new(
            Box::new(tokio::io::sink()),
            Box::new(BytesLines::new()),
            high_water,
        )
    }

    #[test]
    fn a_large_response_is_freed_once_written() {
        let mut queue = queue(64 * 1024);
        queue.encode(&Bytes::from(vec![b'x'; 64_999])).unwrap();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(matches!(queue.poll_flush(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(
            queue.open.as_ref().unwrap().buf.capacity(),
            0,
            "large buffer kept"
        );
    }

    #[test]
    fn a_refused_packet_leaves_nothing() {
        let mut queue = queue(64 * 1024);
        queue.encode(&Bytes::from_static(b"one")).unwrap();
        // BytesLines refuses a packet holding its separator.
        assert!(queue.encode(&Bytes::from_static(b"two\nlines")).is_err());
        assert_eq!(queue.len(), 4);
    }

    /// Writes a partial frame, then panics.
    struct Panicking;

    impl Encoder<&Bytes> for Panicking {
        type Error = ProtocolError;

        fn encode(&mut self, item: &Bytes, dst: &mut BytesMut) -> Result<(), ProtocolError> {
            dst.extend_from_slice(&item[..1]);
            panic!("encoder bug");
        }
    }

    #[test]
    fn a_panicking_encoder_leaves_no_partial_frame() {
        let mut queue: SendQueue<Bytes> =
            SendQueue::new(Box::new(tokio::io::sink()), Box::new(Panicking), 1024);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _ = queue.encode(&Bytes::from_static(b"partial"));
        }));
        assert!(result.is_err(), "the panic goes on");
        assert_eq!(queue.len(), 0, "partial bytes kept");
        assert!(!queue.is_closed());
    }
}
