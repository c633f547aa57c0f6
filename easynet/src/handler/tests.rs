//! A connection's whole life over in-memory pipes: the driver, the send queue and the
//! lifecycle together.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{StreamRequestHandler, serve};
use crate::connection::{
    Driver, Peer, ReadLimits, RequestReader, SendOptions, Shutdown, StreamClient,
};
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

fn client_writing_to(io: impl AsyncWrite + Send + Unpin + 'static) -> StreamClient<Bytes> {
    StreamClient::new(
        Box::new(io),
        Box::new(BytesLines::new()),
        Peer {
            remote: crate::Address::Inet("127.0.0.1:1".parse().unwrap()),
            local: crate::Address::Inet("127.0.0.1:2".parse().unwrap()),
            nodelay: true,
            credentials: None,
            proxy: None,
        },
        SendOptions {
            high_water: 64 * 1024,
            write_timeout: Some(Duration::from_secs(60)),
            metrics: crate::metrics::Metrics::default(),
        },
        Shutdown::new(Duration::from_secs(1)),
    )
}

async fn run<H>(handler: &H, client: &StreamClient<Bytes>, server_side: tokio::io::DuplexStream)
where
    H: StreamRequestHandler<Request = Bytes, Response = Bytes>,
{
    let reader = RequestReader::new(server_side, BytesLines::new(), 16 * 1024);
    let driver = Driver::new(client, reader, ReadLimits::default());
    serve(handler, client, driver, || {}).await;
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
    let client = client_writing_to(writes.clone());
    peer.write_all(requests).await.unwrap();
    peer.shutdown().await.unwrap();
    run(&Echo, &client, server_side).await;
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
async fn more_requests_than_the_inbox_holds_are_all_answered_in_order() {
    let requests: Vec<u8> = (0..3 * crate::connection::INBOX_CAPACITY + 5)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let writes = echo_through(&requests).await;
    assert_eq!(writes.concat(), requests);
}

/// Echoes in an inner loop, counting the requests it receives; `quit` closes the
/// client, `slow` waits a long time before the next `recv!()`.
#[derive(Default)]
struct Pipelined {
    received: AtomicUsize,
}

impl StreamRequestHandler for Pipelined {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        loop {
            let line = recv!()?;
            self.received.fetch_add(1, Ordering::Relaxed);
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

#[tokio::test]
async fn requests_buffered_behind_a_close_are_not_handled() {
    let (mut peer, server_side) = tokio::io::duplex(64 * 1024);
    let writes = Writes::default();
    let client = client_writing_to(writes.clone());
    // All four arrive in one read: `b` and `c` wait in the inbox when `quit` closes.
    peer.write_all(b"a\nquit\nb\nc\n").await.unwrap();
    let handler = Pipelined::default();
    run(&handler, &client, server_side).await;
    assert_eq!(writes.0.lock().unwrap().concat(), b"a\n");
    assert_eq!(
        handler.received.into_inner(),
        2,
        "only `a` and `quit` received"
    );
}

#[tokio::test(start_paused = true)]
async fn the_response_to_the_last_buffered_request_is_not_held_back() {
    let (mut peer, server_side) = tokio::io::duplex(64 * 1024);
    let writes = Writes::default();
    let client = client_writing_to(writes.clone());
    // `slow` is the last request buffered: its response must go out before the
    // handler's long wait, not after it.
    peer.write_all(b"1\n2\nslow\n").await.unwrap();
    let handler = Pipelined::default();
    let connection = run(&handler, &client, server_side);
    let outcome = tokio::time::timeout(Duration::from_secs(1), connection).await;
    assert!(outcome.is_err(), "the handler is still waiting");
    assert_eq!(writes.0.lock().unwrap().clone(), [b"1\n2\nslow\n".to_vec()]);
}

/// Sleeps before answering each request.
struct Sleepy;

impl StreamRequestHandler for Sleepy {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        client.send_packet(&line).await?;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn gathered_responses_go_out_when_the_handler_waits_for_anything() {
    let (mut peer, server_side) = tokio::io::duplex(64 * 1024);
    let writes = Writes::default();
    let client = client_writing_to(writes.clone());
    // Three pipelined requests: the answer to the first is gathered (more requests are
    // waiting), and must go out while the handler sleeps over the second, not after
    // the third.
    peer.write_all(b"1\n2\n3\n").await.unwrap();
    let connection = run(&Sleepy, &client, server_side);
    let outcome = tokio::time::timeout(Duration::from_secs(3), connection).await;
    assert!(
        outcome.is_err(),
        "the handler is still busy with the second"
    );
    assert_eq!(writes.0.lock().unwrap().concat(), b"1\n");
}
