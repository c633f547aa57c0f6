//! TLS over real loopback sockets: the server's handshake (success, bad certificates,
//! wrong names, timeouts, mutual TLS), what handlers and clients learn of it, closing
//! with and without `close_notify`, and the TLS options of the example tools.
//!
//! Certificates are made at test time ([`TestPki`]). The example binaries come from
//! `EASYNET_EXAMPLES_DIR` (set by `tests/run.sh`): when it is missing those tests fail.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use easynet::tls::rustls::pki_types::ServerName;
use easynet::tls::rustls::{
    self, CertificateError, ClientConfig, ProtocolVersion, RootCertStore, ServerConfig,
};
use easynet::tls::{ClientTls, TlsInfo};
use easynet::{
    ClientError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient, TcpServer,
    handler, recv,
};
use easynet_tests::tls::TestPki;
use easynet_tests::{
    Running, STEP, ServerProcess, eventually, example_binary, logs, run_process, serve, start,
    within,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

// ---------------------------------------------------------------------------------------
// The server under test.

/// What the handler saw.
#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    disconnections: AtomicUsize,
    /// `client.tls()` as `on_connection` saw it, per connection.
    tls: Mutex<Vec<Option<TlsInfo>>>,
}

impl Stats {
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn disconnections(&self) -> usize {
        self.disconnections.load(Ordering::SeqCst)
    }

    fn tls(&self, index: usize) -> Option<TlsInfo> {
        self.tls.lock().unwrap()[index].clone()
    }

    /// Waits until `n` connections have ended.
    async fn wait_disconnections(&self, n: usize) {
        within(async {
            while self.disconnections() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

/// Echoes JSON; `{"cmd": "close"}` gets `{"bye": true}` and the server closes the
/// connection; `{"cmd": "flood", "bytes": N}` gets a string of N bytes.
struct TlsEcho(Arc<Stats>);

impl StreamRequestHandler for TlsEcho {
    type Request = Value;
    type Response = Value;

    async fn on_connection(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        self.0.connections.fetch_add(1, Ordering::SeqCst);
        self.0.tls.lock().unwrap().push(client.tls().cloned());
        Ok(())
    }

    async fn on_disconnection(&self, _client: &StreamClient<Value>) {
        self.0.disconnections.fetch_add(1, Ordering::SeqCst);
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        match request["cmd"].as_str() {
            Some("close") => {
                client.send_packet(&json!({"bye": true})).await?;
                client.close().await;
            }
            Some("flood") => {
                let bytes = request["bytes"].as_u64().unwrap_or(0) as usize;
                client
                    .send_packet(&Value::String("x".repeat(bytes)))
                    .await?;
            }
            _ => client.send_packet(&request).await?,
        }
        Ok(())
    }
}

type Server = Running<TlsEcho, JsonLines<Value>>;

/// A TLS echo server on 127.0.0.1 with `config`; `tune` adjusts the builder.
async fn tls_server(
    config: Arc<ServerConfig>,
    tune: impl FnOnce(
        easynet::TcpServerBuilder<TlsEcho, JsonLines<Value>>,
    ) -> easynet::TcpServerBuilder<TlsEcho, JsonLines<Value>>,
) -> (Server, Arc<Stats>) {
    let stats = Arc::new(Stats::default());
    let builder = TcpServer::builder(JsonLines::new(), TlsEcho(Arc::clone(&stats)))
        .host("127.0.0.1")
        .shutdown_timeout(Duration::from_secs(2))
        .tls(config);
    let server = tune(builder).bind().await.expect("bind");
    (start(server).await, stats)
}

async fn connect(addr: SocketAddr, host: &str, tls: &ClientTls) -> TcpClient<JsonLines<Value>> {
    within(TcpClient::connect_tls(
        host,
        addr.port(),
        JsonLines::new(),
        tls,
    ))
    .await
    .unwrap_or_else(|e| panic!("TLS connect to {host}:{}: {e}", addr.port()))
}

async fn connect_err(addr: SocketAddr, host: &str, tls: &ClientTls) -> std::io::Error {
    match within(TcpClient::connect_tls(
        host,
        addr.port(),
        JsonLines::<Value>::new(),
        tls,
    ))
    .await
    {
        Ok(_) => panic!("TLS connect to {host}:{} should have failed", addr.port()),
        Err(e) => e,
    }
}

/// The rustls error inside an I/O error from a handshake.
fn rustls_error(error: &std::io::Error) -> &rustls::Error {
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a rustls error: {error:?}"))
}

async fn round_trip(client: &TcpClient<JsonLines<Value>>, packet: Value) {
    client.send_packet(&packet).await.expect("send");
    assert_eq!(within(client.recv_packet()).await.expect("recv"), packet);
}

/// The end of a test where the server refused some TLS clients: a good `client` is
/// still served; once it leaves, exactly one connection ran the hooks (`why` if not);
/// the refusals were logged (a line with every word of `logged`), and nothing at WARN or
/// ERROR level.
async fn still_serving_after_refusals(
    running: Server,
    stats: &Stats,
    client: TcpClient<JsonLines<Value>>,
    packet: Value,
    logs: &logs::Logs,
    logged: &[&str],
    why: &str,
) {
    round_trip(&client, packet).await;
    client.close().await;
    stats.wait_disconnections(1).await;
    assert_eq!(stats.connections(), 1, "{why}");
    running.stop().await;
    assert!(logs.has_line_with(logged), "{}", logs.text());
    assert_no_warnings(logs);
}

/// Fails if anything at WARN or ERROR level was logged.
fn assert_no_warnings(logs: &logs::Logs) {
    let text = logs.text();
    assert!(
        !text
            .lines()
            .any(|line| line.contains(" WARN ") || line.contains(" ERROR ")),
        "unexpected warnings or errors:\n{text}"
    );
}

/// A rustls client connection without easynet's client, to see exactly how the server
/// ends the stream (and to end it without `close_notify`).
async fn raw_tls_client(
    addr: SocketAddr,
    pki: &TestPki,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(pki.client_tls().config()));
    let tcp = within(TcpStream::connect(addr)).await.expect("connect");
    within(connector.connect(ServerName::try_from("localhost").unwrap(), tcp))
        .await
        .expect("raw TLS handshake")
}

// ---------------------------------------------------------------------------------------
// Handshakes.

#[tokio::test]
async fn handshake_succeeds_and_both_sides_see_what_was_negotiated() {
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;

    let client = connect(running.addr, "127.0.0.1", &pki.client_tls()).await;
    round_trip(&client, json!({"hello": "tls", "n": [1, 2.5, null]})).await;
    round_trip(&client, json!("x".repeat(200_000).get(..60_000))).await;

    let seen = client.tls().expect("client TLS info").clone();
    assert_eq!(seen.protocol_version(), ProtocolVersion::TLSv1_3);
    assert_eq!(seen.peer_certificates(), [pki.server_der().clone()]);
    assert_eq!(seen.server_name(), Some("127.0.0.1"));

    let server_side = stats.tls(0).expect("the handler sees TLS info");
    assert_eq!(server_side.protocol_version(), ProtocolVersion::TLSv1_3);
    assert_eq!(server_side.cipher_suite(), seen.cipher_suite());
    assert!(
        format!("{:?}", server_side.cipher_suite()).starts_with("TLS13_"),
        "{server_side:?}"
    );
    assert!(
        server_side.peer_certificates().is_empty(),
        "no client auth asked"
    );
    assert_eq!(server_side.server_name(), None, "no SNI for an IP address");

    client.close().await;
    stats.wait_disconnections(1).await;
    assert_eq!(stats.connections(), 1);
    running.stop().await;
}

#[tokio::test]
async fn plain_tcp_clients_and_handlers_have_no_tls_info() {
    let stats = Arc::new(Stats::default());
    let running = serve(JsonLines::new(), TlsEcho(Arc::clone(&stats))).await;
    let client = TcpClient::connect(running.addr, JsonLines::<Value>::new())
        .await
        .unwrap();
    round_trip(&client, json!({"plain": true})).await;
    assert!(client.tls().is_none());
    assert!(stats.tls(0).is_none());
    client.close().await;
    running.stop().await;
}

#[tokio::test]
async fn an_explicit_server_name_is_checked_and_sent_as_sni() {
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;

    let named = ClientTls::builder()
        .ca_file(&pki.ca)
        .unwrap()
        .server_name("easynet.test")
        .build()
        .unwrap();
    let client = connect(running.addr, "127.0.0.1", &named).await;
    round_trip(&client, json!(1)).await;
    assert_eq!(client.tls().unwrap().server_name(), Some("easynet.test"));
    assert_eq!(stats.tls(0).unwrap().server_name(), Some("easynet.test"));
    client.close().await;

    // The same, set on ready-made settings.
    let renamed = pki.client_tls().with_server_name("localhost").unwrap();
    let client = connect(running.addr, "127.0.0.1", &renamed).await;
    round_trip(&client, json!(2)).await;
    assert_eq!(stats.tls(1).unwrap().server_name(), Some("localhost"));
    client.close().await;
    stats.wait_disconnections(2).await;
    running.stop().await;
}

#[tokio::test]
async fn a_wrong_server_name_is_refused_and_the_server_runs_no_hook() {
    let (logs, _guard) = logs::capture();
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;

    let wrong = ClientTls::builder()
        .ca_file(&pki.ca)
        .unwrap()
        .server_name("wrong.example")
        .build()
        .unwrap();
    let error = connect_err(running.addr, "127.0.0.1", &wrong).await;
    assert!(
        matches!(
            rustls_error(&error),
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{error:?}"
    );

    // The server is not disturbed: a good client is served.
    let client = connect(running.addr, "127.0.0.1", &pki.client_tls()).await;
    still_serving_after_refusals(
        running,
        &stats,
        client,
        json!("still serving"),
        &logs,
        &["DEBUG", "TLS handshake failed", "client=127.0.0.1:"],
        "no hook for the refused handshakes",
    )
    .await;
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused() {
    let (logs, _guard) = logs::capture();
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;

    // Trusting another CA only.
    let other = ClientTls::builder()
        .ca_file(&pki.other_ca)
        .unwrap()
        .build()
        .unwrap();
    let error = connect_err(running.addr, "localhost", &other).await;
    assert!(
        matches!(
            rustls_error(&error),
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        ),
        "{error:?}"
    );
    // The default roots (webpki-roots) do not know the test CA either.
    let error = connect_err(running.addr, "localhost", &ClientTls::new()).await;
    assert!(
        matches!(
            rustls_error(&error),
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        ),
        "{error:?}"
    );

    let client = connect(running.addr, "localhost", &pki.client_tls()).await;
    still_serving_after_refusals(
        running,
        &stats,
        client,
        json!({"after": "two refusals"}),
        &logs,
        &["DEBUG", "TLS handshake failed"],
        "no hook for the refused handshakes",
    )
    .await;
}

#[tokio::test]
async fn dangerous_accept_invalid_certs_skips_every_certificate_check() {
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;
    // No CA that knows the server, and a name its certificate does not cover.
    let insecure = ClientTls::builder()
        .ca_file(&pki.other_ca)
        .unwrap()
        .server_name("wrong.example")
        .dangerous_accept_invalid_certs(true)
        .build()
        .unwrap();
    let client = connect(running.addr, "127.0.0.1", &insecure).await;
    round_trip(&client, json!("insecure but encrypted")).await;
    assert_eq!(
        client.tls().unwrap().peer_certificates(),
        [pki.server_der().clone()]
    );
    client.close().await;
    stats.wait_disconnections(1).await;
    running.stop().await;
}

#[tokio::test]
async fn tls_1_2_is_negotiated_with_a_client_that_only_speaks_it() {
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;
    let mut roots = RootCertStore::empty();
    for cert in easynet::tls::load_certificates(&pki.ca).unwrap() {
        roots.add(cert).unwrap();
    }
    let config = ClientConfig::builder_with_provider(easynet::tls::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls12 = ClientTls::from_config(Arc::new(config));
    let client = connect(running.addr, "localhost", &tls12).await;
    round_trip(&client, json!([1, 2])).await;
    let info = client.tls().unwrap();
    assert_eq!(info.protocol_version(), ProtocolVersion::TLSv1_2);
    assert!(
        format!("{:?}", info.cipher_suite()).starts_with("TLS_ECDHE_ECDSA_"),
        "{info:?}"
    );
    assert_eq!(
        stats.tls(0).unwrap().protocol_version(),
        ProtocolVersion::TLSv1_2
    );
    assert_eq!(stats.tls(0).unwrap().server_name(), Some("localhost"));
    client.close().await;
    stats.wait_disconnections(1).await;
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// Handshake timeouts and non-TLS peers.

#[tokio::test]
async fn a_silent_plain_tcp_client_is_closed_when_the_handshake_times_out() {
    let (logs, _guard) = logs::capture();
    let pki = TestPki::new();
    let timeout = Duration::from_millis(400);
    let (running, stats) =
        tls_server(pki.server_config(), |b| b.tls_handshake_timeout(timeout)).await;

    let started = Instant::now();
    let mut silent = TcpStream::connect(running.addr).await.unwrap();
    // Meanwhile a TLS client is served normally.
    let client = connect(running.addr, "localhost", &pki.client_tls()).await;
    round_trip(&client, json!("not disturbed")).await;

    let mut rest = Vec::new();
    let n = within(silent.read_to_end(&mut rest))
        .await
        .expect("closed cleanly");
    let elapsed = started.elapsed();
    assert_eq!(
        n, 0,
        "the server sends nothing to a client that never spoke"
    );
    assert!(
        elapsed >= timeout - Duration::from_millis(50),
        "closed after {elapsed:?}"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(3),
        "closed after {elapsed:?}"
    );

    still_serving_after_refusals(
        running,
        &stats,
        client,
        json!("still not disturbed"),
        &logs,
        &["DEBUG", "TLS handshake failed", "timed out"],
        "no hook ran for the silent client",
    )
    .await;
}

#[tokio::test]
async fn a_plain_tcp_client_that_speaks_json_is_dropped_at_once() {
    let pki = TestPki::new();
    // The default handshake timeout (60 s): the failure, not the timeout, closes it.
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;
    let mut plain = TcpStream::connect(running.addr).await.unwrap();
    plain
        .write_all(b"{\"hello\": \"in clear\"}\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The server may answer with a TLS alert; it never echoes, and it closes.
    let _ = within(plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("hello"),
        "{answer:?}"
    );
    assert_eq!(stats.connections(), 0);
    running.stop().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_pending_handshakes() {
    let pki = TestPki::new();
    let (running, _stats) = tls_server(pki.server_config(), |b| b).await;
    let mut silent = TcpStream::connect(running.addr).await.unwrap();
    eventually("the handshake started", || {
        running.server.connection_count() == 1
    })
    .await;
    let started = Instant::now();
    running.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    let mut rest = Vec::new();
    assert_eq!(within(silent.read_to_end(&mut rest)).await.unwrap(), 0);
}

#[tokio::test]
async fn the_client_handshake_times_out_against_a_server_that_never_answers() {
    let pki = TestPki::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(STEP).await;
        drop(socket);
    });
    let tls = pki
        .client_tls()
        .with_handshake_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = connect_err(addr, "localhost", &tls).await;
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    held.abort();
}

// ---------------------------------------------------------------------------------------
// Mutual TLS.

#[tokio::test]
async fn mutual_tls_accepts_a_certificate_from_the_trusted_ca() {
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.mtls_server_config(), |b| b).await;
    let client = connect(running.addr, "localhost", &pki.mtls_client_tls()).await;
    round_trip(&client, json!({"authenticated": true})).await;
    let server_side = stats.tls(0).unwrap();
    assert_eq!(server_side.peer_certificates(), [pki.client_der().clone()]);
    client.close().await;
    stats.wait_disconnections(1).await;
    running.stop().await;
}

/// A client the server refused: with TLS 1.3 the client's handshake may finish before the
/// server checks its certificate, so the refusal shows at the latest on the first read.
async fn assert_refused(addr: SocketAddr, tls: &ClientTls) -> String {
    let client = match within(TcpClient::connect_tls(
        "localhost",
        addr.port(),
        JsonLines::<Value>::new(),
        tls,
    ))
    .await
    {
        Err(e) => return e.to_string(),
        Ok(client) => client,
    };
    let _ = client.send_packet(&json!("let me in")).await;
    match within(client.recv_packet()).await {
        Ok(packet) => panic!("refused client got an answer: {packet}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_trusted_certificate() {
    let (logs, _guard) = logs::capture();
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.mtls_server_config(), |b| b).await;

    let no_cert = assert_refused(running.addr, &pki.client_tls()).await;
    assert!(no_cert.contains("CertificateRequired"), "{no_cert}");

    let stranger = ClientTls::builder()
        .ca_file(&pki.ca)
        .unwrap()
        .client_cert_files(&pki.other_client_cert, &pki.other_client_key)
        .unwrap()
        .build()
        .unwrap();
    let unknown = assert_refused(running.addr, &stranger).await;
    assert!(
        unknown.contains("UnknownCA") || unknown.contains("BadCertificate"),
        "{unknown}"
    );

    let client = connect(running.addr, "localhost", &pki.mtls_client_tls()).await;
    still_serving_after_refusals(
        running,
        &stats,
        client,
        json!("trusted"),
        &logs,
        &["DEBUG", "TLS handshake failed"],
        "no hook for the refused clients",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Closing.

#[tokio::test]
async fn the_server_closes_with_close_notify() {
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;
    let stream = raw_tls_client(running.addr, &pki).await;
    let mut stream = BufReader::new(stream);
    stream.write_all(b"{\"cmd\":\"close\"}\n").await.unwrap();
    stream.flush().await.unwrap();
    let mut line = String::new();
    within(stream.read_line(&mut line)).await.unwrap();
    assert_eq!(line, "{\"bye\":true}\n");
    // A clean end of stream: rustls saw close_notify (without it, it reports
    // UnexpectedEof).
    let mut rest = Vec::new();
    let n = within(stream.read_to_end(&mut rest))
        .await
        .expect("close_notify, not a truncated stream");
    assert_eq!(n, 0);
    stats.wait_disconnections(1).await;
    running.stop().await;
}

#[tokio::test]
async fn the_client_closes_with_close_notify() {
    let pki = TestPki::new();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(acceptor.accept(socket).await.unwrap());
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        let mut rest = Vec::new();
        let end = stream.read_to_end(&mut rest).await.map_err(|e| e.kind());
        (line, end)
    });
    let client = connect(addr, "localhost", &pki.client_tls()).await;
    client.send_packet(&json!({"then": "close"})).await.unwrap();
    client.close().await;
    let (line, end) = within(server).await.unwrap();
    assert_eq!(line, "{\"then\":\"close\"}\n");
    assert_eq!(end, Ok(0), "the server side saw close_notify");
}

#[tokio::test]
async fn a_client_that_closes_without_close_notify_is_an_ordinary_disconnect() {
    let (logs, _guard) = logs::capture();
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| b).await;
    let other = connect(running.addr, "localhost", &pki.client_tls()).await;

    let mut stream = BufReader::new(raw_tls_client(running.addr, &pki).await);
    stream.write_all(b"[\"abrupt\"]\n").await.unwrap();
    stream.flush().await.unwrap();
    let mut line = String::new();
    within(stream.read_line(&mut line)).await.unwrap();
    assert_eq!(line, "[\"abrupt\"]\n");
    // Drop the TCP connection under TLS: no close_notify.
    let (tcp, _session) = stream.into_inner().into_inner();
    drop(tcp);

    stats.wait_disconnections(1).await;
    round_trip(&other, json!("the other client goes on")).await;
    other.close().await;
    stats.wait_disconnections(2).await;
    running.stop().await;
    assert_no_warnings(&logs);
}

#[tokio::test]
async fn a_server_that_closes_without_close_notify_ends_the_client_stream() {
    let pki = TestPki::new();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut stream = acceptor.accept(socket).await.unwrap();
        stream.write_all(b"{\"last\":\"words\"}\n").await.unwrap();
        stream.flush().await.unwrap();
        let (tcp, _session) = stream.into_inner();
        drop(tcp);
    });
    let client = connect(addr, "localhost", &pki.client_tls()).await;
    assert_eq!(
        within(client.recv_packet()).await.unwrap(),
        json!({"last": "words"})
    );
    let end = within(client.recv_packet()).await;
    assert!(matches!(end, Err(ClientError::ConnectionClosed)), "{end:?}");
    within(server).await.unwrap();
}

#[tokio::test]
async fn closing_is_bounded_by_the_tls_shutdown_timeout_when_the_peer_does_not_read() {
    let (logs, _guard) = logs::capture();
    let pki = TestPki::new();
    let (running, stats) = tls_server(pki.server_config(), |b| {
        b.shutdown_timeout(Duration::from_millis(200))
            .tls_shutdown_timeout(Duration::from_millis(300))
    })
    .await;
    let client = connect(running.addr, "localhost", &pki.client_tls()).await;
    // More than the socket buffers of both ends hold; the client never reads it.
    client
        .send_packet(&json!({"cmd": "flood", "bytes": 32 << 20}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    running.stop().await;
    let elapsed = started.elapsed();
    // The handler is dropped after 200 ms, then closing gives up after 300 ms; without
    // the bound the server would wait for its 2.2 s drain limit.
    assert!(
        elapsed < Duration::from_millis(1800),
        "shutdown took {elapsed:?}"
    );
    assert_eq!(stats.disconnections(), 1);
    assert!(
        logs.has_line_with(&["DEBUG", "close_notify not sent within 300ms"]),
        "{}",
        logs.text()
    );
    drop(client);
}

// ---------------------------------------------------------------------------------------
// The examples: echo_server --tls-cert/--tls-key, echo_client --tls, background_server_ssl.

async fn tls_echo_server(pki: &TestPki) -> ServerProcess {
    let mut command = Command::new(example_binary("echo_server"));
    command
        .args(["--port", "0", "--tls-cert"])
        .arg(&pki.server_cert)
        .arg("--tls-key")
        .arg(&pki.server_key)
        .env("RUST_LOG", "warn");
    ServerProcess::spawn(command, "echo_server --tls-cert").await
}

fn echo_client(addr: SocketAddr, extra: &[&std::ffi::OsStr], packets: &[&str]) -> Command {
    let mut command = Command::new(example_binary("echo_client"));
    command
        .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(extra)
        .arg("--")
        .args(packets)
        .env("RUST_LOG", "warn");
    command
}

#[tokio::test]
async fn echo_server_and_echo_client_speak_tls() {
    let pki = TestPki::new();
    let server = tls_echo_server(&pki).await;

    // Byte-exact echo over TLS, through a raw rustls connection.
    let mut stream = BufReader::new(raw_tls_client(server.addr, &pki).await);
    let exact = b"{\"b\": 1.50, \"a\": 123456789012345678901234567890}\n";
    stream.write_all(exact).await.unwrap();
    stream.write_all(b"{oops\n").await.unwrap();
    stream.flush().await.unwrap();
    let mut line = String::new();
    within(stream.read_line(&mut line)).await.unwrap();
    assert_eq!(line.as_bytes(), exact);
    line.clear();
    within(stream.read_line(&mut line)).await.unwrap();
    let error: Value = serde_json::from_str(&line).unwrap();
    assert!(error["error"].is_string(), "{line}");
    drop(stream);

    let ca = pki.ca.as_os_str();
    let output = run_process(
        echo_client(
            server.addr,
            &["--tls".as_ref(), "--ca".as_ref(), ca],
            &[r#"{"a": 1}"#, "hello"],
        ),
        "echo_client --tls --ca",
    )
    .await;
    output.assert_success();
    assert_eq!(output.stdout, "{\"a\":1}\n\"hello\"\n");

    // --insecure: no CA, and still connected.
    let output = run_process(
        echo_client(
            server.addr,
            &["--tls".as_ref(), "--insecure".as_ref()],
            &["[1]"],
        ),
        "echo_client --tls --insecure",
    )
    .await;
    output.assert_success();
    assert_eq!(output.stdout, "[1]\n");

    // The default roots do not trust the test CA: a clear failure.
    let output = run_process(
        echo_client(server.addr, &["--tls".as_ref()], &["[1]"]),
        "echo_client --tls",
    )
    .await;
    assert!(!output.status.success(), "{output:?}");
    assert!(
        output.stderr.contains("cannot connect") && output.stderr.contains("certificate"),
        "{}",
        output.stderr
    );
    assert_eq!(output.stdout, "");

    // The server is still fine after the refused handshake; it is killed when dropped.
    assert!(!server.stderr().contains("ERROR"), "{}", server.stderr());
    drop(server);
}

#[tokio::test]
async fn background_server_ssl_runs_the_how_to_scenario() {
    let output = run_process(
        Command::new(example_binary("background_server_ssl")),
        "background_server_ssl",
    )
    .await;
    output.assert_success();
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Server loop running in task: Task-"),
        "{}",
        output.stdout
    );
    for n in 1..=3 {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("Hello world {n}")))
            .unwrap_or_else(|| panic!("no answer {n}:\n{}", output.stdout));
        assert!(line.starts_with("From server: "), "{line}");
        let answer: Value = serde_json::from_str(line.trim_start_matches("From server: ")).unwrap();
        assert_eq!(
            answer["request"],
            json!({"message": format!("Hello world {n}")})
        );
        assert_eq!(answer["tls"], json!("TLSv1_3"), "{line}");
    }
}
