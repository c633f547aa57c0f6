//! Every shared format against Python easynetwork 1.2.0, both ways, over real loopback
//! sockets, and the `echo_server` example's error behaviour in every format.
//!
//! - Python `AsyncTCPNetworkClient` with each format's serializer -> the `echo_server`
//!   example with `--format`: packets of many shapes echo unchanged (one at a time, then
//!   pipelined); a packet over 64 KiB gets one `{"error": ..}` reply and the connection
//!   stays usable (`tests/python/format_client.py`).
//! - easynet `TcpClient` with each format's protocol -> Python `AsyncTCPNetworkServer`
//!   answering `R` with `{"echo": R}` (`tests/python/format_server.py`).
//! - base64 with a SHA-256 checksum, with an HMAC key, with the standard alphabet, both
//!   ways, against in-process easynet servers.
//! - The `echo_server` example, fed bad bytes on a plain socket in each format: one error
//!   reply per bad packet, then the next packet is echoed.
//!
//! The Python interpreter comes from `easynet_tests::python()` and the example from
//! `EASYNET_EXAMPLES_DIR`: when either is missing the tests fail, they never skip.

use bytes::BytesMut;
use easynet::{
    Alphabet, Base64, Bincode, Bz2, Cbor, HandlerError, JsonLines, JsonSerializer, JsonStream,
    MsgPack, ProtocolError, RecvError, StreamClient, StreamProtocol, StreamRequestHandler,
    StringLines, TcpClient, Zlib, handler, recv,
};
use easynet_tests::{
    ProcessOutput, ServerProcess, example_binary, python_script, run_process, serve, within,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_util::codec::{Decoder, Encoder};

/// The message of easynet's `ParseError` for a frame over the default limit.
const TOO_LARGE: &str = "frame too large: more than 65536 bytes";

/// A signing key, and its URL-safe base64 (what Python's `checksum=` takes).
const KEY: [u8; 32] = *b"an HMAC-SHA256 key of 32 bytes!!";
const KEY_B64: &str = "YW4gSE1BQy1TSEEyNTYga2V5IG9mIDMyIGJ5dGVzISE=";

async fn run_peer(script: &str, port: u16, args: &[&str]) -> ProcessOutput {
    let mut command = python_script(script);
    command.arg("--port").arg(port.to_string()).args(args);
    run_process(command, &format!("{script} {}", args.join(" "))).await
}

async fn echo_server(format: &str) -> ServerProcess {
    let mut command = Command::new(example_binary("echo_server"));
    command
        .args(["--port", "0", "--format", format])
        .env("RUST_LOG", "warn");
    ServerProcess::spawn(command, &format!("echo_server --format {format}")).await
}

async fn python_server(args: &[&str]) -> ServerProcess {
    let mut command = python_script("format_server.py");
    command.args(args);
    ServerProcess::spawn(command, &format!("format_server.py {}", args.join(" "))).await
}

async fn stop_python_server(server: ServerProcess) {
    let stderr = server.stop().await;
    assert!(
        stderr.trim().is_empty(),
        "the Python server logged:\n{stderr}"
    );
}

/// Checks a `format_client.py --error-checks` summary: every packet echoed twice, plus
/// the probe, and one "frame too large" error.
fn check_client_summary(output: &ProcessOutput, what: &str) {
    let summary = output.summary("format_client");
    let packets = summary["packets"].as_u64().expect("packets");
    assert!(packets >= 25, "{what}: {summary}");
    assert_eq!(
        summary["echoed"],
        json!(2 * packets + 1),
        "{what}: {summary}"
    );
    assert_eq!(summary["errors"], json!([TOO_LARGE]), "{what}: {summary}");
}

// ---------------------------------------------------------------------------------------
// Python client -> the echo_server example.

macro_rules! python_client_to_echo_server {
    ($($test:ident: $format:literal,)*) => {$(
        #[tokio::test]
        async fn $test() {
            let server = echo_server($format).await;
            let output = run_peer(
                "format_client.py",
                server.addr.port(),
                &["--format", $format, "--error-checks"],
            )
            .await;
            check_client_summary(&output, $format);
        }
    )*};
}

python_client_to_echo_server! {
    python_client_to_echo_server_json_nolines: "json-nolines",
    python_client_to_echo_server_cbor: "cbor",
    python_client_to_echo_server_msgpack: "msgpack",
    python_client_to_echo_server_base64: "base64-json",
    python_client_to_echo_server_zlib: "zlib-json",
    python_client_to_echo_server_bz2: "bz2-json",
}

// ---------------------------------------------------------------------------------------
// easynet client -> Python server.

/// Packets of many shapes, all representable as `serde_json::Value` and by every format.
fn packet_shapes() -> Vec<Value> {
    let mut deep = json!("bottom");
    for _ in 0..60 {
        deep = json!([deep]);
    }
    vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(0.1),
        json!(-2.5),
        json!(1e300),
        json!(""),
        json!("quote \" backslash \\ newline \n"),
        json!("café 日本 😀"),
        json!([]),
        json!({}),
        json!([1, "two", 3.5, null, true, [false, {"k": []}]]),
        json!({"nested": {"deeper": [1, {"x": "y"}]}, "list": [1, 2, 3]}),
        deep,
        json!({"big": "x".repeat(30_000)}),
    ]
}

/// Sends every packet shape to a Python `format_server.py` with `args`, one at a time
/// then pipelined, and checks each `{"echo": packet}` answer.
async fn client_round_trips<P>(protocol: P, args: &[&str])
where
    P: StreamProtocol<Value, Value>,
{
    let server = python_server(args).await;
    let client = within(TcpClient::connect(server.addr, protocol))
        .await
        .expect("connect");
    let packets = packet_shapes();
    for packet in &packets {
        within(client.send_packet(packet)).await.expect("send");
        let reply = within(client.recv_packet()).await.expect("reply");
        assert_eq!(reply, json!({ "echo": packet }), "{args:?}");
    }
    for packet in &packets {
        within(client.send_packet(packet)).await.expect("send");
    }
    for packet in &packets {
        let reply = within(client.recv_packet()).await.expect("pipelined reply");
        assert_eq!(reply, json!({ "echo": packet }), "{args:?}");
    }
    client.close().await;
    stop_python_server(server).await;
}

#[tokio::test]
async fn easynet_client_to_python_server_json_lines() {
    client_round_trips(JsonLines::<Value>::new(), &["--format", "json"]).await;
}

#[tokio::test]
async fn easynet_client_to_python_server_json_nolines() {
    client_round_trips(JsonStream::<Value>::new(), &["--format", "json-nolines"]).await;
}

#[tokio::test]
async fn easynet_client_to_python_server_cbor() {
    client_round_trips(Cbor::<Value>::new(), &["--format", "cbor"]).await;
}

#[tokio::test]
async fn easynet_client_to_python_server_msgpack() {
    client_round_trips(MsgPack::<Value>::new(), &["--format", "msgpack"]).await;
}

#[tokio::test]
async fn easynet_client_to_python_server_base64() {
    client_round_trips(
        Base64::new(JsonSerializer::<Value>::new()),
        &["--format", "base64-json"],
    )
    .await;
}

#[tokio::test]
async fn easynet_client_to_python_server_base64_checksum_and_key() {
    client_round_trips(
        Base64::new(JsonSerializer::<Value>::new()).checksum(),
        &["--format", "base64-json", "--checksum"],
    )
    .await;
    client_round_trips(
        Base64::new(JsonSerializer::<Value>::new())
            .signing_key_base64(KEY_B64)
            .expect("key")
            .alphabet(Alphabet::Standard),
        &[
            "--format",
            "base64-json",
            "--key",
            KEY_B64,
            "--alphabet",
            "standard",
        ],
    )
    .await;
}

#[tokio::test]
async fn easynet_client_to_python_server_zlib() {
    client_round_trips(
        Zlib::new(JsonSerializer::<Value>::new()),
        &["--format", "zlib-json"],
    )
    .await;
}

#[tokio::test]
async fn easynet_client_to_python_server_bz2() {
    client_round_trips(
        Bz2::new(JsonSerializer::<Value>::new()),
        &["--format", "bz2-json"],
    )
    .await;
}

/// `TcpClient<StringLines>` against Python's `StringLineSerializer(encoding="utf-8")`.
#[tokio::test]
async fn easynet_client_to_python_server_lines() {
    let server = python_server(&["--format", "lines"]).await;
    let client = within(TcpClient::connect(server.addr, StringLines::new()))
        .await
        .expect("connect");
    for line in ["hello", "café 😀", "  ", "tab\tcr\r"] {
        within(client.send_packet(line)).await.expect("send");
        assert_eq!(
            within(client.recv_packet()).await.expect("reply"),
            format!("echo:{line}")
        );
    }
    client.close().await;
    stop_python_server(server).await;
}

// ---------------------------------------------------------------------------------------
// Python client -> in-process servers: base64 with checksums.

/// Echoes every packet; answers a packet that fails to decode with `{"error": msg}`.
struct Echo;

impl StreamRequestHandler for Echo {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(packet) => client.send_packet(&packet).await?,
            Err(RecvError::Parse(e)) => {
                client.send_packet(&json!({"error": e.to_string()})).await?
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

#[tokio::test]
async fn python_base64_checksum_client_to_easynet_server() {
    let running = serve(Base64::new(JsonSerializer::<Value>::new()).checksum(), Echo).await;
    let output = run_peer(
        "format_client.py",
        running.addr.port(),
        &["--format", "base64-json", "--checksum", "--error-checks"],
    )
    .await;
    check_client_summary(&output, "base64 with checksum");
    running.stop().await;
}

#[tokio::test]
async fn python_base64_hmac_standard_client_to_easynet_server() {
    let protocol = Base64::new(JsonSerializer::<Value>::new())
        .signing_key(&KEY)
        .alphabet(Alphabet::Standard);
    let running = serve(protocol, Echo).await;
    let output = run_peer(
        "format_client.py",
        running.addr.port(),
        &[
            "--format",
            "base64-json",
            "--key",
            KEY_B64,
            "--alphabet",
            "standard",
            "--error-checks",
        ],
    )
    .await;
    check_client_summary(&output, "base64 with an HMAC key");
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// The echo_server example's error behaviour, format by format.

/// A plain socket to send exact bytes, reading replies with one of our decoders.
struct RawPeer<D> {
    stream: TcpStream,
    decoder: D,
    buf: BytesMut,
}

impl<D: Decoder<Error = ProtocolError>> RawPeer<D> {
    async fn connect(server: &ServerProcess, decoder: D) -> Self {
        let stream = within(TcpStream::connect(server.addr))
            .await
            .expect("connect");
        RawPeer {
            stream,
            decoder,
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        within(self.stream.write_all(bytes)).await.expect("write");
    }

    async fn reply(&mut self) -> D::Item {
        loop {
            if let Some(item) = self.decoder.decode(&mut self.buf).expect("a valid reply") {
                return item;
            }
            let n = within(self.stream.read_buf(&mut self.buf))
                .await
                .expect("read");
            assert!(n > 0, "the server closed the connection");
        }
    }
}

/// The bytes of `packet` in a protocol.
fn encoded<E: for<'a> Encoder<&'a Value, Error = ProtocolError>>(
    mut encoder: E,
    packet: &Value,
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encoder.encode(packet, &mut buf).expect("encode");
    buf.to_vec()
}

/// Sends each bad input, expects one `{"error": ..}` reply starting with the given text,
/// then checks that a good packet still echoes.
async fn check_bad_inputs<P>(format: &str, protocol: P, bad: &[(&[u8], &str)])
where
    P: Decoder<Item = Value, Error = ProtocolError>
        + for<'a> Encoder<&'a Value, Error = ProtocolError>
        + Clone,
{
    let server = echo_server(format).await;
    let mut peer = RawPeer::connect(&server, protocol.clone()).await;
    let big = json!({"big": "z".repeat(70_000)});
    let mut inputs: Vec<(Vec<u8>, &str)> = bad.iter().map(|(b, m)| (b.to_vec(), *m)).collect();
    inputs.push((encoded(protocol.clone(), &big), TOO_LARGE));
    for (i, (input, message)) in inputs.iter().enumerate() {
        peer.send(input).await;
        let reply = peer.reply().await;
        let error = reply["error"].as_str().unwrap_or_else(|| {
            panic!("{format}: bad input #{i}: expected an error reply, got {reply:.200}")
        });
        assert!(
            error.starts_with(message),
            "{format}: bad input #{i}: {error:?}"
        );
        let probe = json!({"after": i});
        peer.send(&encoded(protocol.clone(), &probe)).await;
        assert_eq!(peer.reply().await, probe, "{format}: after bad input #{i}");
    }
}

#[tokio::test]
async fn echo_server_bad_input_json_nolines() {
    check_bad_inputs(
        "json-nolines",
        JsonStream::<Value>::new(),
        &[
            (b"{oops}", "invalid JSON: "),
            (
                b"\x01\x02",
                "invalid JSON: a document cannot start with byte 0x01",
            ),
            (b"12 34\n", "invalid JSON: "),
            (b"\"\xff\"", "invalid JSON: "),
        ],
    )
    .await;
}

#[tokio::test]
async fn echo_server_bad_input_cbor() {
    check_bad_inputs(
        "cbor",
        Cbor::<Value>::new(),
        &[
            (b"\xfc", "invalid CBOR: reserved header byte 0xfc"),
            (b"\xa1\x01\x02", "invalid CBOR: "),
            (b"\x62\xff\xfe", "invalid CBOR: "),
            (b"\xff", "invalid CBOR: unexpected break"),
        ],
    )
    .await;
}

#[tokio::test]
async fn echo_server_bad_input_msgpack() {
    check_bad_inputs(
        "msgpack",
        MsgPack::<Value>::new(),
        &[
            (b"\xc1", "invalid MessagePack: byte 0xc1 is never used"),
            (b"\xc4\x01x", "invalid MessagePack: "),
            (b"\xa2\xff\xfe", "invalid MessagePack: "),
        ],
    )
    .await;
}

#[tokio::test]
async fn echo_server_bad_input_base64() {
    check_bad_inputs(
        "base64-json",
        Base64::new(JsonSerializer::<Value>::new()),
        &[
            (b"e30*\r\n", "invalid base64: "),
            (b"bm90IGpzb24=\r\n", "invalid JSON: "),
            (b"\r\n", "invalid JSON: "),
        ],
    )
    .await;
}

#[tokio::test]
async fn echo_server_bad_input_zlib() {
    check_bad_inputs(
        "zlib-json",
        Zlib::new(JsonSerializer::<Value>::new()),
        &[
            (b"not zlib", "invalid zlib data: "),
            (b"\x78\x9c\x03\x00\x00\x00\x00\x01", "invalid JSON: "),
        ],
    )
    .await;
}

#[tokio::test]
async fn echo_server_bad_input_bz2() {
    check_bad_inputs(
        "bz2-json",
        Bz2::new(JsonSerializer::<Value>::new()),
        &[(b"not bzip2", "invalid bzip2 data: ")],
    )
    .await;
}

/// bincode carries `JsonValue` (the examples' bincode form of JSON): its error replies
/// are read as such.
#[tokio::test]
async fn echo_server_bad_input_bincode() {
    use easynet_examples_json::JsonValue;
    let server = echo_server("bincode").await;
    let mut peer = RawPeer::connect(&server, Bincode::<JsonValue>::new()).await;
    for (input, message) in [
        (&b"\x00\x00\x00\x02\xff\xff"[..], "invalid bincode: "),
        (b"\x00\x00\x00\x01\x07", "invalid bincode: "),
        (b"\x00\x10\x00\x00", TOO_LARGE),
    ] {
        peer.send(input).await;
        if message == TOO_LARGE {
            // The announced 1 MiB follows; the server skips it without keeping it.
            peer.send(&vec![0; 1 << 20]).await;
        }
        let reply = peer.reply().await;
        let JsonValue::Object(members) = &reply else {
            panic!("expected an error object, got {reply:?}");
        };
        let [(key, JsonValue::String(error))] = &members[..] else {
            panic!("expected one error member, got {reply:?}");
        };
        assert_eq!(key, "error");
        assert!(error.starts_with(message), "{error:?}");
        let probe = JsonValue::Array(vec![JsonValue::UInt(1), JsonValue::String("é".into())]);
        let mut buf = BytesMut::new();
        Bincode::<JsonValue>::new()
            .encode(&probe, &mut buf)
            .unwrap();
        peer.send(&buf).await;
        assert_eq!(peer.reply().await, probe);
    }
}

#[tokio::test]
async fn echo_server_bad_input_lines() {
    let server = echo_server("lines").await;
    let mut peer = RawPeer::connect(&server, StringLines::new()).await;
    for (input, message) in [
        (&b"\xff\xfe\n"[..], "error: invalid UTF-8"),
        (&[b'x'; 70_000][..], "error: frame too large"),
    ] {
        peer.send(input).await;
        if input.len() > 1000 {
            peer.send(b"\n").await;
        }
        let reply = peer.reply().await;
        assert!(reply.starts_with(message), "{reply:.200}");
        peer.send(b"still here\n").await;
        assert_eq!(peer.reply().await, "still here");
    }
}

/// The bincode form of JSON values of the examples, mirrored here (the tests do not
/// depend on the examples crate).
mod easynet_examples_json {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub(crate) enum JsonValue {
        Null,
        Bool(bool),
        UInt(u64),
        Int(i64),
        Float(f64),
        String(String),
        Array(Vec<JsonValue>),
        Object(Vec<(String, JsonValue)>),
    }
}

/// `echo_client --format NAME` against `echo_server --format NAME`: every argument comes
/// back as sent, printed as compact JSON (in `lines`, as the line itself).
#[tokio::test]
async fn echo_client_and_echo_server_in_every_format() {
    let args = [r#"{"a": [1, 2.5, "é"]}"#, "hello", "-3", "[]"];
    for format in [
        "json",
        "json-nolines",
        "lines",
        "cbor",
        "msgpack",
        "bincode",
        "base64-json",
        "zlib-json",
        "bz2-json",
    ] {
        let server = echo_server(format).await;
        let mut command = Command::new(example_binary("echo_client"));
        let port = server.addr.port().to_string();
        command
            .args(["--port", &port, "--format", format, "--"])
            .args(args);
        let output = run_process(command, &format!("echo_client --format {format}")).await;
        output.assert_success();
        let expected: Vec<&str> = if format == "lines" {
            args.to_vec()
        } else {
            vec![r#"{"a":[1,2.5,"é"]}"#, r#""hello""#, "-3", "[]"]
        };
        assert_eq!(
            output.stdout.lines().collect::<Vec<_>>(),
            expected,
            "{format}"
        );
    }
}
