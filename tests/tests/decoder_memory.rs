//! The heap a compressed-format decoder holds while its peer has sent only part of a
//! frame stays below twice the frame limit, bzip2 included (libbzip2 alone would hold
//! 3.6 MB from the 4-byte header on), and a frame received byte by byte is decompressed
//! once, not once per byte.
//!
//! This test binary counts every live heap byte of its process (the `cap` allocator), so
//! it holds a single test: nothing else allocates while it measures.

use std::alloc::System;

use bytes::BytesMut;
use cap::Cap;
use easynet::{Bz2, JsonSerializer, ProtocolError, Zlib};
use serde_json::{Value, json};
use tokio_util::codec::{Decoder, Encoder};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The frame limit of the decoders (the default).
const MAX: usize = 64 * 1024;

/// About 60 KB of JSON: under the limit, and compressible but not trivially.
fn large_packet() -> Value {
    let records: Vec<Value> = (0..1100u64)
        .map(|i| {
            json!({
                "id": i,
                "name": format!("user-{:08x}", i.wrapping_mul(2_654_435_761) % 0xffff_ffff),
                "tags": ["a", "bc"],
            })
        })
        .collect();
    Value::Array(records)
}

/// Live heap bytes that `decoder`, fed `partial` in one read, holds with its buffer.
fn held<D: Decoder<Item = Value, Error = ProtocolError> + Clone>(
    decoder: &D,
    partial: &[u8],
) -> usize {
    let before = ALLOCATOR.allocated();
    let mut decoder = decoder.clone();
    let mut buf = BytesMut::from(partial);
    assert!(matches!(decoder.decode(&mut buf), Ok(None)));
    let held = ALLOCATOR.allocated() - before;
    drop((decoder, buf));
    held
}

/// Bytes allocated (in total, freed or not) while `frame` is decoded in reads of
/// `chunk` bytes; checks that it decodes to `expected`.
fn allocated_while_decoding<D: Decoder<Item = Value, Error = ProtocolError> + Clone>(
    decoder: &D,
    frame: &[u8],
    chunk: usize,
    expected: &Value,
) -> usize {
    let mut decoder = decoder.clone();
    let mut buf = BytesMut::with_capacity(chunk);
    let mut got = Vec::new();
    let before = ALLOCATOR.total_allocated();
    for piece in frame.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(packet) = decoder.decode(&mut buf).expect("decodes") {
            got.push(packet);
        }
    }
    let total = ALLOCATOR.total_allocated() - before;
    assert_eq!(got, std::slice::from_ref(expected));
    total
}

fn check<D>(name: &str, mut protocol: D)
where
    D: Decoder<Item = Value, Error = ProtocolError> + for<'a> Encoder<&'a Value> + Clone,
    for<'a> <D as Encoder<&'a Value>>::Error: std::fmt::Debug,
{
    let packet = large_packet();
    let mut frame = BytesMut::new();
    protocol.encode(&packet, &mut frame).expect("encode");
    let text_len = packet.to_string().len();
    assert!(text_len > 50_000 && text_len < MAX, "{text_len}");

    let first_100 = held(&protocol, &frame[..100]);
    let all_but_1 = held(&protocol, &frame[..frame.len() - 1]);
    eprintln!(
        "{name}: frame of {} bytes; held after 100 bytes: {first_100}, after all but 1: {all_but_1}",
        frame.len()
    );
    assert!(
        first_100 < 2 * MAX,
        "{name}: {first_100} bytes held after 100 bytes"
    );
    assert!(
        first_100 < 16 * 1024,
        "{name}: {first_100} bytes held after 100 bytes"
    );
    assert!(
        all_but_1 < 2 * MAX,
        "{name}: {all_but_1} bytes held after all but 1"
    );

    // Byte by byte, the work is that of one read: one decompression (a second one
    // would allocate the decompressor's tables again: 45 KB for zlib, 460 KB for
    // bzip2), plus the frame buffer's growth.
    let whole = allocated_while_decoding(&protocol, &frame, frame.len(), &packet);
    let bytes = allocated_while_decoding(&protocol, &frame, 1, &packet);
    eprintln!("{name}: allocated decoding in one read: {whole}, byte by byte: {bytes}");
    assert!(
        bytes <= whole + 4 * frame.len() + 16 * 1024,
        "{name}: {bytes} bytes allocated byte by byte, {whole} in one read"
    );
}

#[test]
fn partial_compressed_frames_hold_little() {
    check("zlib", Zlib::new(JsonSerializer::<Value>::new()));
    check("bz2", Bz2::new(JsonSerializer::<Value>::new()));
    check(
        "bz2 level 1",
        Bz2::new(JsonSerializer::<Value>::new()).level(1),
    );
}
