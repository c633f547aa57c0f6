//! UDP interop with Python easynetwork 1.2.0, over loopback.
//!
//! - Python `AsyncUDPNetworkClient` + `DatagramProtocol(JSONSerializer())` (and CBOR,
//!   MessagePack) -> the `udp_echo_server` example: varied packets echo unchanged, a bad
//!   datagram gets `{"error": ..}` and the address is still served (`udp_client.py`).
//! - easynet `UdpClient` -> Python `AsyncUDPNetworkServer` with the same protocols: each
//!   request comes back as `{"echo": request}`, encoded by Python (`udp_server.py`).
//!
//! The interpreter comes from `EASYNET_PYTHON` and the example from
//! `EASYNET_EXAMPLES_DIR`: when either is missing the tests fail, they never skip.

use easynet::{
    CborSerializer, DatagramProtocol, DatagramSerializer, JsonSerializer, MsgPackSerializer,
    UdpClient,
};
use easynet_tests::{ServerProcess, example_binary, python_script, run_process, within};
use serde_json::{Value, json};
use tokio::process::Command;

async fn python_client_against_udp_echo_server(format: &str) {
    let mut command = Command::new(example_binary("udp_echo_server"));
    command.args(["--port", "0", "--format", format]);
    let server = ServerProcess::spawn(command, "the udp_echo_server example").await;
    let mut client = python_script("udp_client.py");
    client.args([
        "--port",
        &server.addr.port().to_string(),
        "--format",
        format,
    ]);
    let summary = run_process(client, "udp_client.py")
        .await
        .summary("udp_client");
    assert_eq!(summary["echoed"], 11, "{summary}");
    assert!(
        summary["error"].as_str().unwrap().starts_with("invalid "),
        "{summary}"
    );
    server.interrupt().await;
}

#[tokio::test]
async fn python_udp_client_json_against_udp_echo_server() {
    python_client_against_udp_echo_server("json").await;
}

#[tokio::test]
async fn python_udp_client_cbor_against_udp_echo_server() {
    python_client_against_udp_echo_server("cbor").await;
}

#[tokio::test]
async fn python_udp_client_msgpack_against_udp_echo_server() {
    python_client_against_udp_echo_server("msgpack").await;
}

async fn udp_client_against_python_server<S>(format: &str, serializer: S)
where
    S: DatagramSerializer<Value, Value>,
{
    let mut command = python_script("udp_server.py");
    command.args(["--format", format]);
    let server = ServerProcess::spawn(command, "udp_server.py").await;
    let client = within(UdpClient::connect(
        server.addr,
        DatagramProtocol::new(serializer),
    ))
    .await
    .unwrap();
    let packets = [
        json!(null),
        json!(-7),
        json!(1.5),
        json!("héllo ☃"),
        json!([1, [2, {"x": true}]]),
        json!({"big": "y".repeat(30_000)}),
    ];
    for packet in packets {
        client.send_packet(&packet).await.unwrap();
        let answer = within(client.recv_packet()).await.unwrap();
        assert_eq!(answer, json!({ "echo": packet }));
    }
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn udp_client_json_against_python_udp_server() {
    udp_client_against_python_server("json", JsonSerializer::<Value>::new()).await;
}

#[tokio::test]
async fn udp_client_cbor_against_python_udp_server() {
    udp_client_against_python_server("cbor", CborSerializer::<Value>::new()).await;
}

#[tokio::test]
async fn udp_client_msgpack_against_python_udp_server() {
    udp_client_against_python_server("msgpack", MsgPackSerializer::<Value>::new()).await;
}
