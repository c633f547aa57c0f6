//! The limits a hostile network cannot get past: the connection limit, the frame and
//! idle timeouts, and fair scheduling between connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use easynet::{
    BytesLines, HandlerError, RecvError, StreamClient, StreamRequestHandler, TcpServer, handler,
    recv,
};
use easynet_tests::{RawPeer, logs, start, within};
use tokio::sync::mpsc;

/// Echoes, and reports every connection and disconnection, in order.
struct Reporting {
    events: mpsc::UnboundedSender<String>,
}

impl StreamRequestHandler for Reporting {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn on_connection(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        // The peer names itself first.
        let name = recv!()?;
        let _ = self
            .events
            .send(format!("connected {}", String::from_utf8_lossy(&name)));
        client.send_packet(&name).await?;
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        client.send_packet(&line).await?;
        Ok(())
    }

    async fn on_disconnection(&self, _client: &StreamClient<Bytes>) {
        let _ = self.events.send("disconnected".to_owned());
    }
}

fn reporting() -> (Reporting, mpsc::UnboundedReceiver<String>) {
    let (events, rx) = mpsc::unbounded_channel();
    (Reporting { events }, rx)
}

async fn named_peer(addr: std::net::SocketAddr, name: &str) -> RawPeer {
    let mut peer = RawPeer::connect(addr).await;
    peer.send(format!("{name}\n").as_bytes()).await;
    peer
}

#[tokio::test]
async fn the_connection_limit_holds_and_recovers() {
    let (logs, _guard) = logs::capture();
    let (handler, mut events) = reporting();
    let server = TcpServer::builder(BytesLines::new(), handler)
        .host("127.0.0.1")
        .max_connections(2)
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    let mut a = named_peer(running.addr, "a").await;
    assert_eq!(a.line().await.as_deref(), Some("a"));
    let mut b = named_peer(running.addr, "b").await;
    assert_eq!(b.line().await.as_deref(), Some("b"));
    assert_eq!(within(events.recv()).await.as_deref(), Some("connected a"));
    assert_eq!(within(events.recv()).await.as_deref(), Some("connected b"));
    assert_eq!(running.server.connection_count(), 2);
    // Three more wait in the backlog: none is served while a and b are.
    let mut waiting = Vec::new();
    for name in ["c", "d", "e"] {
        waiting.push(named_peer(running.addr, name).await);
    }
    a.send(b"still here\n").await;
    assert_eq!(a.line().await.as_deref(), Some("still here"));
    // Each time one leaves, exactly one newcomer is served, in turn.
    drop(a);
    assert_eq!(within(events.recv()).await.as_deref(), Some("disconnected"));
    let next = within(events.recv()).await.unwrap();
    assert!(next.starts_with("connected "), "{next}");
    drop(b);
    assert_eq!(within(events.recv()).await.as_deref(), Some("disconnected"));
    let next = within(events.recv()).await.unwrap();
    assert!(next.starts_with("connected "), "{next}");
    assert_eq!(running.server.connection_count(), 2);
    // Reaching the limit is one episode, logged once.
    let warnings = logs
        .text()
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert_eq!(warnings, 1, "{}", logs.text());
    drop(waiting);
    running.stop().await;
}

/// Waits in `recv!()` (with a timeout on request), echoes.
struct Patient;

impl StreamRequestHandler for Patient {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        if line == "wait" {
            // The handler's own timeout takes precedence over the frame timeout.
            match recv!(timeout = 1s) {
                Err(RecvError::Timeout) => client.send_packet(&"timed out".into()).await?,
                Ok(line) => client.send_packet(&line).await?,
                Err(e) => return Err(e.into()),
            }
        } else {
            client.send_packet(&line).await?;
        }
        Ok(())
    }
}

async fn patient_server(
    build: impl FnOnce(
        easynet::TcpServerBuilder<Patient, BytesLines>,
    ) -> easynet::TcpServerBuilder<Patient, BytesLines>,
) -> easynet_tests::Running<Patient, BytesLines> {
    let builder = TcpServer::builder(BytesLines::new(), Patient).host("127.0.0.1");
    start(build(builder).bind().await.unwrap()).await
}

#[tokio::test]
async fn a_slowloris_peer_is_closed_by_the_frame_timeout() {
    let (logs, _guard) = logs::capture();
    let running = patient_server(|b| b.frame_timeout(Duration::from_millis(300))).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"ok\n").await;
    assert_eq!(peer.line().await.as_deref(), Some("ok"));
    // One byte at a time, never a newline: the frame timeout counts from the first.
    let mut dribble = tokio::time::interval(Duration::from_millis(50));
    let closed = async {
        loop {
            dribble.tick().await;
            if peer.try_send(b"x").await.is_err() {
                break;
            }
        }
    };
    within(closed).await;
    assert!(
        logs.has_line_with(&["DEBUG", "frame timeout"]),
        "{}",
        logs.text()
    );
    running.stop().await;
}

#[tokio::test]
async fn a_recv_timeout_takes_precedence_over_the_frame_timeout() {
    let running = patient_server(|b| b.frame_timeout(Duration::from_millis(100))).await;
    let mut peer = RawPeer::connect(running.addr).await;
    // The handler waits with its own 1 s timeout; a partial frame meanwhile does not
    // close the connection at 100 ms: the handler's timeout answers.
    peer.send(b"wait\npartial").await;
    assert_eq!(peer.line().await.as_deref(), Some("timed out"));
    running.stop().await;
}

#[tokio::test]
async fn an_idle_peer_is_closed_by_the_idle_timeout() {
    let (logs, _guard) = logs::capture();
    let running = patient_server(|b| b.idle_timeout(Duration::from_millis(300))).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"ping\n").await;
    assert_eq!(peer.line().await.as_deref(), Some("ping"));
    peer.expect_eof().await;
    assert!(
        logs.has_line_with(&["DEBUG", "idle timeout"]),
        "{}",
        logs.text()
    );
    running.stop().await;
}

/// Echoes, counting the requests of connections that said `flood` first.
struct Counting {
    flooded: Arc<AtomicUsize>,
    seen_by_the_other: mpsc::UnboundedSender<usize>,
    flooding: mpsc::UnboundedSender<()>,
}

impl StreamRequestHandler for Counting {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        if line == "flood" {
            loop {
                let line = recv!()?;
                if self.flooded.fetch_add(1, Ordering::SeqCst) == 0 {
                    let _ = self.flooding.send(());
                }
                client.send_packet(&line).await?;
            }
        }
        let _ = self
            .seen_by_the_other
            .send(self.flooded.load(Ordering::SeqCst));
        client.send_packet(&line).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_with_many_buffered_requests_yields_to_the_others() {
    const FLOOD: usize = 50_000;
    let flooded = Arc::new(AtomicUsize::new(0));
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    let (flooding, mut flooding_rx) = mpsc::unbounded_channel();
    let handler = Counting {
        flooded: Arc::clone(&flooded),
        seen_by_the_other: seen,
        flooding,
    };
    let server = TcpServer::builder(BytesLines::new(), handler)
        .host("127.0.0.1")
        .max_recv_size(256 * 1024)
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    let mut polite = RawPeer::connect(running.addr).await;
    let mut flooder = RawPeer::connect(running.addr).await;
    let mut flood = b"flood\n".to_vec();
    for _ in 0..FLOOD {
        flood.extend_from_slice(b"1\n");
    }
    flooder.send(&flood).await;
    // Everything runs on this one thread: the polite client can only send once the
    // flooding connection has yielded, after it started on its requests.
    within(flooding_rx.recv()).await.unwrap();
    polite.send(b"hello\n").await;
    let when = within(seen_rx.recv()).await.unwrap();
    assert!(
        when < FLOOD,
        "the flooding connection kept the thread until its {when} requests were done"
    );
    assert_eq!(polite.line().await.as_deref(), Some("hello"));
    running.stop().await;
}
