//! JSON lines: one compact JSON document per line, the default of Python easynetwork
//! 1.2.0's `JSONSerializer` (`use_lines=True`).
#![cfg(feature = "json")]

use std::fmt;
use std::marker::PhantomData;

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::{Decoder, Encoder};

use super::DEFAULT_MAX_FRAME_SIZE;
use super::lines::LineFramer;
use crate::error::ProtocolError;
use crate::serializers::JsonSerializer;

/// JSON lines: each packet is one compact JSON document followed by `\n`.
///
/// Wire-compatible with Python easynetwork 1.2.0's `JSONSerializer()` in a
/// `StreamProtocol`. `T` is the type of received packets (any `serde` type, or
/// `serde_json::Value`); any `Serialize` value can be sent.
///
/// A line that is not valid JSON for `T` (or not valid UTF-8) is a parse error, and so is
/// a line over the frame limit (64 KiB by default); in both cases the line is discarded
/// and the next one is decoded normally.
///
/// Numbers: `serde_json::Value` holds integers beyond the 64-bit range (which Python
/// sends for its big ints) as `f64`, losing digits. To keep them, decode into a type that
/// does: `Box<serde_json::value::RawValue>` keeps a document's exact text (what the
/// `echo_server` example does), or a `String` field for an identifier. NaN and Infinity,
/// which Python's `json` emits for such floats, are not JSON and are parse errors. See
/// [`JsonSerializer`] for the other differences from Python's `json` module, and
/// [`ensure_ascii`](Self::ensure_ascii) to send Python's escapes.
pub struct JsonLines<T> {
    framer: LineFramer,
    serializer: JsonSerializer<T>,
    _packet: PhantomData<fn() -> T>,
}

impl<T> JsonLines<T> {
    /// JSON lines with the default 64 KiB frame limit.
    pub fn new() -> Self {
        JsonLines {
            framer: LineFramer::new(b"\n", DEFAULT_MAX_FRAME_SIZE),
            serializer: JsonSerializer::new(),
            _packet: PhantomData,
        }
    }

    /// Escapes non-ASCII text as `\uXXXX` when sending, byte for byte as Python's default
    /// `ensure_ascii=True` (see [`JsonSerializer::ensure_ascii`]).
    pub fn ensure_ascii(mut self) -> Self {
        self.serializer = self.serializer.ensure_ascii();
        self
    }

    /// Sets the maximum size of a received line, in bytes.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.framer = LineFramer::new(b"\n", max);
        self
    }

    /// The maximum size of a received line, in bytes.
    pub fn frame_limit(&self) -> usize {
        self.framer.max_frame_size()
    }
}

impl<T> Default for JsonLines<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonLines<T> {
    fn clone(&self) -> Self {
        JsonLines {
            framer: self.framer.clone(),
            serializer: self.serializer.clone(),
            _packet: PhantomData,
        }
    }
}

impl<T> fmt::Debug for JsonLines<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines")
            .field("max_frame_size", &self.framer.max_frame_size())
            .field("ensure_ascii", &self.serializer.is_ensure_ascii())
            .finish()
    }
}

impl<T: DeserializeOwned> Decoder for JsonLines<T> {
    type Item = T;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<T>, ProtocolError> {
        let Some(len) = self.framer.next_frame(src)? else {
            return Ok(None);
        };
        let packet = JsonSerializer::<T>::read(&src[..len]);
        self.framer.consume(src, len);
        Ok(Some(packet?))
    }
}

impl<S: Serialize + ?Sized, T> Encoder<&S> for JsonLines<T> {
    type Error = ProtocolError;

    fn encode(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.serializer
            .write(packet, dst)
            .map_err(|e| ProtocolError::Serialize(Box::new(e)))?;
        dst.put_u8(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParseErrorKind;
    use serde_json::{Value, json};

    #[test]
    fn compact_documents_one_per_line() {
        let mut buf = BytesMut::new();
        let mut codec = JsonLines::<Value>::new();
        codec
            .encode(&json!({"a": [1, 2], "b": "x"}), &mut buf)
            .unwrap();
        assert_eq!(&buf[..], b"{\"a\":[1,2],\"b\":\"x\"}\n");
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap(),
            json!({"a": [1, 2], "b": "x"})
        );
    }

    #[test]
    fn accepts_what_python_emits() {
        let mut codec = JsonLines::<Value>::new();
        // ensure_ascii escapes, surrogate pairs, and a CRLF line end.
        let mut buf = BytesMut::from(&b"{\"t\":\"caf\\u00e9 \\ud83d\\ude00\"}\r\n"[..]);
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap(),
            json!({"t": "café 😀"})
        );
    }

    #[test]
    fn bad_json_is_a_parse_error_and_the_next_line_decodes() {
        let mut codec = JsonLines::<Value>::new();
        let mut buf = BytesMut::from(&b"{oops\n\xff\n[1]\n"[..]);
        for _ in 0..2 {
            match codec.decode(&mut buf) {
                Err(ProtocolError::Parse(e)) => {
                    assert_eq!(e.kind(), ParseErrorKind::InvalidPacket);
                    assert!(e.to_string().starts_with("invalid JSON: "), "{e}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), json!([1]));
    }

    #[test]
    fn serialization_errors_write_nothing() {
        let mut codec = JsonLines::<Value>::new();
        let mut buf = BytesMut::from(&b"kept"[..]);
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        assert!(matches!(
            codec.encode(&bad, &mut buf),
            Err(ProtocolError::Serialize(_))
        ));
        assert_eq!(&buf[..], b"kept");
    }
}
