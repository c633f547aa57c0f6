//! JSON through serde_json: the analog of easynetwork's `JSONSerializer`.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{PacketDeserializer, PacketSerializer, append_or_rollback};
use crate::error::{BoxError, ParseError};

/// JSON documents: the analog of easynetwork's `JSONSerializer`, without framing.
///
/// Serializes any `Serialize` value as one compact document (no spaces, as Python's
/// `separators=(",", ":")`) and deserializes `T` (any `serde` type, or
/// `serde_json::Value`). Used alone by [`JsonLines`](crate::JsonLines) and
/// [`JsonStream`](crate::JsonStream), and inside the wrappers (`Base64<JsonSerializer<T>>`
/// is easynetwork's `Base64EncoderSerializer(JSONSerializer())`).
///
/// Differences from Python's `json` module, all on values that are not plain JSON:
/// - Non-ASCII text is sent as UTF-8 by default; [`ensure_ascii`](Self::ensure_ascii)
///   escapes it as `\uXXXX` (surrogate pairs beyond the BMP), byte for byte as Python's
///   default `ensure_ascii=True`. Python reads either.
/// - Floats are spelled by serde_json (`1e300`, `1.5e-7`), Python spells them `1e+300`,
///   `1.5e-07`: the same values.
/// - `NaN` and `Infinity`, which Python sends for such floats (`allow_nan=True`), are not
///   JSON: receiving them is a parse error, and serde_json sends non-finite floats as
///   `null`.
/// - Integers beyond 64 bits (Python's big ints) become `f64` in `serde_json::Value`;
///   decode into `Box<serde_json::value::RawValue>` to keep their exact text.
///
/// Received arrays and objects may nest 256 levels deep, as in CBOR and MessagePack
/// (serde_json alone stops at 128); deeper is the parse error `invalid JSON: nested more
/// than 256 levels deep`.
pub struct JsonSerializer<T> {
    ensure_ascii: bool,
    _packet: PhantomData<fn() -> T>,
}

impl<T> JsonSerializer<T> {
    /// Compact JSON, non-ASCII text as UTF-8.
    pub fn new() -> Self {
        JsonSerializer {
            ensure_ascii: false,
            _packet: PhantomData,
        }
    }

    /// Escapes every non-ASCII character (and DEL) as `\uXXXX`, as Python's
    /// `json.dumps(..., ensure_ascii=True)`, easynetwork's default.
    pub fn ensure_ascii(mut self) -> Self {
        self.ensure_ascii = true;
        self
    }

    /// Whether non-ASCII text is escaped.
    pub fn is_ensure_ascii(&self) -> bool {
        self.ensure_ascii
    }

    /// Appends the compact JSON of `packet` to `dst` (nothing on error).
    pub(crate) fn write<S: Serialize + ?Sized>(
        &self,
        packet: &S,
        dst: &mut BytesMut,
    ) -> Result<(), serde_json::Error> {
        append_or_rollback(dst, |dst| {
            if self.ensure_ascii {
                let mut serializer =
                    serde_json::Serializer::with_formatter(dst.writer(), AsciiFormatter);
                packet.serialize(&mut serializer)
            } else {
                serde_json::to_writer(dst.writer(), packet)
            }
        })
    }

    /// Reads one document (surrounding whitespace allowed) from `data`.
    ///
    /// Arrays and objects may nest [`MAX_DEPTH`] levels deep (as CBOR and MessagePack),
    /// where serde_json alone stops at 128: a Python peer may send more. The depth is
    /// checked first by a scan of the brackets, so serde_json's own recursion, unbounded
    /// here, never goes deeper than that (a 256-deep `serde_json::Value` takes less than
    /// 512 KiB of stack even in a debug build, a quarter of a tokio worker's 2 MiB).
    pub(crate) fn read(data: &[u8]) -> Result<T, ParseError>
    where
        T: DeserializeOwned,
    {
        check_depth(data)?;
        let mut deserializer = serde_json::Deserializer::from_slice(data);
        deserializer.disable_recursion_limit();
        T::deserialize(&mut deserializer)
            .and_then(|packet| deserializer.end().map(|()| packet))
            .map_err(|e| ParseError::invalid("invalid JSON", e))
    }
}

impl<T> Default for JsonSerializer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonSerializer<T> {
    fn clone(&self) -> Self {
        JsonSerializer {
            ensure_ascii: self.ensure_ascii,
            _packet: PhantomData,
        }
    }
}

impl<T> fmt::Debug for JsonSerializer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonSerializer")
            .field("ensure_ascii", &self.ensure_ascii)
            .finish()
    }
}

impl<S: Serialize + ?Sized, T> PacketSerializer<S> for JsonSerializer<T> {
    fn serialize(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), BoxError> {
        Ok(self.write(packet, dst)?)
    }
}

impl<T: DeserializeOwned> PacketDeserializer for JsonSerializer<T> {
    type Packet = T;

    fn deserialize(&mut self, data: &[u8]) -> Result<T, ParseError> {
        Self::read(data)
    }
}

/// How deeply arrays and objects may nest in a received document.
pub(crate) const MAX_DEPTH: usize = 256;

/// Refuses a document whose arrays and objects nest more than [`MAX_DEPTH`] levels
/// (brackets inside strings do not count), in one pass. Anything else is left to
/// serde_json.
fn check_depth(data: &[u8]) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut pos = 0;
    while pos < data.len() {
        match data[pos] {
            b'"' => {
                // Skip the string: to the next quote that is not escaped.
                pos += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', data.get(pos..).unwrap_or_default()) {
                        None => return Ok(()),
                        Some(j) if data[pos + j] == b'\\' => pos += j + 2,
                        Some(j) => {
                            pos += j + 1;
                            break;
                        }
                    }
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ParseError::invalid_msg(format!(
                        "invalid JSON: nested more than {MAX_DEPTH} levels deep"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        pos += 1;
    }
    Ok(())
}

/// serde_json's compact formatter, escaping what Python's `ensure_ascii=True` escapes:
/// everything outside printable ASCII.
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json already escaped `"`, `\` and the C0 controls; DEL and non-ASCII
        // reach us here.
        let mut plain = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() && c != '\x7f' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[plain..i])?;
            plain = i + c.len_utf8();
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
        }
        writer.write_all(&fragment.as_bytes()[plain..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn encode(serializer: &mut JsonSerializer<Value>, value: &Value) -> Vec<u8> {
        let mut buf = BytesMut::new();
        serializer.serialize(value, &mut buf).unwrap();
        buf.to_vec()
    }

    #[test]
    fn ensure_ascii_escapes_as_python() {
        let value = json!({"t": "café 😀 \u{7f}\u{1} \"q\" \\"});
        assert_eq!(
            encode(&mut JsonSerializer::new().ensure_ascii(), &value),
            br#"{"t":"caf\u00e9 \ud83d\ude00 \u007f\u0001 \"q\" \\"}"#
        );
        assert_eq!(
            encode(&mut JsonSerializer::new(), &value),
            "{\"t\":\"café 😀 \u{7f}\\u0001 \\\"q\\\" \\\\\"}".as_bytes()
        );
    }

    #[test]
    fn deserialize_reports_what_is_wrong() {
        let mut serializer = JsonSerializer::<Value>::new();
        assert_eq!(serializer.deserialize(b" [1] ").unwrap(), json!([1]));
        let e = serializer.deserialize(b"[1] 2").unwrap_err();
        assert!(e.to_string().starts_with("invalid JSON: trailing"), "{e}");
        assert!(serializer.deserialize(b"NaN").is_err());
    }
}
