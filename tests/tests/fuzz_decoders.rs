//! The decoders' fuzz targets (`easynet_tests::fuzz`), run on stable Rust: each target
//! gets a seeded corpus of valid streams (several packets, from our encoders) and of
//! known bad input, then thousands of deterministic mutations of it (bit flips, random
//! bytes, insertions, deletions, duplications, splices, truncations), each cut into
//! chunks in two ways. No input may make a decoder panic, loop, or buffer beyond its
//! limit.
//!
//! Each target runs `EASYNET_FUZZ_ITERATIONS` mutations (default 5000), and stops early
//! after `EASYNET_FUZZ_SECONDS` seconds (default 4) so that CI time stays bounded. A
//! failure prints the input, as hex, to replay it. With nightly Rust, `easynet/fuzz/` runs
//! the same targets under libFuzzer (`cargo fuzz run NAME`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use easynet::{
    Alphabet, Base64, Bincode, BytesLines, Bz2, Cbor, CborSerializer, FixedSize, JsonLines,
    JsonSerializer, JsonStream, LengthPrefixed, MsgPack, MsgPackSerializer, Newline, ProtocolError,
    StringLines, StringSerializer, Zlib,
};
use easynet_tests::fuzz::{DECODERS, FUZZ_KEY, FUZZ_LIMIT, Record, fuzz_decoder};
use serde_json::{Value, json};
use tokio_util::codec::Encoder;

/// A deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn values() -> Vec<Value> {
    vec![
        json!(null),
        json!(1),
        json!(-70000),
        json!(2.5),
        json!("text with \"quotes\" and é"),
        json!([1, [2, [3, {"k": "v"}]]]),
        json!({"a": {"b": [true, false, null]}, "c": "}{]["}),
        json!("x".repeat(FUZZ_LIMIT + 10)),
    ]
}

fn encode_all<E: for<'a> Encoder<&'a T, Error = ProtocolError>, T>(
    mut encoder: E,
    packets: &[T],
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for packet in packets {
        encoder.encode(packet, &mut buf).expect("encode a seed");
    }
    buf.to_vec()
}

/// Valid streams (and a few bad ones) for a target.
fn seeds(name: &str) -> Vec<Vec<u8>> {
    let values = values();
    let lines: Vec<String> = vec!["hello".into(), String::new(), "a\rb".into(), "é".into()];
    let valid = match name {
        "json_lines" => encode_all(JsonLines::<Value>::new(), &values),
        "json_stream" => encode_all(JsonStream::<Value>::new(), &values),
        "string_lines" => encode_all(StringLines::new(), &lines),
        "string_lines_crlf" => encode_all(
            StringLines::with_newline(Newline::CrLf),
            &["a", "b\nc", "", "d\r"].map(String::from),
        ),
        "bytes_lines" => encode_all(BytesLines::new(), &lines),
        "cbor" => encode_all(Cbor::<Value>::new(), &values),
        "msgpack" => encode_all(MsgPack::<Value>::new(), &values),
        "bincode" => encode_all(
            Bincode::<Record>::new(),
            &[
                Record::Empty,
                Record::Entry("é".into(), vec![1, u64::MAX], Some(1.5)),
                Record::Nested(vec![
                    Record::Empty,
                    Record::Entry(String::new(), vec![], None),
                ]),
            ],
        ),
        "length_prefixed" => encode_all(LengthPrefixed::new(StringSerializer::new()), &lines),
        "fixed_size" => encode_all(
            FixedSize::<(u32, bool, [i16; 2])>::new(),
            &[(1, true, [-1, 2]), (u32::MAX, false, [0, 0])],
        ),
        "base64" => encode_all(Base64::new(JsonSerializer::<Value>::new()), &values),
        "base64_checksum" => encode_all(
            Base64::new(CborSerializer::<Value>::new())
                .checksum()
                .alphabet(Alphabet::Standard),
            &values,
        ),
        "base64_hmac" => encode_all(
            Base64::new(StringSerializer::new()).signing_key(&FUZZ_KEY),
            &lines,
        ),
        "zlib" => encode_all(Zlib::new(JsonSerializer::<Value>::new()), &values),
        "bz2" => encode_all(
            Bz2::new(CborSerializer::<Value>::new()).level(1),
            &values[..4],
        ),
        "zlib_base64_msgpack" => encode_all(
            Zlib::new(Base64::new(MsgPackSerializer::<Value>::new())),
            &values,
        ),
        "proxy_header" => {
            let mut v1 = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec();
            v1.extend(b"{\"a\": 1}\n");
            v1
        }
        other => panic!("no seeds for {other}"),
    };
    let mut seeds = vec![valid.clone(), valid[..valid.len() / 2].to_vec()];
    if name == "proxy_header" {
        seeds.extend(proxy_header_seeds());
    }
    seeds.push(b"\xff\xfe\xfd\xc1\x00\x1f\x5b\x7f\x9f\xbf\xdf\xff\r\n".to_vec());
    seeds.push(vec![0xff; 64]);
    seeds.push(b"{\"a\":[1,2,{\"b\":\"\\\"}\"}]}\n\"str\"\n123\n".to_vec());
    let mut long = vec![b'x'; FUZZ_LIMIT + 50];
    long.extend_from_slice(b"\r\n");
    seeds.push(long);
    seeds
}

/// PROXY protocol headers of every kind: v1 TCP6 and UNKNOWN, v2 PROXY over IPv4, IPv6
/// and Unix with TLVs, v2 LOCAL.
fn proxy_header_seeds() -> Vec<Vec<u8>> {
    let v2 = |command: u8, family: u8, body: &[u8]| {
        let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        bytes.extend([0x20 | command, family]);
        bytes.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
        bytes.extend(body);
        bytes.extend(b"data\n");
        bytes
    };
    let mut inet4 = vec![10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0, 80];
    inet4.extend([
        0x01, 0x00, 0x02, b'h', b'2', 0x02, 0x00, 0x03, b'a', b'.', b'b',
    ]);
    inet4.extend([0x05, 0x00, 0x04, 1, 2, 3, 4, 0x04, 0x00, 0x00]);
    let mut inet6 = vec![0x20; 36];
    inet6.extend([0x20, 0x00, 0x01, 0x01]);
    let mut unix = vec![0u8; 216];
    unix[..4].copy_from_slice(b"/tmp");
    vec![
        b"PROXY TCP6 2001:db8::1 ::1 65535 1\r\nrest".to_vec(),
        b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        v2(0x1, 0x11, &inet4),
        v2(0x1, 0x21, &inet6),
        v2(0x1, 0x31, &unix),
        v2(0x0, 0x00, &[]),
        v2(0x1, 0x12, &inet4[..12]),
    ]
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(16)).min(len);
                data.drain(i..j);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(64)).min(len);
                let copy = data[i..j].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.extend_from_slice(&other[from..]);
            }
            _ => data.truncate(rng.below(len + 1)),
        }
    }
    data
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run_target(name: &str) {
    let iterations = env_number("EASYNET_FUZZ_ITERATIONS", 5000);
    let deadline = Instant::now() + Duration::from_secs(env_number("EASYNET_FUZZ_SECONDS", 4));
    let seeds = seeds(name);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    let run = |input: &[u8], chunking: u8| {
        // The first byte chooses the chunking: even, whole; odd, random chunk sizes.
        let mut data = vec![chunking];
        data.extend_from_slice(input);
        let result = catch_unwind(AssertUnwindSafe(|| fuzz_decoder(name, &data)));
        match result {
            Ok(counts) => counts,
            Err(_) => panic!(
                "fuzz target {name} failed on input (hex) {}",
                data.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        }
    };
    let (mut packets, mut errors) = (0, 0);
    for seed in &seeds {
        for chunking in [0, 1] {
            let (p, e) = run(seed, chunking);
            packets += p;
            errors += e;
        }
    }
    assert!(packets > 0, "{name}: the valid seed decodes no packet");
    for i in 0..iterations {
        if i > 100 && Instant::now() > deadline {
            break;
        }
        let input = mutate(&mut rng, &seeds);
        errors += run(&input, rng.next() as u8).1;
    }
    assert!(errors > 0, "{name}: mutations never produced a parse error");
}

macro_rules! targets {
    ($($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                run_target(stringify!($name));
            }
        )*

        #[test]
        fn every_decoder_has_a_test() {
            assert_eq!(DECODERS, [$(stringify!($name)),*]);
        }
    };
}

targets! {
    json_lines json_stream string_lines string_lines_crlf bytes_lines cbor msgpack bincode
    length_prefixed fixed_size base64 base64_checksum base64_hmac zlib bz2
    zlib_base64_msgpack proxy_header
}
