//! The synchronous API against Python easynetwork 1.2.0's, and the blocking examples, over
//! loopback:
//!
//! - Python's blocking `TCPNetworkClient` (`tests/python/sync_client.py`) -> our
//!   `standalone_server` example;
//! - our `blocking::TcpClient` -> Python's `StandaloneTCPNetworkServer` run by a
//!   `NetworkServerThread` (`tests/python/standalone_server.py`);
//! - the `blocking_client` example -> `echo_server` and -> `standalone_server`: the
//!   how-to's three "From server" lines;
//! - Python's blocking `UDPNetworkClient` (`tests/python/sync_udp_client.py`) -> our
//!   `standalone_server --udp` (a `StandaloneUdpServer`);
//! - our `blocking::UdpClient` -> Python's `StandaloneUDPNetworkServer` run by a
//!   `NetworkServerThread` (`tests/python/standalone_udp_server.py`).
//!
//! The interpreter comes from `EASYNET_PYTHON`, the examples from `EASYNET_EXAMPLES_DIR`:
//! when either is missing the tests fail, they never skip.

use std::time::Duration;

use easynet::blocking::{TcpClient, UdpClient};
use easynet::{ClientError, DatagramProtocol, JsonLines, JsonSerializer};
use easynet_tests::{ServerProcess, example_binary, python_script, run_process};
use serde_json::{Value, json};
use tokio::process::Command;

const STEP: Duration = Duration::from_secs(10);

async fn standalone_server() -> ServerProcess {
    let mut command = Command::new(example_binary("standalone_server"));
    command.args(["--port", "0"]);
    ServerProcess::spawn(command, "standalone_server").await
}

#[tokio::test]
async fn python_blocking_client_to_our_standalone_server() {
    let server = standalone_server().await;
    let mut client = python_script("sync_client.py");
    client.args(["--port", &server.addr.port().to_string()]);
    let summary = run_process(client, "sync_client.py")
        .await
        .summary("sync_client");
    // 3 how-to clients, 50 pipelined, one after a timeout, one before send_eof.
    assert_eq!(summary, json!({"round_trips": 55}));
    server.interrupt().await;
}

#[tokio::test]
async fn our_blocking_client_to_python_standalone_server() {
    let mut command = python_script("standalone_server.py");
    command.args(["--port", "0"]);
    let server = ServerProcess::spawn(command, "standalone_server.py").await;
    let addr = server.addr;
    // The blocking client runs on a thread of its own, as in a plain program.
    tokio::task::spawn_blocking(move || {
        let client = TcpClient::connect_timeout(addr, JsonLines::<Value>::new(), STEP).unwrap();
        let packets = [
            json!({"message": "Hello world 1"}),
            json!([1, 2.5, null, true, "é\u{1F600}"]),
            json!({"nested": {"deep": [{"x": -0.0}]}}),
            json!("a string"),
        ];
        // One thread sends everything while this one receives.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for packet in &packets {
                    client.send_packet_timeout(packet, STEP).unwrap();
                }
            });
            for packet in &packets {
                assert_eq!(
                    client.recv_packet_timeout(STEP).unwrap(),
                    json!({"echo": packet})
                );
            }
        });
        // Python answers nothing unasked: the wait times out, the client stays usable.
        assert!(matches!(
            client.recv_packet_timeout(Duration::from_millis(200)),
            Err(ClientError::Timeout)
        ));
        client.send_packet(&json!(42)).unwrap();
        client.send_eof().unwrap();
        assert_eq!(
            client.recv_packet_timeout(STEP).unwrap(),
            json!({"echo": 42})
        );
        assert!(matches!(
            client.recv_packet_timeout(STEP),
            Err(ClientError::ConnectionClosed)
        ));
        client.close();
    })
    .await
    .unwrap();
    server.stop().await;
}

async fn blocking_client_example(server: &ServerProcess) -> String {
    let mut client = Command::new(example_binary("blocking_client"));
    client.args(["--port", &server.addr.port().to_string()]);
    let output = run_process(client, "blocking_client").await;
    output.assert_success();
    output.stdout
}

const FROM_SERVER: &str = "From server: {\"message\":\"Hello world 1\"}\n\
                           From server: {\"message\":\"Hello world 2\"}\n\
                           From server: {\"message\":\"Hello world 3\"}\n";

#[tokio::test]
async fn blocking_client_example_to_echo_server() {
    let mut command = Command::new(example_binary("echo_server"));
    command.args(["--port", "0"]);
    let server = ServerProcess::spawn(command, "echo_server").await;
    assert_eq!(blocking_client_example(&server).await, FROM_SERVER);
    server.interrupt().await;
}

#[tokio::test]
async fn blocking_client_example_to_standalone_server() {
    let server = standalone_server().await;
    assert_eq!(blocking_client_example(&server).await, FROM_SERVER);
    let stderr = server.interrupt().await;
    assert!(stderr.contains("server stopped"), "{stderr}");
}

#[tokio::test]
async fn blocking_client_example_reports_a_refused_connection() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut client = Command::new(example_binary("blocking_client"));
    client.args(["--port", &port.to_string()]);
    let output = run_process(client, "blocking_client").await;
    assert!(!output.status.success());
    assert!(
        output.stderr.starts_with(&format!(
            "blocking_client: cannot connect to 127.0.0.1:{port}"
        )),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn python_blocking_udp_client_to_our_standalone_udp_server() {
    let mut command = Command::new(example_binary("standalone_server"));
    command.args(["--port", "0", "--udp"]);
    let server = ServerProcess::spawn(command, "standalone_server --udp").await;
    let mut client = python_script("sync_udp_client.py");
    client.args(["--port", &server.addr.port().to_string()]);
    let summary = run_process(client, "sync_udp_client.py")
        .await
        .summary("sync_udp_client");
    // 3 how-to clients, 10 varied packets, one after a timeout, 20 across two threads.
    assert_eq!(summary, json!({"round_trips": 34}));
    let stderr = server.interrupt().await;
    assert!(stderr.contains("datagram server stopped"), "{stderr}");
}

#[tokio::test]
async fn our_blocking_udp_client_to_python_standalone_udp_server() {
    let mut command = python_script("standalone_udp_server.py");
    command.args(["--port", "0"]);
    let server = ServerProcess::spawn(command, "standalone_udp_server.py").await;
    let addr = server.addr;
    // The blocking client runs on a thread of its own, as in a plain program.
    tokio::task::spawn_blocking(move || {
        let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
        let client = UdpClient::connect(addr, protocol).unwrap();
        assert_eq!(client.remote_addr(), addr);
        let packets = [
            json!({"message": "Hello world 1"}),
            json!([1, 2.5, null, true, "é\u{1F600}"]),
            json!({"nested": {"deep": [{"x": -0.0}]}}),
            json!({"big": "x".repeat(20_000)}),
        ];
        // One thread sends while this one receives, a packet once the previous answer
        // is in (UDP may drop a burst).
        let (next, go) = std::sync::mpsc::channel::<()>();
        let (client, sent) = (&client, &packets);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for packet in sent {
                    go.recv().unwrap();
                    client.send_packet(packet).unwrap();
                }
            });
            for packet in &packets {
                next.send(()).unwrap();
                assert_eq!(
                    client.recv_packet_timeout(STEP).unwrap(),
                    json!({"echo": packet})
                );
            }
        });
        // Python answers nothing unasked: the wait times out, the client stays usable.
        assert!(matches!(
            client.recv_packet_timeout(Duration::from_millis(200)),
            Err(ClientError::Timeout)
        ));
        client.send_packet(&json!(42)).unwrap();
        assert_eq!(
            client.recv_packet_timeout(STEP).unwrap(),
            json!({"echo": 42})
        );
        // Past the limit: refused here, nothing sent.
        let err = client
            .send_packet(&json!("x".repeat(easynet::MAX_DATAGRAM_SIZE)))
            .unwrap_err();
        assert!(matches!(err, ClientError::TooLarge { .. }), "{err:?}");
        client.send_packet(&json!("after")).unwrap();
        assert_eq!(
            client.recv_packet_timeout(STEP).unwrap(),
            json!({"echo": "after"})
        );
        client.close();
    })
    .await
    .unwrap();
    server.stop().await;
}
