//! `chat_cluster`: two processes and a real `redis-server`; clients connected to either
//! process directly, and through a real HAProxy in front of both, each see every line,
//! in the same order; a nickname is unique across the cluster.

use std::net::SocketAddr;

use easynet_tests::services::{Haproxy, Redis};
use easynet_tests::{RawPeer, ServerProcess, example_binary};

async fn node(redis: &Redis, name: &str) -> ServerProcess {
    let mut command = tokio::process::Command::new(example_binary("chat_cluster"));
    command
        .args(["--port", "0", "--redis", &redis.url(), "--node", name])
        .env("RUST_LOG", "info");
    ServerProcess::spawn(command, name).await
}

/// Connects, reads the prompt, gives `nickname`.
async fn join(addr: SocketAddr, nickname: &str) -> RawPeer {
    let mut peer = RawPeer::connect(addr).await;
    assert_eq!(
        peer.line().await.as_deref(),
        Some("* welcome to the chat room! your nickname?")
    );
    peer.send(format!("{nickname}\n").as_bytes()).await;
    peer
}

async fn all_hear(peers: &mut [&mut RawPeer], line: &str) {
    for peer in peers.iter_mut() {
        assert_eq!(peer.line().await.as_deref(), Some(line));
    }
}

#[tokio::test]
async fn every_client_on_every_node_sees_every_line() {
    let redis = Redis::start().await;
    let one = node(&redis, "one").await;
    let two = node(&redis, "two").await;
    let proxy = Haproxy::start(&[one.addr, two.addr]).await;

    let mut alice = join(one.addr, "alice").await;
    all_hear(&mut [&mut alice], "* alice joined").await;
    let mut bob = join(two.addr, "bob").await;
    all_hear(&mut [&mut alice, &mut bob], "* bob joined").await;
    // Through HAProxy, to whichever node it picks.
    let mut carol = join(proxy.addr, "carol").await;
    all_hear(&mut [&mut alice, &mut bob, &mut carol], "* carol joined").await;

    // A nickname taken on the other node is refused here too.
    let mut dave = join(one.addr, "bob").await;
    assert_eq!(
        dave.line().await.as_deref(),
        Some("* bob is taken, try another nickname")
    );
    dave.send(b"dave\n").await;
    all_hear(
        &mut [&mut alice, &mut bob, &mut carol, &mut dave],
        "* dave joined",
    )
    .await;

    // Every line reaches everyone, the sender too, in one order.
    for (speaker, text) in [
        (0, "hi from one"),
        (1, "hi from two"),
        (2, "hi via haproxy"),
    ] {
        let nick = ["alice", "bob", "carol"][speaker];
        let mut peers = [&mut alice, &mut bob, &mut carol, &mut dave];
        peers[speaker].send(format!("{text}\n").as_bytes()).await;
        all_hear(&mut peers, &format!("{nick}: {text}")).await;
    }
    // Two speakers at once: whatever the order, all see the same one.
    alice.send(b"first?\n").await;
    bob.send(b"or me?\n").await;
    let mut orders = Vec::new();
    for peer in [&mut alice, &mut bob, &mut carol, &mut dave] {
        orders.push([peer.line().await, peer.line().await]);
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "{orders:?}");

    bob.send(b"/quit\n").await;
    assert_eq!(bob.line().await.as_deref(), Some("* bye"));
    bob.expect_eof().await;
    all_hear(&mut [&mut alice, &mut carol, &mut dave], "* bob left").await;

    drop((alice, carol, dave));
    one.interrupt().await;
    two.interrupt().await;
    proxy.stop().await;
    redis.stop().await;
}
