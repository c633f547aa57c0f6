//! The server object: binding, serving, shutdown, service_init and its exit stack.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use easynet::{
    BytesLines, ExitStack, HandlerError, JsonLines, ServerError, ServerHandle, StreamClient,
    StreamRequestHandler, TcpClient, TcpServer, handler, recv,
};
use easynet_tests::{RawPeer, eventually, serve, start, within};
use serde_json::{Value, json};

struct Echo;

impl StreamRequestHandler for Echo {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

async fn round_trip(addr: std::net::SocketAddr) {
    let client = TcpClient::connect(addr, JsonLines::<Value>::new())
        .await
        .unwrap();
    client
        .send_packet(&json!({"ping": addr.to_string()}))
        .await
        .unwrap();
    assert_eq!(
        within(client.recv_packet()).await.unwrap(),
        json!({"ping": addr.to_string()})
    );
}

fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[tokio::test]
async fn port_zero_and_several_hosts_are_all_served() {
    let mut builder = TcpServer::builder(JsonLines::new(), Echo)
        .host("127.0.0.1")
        .port(0);
    if ipv6_loopback_available() {
        builder = builder.host("::1");
    }
    let running = start(builder.bind().await.unwrap()).await;
    let addrs = running.server.local_addrs().to_vec();
    assert_eq!(addrs.len(), if ipv6_loopback_available() { 2 } else { 1 });
    for addr in &addrs {
        assert_ne!(addr.port(), 0);
        round_trip(*addr).await;
    }
    running.stop().await;
}

#[tokio::test]
async fn bind_resolves_host_names() {
    let server = TcpServer::bind(("localhost", 0), JsonLines::new(), Echo)
        .await
        .unwrap();
    let running = start(server).await;
    assert!(!running.server.local_addrs().is_empty());
    for addr in running.server.local_addrs().to_vec() {
        assert!(addr.ip().is_loopback());
        round_trip(addr).await;
    }
    running.stop().await;
}

#[tokio::test]
async fn binding_a_busy_port_fails_with_the_address() {
    let running = serve(JsonLines::new(), Echo).await;
    let error = TcpServer::bind(running.addr, JsonLines::new(), Echo)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    assert!(
        error.to_string().contains(&running.addr.to_string()),
        "{error}"
    );
    running.stop().await;
}

#[tokio::test]
async fn serve_forever_reports_its_state_and_serves_once() {
    let server = TcpServer::builder(JsonLines::new(), Echo)
        .host("127.0.0.1")
        .backlog(16)
        .max_recv_size(4096)
        .log_client_connection(false)
        .bind()
        .await
        .unwrap();
    assert!(!server.is_serving());
    let handle = server.handle();
    let task = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    assert!(within(handle.wait_serving()).await);
    assert!(handle.is_serving());
    // A second serve_forever while serving is refused.
    assert!(matches!(
        server.serve_forever().await,
        Err(ServerError::AlreadyServing)
    ));
    round_trip(server.local_addrs()[0]).await;

    // Shutdown from another task.
    tokio::spawn(async move { handle.shutdown().await });
    within(task).await.unwrap().unwrap();
    assert!(!server.is_serving());
    assert!(!server.wait_serving().await);
    assert!(matches!(
        server.serve_forever().await,
        Err(ServerError::Closed)
    ));
    // The listener is closed.
    assert!(
        tokio::net::TcpStream::connect(server.local_addrs()[0])
            .await
            .is_err()
    );
    // Shutting down again is harmless.
    within(server.shutdown()).await;
}

#[tokio::test]
async fn a_small_max_recv_size_still_decodes_every_packet() {
    let server = TcpServer::builder(JsonLines::new(), Echo)
        .host("127.0.0.1")
        .max_recv_size(1)
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"{\"long\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n[1]\n")
        .await;
    assert_eq!(peer.json().await["long"].as_str().unwrap().len(), 43);
    assert_eq!(peer.json().await, json!([1]));
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// service_init and the exit stack.

#[derive(Default)]
struct Service {
    order: Mutex<Vec<String>>,
    inits: AtomicUsize,
    ticks: AtomicUsize,
    fail_init: bool,
}

impl Service {
    fn log(&self, event: &str) {
        self.order.lock().unwrap().push(event.to_owned());
    }

    fn events(&self) -> Vec<String> {
        self.order.lock().unwrap().clone()
    }
}

struct StopReporter(Arc<Service>);

impl Drop for StopReporter {
    fn drop(&mut self) {
        self.0.log("task stopped");
    }
}

impl StreamRequestHandler for Service {
    type Request = Value;
    type Response = Value;

    async fn service_init(
        self: Arc<Self>,
        exit_stack: &mut ExitStack,
        server: &ServerHandle,
    ) -> Result<(), HandlerError> {
        self.inits.fetch_add(1, Ordering::SeqCst);
        assert!(!server.is_serving(), "service_init runs before serving");
        let this = Arc::clone(&self);
        exit_stack.callback(move || this.log("callback 1"));
        let this = Arc::clone(&self);
        exit_stack.spawn(async move {
            let _reporter = StopReporter(Arc::clone(&this));
            loop {
                this.ticks.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let this = Arc::clone(&self);
        exit_stack.push_async(async move {
            tokio::task::yield_now().await;
            this.log("async clean-up 2");
        });
        if self.fail_init {
            return Err("cannot start the service".into());
        }
        let this = Arc::clone(&self);
        exit_stack.callback(move || this.log("callback 3"));
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }

    async fn on_disconnection(&self, _client: &StreamClient<Value>) {
        self.log("client disconnected");
    }
}

#[tokio::test]
async fn service_init_runs_once_and_its_exit_stack_unwinds_in_reverse_at_shutdown() {
    let running = serve(JsonLines::new(), Service::default()).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"1\n").await;
    assert_eq!(peer.json().await, json!(1));
    let mut peer2 = RawPeer::connect(running.addr).await;
    peer2.send(b"2\n").await;
    assert_eq!(peer2.json().await, json!(2));
    // The background task runs while serving.
    let ticks = running.server.handler().ticks.load(Ordering::SeqCst);
    eventually("the background task ticked", || {
        running.server.handler().ticks.load(Ordering::SeqCst) > ticks
    })
    .await;

    let server = running.server.clone();
    running.stop().await;
    let handler = server.handler();
    assert_eq!(handler.inits.load(Ordering::SeqCst), 1);
    assert_eq!(
        handler.events(),
        [
            // Clients end first, then the stack unwinds, last entry first.
            "client disconnected",
            "client disconnected",
            "callback 3",
            "async clean-up 2",
            "task stopped",
            "callback 1",
        ]
    );
    let ticks = handler.ticks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        handler.ticks.load(Ordering::SeqCst),
        ticks,
        "the task stopped"
    );
}

#[tokio::test]
async fn a_failing_service_init_stops_the_server_after_its_clean_ups() {
    let server = TcpServer::builder(
        JsonLines::new(),
        Service {
            fail_init: true,
            ..Service::default()
        },
    )
    .host("127.0.0.1")
    .bind()
    .await
    .unwrap();
    let error = within(server.serve_forever()).await.unwrap_err();
    assert!(matches!(error, ServerError::ServiceInit(_)));
    assert_eq!(
        error.to_string(),
        "service_init failed: cannot start the service"
    );
    assert_eq!(
        server.handler().events(),
        ["async clean-up 2", "task stopped", "callback 1"]
    );
    assert!(!server.wait_serving().await);
}

#[tokio::test]
async fn dropping_serve_forever_closes_the_server_and_unwinds_the_stack() {
    let server = TcpServer::builder(JsonLines::new(), Service::default())
        .host("127.0.0.1")
        .bind()
        .await
        .unwrap();
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    assert!(within(server.wait_serving()).await);
    let mut peer = RawPeer::connect(server.local_addrs()[0]).await;
    peer.send(b"1\n").await;
    peer.json().await;
    // Cancel serve_forever instead of shutting down.
    serving.abort();
    assert!(serving.await.unwrap_err().is_cancelled());
    assert!(!server.is_serving());
    within(server.shutdown()).await;
    peer.expect_eof().await;
    let events = server.handler().events();
    assert!(events.contains(&"callback 1".to_owned()), "{events:?}");
    assert!(events.contains(&"callback 3".to_owned()), "{events:?}");
    let ticks = server.handler().ticks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.handler().ticks.load(Ordering::SeqCst), ticks);
}

// ---------------------------------------------------------------------------------------
// Shutdown ends client tasks within a bound.

struct Busy {
    disconnections: AtomicUsize,
}

impl StreamRequestHandler for Busy {
    type Request = bytes::Bytes;
    type Response = bytes::Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<bytes::Bytes>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        // Busy far longer than the shutdown timeout.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }

    async fn on_disconnection(&self, _client: &StreamClient<bytes::Bytes>) {
        self.disconnections.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn shutdown_drops_busy_handlers_after_the_shutdown_timeout() {
    let server = TcpServer::builder(
        BytesLines::new(),
        Busy {
            disconnections: AtomicUsize::new(0),
        },
    )
    .host("127.0.0.1")
    .shutdown_timeout(Duration::from_millis(300))
    .bind()
    .await
    .unwrap();
    let running = start(server).await;
    let mut busy = RawPeer::connect(running.addr).await;
    busy.send(b"work\n").await;
    assert_eq!(busy.line().await.unwrap(), "work");
    let _idle = RawPeer::connect(running.addr).await;
    eventually("the idle client connected", || {
        running.server.client_count() == 2
    })
    .await;

    let started = Instant::now();
    let server = running.server.clone();
    running.stop().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "waited for the busy handler: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "bounded: {took:?}");
    busy.expect_eof().await;
    assert_eq!(server.handler().disconnections.load(Ordering::SeqCst), 2);
}
