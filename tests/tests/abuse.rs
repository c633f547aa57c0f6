//! What a hostile network does, against the `echo_server` tool itself (its command line,
//! its default limits, its memory read from `/proc`): idle hordes, slowloris, a full
//! connection limit, partial compressed frames, connect/reset churn, a peer that never
//! reads, garbage in every format. Each case checks behaviour and bounds, not timings;
//! every count is bounded and every wait ends by itself.
#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use easynet_tests::{RawPeer, ServerProcess, eventually, example_binary, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::Command;
use tokio_util::codec::Encoder;

async fn echo_server(args: &[&str]) -> ServerProcess {
    let mut command = Command::new(example_binary("echo_server"));
    command
        .args(["--port", "0"])
        .args(args)
        .env("RUST_LOG", "warn");
    ServerProcess::spawn(command, "echo_server").await
}

/// Echoes one line through a fresh connection: the server still serves.
async fn still_serves(addr: SocketAddr) {
    let mut peer = RawPeer::connect(addr).await;
    peer.send(b"{\"still\":\"serving\"}\n").await;
    assert_eq!(
        peer.line().await.as_deref(),
        Some("{\"still\":\"serving\"}")
    );
}

#[tokio::test]
async fn two_thousand_idle_connections_cost_little_each() {
    let server = echo_server(&[]).await;
    let before = server.status_kib("VmRSS");
    let fds = server.open_fds();
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(within(TcpStream::connect(server.addr)).await.unwrap());
    }
    // Every one is accepted (the server has a descriptor for each).
    eventually("2,000 connections accepted", || {
        server.open_fds() >= fds + 2000
    })
    .await;
    still_serves(server.addr).await;
    let after = server.status_kib("VmRSS");
    let per_connection = (after.saturating_sub(before) * 1024) / 2000;
    println!("2,000 idle connections: {per_connection} bytes of server RSS each");
    assert!(
        per_connection < 64 * 1024,
        "{per_connection} bytes per idle connection"
    );
    drop(idle);
    server.interrupt().await;
}

#[tokio::test]
async fn slowloris_peers_are_closed_by_the_frame_timeout() {
    let server = echo_server(&["--frame-timeout", "0.5"]).await;
    let mut peers = Vec::new();
    for _ in 0..200 {
        let mut peer = within(TcpStream::connect(server.addr)).await.unwrap();
        peer.write_all(b"{\"never\": \"ends").await.unwrap();
        peers.push(peer);
    }
    // Each keeps dribbling, one byte at a time, until the server closes it.
    let dribblers = peers.into_iter().map(|mut peer| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut buf = [0u8; 64];
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if peer.write_all(b"x").await.is_err() {
                            return;
                        }
                    }
                    read = peer.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(_) => panic!("a partial frame was answered"),
                    },
                }
            }
        })
    });
    for dribbler in dribblers {
        within(dribbler).await.unwrap();
    }
    still_serves(server.addr).await;
    server.interrupt().await;
}

#[tokio::test]
async fn the_connection_limit_holds_and_recovers() {
    let server = echo_server(&["--max-connections", "10"]).await;
    let fds = server.open_fds();
    let mut served = Vec::new();
    for i in 0..10 {
        let mut peer = RawPeer::connect(server.addr).await;
        peer.send(format!("{i}\n").as_bytes()).await;
        assert_eq!(peer.line().await, Some(i.to_string()));
        served.push(peer);
    }
    // Ten more connect (the kernel's backlog holds them) and ask; each is answered as
    // soon as one of the first ten leaves.
    let mut waiting = Vec::new();
    for i in 10..20 {
        let mut peer = RawPeer::connect(server.addr).await;
        peer.send(format!("{i}\n").as_bytes()).await;
        waiting.push((i, peer));
    }
    // The server goes on serving the first ten, and holds no more than ten.
    served[0].send(b"[\"again\"]\n").await;
    assert_eq!(served[0].line().await.as_deref(), Some("[\"again\"]"));
    assert_eq!(
        server.open_fds(),
        fds + 10,
        "more than ten connections accepted"
    );
    for ((i, mut peer), leaving) in waiting.into_iter().zip(served.drain(..)) {
        drop(leaving);
        assert_eq!(peer.line().await, Some(i.to_string()));
    }
    server.interrupt().await;
}

/// The first bytes of a compressed frame whose packet is large: a stream started and
/// never finished.
fn partial_frame(format: &str) -> Vec<u8> {
    let packet = serde_json::json!({ "padding": "y".repeat(60_000) });
    let mut frame = BytesMut::new();
    match format {
        "zlib-json" => easynet::Zlib::new(easynet::JsonSerializer::<serde_json::Value>::new())
            .encode(&packet, &mut frame)
            .unwrap(),
        "bz2-json" => easynet::Bz2::new(easynet::JsonSerializer::<serde_json::Value>::new())
            .encode(&packet, &mut frame)
            .unwrap(),
        other => unreachable!("{other}"),
    }
    frame[..100.min(frame.len() - 1)].to_vec()
}

async fn partial_frames_hold_little(format: &str) {
    // The frame timeout closes each connection once its partial frame has waited a
    // second: the sign that the server read it (and built its decoder's state).
    let server = echo_server(&["--format", format, "--frame-timeout", "1"]).await;
    let before = server.status_kib("VmRSS");
    let start = partial_frame(format);
    let mut peers = Vec::new();
    for _ in 0..200 {
        let mut peer = within(TcpStream::connect(server.addr)).await.unwrap();
        peer.write_all(&start).await.unwrap();
        peers.push(peer);
    }
    for mut peer in peers {
        let mut rest = Vec::new();
        within(peer.read_to_end(&mut rest)).await.unwrap();
        assert!(rest.is_empty(), "{format}: a partial frame was answered");
    }
    // The high-water mark: the most the server ever held, all 200 at once included.
    let grown = server.status_kib("VmHWM").saturating_sub(before);
    let per_connection = grown * 1024 / 200;
    println!("{format}: {per_connection} bytes of server memory per partial frame");
    // About 2x the frame limit (64 KiB) at most, plus the connection itself.
    assert!(
        per_connection < 2 * 64 * 1024 + 32 * 1024,
        "{format}: {per_connection} bytes per connection holding a partial frame"
    );
    server.interrupt().await;
}

#[tokio::test]
async fn partial_zlib_frames_hold_bounded_memory() {
    partial_frames_hold_little("zlib-json").await;
}

#[tokio::test]
async fn partial_bz2_frames_hold_bounded_memory() {
    partial_frames_hold_little("bz2-json").await;
}

#[tokio::test]
async fn connect_and_reset_churn_leaks_no_descriptor() {
    let server = echo_server(&[]).await;
    still_serves(server.addr).await;
    let baseline = server.open_fds();
    for i in 0..1000 {
        let stream = within(TcpStream::connect(server.addr)).await.unwrap();
        if i % 2 == 0 {
            // Half of them send part of a request first.
            let mut stream = stream;
            stream.write_all(b"{\"half\":").await.unwrap();
            stream.set_zero_linger().unwrap();
            drop(stream);
        } else {
            stream.set_zero_linger().unwrap();
            drop(stream);
        }
    }
    eventually("every reset connection closed at the server", || {
        server.open_fds() <= baseline
    })
    .await;
    still_serves(server.addr).await;
    server.interrupt().await;
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_hurt_the_others() {
    let server = echo_server(&[]).await;
    let before = server.status_kib("VmRSS");
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = within(socket.connect(server.addr)).await.unwrap();
    // Pipelined requests whose answers it never reads: far more than its buffers.
    let line = format!("\"{}\"\n", "z".repeat(60_000));
    let flood = tokio::spawn(async move {
        for _ in 0..2000 {
            if stuck.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
        stuck
    });
    for _ in 0..50 {
        still_serves(server.addr).await;
    }
    let grown = server.status_kib("VmRSS").saturating_sub(before);
    println!("server RSS growth with a client that never reads: {grown} KiB");
    // Its send queue is bounded (64 KiB + one packet), and so is what the server reads
    // from it meanwhile.
    assert!(grown < 16 * 1024, "{grown} KiB");
    flood.abort();
    server.interrupt().await;
}

#[tokio::test]
async fn garbage_in_every_format_is_survived() {
    let formats = [
        "json",
        "json-nolines",
        "lines",
        "cbor",
        "msgpack",
        "bincode",
        "base64-json",
        "zlib-json",
        "bz2-json",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for format in formats {
        let server = echo_server(&["--format", format, "--frame-timeout", "1"]).await;
        for _ in 0..20 {
            let mut garbage = vec![0u8; 4096];
            for byte in &mut garbage {
                // xorshift: the same garbage on every run.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = seed as u8;
            }
            let mut peer = within(TcpStream::connect(server.addr)).await.unwrap();
            let _ = peer.write_all(&garbage).await;
            let _ = peer.shutdown().await;
            // The server answers what it can (errors), then closes: read to the end.
            let mut sink = Vec::new();
            let _ = within(peer.read_to_end(&mut sink)).await;
        }
        if format == "json" {
            still_serves(server.addr).await;
        }
        // It never panicked, and it still exits cleanly on its signal.
        let stderr = server.interrupt().await;
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
    }
}
