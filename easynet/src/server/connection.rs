//! The connection driver: one tokio task per client, reading requests and driving the
//! handler's generator.

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use futures_util::FutureExt;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tokio_util::codec::Decoder;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::StreamClient;
use crate::error::{HandlerError, ParseError, ProtocolError, is_disconnect};
use crate::handler::{
    BufferedRequests, Conversation, Finished, Handler, RecvError, RecvParams, RecvSlot,
    StreamRequestHandler,
};
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

/// The read side of a connection: the transport, the receive buffer and the decoder.
pub(crate) struct RequestReader<R, D: Decoder> {
    io: R,
    buf: BytesMut,
    decoder: D,
    max_recv_size: usize,
    /// A request decoded ahead, from bytes already buffered.
    ahead: Option<Result<D::Item, ParseError>>,
    /// The stream cannot give more requests (EOF, transport or decoder failure).
    ended: bool,
    /// The buffer grew past `SHRINK_ABOVE` for a large frame. Its capacity alone cannot
    /// tell once a decoder has split the frame off (the allocation is then shared), so
    /// this remembers to free it once it is empty.
    grown: bool,
    /// The server's shutdown, as one future kept for the connection's life: once it has
    /// registered its waker, a later wait only checks it, where a new future per wait
    /// would register and unregister (two locks of the token's shared waiter list).
    cancelled: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

/// Why the reader gave no request.
pub(crate) enum ReadEnd {
    /// The peer closed, the transport failed, or the server is shutting down.
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
            cancelled: None,
        }
    }

    /// Decodes the next request too if its bytes are here: its presence lets responses
    /// be gathered into one write.
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
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => None,
            Err(ProtocolError::Parse(e)) => Some(Err(e)),
            Err(ProtocolError::Serialize(e)) => Some(Err(ParseError::invalid("invalid packet", e))),
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

    /// The next request, waiting at most `timeout`. `Ok(Err(Timeout))` when it expired;
    /// `Err(ReadEnd)` when no request will ever come.
    ///
    /// Before waiting for the network, the responses the client handle gathered are
    /// written out. A request already buffered costs no clock read and no timer.
    pub(crate) async fn next_request<C>(
        &mut self,
        timeout: Option<Duration>,
        shutdown: &CancellationToken,
        client: &StreamClient<C>,
    ) -> Result<Result<D::Item, RecvError>, ReadEnd> {
        let mut deadline = None;
        let item = match self.ahead.take() {
            Some(item) => item,
            None => loop {
                if let Some(item) = self.decode_buffered() {
                    break item;
                }
                if self.ended {
                    return Err(ReadEnd::Closed);
                }
                // Nothing complete is buffered: responses gathered so far go out now.
                if client.flush().await.is_err() {
                    return Err(ReadEnd::Closed);
                }
                if deadline.is_none() {
                    deadline = timeout.map(|t| Instant::now() + t);
                }
                match self.fill(deadline, shutdown).await {
                    Fill::Data => {}
                    Fill::TimedOut => return Ok(Err(RecvError::Timeout)),
                    Fill::Closed => {
                        self.ended = true;
                        return Err(ReadEnd::Closed);
                    }
                }
            },
        };
        self.decode_ahead();
        Ok(item.map_err(RecvError::Parse))
    }

    async fn fill(&mut self, deadline: Option<Instant>, shutdown: &CancellationToken) -> Fill {
        let mut cancelled = self
            .cancelled
            .get_or_insert_with(|| Box::pin(shutdown.clone().cancelled_owned()))
            .as_mut();
        // With nothing buffered and no buffer (a connection that never sent anything, or
        // one whose large buffer was just freed), wait until the socket is readable
        // before allocating: an idle connection holds no receive buffer.
        if self.buf.capacity() == 0 {
            let readable = self.io.readable();
            match race(readable, deadline, cancelled.as_mut()).await {
                Some(Ok(())) => {}
                Some(Err(e)) => return read_failed(&e),
                None if shutdown.is_cancelled() => return Fill::Closed,
                None => return Fill::TimedOut,
            }
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
        let read = self.io.read_buf(&mut limited);
        match race(read, deadline, cancelled.as_mut()).await {
            Some(Ok(0)) => Fill::Closed,
            Some(Ok(_)) => Fill::Data,
            Some(Err(e)) => read_failed(&e),
            None if shutdown.is_cancelled() => Fill::Closed,
            None => Fill::TimedOut,
        }
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

fn read_failed(error: &std::io::Error) -> Fill {
    if !is_disconnect(error) {
        tracing::debug!(error = %error, "read failed, closing the connection");
    }
    Fill::Closed
}

/// Runs `future` until it completes (`Some`), the deadline passes or the server shuts
/// down (`None`). The future is polled first, so a ready one costs no timer.
async fn race<F: Future>(
    future: F,
    deadline: Option<Instant>,
    mut cancelled: Pin<&mut WaitForCancellationFutureOwned>,
) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut sleep = std::pin::pin!(deadline.map(tokio::time::sleep_until));
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        if let Some(sleep) = sleep.as_mut().as_pin_mut()
            && sleep.poll(cx).is_ready()
        {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

enum Fill {
    Data,
    TimedOut,
    Closed,
}

/// Everything one connection task needs.
pub(crate) struct Connection<'c, H: StreamRequestHandler, R, D: Decoder> {
    pub(crate) handler: &'c H,
    pub(crate) client: &'c StreamClient<H::Response>,
    pub(crate) reader: RequestReader<R, D>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) shutdown_timeout: Duration,
}

impl<H, R, D> Connection<'_, H, R, D>
where
    H: StreamRequestHandler,
    R: ReadHalf,
    D: Decoder<Item = H::Request, Error = ProtocolError>,
{
    /// Serves the client until the connection ends, then runs `on_disconnection`.
    pub(crate) async fn run(mut self) {
        // Lent to every handler body of this connection: the one place requests go
        // through.
        let slot = RecvSlot::new(self.client.flags());
        self.serve(&slot).await;
        self.client.mark_closing();
        let handler = self.handler;
        let client = self.client;
        let hook = AssertUnwindSafe(handler.on_disconnection(client)).catch_unwind();
        // Bounded, so that a stuck hook cannot hold the connection (or a shutdown) forever.
        let bound = self.shutdown_timeout.max(Duration::from_secs(1));
        match tokio::time::timeout(bound, hook).await {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => tracing::error!(
                client = %client.remote_addr(),
                panic = %panic_message(&*panic),
                "on_disconnection panicked"
            ),
            Err(_) => tracing::warn!(
                client = %client.remote_addr(),
                "on_disconnection still running after {bound:?}, dropped"
            ),
        }
        client.close().await;
    }

    async fn serve(&mut self, slot: &RecvSlot<H::Request>) {
        let (handler, client) = (self.handler, self.client);
        let hook = handler.__on_connection_handler(client, slot);
        if hook.is_none() {
            let hook = AssertUnwindSafe(handler.on_connection(client)).catch_unwind();
            let failure = match hook.await {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(panic) => Some(format!("panicked: {}", panic_message(&*panic))),
            };
            if let Some(error) = failure {
                tracing::error!(
                    client = %client.remote_addr(),
                    error = %error,
                    "on_connection failed, closing the connection"
                );
                return;
            }
        }
        let conversation = Conversation::new(slot, converse(handler, client, slot, hook));
        self.drive(conversation, slot).await;
    }

    /// Resumes the connection's generator until it ends, receiving a request each time a
    /// `recv!()` waits for one.
    async fn drive<F>(&mut self, mut conversation: Conversation<F>, slot: &RecvSlot<H::Request>)
    where
        F: Future<Output = ()> + Send,
    {
        let client = self.client;
        while let Some(params) = resume(
            &mut conversation,
            client,
            &self.shutdown,
            self.shutdown_timeout,
        )
        .await
        {
            if client.is_closing() {
                return;
            }
            let first = match self
                .reader
                .next_request(params.timeout, &self.shutdown, client)
                .await
            {
                Ok(item) => item,
                Err(ReadEnd::Closed) => return,
            };
            // The requests already decodable go along: `recv!()` takes them without
            // another trip through the generator.
            slot.deliver(first, &mut self.reader);
        }
    }
}

/// The body of a connection's generator: the `#[handler]` `on_connection` if there is
/// one, then `handle` again and again (a fresh body after each `Ok`), until the client
/// is closing or a body fails. Errors are logged here, with the client's address.
async fn converse<'a, H, F>(
    handler: &'a H,
    client: &'a StreamClient<H::Response>,
    slot: &'a RecvSlot<H::Request>,
    on_connection: Option<Handler<'a, H::Request, F>>,
) where
    H: StreamRequestHandler,
    F: Future<Output = Result<(), HandlerError>> + Send,
{
    if let Some(hook) = on_connection {
        // Returning before any `recv!()` is fine for `on_connection`; an error is not.
        if let Err(error) = hook.run().await.result {
            log_failure(client, "on_connection", &error);
            return;
        }
    }
    while !client.is_closing() {
        let Finished { result, received } = handler.handle(client, slot).run().await;
        match result {
            Ok(()) if received => {}
            Ok(()) => {
                tracing::debug!(
                    client = %client.remote_addr(),
                    "handle returned before its first recv!(): closing the connection"
                );
                return;
            }
            Err(error) => {
                log_failure(client, "handle", &error);
                return;
            }
        }
    }
}

fn log_failure<Response>(client: &StreamClient<Response>, hook: &str, error: &HandlerError) {
    tracing::error!(
        client = %client.remote_addr(),
        error = %error,
        "{hook} failed, closing the connection"
    );
}

/// Resumes the connection's generator, catching panics, and giving up on it
/// `shutdown_timeout` after a shutdown began. `None`: the generator ended or must be
/// dropped, and the connection closed.
async fn resume<Response, F>(
    conversation: &mut Conversation<F>,
    client: &StreamClient<Response>,
    shutdown: &CancellationToken,
    shutdown_timeout: Duration,
) -> Option<RecvParams>
where
    F: Future<Output = ()> + Send,
{
    let resumed = AssertUnwindSafe(conversation.resume()).catch_unwind();
    let mut resumed = std::pin::pin!(resumed);
    // Fast path: most resumes complete at once (the response was written).
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(shutdown_timeout).await;
    };
    let mut grace = std::pin::pin!(grace);
    let outcome = poll_fn(|cx| {
        if let Poll::Ready(r) = resumed.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        if grace.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match outcome {
        Some(Ok(params)) => params,
        Some(Err(panic)) => {
            let message = panic_message(&*panic);
            tracing::error!(
                client = %client.remote_addr(),
                panic = %message,
                "request handler panicked, closing the connection"
            );
            None
        }
        None => {
            tracing::warn!(
                client = %client.remote_addr(),
                "request handler still busy after the shutdown timeout, dropping it"
            );
            None
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::Context;

    use bytes::Bytes;
    use tokio::io::{AsyncWrite, AsyncWriteExt};

    use super::*;
    use crate::handler::INBOX_CAPACITY;
    use crate::{BytesLines, HandlerError, handler, recv};

    /// Records every write call separately.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl AsyncWrite for Writes {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.0.lock().unwrap().push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// One generator per request, as in the how-to's simplest handler.
    struct Echo;

    impl StreamRequestHandler for Echo {
        type Request = Bytes;
        type Response = Bytes;

        #[handler]
        async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
            let line = recv!()?;
            client.send_packet(&line).await?;
            Ok(())
        }
    }

    async fn echo_through(requests: &[u8]) -> Vec<Vec<u8>> {
        let (mut peer, server_side) = tokio::io::duplex(64 * 1024);
        let writes = Writes::default();
        let client = StreamClient::new(
            Box::new(writes.clone()),
            Box::new(BytesLines::new()),
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            true,
        );
        let connection = Connection {
            handler: &Echo,
            client: &client,
            reader: RequestReader::new(server_side, BytesLines::new(), 16 * 1024),
            shutdown: CancellationToken::new(),
            shutdown_timeout: Duration::from_secs(1),
        };
        peer.write_all(requests).await.unwrap();
        peer.shutdown().await.unwrap();
        connection.run().await;
        writes.0.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn responses_to_buffered_requests_go_out_in_one_write() {
        let writes = echo_through(b"a\nbb\nccc\ndddd\neeeee\n").await;
        assert_eq!(writes, [b"a\nbb\nccc\ndddd\neeeee\n".to_vec()]);
    }

    #[tokio::test]
    async fn a_partial_request_does_not_hold_back_responses() {
        // The last line is incomplete: the four answers are written before waiting for it.
        let writes = echo_through(b"1\n2\n3\n4\npartial").await;
        assert_eq!(writes, [b"1\n2\n3\n4\n".to_vec()]);
    }

    #[tokio::test]
    async fn an_idle_tcp_connection_holds_no_receive_buffer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let (read, write) = accepted.into_split();
        let client: StreamClient<Bytes> = StreamClient::new(
            Box::new(write),
            Box::new(BytesLines::new()),
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            true,
        );
        let mut reader = RequestReader::new(read, BytesLines::new(), 16 * 1024);
        let shutdown = CancellationToken::new();
        let waited = reader
            .next_request(Some(Duration::from_millis(50)), &shutdown, &client)
            .await;
        assert!(matches!(waited, Ok(Err(RecvError::Timeout))));
        assert_eq!(reader.buf.capacity(), 0, "nothing allocated while idle");

        peer.write_all(b"hello\n").await.unwrap();
        let got = reader.next_request(None, &shutdown, &client).await;
        assert!(matches!(got, Ok(Ok(line)) if line == "hello"));
    }

    #[tokio::test]
    async fn the_receive_buffer_is_freed_after_a_large_request() {
        let (mut peer, server_side) = tokio::io::duplex(128 * 1024);
        let client: StreamClient<Bytes> = StreamClient::new(
            Box::new(tokio::io::sink()),
            Box::new(BytesLines::new()),
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            true,
        );
        let mut reader = RequestReader::new(server_side, BytesLines::new(), 16 * 1024);
        let shutdown = CancellationToken::new();
        let mut large = vec![b'x'; 64_999];
        large.push(b'\n');
        peer.write_all(&large).await.unwrap();
        let got = reader.next_request(None, &shutdown, &client).await;
        assert!(matches!(got, Ok(Ok(line)) if line.len() == 64_999));
        assert_eq!(reader.buf.capacity(), 0, "large receive buffer kept");

        peer.write_all(b"small\n").await.unwrap();
        let got = reader.next_request(None, &shutdown, &client).await;
        assert!(matches!(got, Ok(Ok(line)) if line == "small"));
    }

    /// Echoes in an inner loop, counting the requests it receives; `quit` closes the
    /// client, `slow` waits a long time before the next `recv!()`.
    #[derive(Default)]
    struct Pipelined {
        received: std::sync::atomic::AtomicUsize,
    }

    impl StreamRequestHandler for Pipelined {
        type Request = Bytes;
        type Response = Bytes;

        #[handler]
        async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
            loop {
                let line = recv!()?;
                self.received
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if line == "quit" {
                    // Waits again: no further request may come after a close.
                    client.close().await;
                    continue;
                }
                client.send_packet(&line).await?;
                if line == "slow" {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
        }
    }

    fn pipelined_connection<'c>(
        handler: &'c Pipelined,
        client: &'c StreamClient<Bytes>,
        server_side: tokio::io::DuplexStream,
    ) -> Connection<'c, Pipelined, tokio::io::DuplexStream, BytesLines> {
        Connection {
            handler,
            client,
            reader: RequestReader::new(server_side, BytesLines::new(), 16 * 1024),
            shutdown: CancellationToken::new(),
            shutdown_timeout: Duration::from_secs(1),
        }
    }

    fn recording_client(writes: &Writes) -> StreamClient<Bytes> {
        StreamClient::new(
            Box::new(writes.clone()),
            Box::new(BytesLines::new()),
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            true,
        )
    }

    #[tokio::test]
    async fn requests_buffered_behind_a_close_are_not_handled() {
        let (mut peer, server_side) = tokio::io::duplex(64 * 1024);
        let writes = Writes::default();
        let client = recording_client(&writes);
        // All four arrive in one read: `b` and `c` wait in the inbox when `quit` closes.
        peer.write_all(b"a\nquit\nb\nc\n").await.unwrap();
        let handler = Pipelined::default();
        pipelined_connection(&handler, &client, server_side)
            .run()
            .await;
        assert_eq!(writes.0.lock().unwrap().concat(), b"a\n");
        assert_eq!(
            handler.received.into_inner(),
            2,
            "only `a` and `quit` received"
        );
    }

    #[tokio::test]
    async fn the_response_to_the_last_buffered_request_is_not_held_back() {
        let (mut peer, server_side) = tokio::io::duplex(64 * 1024);
        let writes = Writes::default();
        let client = recording_client(&writes);
        // `slow` is the last request buffered: its response must go out before the
        // handler's long wait, not after it.
        peer.write_all(b"1\n2\nslow\n").await.unwrap();
        let handler = Pipelined::default();
        let connection = pipelined_connection(&handler, &client, server_side).run();
        let outcome = tokio::time::timeout(Duration::from_millis(300), connection).await;
        assert!(outcome.is_err(), "the handler is still waiting");
        assert_eq!(writes.0.lock().unwrap().clone(), [b"1\n2\nslow\n".to_vec()]);
    }

    #[tokio::test]
    async fn more_requests_than_the_inbox_holds_are_all_answered_in_order() {
        let requests: Vec<u8> = (0..3 * INBOX_CAPACITY + 5)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let writes = echo_through(&requests).await;
        assert_eq!(writes.concat(), requests);
    }
}
