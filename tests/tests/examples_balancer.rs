//! The server tools behind a load balancer, run as the user runs them:
//! `--proxy-protocol TRUSTED` on `echo_server` and `whoami_server`, and two
//! `echo_server` (and two `udp_echo_server`) processes sharing a port with `--reuse-port`.
//!
//! The binaries are found in `$EASYNET_EXAMPLES_DIR` (`tests/run.sh` builds them and
//! sets it); a missing variable or binary fails the test.

use std::net::SocketAddr;

use easynet_tests::{RawPeer, STEP, ServerProcess, example_binary, within};
use serde_json::json;
use tokio::process::Command;

fn tool(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example_binary(name));
    command.env("RUST_LOG", "info").args(args);
    command
}

fn v1(client: &str, server: SocketAddr) -> Vec<u8> {
    let client: SocketAddr = client.parse().unwrap();
    format!(
        "PROXY TCP4 {} {} {} {}\r\n",
        client.ip(),
        server.ip(),
        client.port(),
        server.port()
    )
    .into_bytes()
}

/// HAProxy's `send-proxy-v2` header for an IPv4 client: 28 bytes.
fn v2(client: &str, server: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(c), SocketAddr::V4(s)) = (client.parse().unwrap(), server) else {
        panic!("IPv4 only")
    };
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    bytes.extend(c.ip().octets());
    bytes.extend(s.ip().octets());
    bytes.extend(c.port().to_be_bytes());
    bytes.extend(s.port().to_be_bytes());
    bytes
}

/// HAProxy's health check with `send-proxy-v2`: `LOCAL`.
const V2_LOCAL: &[u8] = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";

#[tokio::test]
async fn whoami_server_reports_the_client_behind_a_trusted_proxy() {
    let server = ServerProcess::spawn(
        tool(
            "whoami_server",
            &["--port", "0", "--proxy-protocol", "127.0.0.1,10.0.0.0/8"],
        ),
        "whoami_server --proxy-protocol",
    )
    .await;
    let mut peer = RawPeer::connect(server.addr).await;
    let proxy = peer.local_addr().to_string();
    peer.send(&v2("198.51.100.9:5555", server.addr)).await;
    peer.send(b"{\"who\": 1}\n").await;
    assert_eq!(
        peer.json().await,
        json!({"remote": "198.51.100.9:5555", "proxy": proxy})
    );
    peer.send(b"[]\n").await;
    assert_eq!(
        peer.json().await,
        json!({"remote": "198.51.100.9:5555", "proxy": proxy})
    );

    let mut peer = RawPeer::connect(server.addr).await;
    let mut glued = v1("192.0.2.4:1000", server.addr);
    glued.extend(b"1\n");
    peer.send(&glued).await;
    assert_eq!(
        peer.json().await,
        json!({"remote": "192.0.2.4:1000", "proxy": peer.local_addr().to_string()})
    );

    // A health check, and a connection without its header: closed, no answer.
    for bytes in [V2_LOCAL, b"{\"no header\": 1}\n"] {
        let mut peer = RawPeer::connect(server.addr).await;
        peer.send(bytes).await;
        peer.expect_eof().await;
    }
    let stderr = server.interrupt().await;
    let accepted = stderr
        .lines()
        .filter(|l| l.contains("accepted new connection"))
        .collect::<Vec<_>>();
    assert_eq!(
        accepted.len(),
        2,
        "only the proxied clients are logged:\n{stderr}"
    );
    assert!(
        accepted
            .iter()
            .all(|l| l.contains("INFO") && l.contains("proxy=127.0.0.1:"))
    );
}

#[tokio::test]
async fn whoami_server_without_a_proxy_reports_the_peer() {
    let server =
        ServerProcess::spawn(tool("whoami_server", &["--port", "0"]), "whoami_server").await;
    let mut peer = RawPeer::connect(server.addr).await;
    peer.send(b"{}\n").await;
    assert_eq!(
        peer.json().await,
        json!({"remote": peer.local_addr().to_string(), "proxy": null})
    );
    server.interrupt().await;
}

#[tokio::test]
async fn echo_server_takes_headers_from_trusted_sources_only() {
    let trusting = ServerProcess::spawn(
        tool(
            "echo_server",
            &["--port", "0", "--proxy-protocol", "127.0.0.0/8"],
        ),
        "echo_server --proxy-protocol 127.0.0.0/8",
    )
    .await;
    // The header, then the client's first line in its own segment: echoed, header gone.
    let mut peer = RawPeer::connect(trusting.addr).await;
    peer.send(&v2("203.0.113.1:4000", trusting.addr)).await;
    peer.send(b"{\"line\": 1}\n").await;
    assert_eq!(peer.line().await.unwrap(), "{\"line\": 1}");
    let stderr = trusting.interrupt().await;
    assert!(stderr.contains("client=203.0.113.1:4000"), "{stderr}");

    let untrusting = ServerProcess::spawn(
        tool(
            "echo_server",
            &["--port", "0", "--proxy-protocol", "192.0.2.0/24"],
        ),
        "echo_server --proxy-protocol 192.0.2.0/24",
    )
    .await;
    // Not trusted: the v1 header is a line of data, answered as bad JSON.
    let mut peer = RawPeer::connect(untrusting.addr).await;
    peer.send(&v1("203.0.113.1:4000", untrusting.addr)).await;
    let answer = peer.json().await;
    assert!(
        answer["error"].as_str().unwrap().contains("invalid JSON"),
        "{answer}"
    );
    untrusting.interrupt().await;

    // A list that does not parse is refused at start.
    let output = within(
        tool(
            "echo_server",
            &["--port", "0", "--proxy-protocol", "10.0.0.0/40"],
        )
        .output(),
    )
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--proxy-protocol: invalid trusted source")
            && stderr.contains("10.0.0.0/40"),
        "{stderr}"
    );
}

/// Waits until `server` has logged accepting a connection from one of `ports`.
async fn accepted_one_of(server: &ServerProcess, ports: &[u16]) -> bool {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let stderr = server.stderr();
        if ports
            .iter()
            .any(|p| stderr.contains(&format!("client=127.0.0.1:{p} ")))
        {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        // The log line is written before the answer the test has already read: this
        // waits only for the collector to read the child's pipe.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn two_echo_servers_share_a_port_with_reuse_port() {
    let first = ServerProcess::spawn(
        tool("echo_server", &["--port", "0", "--reuse-port"]),
        "echo_server --reuse-port",
    )
    .await;
    let port = first.addr.port().to_string();
    let second = ServerProcess::spawn(
        tool("echo_server", &["--port", &port, "--reuse-port"]),
        "second echo_server --reuse-port",
    )
    .await;
    assert_eq!(second.addr, first.addr);
    // The kernel spreads connections over both by a hash of their addresses: 64
    // connections all going to one of two processes has odds of 2^-63.
    let mut ports = Vec::new();
    for i in 0..64 {
        let mut peer = RawPeer::connect(first.addr).await;
        ports.push(peer.local_addr().port());
        peer.send(format!("{i}\n").as_bytes()).await;
        assert_eq!(peer.line().await.unwrap(), i.to_string());
    }
    assert!(
        accepted_one_of(&first, &ports).await,
        "the first process served none:\n{}",
        first.stderr()
    );
    assert!(
        accepted_one_of(&second, &ports).await,
        "the second process served none:\n{}",
        second.stderr()
    );
    first.interrupt().await;
    // The second one goes on alone.
    let mut peer = RawPeer::connect(second.addr).await;
    peer.send(b"\"alone\"\n").await;
    assert_eq!(peer.line().await.unwrap(), "\"alone\"");
    second.interrupt().await;
}

/// One JSON datagram to `addr` from a fresh socket, and its echo.
async fn udp_echo(addr: SocketAddr, n: u32) -> serde_json::Value {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(format!("{{\"n\": {n}}}").as_bytes(), addr)
        .await
        .unwrap();
    let mut buf = vec![0; 1024];
    let len = within(socket.recv(&mut buf)).await.unwrap();
    serde_json::from_slice(&buf[..len]).unwrap()
}

#[tokio::test]
async fn two_udp_echo_servers_share_a_port_with_reuse_port() {
    let first = ServerProcess::spawn(
        tool("udp_echo_server", &["--port", "0", "--reuse-port"]),
        "udp_echo_server --reuse-port",
    )
    .await;
    let port = first.addr.port().to_string();
    // Without SO_REUSEPORT on both, this bind fails (the port is taken).
    let second = ServerProcess::spawn(
        tool("udp_echo_server", &["--port", &port, "--reuse-port"]),
        "second udp_echo_server --reuse-port",
    )
    .await;
    assert_eq!(second.addr, first.addr);
    for n in 0..32 {
        assert_eq!(udp_echo(first.addr, n).await, json!({"n": n}));
    }
    first.interrupt().await;
    // The second one goes on alone.
    for n in 32..40 {
        assert_eq!(udp_echo(second.addr, n).await, json!({"n": n}));
    }
    second.interrupt().await;
}
