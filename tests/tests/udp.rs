//! Datagram servers and clients over loopback (127.0.0.1, ::1, Unix socket files in a
//! temp dir): the rules of `DatagramRequestHandler` and the server's bounds, and the
//! `udp_echo_server` / `udp_echo_client` examples (from `EASYNET_EXAMPLES_DIR`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use easynet::{
    ClientError, DatagramClient, DatagramProtocol, DatagramRequestHandler, HandlerError,
    JsonSerializer, RecvError, UdpClient, UdpServer, handler, recv,
};
use easynet_tests::within;
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

fn json() -> DatagramProtocol<JsonSerializer<Value>> {
    DatagramProtocol::new(JsonSerializer::new())
}

/// Waits (bounded by `within`) until `condition` holds.
async fn until(mut condition: impl FnMut() -> bool) {
    within(async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// Two datagrams per conversation: answers `{"sum": a + b, "n": conversation number}`;
/// a datagram that fails to decode gets `{"error": ..}`; `{"wait": true}` first holds
/// the handler on the gate; a second `recv!()` times out after 300 ms into
/// `{"timeout": a}`.
#[derive(Default)]
struct Adder {
    conversations: AtomicUsize,
    gate: Option<Arc<Semaphore>>,
}

impl DatagramRequestHandler for Adder {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &DatagramClient<Value>) -> Result<(), HandlerError> {
        let n = self.conversations.fetch_add(1, Ordering::SeqCst);
        let a = match recv!() {
            Ok(a) => a,
            Err(RecvError::Parse(e)) => {
                client.send_packet(&json!({"error": e.to_string()})).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if a.get("wait").is_some()
            && let Some(gate) = &self.gate
        {
            let _permit = gate.acquire().await?;
            client.send_packet(&json!({"released": n})).await?;
            return Ok(());
        }
        match recv!(timeout = 300ms) {
            Ok(b) => {
                let sum = a.as_i64().unwrap_or(0) + b.as_i64().unwrap_or(0);
                client.send_packet(&json!({"sum": sum, "n": n})).await?;
            }
            Err(RecvError::Timeout) => client.send_packet(&json!({"timeout": a})).await?,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

async fn client(addr: std::net::SocketAddr) -> UdpClient<JsonSerializer<Value>> {
    within(UdpClient::connect(addr, json())).await.unwrap()
}

async fn answer(client: &UdpClient<JsonSerializer<Value>>) -> Value {
    within(client.recv_packet()).await.unwrap()
}

#[tokio::test]
async fn several_addresses_converse_at_once_on_ipv4_and_ipv6() {
    for host in ["127.0.0.1:0", "[::1]:0"] {
        let server = UdpServer::bind(host, json(), Adder::default())
            .await
            .unwrap();
        let task = server.spawn().await.unwrap();
        let addr = server.local_addrs()[0];
        let (a, b) = (client(addr).await, client(addr).await);
        // Interleaved: each address's datagrams go to its own conversation, in order.
        a.send_packet(&json!(1)).await.unwrap();
        b.send_packet(&json!(100)).await.unwrap();
        until(|| server.address_count() == 2).await;
        a.send_packet(&json!(2)).await.unwrap();
        b.send_packet(&json!(200)).await.unwrap();
        assert_eq!(answer(&a).await["sum"], 3);
        assert_eq!(answer(&b).await["sum"], 300);
        // A fresh conversation starts at the next datagram.
        a.send_packet(&json!(10)).await.unwrap();
        a.send_packet(&json!(20)).await.unwrap();
        let third = answer(&a).await;
        assert_eq!(third["sum"], 30);
        assert_eq!(server.handle().client_count(), 2);
        task.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_recv_timeout_inside_a_conversation() {
    let server = UdpServer::bind("127.0.0.1:0", json(), Adder::default())
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let a = client(server.local_addrs()[0]).await;
    a.send_packet(&json!(7)).await.unwrap();
    assert_eq!(answer(&a).await, json!({"timeout": 7}));
    // The address goes on: a new conversation.
    a.send_packet(&json!(1)).await.unwrap();
    a.send_packet(&json!(2)).await.unwrap();
    assert_eq!(answer(&a).await["sum"], 3);
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_datagram_that_fails_to_decode_comes_out_of_recv_as_a_parse_error() {
    let server = UdpServer::bind("[::1]:0", json(), Adder::default())
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let addr = server.local_addrs()[0];
    let raw = UdpSocket::bind("[::1]:0").await.unwrap();
    raw.connect(addr).await.unwrap();
    raw.send(b"{not json").await.unwrap();
    let mut buf = vec![0; 70_000];
    let n = within(raw.recv(&mut buf)).await.unwrap();
    let reply: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert!(
        reply["error"].as_str().unwrap().starts_with("invalid JSON"),
        "{reply}"
    );
    // The address goes on: the next datagrams make a conversation.
    raw.send(b"1").await.unwrap();
    raw.send(b"2").await.unwrap();
    let n = within(raw.recv(&mut buf)).await.unwrap();
    let reply: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(reply["sum"], 3);
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn queue_overflow_is_dropped_and_counted() {
    let gate = Arc::new(Semaphore::new(0));
    let handler = Adder {
        gate: Some(Arc::clone(&gate)),
        ..Adder::default()
    };
    let server = UdpServer::builder(json(), handler)
        .host("127.0.0.1")
        .queue_size(2)
        .bind()
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let a = client(server.local_addrs()[0]).await;
    a.send_packet(&json!({"wait": true})).await.unwrap();
    until(|| server.handler().conversations.load(Ordering::SeqCst) == 1).await;
    // The handler holds: 2 datagrams wait in the queue, 8 are dropped.
    for i in 0..10 {
        a.send_packet(&json!(i)).await.unwrap();
    }
    until(|| server.dropped_datagrams() == 8).await;
    gate.add_permits(1);
    assert_eq!(answer(&a).await, json!({"released": 0}));
    // The two queued ones make the next conversation: 0 + 1.
    assert_eq!(answer(&a).await, json!({"sum": 1, "n": 1}));
    assert_eq!(server.dropped_datagrams(), 8);
    task.shutdown().await.unwrap();
}

/// Counts conversations; returns before `recv!()` in every other one.
#[derive(Default)]
struct SkipEveryOther(AtomicUsize);

impl DatagramRequestHandler for SkipEveryOther {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &DatagramClient<Value>) -> Result<(), HandlerError> {
        if self.0.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            return Ok(());
        }
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_returning_before_its_first_recv_discards_the_datagram() {
    let server = UdpServer::bind("127.0.0.1:0", json(), SkipEveryOther::default())
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let a = client(server.local_addrs()[0]).await;
    for word in ["one", "two", "three", "four"] {
        a.send_packet(&json!(word)).await.unwrap();
    }
    assert_eq!(answer(&a).await, json!("two"));
    assert_eq!(answer(&a).await, json!("four"));
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_address_table_is_bounded_and_idle_addresses_are_forgotten() {
    let server = UdpServer::builder(json(), Adder::default())
        .host("127.0.0.1")
        .max_addresses(2)
        .idle_timeout(Duration::from_millis(200))
        .bind()
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let addr = server.local_addrs()[0];
    let (a, b, c) = (client(addr).await, client(addr).await, client(addr).await);
    a.send_packet(&json!(1)).await.unwrap();
    b.send_packet(&json!(1)).await.unwrap();
    until(|| server.address_count() == 2).await;
    c.send_packet(&json!(1)).await.unwrap();
    until(|| server.dropped_datagrams() == 1).await;
    // `a` and `b` time out their second recv!(), then sit idle: forgotten.
    assert_eq!(answer(&a).await, json!({"timeout": 1}));
    assert_eq!(answer(&b).await, json!({"timeout": 1}));
    until(|| server.address_count() == 0).await;
    assert_eq!(server.handle().client_count(), 0);
    c.send_packet(&json!(5)).await.unwrap();
    assert_eq!(answer(&c).await, json!({"timeout": 5}));
    task.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_flood_from_many_addresses_keeps_state_bounded() {
    const SENDERS: usize = 200;
    const BOUND: usize = 16;
    let server = UdpServer::builder(json(), Adder::default())
        .host("127.0.0.1")
        .max_addresses(BOUND)
        .bind()
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let addr = server.local_addrs()[0];
    let mut sockets = Vec::new();
    for _ in 0..SENDERS {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(b"{\"wait\": 1}", addr).await.unwrap();
        sockets.push(socket);
        assert!(server.address_count() <= BOUND);
    }
    until(|| {
        server.handler().conversations.load(Ordering::SeqCst) as u64 + server.dropped_datagrams()
            == SENDERS as u64
    })
    .await;
    assert_eq!(server.address_count(), BOUND);
    assert_eq!(server.dropped_datagrams(), (SENDERS - BOUND) as u64);
    task.shutdown().await.unwrap();
    assert_eq!(server.address_count(), 0);
}

#[tokio::test]
async fn shutdown_ends_waiting_conversations_and_serve_forever() {
    let server = UdpServer::bind("127.0.0.1:0", json(), Adder::default())
        .await
        .unwrap();
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    assert!(within(server.wait_serving()).await);
    let a = client(server.local_addrs()[0]).await;
    a.send_packet(&json!({"wait": true})).await.unwrap();
    until(|| server.address_count() == 1).await;
    within(server.shutdown()).await;
    within(serving).await.unwrap().unwrap();
    assert!(!server.is_serving());
    assert_eq!(server.handle().client_count(), 0);
    // A server serves once.
    assert!(server.serve_forever().await.is_err());
}

#[tokio::test]
async fn the_client_refuses_oversize_packets_and_times_out() {
    let server = UdpServer::bind("127.0.0.1:0", json(), Adder::default())
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let a = client(server.local_addrs()[0]).await;
    let big = json!("x".repeat(70_000));
    assert!(matches!(
        a.send_packet(&big).await,
        Err(ClientError::TooLarge { max: 65536, .. })
    ));
    // Nothing was sent: no conversation started.
    let err = a
        .recv_packet_timeout(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err}");
    assert_eq!(server.address_count(), 0);
    a.close().await;
    assert!(matches!(
        a.send_packet(&json!(1)).await,
        Err(ClientError::Closed)
    ));
    task.shutdown().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn unix_datagram_server_and_client_with_a_socket_file() {
    use easynet::{UnixDatagramClient, UnixDatagramServer};

    let dir = std::env::temp_dir().join(format!("easynet-udp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("server.sock");
    let server = UnixDatagramServer::bind(&path, json(), Adder::default())
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let c = within(UnixDatagramClient::connect_unix(
        &path,
        dir.join("client.sock"),
        json(),
    ))
    .await
    .unwrap();
    c.send_packet(&json!(4)).await.unwrap();
    c.send_packet(&json!(5)).await.unwrap();
    assert_eq!(within(c.recv_packet()).await.unwrap()["sum"], 9);
    // An unnamed socket cannot be answered: dropped and counted.
    let unnamed = tokio::net::UnixDatagram::unbound().unwrap();
    unnamed.send_to(b"1", &path).await.unwrap();
    until(|| server.dropped_datagrams() == 1).await;
    task.shutdown().await.unwrap();
    assert!(!path.exists(), "the socket file is removed at close");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_udp_echo_tools_talk_in_every_format() {
    use easynet_tests::{ServerProcess, example_binary, run_process};
    use tokio::process::Command;

    for format in [
        "json",
        "cbor",
        "msgpack",
        "bincode",
        "base64-json",
        "zlib-json",
        "bz2-json",
    ] {
        let mut command = Command::new(example_binary("udp_echo_server"));
        command.args(["--port", "0", "--format", format]);
        let server = ServerProcess::spawn(command, "the udp_echo_server example").await;
        let mut client = Command::new(example_binary("udp_echo_client"));
        client.args([
            "--port",
            &server.addr.port().to_string(),
            "--format",
            format,
        ]);
        client.args([r#"{"a": [1, 2.5, null]}"#, "hello", "-3"]);
        let output = run_process(client, "the udp_echo_client example").await;
        output.assert_success();
        assert_eq!(
            output.stdout.lines().collect::<Vec<_>>(),
            [r#"{"a":[1,2.5,null]}"#, r#""hello""#, "-3"],
            "{format}"
        );
        server.interrupt().await;
    }
}

/// Keeps every client it saw (a set: clients are equal by address); `service_init` and
/// its clean-up leave marks.
#[derive(Default)]
struct Registry {
    clients: std::sync::Mutex<std::collections::HashSet<DatagramClient<Value>>>,
    initialized: std::sync::atomic::AtomicBool,
    cleaned_up: Arc<std::sync::atomic::AtomicBool>,
}

impl DatagramRequestHandler for Registry {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &DatagramClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        let count = {
            let mut clients = self.clients.lock().unwrap();
            clients.insert(client.clone());
            clients.len()
        };
        // A clone sends from another task.
        let other = client.clone();
        tokio::spawn(async move {
            other
                .send_packet(&json!({"seen": count, "r": request}))
                .await
        })
        .await??;
        Ok(())
    }

    async fn service_init(
        self: Arc<Self>,
        exit_stack: &mut easynet::ExitStack,
        _server: &easynet::ServerHandle,
    ) -> Result<(), HandlerError> {
        self.initialized.store(true, Ordering::SeqCst);
        let cleaned_up = Arc::clone(&self.cleaned_up);
        exit_stack.callback(move || cleaned_up.store(true, Ordering::SeqCst));
        Ok(())
    }
}

#[tokio::test]
async fn service_init_runs_and_clients_compare_by_address() {
    let server = UdpServer::bind("127.0.0.1:0", json(), Registry::default())
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    assert!(server.handler().initialized.load(Ordering::SeqCst));
    let addr = server.local_addrs()[0];
    let (a, b) = (client(addr).await, client(addr).await);
    a.send_packet(&json!(1)).await.unwrap();
    assert_eq!(answer(&a).await, json!({"seen": 1, "r": 1}));
    // The same address in a fresh conversation: the same client.
    a.send_packet(&json!(2)).await.unwrap();
    assert_eq!(answer(&a).await, json!({"seen": 1, "r": 2}));
    b.send_packet(&json!(3)).await.unwrap();
    assert_eq!(answer(&b).await, json!({"seen": 2, "r": 3}));
    let seen: Vec<_> = server
        .handler()
        .clients
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.remote_address().clone())
        .collect();
    assert!(seen.contains(a.local_address()) && seen.contains(b.local_address()));
    assert!(!server.handler().cleaned_up.load(Ordering::SeqCst));
    task.shutdown().await.unwrap();
    assert!(server.handler().cleaned_up.load(Ordering::SeqCst));
}
