//! Drain (`ServerHandle::drain`): the listener closes first, a busy request finishes and
//! its answer arrives, idle connections close one by one over the grace period, then the
//! server shuts down; and `echo_server` drains on SIGTERM, and stops at once on a second
//! signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use easynet::{HandlerError, JsonLines, StreamClient, StreamRequestHandler, handler, recv};
use easynet_tests::{RawPeer, ServerProcess, example_binary, serve, wait_refused, within};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

/// Echoes every request; `"slow"` is answered only once the test releases it.
struct Slow {
    busy: mpsc::UnboundedSender<()>,
    release: Arc<Notify>,
    gone: mpsc::UnboundedSender<SocketAddr>,
}

impl StreamRequestHandler for Slow {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        if request == "slow" {
            let _ = self.busy.send(());
            self.release.notified().await;
        }
        client.send_packet(&request).await?;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<Value>) {
        let _ = self.gone.send(client.remote_addr());
    }
}

#[tokio::test]
async fn drain_closes_the_listener_lets_the_busy_finish_and_spreads_idle_closes() {
    let (busy_tx, mut busy) = mpsc::unbounded_channel();
    let (gone_tx, mut gone) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let running = serve(
        JsonLines::new(),
        Slow {
            busy: busy_tx,
            release: Arc::clone(&release),
            gone: gone_tx,
        },
    )
    .await;
    let addr = running.addr;

    // Two idle clients (served once each, so they are connected and handed over) and one
    // whose request is in progress.
    let mut idle = Vec::new();
    for i in 0..2 {
        let mut peer = RawPeer::connect(addr).await;
        peer.send(format!("{{\"hi\": {i}}}\n").as_bytes()).await;
        assert_eq!(peer.json().await, json!({"hi": i}));
        idle.push(peer);
    }
    let mut busy_peer = RawPeer::connect(addr).await;
    busy_peer.send(b"\"slow\"\n").await;
    within(busy.recv()).await.unwrap();
    assert_eq!(running.server.connection_count(), 3);

    let grace = Duration::from_millis(1500);
    let started = Instant::now();
    let handle = running.server.handle();
    let drain = tokio::spawn(async move { handle.drain(grace).await });
    // The drain has begun (from here on, no connection is accepted any more).
    within(async {
        while !running.server.handle().is_draining() {
            tokio::task::yield_now().await;
        }
    })
    .await;

    // 1. The listener is closed first.
    wait_refused(addr).await;
    assert!(running.server.handle().is_draining());
    assert!(!running.server.handle().is_shutting_down());

    // 3. The idle connections close, one by one: three connections were open, so turns
    // are a third of the grace period apart, and the second idle one waits for its turn.
    let idle_addrs: Vec<SocketAddr> = idle.iter().map(RawPeer::local_addr).collect();
    let mut closed = Vec::new();
    for peer in &mut idle {
        peer.expect_eof().await;
    }
    for _ in 0..2 {
        closed.push(within(gone.recv()).await.unwrap());
    }
    closed.sort();
    let mut expected = idle_addrs.clone();
    expected.sort();
    assert_eq!(
        closed, expected,
        "the idle connections were the ones closed"
    );
    assert!(
        started.elapsed() >= grace / 3,
        "the second idle connection closed before its turn ({:?} of {grace:?})",
        started.elapsed()
    );

    // 2. The busy handler was not interrupted: its answer arrives once it finishes.
    assert!(!running.server.handle().is_shutting_down());
    release.notify_one();
    assert_eq!(busy_peer.json().await, json!("slow"));
    // Then it is idle, and closed at its turn; the shutdown follows.
    busy_peer.expect_eof().await;
    assert_eq!(within(gone.recv()).await.unwrap(), busy_peer.local_addr());
    within(drain).await.unwrap();
    assert!(running.server.handle().is_shutting_down());
    within(running.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_drain_with_no_connection_shuts_down_at_once() {
    let (busy, _) = mpsc::unbounded_channel();
    let (gone, _) = mpsc::unbounded_channel();
    let running = serve(
        JsonLines::new(),
        Slow {
            busy,
            release: Arc::new(Notify::new()),
            gone,
        },
    )
    .await;
    // A grace far longer than the test's step: the drain ends because nothing is left.
    within(running.server.drain(Duration::from_secs(3600))).await;
    wait_refused(running.addr).await;
    within(running.task).await.unwrap().unwrap();
}

async fn echo_server(drain_grace: &str) -> ServerProcess {
    let mut command = tokio::process::Command::new(example_binary("echo_server"));
    command
        .args([
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--drain-grace",
            drain_grace,
        ])
        .env("RUST_LOG", "info");
    ServerProcess::spawn(command, "echo_server").await
}

async fn echoed_peer(addr: SocketAddr, n: u32) -> RawPeer {
    let mut peer = RawPeer::connect(addr).await;
    peer.send(format!("{{\"n\": {n}}}\n").as_bytes()).await;
    assert_eq!(peer.json().await, json!({"n": n}));
    peer
}

#[tokio::test]
async fn echo_server_drains_on_sigterm() {
    let server = echo_server("1").await;
    let addr = server.addr;
    let mut peers = Vec::new();
    for n in 0..3 {
        peers.push(echoed_peer(addr, n).await);
    }
    server.signal("TERM");
    server.wait_stderr("draining").await;
    wait_refused(addr).await;
    // Every idle connection is closed in its turn, with an orderly end of stream.
    for peer in &mut peers {
        peer.expect_eof().await;
    }
    let stderr = server.wait_exit().await;
    assert!(stderr.contains("SIGTERM: draining"), "{stderr}");
    assert!(stderr.contains("server stopped"), "{stderr}");
}

#[tokio::test]
async fn a_second_signal_ends_the_drain_at_once() {
    // A drain of ten minutes: the test ends long before it unless the second signal
    // shuts the server down.
    let server = echo_server("600").await;
    let addr = server.addr;
    let mut first = echoed_peer(addr, 1).await;
    let mut second = echoed_peer(addr, 2).await;
    server.signal("TERM");
    server.wait_stderr("draining").await;
    // One of the two is closed at once (the first turn), the other waits for its turn
    // five minutes away.
    let (mut closed, mut waiting) = tokio::select! {
        line = first.line() => { assert_eq!(line, None); (first, second) }
        line = second.line() => { assert_eq!(line, None); (second, first) }
    };
    closed.expect_eof().await;
    waiting.send(b"{\"still\": \"served\"}\n").await;
    assert_eq!(waiting.json().await, json!({"still": "served"}));
    server.signal("INT");
    waiting.expect_eof().await;
    let stderr = server.wait_exit().await;
    assert!(
        stderr.contains("second signal: shutting down now"),
        "{stderr}"
    );
}
