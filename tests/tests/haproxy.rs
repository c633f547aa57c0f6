//! easynet behind a real HAProxy (Debian's package, `mode tcp`, roundrobin, health checks
//! every 100 ms): killing one backend loses no request on a new connection, and draining
//! one (SIGTERM) loses none either: its clients are closed one by one and reconnect
//! through HAProxy to the other. With `send-proxy-v2` (and `--proxy-protocol 127.0.0.1`
//! on the servers) a handler sees the client's own address, and HAProxy's health checks
//! (`LOCAL` headers) leave no line in the servers' INFO log.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use easynet_tests::services::{Haproxy, HaproxyOptions};
use easynet_tests::{RawPeer, ServerProcess, eventually, example_binary, wait_refused, within};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// The tests' clients connect from this loopback address; HAProxy connects to the
/// servers from 127.0.0.1. A server that reported the address `accept()` gave it would
/// say 127.0.0.1.
const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// What the servers' debug line says for a health check (a PROXY v2 `LOCAL` header).
const HEALTH_CHECK: &str = "PROXY protocol LOCAL connection (health check)";

/// A backend: `example` (`echo_server`, `whoami_server`) on a free loopback port.
/// With `proxy_protocol` it takes `--proxy-protocol` with that list, and logs at INFO
/// except for the PROXY protocol module, at DEBUG: the test then sees each health check
/// arrive (a DEBUG line) and can check that none left an INFO line.
async fn backend(
    example: &str,
    name: &str,
    drain_grace: &str,
    proxy_protocol: Option<&str>,
) -> ServerProcess {
    let mut command = tokio::process::Command::new(example_binary(example));
    command.args([
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--drain-grace",
        drain_grace,
    ]);
    match proxy_protocol {
        Some(trusted) => {
            command
                .args(["--proxy-protocol", trusted])
                .env("RUST_LOG", "info,easynet::server::proxy=debug");
        }
        None => {
            command.env("RUST_LOG", "info");
        }
    }
    ServerProcess::spawn(command, name).await
}

async fn echo_server(name: &str, drain_grace: &str) -> ServerProcess {
    backend("echo_server", name, drain_grace, None).await
}

/// The `client=` addresses of a server's INFO lines (connections accepted and closed).
fn info_clients(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|line| line.contains(" INFO "))
        .filter_map(|line| {
            let (_, rest) = line.split_once("client=")?;
            Some(rest.split_whitespace().next().unwrap_or("").to_owned())
        })
        .collect()
}

/// How many health checks a server has logged (at DEBUG) so far.
fn health_checks(server: &ServerProcess) -> usize {
    server.stderr().matches(HEALTH_CHECK).count()
}

/// Checks that health checks reached the server (DEBUG lines, none at INFO) and that every
/// connection its INFO log mentions is one of the test's, from [`CLIENT_IP`], or the
/// connection with which the test found HAProxy listening (`probe`).
fn assert_no_health_check_at_info(name: &str, stderr: &str, probe: SocketAddr) {
    assert!(
        stderr.contains(HEALTH_CHECK),
        "{name}: no health check arrived:\n{stderr}"
    );
    for line in stderr.lines().filter(|line| line.contains(HEALTH_CHECK)) {
        assert!(
            line.contains(" DEBUG "),
            "{name}: health check logged above DEBUG: {line}"
        );
    }
    for client in info_clients(stderr) {
        assert!(
            client.starts_with(&format!("{CLIENT_IP}:")) || client == probe.to_string(),
            "{name}: an INFO line for a connection that is not the test's ({client}):\n{stderr}"
        );
    }
}

#[tokio::test]
async fn behind_haproxy_send_proxy_v2_the_handler_sees_the_client_and_checks_are_not_logged() {
    let a = backend("whoami_server", "whoami_server a", "1", Some("127.0.0.1")).await;
    let b = backend("whoami_server", "whoami_server b", "1", Some("127.0.0.1")).await;
    let proxy = Haproxy::start_with(
        &[a.addr, b.addr],
        HaproxyOptions {
            send_proxy_v2: true,
        },
    )
    .await;
    // HAProxy's health checks reach both servers.
    a.wait_stderr(HEALTH_CHECK).await;
    b.wait_stderr(HEALTH_CHECK).await;
    const CONNECTIONS: usize = 6;
    let mut ours = Vec::new();
    for n in 0..CONNECTIONS {
        let mut peer = RawPeer::connect_from(CLIENT_IP, proxy.addr).await;
        peer.send(format!("{{\"n\": {n}}}\n").as_bytes()).await;
        let answer = peer.json().await;
        let me = peer.local_addr();
        assert_eq!(answer["remote"], json!(me.to_string()), "{answer}");
        let seen_proxy: SocketAddr = answer["proxy"]
            .as_str()
            .unwrap_or_else(|| panic!("no proxy address: {answer}"))
            .parse()
            .expect("the proxy's address");
        // HAProxy's own connection to the server: from 127.0.0.1, not the test's port
        // nor HAProxy's frontend.
        assert_eq!(seen_proxy.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST), "{answer}");
        assert_ne!(seen_proxy, proxy.addr);
        ours.push(me.to_string());
    }
    // Health checks went on after the test's connections: a few more on each server.
    let (checks_a, checks_b) = (health_checks(&a), health_checks(&b));
    eventually("more health checks", || {
        health_checks(&a) > checks_a + 1 && health_checks(&b) > checks_b + 1
    })
    .await;
    let probe = proxy.probe;
    proxy.stop().await;
    let logs = [("a", a.interrupt().await), ("b", b.interrupt().await)];
    let mut accepted = 0;
    for (name, stderr) in &logs {
        assert_no_health_check_at_info(name, stderr, probe);
        for client in info_clients(stderr) {
            assert!(
                ours.contains(&client) || client == probe.to_string(),
                "{name}: unknown client {client}"
            );
        }
        accepted += stderr
            .lines()
            .filter(|line| line.contains("accepted new connection"))
            .filter(|line| {
                ours.iter()
                    .any(|me| line.contains(&format!("client={me} ")))
            })
            .count();
    }
    assert_eq!(accepted, CONNECTIONS, "{logs:?}");
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
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind(SocketAddr::new(CLIENT_IP, 0))
            .expect("bind the client address");
        let stream: TcpStream = within(socket.connect(addr))
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
    drain_one_backend(false).await;
}

#[tokio::test]
async fn draining_a_backend_behind_send_proxy_v2_logs_no_health_check() {
    drain_one_backend(true).await;
}

/// Two `echo_server`s behind HAProxy, six clients talking through it; `a` is drained
/// (SIGTERM) mid-run. With `send_proxy_v2`, HAProxy sends PROXY v2 headers (`LOCAL` ones
/// for its health checks) and the servers trust 127.0.0.1.
async fn drain_one_backend(send_proxy_v2: bool) {
    let trusted = send_proxy_v2.then_some("127.0.0.1");
    let mut a = backend("echo_server", "echo_server a", "1", trusted).await;
    let b = backend("echo_server", "echo_server b", "1", trusted).await;
    let proxy = Haproxy::start_with(&[a.addr, b.addr], HaproxyOptions { send_proxy_v2 }).await;
    if send_proxy_v2 {
        a.wait_stderr(HEALTH_CHECK).await;
    }
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
    if send_proxy_v2 {
        assert_no_health_check_at_info("echo_server a", &stderr, proxy.probe);
        assert!(
            stderr.contains("accepted new connection"),
            "a served none of the clients:\n{stderr}"
        );
    }
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
