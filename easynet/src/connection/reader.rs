//! [`RequestReader`]: the read side of a connection (the transport's read half, the
//! receive buffer and the decoder).

use crate::metrics::Metrics;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{BufMut, BytesMut};
use tokio_util::codec::Decoder;

use super::recv::{BufferedRequests, RecvError};
use crate::error::{ParseError, ProtocolError, is_disconnect};
use crate::transport::ReadHalf;

/// The least room made for a read, even with a smaller `max_recv_size` (which still caps
/// what one read takes).
const MIN_READ: usize = 1024;
/// The first buffer allocation of a connection.
const INITIAL_READ: usize = 8 * 1024;
/// An empty read buffer that grew past this (a large request) is freed, so an idle
/// connection keeps no large buffer. Above the default `max_recv_size` (16 KiB), so
/// ordinary traffic does not reallocate.
const SHRINK_ABOVE: usize = 32 * 1024;

/// The read side of a connection.
pub(crate) struct RequestReader<R, D: Decoder> {
    io: R,
    buf: BytesMut,
    decoder: D,
    max_recv_size: usize,
    /// A request decoded ahead, from bytes already buffered: its presence lets responses
    /// be gathered into one write.
    ahead: Option<Result<D::Item, ParseError>>,
    /// The stream cannot give more requests (EOF, transport or decoder failure).
    ended: bool,
    /// The buffer grew past `SHRINK_ABOVE` for a large frame. Its capacity alone cannot
    /// tell once a decoder has split the frame off (the allocation is then shared), so
    /// this remembers to free it once it is empty.
    grown: bool,
    metrics: Metrics,
}

/// What one read gave.
pub(crate) enum Fill {
    /// More bytes are buffered.
    Data,
    /// The peer closed, or the transport failed: no more requests will come.
    Closed,
}

impl<R, D> RequestReader<R, D>
where
    R: ReadHalf,
    D: Decoder<Error = ProtocolError>,
{
    pub(crate) fn new(io: R, decoder: D, max_recv_size: usize) -> Self {
        RequestReader {
            io,
            buf: BytesMut::new(),
            decoder,
            max_recv_size: max_recv_size.max(1),
            ahead: None,
            ended: false,
            grown: false,
            metrics: Metrics::default(),
        }
    }

    /// Counts requests, parse errors and bytes received in the server's metrics.
    pub(crate) fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Whether part of a request is buffered (its first bytes arrived, not its end).
    pub(crate) fn has_partial(&self) -> bool {
        self.ahead.is_none() && !self.buf.is_empty()
    }

    /// The next request whose bytes are already here, without reading.
    pub(crate) fn next_decoded(&mut self) -> Option<Result<D::Item, RecvError>> {
        let item = match self.ahead.take() {
            Some(item) => item,
            None => self.decode_buffered()?,
        };
        self.decode_ahead();
        Some(item.map_err(RecvError::Parse))
    }

    /// Decodes the next request too if its bytes are here.
    fn decode_ahead(&mut self) {
        if !self.buf.is_empty() {
            self.ahead = self.decode_buffered();
        }
    }

    /// Decodes one request from the buffer, without reading.
    fn decode_buffered(&mut self) -> Option<Result<D::Item, ParseError>> {
        if self.ended {
            return None;
        }
        let decoded = match self.decoder.decode(&mut self.buf) {
            Ok(Some(item)) => {
                self.metrics.packet_received();
                Some(Ok(item))
            }
            Ok(None) => None,
            Err(ProtocolError::Parse(e)) => {
                self.metrics.parse_error();
                Some(Err(e))
            }
            Err(ProtocolError::Serialize(e)) => {
                self.metrics.parse_error();
                Some(Err(ParseError::invalid("invalid packet", e)))
            }
            Err(ProtocolError::Io(e)) => {
                tracing::debug!(error = %e, "decoder failed, closing the connection");
                self.ended = true;
                None
            }
        };
        if self.grown && self.buf.is_empty() {
            self.buf = BytesMut::new();
            self.grown = false;
        }
        decoded
    }

    /// Reads what the transport has. Cancel-safe: what was read stays buffered.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Fill> {
        if self.ended {
            return Poll::Ready(Fill::Closed);
        }
        // With nothing buffered and no buffer (a connection that never sent anything, or
        // one whose large buffer was just freed), wait until the socket is readable
        // before allocating: an idle connection holds no receive buffer.
        if self.buf.capacity() == 0
            && let Err(e) = ready!(self.io.poll_readable(cx))
        {
            return Poll::Ready(self.read_failed(&e));
        }
        // Room for a whole read: as much as the frame being received so far (it grows by
        // doubling), at least INITIAL_READ, at most one read's worth. Decoders that split
        // frames off the front shrink the spare capacity as they go; reserving on an empty
        // buffer whose frames were all dropped takes the allocation back in place, so a
        // burst of requests is read with one call instead of being cut short.
        let want = self
            .buf
            .len()
            .max(INITIAL_READ)
            .min(self.max_recv_size.max(MIN_READ));
        if self.buf.capacity() - self.buf.len() < want {
            self.buf.reserve(want);
            self.grown |= self.buf.capacity() > SHRINK_ABOVE;
        }
        let mut limited = (&mut self.buf).limit(self.max_recv_size);
        match ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            &mut limited
        )) {
            Ok(0) => {
                self.ended = true;
                Poll::Ready(Fill::Closed)
            }
            Ok(n) => {
                self.metrics.bytes_received(n);
                Poll::Ready(Fill::Data)
            }
            Err(e) => Poll::Ready(self.read_failed(&e)),
        }
    }

    /// Reads and drops what the peer has sent and nobody will handle, without waiting (at
    /// most `MAX_DISCARD` bytes). Closing a socket with unread input makes the kernel
    /// reset the connection, which can destroy the last responses before the peer reads
    /// them (a pipelining client whose later requests were not handled); with the input
    /// drained, closing sends an orderly end of stream.
    pub(crate) fn discard_unread(&mut self) {
        const MAX_DISCARD: usize = 1024 * 1024;
        self.buf.clear();
        self.ahead = None;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut discarded = 0;
        while !self.ended && discarded < MAX_DISCARD {
            self.buf.clear();
            self.buf.reserve(INITIAL_READ);
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), &mut cx, &mut self.buf) {
                Poll::Ready(Ok(n)) if n > 0 => discarded += n,
                _ => break,
            }
        }
        self.buf = BytesMut::new();
    }

    fn read_failed(&mut self, error: &std::io::Error) -> Fill {
        if !is_disconnect(error) {
            tracing::debug!(error = %error, "read failed, closing the connection");
        }
        self.ended = true;
        Fill::Closed
    }
}

impl<R, D> BufferedRequests<D::Item> for RequestReader<R, D>
where
    R: ReadHalf,
    D: Decoder<Error = ProtocolError>,
{
    /// The next request already received and decoded, without reading; the one after it
    /// is decoded ahead too, so that [`has_buffered_request`](Self::has_buffered_request)
    /// stays exact.
    fn next_buffered(&mut self) -> Option<Result<D::Item, RecvError>> {
        let item = self.ahead.take()?;
        self.decode_ahead();
        Some(item.map_err(RecvError::Parse))
    }

    /// Whether a complete request (or parse error) is already waiting.
    fn has_buffered_request(&self) -> bool {
        self.ahead.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::{Context, Waker};

    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::BytesLines;

    async fn next<R: ReadHalf, D: Decoder<Error = ProtocolError>>(
        reader: &mut RequestReader<R, D>,
    ) -> Option<D::Item> {
        loop {
            if let Some(item) = reader.next_decoded() {
                return item.ok();
            }
            if let Fill::Closed = poll_fn(|cx| reader.poll_fill(cx)).await {
                return None;
            }
        }
    }

    #[tokio::test]
    async fn an_idle_tcp_connection_holds_no_receive_buffer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let (read, _write) = accepted.into_split();
        let mut reader = RequestReader::new(read, BytesLines::new(), 16 * 1024);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(reader.poll_fill(&mut cx).is_pending());
        assert_eq!(reader.buf.capacity(), 0, "nothing allocated while idle");

        peer.write_all(b"hello\n").await.unwrap();
        assert_eq!(next(&mut reader).await.unwrap(), "hello");
    }

    #[tokio::test]
    async fn the_receive_buffer_is_freed_after_a_large_request() {
        let (mut peer, server_side) = tokio::io::duplex(128 * 1024);
        let mut reader = RequestReader::new(server_side, BytesLines::new(), 16 * 1024);
        let mut large = vec![b'x'; 64_999];
        large.push(b'\n');
        peer.write_all(&large).await.unwrap();
        assert_eq!(next(&mut reader).await.unwrap().len(), 64_999);
        assert_eq!(reader.buf.capacity(), 0, "large receive buffer kept");

        peer.write_all(b"small\n").await.unwrap();
        assert_eq!(next(&mut reader).await.unwrap(), "small");
    }
}
