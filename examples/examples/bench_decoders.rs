//! What each decoder of `echo_server --format NAME` costs the server: the heap one
//! connection holds while its peer has sent only part of a frame, and the CPU time of one
//! small packet (decoding a tiny valid packet, decoding a 4-byte bad packet, encoding a
//! tiny packet). Prints a markdown table.
//!
//! ```text
//! cargo run --release -p easynet-examples --example bench_decoders
//! cargo run --release -p easynet-examples --example bench_decoders -- --connections 200 --millis 300
//! cargo run --release -p easynet-examples --example bench_decoders -- --only bz2-json
//! ```
//!
//! Memory: the process's global allocator counts live heap bytes (the `cap` crate, which
//! wraps the system allocator; easynet itself has no `unsafe`). For each format,
//! `--connections` decoders (clones of the protocol `echo_server` uses, see
//! `easynet_examples::formats`) are each fed the start of the encoding of one large packet
//! (about 45 KB of JSON, under the 64 KiB frame limit in every format), in one read, and
//! kept alive with their receive buffers; the table gives the live heap they add, per
//! connection. "first 100 B" feeds the first 100 bytes of the frame (the abuse case: a
//! few bytes pin the most they can), "all but 1 B" feeds all of it but its last byte.
//!
//! CPU: each case runs on one decoder (or encoder), one packet per "read", repeated for
//! `--millis` milliseconds; the figure is the best of three such runs, in microseconds
//! per packet. The tiny packet is `{"id":1,"op":"echo"}`.
//!
//! With `--json` it prints one JSON line per format instead of the table (bytes and
//! microseconds), for the benchmark harness (`examples/bench/run.py`).

use std::alloc::System;
use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use cap::Cap;
use clap::Parser;
use easynet::{ProtocolError, StreamProtocol};
use easynet_examples::formats::{EchoPacket, Format, WithProtocol, with_server_protocol};
use serde_json::{Value, json};

/// Counts live heap bytes.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

#[derive(Debug, Clone, Copy, Parser)]
#[command(about = "Per-connection memory and per-packet CPU of every echo_server format")]
struct Args {
    /// How many decoders hold a partial frame at once, per format.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// How long each CPU case runs, in milliseconds (best of three runs).
    #[arg(long, default_value_t = 200)]
    millis: u64,
    /// Only this format (all of them by default).
    #[arg(long, value_enum)]
    only: Option<Format>,
    /// One JSON line per format instead of a markdown table.
    #[arg(long)]
    json: bool,
}

/// One line of the table.
struct Row {
    first_100: f64,
    all_but_1: f64,
    decode_tiny: f64,
    decode_bad: f64,
    encode_tiny: f64,
}

/// The large packet: about 45 KB of compact JSON, an array of small records.
fn large_packet() -> String {
    let records: Vec<Value> = (0..600)
        .map(|i: u64| {
            json!({
                "id": i,
                "name": format!("user-{:08x}", i.wrapping_mul(2_654_435_761) % 0xffff_ffff),
                "score": (i * 37 % 1000) as f64 / 7.0,
                "tags": ["a", "bc"],
            })
        })
        .collect();
    Value::Array(records).to_string()
}

const TINY: &str = r#"{"id":1,"op":"echo"}"#;

/// A complete frame of 4 bytes that is not a valid packet, in each format.
fn bad_packet(format: Format) -> &'static [u8] {
    match format {
        Format::Json | Format::JsonNolines => b"{x}\n",
        Format::Lines => b"\xff\xfe\xfd\n",
        // Well-formed text strings of 3 bytes that are not UTF-8.
        Format::Cbor => b"\x63\xff\xfe\xfd",
        Format::Msgpack => b"\xa3\xff\xfe\xfd",
        // A length prefix of 0: no bincode value.
        Format::Bincode => b"\x00\x00\x00\x00",
        Format::Base64Json => b"!!\r\n",
        Format::ZlibJson | Format::Bz2Json => b"\xff\xfe\xfd\xfc",
    }
}

fn encode<T, P: StreamProtocol<T, T>>(protocol: &P, packet: &T) -> Vec<u8> {
    let mut buf = BytesMut::new();
    protocol
        .clone()
        .encode(packet, &mut buf)
        .expect("the packet encodes");
    buf.to_vec()
}

/// Live heap bytes per decoder fed `partial` (kept with its receive buffer).
fn held_per_connection<T, P: StreamProtocol<T, T>>(
    protocol: &P,
    partial: &[u8],
    connections: usize,
) -> f64 {
    let mut held: Vec<(P, BytesMut)> = Vec::with_capacity(connections);
    let before = ALLOCATOR.allocated();
    for _ in 0..connections {
        let mut decoder = protocol.clone();
        let mut buf = BytesMut::from(partial);
        match decoder.decode(&mut buf) {
            Ok(None) => {}
            Ok(Some(_)) => panic!("a partial frame decoded"),
            Err(e) => panic!("a partial frame failed: {e}"),
        }
        held.push((decoder, buf));
    }
    let after = ALLOCATOR.allocated();
    drop(held);
    after.saturating_sub(before) as f64 / connections as f64
}

/// Microseconds per call of `one`: the best of three runs of `millis` each.
fn per_packet(millis: u64, mut one: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let mut count = 0u64;
        while count < 10 || start.elapsed() < Duration::from_millis(millis) {
            for _ in 0..10 {
                one();
            }
            count += 10;
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / count as f64);
    }
    best
}

/// Decodes one frame (`bytes`) received in one read: what comes out of it.
fn decode_one<T, P: StreamProtocol<T, T>>(
    decoder: &mut P,
    buf: &mut BytesMut,
    bytes: &[u8],
) -> (usize, usize) {
    buf.extend_from_slice(bytes);
    let (mut packets, mut errors) = (0, 0);
    loop {
        match decoder.decode(buf) {
            Ok(Some(packet)) => {
                black_box(packet);
                packets += 1;
            }
            Ok(None) => return (packets, errors),
            Err(ProtocolError::Parse(e)) => {
                black_box(e);
                errors += 1;
            }
            Err(e) => panic!("the decoder gave up: {e}"),
        }
    }
}

struct Measure {
    format: Format,
    args: Args,
}

impl WithProtocol for Measure {
    type Output = Row;

    fn run<T, P>(self, protocol: P) -> impl Future<Output = Row>
    where
        T: EchoPacket,
        P: StreamProtocol<T, T>,
    {
        let Measure { format, args } = self;
        async move {
            let frame = encode(&protocol, &T::from_arg(&large_packet()));
            let connections = args.connections.max(1);
            let first_100 = held_per_connection(&protocol, &frame[..100], connections);
            let all_but_1 = held_per_connection(&protocol, &frame[..frame.len() - 1], connections);

            let tiny = encode(&protocol, &T::from_arg(TINY));
            let mut decoder = protocol.clone();
            let mut buf = BytesMut::new();
            assert_eq!(decode_one(&mut decoder, &mut buf, &tiny), (1, 0));
            let decode_tiny = per_packet(args.millis, || {
                decode_one(&mut decoder, &mut buf, &tiny);
            });
            let bad = bad_packet(format);
            assert_eq!(
                decode_one(&mut decoder, &mut buf, bad),
                (0, 1),
                "{format:?}: the bad packet is one parse error"
            );
            assert!(buf.is_empty(), "{format:?}: the bad packet is consumed");
            let decode_bad = per_packet(args.millis, || {
                decode_one(&mut decoder, &mut buf, bad);
            });
            let packet = T::from_arg(TINY);
            let mut encoder = protocol.clone();
            let mut out = BytesMut::new();
            let encode_tiny = per_packet(args.millis, || {
                out.clear();
                encoder.encode(&packet, &mut out).expect("encode");
            });
            Row {
                first_100,
                all_but_1,
                decode_tiny,
                decode_bad,
                encode_tiny,
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    if !args.json {
        println!(
            "| format | held per connection, first 100 B of a frame | held, all but 1 B | decode tiny (µs) | decode 4-byte bad (µs) | encode tiny (µs) |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    }
    for format in [
        Format::Json,
        Format::JsonNolines,
        Format::Lines,
        Format::Cbor,
        Format::Msgpack,
        Format::Bincode,
        Format::Base64Json,
        Format::ZlibJson,
        Format::Bz2Json,
    ] {
        if args.only.is_some_and(|only| only != format) {
            continue;
        }
        let name = clap::ValueEnum::to_possible_value(&format)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        let measure = Measure { format, args };
        let row = with_server_protocol(format, measure).await;
        if args.json {
            let line = serde_json::json!({
                "format": name,
                "first_100_bytes": row.first_100,
                "all_but_1_bytes": row.all_but_1,
                "decode_tiny_us": row.decode_tiny,
                "decode_bad_us": row.decode_bad,
                "encode_tiny_us": row.encode_tiny,
            });
            println!("{line}");
            continue;
        }
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} | {:.2} |",
            bytes(row.first_100),
            bytes(row.all_but_1),
            row.decode_tiny,
            row.decode_bad,
            row.encode_tiny,
        );
    }
}

/// `1234` as `1.2 KiB`, and so on.
fn bytes(n: f64) -> String {
    if n >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", n / (1024.0 * 1024.0))
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n:.0} B")
    }
}
