//! easynet behind a real HAProxy (Debian's package, `mode tcp`, roundrobin, health checks
//! every 100 ms): killing one backend loses no request on a new connection, and draining
//! one (SIGTERM) loses none either: its clients are closed one by one and reconnect
//! through HAProxy to the other.

use std::net::SocketAddr;

use easynet_tests::services::Haproxy;
use easynet_tests::{RawPeer, ServerProcess, example_binary, wait_refused, within};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn echo_server(name: &str, drain_grace: &str) -> ServerProcess {
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
    ServerProcess::spawn(command, name).await
}

/// One request on a new connection through `addr`; its answer.
async fn one_shot(addr: SocketAddr, n: u32) -> Value {
    let mut peer = RawPeer::connect(addr).await;
    peer.send(format!("{{\"n\": {n}}}\n").as_bytes()).await;
    peer.json().await
}

#[tokio::test]
async fn killing_a_backend_loses_no_request_on_a_new_connection() {
    let a = echo_server("echo_server a", "1").await;
    let b = echo_server("echo_server b", "1").await;
    let proxy = Haproxy::start(&[a.addr, b.addr]).await;
    for n in 0..10 {
        assert_eq!(one_shot(proxy.addr, n).await, json!({"n": n}));
    }
    // Killed outright: no drain, its listener vanishes. HAProxy retries the connections
    // it sends there on the live one until its health check marks it down.
    a.signal("KILL");
    wait_refused(a.addr).await;
    for n in 10..60 {
        assert_eq!(
            one_shot(proxy.addr, n).await,
            json!({"n": n}),
            "request {n}"
        );
    }
    b.interrupt().await;
    proxy.stop().await;
}

/// A client that talks through HAProxy, one request per round the test opens, until the
/// test says stop ([`STOP`]); it reconnects (and sends the unanswered request again) whenever its
/// connection ends, and reports each answered round. Returns how many times it
/// reconnected.
async fn chatty_client(
    addr: SocketAddr,
    id: u32,
    mut rounds: tokio::sync::watch::Receiver<u32>,
    answered: tokio::sync::mpsc::UnboundedSender<u32>,
) -> u32 {
    let mut reconnects = 0;
    let mut n = 0;
    'connection: loop {
        let stream = within(TcpStream::connect(addr))
            .await
            .expect("connect to haproxy");
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        loop {
            if *within(rounds.wait_for(|open| *open > n))
                .await
                .expect("rounds")
                == STOP
            {
                return reconnects;
            }
            let request = format!("{{\"client\": {id}, \"n\": {n}}}\n");
            let mut line = String::new();
            let ok = match write.write_all(request.as_bytes()).await {
                Ok(()) => matches!(within(read.read_line(&mut line)).await, Ok(k) if k > 0),
                Err(_) => false,
            };
            if !ok {
                // The backend closed this connection (drained): connect again through
                // HAProxy and send the request again.
                reconnects += 1;
                assert!(reconnects < 20, "client {id} keeps losing its connection");
                continue 'connection;
            }
            let answer: Value = serde_json::from_str(&line).expect("JSON answer");
            assert_eq!(answer, json!({"client": id, "n": n}));
            let _ = answered.send(n);
            n += 1;
        }
    }
}

/// The round that tells the clients to stop.
const STOP: u32 = u32::MAX;

#[tokio::test]
async fn draining_a_backend_loses_no_request_and_its_clients_move() {
    let mut a = echo_server("echo_server a", "1").await;
    let b = echo_server("echo_server b", "1").await;
    let proxy = Haproxy::start(&[a.addr, b.addr]).await;
    const CLIENTS: u32 = 6;
    let (rounds, rounds_rx) = tokio::sync::watch::channel(0u32);
    let (answered_tx, mut answered) = tokio::sync::mpsc::unbounded_channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            tokio::spawn(chatty_client(
                proxy.addr,
                id,
                rounds_rx.clone(),
                answered_tx.clone(),
            ))
        })
        .collect();
    // One round: every client answered, so connected, spread over both backends.
    let mut round = 0;
    let mut play_round = async |round: &mut u32| {
        *round += 1;
        rounds.send_replace(*round);
        for _ in 0..CLIENTS {
            within(answered.recv()).await.expect("a client answered");
        }
    };
    play_round(&mut round).await;
    a.signal("TERM");
    a.wait_stderr("server draining").await;
    // Rounds go on while `a` closes its clients over its grace (1 s) and exits; then a
    // few more, all on `b`.
    while !a.has_exited() {
        assert!(round < 5000, "echo_server a did not exit after its drain");
        play_round(&mut round).await;
    }
    for _ in 0..3 {
        play_round(&mut round).await;
    }
    let stderr = a.wait_exit().await;
    assert!(stderr.contains("SIGTERM: draining"), "{stderr}");
    rounds.send_replace(STOP);
    let mut reconnects = 0;
    for client in clients {
        reconnects += within(client).await.unwrap();
    }
    // Every request was answered (each client checked every one); the clients `a` had
    // moved to `b` through HAProxy.
    assert!(
        reconnects >= 1,
        "no client was moved off the drained backend"
    );
    b.interrupt().await;
    proxy.stop().await;
}
