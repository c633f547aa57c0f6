//! The fuzz targets of easynet's decoders, as plain functions: the seeded-corpus test
//! (`tests/fuzz_decoders.rs`) runs them on stable Rust, and the `cargo fuzz` targets in
//! `easynet/fuzz/` (nightly) call them too.
//!
//! [`fuzz_decoder`] feeds bytes, cut into chunks that the bytes themselves choose, to one
//! decoder, as a connection would, and checks what must hold whatever the bytes: no
//! panic, every call makes progress (no endless stream of items from the same bytes), and
//! the receive buffer never holds much more than the frame limit.

use bytes::BytesMut;
use easynet::{
    Base64, Bincode, BytesLines, Bz2, Cbor, CborSerializer, FixedSize, JsonLines, JsonSerializer,
    JsonStream, LengthPrefixed, MsgPack, MsgPackSerializer, Newline, ProtocolError, StringLines,
    StringSerializer, Zlib,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::codec::Decoder;

/// The frame limit of the fuzzed decoders: small, so that over-long frames are common.
pub const FUZZ_LIMIT: usize = 512;

/// The key of the HMAC-checked base64 decoder.
pub const FUZZ_KEY: [u8; 32] = [7; 32];

/// A bincode packet type with strings, sequences, options and an enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A unit variant.
    Empty,
    /// Text and numbers.
    Entry(String, Vec<u64>, Option<f64>),
    /// Nested records.
    Nested(Vec<Record>),
}

/// The names of the fuzzed decoders, one per protocol (and wrapper configuration).
pub const DECODERS: &[&str] = &[
    "json_lines",
    "json_stream",
    "string_lines",
    "string_lines_crlf",
    "bytes_lines",
    "cbor",
    "msgpack",
    "bincode",
    "length_prefixed",
    "fixed_size",
    "base64",
    "base64_checksum",
    "base64_hmac",
    "zlib",
    "bz2",
    "zlib_base64_msgpack",
    "proxy_header",
];

/// Runs the fuzz target `name` (one of [`DECODERS`]) on `data`. Panics on any violation
/// (or if a decoder panics); returns how many packets and parse errors came out.
pub fn fuzz_decoder(name: &str, data: &[u8]) -> (usize, usize) {
    let limit = FUZZ_LIMIT;
    match name {
        "json_lines" => drive(JsonLines::<Value>::new().max_frame_size(limit), data, limit),
        "json_stream" => drive(
            JsonStream::<Value>::new().max_frame_size(limit),
            data,
            limit,
        ),
        "string_lines" => drive(StringLines::new().max_frame_size(limit), data, limit),
        "string_lines_crlf" => drive(
            StringLines::with_newline(Newline::CrLf)
                .ascii()
                .max_frame_size(limit),
            data,
            limit,
        ),
        "bytes_lines" => drive(BytesLines::new().max_frame_size(limit), data, limit),
        "cbor" => drive(Cbor::<Value>::new().max_frame_size(limit), data, limit),
        "msgpack" => drive(MsgPack::<Value>::new().max_frame_size(limit), data, limit),
        "bincode" => drive(Bincode::<Record>::new().max_frame_size(limit), data, limit),
        "length_prefixed" => drive(
            LengthPrefixed::new(StringSerializer::new().ascii()).max_frame_size(limit),
            data,
            limit,
        ),
        "fixed_size" => drive(FixedSize::<(u32, bool, [i16; 2])>::new(), data, 0),
        "base64" => drive(
            Base64::new(JsonSerializer::<Value>::new()).max_frame_size(limit),
            data,
            limit,
        ),
        "base64_checksum" => drive(
            Base64::new(CborSerializer::<Value>::new())
                .checksum()
                .alphabet(easynet::Alphabet::Standard)
                .max_frame_size(limit),
            data,
            limit,
        ),
        "base64_hmac" => drive(
            Base64::new(StringSerializer::new())
                .signing_key(&FUZZ_KEY)
                .max_frame_size(limit),
            data,
            limit,
        ),
        // The compression wrappers leave a partial frame buffered: at most the frame
        // limit plus the largest expansion a compressor gives (1/16 and 1 KiB here).
        "zlib" => drive(
            Zlib::new(JsonSerializer::<Value>::new()).max_frame_size(limit),
            data,
            compressed(limit),
        ),
        "bz2" => drive(
            Bz2::new(CborSerializer::<Value>::new()).max_frame_size(limit),
            data,
            compressed(limit),
        ),
        "zlib_base64_msgpack" => drive(
            Zlib::new(Base64::new(MsgPackSerializer::<Value>::new())).max_frame_size(limit),
            data,
            compressed(limit),
        ),
        "proxy_header" => fuzz_proxy_header(data),
        other => panic!("no fuzz target {other:?}"),
    }
}

/// The PROXY protocol header parser, fed as a connection feeds it: the bytes so far,
/// growing chunk by chunk, until a whole header or an error. What must hold: no panic;
/// "more bytes" only while no header could be complete (never past v2's largest); a
/// whole header within the bytes given, and the same one found when all the bytes are
/// parsed at once; an error stays an error with more bytes. Returns (1, 0) for a header,
/// (0, 1) for an error.
fn fuzz_proxy_header(data: &[u8]) -> (usize, usize) {
    use easynet::__private::fuzz_proxy_header as parse;
    let mut seen = 0;
    for chunk in chunks(data) {
        seen += chunk.len();
        let so_far = &data[1..1 + seen];
        match parse(so_far) {
            Ok(None) => assert!(
                so_far.len() < 16 + 65535,
                "incomplete past the largest header"
            ),
            Ok(Some((_, len))) => {
                assert!(
                    len > 0 && len <= so_far.len(),
                    "header of {len} bytes in {seen}"
                );
                assert_eq!(parse(&data[1..]), Ok(Some(parse(so_far).unwrap().unwrap())));
                return (1, 0);
            }
            Err(e) => {
                assert!(!e.is_empty());
                assert!(
                    parse(&data[1..]).is_err(),
                    "an error became a header with more bytes"
                );
                return (0, 1);
            }
        }
    }
    (0, 0)
}

/// Cuts `data` into chunks: the first byte seeds the chunk sizes (1 to 64 bytes).
pub fn chunks(data: &[u8]) -> Vec<&[u8]> {
    let Some((&seed, mut rest)) = data.split_first() else {
        return Vec::new();
    };
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut out = Vec::new();
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = if seed & 1 == 0 {
            rest.len()
        } else {
            1 + (state % 64) as usize
        };
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

/// The most compressed bytes a compression wrapper buffers for a frame limit of `limit`.
fn compressed(limit: usize) -> usize {
    limit + limit / 16 + 1024
}

/// Feeds the chunks of `data` to `decoder` as a connection would, decoding after each
/// chunk until it needs more bytes. `buffered` is how much the decoder may keep in the
/// buffer beyond the last chunk (about its frame limit).
/// Returns how many packets and parse errors came out.
pub fn drive<D: Decoder<Error = ProtocolError>>(
    mut decoder: D,
    data: &[u8],
    buffered: usize,
) -> (usize, usize) {
    let mut buf = BytesMut::new();
    let (mut packets, mut errors) = (0, 0);
    for chunk in chunks(data) {
        buf.extend_from_slice(chunk);
        // Every item comes out of at least one byte, but a few (an over-long frame
        // reported before its bytes, a checksum error) may come from few.
        let mut budget = 2 * buf.len() + 4;
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => packets += 1,
                Err(ProtocolError::Parse(e)) => {
                    assert!(
                        !e.to_string().is_empty(),
                        "a parse error must say something"
                    );
                    errors += 1;
                }
                Ok(None) => {
                    // Generous slack: a partial header, a separator's tail.
                    assert!(
                        buf.len() <= buffered + 16,
                        "{} bytes left buffered, limit {buffered}",
                        buf.len()
                    );
                    break;
                }
                // The decoder gave up on the stream (the connection would close).
                Err(_) => return (packets, errors),
            }
            assert!(budget > 0, "decoder yields items without consuming input");
            if buf.len() == before {
                budget -= 1;
            }
        }
    }
    (packets, errors)
}
