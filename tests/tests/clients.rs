//! The client handle from everywhere: clones kept by handlers and other tasks, the
//! server's list of clients, broadcasts, a chat room.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use easynet::{
    BytesLines, ClientId, HandlerError, ProtocolError, SendError, StreamClient,
    StreamRequestHandler, StringLines, handler, recv,
};
use easynet_tests::{RawPeer, serve, within};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

/// Hands every connected client to the test, then waits in `recv!()` (echoing).
struct Registering {
    clients: mpsc::UnboundedSender<StreamClient<String>>,
    disconnected: mpsc::UnboundedSender<ClientId>,
}

impl StreamRequestHandler for Registering {
    type Request = String;
    type Response = String;

    async fn on_connection(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let _ = self.clients.send(client.clone());
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let line = recv!()?;
        client.send_packet(&format!("echo {line}")).await?;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<String>) {
        let _ = self.disconnected.send(client.id());
    }
}

fn registering() -> (
    Registering,
    mpsc::UnboundedReceiver<StreamClient<String>>,
    mpsc::UnboundedReceiver<ClientId>,
) {
    let (clients, clients_rx) = mpsc::unbounded_channel();
    let (disconnected, disconnected_rx) = mpsc::unbounded_channel();
    (
        Registering {
            clients,
            disconnected,
        },
        clients_rx,
        disconnected_rx,
    )
}

#[tokio::test]
async fn a_clone_sends_from_another_task_while_the_handler_waits_in_recv() {
    let (handler, mut clients, _) = registering();
    let running = serve(StringLines::new(), handler).await;
    let mut peer = RawPeer::connect(running.addr).await;
    let client = within(clients.recv()).await.unwrap();
    // The handler is waiting in recv!(), with no timeout: the push must go out at once.
    let pusher = tokio::spawn(async move {
        client.send_packet(&"pushed".to_owned()).await.unwrap();
        client
    });
    assert_eq!(peer.line().await.as_deref(), Some("pushed"));
    let client = pusher.await.unwrap();
    // The handler still serves as usual.
    peer.send(b"hi\n").await;
    assert_eq!(peer.line().await.as_deref(), Some("echo hi"));
    // Addresses work from every clone.
    assert_eq!(client.remote_addr(), peer.local_addr());
    assert_eq!(client.clone().local_addr(), running.addr);
    running.stop().await;
}

#[tokio::test]
async fn a_clone_kept_after_the_client_left_sends_nothing_and_holds_no_socket() {
    let (handler, mut clients, mut disconnected) = registering();
    let running = serve(StringLines::new(), handler).await;
    let mut peer = RawPeer::connect(running.addr).await;
    let client = within(clients.recv()).await.unwrap();
    // The clone closes the connection: the peer sees the end of the stream although a
    // handle is still alive (the socket is closed, not held by the clone).
    let closer = client.clone();
    tokio::spawn(async move { closer.close().await });
    peer.expect_eof().await;
    assert_eq!(within(disconnected.recv()).await, Some(client.id()));
    assert!(client.is_closing());
    assert!(matches!(
        client.send_packet(&"late".to_owned()).await,
        Err(SendError::Closed)
    ));
    running.stop().await;
}

#[tokio::test]
async fn a_clone_of_a_client_that_disconnected_fails_with_closed() {
    let (handler, mut clients, mut disconnected) = registering();
    let running = serve(StringLines::new(), handler).await;
    let peer = RawPeer::connect(running.addr).await;
    let client = within(clients.recv()).await.unwrap();
    drop(peer);
    assert_eq!(within(disconnected.recv()).await, Some(client.id()));
    assert!(matches!(
        client.send_packet(&"late".to_owned()).await,
        Err(SendError::Closed)
    ));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_from_several_tasks_never_interleave() {
    let (handler, mut clients, _) = registering();
    let running = serve(StringLines::new(), handler).await;
    let mut peer = RawPeer::connect(running.addr).await;
    let client = within(clients.recv()).await.unwrap();
    const TASKS: usize = 4;
    const EACH: usize = 200;
    let senders: Vec<_> = (0..TASKS)
        .map(|task| {
            let client = client.clone();
            tokio::spawn(async move {
                let letter = char::from(b'a' + task as u8);
                for _ in 0..EACH {
                    let line: String = std::iter::repeat_n(letter, 10_000).collect();
                    client.send_packet(&line).await.unwrap();
                }
            })
        })
        .collect();
    let mut counts = HashMap::new();
    for _ in 0..TASKS * EACH {
        let line = peer.line().await.expect("a line");
        let first = line.chars().next().expect("not empty");
        assert!(
            line.len() == 10_000 && line.chars().all(|c| c == first),
            "a torn line: {} bytes starting {:?}",
            line.len(),
            &line[..line.len().min(40)]
        );
        *counts.entry(first).or_insert(0) += 1;
    }
    for sender in senders {
        within(sender).await.unwrap();
    }
    assert_eq!(counts.len(), TASKS);
    assert!(counts.values().all(|&n| n == EACH), "{counts:?}");
    running.stop().await;
}

#[tokio::test]
async fn the_server_lists_counts_and_finds_its_clients() {
    let (handler, mut clients, mut disconnected) = registering();
    let running = serve(StringLines::new(), handler).await;
    let mut peers = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        peers.push(RawPeer::connect(running.addr).await);
        ids.push(within(clients.recv()).await.unwrap().id());
    }
    assert_eq!(running.server.client_count(), 3);
    assert_eq!(running.server.handle().client_count(), 3);
    let mut listed: Vec<ClientId> = running.server.clients().iter().map(|c| c.id()).collect();
    listed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected);

    // Another part of the program sends to one client by id.
    let second = running.server.client(ids[1]).expect("connected");
    second.send_packet(&"just you".to_owned()).await.unwrap();
    assert_eq!(peers[1].line().await.as_deref(), Some("just you"));

    drop(peers.remove(0));
    assert_eq!(within(disconnected.recv()).await, Some(ids[0]));
    assert_eq!(running.server.client_count(), 2);
    assert!(running.server.client(ids[0]).is_none());
    running.stop().await;
}

/// `BytesLines`, counting how many packets it encodes (across its clones).
#[derive(Clone)]
struct CountingLines {
    inner: BytesLines,
    encoded: &'static AtomicUsize,
}

impl Decoder for CountingLines {
    type Item = Bytes;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        self.inner.decode(src)
    }
}

impl Encoder<&Bytes> for CountingLines {
    type Error = ProtocolError;

    fn encode(&mut self, item: &Bytes, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.encoded.fetch_add(1, Ordering::Relaxed);
        self.inner.encode(item, dst)
    }
}

/// Says hello, then waits.
struct Quiet {
    connected: mpsc::UnboundedSender<()>,
}

impl StreamRequestHandler for Quiet {
    type Request = Bytes;
    type Response = Bytes;

    async fn on_connection(&self, _client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let _ = self.connected.send(());
        Ok(())
    }

    #[handler]
    async fn handle(&self, _client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        recv!()?;
        Ok(())
    }
}

#[tokio::test]
async fn a_broadcast_reaches_100_clients_and_is_encoded_once() {
    static ENCODED: AtomicUsize = AtomicUsize::new(0);
    let (connected, mut connected_rx) = mpsc::unbounded_channel();
    let protocol = CountingLines {
        inner: BytesLines::new(),
        encoded: &ENCODED,
    };
    let running = serve(protocol, Quiet { connected }).await;
    let mut peers = Vec::new();
    for _ in 0..100 {
        peers.push(RawPeer::connect(running.addr).await);
        within(connected_rx.recv()).await.unwrap();
    }
    let packet = Bytes::from(vec![b'x'; 1024]);
    let report = running.server.broadcast(&packet).unwrap();
    assert_eq!(report.sent(), 100);
    assert!(report.full().is_empty());
    assert_eq!(report.closed(), 0);
    assert_eq!(
        ENCODED.load(Ordering::Relaxed),
        1,
        "encoded once per client?"
    );
    for peer in &mut peers {
        assert_eq!(peer.line().await.map(|l| l.len()), Some(1024));
    }
    running.stop().await;
}

/// The how-to's chat room, as the `chat_room` example writes it: a nickname first, then
/// every line goes to everyone, joins and leaves announced.
#[derive(Default)]
struct Chat {
    members: Mutex<HashMap<ClientId, (StreamClient<String>, String)>>,
}

impl Chat {
    async fn announce(&self, line: String) {
        let members: Vec<_> = self
            .members
            .lock()
            .unwrap()
            .values()
            .map(|(client, _)| client.clone())
            .collect();
        easynet::broadcast(&members, &line).unwrap();
    }
}

impl StreamRequestHandler for Chat {
    type Request = String;
    type Response = String;

    #[handler]
    async fn on_connection(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let nick = recv!()?;
        self.announce(format!("* {nick} joined")).await;
        self.members
            .lock()
            .unwrap()
            .insert(client.id(), (client.clone(), nick.clone()));
        client.send_packet(&format!("welcome {nick}")).await?;
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let line = recv!()?;
        let nick = self.members.lock().unwrap()[&client.id()].1.clone();
        self.announce(format!("{nick}: {line}")).await;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<String>) {
        let left = self.members.lock().unwrap().remove(&client.id());
        if let Some((_, nick)) = left {
            self.announce(format!("* {nick} left")).await;
        }
    }
}

#[tokio::test]
async fn a_chat_with_three_clients() {
    let running = serve(StringLines::new(), Chat::default()).await;
    let mut ann = RawPeer::connect(running.addr).await;
    ann.send(b"ann\n").await;
    assert_eq!(ann.line().await.as_deref(), Some("welcome ann"));
    let mut bob = RawPeer::connect(running.addr).await;
    bob.send(b"bob\n").await;
    assert_eq!(ann.line().await.as_deref(), Some("* bob joined"));
    assert_eq!(bob.line().await.as_deref(), Some("welcome bob"));
    let mut cat = RawPeer::connect(running.addr).await;
    cat.send(b"cat\n").await;
    assert_eq!(ann.line().await.as_deref(), Some("* cat joined"));
    assert_eq!(bob.line().await.as_deref(), Some("* cat joined"));
    assert_eq!(cat.line().await.as_deref(), Some("welcome cat"));

    bob.send(b"hello all\n").await;
    for peer in [&mut ann, &mut bob, &mut cat] {
        assert_eq!(peer.line().await.as_deref(), Some("bob: hello all"));
    }
    cat.send(b"hi bob\n").await;
    for peer in [&mut ann, &mut bob, &mut cat] {
        assert_eq!(peer.line().await.as_deref(), Some("cat: hi bob"));
    }
    drop(ann);
    for peer in [&mut bob, &mut cat] {
        assert_eq!(peer.line().await.as_deref(), Some("* ann left"));
    }
    running.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn once_close_has_begun_no_clone_can_queue_more() {
    let (handler, mut clients, mut disconnected) = registering();
    let running = serve(StringLines::new(), handler).await;
    // A peer that reads nothing, with a queue to drain: `close` takes a while.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let _peer = within(socket.connect(running.addr)).await.unwrap();
    let client = within(clients.recv()).await.unwrap();
    let big: String = "x".repeat(8 << 20);
    client.send_packet(&big).await.unwrap();
    let closing = tokio::spawn({
        let client = client.clone();
        async move { client.close().await }
    });
    // The close task runs to its first wait (it cannot drain the queue).
    tokio::task::yield_now().await;
    assert!(client.is_closing());
    assert!(matches!(
        client.send_packet(&"after close".to_owned()).await,
        Err(SendError::Closed)
    ));
    assert!(matches!(
        client.try_send_packet(&"after close".to_owned()),
        Err(SendError::Closed)
    ));
    // close_now gives up on the queue at once: the connection ends without waiting
    // for the write timeout.
    client.close_now();
    assert_eq!(within(disconnected.recv()).await, Some(client.id()));
    within(closing).await.unwrap();
    running.stop().await;
}

#[tokio::test]
async fn a_server_task_can_be_raced_and_still_shut_down() {
    let (handler, _clients, _disconnected) = registering();
    let server = easynet::TcpServer::bind("127.0.0.1:0", StringLines::new(), handler)
        .await
        .unwrap();
    let mut running = server.spawn().await.unwrap();
    // Racing `stopped` against something else leaves the task usable.
    tokio::select! {
        () = running.stopped() => panic!("the server stopped by itself"),
        () = std::future::ready(()) => {}
    }
    // Another task shuts it down; `stopped` then returns, and `join` gives the result.
    let handle = running.handle().clone();
    tokio::spawn(async move { handle.shutdown().await });
    within(running.stopped()).await;
    within(running.join()).await.unwrap();
}
