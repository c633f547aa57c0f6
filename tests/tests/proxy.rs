//! The PROXY protocol on a server, over loopback: a trusted source's v1 or v2 header
//! gives the handler the client's address and keeps the proxy's; an untrusted source's
//! header is data; a bad, missing, slow or misplaced header, and a `LOCAL` health
//! check, end the connection with nothing handed to the handler; TLS after a header;
//! servers started from an already-bound listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use easynet::tls::rustls::pki_types::ServerName;
use easynet::{
    HandlerError, RecvError, StreamClient, StreamRequestHandler, StringLines, TcpServer,
    TrustedSources, UnixServer, handler, recv,
};
use easynet_tests::tls::TestPki;
use easynet_tests::{RawPeer, Running, logs, start, within};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Answers each line with `REMOTE PROXY LINE` (`PROXY` is `-` for a direct connection),
/// and counts the hooks that ran.
#[derive(Default)]
struct WhoAmI {
    connections: AtomicUsize,
    requests: AtomicUsize,
}

impl StreamRequestHandler for WhoAmI {
    type Request = String;
    type Response = String;

    async fn on_connection(&self, _client: &StreamClient<String>) -> Result<(), HandlerError> {
        self.connections.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let line = match recv!() {
            Ok(line) => line,
            Err(RecvError::Parse(e)) => format!("parse error: {e}"),
            Err(e) => return Err(e.into()),
        };
        self.requests.fetch_add(1, Ordering::SeqCst);
        let proxy = client
            .proxy_address()
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        let tlvs = client.proxy().map_or(String::new(), |p| {
            format!(
                " v{} alpn={:?} authority={:?} id={:?}",
                p.version(),
                p.alpn().map(String::from_utf8_lossy),
                p.authority(),
                p.unique_id().map(String::from_utf8_lossy)
            )
        });
        client
            .send_packet(&format!("{} {proxy} {line}{tlvs}", client.remote_address()))
            .await?;
        Ok(())
    }
}

type Server = Running<WhoAmI, StringLines>;

fn trusted(list: &str) -> TrustedSources {
    list.parse().unwrap()
}

async fn serve_proxied(trusted: TrustedSources) -> Server {
    let server = TcpServer::builder(StringLines::new(), WhoAmI::default())
        .host("127.0.0.1")
        .proxy_protocol(trusted)
        .proxy_header_timeout(Duration::from_millis(300))
        .shutdown_timeout(Duration::from_secs(2))
        .bind()
        .await
        .unwrap();
    start(server).await
}

fn v1(client: SocketAddr, server: SocketAddr) -> Vec<u8> {
    let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        client.ip(),
        server.ip(),
        client.port(),
        server.port()
    )
    .into_bytes()
}

const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A v2 `PROXY` header for an IPv4 client, with TLVs (type, value).
fn v2(client: SocketAddr, server: SocketAddr, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let (SocketAddr::V4(c), SocketAddr::V4(s)) = (client, server) else {
        panic!("IPv4 only")
    };
    let mut body = Vec::new();
    body.extend(c.ip().octets());
    body.extend(s.ip().octets());
    body.extend(c.port().to_be_bytes());
    body.extend(s.port().to_be_bytes());
    for (kind, value) in tlvs {
        body.push(*kind);
        body.extend(u16::try_from(value.len()).unwrap().to_be_bytes());
        body.extend(*value);
    }
    let mut bytes = V2_SIGNATURE.to_vec();
    bytes.extend([0x21, 0x11]);
    bytes.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    bytes.extend(body);
    bytes
}

/// v2 `LOCAL`, as HAProxy's health checks send it.
fn v2_local() -> Vec<u8> {
    let mut bytes = V2_SIGNATURE.to_vec();
    bytes.extend([0x20, 0x00, 0x00, 0x00]);
    bytes
}

fn client_addr() -> SocketAddr {
    "203.0.113.7:41000".parse().unwrap()
}

fn hooks(server: &Server) -> (usize, usize) {
    let handler = server.server.handler();
    (
        handler.connections.load(Ordering::SeqCst),
        handler.requests.load(Ordering::SeqCst),
    )
}

#[tokio::test]
async fn a_trusted_v1_header_gives_the_client_address_and_keeps_the_proxy() {
    let running = serve_proxied(trusted("127.0.0.1")).await;
    let mut peer = RawPeer::connect(running.addr).await;
    let proxy = peer.local_addr();
    peer.send(&v1(client_addr(), running.addr)).await;
    peer.send(b"hello\n").await;
    assert_eq!(
        peer.line().await.unwrap(),
        format!("203.0.113.7:41000 {proxy} hello v1 alpn=None authority=None id=None")
    );
    // IPv6 addresses in a v1 header from an IPv4 proxy.
    let mut peer6 = RawPeer::connect(running.addr).await;
    let v6_client: SocketAddr = "[2001:db8::5]:6000".parse().unwrap();
    let v6_server: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
    peer6.send(&v1(v6_client, v6_server)).await;
    peer6.send(b"six\n").await;
    assert!(
        peer6
            .line()
            .await
            .unwrap()
            .starts_with("[2001:db8::5]:6000 127.0.0.1:")
    );
    running.stop().await;
}

#[tokio::test]
async fn a_trusted_v2_header_gives_the_client_address_and_the_tlvs() {
    let running = serve_proxied(trusted("10.0.0.0/8, 127.0.0.0/8")).await;
    let mut peer = RawPeer::connect(running.addr).await;
    let proxy = peer.local_addr();
    let tlvs: [(u8, &[u8]); 3] = [(0x01, b"h2"), (0x02, b"example.com"), (0x05, b"req-1")];
    peer.send(&v2(client_addr(), running.addr, &tlvs)).await;
    peer.send(b"hi\n").await;
    assert_eq!(
        peer.line().await.unwrap(),
        format!(
            "203.0.113.7:41000 {proxy} hi v2 alpn=Some(\"h2\") authority=Some(\"example.com\") id=Some(\"req-1\")"
        )
    );
    // The second request on the same connection: same addresses.
    peer.send(b"again\n").await;
    assert!(peer.line().await.unwrap().starts_with("203.0.113.7:41000 "));
    running.stop().await;
}

#[tokio::test]
async fn a_header_glued_to_the_first_requests_keeps_them() {
    let running = serve_proxied(trusted("127.0.0.1")).await;
    for header in [
        v1(client_addr(), running.addr),
        v2(client_addr(), running.addr, &[]),
    ] {
        let mut peer = RawPeer::connect(running.addr).await;
        let mut bytes = header;
        bytes.extend(b"first\nsecond\n");
        peer.send(&bytes).await;
        let proxy = peer.local_addr();
        for line in ["first", "second"] {
            assert!(
                peer.line()
                    .await
                    .unwrap()
                    .starts_with(&format!("203.0.113.7:41000 {proxy} {line} v")),
            );
        }
    }
    running.stop().await;
}

#[tokio::test]
async fn untrusted_headers_are_data() {
    // Trusts only an address this test never connects from.
    let running = serve_proxied(trusted("192.0.2.1")).await;
    let mut peer = RawPeer::connect(running.addr).await;
    let me = peer.local_addr();
    let header = v1(client_addr(), running.addr);
    peer.send(&header).await;
    let text = String::from_utf8(header).unwrap();
    assert_eq!(
        peer.line().await.unwrap(),
        format!("{me} - {}", text.trim_end_matches('\n')),
        "the v1 header reached the decoder as a line, from the real address"
    );

    let mut peer = RawPeer::connect(running.addr).await;
    let me = peer.local_addr();
    peer.send(&v2(client_addr(), running.addr, &[])).await;
    peer.send(b"\nafter\n").await;
    // The v2 signature's first line is "\r": the decoder got it as data.
    assert_eq!(peer.line().await.unwrap(), format!("{me} - \r"));
    loop {
        let line = peer.line().await.unwrap();
        assert!(line.starts_with(&format!("{me} - ")), "{line:?}");
        if line.ends_with(" after") {
            break;
        }
    }
    running.stop().await;
}

/// Sends `bytes` (then, if `close`, our end of the stream) from a trusted source and
/// expects the server to close with no answer and no hook run.
async fn expect_refused(running: &Server, bytes: &[u8], close: bool) {
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(bytes).await;
    if close {
        peer.shutdown_write().await;
    }
    peer.expect_eof().await;
    assert_eq!(
        hooks(running),
        (0, 0),
        "{:?} reached the handler",
        String::from_utf8_lossy(bytes)
    );
}

#[tokio::test]
async fn bad_missing_slow_and_late_headers_end_cleanly() {
    let (logs, _guard) = logs::capture();
    let running = serve_proxied(trusted("127.0.0.1")).await;
    let header = v1(client_addr(), running.addr);
    let full_v2 = v2(client_addr(), running.addr, &[]);
    // Truncated, then the end of the stream.
    expect_refused(&running, &header[..20], true).await;
    expect_refused(&running, &full_v2[..20], true).await;
    // Nothing at all.
    expect_refused(&running, b"", true).await;
    // Sent slowly: part of it, then nothing past the 300 ms header timeout.
    expect_refused(&running, &header[..10], false).await;
    assert!(
        logs.has_line_with(&["DEBUG", "no whole PROXY protocol header in time"]),
        "{}",
        logs.text()
    );
    // After data: the data is not a header.
    let mut late = b"hello\n".to_vec();
    late.extend(&header);
    expect_refused(&running, &late, false).await;
    // Malformed: a bad v2 signature, a v1 line too long, garbage.
    let mut bad_sig = full_v2.clone();
    bad_sig[3] = b'X';
    expect_refused(&running, &bad_sig, false).await;
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(200, b'9');
    expect_refused(&running, &long, false).await;
    expect_refused(&running, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", false).await;
    assert!(
        logs.has_line_with(&["DEBUG", "malformed PROXY protocol header"]),
        "{}",
        logs.text()
    );
    assert!(logs.has_line_with(&[
        "DEBUG",
        "connection closed before a whole PROXY protocol header"
    ]));
    assert!(
        !logs.has_line_with(&["accepted new connection"]),
        "{}",
        logs.text()
    );
    // The server still serves a good one.
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(&header).await;
    peer.send(b"ok\n").await;
    assert!(peer.line().await.unwrap().starts_with("203.0.113.7:41000 "));
    running.stop().await;
}

#[tokio::test]
async fn local_health_checks_reach_no_hook_and_log_at_debug() {
    let (logs, _guard) = logs::capture();
    let running = serve_proxied(trusted("127.0.0.1")).await;
    for _ in 0..3 {
        expect_refused(&running, &v2_local(), false).await;
    }
    // A check that also sends data: still no hook.
    let mut local = v2_local();
    local.extend(b"hello\n");
    expect_refused(&running, &local, false).await;
    assert!(
        logs.has_line_with(&["DEBUG", "LOCAL connection (health check)"]),
        "{}",
        logs.text()
    );
    assert!(
        !logs.has_line_with(&["INFO", " accepted new connection"]),
        "{}",
        logs.text()
    );
    assert!(
        !logs.has_line_with(&["accepted new connection"]),
        "{}",
        logs.text()
    );
    running.stop().await;
}

#[tokio::test]
async fn the_header_is_read_at_shutdown_no_longer() {
    let server = TcpServer::builder(StringLines::new(), WhoAmI::default())
        .host("127.0.0.1")
        .proxy_protocol(trusted("127.0.0.1"))
        .proxy_header_timeout(Duration::from_secs(3600))
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"PROXY ").await;
    // Wait until the server counts the connection (its task is reading the header).
    within(async {
        while running.server.connection_count() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Ends well before the hour-long header timeout.
    running.stop().await;
    peer.expect_eof().await;
}

#[tokio::test]
async fn tls_after_a_proxy_header() {
    let pki = TestPki::new();
    let server = TcpServer::builder(StringLines::new(), WhoAmI::default())
        .host("127.0.0.1")
        .tls(pki.server_config())
        .proxy_protocol(trusted("127.0.0.1"))
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    for glued in [false, true] {
        let mut tcp = within(TcpStream::connect(running.addr)).await.unwrap();
        let proxy = tcp.local_addr().unwrap();
        let header = v2(client_addr(), running.addr, &[(0x01, b"easynet")]);
        if glued {
            // The header and the ClientHello in one segment: corked, the kernel holds
            // both writes and sends them together.
            socket2::SockRef::from(&tcp).set_tcp_cork(true).unwrap();
        }
        tcp.write_all(&header).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(pki.client_tls().config()));
        let tls = within(connector.connect(ServerName::try_from("localhost").unwrap(), tcp))
            .await
            .expect("TLS handshake after the PROXY header");
        if glued {
            socket2::SockRef::from(tls.get_ref().0)
                .set_tcp_cork(false)
                .unwrap();
        }
        let (read, mut write) = tokio::io::split(tls);
        write.write_all(b"secure\n").await.unwrap();
        let mut lines = BufReader::new(read).lines();
        let line = within(lines.next_line()).await.unwrap().unwrap();
        assert_eq!(
            line,
            format!(
                "203.0.113.7:41000 {proxy} secure v2 alpn=Some(\"easynet\") authority=None id=None"
            )
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn a_unix_server_takes_headers_from_every_connection() {
    let dir = std::env::temp_dir().join(format!("easynet-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("proxied.sock");
    let server = UnixServer::builder(&path, StringLines::new(), WhoAmI::default())
        .proxy_protocol(TrustedSources::all())
        .bind()
        .await
        .unwrap();
    let task = server.spawn().await.unwrap();
    let mut stream = within(tokio::net::UnixStream::connect(&path))
        .await
        .unwrap();
    let mut bytes = v1(client_addr(), "198.51.100.1:80".parse().unwrap());
    bytes.extend(b"over unix\n");
    stream.write_all(&bytes).await.unwrap();
    let mut lines = BufReader::new(stream).lines();
    assert_eq!(
        within(lines.next_line()).await.unwrap().unwrap(),
        "203.0.113.7:41000 unix:(unnamed) over unix v1 alpn=None authority=None id=None"
    );
    // Without a header: closed, no hook.
    let mut plain = within(tokio::net::UnixStream::connect(&path))
        .await
        .unwrap();
    plain.write_all(b"hello\n").await.unwrap();
    let mut rest = Vec::new();
    within(plain.read_to_end(&mut rest)).await.unwrap();
    assert_eq!(rest, b"");
    assert_eq!(server.handler().connections.load(Ordering::SeqCst), 1);
    within(task.shutdown()).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_server_starts_from_a_std_listener_or_a_file_descriptor() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let server = TcpServer::builder(StringLines::new(), WhoAmI::default())
        .std_listener(std_listener)
        .bind()
        .await
        .unwrap();
    assert_eq!(server.local_addrs(), [addr], "only the given listener");
    let running = start(server).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.send(b"inherited\n").await;
    assert_eq!(
        peer.line().await.unwrap(),
        format!("{} - inherited", peer.local_addr())
    );
    running.stop().await;

    // A descriptor, as systemd passes it.
    let fd = std::os::fd::OwnedFd::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let server = TcpServer::builder(StringLines::new(), WhoAmI::default())
        .listener_fd(fd)
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    let mut peer = RawPeer::connect(running.addr).await;
    peer.send(b"fd\n").await;
    assert_eq!(
        peer.line().await.unwrap(),
        format!("{} - fd", peer.local_addr())
    );
    running.stop().await;

    // A socket that does not listen is refused at bind.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let e = TcpServer::builder(StringLines::new(), WhoAmI::default())
        .listener_fd(socket.into())
        .bind()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not listening"), "{e}");

    // A Unix listener, kept in place when the server closes.
    let dir = std::env::temp_dir().join(format!("easynet-proxy-std-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("inherited.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let server = UnixServer::from_std_listener(listener, StringLines::new(), WhoAmI::default())
        .bind()
        .await
        .unwrap();
    assert_eq!(server.path(), path);
    let task = server.spawn().await.unwrap();
    let mut stream = within(tokio::net::UnixStream::connect(&path))
        .await
        .unwrap();
    stream.write_all(b"unix\n").await.unwrap();
    let mut lines = BufReader::new(stream).lines();
    assert_eq!(
        within(lines.next_line()).await.unwrap().unwrap(),
        "unix:(unnamed) - unix"
    );
    within(task.shutdown()).await.unwrap();
    assert!(path.exists(), "the inherited socket's file was removed");
    std::fs::remove_dir_all(&dir).unwrap();
}
