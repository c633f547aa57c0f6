//! The serializers and their stream protocols, byte for byte against Python easynetwork
//! 1.2.0, and on their own:
//!
//! - test vectors made by the Python library during the test run
//!   (`tests/python/vectors.py`): what easynetwork writes decodes with our decoders to the
//!   same packets, what our encoders write decodes with easynetwork to the same packets,
//!   and where both libraries encode alike the bytes are equal;
//! - property tests: decoding a stream of several packets cut at every split point (and
//!   into random chunks) gives the same packets, for every protocol;
//! - limits: compression bombs, huge length fields, over-long frames;
//! - converters (a conversion failure is a parse error) and stapled protocols.
//!
//! The Python interpreter comes from `easynet_tests::python()`: when it is missing the
//! vector tests fail, they never skip.

use std::process::Stdio;

use bytes::BytesMut;
use easynet::{
    Alphabet, Base64, Bincode, BoxError, Bz2, Cbor, CborSerializer, Converted, FixedSize,
    HandlerError, JsonLines, JsonSerializer, JsonStream, LengthPrefixed, MsgPack,
    MsgPackSerializer, PacketConverter, PacketDeserializer, PacketSerializer, ParseErrorKind,
    ProtocolError, RecvError, Stapled, StreamClient, StreamRequestHandler, StringLines,
    StringSerializer, TcpClient, Zlib, handler, recv,
};
use easynet_tests::{PROCESS_STEP, python_script, serve, within};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Decoder, Encoder};

/// What decoding gave: a packet, or the kind of parse error.
type Decoded<T> = Result<T, ParseErrorKind>;

/// Decodes `chunks` received one after the other, as a connection would.
fn decode_chunks<D: Decoder<Error = ProtocolError>>(
    decoder: &mut D,
    chunks: &[&[u8]],
) -> Vec<Decoded<D::Item>> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => out.push(Ok(item)),
                Ok(None) => break,
                Err(ProtocolError::Parse(e)) => out.push(Err(e.kind())),
                Err(e) => panic!("the decoder gave up: {e}"),
            }
        }
    }
    out
}

fn encode_all<E, T>(encoder: &mut E, packets: &[T]) -> Vec<u8>
where
    E: for<'a> Encoder<&'a T, Error = ProtocolError>,
{
    let mut buf = BytesMut::new();
    for packet in packets {
        encoder.encode(packet, &mut buf).expect("encode");
    }
    buf.to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Runs `vectors.py MODE` with `request` on stdin; returns its JSON answer.
async fn python_vectors(mode: &str, request: &Value) -> Value {
    let mut command = python_script("vectors.py");
    command
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("start vectors.py");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .expect("write the request");
    drop(stdin);
    let output = tokio::time::timeout(PROCESS_STEP, child.wait_with_output())
        .await
        .expect("vectors.py timed out")
        .expect("vectors.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "vectors.py {mode} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad answer {stdout:?}: {e}"))
}

/// JSON-like packets of many shapes (object keys sorted, as `serde_json::Value` keeps
/// them, so that both libraries write members in the same order).
fn vector_packets() -> Vec<Value> {
    let mut deep = json!(["bottom"]);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    vec![
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(-1),
        json!(23),
        json!(24),
        json!(-24),
        json!(-25),
        json!(255),
        json!(256),
        json!(65535),
        json!(65536),
        json!(-2_147_483_648_i64),
        json!(4_294_967_296_u64),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(0.1),
        json!(-2.5),
        json!(1.0),
        json!(1e300),
        json!(""),
        json!("a"),
        json!("caf\u{e9} \u{65e5}\u{672c} \u{1f600}"),
        json!("quote \" backslash \\ slash / newline \n tab \t nul \u{0} del \u{7f}"),
        json!("x".repeat(300)),
        json!("y".repeat(45_000)),
        json!([]),
        json!({}),
        json!([1, "two", [3, [null]], {"k": false}]),
        json!({"a": {"b": [1, 2, {"c": "d"}]}, "e": [], "z": "}{]["}),
        json!({"": "", "key \u{e9}": 0}),
        deep,
        Value::Array((0..100).map(Value::from).collect()),
    ]
}

fn contains_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(contains_float),
        Value::Object(members) => members.values().any(contains_float),
        _ => false,
    }
}

/// A format both libraries have: its name for `vectors.py`, our protocol, and whether
/// the two encode a packet byte for byte alike (`exact`), floats included (`floats`:
/// Python spells JSON floats `1e+300`, and cbor2 sends every float in 64 bits).
struct Shared {
    name: &'static str,
    exact: bool,
    floats: bool,
    protocol: fn() -> Box<dyn DynProtocol>,
}

/// A protocol of `serde_json::Value`, boxed so that the formats fit in one table.
trait DynProtocol {
    fn encode_value(&mut self, packet: &Value, dst: &mut BytesMut) -> Result<(), ProtocolError>;
    fn decode_value(&mut self, src: &mut BytesMut) -> Result<Option<Value>, ProtocolError>;
}

impl<P> DynProtocol for P
where
    P: Decoder<Item = Value, Error = ProtocolError>
        + for<'a> Encoder<&'a Value, Error = ProtocolError>,
{
    fn encode_value(&mut self, packet: &Value, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        Encoder::encode(self, packet, dst)
    }

    fn decode_value(&mut self, src: &mut BytesMut) -> Result<Option<Value>, ProtocolError> {
        Decoder::decode(self, src)
    }
}

struct Boxed(Box<dyn DynProtocol>);

impl Decoder for Boxed {
    type Item = Value;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, ProtocolError> {
        self.0.decode_value(src)
    }
}

/// The key of the signed base64 vectors, and its URL-safe base64 (Python's form).
const KEY: [u8; 32] = *b"0123456789abcdef0123456789ABCDEF";
const KEY_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlBQkNERUY=";

fn shared_formats() -> Vec<Shared> {
    fn json() -> JsonSerializer<Value> {
        JsonSerializer::new().ensure_ascii()
    }
    vec![
        Shared {
            name: "json",
            exact: true,
            floats: false,
            protocol: || Box::new(JsonLines::<Value>::new().ensure_ascii()),
        },
        Shared {
            name: "json-nolines",
            exact: true,
            floats: false,
            protocol: || Box::new(JsonStream::<Value>::new().ensure_ascii()),
        },
        Shared {
            name: "cbor",
            exact: true,
            floats: false,
            protocol: || Box::new(Cbor::<Value>::new()),
        },
        Shared {
            name: "msgpack",
            exact: true,
            floats: true,
            protocol: || Box::new(MsgPack::<Value>::new()),
        },
        Shared {
            name: "base64-json",
            exact: true,
            floats: false,
            protocol: || Box::new(Base64::new(json())),
        },
        Shared {
            name: "base64-json+standard+checksum",
            exact: true,
            floats: false,
            protocol: || Box::new(Base64::new(json()).alphabet(Alphabet::Standard).checksum()),
        },
        Shared {
            name: "base64-json+key=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlBQkNERUY=",
            exact: true,
            floats: false,
            protocol: || Box::new(Base64::new(json()).signing_key(&KEY)),
        },
        Shared {
            name: "zlib-json",
            // Another deflate implementation: same data, other bytes.
            exact: false,
            floats: false,
            protocol: || Box::new(Zlib::new(json())),
        },
        Shared {
            name: "bz2-json",
            // libbzip2's algorithm, ported: the same bytes.
            exact: true,
            floats: false,
            protocol: || Box::new(Bz2::new(json())),
        },
    ]
}

/// For every shared format: Python's bytes decode with our decoder to the packets (one
/// by one, and as one stream in 7-byte chunks); our bytes decode with Python's to the
/// packets; without floats, the bytes are equal where both encode alike.
#[tokio::test]
async fn python_vectors_both_ways() {
    assert!(KEY_B64.len() == 44);
    let formats = shared_formats();
    let packets = vector_packets();
    let mut produce = Map::new();
    for format in &formats {
        produce.insert(format.name.into(), Value::from(packets.clone()));
    }
    let python = python_vectors("produce", &Value::Object(produce)).await;

    let mut ours = Map::new();
    for format in &formats {
        let name = format.name;
        let hexes = python[name].as_array().expect("vectors");
        assert_eq!(hexes.len(), packets.len(), "{name}");
        let mut python_stream = Vec::new();
        let mut our_stream = BytesMut::new();
        let mut protocol = (format.protocol)();
        for (packet, python_hex) in packets.iter().zip(hexes) {
            let python_bytes = unhex(python_hex.as_str().expect("hex"));
            let mut buf = BytesMut::from(&python_bytes[..]);
            let decoded = protocol.decode_value(&mut buf);
            let decoded = decoded.unwrap_or_else(|e| panic!("{name}: {packet:.80}: {e}"));
            assert_eq!(
                decoded.as_ref(),
                Some(packet),
                "{name}: Python's bytes {python_hex:.200}"
            );
            assert!(buf.is_empty(), "{name}: {packet:.80}: bytes left");
            python_stream.extend_from_slice(&python_bytes);

            let start = our_stream.len();
            protocol
                .encode_value(packet, &mut our_stream)
                .expect("encode");
            if format.exact && (format.floats || !contains_float(packet)) {
                assert_eq!(
                    hex(&our_stream[start..]),
                    python_hex.as_str().unwrap(),
                    "{name}: our bytes for {packet:.80}"
                );
            }
        }
        let chunks: Vec<&[u8]> = python_stream.chunks(7).collect();
        let decoded = decode_chunks(&mut Boxed((format.protocol)()), &chunks);
        let expected: Vec<Decoded<Value>> = packets.iter().cloned().map(Ok).collect();
        assert_eq!(
            decoded, expected,
            "{name}: Python's stream in 7-byte chunks"
        );
        ours.insert(name.into(), hex(&our_stream).into());
    }

    let decoded = python_vectors("decode", &Value::Object(ours)).await;
    for format in &formats {
        assert_eq!(
            decoded[format.name],
            Value::from(packets.clone()),
            "{}: Python decoding our stream",
            format.name
        );
    }
}

/// String lines (UTF-8, as `StringLineSerializer(encoding="utf-8")`) and fixed-size
/// records (as `StructSerializer("!Ihd?4s")`): equal bytes both ways.
#[tokio::test]
async fn python_vectors_of_lines_and_structs() {
    let lines = ["hello", "", " spaces ", "caf\u{e9} \u{1f600}", "tab\tcr\r"];
    type Record = (u32, i16, f64, bool, [u8; 4]);
    let records: Vec<Record> = vec![
        (0, 0, 0.0, false, *b"\0\0\0\0"),
        (7, -2, 1.5, true, *b"abcd"),
        (u32::MAX, i16::MIN, -1e300, true, [0xff, 0x80, 0x7f, 0x20]),
    ];
    let struct_packets: Vec<Value> = records
        .iter()
        .map(|(a, b, c, d, e)| {
            json!([
                a,
                b,
                c,
                d,
                e.iter().map(|&b| char::from(b)).collect::<String>()
            ])
        })
        .collect();
    // Python sends nothing for an empty string: leave it out of what it produces.
    let python_lines: Vec<&str> = lines.iter().copied().filter(|l| !l.is_empty()).collect();
    let python = python_vectors(
        "produce",
        &json!({"lines": python_lines, "struct:!Ihd?4s": struct_packets}),
    )
    .await;

    let our_lines = encode_all(&mut StringLines::new(), &python_lines);
    let python_line_bytes: Vec<u8> = python["lines"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| unhex(h.as_str().unwrap()))
        .collect();
    assert_eq!(hex(&our_lines), hex(&python_line_bytes));

    let our_records = encode_all(&mut FixedSize::<Record>::new(), &records);
    let python_records: Vec<u8> = python["struct:!Ihd?4s"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| unhex(h.as_str().unwrap()))
        .collect();
    assert_eq!(hex(&our_records), hex(&python_records));
    let decoded = decode_chunks(&mut FixedSize::<Record>::new(), &[&python_records]);
    assert_eq!(decoded, records.iter().copied().map(Ok).collect::<Vec<_>>());

    // And Python decodes ours, the empty line included.
    let all_lines = encode_all(&mut StringLines::new(), &lines);
    let decoded = python_vectors(
        "decode",
        &json!({"lines": hex(&all_lines), "struct:!Ihd?4s": hex(&our_records)}),
    )
    .await;
    assert_eq!(decoded["lines"], json!(lines));
    assert_eq!(decoded["struct:!Ihd?4s"], Value::from(struct_packets));
}

// ---------------------------------------------------------------------------------------
// Every split point.

/// Checks that `stream` decodes to `expected` whole, cut at every split point, and one
/// byte at a time.
fn check_splits<D, F>(name: &str, make: F, stream: &[u8], expected: &[D::Item])
where
    D: Decoder<Error = ProtocolError>,
    D::Item: PartialEq + std::fmt::Debug + Clone,
    F: Fn() -> D,
{
    let expected: Vec<Decoded<D::Item>> = expected.iter().cloned().map(Ok).collect();
    assert_eq!(
        decode_chunks(&mut make(), &[stream]),
        expected,
        "{name}: whole"
    );
    for split in 1..stream.len() {
        let (a, b) = stream.split_at(split);
        assert_eq!(
            decode_chunks(&mut make(), &[a, b]),
            expected,
            "{name}: split at {split}"
        );
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(
        decode_chunks(&mut make(), &bytes),
        expected,
        "{name}: byte by byte"
    );
}

fn check_value_protocols(packets: &[Value]) {
    macro_rules! check {
        ($name:literal, $make:expr) => {{
            let stream = encode_all(&mut $make, packets);
            check_splits($name, || $make, &stream, packets);
        }};
    }
    check!("json lines", JsonLines::<Value>::new());
    check!("json stream", JsonStream::<Value>::new());
    check!(
        "json stream ascii",
        JsonStream::<Value>::new().ensure_ascii()
    );
    check!("cbor", Cbor::<Value>::new());
    check!("msgpack", MsgPack::<Value>::new());
    check!(
        "base64",
        Base64::new(JsonSerializer::<Value>::new()).checksum()
    );
    check!("zlib", Zlib::new(JsonSerializer::<Value>::new()));
    check!("bz2", Bz2::new(MsgPackSerializer::<Value>::new()).level(1));
    check!(
        "length-prefixed cbor",
        LengthPrefixed::new(CborSerializer::<Value>::new())
    );
    check!(
        "zlib of base64 of msgpack",
        Zlib::new(Base64::new(MsgPackSerializer::<Value>::new()))
    );
}

#[test]
fn every_split_point_of_a_fixed_stream() {
    let packets = vec![
        json!({"a": [1, 2.5, "x}\"]"], "b": {}}),
        json!("str\\"),
        json!(12),
        json!(null),
        json!([[], [[]]]),
        json!(-7),
        json!("é"),
    ];
    check_value_protocols(&packets);
    let lines = ["a", "", "bc\r", "é"].map(String::from);
    let stream = encode_all(&mut StringLines::new(), &lines);
    check_splits("string lines", StringLines::new, &stream, &lines);
    let records = [(1u8, -1i64), (2, i64::MAX)];
    let stream = encode_all(&mut FixedSize::<(u8, i64)>::new(), &records);
    check_splits("fixed", FixedSize::<(u8, i64)>::new, &stream, &records);
    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Packet {
        id: u32,
        name: String,
        tags: Vec<String>,
    }
    let packets = [
        Packet {
            id: 1,
            name: "a".into(),
            tags: vec![],
        },
        Packet {
            id: u32::MAX,
            name: "é".repeat(50),
            tags: vec!["x".into(); 3],
        },
    ];
    let stream = encode_all(&mut Bincode::<Packet>::new(), &packets);
    check_splits("bincode", Bincode::<Packet>::new, &stream, &packets);
}

/// JSON-like values: the packets of the property tests.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e10f64..1e10).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[\"\\\\{}\\[\\] \n]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Several packets, encoded back to back, decode to the same packets whatever the
    /// split point, for every protocol of JSON-like values.
    #[test]
    fn any_packets_at_every_split_point(packets in prop::collection::vec(json_value(), 1..5)) {
        check_value_protocols(&packets);
    }

    /// The same through random chunkings of a longer stream.
    #[test]
    fn any_packets_in_random_chunks(
        packets in prop::collection::vec(json_value(), 1..12),
        cuts in prop::collection::vec(1usize..40, 1..40),
    ) {
        let stream = encode_all(&mut Cbor::<Value>::new(), &packets);
        let mut chunks = Vec::new();
        let mut rest = &stream[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        let expected: Vec<Decoded<Value>> = packets.iter().cloned().map(Ok).collect();
        prop_assert_eq!(decode_chunks(&mut Cbor::<Value>::new(), &chunks), expected.clone());
        let stream = encode_all(&mut JsonStream::<Value>::new(), &packets);
        let chunks: Vec<&[u8]> = stream.chunks(cuts[0]).collect();
        prop_assert_eq!(decode_chunks(&mut JsonStream::<Value>::new(), &chunks), expected.clone());
        let stream = encode_all(&mut Zlib::new(JsonSerializer::<Value>::new()), &packets);
        let chunks: Vec<&[u8]> = stream.chunks(cuts[0]).collect();
        prop_assert_eq!(
            decode_chunks(&mut Zlib::new(JsonSerializer::<Value>::new()), &chunks),
            expected
        );
    }

    /// Lines never containing the newline, in any chunking.
    #[test]
    fn any_lines_in_random_chunks(lines in prop::collection::vec("[^\n]{0,20}", 1..10), cut in 1usize..30) {
        let stream = encode_all(&mut StringLines::new(), &lines);
        let chunks: Vec<&[u8]> = stream.chunks(cut).collect();
        let expected: Vec<Decoded<String>> = lines.iter().cloned().map(Ok).collect();
        prop_assert_eq!(decode_chunks(&mut StringLines::new(), &chunks), expected);
    }
}

// ---------------------------------------------------------------------------------------
// Limits and bad input.

/// A zlib bomb (10 MB of zeros in about 10 KB) gives one `FrameTooLarge` error, without
/// ever holding more than the limit decompressed; the packet after it decodes.
#[test]
fn compression_bombs_are_bounded() {
    let zeros = vec![b'0'; 10_000_000];
    for (name, mut protocol) in [
        (
            "zlib",
            Box::new(Zlib::new(StringSerializer::new())) as Box<dyn BombProtocol>,
        ),
        ("bz2", Box::new(Bz2::new(StringSerializer::new()))),
    ] {
        let mut stream = BytesMut::new();
        protocol.encode_text(std::str::from_utf8(&zeros).unwrap(), &mut stream);
        let bomb_len = stream.len();
        assert!(bomb_len < 50_000, "{name}: {bomb_len}");
        protocol.encode_text("after", &mut stream);
        let mut results = Vec::new();
        // One receive buffer, as a connection keeps: a partial frame stays in it.
        let mut buf = BytesMut::new();
        for chunk in stream.chunks(1000) {
            buf.extend_from_slice(chunk);
            loop {
                match protocol.decode_text(&mut buf) {
                    Ok(Some(text)) => results.push(Ok(text)),
                    Ok(None) => break,
                    Err(ProtocolError::Parse(e)) => results.push(Err(e.kind())),
                    Err(e) => panic!("{name}: {e}"),
                }
            }
            assert!(
                buf.len() <= 2 * 1000,
                "{name}: {} bytes left buffered while skipping an over-long frame",
                buf.len()
            );
        }
        assert!(buf.is_empty(), "{name}: bytes left after the last packet");
        assert_eq!(
            results,
            vec![Err(ParseErrorKind::FrameTooLarge), Ok("after".to_owned())],
            "{name}"
        );
    }
}

trait BombProtocol {
    fn encode_text(&mut self, text: &str, dst: &mut BytesMut);
    fn decode_text(&mut self, src: &mut BytesMut) -> Result<Option<String>, ProtocolError>;
}

impl<P> BombProtocol for P
where
    P: Decoder<Item = String, Error = ProtocolError>
        + for<'a> Encoder<&'a str, Error = ProtocolError>,
{
    fn encode_text(&mut self, text: &str, dst: &mut BytesMut) {
        self.encode(text, dst).expect("encode");
    }

    fn decode_text(&mut self, src: &mut BytesMut) -> Result<Option<String>, ProtocolError> {
        self.decode(src)
    }
}

/// Over the limit in each format: one `FrameTooLarge` error, nothing allocated for an
/// announced length, and the next packet decodes.
#[test]
fn over_long_frames_in_every_format() {
    let big = json!({"k": "v".repeat(200)});
    let next = json!(["next"]);
    macro_rules! check {
        ($name:literal, $make:expr) => {{
            let stream = encode_all(&mut $make, &[big.clone(), next.clone()]);
            for cut in [1, 7, stream.len()] {
                let chunks: Vec<&[u8]> = stream.chunks(cut).collect();
                let decoded = decode_chunks(&mut $make.max_frame_size(100), &chunks);
                assert_eq!(
                    decoded,
                    vec![Err(ParseErrorKind::FrameTooLarge), Ok(next.clone())],
                    "{} in chunks of {cut}",
                    $name
                );
            }
        }};
    }
    check!("json lines", JsonLines::<Value>::new());
    check!("json stream", JsonStream::<Value>::new());
    check!("cbor", Cbor::<Value>::new());
    check!("msgpack", MsgPack::<Value>::new());
    check!("base64", Base64::new(JsonSerializer::<Value>::new()));
    check!("zlib", Zlib::new(JsonSerializer::<Value>::new()));
    check!("bz2", Bz2::new(JsonSerializer::<Value>::new()));
    check!(
        "length-prefixed",
        LengthPrefixed::new(JsonSerializer::<Value>::new())
    );

    // Announced lengths of 4 GiB: reported at once, the buffer does not grow.
    for (name, header) in [
        ("cbor", &b"\x5a\xff\xff\xff\xff"[..]),
        ("msgpack", b"\xc6\xff\xff\xff\xff"),
    ] {
        let mut buf = BytesMut::from(header);
        buf.extend_from_slice(&[0; 100]);
        let result = match name {
            "cbor" => Cbor::<Value>::new().decode(&mut buf).map(drop),
            _ => MsgPack::<Value>::new().decode(&mut buf).map(drop),
        };
        assert!(
            matches!(result, Err(ProtocolError::Parse(ref e)) if e.kind() == ParseErrorKind::FrameTooLarge),
            "{name}: {result:?}"
        );
        assert!(buf.is_empty() && buf.capacity() < 4096, "{name}");
    }
}

/// Each format's bad input is a parse error that says what is wrong, and the stream
/// goes on where the format lets the next packet be found.
#[test]
fn bad_input_messages_and_recovery() {
    fn first_error<D: Decoder<Error = ProtocolError>>(mut decoder: D, bytes: &[u8]) -> String {
        let mut buf = BytesMut::from(bytes);
        loop {
            match decoder.decode(&mut buf) {
                Err(ProtocolError::Parse(e)) => return e.to_string(),
                Ok(Some(_)) => continue,
                other => panic!("no parse error for {bytes:x?}: {:?}", other.map(|_| ())),
            }
        }
    }
    let cases: Vec<(String, &str)> = vec![
        (
            first_error(Cbor::<Value>::new(), b"\xfc"),
            "invalid CBOR: reserved header byte 0xfc",
        ),
        (
            first_error(Cbor::<Value>::new(), b"\xa1\x01\x02"),
            "invalid CBOR: ",
        ),
        (
            first_error(Cbor::<Value>::new(), b"\x62\xff\xfe"),
            "invalid CBOR: ",
        ),
        (
            first_error(MsgPack::<Value>::new(), b"\xc1"),
            "invalid MessagePack: byte 0xc1 is never used",
        ),
        (
            first_error(MsgPack::<Value>::new(), b"\xc4\x01x"),
            "invalid MessagePack: ",
        ),
        (
            first_error(JsonStream::<Value>::new(), b"\x01"),
            "invalid JSON: a document cannot start with byte 0x01",
        ),
        (
            first_error(Base64::new(JsonSerializer::<Value>::new()), b"e30*\r\n"),
            "invalid base64: ",
        ),
        (
            first_error(
                Base64::new(JsonSerializer::<Value>::new()).checksum(),
                b"e30=\r\n",
            ),
            "invalid checksum: ",
        ),
        (
            first_error(
                Base64::new(JsonSerializer::<Value>::new()),
                b"bm90IGpzb24=\r\n",
            ),
            "invalid JSON: ",
        ),
        (
            first_error(Zlib::new(JsonSerializer::<Value>::new()), b"not zlib"),
            "invalid zlib data: ",
        ),
        (
            first_error(Bz2::new(JsonSerializer::<Value>::new()), b"not bzip2"),
            "invalid bzip2 data: ",
        ),
        (
            first_error(Bincode::<String>::new(), b"\x00\x00\x00\x02\x05a"),
            "invalid bincode: ",
        ),
        (
            first_error(FixedSize::<bool>::new(), b"\x02"),
            "invalid record: byte 0x02 is not a bool",
        ),
    ];
    for (message, expected) in cases {
        assert!(
            message.starts_with(expected),
            "{message:?} should start with {expected:?}"
        );
    }

    // Recovery: the valid packet after the bad bytes decodes.
    let ok = |decoded: Vec<Decoded<Value>>| decoded.last().cloned();
    assert_eq!(
        ok(decode_chunks(&mut Cbor::new(), &[b"\xfc\x82\x01\x02"])),
        Some(Ok(json!([1, 2])))
    );
    assert_eq!(
        ok(decode_chunks(&mut MsgPack::new(), &[b"\xc1\x92\x01\x02"])),
        Some(Ok(json!([1, 2])))
    );
    assert_eq!(
        ok(decode_chunks(
            &mut Base64::new(JsonSerializer::new()).checksum(),
            &[b"e30=\r\n", &{
                let mut b = BytesMut::new();
                Encoder::encode(
                    &mut Base64::new(JsonSerializer::<Value>::new()).checksum(),
                    &json!([3]),
                    &mut b,
                )
                .unwrap();
                b
            }]
        )),
        Some(Ok(json!([3])))
    );
    // A corrupt zlib stream drops what came with it; the next stream decodes.
    let mut zlib = Zlib::new(JsonSerializer::<Value>::new());
    let mut good = BytesMut::new();
    Encoder::encode(&mut zlib, &json!([4]), &mut good).unwrap();
    let decoded = decode_chunks(&mut zlib, &[b"\x78\xda\xff\xff\xff\xff", &good]);
    assert_eq!(
        decoded,
        vec![Err(ParseErrorKind::InvalidPacket), Ok(json!([4]))]
    );

    // The one-shot serializers refuse extra bytes, as easynetwork's.
    let mut buf = BytesMut::new();
    PacketSerializer::serialize(&mut MsgPackSerializer::<Value>::new(), &json!(1), &mut buf)
        .unwrap();
    buf.extend_from_slice(b"\x01");
    let e = MsgPackSerializer::<Value>::new()
        .deserialize(&buf)
        .unwrap_err();
    assert!(e.to_string().contains("extra data"), "{e}");
    let e = CborSerializer::<Value>::new()
        .deserialize(b"\x82\x01")
        .unwrap_err();
    assert!(e.to_string().contains("missing data"), "{e}");
    let e = Zlib::new(StringSerializer::new())
        .deserialize(b"\x78\x9c\x03\x00\x00\x00\x00\x01!")
        .unwrap_err();
    assert!(e.to_string().contains("trailing data"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Converters and stapled protocols.

/// Temperatures on the wire as `{"celsius": 21.5}`.
#[derive(Debug, Clone, Copy)]
struct Celsius;

impl PacketConverter for Celsius {
    type Sent = f64;
    type Received = f64;
    type SentDto = Value;
    type ReceivedDto = Value;

    fn convert_to_dto(&self, packet: &f64) -> Result<Value, BoxError> {
        if packet.is_finite() {
            Ok(json!({ "celsius": packet }))
        } else {
            Err("not a finite temperature".into())
        }
    }

    fn create_from_dto(&self, packet: Value) -> Result<f64, BoxError> {
        packet["celsius"]
            .as_f64()
            .ok_or_else(|| "no number in \"celsius\"".into())
    }
}

#[test]
fn converters_turn_failures_into_parse_errors() {
    let mut protocol = Converted::new(JsonLines::<Value>::new(), Celsius);
    let mut buf = BytesMut::new();
    protocol.encode(&21.5, &mut buf).expect("encode");
    assert_eq!(&buf[..], b"{\"celsius\":21.5}\n");
    assert!(matches!(
        protocol.encode(&f64::NAN, &mut buf),
        Err(ProtocolError::Serialize(_))
    ));
    assert_eq!(
        &buf[..],
        b"{\"celsius\":21.5}\n",
        "nothing written on error"
    );
    buf.extend_from_slice(b"{\"kelvin\":3}\n{oops\n{\"celsius\":-4}\n");
    let mut results = Vec::new();
    loop {
        match protocol.decode(&mut buf) {
            Ok(Some(t)) => results.push(Ok(t)),
            Ok(None) => break,
            Err(ProtocolError::Parse(e)) => results.push(Err(e.to_string())),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], Ok(21.5));
    assert_eq!(
        results[1],
        Err("invalid packet: no number in \"celsius\"".to_owned())
    );
    assert!(
        results[2]
            .as_ref()
            .unwrap_err()
            .starts_with("invalid JSON: ")
    );
    assert_eq!(results[3], Ok(-4.0));
}

/// Answers a temperature with its double, a packet that fails to convert with -1.
struct Doubler;

impl StreamRequestHandler for Doubler {
    type Request = f64;
    type Response = f64;

    #[handler]
    async fn handle(&self, client: &StreamClient<f64>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(t) => client.send_packet(&(2.0 * t)).await?,
            Err(RecvError::Parse(_)) => client.send_packet(&-1.0).await?,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// Over a real connection: a packet that fails to convert reaches the handler as
/// `RecvError::Parse`, and the connection goes on.
#[tokio::test]
async fn a_conversion_failure_reaches_the_handler() {
    let running = serve(Converted::new(Cbor::<Value>::new(), Celsius), Doubler).await;
    let client = within(TcpClient::connect(running.addr, Cbor::<Value>::new()))
        .await
        .expect("connect");
    for (sent, expected) in [
        (json!({"celsius": 10.5}), json!({"celsius": 21.0})),
        (json!({"kelvin": 1}), json!({"celsius": -1.0})),
        (json!({"celsius": -3}), json!({"celsius": -6.0})),
    ] {
        within(client.send_packet(&sent)).await.expect("send");
        assert_eq!(within(client.recv_packet()).await.expect("reply"), expected);
    }
    client.close().await;
    running.stop().await;
}

#[test]
fn stapled_sends_with_one_and_receives_with_the_other() {
    let mut protocol = Stapled::new(JsonLines::<Value>::new(), StringLines::new());
    let mut buf = BytesMut::from(&b"a command\n"[..]);
    assert_eq!(
        protocol.decode(&mut buf).expect("decode"),
        Some("a command".to_owned())
    );
    protocol
        .encode(&json!({"ok": true}), &mut buf)
        .expect("encode");
    assert_eq!(&buf[..], b"{\"ok\":true}\n");
}
