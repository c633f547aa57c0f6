//! The synchronous API over loopback: `easynet::blocking::TcpClient` (from two threads at
//! once, timeouts that keep the connection usable, inside a tokio runtime, over TLS) and
//! `StandaloneTcpServer` / `ServerThread`. The 20 start/stop rounds that count threads
//! and fds are in `blocking_leaks.rs`, a test binary of their own (other tests' threads
//! would be counted here).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use easynet::blocking::{ServerThread, StandaloneTcpServer, TcpClient};
use easynet::{
    ClientError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, StringLines,
    TcpServer, handler, recv,
};
use easynet_tests::tls::TestPki;
use serde_json::{Value, json};

/// Echoes every request, for as long as the client sends.
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

/// A standalone echo server on 127.0.0.1, serving in a background thread.
fn echo_server(tls: Option<&TestPki>) -> ServerThread<easynet::TcpServer<Echo, JsonLines<Value>>> {
    let mut builder = TcpServer::builder(JsonLines::new(), Echo).host("127.0.0.1");
    if let Some(pki) = tls {
        builder = builder.tls(pki.server_config());
    }
    let server = StandaloneTcpServer::new(2, builder.bind()).expect("bind");
    ServerThread::start(server).expect("the server serves")
}

fn port(running: &ServerThread<easynet::TcpServer<Echo, JsonLines<Value>>>) -> u16 {
    running.server().local_addrs()[0].port()
}

/// Bounds every wait of these tests (a hung peer fails the test instead of hanging it).
const STEP: Duration = Duration::from_secs(10);

/// Two threads send (each its own numbered packets, 4 KiB of padding each) while a third
/// receives, on one client: every answer is a whole packet, each sender's come back in
/// its order, none is lost.
fn send_and_receive_from_threads(client: &TcpClient<JsonLines<Value>>) {
    const EACH: usize = 200;
    std::thread::scope(|scope| {
        for sender in ["a", "b"] {
            scope.spawn(move || {
                for i in 0..EACH {
                    let padding = sender.repeat(4096);
                    client
                        .send_packet_timeout(&json!({"from": sender, "i": i, "pad": padding}), STEP)
                        .expect("send");
                }
            });
        }
        let receiver = scope.spawn(|| {
            let mut next = [0, 0];
            for _ in 0..2 * EACH {
                let answer = client.recv_packet_timeout(STEP).expect("an answer");
                let from = answer["from"].as_str().unwrap();
                let slot = usize::from(from == "b");
                assert_eq!(answer["i"], json!(next[slot]), "{from}'s packets in order");
                assert_eq!(answer["pad"], json!(from.repeat(4096)));
                next[slot] += 1;
            }
            next
        });
        assert_eq!(receiver.join().unwrap(), [EACH, EACH]);
    });
}

#[test]
fn one_client_used_from_three_threads_at_once() {
    let running = echo_server(None);
    let client =
        TcpClient::connect(("127.0.0.1", port(&running)), JsonLines::<Value>::new()).unwrap();
    send_and_receive_from_threads(&client);
    client.close();
    running.stop().unwrap();
}

#[test]
fn one_tls_client_used_from_three_threads_at_once() {
    let pki = TestPki::new();
    let running = echo_server(Some(&pki));
    let client = TcpClient::connect_tls(
        "127.0.0.1",
        port(&running),
        JsonLines::new(),
        &pki.client_tls(),
    )
    .unwrap();
    let info = client.tls().expect("negotiated TLS");
    assert_eq!(info.server_name(), Some("127.0.0.1"));
    assert!(!info.peer_certificates().is_empty());
    send_and_receive_from_threads(&client);
    // A receive that times out over TLS leaves the session usable.
    assert!(matches!(
        client.recv_packet_timeout(Duration::from_millis(50)),
        Err(ClientError::Timeout)
    ));
    client.send_packet(&json!("after")).unwrap();
    assert_eq!(client.recv_packet_timeout(STEP).unwrap(), json!("after"));
    client.close();
    running.stop().unwrap();
}

#[test]
fn tls_refuses_an_unknown_certificate() {
    let pki = TestPki::new();
    let running = echo_server(Some(&pki));
    let stranger = easynet::tls::ClientTls::builder()
        .ca_file(&pki.other_ca)
        .unwrap()
        .build()
        .unwrap();
    let error = TcpClient::connect_tls(
        "127.0.0.1",
        port(&running),
        JsonLines::<Value>::new(),
        &stranger,
    )
    .unwrap_err();
    let rustls = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<easynet::tls::rustls::Error>());
    assert!(
        matches!(
            rustls,
            Some(easynet::tls::rustls::Error::InvalidCertificate(_))
        ),
        "{error:?}"
    );
    running.stop().unwrap();
}

/// A client connected to a raw std socket the test drives by hand.
fn raw_pair() -> (TcpClient<StringLines>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client =
        TcpClient::connect_timeout(listener.local_addr().unwrap(), StringLines::new(), STEP)
            .unwrap();
    let (peer, _) = listener.accept().unwrap();
    (client, peer)
}

#[test]
fn a_recv_timeout_keeps_the_partial_frame() {
    let (client, mut peer) = raw_pair();
    peer.write_all(b"hello, ").unwrap();
    // The half line is read, and the wait for the rest times out.
    assert!(matches!(
        client.recv_packet_timeout(Duration::from_millis(100)),
        Err(ClientError::Timeout)
    ));
    peer.write_all(b"world\nnext\n").unwrap();
    assert_eq!(client.recv_packet_timeout(STEP).unwrap(), "hello, world");
    assert_eq!(client.recv_packet_timeout(STEP).unwrap(), "next");
    drop(peer);
    assert!(matches!(
        client.recv_packet_timeout(STEP),
        Err(ClientError::ConnectionClosed)
    ));
}

#[test]
fn a_send_timeout_finishes_its_frame_before_the_next() {
    let (client, peer) = raw_pair();
    const LINE: usize = 1 << 20;
    // The peer reads nothing: sends time out once the socket buffers are full.
    let mut sent = 0;
    loop {
        let line = char::from(b'a' + (sent % 26) as u8)
            .to_string()
            .repeat(LINE);
        sent += 1;
        match client.send_packet_timeout(&line, Duration::from_millis(200)) {
            Ok(()) => assert!(sent < 100, "the socket buffers never filled"),
            Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    // Now the peer reads everything; the client sends one more line and its end.
    let reader = std::thread::spawn(move || {
        peer.set_read_timeout(Some(STEP)).unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(peer).lines() {
            lines.push(line.expect("read"));
        }
        lines
    });
    client.send_packet_timeout("last", STEP).unwrap();
    client.send_eof().unwrap();
    let lines = reader.join().unwrap();
    // Every frame whole and in order, the one whose send timed out included.
    assert_eq!(lines.len(), sent + 1);
    for (i, line) in lines[..sent].iter().enumerate() {
        let c = char::from(b'a' + (i % 26) as u8);
        assert_eq!(line.len(), LINE, "line {i}");
        assert!(line.chars().all(|x| x == c), "line {i}");
    }
    assert_eq!(lines[sent], "last");
    // After send_eof, sending fails and says why.
    match client.send_packet("more") {
        Err(ClientError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe),
        other => panic!("{other:?}"),
    }
}

#[test]
fn close_wakes_a_thread_waiting_for_a_packet() {
    let (client, _peer) = raw_pair();
    let client = Arc::new(client);
    let waiting = std::thread::spawn({
        let client = Arc::clone(&client);
        move || client.recv_packet()
    });
    client.close();
    assert!(matches!(waiting.join().unwrap(), Err(ClientError::Closed)));
    assert!(matches!(client.send_packet("x"), Err(ClientError::Closed)));
    client.close();
}

#[test]
fn packets_iterates_until_the_server_closes() {
    let (client, mut peer) = raw_pair();
    peer.write_all(b"one\ntwo\nthree\n").unwrap();
    drop(peer);
    let lines: Vec<String> = client.packets().map(Result::unwrap).collect();
    assert_eq!(lines, ["one", "two", "three"]);
    assert_eq!(
        client.remote_addr(),
        client.remote_address().as_inet().unwrap()
    );
    assert!(client.local_addr().ip().is_loopback());
}

#[test]
fn send_eof_then_read_the_answers() {
    let (client, mut peer) = raw_pair();
    client.send_packet("question").unwrap();
    client.send_eof().unwrap();
    let mut received = String::new();
    peer.read_to_string(&mut received).unwrap();
    assert_eq!(received, "question\n");
    peer.write_all(b"answer\n").unwrap();
    drop(peer);
    assert_eq!(client.recv_packet_timeout(STEP).unwrap(), "answer");
}

/// Blocking client and standalone server used from a tokio runtime's own thread: no
/// "cannot start a runtime from within a runtime" or "cannot block" panic.
#[tokio::test(flavor = "current_thread")]
async fn blocking_api_inside_a_tokio_runtime() {
    let running = echo_server(None);
    let client =
        TcpClient::connect(("127.0.0.1", port(&running)), JsonLines::<Value>::new()).unwrap();
    client.send_packet(&json!({"inside": "tokio"})).unwrap();
    assert_eq!(
        client.recv_packet_timeout(STEP).unwrap(),
        json!({"inside": "tokio"})
    );
    client.close();
    // Stopping it here too (the runtime's threads then end in the background).
    running.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_client_on_a_multi_thread_runtime_worker() {
    let running = echo_server(None);
    let port = port(&running);
    let answer = tokio::spawn(async move {
        let client = TcpClient::connect(("127.0.0.1", port), JsonLines::<Value>::new()).unwrap();
        client.send_packet(&json!([1, 2, 3])).unwrap();
        let answer = client.recv_packet_timeout(STEP).unwrap();
        client.close();
        answer
    })
    .await
    .unwrap();
    assert_eq!(answer, json!([1, 2, 3]));
    drop(running);
}

#[test]
fn standalone_server_serve_forever_and_shutdown_from_other_threads() {
    let bind = TcpServer::builder(JsonLines::new(), Echo)
        .host("127.0.0.1")
        .bind();
    let server = Arc::new(StandaloneTcpServer::new(1, bind).unwrap());
    assert!(!server.is_serving());
    assert!(!server.wait_serving(Some(Duration::from_millis(10))));
    let serving = std::thread::spawn({
        let server = Arc::clone(&server);
        move || server.serve_forever()
    });
    assert!(server.wait_serving(Some(STEP)));
    assert!(server.is_serving());
    // Serving twice is refused.
    assert!(matches!(
        server.serve_forever(),
        Err(easynet::ServerError::AlreadyServing)
    ));
    let client = TcpClient::connect(server.local_addrs()[0], JsonLines::<Value>::new()).unwrap();
    client.send_packet(&json!("hi")).unwrap();
    assert_eq!(client.recv_packet_timeout(STEP).unwrap(), json!("hi"));
    let stopper = std::thread::spawn({
        let server = Arc::clone(&server);
        move || server.shutdown()
    });
    stopper.join().unwrap();
    serving.join().unwrap().unwrap();
    assert!(!server.is_serving());
    // The client waiting for an answer saw the server close the connection.
    assert!(matches!(
        client.recv_packet_timeout(STEP),
        Err(ClientError::ConnectionClosed)
    ));
    // A server serves once; shutting down again returns at once.
    assert!(matches!(
        server.serve_forever(),
        Err(easynet::ServerError::Closed)
    ));
    server.shutdown();
}

#[cfg(unix)]
#[test]
fn standalone_unix_server_and_blocking_unix_client() {
    use easynet::UnixServer;
    use easynet::blocking::{StandaloneUnixServer, UnixClient};

    let dir = std::env::temp_dir().join(format!("easynet-blocking-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let bind = UnixServer::builder(&path, JsonLines::new(), Echo).bind();
    let running = ServerThread::start(StandaloneUnixServer::new(1, bind).unwrap()).unwrap();
    assert!(running.server().local_addrs().is_empty());
    let client = UnixClient::connect_unix(&path, JsonLines::<Value>::new()).unwrap();
    assert_eq!(client.remote_address().as_unix_path(), Some(path.as_path()));
    client.send_packet(&json!({"over": "unix"})).unwrap();
    assert_eq!(
        client.recv_packet_timeout(STEP).unwrap(),
        json!({"over": "unix"})
    );
    client.close();
    // Dropping the thread handle stops the server.
    drop(running);
    assert!(UnixClient::connect_unix(&path, JsonLines::<Value>::new()).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
