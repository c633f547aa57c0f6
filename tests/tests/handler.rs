//! The handler model of the how-to, over real loopback sockets: `recv!()` points,
//! timeouts, parse errors, disconnects, the generator lifecycle, hooks, per-client
//! variables.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use easynet::{
    ClientLocal, HandlerError, JsonLines, RecvError, SendError, StreamClient, StreamRequestHandler,
    handler, recv,
};
use easynet_tests::{RawPeer, eventually, logs, serve, within};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Events a handler reports to the test, in order.
#[derive(Clone)]
struct Events(mpsc::UnboundedSender<String>);

struct EventLog(mpsc::UnboundedReceiver<String>);

fn events() -> (Events, EventLog) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Events(tx), EventLog(rx))
}

impl Events {
    fn push(&self, event: impl Into<String>) {
        let _ = self.0.send(event.into());
    }
}

impl EventLog {
    async fn next(&mut self) -> String {
        within(self.0.recv()).await.expect("event channel closed")
    }

    /// Fails if any event is reported within a short while.
    async fn none_for(&mut self, wait: Duration) {
        if let Ok(Some(event)) = tokio::time::timeout(wait, self.0.recv()).await {
            panic!("unexpected event {event:?}");
        }
    }
}

/// Reports when dropped: shows that a generator was dropped (Python's GeneratorExit).
struct DropGuard(Events, &'static str);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.push(format!("dropped {}", self.1));
    }
}

// ---------------------------------------------------------------------------------------
// recv!() in loops: one generator serves a whole session; what recv!() returns.

struct InnerLoop {
    generators: AtomicUsize,
    events: Events,
}

impl StreamRequestHandler for InnerLoop {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let generation = self.generators.fetch_add(1, Ordering::SeqCst);
        let _guard = DropGuard(self.events.clone(), "generator");
        // Log in first, then serve requests in an inner loop.
        let user = recv!()?;
        client.send_packet(&json!({"welcome": user})).await?;
        while !client.is_closing() {
            match recv!() {
                Ok(request) => {
                    client
                        .send_packet(&json!({"gen": generation, "echo": request}))
                        .await?
                }
                Err(e) => {
                    self.events.push(format!("recv error: {e}"));
                    client.send_packet(&json!({"error": e.to_string()})).await?;
                }
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn recv_in_an_inner_loop_serves_many_requests_with_one_generator() {
    let (tx, mut log) = events();
    let running = serve(
        JsonLines::new(),
        InnerLoop {
            generators: AtomicUsize::new(0),
            events: tx,
        },
    )
    .await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"\"ann\"\n").await;
    assert_eq!(peer.json().await, json!({"welcome": "ann"}));
    for i in 0..5 {
        peer.send(format!("{{\"n\":{i}}}\n").as_bytes()).await;
        assert_eq!(peer.json().await, json!({"gen": 0, "echo": {"n": i}}));
    }
    // Pipelined requests are all answered, in order.
    peer.send(b"1\n2\n3\n").await;
    for i in 1..=3 {
        assert_eq!(peer.json().await, json!({"gen": 0, "echo": i}));
    }
    assert_eq!(
        running.server.handler().generators.load(Ordering::SeqCst),
        1
    );

    // A disconnect is never an error out of recv!(): the generator is dropped.
    drop(peer);
    assert_eq!(log.next().await, "dropped generator");
    log.none_for(Duration::from_millis(100)).await;
    running.stop().await;
}

#[tokio::test]
async fn a_bad_packet_is_a_parse_error_and_the_connection_stays_usable() {
    let (tx, mut log) = events();
    let running = serve(
        JsonLines::new(),
        InnerLoop {
            generators: AtomicUsize::new(0),
            events: tx,
        },
    )
    .await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"\"bob\"\n").await;
    peer.json().await;

    peer.send(b"{not json\n").await;
    let answer = peer.json().await;
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"),
        "{answer}"
    );
    assert!(log.next().await.starts_with("recv error: invalid JSON"));

    peer.send(b"\xff\xfe\n").await;
    assert!(peer.json().await["error"].is_string());
    log.next().await;

    // More than the 64 KiB limit on one line: one error, the line is skipped.
    let mut long = vec![b'"'; 1];
    long.extend(std::iter::repeat_n(b'x', 200 * 1024));
    long.extend_from_slice(b"\"\n");
    peer.send(&long).await;
    let answer = peer.json().await;
    assert_eq!(
        answer["error"],
        json!("frame too large: more than 65536 bytes")
    );
    log.next().await;

    peer.send(b"{\"still\":\"usable\"}\n").await;
    assert_eq!(peer.json().await["echo"], json!({"still": "usable"}));
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// recv!(timeout = ..)

struct Timeouts {
    events: Events,
    expr_timeout: Duration,
}

impl StreamRequestHandler for Timeouts {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        // A literal, then an expression giving Duration, then Option<Duration>.
        let which = recv!()?;
        let result = match which.as_str() {
            Some("literal") => recv!(timeout = 200ms),
            Some("decimal") => recv!(timeout = 0.2s),
            Some("duration") => recv!(timeout = self.expr_timeout),
            Some("option") => recv!(timeout = Some(self.expr_timeout)),
            _ => recv!(timeout = None::<Duration>),
        };
        match result {
            Ok(request) => client.send_packet(&json!({"got": request})).await?,
            Err(RecvError::Timeout) => {
                self.events.push("timed out");
                client.send_packet(&json!("timed out")).await?;
                // The handler goes on after a timeout: the next recv!() works.
                let late = recv!()?;
                client.send_packet(&json!({"late": late})).await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

#[tokio::test]
async fn recv_timeout_expires_and_the_handler_goes_on() {
    let (tx, mut log) = events();
    let running = serve(
        JsonLines::new(),
        Timeouts {
            events: tx,
            expr_timeout: Duration::from_millis(200),
        },
    )
    .await;
    let mut peer = RawPeer::connect(running.addr).await;
    for which in ["literal", "decimal", "duration", "option"] {
        peer.send(format!("\"{which}\"\n").as_bytes()).await;
        // Half a request arrives before the deadline: its bytes are kept.
        peer.send(b"{\"par").await;
        assert_eq!(peer.json().await, json!("timed out"), "{which}");
        assert_eq!(log.next().await, "timed out");
        peer.send(b"tial\":1}\n").await;
        assert_eq!(
            peer.json().await,
            json!({"late": {"partial": 1}}),
            "{which}"
        );
    }
    // In time: the request is delivered.
    peer.send(b"\"literal\"\n{\"quick\":1}\n").await;
    assert_eq!(peer.json().await, json!({"got": {"quick": 1}}));
    // No timeout (None): waits longer than the others' timeouts.
    peer.send(b"\"none\"\n").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    peer.send(b"2\n").await;
    assert_eq!(peer.json().await, json!({"got": 2}));
    log.none_for(Duration::from_millis(50)).await;
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// The generator lifecycle: Ok -> fresh generator; return before recv!() -> close;
// error or panic -> logged, closed, others unaffected, on_disconnection still runs.

struct Lifecycle {
    generators: AtomicUsize,
    disconnections: AtomicUsize,
    events: Events,
}

impl StreamRequestHandler for Lifecycle {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let generation = self.generators.fetch_add(1, Ordering::SeqCst);
        let request = recv!()?;
        match request.as_str() {
            Some("fail") => return Err("the handler failed on purpose".into()),
            Some("panic") => panic!("the handler panicked on purpose"),
            Some("close") => {
                client.send_packet(&json!("closing")).await?;
                client.close().await;
                let after = client.send_packet(&json!("after close")).await;
                self.events
                    .push(format!("send after close: {}", after.unwrap_err()));
                return Ok(());
            }
            _ => {}
        }
        client
            .send_packet(&json!({"gen": generation, "echo": request}))
            .await?;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<Value>) {
        self.disconnections.fetch_add(1, Ordering::SeqCst);
        self.events
            .push(format!("disconnected {}", client.remote_addr()));
    }
}

fn lifecycle() -> (Lifecycle, EventLog) {
    let (tx, log) = events();
    (
        Lifecycle {
            generators: AtomicUsize::new(0),
            disconnections: AtomicUsize::new(0),
            events: tx,
        },
        log,
    )
}

#[tokio::test]
async fn returning_ok_starts_a_fresh_generator_per_request() {
    let (handler, _log) = lifecycle();
    let running = serve(JsonLines::new(), handler).await;
    let mut peer = RawPeer::connect(running.addr).await;
    for i in 0..3 {
        peer.send(format!("{i}\n").as_bytes()).await;
        assert_eq!(peer.json().await, json!({"gen": i, "echo": i}));
    }
    // Requests arriving together: still one fresh generator each, answered in order.
    peer.send(b"3\n4\n5\n6\n").await;
    for i in 3..7 {
        assert_eq!(peer.json().await, json!({"gen": i, "echo": i}));
    }
    running.stop().await;
}

#[tokio::test]
async fn requests_that_arrived_behind_a_close_are_never_handled() {
    let (handler, mut log) = lifecycle();
    let running = serve(JsonLines::new(), handler).await;
    let mut peer = RawPeer::connect(running.addr).await;
    // One write: `1` and `2` are already received when the first request closes.
    peer.send(b"\"close\"\n1\n2\n").await;
    assert_eq!(peer.json().await, json!("closing"));
    peer.expect_eof().await;
    assert_eq!(log.next().await, "send after close: client closed");
    assert!(log.next().await.starts_with("disconnected"));
    assert_eq!(
        running.server.handler().generators.load(Ordering::SeqCst),
        1,
        "no generator started for the requests behind the close"
    );
    running.stop().await;
}

/// Returns before its first `recv!()` when told to by a shared flag.
struct EarlyReturn {
    serve_next: AtomicUsize,
}

impl StreamRequestHandler for EarlyReturn {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        if self.serve_next.fetch_sub(1, Ordering::SeqCst) == 0 {
            return Ok(());
        }
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

#[tokio::test]
async fn returning_before_the_first_recv_closes_the_connection() {
    let running = serve(
        JsonLines::new(),
        EarlyReturn {
            serve_next: AtomicUsize::new(1),
        },
    )
    .await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"1\n").await;
    assert_eq!(peer.json().await, json!(1));
    // The second generator returns at once: the server closes the connection.
    peer.expect_eof().await;
    running.stop().await;
}

#[tokio::test]
async fn an_error_is_logged_with_the_address_and_closes_only_that_client() {
    let (logs, _guard) = logs::capture();
    let (handler, mut log) = lifecycle();
    let running = serve(JsonLines::new(), handler).await;
    let mut other = RawPeer::connect(running.addr).await;
    let mut peer = RawPeer::connect(running.addr).await;
    other.send(b"\"hi\"\n").await;
    assert_eq!(other.json().await["echo"], json!("hi"));

    peer.send(b"\"fail\"\n").await;
    peer.expect_eof().await;
    let event = log.next().await;
    assert!(event.starts_with("disconnected"), "{event}");
    let port = event.rsplit(':').next().unwrap().to_owned();
    assert!(
        logs.has_line_with(&["ERROR", "the handler failed on purpose", &port]),
        "{}",
        logs.text()
    );

    // The other client is not affected.
    other.send(b"\"still here\"\n").await;
    assert_eq!(other.json().await["echo"], json!("still here"));
    running.stop().await;
}

#[tokio::test]
async fn a_panic_is_logged_closes_only_that_client_and_on_disconnection_runs() {
    let (logs, _guard) = logs::capture();
    let (handler, mut log) = lifecycle();
    let running = serve(JsonLines::new(), handler).await;
    let mut other = RawPeer::connect(running.addr).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"\"panic\"\n").await;
    peer.expect_eof().await;
    assert!(log.next().await.starts_with("disconnected"));
    assert!(
        logs.has_line_with(&["ERROR", "the handler panicked on purpose"]),
        "{}",
        logs.text()
    );
    other.send(b"\"fine\"\n").await;
    assert_eq!(other.json().await["echo"], json!("fine"));
    assert_eq!(
        running
            .server
            .handler()
            .disconnections
            .load(Ordering::SeqCst),
        1
    );
    running.stop().await;
}

#[tokio::test]
async fn close_from_the_body_ends_the_connection_and_later_sends_fail() {
    let (handler, mut log) = lifecycle();
    let running = serve(JsonLines::new(), handler).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"\"close\"\n").await;
    assert_eq!(peer.json().await, json!("closing"));
    peer.expect_eof().await;
    assert_eq!(log.next().await, "send after close: client closed");
    assert!(log.next().await.starts_with("disconnected"));
    // No new generator was made after close().
    assert_eq!(
        running.server.handler().generators.load(Ordering::SeqCst),
        1
    );
    running.stop().await;
}

#[tokio::test]
async fn on_disconnection_runs_once_whatever_ended_the_connection() {
    let (handler, mut log) = lifecycle();
    let running = serve(JsonLines::new(), handler).await;
    // The peer leaves, an error, a panic, close(): four connections, four calls.
    let mut peers = Vec::new();
    for request in [None, Some("fail"), Some("panic"), Some("close")] {
        let mut peer = RawPeer::connect(running.addr).await;
        if let Some(request) = request {
            peer.send(format!("\"{request}\"\n").as_bytes()).await;
        }
        peers.push(peer);
    }
    peers.remove(0).shutdown_write().await;
    let mut seen = 0;
    while seen < 4 {
        if log.next().await.starts_with("disconnected") {
            seen += 1;
        }
    }
    // And one more at shutdown for a client still connected.
    let _idle = RawPeer::connect(running.addr).await;
    eventually("the idle client connected", || {
        running.server.client_count() == 1
    })
    .await;
    let handler_disconnections = || {
        running
            .server
            .handler()
            .disconnections
            .load(Ordering::SeqCst)
    };
    assert_eq!(handler_disconnections(), 4);
    running.server.shutdown().await;
    assert_eq!(
        running
            .server
            .handler()
            .disconnections
            .load(Ordering::SeqCst),
        5
    );
    within(running.task).await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------
// Connection hooks.

struct Greeter {
    events: Events,
    connections: AtomicUsize,
}

impl StreamRequestHandler for Greeter {
    type Request = Value;
    type Response = Value;

    async fn on_connection(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        // Plain async fn: can send, can close (every second client).
        if self
            .connections
            .fetch_add(1, Ordering::SeqCst)
            .is_multiple_of(2)
        {
            client.send_packet(&json!("ready")).await?;
        } else {
            client.send_packet(&json!("go away")).await?;
            client.close().await;
        }
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        self.events.push(format!("handled {request}"));
        client.send_packet(&request).await?;
        Ok(())
    }
}

#[tokio::test]
async fn plain_on_connection_can_send_and_can_close() {
    let (tx, mut log) = events();
    let running = serve(
        JsonLines::new(),
        Greeter {
            events: tx,
            connections: AtomicUsize::new(0),
        },
    )
    .await;
    let mut welcomed = RawPeer::connect(running.addr).await;
    assert_eq!(welcomed.json().await, json!("ready"));
    welcomed.send(b"7\n").await;
    assert_eq!(welcomed.json().await, json!(7));
    assert_eq!(log.next().await, "handled 7");

    let mut refused = RawPeer::connect(running.addr).await;
    assert_eq!(refused.json().await, json!("go away"));
    refused.expect_eof().await;
    // handle() never ran for the refused client.
    log.none_for(Duration::from_millis(100)).await;
    running.stop().await;
}

static USER: ClientLocal<String> = ClientLocal::new();
static CLIENT_ADDR: ClientLocal<SocketAddr> = ClientLocal::new();
static SERVICE_NAME: ClientLocal<String> = ClientLocal::new();

/// Reads the client's variables without being passed anything.
fn whoami() -> Value {
    json!({
        "user": USER.get(),
        "addr": CLIENT_ADDR.get().map(|a| a.to_string()),
        "service": SERVICE_NAME.get(),
    })
}

struct Login;

impl StreamRequestHandler for Login {
    type Request = Value;
    type Response = Value;

    async fn service_init(
        self: Arc<Self>,
        _exit_stack: &mut easynet::ExitStack,
        _server: &easynet::ServerHandle,
    ) -> Result<(), HandlerError> {
        // Copied into every client's variables.
        SERVICE_NAME.set("login-service".to_owned());
        Ok(())
    }

    #[handler]
    async fn on_connection(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        CLIENT_ADDR.set(client.remote_addr());
        client.send_packet(&json!("user?")).await?;
        loop {
            match recv!(timeout = 5s)? {
                Value::String(user) if !user.is_empty() => {
                    USER.set(user);
                    break;
                }
                _ => client.send_packet(&json!("user?")).await?,
            }
        }
        client.send_packet(&json!("logged in")).await?;
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        if request == json!("rename") {
            // Visible to later generators of this client only.
            USER.set("renamed".to_owned());
        }
        client.send_packet(&whoami()).await?;
        Ok(())
    }
}

#[tokio::test]
async fn on_connection_generator_reads_a_login_and_client_variables_are_per_client() {
    let running = serve(JsonLines::new(), Login).await;
    let mut ann = RawPeer::connect(running.addr).await;
    let mut bob = RawPeer::connect(running.addr).await;
    assert_eq!(ann.json().await, json!("user?"));
    assert_eq!(bob.json().await, json!("user?"));
    ann.send(b"42\n").await;
    assert_eq!(ann.json().await, json!("user?"));
    ann.send(b"\"ann\"\n").await;
    bob.send(b"\"bob\"\n").await;
    assert_eq!(ann.json().await, json!("logged in"));
    assert_eq!(bob.json().await, json!("logged in"));

    ann.send(b"\"who\"\n").await;
    bob.send(b"\"rename\"\n").await;
    let a = ann.json().await;
    let b = bob.json().await;
    assert_eq!(a["user"], json!("ann"));
    assert_eq!(b["user"], json!("renamed"));
    assert_eq!(a["service"], json!("login-service"));
    assert_eq!(b["service"], json!("login-service"));
    assert_ne!(a["addr"], b["addr"]);
    ann.send(b"\"who\"\n").await;
    assert_eq!(ann.json().await["user"], json!("ann"));
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// The client handle: addresses.

struct Addresses;

impl StreamRequestHandler for Addresses {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        recv!()?;
        client
            .send_packet(&json!({
                "remote": client.remote_addr().to_string(),
                "local": client.local_addr().to_string(),
                "nodelay": client.nodelay(),
            }))
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn the_client_handle_gives_both_addresses_and_nodelay_is_on() {
    let running = serve(JsonLines::new(), Addresses).await;
    let stream = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let ours = stream.local_addr().unwrap();
    drop(stream);
    let client = easynet::TcpClient::connect(running.addr, JsonLines::<Value>::new())
        .await
        .unwrap();
    client.send_packet(&json!(null)).await.unwrap();
    let answer = within(client.recv_packet()).await.unwrap();
    assert_eq!(answer["remote"], json!(client.local_addr().to_string()));
    assert_eq!(answer["local"], json!(running.addr.to_string()));
    assert_eq!(answer["nodelay"], json!(true));
    assert_ne!(ours, client.local_addr());
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// A guard held across recv!() is dropped on disconnect and on shutdown.

struct Guarded {
    events: Events,
    live: Arc<AtomicUsize>,
}

struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StreamRequestHandler for Guarded {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        self.live.fetch_add(1, Ordering::SeqCst);
        let _live = Live(Arc::clone(&self.live));
        loop {
            match recv!() {
                Ok(request) => client.send_packet(&request).await?,
                // Never happens on disconnect: the generator is dropped instead.
                Err(e) => self.events.push(format!("recv error: {e}")),
            }
        }
    }
}

#[tokio::test]
async fn shutdown_drops_waiting_generators_without_an_error() {
    let (tx, mut log) = events();
    let live = Arc::new(AtomicUsize::new(0));
    let running = serve(
        JsonLines::new(),
        Guarded {
            events: tx,
            live: Arc::clone(&live),
        },
    )
    .await;
    let mut peers = Vec::new();
    for i in 0..3 {
        let mut peer = RawPeer::connect(running.addr).await;
        peer.send(format!("{i}\n").as_bytes()).await;
        assert_eq!(peer.json().await, json!(i));
        peers.push(peer);
    }
    assert_eq!(live.load(Ordering::SeqCst), 3);
    running.server.shutdown().await;
    assert_eq!(live.load(Ordering::SeqCst), 0);
    for peer in &mut peers {
        peer.expect_eof().await;
    }
    log.none_for(Duration::from_millis(50)).await;
    within(running.task).await.unwrap().unwrap();
}

#[test]
fn send_error_messages() {
    assert_eq!(SendError::Closed.to_string(), "client closed");
}

// ---------------------------------------------------------------------------------------
// Concurrent sends from one handler, while the socket is full.

struct JoinedSends;

impl StreamRequestHandler for JoinedSends {
    type Request = bytes::Bytes;
    type Response = bytes::Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<bytes::Bytes>) -> Result<(), HandlerError> {
        recv!()?;
        // Far more than the socket buffers hold: both sends wait for the peer to read.
        let big = bytes::Bytes::from(vec![b'a'; 4 * 1024 * 1024]);
        let other = bytes::Bytes::from(vec![b'b'; 4 * 1024 * 1024]);
        let (first, second) = tokio::join!(client.send_packet(&big), client.send_packet(&other));
        first?;
        second?;
        client
            .send_packet(&bytes::Bytes::from_static(b"done"))
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn concurrent_sends_all_complete_when_the_peer_reads() {
    use tokio::io::AsyncReadExt;
    let running = serve(easynet::BytesLines::new(), JoinedSends).await;
    let mut stream = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"go\n")
        .await
        .unwrap();
    // Let the server fill the socket and both sends wait.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut received = Vec::new();
    let expected = 2 * (4 * 1024 * 1024 + 1) + 5;
    while received.len() < expected {
        let mut chunk = vec![0; 256 * 1024];
        let n = within(stream.read(&mut chunk)).await.unwrap();
        assert_ne!(n, 0, "connection closed after {} bytes", received.len());
        received.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(received.len(), expected);
    assert!(received.ends_with(b"\ndone\n"));
    // Each packet went out whole: one run of 'a's and one of 'b's, each with its newline.
    let lines: Vec<&[u8]> = received.split(|b| *b == b'\n').collect();
    assert_eq!(lines[0].len(), 4 * 1024 * 1024);
    assert_eq!(lines[1].len(), 4 * 1024 * 1024);
    assert!(lines[0].iter().all(|b| *b == lines[0][0]));
    assert!(lines[1].iter().all(|b| *b == lines[1][0]));
    assert_ne!(lines[0][0], lines[1][0]);
    running.stop().await;
}
