//! JSON nests up to 256 levels, as CBOR and MessagePack: deeper documents are a parse
//! error with a clear message, in every JSON protocol, and parsing the deepest allowed
//! document needs far less stack than a tokio worker has.

use bytes::BytesMut;
use easynet::{
    Base64, JsonLines, JsonSerializer, JsonStream, PacketDeserializer, ProtocolError, Zlib,
};
use serde_json::Value;
use tokio_util::codec::{Decoder, Encoder};

/// `[[...[1]...]]`, `depth` arrays deep, with objects every 10 levels and a bracket in a
/// string (which does not count).
fn nested(depth: usize) -> String {
    let mut open = String::new();
    let mut close = String::new();
    for level in 0..depth {
        if level % 10 == 9 {
            open.push_str(r#"{"k]":"#);
            close.insert(0, '}');
        } else {
            open.push('[');
            close.insert(0, ']');
        }
    }
    format!("{open}\"[{{\\\"\"{close}")
}

fn depth_of(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

fn check(name: &str, result: Result<Option<Value>, ProtocolError>, depth: usize) {
    match result {
        Ok(Some(value)) if depth <= 256 => assert_eq!(depth_of(&value), depth, "{name}"),
        Err(ProtocolError::Parse(e)) if depth > 256 => assert_eq!(
            e.to_string(),
            "invalid JSON: nested more than 256 levels deep",
            "{name}"
        ),
        other => panic!("{name} at depth {depth}: {other:?}"),
    }
}

#[test]
fn json_nests_256_levels_in_every_protocol() {
    for depth in [127, 128, 129, 200, 255, 256, 257, 300] {
        let doc = nested(depth);
        let mut buf = BytesMut::from(format!("{doc}\n[1]\n").as_bytes());
        let mut lines = JsonLines::<Value>::new();
        check("json lines", lines.decode(&mut buf), depth);
        assert_eq!(
            lines.decode(&mut buf).unwrap(),
            Some(serde_json::json!([1]))
        );

        let mut buf = BytesMut::from(format!("{doc}[2]").as_bytes());
        let mut stream = JsonStream::<Value>::new();
        check("json stream", stream.decode(&mut buf), depth);
        assert_eq!(
            stream.decode(&mut buf).unwrap(),
            Some(serde_json::json!([2]))
        );

        let result = JsonSerializer::<Value>::new()
            .deserialize(doc.as_bytes())
            .map(Some)
            .map_err(ProtocolError::Parse);
        check("json serializer", result, depth);

        // Through the wrappers, which use the serializer.
        for (name, mut protocol) in [
            (
                "base64",
                Box::new(Base64::new(JsonSerializer::<Value>::new())) as Box<dyn Codec>,
            ),
            ("zlib", Box::new(Zlib::new(JsonSerializer::<Value>::new()))),
        ] {
            let mut buf = BytesMut::new();
            protocol.raw(doc.as_bytes(), &mut buf);
            check(name, protocol.next(&mut buf), depth);
        }
    }
}

/// Encodes raw JSON bytes (as a peer would send them) and decodes.
trait Codec {
    fn raw(&mut self, json: &[u8], dst: &mut BytesMut);
    fn next(&mut self, src: &mut BytesMut) -> Result<Option<Value>, ProtocolError>;
}

impl<P> Codec for P
where
    P: Decoder<Item = Value, Error = ProtocolError>
        + for<'a> Encoder<&'a serde_json::value::RawValue, Error = ProtocolError>,
{
    fn raw(&mut self, json: &[u8], dst: &mut BytesMut) {
        let raw: Box<serde_json::value::RawValue> = {
            let mut de = serde_json::Deserializer::from_slice(json);
            de.disable_recursion_limit();
            serde::Deserialize::deserialize(&mut de).expect("raw JSON")
        };
        self.encode(&raw, dst).expect("encode");
    }

    fn next(&mut self, src: &mut BytesMut) -> Result<Option<Value>, ProtocolError> {
        self.decode(src)
    }
}

/// The deepest allowed document parses (and drops) on a thread with a quarter of a
/// tokio worker's 2 MiB stack, even in a debug build (it needs between 256 and 512 KiB
/// there; less in release).
#[test]
fn the_deepest_document_needs_little_stack() {
    let doc = nested(256);
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let value = JsonSerializer::<Value>::new()
                .deserialize(doc.as_bytes())
                .expect("256 levels");
            assert_eq!(depth_of(&value), 256);
        })
        .unwrap()
        .join()
        .unwrap();
}
