//! Microbenchmarks of every protocol's decoder and encoder, in bytes per second.
//!
//! ```text
//! cargo bench -p easynet --features formats --bench codecs
//! ```
//!
//! Each codec encodes, then decodes, a batch of 100 JSON-like packets (a small object with
//! a string, numbers and a list; about 100 bytes each in JSON), through a `BytesMut`, as
//! the server does with its receive and send buffers. Throughput is counted in bytes of
//! the encoded stream.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use easynet::{
    Base64, Bincode, BytesLines, Bz2, Cbor, FixedSize, JsonLines, JsonSerializer, JsonStream,
    MsgPack, StringLines, Zlib,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::codec::{Decoder, Encoder};

const BATCH: usize = 100;

/// A packet bincode can carry too (it is not self-describing, so no `Value`).
#[derive(Clone, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    price: f64,
    items: Vec<u32>,
    express: bool,
}

fn order(i: usize) -> Order {
    Order {
        id: i as u64,
        customer: format!("customer-{i:05}"),
        price: 12.5 + i as f64,
        items: vec![1, 2, 3, 5, 8, 13],
        express: i.is_multiple_of(2),
    }
}

fn value(i: usize) -> Value {
    serde_json::to_value(order(i)).unwrap()
}

/// Benchmarks one codec: `make` builds it, `packets` are what is sent, `Item` what is
/// received.
fn bench_codec<C, P>(c: &mut Criterion, name: &str, make: impl Fn() -> C, packets: &[P])
where
    C: Decoder<Error = easynet::ProtocolError>
        + for<'a> Encoder<&'a P, Error = easynet::ProtocolError>,
{
    let mut stream = BytesMut::new();
    let mut codec = make();
    for packet in packets {
        codec.encode(packet, &mut stream).unwrap();
    }
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("encode", |b| {
        let mut codec = make();
        let mut out = BytesMut::with_capacity(stream.len());
        b.iter(|| {
            out.clear();
            for packet in packets {
                codec.encode(packet, &mut out).unwrap();
            }
        })
    });
    group.bench_function("decode", |b| {
        b.iter_batched(
            || (make(), BytesMut::from(&stream[..])),
            |(mut codec, mut buf)| {
                let mut n = 0;
                while let Some(packet) = codec.decode(&mut buf).unwrap() {
                    std::hint::black_box(packet);
                    n += 1;
                }
                assert_eq!(n, packets.len());
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn codecs(c: &mut Criterion) {
    let values: Vec<Value> = (0..BATCH).map(value).collect();
    let orders: Vec<Order> = (0..BATCH).map(order).collect();
    let lines: Vec<String> = (0..BATCH).map(|i| json!(value(i)).to_string()).collect();
    let records: Vec<(u64, u32, f64, bool)> = (0..BATCH)
        .map(|i| (i as u64, i as u32 * 7, i as f64 / 3.0, i.is_multiple_of(2)))
        .collect();

    bench_codec(c, "json_lines", JsonLines::<Value>::new, &values);
    bench_codec(c, "json_lines_typed", JsonLines::<Order>::new, &orders);
    bench_codec(c, "json_stream", JsonStream::<Value>::new, &values);
    bench_codec(c, "string_lines", StringLines::new, &lines);
    bench_codec(c, "bytes_lines", BytesLines::new, &lines);
    bench_codec(c, "cbor", Cbor::<Value>::new, &values);
    bench_codec(c, "msgpack", MsgPack::<Value>::new, &values);
    bench_codec(c, "bincode", Bincode::<Order>::new, &orders);
    bench_codec(
        c,
        "fixed_size",
        FixedSize::<(u64, u32, f64, bool)>::new,
        &records,
    );
    bench_codec(
        c,
        "base64_json",
        || Base64::new(JsonSerializer::<Value>::new()),
        &values,
    );
    bench_codec(
        c,
        "base64_json_checksum",
        || Base64::new(JsonSerializer::<Value>::new()).checksum(),
        &values,
    );
    bench_codec(
        c,
        "zlib_json",
        || Zlib::new(JsonSerializer::<Value>::new()),
        &values,
    );
    bench_codec(
        c,
        "bz2_json",
        || Bz2::new(JsonSerializer::<Value>::new()),
        &values,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = codecs
}
criterion_main!(benches);
