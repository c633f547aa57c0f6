//! The async client: connect (with a timeout), send, receive (with a timeout), the
//! packet stream, close, addresses.

use std::time::Duration;

use easynet::{
    ClientError, HandlerError, JsonLines, ParseErrorKind, StreamClient, StreamRequestHandler,
    StringLines, TcpClient, handler, recv,
};
use easynet_tests::{serve, within};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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
async fn recv_timeout_keeps_partial_packets() {
    let addr = raw_server(|mut stream| async move {
        stream.write_all(b"{\"part").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stream.write_all(b"ial\":true}\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let client = TcpClient::connect(addr, JsonLines::<Value>::new())
        .await
        .unwrap();
    assert!(matches!(
        client.recv_packet_timeout(Duration::from_millis(100)).await,
        Err(ClientError::Timeout)
    ));
    assert_eq!(
        client
            .recv_packet_timeout(Duration::from_secs(5))
            .await
            .unwrap(),
        json!({"partial": true})
    );
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
