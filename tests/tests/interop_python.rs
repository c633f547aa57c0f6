//! Interop with Python easynetwork 1.2.0, over real loopback sockets.
//!
//! The Python peers live in `tests/python/` (see the docstring of each script); they use
//! only easynetwork's public API. The interpreter comes from `easynet_tests::python()`
//! (`EASYNET_PYTHON`, or the venv `tests/run.sh` creates), and the `echo_server` example
//! from `EASYNET_EXAMPLES_DIR`: when either is missing the tests fail, they never skip.
//!
//! - Python `AsyncTCPNetworkClient` + `JSONSerializer` -> the `echo_server` example, and
//!   -> an in-process easynet `JsonLines` server: varied packets echo unchanged, bad input
//!   gets one `{"error": ..}` reply and the connection stays usable.
//! - easynet `TcpClient<JsonLines<Value>>` -> Python `AsyncTCPNetworkServer`: packets
//!   round-trip; the exact bytes Python sends decode with our decoder to the right values.
//! - `StringLines` <-> Python `StringLineSerializer`, both directions, several newlines
//!   and encodings.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use easynet::{
    ClientError, HandlerError, JsonLines, Newline, ParseErrorKind, RecvError, StreamClient,
    StreamRequestHandler, StringLines, TcpClient, handler, recv,
};
use easynet_tests::{
    ProcessOutput, RawPeer, ServerProcess, example_binary, python_script, run_process, serve,
    within,
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::process::Command;

/// easynetwork's and easynet's default maximum frame size.
const LIMIT: usize = 64 * 1024;

/// The message of easynet's `ParseError` for a line over the default limit.
const TOO_LARGE: &str = "frame too large: more than 65536 bytes";

// ---------------------------------------------------------------------------------------
// In-process easynet servers the Python clients talk to.

/// Echoes every JSON request unchanged; answers a line that fails to decode with
/// `{"error": "<ParseError message>"}` (the `echo_server` example's rules), and records
/// what it saw.
#[derive(Default)]
struct JsonEcho {
    echoed: AtomicUsize,
    parse_errors: Mutex<Vec<(ParseErrorKind, String)>>,
}

impl StreamRequestHandler for JsonEcho {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(request) => {
                self.echoed.fetch_add(1, Ordering::SeqCst);
                client.send_packet(&request).await?;
            }
            Err(RecvError::Parse(e)) => {
                let message = e.to_string();
                self.parse_errors
                    .lock()
                    .unwrap()
                    .push((e.kind(), message.clone()));
                client.send_packet(&json!({ "error": message })).await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// Answers every line `L` with `echo:L`, a line that fails to decode with `error:<msg>`
/// (the contract of `tests/python/lines_client.py`).
struct LineEcho;

impl StreamRequestHandler for LineEcho {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(line) => client.send_packet(&format!("echo:{line}")).await?,
            Err(RecvError::Parse(e)) => client.send_packet(&format!("error:{e}")).await?,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// Runs the Python peer `script` with `args` against `port`, to its end.
async fn run_peer(script: &str, port: u16, args: &[&str]) -> ProcessOutput {
    let mut command = python_script(script);
    command.arg("--port").arg(port.to_string()).args(args);
    run_process(command, &format!("{script} {}", args.join(" "))).await
}

/// Starts a Python server peer with `args`.
async fn python_server(script: &str, args: &[&str]) -> ServerProcess {
    let mut command = python_script(script);
    command.args(args);
    let server = ServerProcess::spawn(command, &format!("{script} {}", args.join(" "))).await;
    assert!(
        server.addr.ip().is_loopback(),
        "{script} on {}",
        server.addr
    );
    server
}

/// Stops a Python server peer and checks that it logged nothing (no handler crash, no
/// unexpected disconnection error).
async fn stop_python_server(server: ServerProcess) {
    let stderr = server.stop().await;
    assert!(
        stderr.trim().is_empty(),
        "the Python server logged:\n{stderr}"
    );
}

/// The error messages of a `json_client.py` summary.
fn summary_errors(summary: &Value) -> Vec<String> {
    summary["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e.as_str().expect("error message").to_owned())
        .collect()
}

/// Decodes `bytes` with our `JsonLines<Value>`, as a `TcpClient` receiving them from a
/// peer: one result per line, until the peer closes.
async fn decode_with_json_lines(bytes: &[u8]) -> Vec<Result<Value, ClientError>> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = within(async {
        tokio::join!(
            TcpClient::connect(addr, JsonLines::<Value>::new()),
            listener.accept()
        )
    })
    .await;
    let client = client.expect("connect");
    let (mut peer, _) = accepted.expect("accept");
    within(peer.write_all(bytes)).await.expect("write");
    within(peer.shutdown()).await.expect("shutdown");
    let mut packets = Vec::new();
    loop {
        match within(client.recv_packet()).await {
            Err(ClientError::ConnectionClosed) => return packets,
            result => packets.push(result),
        }
    }
}

/// Packets of many shapes, all representable as `serde_json::Value`.
fn packet_shapes() -> Vec<Value> {
    let mut deep = json!("bottom");
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let controls: String = (0u8..0x20).chain([0x7f]).map(char::from).collect();
    vec![
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(9_007_199_254_740_993_u64), // 2^53 + 1: not exact as an f64
        json!(0.1),
        json!(-2.5),
        json!(1.0),
        json!(-0.0),
        json!(1e300),
        json!(1.5e-7),
        json!(5e-324),
        json!(f64::MAX),
        json!(f64::MIN_POSITIVE),
        json!(1e16),
        json!(123_456_789.125),
        json!(""),
        json!("hello"),
        json!("quote \" backslash \\ slash / tab \t newline \n cr \r"),
        json!(controls),
        json!("café ünïcødé"),
        json!("日本語"),
        json!("😀 non-BMP 𝄞 \u{10FFFF}"),
        json!("\u{2028}\u{2029}\u{FEFF}"),
        json!([]),
        json!({}),
        json!([[]]),
        json!({"": {}}),
        json!([1, "two", 3.5, null, true, [false, {"k": []}]]),
        json!({"nested": {"deeper": {"deepest": [1, {"x": "y"}]}}, "list": [1, 2, 3]}),
        json!({"unicode key é": "v", "😀": "emoji key", "quo\"te": "back\\slash", "new\nline": "\t"}),
        deep,
        json!({"big": "x".repeat(60_000)}),
        json!("é".repeat(10_000)), // 60 002 bytes once Python escapes it
    ]
}

// ---------------------------------------------------------------------------------------
// Python client -> easynet servers.

/// The `echo_server` example, driven by easynetwork's client: every built-in packet is
/// echoed unchanged (one at a time, then pipelined), and bad input (invalid JSON, invalid
/// UTF-8, an empty line, lines over 64 KiB, whole or in pieces) gets exactly one
/// `{"error": ..}` reply while the connection stays usable; a line of exactly 64 KiB is
/// accepted.
#[tokio::test]
async fn python_client_to_echo_server_example() {
    let mut command = Command::new(example_binary("echo_server"));
    command.args(["--port", "0"]).env("RUST_LOG", "warn");
    let server = ServerProcess::spawn(command, "the echo_server example").await;
    assert_eq!(
        server.addr.ip().to_string(),
        "127.0.0.1",
        "default host of echo_server"
    );
    assert_ne!(
        server.addr.port(),
        0,
        "echo_server must print its real port"
    );

    let output = run_peer("json_client.py", server.addr.port(), &["--error-checks"]).await;
    let summary = output.summary("json_client");
    let packets = summary["packets"].as_u64().expect("packets");
    assert!(packets >= 30, "{summary}");
    assert_eq!(summary["echoed"], json!(2 * packets), "{summary}");
    assert_eq!(summary["raw_echoes"], json!(13), "{summary}");
    let errors = summary_errors(&summary);
    assert_eq!(errors.len(), 7, "one error reply per bad line: {errors:?}");
    assert!(
        errors.iter().all(|e| !e.trim().is_empty()),
        "error messages must say something: {errors:?}"
    );
}

/// The same built-in packets through an in-process easynet `JsonLines` server: every
/// packet is echoed unchanged, and the server decoded each one (no parse error).
#[tokio::test]
async fn python_client_to_in_process_json_server() {
    let running = serve(JsonLines::new(), JsonEcho::default()).await;
    let output = run_peer("json_client.py", running.addr.port(), &[]).await;
    let summary = output.summary("json_client");
    let packets = summary["packets"].as_u64().expect("packets");
    assert!(packets >= 30, "{summary}");
    assert_eq!(summary["echoed"], json!(2 * packets), "{summary}");
    let handler = running.server.handler();
    // Plus the client's final probe packet.
    let echoed = handler.echoed.load(Ordering::SeqCst) as u64;
    assert_eq!(echoed, 2 * packets + 1);
    assert!(handler.parse_errors.lock().unwrap().is_empty());
    running.stop().await;
}

/// Bad input from Python to an in-process server whose handler answers
/// `RecvError::Parse` with `{"error": ..}`: a packet over 64 KiB sent by easynetwork's
/// client, then on a plain socket invalid JSON, invalid UTF-8, an empty line, a line of
/// 64 KiB + 1, a 200 KB line, a 120 KB line in pieces. Each gets exactly one error reply
/// with our messages, the next packet on the same connection is echoed, and a line of
/// exactly 64 KiB is accepted.
#[tokio::test]
async fn python_bad_input_to_in_process_json_server_keeps_connection_usable() {
    let running = serve(JsonLines::new(), JsonEcho::default()).await;
    let output = run_peer(
        "json_client.py",
        running.addr.port(),
        &["--no-echo", "--error-checks"],
    )
    .await;
    let summary = output.summary("json_client");
    let errors = summary_errors(&summary);
    assert_eq!(errors.len(), 7, "{errors:?}");
    assert_eq!(errors[0], TOO_LARGE, "a packet over the limit");
    for (i, what) in [
        (1, "invalid JSON"),
        (2, "invalid UTF-8"),
        (3, "an empty line"),
    ] {
        assert!(
            errors[i].starts_with("invalid JSON: "),
            "{what}: {:?}",
            errors[i]
        );
    }
    for (i, error) in errors.iter().enumerate().skip(4) {
        assert_eq!(error, TOO_LARGE, "error #{i}");
    }
    assert_eq!(summary["raw_echoes"], json!(13), "{summary}");

    let handler = running.server.handler();
    let kinds: Vec<ParseErrorKind> = handler
        .parse_errors
        .lock()
        .unwrap()
        .iter()
        .map(|(kind, _)| *kind)
        .collect();
    use ParseErrorKind::{FrameTooLarge, InvalidPacket};
    assert_eq!(
        kinds,
        [
            FrameTooLarge,
            InvalidPacket,
            InvalidPacket,
            InvalidPacket,
            FrameTooLarge,
            FrameTooLarge,
            FrameTooLarge
        ]
    );
    // A probe after the first error, 13 raw echoes, the final probe.
    assert_eq!(handler.echoed.load(Ordering::SeqCst), 1 + 13 + 1);
    running.stop().await;
}

/// Values Python's `JSONSerializer` sends but JSON proper (and `serde_json::Value`)
/// cannot hold: `NaN`, `Infinity`, `-Infinity`, lone surrogates. They are parse errors,
/// answered with `{"error": ..}`, and the connection stays usable.
#[tokio::test]
async fn python_only_json_values_get_an_error_reply() {
    let running = serve(JsonLines::new(), JsonEcho::default()).await;
    let packets = [
        "NaN",
        "Infinity",
        "-Infinity",
        "[1, NaN]",
        r#""\ud800""#,
        r#"{"k": "lone low \udc00"}"#,
    ];
    let mut args = vec!["--expect-error", "--"];
    args.extend(packets);
    let output = run_peer("json_client.py", running.addr.port(), &args).await;
    let errors = summary_errors(&output.summary("json_client"));
    assert_eq!(errors.len(), packets.len(), "{errors:?}");
    for (packet, error) in packets.iter().zip(&errors) {
        assert!(error.starts_with("invalid JSON: "), "{packet}: {error:?}");
    }
    running.stop().await;
}

/// Integers outside the 64-bit range, which Python's `JSONSerializer` sends as plain JSON
/// integers (`18446744073709551616`), come back byte for byte from the echo_server
/// example, on a raw socket and for easynetwork's client.
#[tokio::test]
async fn python_big_integers_round_trip_through_echo_server() {
    // Python's ints have no size limit. `serde_json::Value` would turn integers beyond
    // 64 bits into floats (a documented serde_json limit, see `JsonLines`), so the
    // echo_server example echoes each document's exact text (`RawValue`): they survive.
    let big = [
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890",
        r#"{"id":340282366920938463463374607431768211457}"#,
    ];
    let mut command = Command::new(example_binary("echo_server"));
    command.args(["--port", "0"]).env("RUST_LOG", "warn");
    let server = ServerProcess::spawn(command, "the echo_server example").await;

    let mut peer = RawPeer::connect(server.addr).await;
    for text in big {
        peer.send(format!("{text}\n").as_bytes()).await;
        assert_eq!(peer.line().await.expect("a reply"), text);
    }
    let mut args = vec!["--"];
    args.extend(big);
    run_peer("json_client.py", server.addr.port(), &args)
        .await
        .assert_success();
}

// ---------------------------------------------------------------------------------------
// easynet client -> Python server.

/// `TcpClient<JsonLines<Value>>` against easynetwork's `AsyncTCPNetworkServer` (which
/// answers `R` with `{"echo": R}`): many packet shapes round-trip equal, one at a time and
/// pipelined.
#[tokio::test]
async fn easynet_json_client_to_python_server_round_trips() {
    let server = python_server("json_server.py", &[]).await;
    let client = within(TcpClient::connect(server.addr, JsonLines::<Value>::new()))
        .await
        .expect("connect");
    let shapes = packet_shapes();
    for packet in &shapes {
        within(client.send_packet(packet)).await.expect("send");
        let reply = within(client.recv_packet()).await.expect("reply");
        assert_eq!(reply, json!({ "echo": packet }), "for {packet:.200}");
    }
    for packet in &shapes {
        within(client.send_packet(packet)).await.expect("send");
    }
    for packet in &shapes {
        let reply = within(client.recv_packet()).await.expect("pipelined reply");
        assert_eq!(reply, json!({ "echo": packet }), "for {packet:.200}");
    }
    client.close().await;
    stop_python_server(server).await;
}

/// Both sides put the 64 KiB limit at the same place: a line of exactly 64 KiB from us is
/// accepted by Python, one byte more is refused (and the connection goes on); a line of
/// exactly 64 KiB from Python is accepted by our decoder, one byte more is a
/// `FrameTooLarge` parse error and the next packet decodes.
#[tokio::test]
async fn frame_limit_matches_python() {
    let server = python_server("json_server.py", &[]).await;

    // Our line of LIMIT bytes: `"` + s + `"`. Python's answer is 9 bytes longer than it,
    // so this client accepts larger frames.
    let big = TcpClient::connect(
        server.addr,
        JsonLines::<Value>::new().max_frame_size(1 << 20),
    )
    .await
    .expect("connect");
    let exact = "a".repeat(LIMIT - 2);
    within(big.send_packet(&exact)).await.expect("send");
    assert_eq!(
        within(big.recv_packet()).await.expect("reply"),
        json!({ "echo": exact })
    );
    let over = "a".repeat(LIMIT - 1);
    within(big.send_packet(&over)).await.expect("send");
    within(big.send_packet(&json!("after")))
        .await
        .expect("send");
    // easynetwork may report an over-long line more than once (when it arrives in
    // pieces, the tail is parsed as another packet): errors, then the echo.
    let mut errors = Vec::new();
    loop {
        let reply = within(big.recv_packet()).await.expect("reply");
        if reply == json!({"echo": "after"}) {
            break;
        }
        assert!(reply["error"].is_string(), "unexpected {reply:.200}");
        errors.push(reply);
    }
    assert!(
        !errors.is_empty(),
        "Python accepted a line of {} bytes",
        LIMIT + 1
    );
    big.close().await;

    // Python's line `{"echo":"` + s + `"}` is 11 bytes longer than s.
    let client = TcpClient::connect(server.addr, JsonLines::<Value>::new())
        .await
        .expect("connect");
    let exact = "b".repeat(LIMIT - 11);
    within(client.send_packet(&exact)).await.expect("send");
    assert_eq!(
        within(client.recv_packet()).await.expect("reply"),
        json!({ "echo": exact })
    );
    within(client.send_packet(&"b".repeat(LIMIT - 10)))
        .await
        .expect("send");
    within(client.send_packet(&json!("next")))
        .await
        .expect("send");
    match within(client.recv_packet()).await {
        Err(ClientError::Parse(e)) => {
            assert_eq!(e.kind(), ParseErrorKind::FrameTooLarge);
            assert_eq!(e.to_string(), TOO_LARGE);
        }
        other => panic!("expected FrameTooLarge, got {other:.200?}"),
    }
    assert_eq!(
        within(client.recv_packet()).await.expect("reply"),
        json!({"echo": "next"})
    );
    client.close().await;
    stop_python_server(server).await;
}

/// Byte level: the exact bytes Python's `JSONSerializer` sends (compact, `ensure_ascii`
/// `\uXXXX` escapes with surrogate pairs, its float spellings `1e+300` / `1.5e-07`,
/// insertion-ordered keys), and that our decoder turns them into the right values.
#[tokio::test]
async fn python_server_bytes_decode_with_our_decoder() {
    let server = python_server("json_server.py", &[]).await;
    let mut peer = RawPeer::connect(server.addr).await;
    let controls: String = (0u8..0x20).chain([0x7f]).map(char::from).collect();
    let cases: Vec<(&[u8], &str, Value)> = vec![
        (
            "{\"t\":\"café 😀\"}\n".as_bytes(),
            r#"{"echo":{"t":"caf\u00e9 \ud83d\ude00"}}"#,
            json!({"t": "café 😀"}),
        ),
        (
            "\"\u{2028}\u{FEFF}\u{10FFFF}日本\"\n".as_bytes(),
            r#"{"echo":"\u2028\ufeff\udbff\udfff\u65e5\u672c"}"#,
            json!("\u{2028}\u{FEFF}\u{10FFFF}日本"),
        ),
        (
            b"\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\x7f\\\"\\\\/\"\n",
            r#"{"echo":"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\u007f\"\\/"}"#,
            json!(format!("{controls}\"\\/")),
        ),
        (
            b"[1e300, 1.5E-7, 0.1, 100.0, -0.0, 5e-324, 1e16, 2.5e-5, 123456789.125]\n",
            r#"{"echo":[1e+300,1.5e-07,0.1,100.0,-0.0,5e-324,1e+16,2.5e-05,123456789.125]}"#,
            json!([1e300, 1.5e-7, 0.1, 100.0, -0.0, 5e-324, 1e16, 2.5e-5, 123_456_789.125]),
        ),
        (
            b"[18446744073709551615, -9223372036854775808, 0, -0]\n",
            r#"{"echo":[18446744073709551615,-9223372036854775808,0,0]}"#,
            json!([u64::MAX, i64::MIN, 0, 0]),
        ),
        (
            b"{\"b\": 1, \"a\": {\"z\": [], \"y\": {}}}\n",
            r#"{"echo":{"b":1,"a":{"z":[],"y":{}}}}"#,
            json!({"b": 1, "a": {"z": [], "y": {}}}),
        ),
        (
            b"  \"padded and CRLF\"  \r\n",
            r#"{"echo":"padded and CRLF"}"#,
            json!("padded and CRLF"),
        ),
        (b"{oops\n", "", Value::Null),
    ];
    let mut python_bytes = Vec::new();
    for (sent, expected_line, _) in &cases {
        peer.send(sent).await;
        let line = peer.line().await.expect("a reply line");
        if expected_line.is_empty() {
            // Bad JSON: easynetwork's own error message.
            assert!(
                line.starts_with(r#"{"error":"JSON decode error: "#),
                "{line}"
            );
        } else {
            assert_eq!(&line, expected_line, "Python's bytes for {sent:?}");
        }
        python_bytes.extend_from_slice(line.as_bytes());
        python_bytes.push(b'\n');
    }
    peer.shutdown_write().await;
    peer.expect_eof().await;

    let decoded = decode_with_json_lines(&python_bytes).await;
    assert_eq!(decoded.len(), cases.len());
    for ((sent, _, value), decoded) in cases.iter().zip(decoded) {
        let decoded = decoded.unwrap_or_else(|e| panic!("decoding the reply to {sent:?}: {e}"));
        if value.is_null() {
            assert!(decoded["error"].is_string(), "{decoded}");
        } else {
            assert_eq!(decoded, json!({ "echo": value }), "reply to {sent:?}");
        }
    }
    // -0.0 stays a negative float through both sides.
    let floats = decode_with_json_lines(b"{\"echo\":[-0.0]}\n").await;
    let zero = floats[0].as_ref().unwrap()["echo"][0].as_f64().unwrap();
    assert!(zero == 0.0 && zero.is_sign_negative());
    stop_python_server(server).await;
}

// ---------------------------------------------------------------------------------------
// String lines, both directions.

/// `TcpClient<StringLines>` against a Python `StringLineSerializer()` server with
/// easynetwork's defaults (`encoding="ascii"`, `newline="LF"`): ASCII lines (empty,
/// spaces, control characters, a lone CR, 60 000 bytes) come back as `echo:` + line;
/// a non-ASCII line is refused by Python (`error:` + its message) and the connection
/// stays usable.
#[tokio::test]
async fn easynet_string_lines_client_to_python_ascii_line_server() {
    let server = python_server("lines_server.py", &[]).await;
    let client = within(TcpClient::connect(server.addr, StringLines::new()))
        .await
        .expect("connect");
    let controls: String = (0u8..0x20)
        .chain([0x7f])
        .filter(|&b| b != b'\n')
        .map(char::from)
        .collect();
    let printable: String = (0x20u8..0x7f).map(char::from).collect();
    let lines = [
        "hello".to_owned(),
        String::new(),
        "  spaces  ".to_owned(),
        controls,
        printable,
        "trailing cr\r".to_owned(),
        "x".repeat(60_000),
    ];
    for line in &lines {
        within(client.send_packet(line)).await.expect("send");
        let reply = within(client.recv_packet()).await.expect("reply");
        assert_eq!(reply, format!("echo:{line}"), "for {line:.80?}");
    }

    within(client.send_packet("café")).await.expect("send");
    let reply = within(client.recv_packet()).await.expect("reply");
    assert!(
        reply.starts_with("error:'ascii' codec can't decode byte 0xc3"),
        "{reply}"
    );
    within(client.send_packet("still usable"))
        .await
        .expect("send");
    assert_eq!(
        within(client.recv_packet()).await.expect("reply"),
        "echo:still usable"
    );
    client.close().await;
    stop_python_server(server).await;
}

/// `StringLines::with_newline(CrLf)` against Python `StringLineSerializer("CRLF",
/// encoding="utf-8")`: Unicode (non-BMP too), a lone LF and a lone CR inside a line, and
/// pipelined lines round-trip.
#[tokio::test]
async fn easynet_string_lines_client_to_python_utf8_crlf_line_server() {
    let server = python_server(
        "lines_server.py",
        &["--encoding", "utf-8", "--newline", "CRLF"],
    )
    .await;
    let client = within(TcpClient::connect(
        server.addr,
        StringLines::with_newline(Newline::CrLf),
    ))
    .await
    .expect("connect");
    let lines = [
        "café ünïcødé",
        "日本語",
        "😀 non-BMP 𝄞 \u{10FFFF}",
        "lf\ninside",
        "ends with cr\r",
        "\rstarts with cr",
        "",
    ];
    for line in lines {
        within(client.send_packet(line)).await.expect("send");
        let reply = within(client.recv_packet()).await.expect("reply");
        assert_eq!(reply, format!("echo:{line}"));
    }
    for line in lines {
        within(client.send_packet(line)).await.expect("send");
    }
    for line in lines {
        let reply = within(client.recv_packet()).await.expect("pipelined reply");
        assert_eq!(reply, format!("echo:{line}"));
    }
    client.close().await;
    stop_python_server(server).await;
}

/// Python's `StringLineSerializer` client against in-process `StringLines` servers, for
/// each newline and for both encodings (easynetwork's default ASCII, and UTF-8 with
/// non-ASCII lines), including `StringLines::ascii()`.
#[tokio::test]
async fn python_line_client_to_easynet_string_lines_server() {
    let configs = [
        (StringLines::new(), "LF", "ascii"),
        (StringLines::new(), "LF", "utf-8"),
        (StringLines::new().ascii(), "LF", "ascii"),
        (StringLines::with_newline(Newline::CrLf), "CRLF", "utf-8"),
        (StringLines::with_newline(Newline::Cr), "CR", "utf-8"),
        (StringLines::with_newline(Newline::Cr), "CR", "ascii"),
    ];
    for (protocol, newline, encoding) in configs {
        let running = serve(protocol, LineEcho).await;
        let output = run_peer(
            "lines_client.py",
            running.addr.port(),
            &["--newline", newline, "--encoding", encoding],
        )
        .await;
        let summary = output.summary("lines_client");
        assert!(
            summary["lines"].as_u64().unwrap() >= 5,
            "{newline} {encoding}: {summary}"
        );
        running.stop().await;
    }
}
