//! [`StreamClient`]: a connected client, as a request handler sees it (the write side of
//! the connection; the server owns the read side and feeds `recv!()`).

use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;
use tokio_util::codec::Encoder;

use crate::error::{ProtocolError, SendError};

/// Responses queued while more requests are already buffered are written together, but
/// never more than this many bytes at once.
const MAX_BATCH: usize = 64 * 1024;
/// A write buffer that grew past this (a large response) is freed once written, so an
/// idle connection keeps no large buffer.
const SHRINK_ABOVE: usize = 16 * 1024;

type BoxedEncoder<Response> = Box<dyn for<'a> Encoder<&'a Response, Error = ProtocolError> + Send>;
type BoxedWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// The write side of a connection.
///
/// It sits behind a plain `std` mutex, taken only for the synchronous moments of a send
/// (encoding, one `poll_write`), never across an `.await`: cheaper per packet than an
/// async mutex. Several sends may wait for the socket at once (a handler joining two
/// sends); each waiting future leaves its waker in `waiters`, and whoever empties the
/// buffer wakes them all, so none can miss the moment its bytes went out.
struct WriteSide<Response> {
    io: BoxedWriter,
    encoder: BoxedEncoder<Response>,
    buf: BytesMut,
    closed: bool,
    /// The transport buffers what it is given (TLS): flush it after writing. A TCP
    /// socket does not, so the plain path skips the call.
    flush_io: bool,
    /// The buffer grew past `SHRINK_ABOVE` for a large response. Its capacity alone
    /// cannot tell once the bytes are written (writing advances the buffer's start, and
    /// the capacity left shrinks with it), so this remembers to free it once it is empty.
    grown: bool,
    waiters: Vec<Waker>,
}

impl<Response> WriteSide<Response> {
    /// Writes out everything buffered. Cancel-safe: what was not written stays buffered.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        while !self.buf.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &self.buf) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(self.fail(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => self.buf.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(self.fail(e)),
                Poll::Pending => return self.wait(cx),
            }
        }
        if self.flush_io {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(self.fail(e)),
                Poll::Pending => return self.wait(cx),
            }
        }
        if self.grown {
            self.buf = BytesMut::new();
            self.grown = false;
        }
        self.wake_waiters();
        Poll::Ready(Ok(()))
    }

    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        if !self.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn fail(&mut self, error: std::io::Error) -> Result<(), SendError> {
        self.closed = true;
        self.buf = BytesMut::new();
        self.wake_waiters();
        Err(SendError::Io(error))
    }

    fn wake_waiters(&mut self) {
        for waker in self.waiters.drain(..) {
            waker.wake();
        }
    }
}

/// What a client handle and its connection's request slot both look at.
pub(crate) struct ClientFlags {
    /// [`StreamClient::close`] was called, or the connection is ending: no request is
    /// handed to the handler any more.
    pub(crate) closing: AtomicBool,
    /// A further request is already received and decoded: the response to the current
    /// one may wait to be written together with the next ones.
    pub(crate) batching: AtomicBool,
}

/// A connected client, given to every hook of a
/// [`StreamRequestHandler`](crate::StreamRequestHandler): send packets to it, close it,
/// learn its addresses.
///
/// The analog of easynetwork's `AsyncStreamClient[Response]`.
pub struct StreamClient<Response> {
    writer: Mutex<WriteSide<Response>>,
    /// Shared with the connection's request slot, which reads `closing` and sets
    /// `batching` as `recv!()` takes requests.
    flags: Arc<ClientFlags>,
    /// The send buffer may hold bytes not yet written: lets the driver skip taking the
    /// write lock before each read when there is nothing to flush.
    pending: AtomicBool,
    remote_addr: SocketAddr,
    local_addr: SocketAddr,
    nodelay: bool,
    /// How long closing may take (sending TLS `close_notify`); unbounded for plain TCP,
    /// whose shutdown does not wait for the peer.
    close_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::TlsInfo>>,
}

impl<Response> StreamClient<Response> {
    pub(crate) fn new(
        io: BoxedWriter,
        encoder: BoxedEncoder<Response>,
        remote_addr: SocketAddr,
        local_addr: SocketAddr,
        nodelay: bool,
    ) -> Self {
        StreamClient {
            writer: Mutex::new(WriteSide {
                io,
                encoder,
                buf: BytesMut::new(),
                closed: false,
                flush_io: false,
                grown: false,
                waiters: Vec::new(),
            }),
            flags: Arc::new(ClientFlags {
                closing: AtomicBool::new(false),
                batching: AtomicBool::new(false),
            }),
            pending: AtomicBool::new(false),
            remote_addr,
            local_addr,
            nodelay,
            close_timeout: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Marks the connection as TLS: what the handshake negotiated, and how long sending
    /// `close_notify` may take when closing.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(
        mut self,
        info: crate::tls::TlsInfo,
        shutdown_timeout: Duration,
    ) -> Self {
        self.tls = Some(Box::new(info));
        self.close_timeout = Some(shutdown_timeout);
        self.writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .flush_io = true;
        self
    }

    /// Sends a packet to the client.
    ///
    /// When it returns `Ok`, the packet has been written to the transport, except in one
    /// case: while the client has already sent further complete requests that the server
    /// holds in its buffer (pipelining), responses are gathered and written together as
    /// soon as the handler waits for one that is not there yet (`recv!()`), returns, or
    /// 64 KiB are pending. A handler that must know its packet is out before a long wait
    /// can call [`flush`](Self::flush).
    ///
    /// # Errors
    /// [`SendError::Closed`] after [`close`](Self::close) or once the connection has
    /// failed (nothing is sent); [`SendError::Serialize`] if the packet cannot be
    /// serialized (nothing is sent, the connection stays usable); [`SendError::Io`] if
    /// writing failed (the connection is then closed).
    pub async fn send_packet(&self, packet: &Response) -> Result<(), SendError> {
        // One lock for encoding and the first write attempt: a send that completes at
        // once (the common case) takes the write lock once.
        let mut encoded = false;
        poll_fn(|cx| {
            let mut writer = self.lock();
            if !encoded {
                if writer.closed {
                    return Poll::Ready(Err(SendError::Closed));
                }
                let WriteSide {
                    encoder,
                    buf,
                    grown,
                    ..
                } = &mut *writer;
                let start = buf.len();
                if let Err(e) = encoder.encode(packet, buf) {
                    buf.truncate(start);
                    return Poll::Ready(Err(e.into()));
                }
                *grown |= buf.capacity() > SHRINK_ABOVE;
                encoded = true;
                // Set before writing: if this future is dropped mid-write, the rest is
                // still flushed before the server next waits for the client.
                self.pending.store(true, Ordering::Relaxed);
                if self.flags.batching.load(Ordering::Relaxed) && buf.len() < MAX_BATCH {
                    // Gathered: written with the responses to the requests already here.
                    return Poll::Ready(Ok(()));
                }
            }
            self.poll_write_out(&mut writer, cx)
        })
        .await
    }

    /// Writes out every packet still waiting in the send buffer.
    pub async fn flush(&self) -> Result<(), SendError> {
        if !self.pending.load(Ordering::Relaxed) {
            return Ok(());
        }
        {
            let writer = self.lock();
            if writer.closed {
                return if writer.buf.is_empty() {
                    Ok(())
                } else {
                    Err(SendError::Closed)
                };
            }
        }
        self.write_out().await
    }

    fn lock(&self) -> MutexGuard<'_, WriteSide<Response>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn write_out(&self) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_write_out(&mut self.lock(), cx)).await
    }

    /// Writes out everything buffered; once that is done (or has failed), nothing is
    /// pending any more.
    fn poll_write_out(
        &self,
        writer: &mut WriteSide<Response>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError>> {
        let written = std::task::ready!(writer.poll_flush(cx));
        self.pending.store(false, Ordering::Relaxed);
        Poll::Ready(written)
    }

    /// Closes the connection: pending packets are written, the write side is shut down
    /// (over TLS, `close_notify` is sent first, for at most
    /// [`tls_shutdown_timeout`](crate::ServerOptions::tls_shutdown_timeout)), and the
    /// server stops reading from this client. No new request generator is
    /// started; `on_disconnection` still runs. Later [`send_packet`](Self::send_packet)
    /// calls fail with [`SendError::Closed`]. Closing twice is harmless.
    pub async fn close(&self) {
        self.flags.closing.store(true, Ordering::Release);
        if self.lock().closed {
            return;
        }
        let finish = async {
            let _ = self.write_out().await;
            let _ = poll_fn(|cx| Pin::new(&mut self.lock().io).poll_shutdown(cx)).await;
        };
        match self.close_timeout {
            None => finish.await,
            Some(timeout) => {
                // Over TLS, the pending packets and close_notify go out together, within
                // the TLS shutdown timeout: a peer that stops reading cannot hold the
                // connection open.
                if tokio::time::timeout(timeout, finish).await.is_err() {
                    tracing::debug!(
                        client = %self.remote_addr,
                        "TLS close_notify not sent within {timeout:?}, dropping the connection"
                    );
                }
            }
        }
        let mut writer = self.lock();
        writer.closed = true;
        writer.wake_waiters();
    }

    /// Whether [`close`](Self::close) was called (the how-to's `client.is_closing()`).
    pub fn is_closing(&self) -> bool {
        self.flags.closing.load(Ordering::Acquire)
    }

    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The server's address this client connected to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether `TCP_NODELAY` is on for this connection (the server turns it on for every
    /// accepted socket).
    pub fn nodelay(&self) -> bool {
        self.nodelay
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
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_deref()
    }

    /// The flags the connection's request slot shares.
    pub(crate) fn flags(&self) -> Arc<ClientFlags> {
        Arc::clone(&self.flags)
    }

    /// Marks the connection as ending (peer gone, shutdown): no further request is handed
    /// to the handler, and no new `handle` body starts.
    pub(crate) fn mark_closing(&self) {
        self.flags.closing.store(true, Ordering::Release);
    }
}

impl<Response> fmt::Debug for StreamClient<Response> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamClient")
            .field("remote_addr", &self.remote_addr)
            .field("local_addr", &self.local_addr)
            .field("closing", &self.is_closing())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::BytesLines;

    fn client() -> StreamClient<Bytes> {
        StreamClient::new(
            Box::new(tokio::io::sink()),
            Box::new(BytesLines::new()),
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            true,
        )
    }

    #[tokio::test]
    async fn the_send_buffer_is_freed_after_a_large_response() {
        let client = client();
        client
            .send_packet(&Bytes::from(vec![b'x'; 64_999]))
            .await
            .unwrap();
        assert_eq!(client.lock().buf.capacity(), 0, "large send buffer kept");
        assert!(!client.lock().grown);
    }
}
