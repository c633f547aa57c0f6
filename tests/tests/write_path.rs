//! The write path against peers that misbehave: a peer that never reads, one that resets
//! mid-write, an encoder that panics, pipelined requests behind a slow handler, and a
//! shutdown whose bound must hold whatever the clients do.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use easynet::{
    BytesLines, HandlerError, ProtocolError, RecvError, SendError, StreamClient,
    StreamRequestHandler, TcpServer, handler, recv,
};
use easynet_tests::{RawPeer, STEP, logs, serve, start, within};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

/// Much more than the kernel buffers of a loopback connection hold (a few MiB at most).
const BIG: usize = 8 * 1024 * 1024;

fn big() -> Bytes {
    Bytes::from(vec![b'x'; BIG])
}

/// A peer with a small receive buffer that never reads (until the test says so).
async fn non_reading_peer(addr: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    within(socket.connect(addr)).await.unwrap()
}

/// Reads lines from a raw stream until `end`, returning the lengths of those before it.
async fn read_frames_until(stream: &mut TcpStream, end: &[u8]) -> Vec<usize> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    loop {
        while let Some(at) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(at + 1);
            if &line[..at] == end {
                return frames;
            }
            frames.push(at);
        }
        let n = within(stream.read_buf(&mut buf)).await.unwrap();
        assert!(n > 0, "EOF before {:?}", String::from_utf8_lossy(end));
    }
}

/// Sends a big response per request, and reports each `recv!()` timeout.
struct BigResponses {
    timeouts: mpsc::UnboundedSender<()>,
}

impl StreamRequestHandler for BigResponses {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        loop {
            match recv!(timeout = 300ms) {
                Ok(_) => client.send_packet(&big()).await?,
                Err(RecvError::Timeout) => {
                    let _ = self.timeouts.send(());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[tokio::test]
async fn recv_timeout_fires_while_responses_cannot_be_written() {
    let (timeouts, mut timed_out) = mpsc::unbounded_channel();
    let running = serve(BytesLines::new(), BigResponses { timeouts }).await;
    let mut peer = non_reading_peer(running.addr).await;
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"go\n")
        .await
        .unwrap();
    // The response cannot be written (the peer reads nothing), yet each recv!() that
    // follows still times out on time.
    for _ in 0..3 {
        within(timed_out.recv()).await.expect("a recv!() timeout");
    }
    running.stop().await;
}

/// On `go`: 64 sends of a big packet, each abandoned after 50 ms, then `end`.
struct Abandoning {
    report: mpsc::UnboundedSender<(usize, bool)>,
}

impl StreamRequestHandler for Abandoning {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let _ = recv!()?;
        let mut completed = 0;
        let packet = big();
        for _ in 0..64 {
            let send = client.send_packet(&packet);
            if let Ok(result) = tokio::time::timeout(Duration::from_millis(50), send).await {
                result?;
                completed += 1;
            }
        }
        let full = matches!(
            client.try_send_packet(&Bytes::from_static(b"try")),
            Err(SendError::Full)
        );
        let _ = self.report.send((completed, full));
        client.send_packet(&Bytes::from_static(b"end")).await?;
        Ok(())
    }
}

#[tokio::test]
async fn abandoned_sends_to_a_peer_that_never_reads_queue_nothing() {
    let (report, mut reported) = mpsc::unbounded_channel();
    let running = serve(BytesLines::new(), Abandoning { report }).await;
    let mut peer = non_reading_peer(running.addr).await;
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"go\n")
        .await
        .unwrap();
    let (completed, full) = within(reported.recv()).await.unwrap();
    // The first packet fits (the queue was empty); every later send waits for room,
    // which never comes, and is abandoned with nothing queued.
    assert_eq!(completed, 1, "sends past the high-water mark did not wait");
    assert!(full, "try_send_packet queued past the high-water mark");
    // Now the peer reads: exactly the completed packets come, whole, then `end`.
    let frames = read_frames_until(&mut peer, b"end").await;
    assert_eq!(frames, vec![BIG; completed]);
    running.stop().await;
}

/// A chat of byte lines: every line goes to every member.
struct Room {
    members: std::sync::Mutex<Vec<StreamClient<Bytes>>>,
    joined: mpsc::UnboundedSender<()>,
}

impl StreamRequestHandler for Room {
    type Request = Bytes;
    type Response = Bytes;

    async fn on_connection(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        self.members.lock().unwrap().push(client.clone());
        let _ = self.joined.send(());
        Ok(())
    }

    #[handler]
    async fn handle(&self, _client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        let members = self.members.lock().unwrap().clone();
        easynet::broadcast(&members, &line)?;
        Ok(())
    }
}

#[tokio::test]
async fn a_member_that_never_reads_does_not_slow_a_broadcast_to_the_others() {
    let (joined, mut joins) = mpsc::unbounded_channel();
    let room = Room {
        members: std::sync::Mutex::new(Vec::new()),
        joined,
    };
    let running = serve(BytesLines::new(), room).await;
    let _stuck = non_reading_peer(running.addr).await;
    within(joins.recv()).await.unwrap();
    let mut talker = RawPeer::connect(running.addr).await;
    within(joins.recv()).await.unwrap();
    // Lines of 64 KiB: the stuck member's kernel buffers and queue fill after a few
    // dozen; the talker must get every one of its own lines back all the same.
    let line = vec![b'y'; 64 * 1024];
    for _ in 0..200 {
        let mut message = line.clone();
        message.push(b'\n');
        talker.send(&message).await;
        assert_eq!(talker.line().await.map(|l| l.len()), Some(line.len()));
    }
    running.stop().await;
}

/// Sends big packets until a send fails, then reports how it ended.
struct Flooding {
    ended: mpsc::UnboundedSender<String>,
}

impl StreamRequestHandler for Flooding {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let _ = recv!()?;
        loop {
            client.send_packet(&big()).await?;
        }
    }

    async fn on_disconnection(&self, client: &StreamClient<Bytes>) {
        let _ = self
            .ended
            .send(format!("{} disconnected", client.remote_addr()));
    }
}

#[tokio::test]
async fn the_write_timeout_ends_a_connection_whose_peer_reads_nothing() {
    let (logs, _guard) = logs::capture();
    let (ended, mut disconnected) = mpsc::unbounded_channel();
    let server = TcpServer::builder(BytesLines::new(), Flooding { ended })
        .host("127.0.0.1")
        .write_timeout(Duration::from_millis(300))
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    let mut peer = non_reading_peer(running.addr).await;
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"go\n")
        .await
        .unwrap();
    within(disconnected.recv())
        .await
        .expect("on_disconnection ran");
    assert!(
        logs.has_line_with(&["DEBUG", "read nothing for the write timeout"]),
        "{}",
        logs.text()
    );
    assert!(!logs.text().contains("ERROR"), "{}", logs.text());
    running.stop().await;
}

#[tokio::test]
async fn a_reset_during_a_write_is_no_error() {
    let (logs, _guard) = logs::capture();
    let (ended, mut disconnected) = mpsc::unbounded_channel();
    let running = serve(BytesLines::new(), Flooding { ended }).await;
    let mut peer = TcpStream::connect(running.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"go\n")
        .await
        .unwrap();
    // Read a little of the flood, then reset the connection (unread data and linger 0
    // make the close a RST).
    let mut some = vec![0u8; 64 * 1024];
    within(peer.read_exact(&mut some)).await.unwrap();
    peer.set_zero_linger().unwrap();
    drop(peer);
    within(disconnected.recv())
        .await
        .expect("on_disconnection ran");
    assert!(!logs.text().contains("ERROR"), "{}", logs.text());
    running.stop().await;
}

/// A protocol whose encoder writes part of a frame, then panics, for the packet `boom`.
#[derive(Clone, Default)]
struct PanickyLines(BytesLines);

impl Decoder for PanickyLines {
    type Item = Bytes;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        self.0.decode(src)
    }
}

impl Encoder<&Bytes> for PanickyLines {
    type Error = ProtocolError;

    fn encode(&mut self, item: &Bytes, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        if item == "boom" {
            dst.extend_from_slice(b"{\"partial\":1");
            panic!("encoder bug");
        }
        self.0.encode(item, dst)
    }
}

/// Echoes, one generator per request.
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

#[tokio::test]
async fn an_encoder_panic_leaves_no_partial_frame() {
    let running = serve(PanickyLines::default(), Echo).await;
    let mut peer = TcpStream::connect(running.addr).await.unwrap();
    // `before` is answered (and may be gathered with the next answer); `boom` panics in
    // the encoder, which ends the handler: the connection closes cleanly after the
    // frames queued before it. `after` is never handled.
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"before\nboom\nafter\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    within(peer.read_to_end(&mut received)).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&received), "before\n");
    running.stop().await;
}

/// Takes a second per request, counting the requests it has answered.
struct Slow {
    answered: Arc<AtomicUsize>,
}

impl StreamRequestHandler for Slow {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        client.send_packet(&line).await?;
        self.answered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn the_first_pipelined_answer_does_not_wait_for_the_others() {
    let answered = Arc::new(AtomicUsize::new(0));
    let handler = Slow {
        answered: Arc::clone(&answered),
    };
    let running = serve(BytesLines::new(), handler).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"1\n2\n3\n").await;
    assert_eq!(peer.line().await.as_deref(), Some("1"));
    // The first answer came while the handler was still busy with the second request
    // (after one handler time, not three).
    assert!(
        answered.load(Ordering::SeqCst) < 3,
        "the first answer was held back until every request was handled"
    );
    assert_eq!(peer.line().await.as_deref(), Some("2"));
    assert_eq!(peer.line().await.as_deref(), Some("3"));
    running.stop().await;
}

/// What each connection of a shutdown run does, by its first request.
struct Mixed {
    disconnected: Arc<AtomicUsize>,
    busy: mpsc::UnboundedSender<()>,
}

impl StreamRequestHandler for Mixed {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        match &line[..] {
            // Stuck sending to a peer that reads nothing.
            b"flood" => loop {
                client.send_packet(&big()).await?;
            },
            // Busy with work that outlasts the grace period.
            b"work" => {
                let _ = self.busy.send(());
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            // Many answers, each reported as sent: all must arrive.
            b"many" => {
                for i in 0..100 {
                    client.send_packet(&Bytes::from(format!("{i}"))).await?;
                }
                client.send_packet(&Bytes::from_static(b"sent")).await?;
            }
            _ => client.send_packet(&line).await?,
        }
        Ok(())
    }

    async fn on_disconnection(&self, _client: &StreamClient<Bytes>) {
        self.disconnected.fetch_add(1, Ordering::SeqCst);
    }
}

/// One shutdown with every kind of client; returns how long `shutdown()` took.
async fn one_shutdown(grace: Duration) -> Duration {
    let disconnected = Arc::new(AtomicUsize::new(0));
    let (busy, mut busy_rx) = mpsc::unbounded_channel();
    let handler = Mixed {
        disconnected: Arc::clone(&disconnected),
        busy,
    };
    let server = TcpServer::builder(BytesLines::new(), handler)
        .host("127.0.0.1")
        .shutdown_timeout(grace)
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    let mut flood = non_reading_peer(running.addr).await;
    tokio::io::AsyncWriteExt::write_all(&mut flood, b"flood\n")
        .await
        .unwrap();
    let mut worker = RawPeer::connect(running.addr).await;
    worker.send(b"work\n").await;
    within(busy_rx.recv()).await.unwrap();
    let mut reader = RawPeer::connect(running.addr).await;
    reader.send(b"many\n").await;
    for i in 0..100 {
        assert_eq!(reader.line().await, Some(i.to_string()));
    }
    assert_eq!(reader.line().await.as_deref(), Some("sent"));
    let mut idle = RawPeer::connect(running.addr).await;
    idle.send(b"ping\n").await;
    assert_eq!(idle.line().await.as_deref(), Some("ping"));

    let started = Instant::now();
    within(running.server.shutdown()).await;
    let took = started.elapsed();
    within(running.task).await.unwrap().unwrap();
    assert_eq!(
        disconnected.load(Ordering::SeqCst),
        4,
        "on_disconnection ran once for each connection"
    );
    worker.expect_eof().await;
    idle.expect_eof().await;
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_connection_within_its_bound_in_50_runs() {
    let grace = Duration::from_millis(200);
    // The documented bound: the grace period plus one second. The slack covers a loaded
    // machine's scheduling, not the design.
    let bound = grace + Duration::from_secs(1) + Duration::from_millis(800);
    for round in 0..10 {
        let runs: Vec<_> = (0..5).map(|_| tokio::spawn(one_shutdown(grace))).collect();
        for run in runs {
            let took = tokio::time::timeout(STEP * 2, run)
                .await
                .expect("a shutdown run hung")
                .unwrap();
            assert!(
                took <= bound,
                "round {round}: shutdown took {took:?}, over {bound:?}"
            );
        }
    }
}

/// Answers each request after half a second.
struct Deliberate {
    started: mpsc::UnboundedSender<Bytes>,
}

impl StreamRequestHandler for Deliberate {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        let _ = self.started.send(line.clone());
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.send_packet(&line).await?;
        Ok(())
    }
}

#[tokio::test]
async fn at_shutdown_a_busy_handler_finishes_its_request_and_no_other_is_handled() {
    let (started, mut started_rx) = mpsc::unbounded_channel();
    let running = serve(BytesLines::new(), Deliberate { started }).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"first\nsecond\n").await;
    assert_eq!(
        within(started_rx.recv()).await.as_deref(),
        Some(&b"first"[..])
    );
    let stopping = tokio::spawn({
        let server = running.server.clone();
        async move { server.shutdown().await }
    });
    // A request that arrives during the grace period is not handled either.
    peer.send(b"third\n").await;
    assert_eq!(peer.line().await.as_deref(), Some("first"));
    peer.expect_eof().await;
    within(stopping).await.unwrap();
    assert!(
        started_rx.try_recv().is_err(),
        "a request was handled after shutdown"
    );
    within(running.task).await.unwrap().unwrap();
}
