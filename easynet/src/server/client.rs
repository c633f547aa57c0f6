//! [`StreamClient`]: a connected client, as a request handler sees it (the write side of
//! the connection; the server owns the read side and feeds `recv!()`).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;
use tokio_util::codec::Encoder;

use crate::error::{ProtocolError, SendError};

/// Responses queued while more requests are already buffered are written together, but
/// never more than this many bytes at once.
const MAX_BATCH: usize = 64 * 1024;
/// A write buffer that grew past this (a large response) is freed once written.
const SHRINK_ABOVE: usize = 64 * 1024;

type BoxedEncoder<Response> = Box<dyn for<'a> Encoder<&'a Response, Error = ProtocolError> + Send>;
type BoxedWriter = Box<dyn AsyncWrite + Send + Unpin>;

struct WriteSide<Response> {
    io: BoxedWriter,
    encoder: BoxedEncoder<Response>,
    buf: BytesMut,
    closed: bool,
}

impl<Response> WriteSide<Response> {
    /// Writes out everything buffered. Cancel-safe: what was not written stays buffered.
    async fn flush(&mut self) -> Result<(), SendError> {
        while !self.buf.is_empty() {
            match self.io.write_buf(&mut self.buf).await {
                Ok(0) => {
                    self.closed = true;
                    return Err(SendError::Io(std::io::ErrorKind::WriteZero.into()));
                }
                Ok(_) => {}
                Err(e) => {
                    self.closed = true;
                    self.buf.clear();
                    return Err(SendError::Io(e));
                }
            }
        }
        if self.buf.capacity() > SHRINK_ABOVE {
            self.buf = BytesMut::new();
        }
        Ok(())
    }
}

/// A connected client, given to every hook of a
/// [`StreamRequestHandler`](crate::StreamRequestHandler): send packets to it, close it,
/// learn its addresses.
///
/// The analog of easynetwork's `AsyncStreamClient[Response]`.
pub struct StreamClient<Response> {
    writer: Mutex<WriteSide<Response>>,
    closing: AtomicBool,
    /// Set by the connection driver while a complete request is already buffered: the
    /// response to the current one may then wait to be written with the next ones.
    batching: AtomicBool,
    remote_addr: SocketAddr,
    local_addr: SocketAddr,
    nodelay: bool,
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
            }),
            closing: AtomicBool::new(false),
            batching: AtomicBool::new(false),
            remote_addr,
            local_addr,
            nodelay,
        }
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
        let mut writer = self.writer.lock().await;
        if writer.closed {
            return Err(SendError::Closed);
        }
        let WriteSide { encoder, buf, .. } = &mut *writer;
        let start = buf.len();
        if let Err(e) = encoder.encode(packet, buf) {
            buf.truncate(start);
            return Err(e.into());
        }
        if self.batching.load(Ordering::Relaxed) && writer.buf.len() < MAX_BATCH {
            return Ok(());
        }
        writer.flush().await
    }

    /// Writes out every packet still waiting in the send buffer.
    pub async fn flush(&self) -> Result<(), SendError> {
        let mut writer = self.writer.lock().await;
        if writer.closed {
            return if writer.buf.is_empty() {
                Ok(())
            } else {
                Err(SendError::Closed)
            };
        }
        writer.flush().await
    }

    /// Closes the connection: pending packets are written, the write side is shut down,
    /// and the server stops reading from this client. No new request generator is
    /// started; `on_disconnection` still runs. Later [`send_packet`](Self::send_packet)
    /// calls fail with [`SendError::Closed`]. Closing twice is harmless.
    pub async fn close(&self) {
        self.closing.store(true, Ordering::Release);
        let mut writer = self.writer.lock().await;
        if writer.closed {
            return;
        }
        let _ = writer.flush().await;
        let _ = writer.io.shutdown().await;
        writer.closed = true;
    }

    /// Whether [`close`](Self::close) was called (the how-to's `client.is_closing()`).
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
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

    pub(crate) fn set_batching(&self, batching: bool) {
        self.batching.store(batching, Ordering::Relaxed);
    }

    /// Marks the connection as ending (peer gone, shutdown): no new generator starts.
    pub(crate) fn mark_closing(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Flushes, then closes the write side unless already closed. Used by the driver when
    /// the connection ends.
    pub(crate) async fn finish(&self) {
        self.close().await;
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
