//! The blocking datagram client (`easynet::blocking::UdpClient`) and the standalone
//! datagram servers (`StandaloneUdpServer`, `StandaloneUnixDatagramServer`) over loopback:
//! two threads on one client, timeouts that leave it usable, no runtime needed and no
//! panic inside one, oversize refusal, decode errors, close waking a receiver,
//! `from_socket`.

use std::sync::mpsc;
use std::time::Duration;

use easynet::blocking::{ServerThread, StandaloneUdpServer, UdpClient};
use easynet::{
    ClientError, DatagramClient, DatagramProtocol, DatagramRequestHandler, HandlerError,
    JsonSerializer, UdpServer, handler, recv,
};
use serde_json::{Value, json};

/// A bound on every wait for an answer (a lost datagram on loopback fails the test, it
/// does not hang it).
const ANSWER: Duration = Duration::from_secs(10);

fn json<T>() -> DatagramProtocol<JsonSerializer<T>> {
    DatagramProtocol::new(JsonSerializer::new())
}

/// Echoes each datagram.
struct Echo;

impl DatagramRequestHandler for Echo {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &DatagramClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

type EchoServer = ServerThread<UdpServer<Echo, JsonSerializer<Value>>>;

fn echo_server() -> EchoServer {
    let bind = UdpServer::builder(json(), Echo).host("127.0.0.1").bind();
    ServerThread::start(StandaloneUdpServer::new(1, bind).expect("bind")).expect("serves")
}

fn connect(running: &EchoServer) -> UdpClient<JsonSerializer<Value>> {
    UdpClient::connect(running.server().local_addrs()[0], json()).expect("connect")
}

#[test]
fn one_thread_sends_while_another_receives() {
    let running = echo_server();
    let client = connect(&running);
    let (next, go) = mpsc::channel::<()>();
    let client = &client;
    std::thread::scope(|s| {
        // The receiver is blocked in recv_packet while the sender sends: each packet is
        // sent once the previous answer has arrived (UDP may drop a burst).
        s.spawn(move || {
            for i in 0..50 {
                go.recv().expect("the receiver asks for the next packet");
                client.send_packet(&json!({"i": i})).unwrap();
            }
        });
        s.spawn(|| {
            for i in 0..50 {
                next.send(()).unwrap();
                assert_eq!(client.recv_packet_timeout(ANSWER).unwrap(), json!({"i": i}));
            }
        });
    });
    client.close();
    running.stop().unwrap();
}

#[test]
fn a_receive_timeout_leaves_the_client_usable() {
    let running = echo_server();
    let client = connect(&running);
    let err = client
        .recv_packet_timeout(Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
    client.send_packet(&json!("after the timeout")).unwrap();
    assert_eq!(
        client.recv_packet_timeout(ANSWER).unwrap(),
        json!("after the timeout")
    );
    running.stop().unwrap();
}

#[tokio::test]
async fn a_blocking_client_inside_a_runtime_does_not_panic() {
    // The server has its own runtime; the client blocks this runtime's thread, with no
    // "cannot block on a runtime thread" panic.
    let running = echo_server();
    let client = connect(&running);
    client.send_packet(&json!({"inside": "a runtime"})).unwrap();
    assert_eq!(
        client.recv_packet_timeout(ANSWER).unwrap(),
        json!({"inside": "a runtime"})
    );
    client.close();
    running.stop().unwrap();
}

#[test]
fn an_oversize_packet_is_refused_and_nothing_is_sent() {
    let running = echo_server();
    let client = UdpClient::connect(
        running.server().local_addrs()[0],
        json::<Value>().max_datagram_size(100),
    )
    .unwrap();
    let big = "x".repeat(200);
    let err = client.send_packet(&json!(big)).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::TooLarge {
                size: 202,
                max: 100
            }
        ),
        "{err:?}"
    );
    // Nothing went out: the next answer is the next packet's.
    client.send_packet(&json!("small")).unwrap();
    assert_eq!(client.recv_packet_timeout(ANSWER).unwrap(), json!("small"));
    running.stop().unwrap();
}

#[test]
fn a_datagram_that_does_not_decode_is_an_error_and_the_next_one_decodes() {
    let running = echo_server();
    // The client expects numbers; the server echoes what it gets.
    let client: UdpClient<JsonSerializer<u32>> =
        UdpClient::connect(running.server().local_addrs()[0], json()).unwrap();
    client.send_packet(&json!("not a number")).unwrap();
    let err = client.recv_packet_timeout(ANSWER).unwrap_err();
    assert!(matches!(err, ClientError::Parse(_)), "{err:?}");
    client.send_packet(&json!(7)).unwrap();
    assert_eq!(client.recv_packet_timeout(ANSWER).unwrap(), 7);
    running.stop().unwrap();
}

#[test]
fn close_wakes_a_blocked_receiver_and_ends_the_iterator() {
    let running = echo_server();
    let client = std::sync::Arc::new(connect(&running));
    let (items, received) = mpsc::channel();
    let receiver = std::thread::spawn({
        let client = std::sync::Arc::clone(&client);
        move || {
            for packet in client.packets() {
                items.send(Some(packet.unwrap())).unwrap();
            }
            items.send(None).unwrap();
        }
    });
    client.send_packet(&json!(1)).unwrap();
    // The answer came through: the receiver goes back to waiting, and close ends that.
    assert_eq!(received.recv_timeout(ANSWER).unwrap(), Some(json!(1)));
    client.close();
    assert_eq!(
        received.recv_timeout(ANSWER),
        Ok(None),
        "the iterator did not end"
    );
    receiver.join().unwrap();
    assert!(matches!(
        client.send_packet(&json!(2)),
        Err(ClientError::Closed)
    ));
    assert!(matches!(client.recv_packet(), Err(ClientError::Closed)));
    running.stop().unwrap();
}

#[test]
fn the_standalone_server_is_started_and_stopped_from_other_threads() {
    let running = std::thread::spawn(echo_server).join().unwrap();
    assert!(running.server().is_serving());
    let addr = running.server().local_addrs()[0];
    let handle = running.server().handle();
    std::thread::spawn(move || {
        let client = UdpClient::connect(addr, json::<Value>()).unwrap();
        client.send_packet(&json!("hello")).unwrap();
        assert_eq!(client.recv_packet_timeout(ANSWER).unwrap(), json!("hello"));
    })
    .join()
    .unwrap();
    std::thread::spawn(move || running.stop().unwrap())
        .join()
        .unwrap();
    assert!(!handle.is_serving());
}

#[cfg(unix)]
#[test]
fn unix_datagram_client_against_a_standalone_unix_datagram_server() {
    use easynet::UnixDatagramServer;
    use easynet::blocking::{StandaloneUnixDatagramServer, UnixDatagramClient};

    let dir = std::env::temp_dir().join(format!("easynet-budp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.sock");
    let bind = UnixDatagramServer::builder(&path, json(), Echo).bind();
    let running =
        ServerThread::start(StandaloneUnixDatagramServer::new(1, bind).expect("bind")).unwrap();
    let client =
        UnixDatagramClient::connect_unix(&path, dir.join("client.sock"), json::<Value>()).unwrap();
    assert_eq!(client.remote_address().as_unix_path(), Some(path.as_path()));
    client.send_packet(&json!({"over": "unix"})).unwrap();
    assert_eq!(
        client.recv_packet_timeout(ANSWER).unwrap(),
        json!({"over": "unix"})
    );
    client.close();
    running.stop().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn from_socket_takes_a_connected_socket_and_refuses_an_unconnected_one() {
    let running = echo_server();
    let unconnected = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = UdpClient::from_socket(unconnected, json::<Value>()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotConnected, "{err}");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    socket.connect(running.server().local_addrs()[0]).unwrap();
    let client = UdpClient::from_socket(socket, json::<Value>()).unwrap();
    assert_eq!(client.local_addr(), local);
    assert_eq!(client.remote_addr(), running.server().local_addrs()[0]);
    client.send_packet(&json!("from a socket")).unwrap();
    assert_eq!(
        client.recv_packet_timeout(ANSWER).unwrap(),
        json!("from a socket")
    );
    running.stop().unwrap();
}
