//! The async client: connect (with a timeout), send, receive (with a timeout), the
//! packet stream, close, addresses; sends and receives cancelled midway (a timeout around
//! them) never leave half a packet for the next one.

use std::time::Duration;

use bytes::BytesMut;
use easynet::{
    BytesLines, ClientError, HandlerError, JsonLines, ParseErrorKind, ProtocolError, StreamClient,
    StreamRequestHandler, StringLines, TcpClient, handler, recv,
};
use easynet_tests::tls::TestPki;
use easynet_tests::{serve, within};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::timeout;
use tokio_util::codec::{Decoder, Encoder};

/// A raw server that runs `script` on the first connection it accepts.
async fn raw_server<F, Fut>(script: F) -> std::net::SocketAddr
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        script(stream).await;
    });
    addr
}

#[tokio::test]
async fn sends_and_receives_packets_with_their_addresses() {
    struct Echo;
    impl StreamRequestHandler for Echo {
        type Request = String;
        type Response = String;

        #[handler]
        async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
            let line = recv!()?;
            client
                .send_packet(&format!("{line} from {}", client.remote_addr()))
                .await?;
            Ok(())
        }
    }
    let running = serve(StringLines::new(), Echo).await;
    let client =
        TcpClient::connect_timeout(running.addr, StringLines::new(), Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!(client.remote_addr(), running.addr);
    client.send_packet("hi").await.unwrap();
    assert_eq!(
        within(client.recv_packet()).await.unwrap(),
        format!("hi from {}", client.local_addr())
    );
    client.close().await;
    running.stop().await;
}

#[tokio::test]
async fn connect_errors_are_reported() {
    // Nothing listens on a port we just released.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let error = TcpClient::connect(addr, JsonLines::<Value>::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn connect_timeout_gives_up() {
    // A listener that never accepts, with a backlog of 0: once its queue is full the
    // kernel drops further SYNs, so a connect hangs until our timeout.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut held = Vec::new();
    let mut timed_out = false;
    for _ in 0..16 {
        match TcpClient::connect_timeout(
            addr,
            JsonLines::<Value>::new(),
            Duration::from_millis(200),
        )
        .await
        {
            Ok(client) => held.push(client),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
                assert_eq!(e.to_string(), "connect timed out");
                timed_out = true;
                break;
            }
        }
    }
    assert!(timed_out, "every connect succeeded");
}

#[tokio::test]
async fn recv_timeouts_keep_partial_packets() {
    // A 1 MiB packet arrives in three parts; the client's receive times out (is
    // cancelled) after each of the first two, then the server sends the next part.
    let big = "y".repeat(1 << 20);
    let wire = format!("\"{big}\"\n[2]\n").into_bytes();
    let (next_tx, mut next_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let addr = raw_server(move |mut stream| async move {
        let third = wire.len() / 3;
        stream.write_all(&wire[..third]).await.unwrap();
        next_rx.recv().await.unwrap();
        stream.write_all(&wire[third..2 * third]).await.unwrap();
        next_rx.recv().await.unwrap();
        stream.write_all(&wire[2 * third..]).await.unwrap();
        // Hold the connection open until the client closes it.
        let _ = stream.read(&mut [0; 1]).await;
    })
    .await;
    let client = TcpClient::connect(addr, JsonLines::<Value>::new().max_frame_size(2 << 20))
        .await
        .unwrap();
    for _ in 0..2 {
        // Nothing can be complete before the server is told to go on.
        assert!(matches!(
            client.recv_packet_timeout(Duration::from_millis(200)).await,
            Err(ClientError::Timeout)
        ));
        next_tx.send(()).unwrap();
    }
    assert_eq!(within(client.recv_packet()).await.unwrap(), json!(big));
    assert_eq!(within(client.recv_packet()).await.unwrap(), json!([2]));
    client.close().await;
}

#[tokio::test]
async fn parse_errors_leave_the_stream_usable_and_the_stream_ends_at_eof() {
    let addr = raw_server(|mut stream| async move {
        stream
            .write_all(b"1\n{bad\n\"three\"\n[4]\n")
            .await
            .unwrap();
        // Then the server closes the connection.
    })
    .await;
    let client = TcpClient::connect(addr, JsonLines::<Value>::new())
        .await
        .unwrap();
    let items: Vec<Result<Value, ClientError>> = within(client.packets().collect()).await;
    assert_eq!(items.len(), 4);
    assert_eq!(items[0].as_ref().unwrap(), &json!(1));
    match &items[1] {
        Err(ClientError::Parse(e)) => assert_eq!(e.kind(), ParseErrorKind::InvalidPacket),
        other => panic!("{other:?}"),
    }
    assert_eq!(items[2].as_ref().unwrap(), &json!("three"));
    assert_eq!(items[3].as_ref().unwrap(), &json!([4]));
    assert!(matches!(
        client.recv_packet().await,
        Err(ClientError::ConnectionClosed)
    ));
}

#[tokio::test]
async fn close_makes_later_calls_fail_and_the_server_sees_eof() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = raw_server(|mut stream| async move {
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        let _ = tx.send(received);
    })
    .await;
    let client = TcpClient::connect(addr, JsonLines::<Value>::new())
        .await
        .unwrap();
    client.send_packet(&json!({"last": 1})).await.unwrap();
    client.close().await;
    assert!(client.is_closing());
    assert!(matches!(
        client.send_packet(&json!(2)).await,
        Err(ClientError::Closed)
    ));
    assert!(matches!(
        client.recv_packet().await,
        Err(ClientError::Closed)
    ));
    assert_eq!(within(rx).await.unwrap(), b"{\"last\":1}\n");
    client.close().await;
}

#[tokio::test]
async fn a_packet_that_cannot_be_serialized_sends_nothing() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = raw_server(|mut stream| async move {
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        let _ = tx.send(received);
    })
    .await;
    let client = TcpClient::connect(addr, StringLines::new()).await.unwrap();
    assert!(matches!(
        client.send_packet("two\nlines").await,
        Err(ClientError::Serialize(_))
    ));
    client.send_packet("ok").await.unwrap();
    client.close().await;
    assert_eq!(within(rx).await.unwrap(), b"ok\n");
}

#[tokio::test]
async fn one_task_sends_while_another_receives() {
    struct Counter;
    impl StreamRequestHandler for Counter {
        type Request = Value;
        type Response = Value;

        #[handler]
        async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
            let mut n = 0;
            loop {
                let request = recv!()?;
                n += 1;
                client.send_packet(&json!({"n": n, "req": request})).await?;
            }
        }
    }
    let running = serve(JsonLines::new(), Counter).await;
    let client = std::sync::Arc::new(
        TcpClient::connect(running.addr, JsonLines::<Value>::new())
            .await
            .unwrap(),
    );
    let reader = tokio::spawn({
        let client = client.clone();
        async move {
            let mut got = Vec::new();
            let mut packets = std::pin::pin!(client.packets());
            while got.len() < 100 {
                got.push(packets.next().await.unwrap().unwrap());
            }
            got
        }
    });
    for i in 0..100 {
        client.send_packet(&json!(i)).await.unwrap();
    }
    let got = within(reader).await.unwrap();
    for (i, packet) in got.iter().enumerate() {
        assert_eq!(packet, &json!({"n": i + 1, "req": i}));
    }
    running.stop().await;
}

/// The size of a packet that cannot fit in the loopback socket buffers (the kernel's send
/// and receive buffers hold a few MiB together): sending it blocks while the server reads
/// nothing.
const BIG: usize = 16 << 20;

/// How long a send may run before the test cancels it. Only the cancellation mechanism:
/// the server reads nothing until told to, so the send cannot finish in any time.
const CANCEL_AFTER: Duration = Duration::from_millis(200);

/// A `BIG` line without a newline, in a pattern that shows any byte lost or repeated.
fn big_line() -> Vec<u8> {
    (0..BIG).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A raw server that reads nothing until `go` fires, then reads everything up to the
/// client's end of stream and hands it over.
async fn stalled_server() -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    oneshot::Receiver<Vec<u8>>,
) {
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let (got_tx, got_rx) = oneshot::channel();
    let addr = raw_server(|mut stream| async move {
        if go_rx.await.is_err() {
            return;
        }
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        let _ = got_tx.send(received);
    })
    .await;
    (addr, go_tx, got_rx)
}

/// The lines of `bytes`, each as its length and its first and last bytes: a readable
/// account of what the server saw.
fn describe(bytes: &[u8]) -> String {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(|line| {
            let text = |part: &[u8]| format!("{:?}", String::from_utf8_lossy(part));
            if line.len() <= 24 {
                format!("{} bytes {}", line.len(), text(line))
            } else {
                let (head, tail) = (&line[..12], &line[line.len() - 12..]);
                format!("{} bytes {}..{}", line.len(), text(head), text(tail))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that `received` is exactly `lines`, each followed by `\n`.
fn assert_lines(received: &[u8], lines: &[&[u8]]) {
    let expected: Vec<u8> = lines
        .iter()
        .flat_map(|l| [*l, b"\n"])
        .flatten()
        .copied()
        .collect();
    assert!(
        received == expected,
        "the server saw [{}], expected [{}]",
        describe(received),
        describe(&expected)
    );
}

#[tokio::test]
async fn a_send_cancelled_mid_write_is_finished_before_the_next_packet() {
    let (addr, go, received) = stalled_server().await;
    let client = TcpClient::connect(addr, BytesLines::new()).await.unwrap();
    let big = big_line();
    // Cancelled once the socket buffers are full: part of the frame is on the wire.
    assert!(
        timeout(CANCEL_AFTER, client.send_packet(&big))
            .await
            .is_err(),
        "the big send finished although the server reads nothing"
    );
    go.send(()).unwrap();
    within(client.send_packet(b"small")).await.unwrap();
    client.close().await;
    assert_lines(&within(received).await.unwrap(), &[&big, b"small"]);
}

#[tokio::test]
async fn a_send_cancelled_before_its_packet_is_queued_sends_nothing_of_it() {
    let (addr, go, received) = stalled_server().await;
    let client = TcpClient::connect(addr, BytesLines::new()).await.unwrap();
    let big = big_line();
    assert!(
        timeout(CANCEL_AFTER, client.send_packet(&big))
            .await
            .is_err()
    );
    // Still writing the rest of the big frame (the server reads nothing) when cancelled:
    // its own packet never goes out.
    assert!(
        timeout(CANCEL_AFTER, client.send_packet(b"dropped"))
            .await
            .is_err()
    );
    go.send(()).unwrap();
    within(client.send_packet(b"third")).await.unwrap();
    client.close().await;
    assert_lines(&within(received).await.unwrap(), &[&big, b"third"]);
}

#[tokio::test]
async fn flush_writes_what_a_cancelled_send_left() {
    let big = big_line();
    let frame_len = big.len() + 1;
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let (got_tx, got_rx) = oneshot::channel();
    let addr = raw_server(move |mut stream| async move {
        go_rx.await.unwrap();
        // Exactly the big frame, while the client is still open.
        let mut frame = vec![0; frame_len];
        stream.read_exact(&mut frame).await.unwrap();
        let _ = got_tx.send(frame);
        let _ = stream.read(&mut [0; 1]).await;
    })
    .await;
    let client = TcpClient::connect(addr, BytesLines::new()).await.unwrap();
    assert!(
        timeout(CANCEL_AFTER, client.send_packet(&big))
            .await
            .is_err()
    );
    go_tx.send(()).unwrap();
    within(client.flush()).await.unwrap();
    assert_lines(&within(got_rx).await.unwrap(), &[&big]);
    // Nothing is left: flushing again returns at once.
    within(client.flush()).await.unwrap();
    client.close().await;
}

#[tokio::test]
async fn close_writes_what_a_cancelled_send_left() {
    let (addr, go, received) = stalled_server().await;
    let client = TcpClient::connect(addr, BytesLines::new()).await.unwrap();
    let big = big_line();
    assert!(
        timeout(CANCEL_AFTER, client.send_packet(&big))
            .await
            .is_err()
    );
    go.send(()).unwrap();
    within(client.close()).await;
    assert_lines(&within(received).await.unwrap(), &[&big]);
    assert!(matches!(
        client.send_packet(b"late").await,
        Err(ClientError::Closed)
    ));
}

#[tokio::test]
async fn a_tls_send_cancelled_mid_write_is_finished_before_the_next_packet() {
    let pki = TestPki::new();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config());
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let (got_tx, got_rx) = oneshot::channel();
    let addr = raw_server(move |stream| async move {
        let mut stream = acceptor.accept(stream).await.unwrap();
        go_rx.await.unwrap();
        let mut received = Vec::new();
        // Up to the client's close_notify.
        stream.read_to_end(&mut received).await.unwrap();
        let _ = got_tx.send(received);
    })
    .await;
    let client = TcpClient::connect_tls(
        "127.0.0.1",
        addr.port(),
        JsonLines::<Value>::new(),
        &pki.client_tls(),
    )
    .await
    .unwrap();
    let big = String::from_utf8(big_line()).unwrap();
    assert!(
        timeout(CANCEL_AFTER, client.send_packet(&big))
            .await
            .is_err()
    );
    go_tx.send(()).unwrap();
    within(client.send_packet(&json!({"small": true})))
        .await
        .unwrap();
    client.close().await;
    assert_lines(
        &within(got_rx).await.unwrap(),
        &[format!("\"{big}\"").as_bytes(), b"{\"small\":true}"],
    );
}

/// String lines whose encoder, for the packet `"fail"`, writes part of a line and then
/// fails: the client must not send that part.
#[derive(Clone)]
struct FailsHalfway(StringLines);

impl Decoder for FailsHalfway {
    type Item = String;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<String>, ProtocolError> {
        self.0.decode(src)
    }
}

impl<'a> Encoder<&'a str> for FailsHalfway {
    type Error = ProtocolError;

    fn encode(&mut self, line: &'a str, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        if line == "fail" {
            dst.extend_from_slice(b"fa");
            return Err(ProtocolError::Serialize("refused halfway".into()));
        }
        self.0.encode(line, dst)
    }
}

#[tokio::test]
async fn a_packet_that_fails_halfway_through_serializing_sends_nothing() {
    let (addr, go, received) = stalled_server().await;
    let client = TcpClient::connect(addr, FailsHalfway(StringLines::new()))
        .await
        .unwrap();
    let big = String::from_utf8(big_line()).unwrap();
    assert!(
        timeout(CANCEL_AFTER, client.send_packet(big.as_str()))
            .await
            .is_err()
    );
    go.send(()).unwrap();
    // The rest of the big frame goes out; nothing of the failed packet does.
    assert!(matches!(
        within(client.send_packet("fail")).await,
        Err(ClientError::Serialize(_))
    ));
    within(client.send_packet("ok")).await.unwrap();
    assert!(matches!(
        within(client.send_packet("fail")).await,
        Err(ClientError::Serialize(_))
    ));
    client.close().await;
    assert_lines(&within(received).await.unwrap(), &[big.as_bytes(), b"ok"]);
}
