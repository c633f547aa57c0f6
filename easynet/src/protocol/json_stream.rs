//! JSON documents back to back: easynetwork's `JSONSerializer(use_lines=False)`.
#![cfg(feature = "json")]

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::{Decoder, Encoder};

use super::DEFAULT_MAX_FRAME_SIZE;
use super::skim::{Scan, Skim, SkimFramer};
use crate::error::ProtocolError;
use crate::serializers::JsonSerializer;

/// JSON documents back to back, with no separator between objects, arrays and strings:
/// easynetwork 1.2.0's `JSONSerializer(use_lines=False)`.
///
/// Sending: each packet is one compact document; a `\n` follows it only when it is not an
/// object, an array or a string (a number, `true`, `false`, `null`), so that the receiver
/// can tell where it ends — exactly what Python sends.
///
/// Receiving follows Python's framing byte for byte: whitespace between documents is
/// skipped; a document that starts with `{`, `[` or `"` ends at the bracket or quote
/// that closes it (brackets inside strings and escaped characters do not count); any
/// other document ends before the first byte that is not printable ASCII (so `12 34\n`
/// is one document, which is invalid JSON, as in Python). Then the document is decoded as
/// [`JsonLines`](crate::JsonLines) decodes a line.
///
/// Bad input: a document over the frame limit (64 KiB by default) is one
/// [`FrameTooLarge`](crate::ParseErrorKind) error, and is skipped to its end (easynetwork
/// instead drops only what it has buffered, and reads the rest of the document as new
/// ones); a complete document that is not valid JSON for `T` is an `InvalidPacket` error;
/// a byte that cannot start a document (a control character, or non-ASCII outside a
/// string) is an error and is skipped with the bytes of the same kind after it. The
/// stream stays usable in every case.
pub struct JsonStream<T> {
    framer: SkimFramer<JsonSkim>,
    serializer: JsonSerializer<T>,
}

impl<T> JsonStream<T> {
    /// JSON documents back to back, with the default 64 KiB frame limit.
    pub fn new() -> Self {
        JsonStream {
            framer: SkimFramer::new(JsonSkim::default(), DEFAULT_MAX_FRAME_SIZE),
            serializer: JsonSerializer::new(),
        }
    }

    /// Sets the maximum size of a received document, in bytes.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.framer = SkimFramer::new(JsonSkim::default(), max);
        self
    }

    /// The maximum size of a received document, in bytes.
    pub fn frame_limit(&self) -> usize {
        self.framer.max_frame_size()
    }

    /// Escapes non-ASCII text as `\uXXXX` when sending, as Python's default
    /// `ensure_ascii=True` (see [`JsonSerializer::ensure_ascii`]).
    pub fn ensure_ascii(mut self) -> Self {
        self.serializer = self.serializer.ensure_ascii();
        self
    }
}

impl<T> Default for JsonStream<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonStream<T> {
    fn clone(&self) -> Self {
        JsonStream {
            framer: SkimFramer::new(JsonSkim::default(), self.framer.max_frame_size()),
            serializer: self.serializer.clone(),
        }
    }
}

impl<T> fmt::Debug for JsonStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonStream")
            .field("max_frame_size", &self.framer.max_frame_size())
            .field("ensure_ascii", &self.serializer.is_ensure_ascii())
            .finish()
    }
}

impl<T: DeserializeOwned> Decoder for JsonStream<T> {
    type Item = T;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<T>, ProtocolError> {
        let Some(len) = self.framer.next_frame(src)? else {
            return Ok(None);
        };
        let packet = JsonSerializer::<T>::read(&src[..len]);
        // Whitespace already received after the document goes with it, as in Python
        // (the `\n` after a number): nothing is left buffered for nothing.
        let whitespace = src[len..].iter().take_while(|&&b| is_whitespace(b)).count();
        src.advance(len + whitespace);
        Ok(Some(packet?))
    }
}

impl<S: Serialize + ?Sized, T> Encoder<&S> for JsonStream<T> {
    type Error = ProtocolError;

    fn encode(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let start = dst.len();
        self.serializer
            .write(packet, dst)
            .map_err(|e| ProtocolError::Serialize(Box::new(e)))?;
        // Python: `if not data.startswith((b"{", b"[", b'"')): data += b"\n"`.
        if !matches!(dst.get(start), Some(b'{' | b'[' | b'"')) {
            dst.put_u8(b'\n');
        }
        Ok(())
    }
}

/// Where the scan of a JSON document is.
#[derive(Debug, Clone, Copy, Default)]
enum Phase {
    /// Before the document (whitespace may come first).
    #[default]
    Start,
    /// In a number or a literal: it ends before the first non-printable byte.
    Scalar,
    /// In an object, an array or a string, counting only `open` and `close` bytes outside
    /// strings (Python's `_JSONParser`).
    Enclosed {
        open: u8,
        close: u8,
        depth: u64,
        in_string: bool,
        escape: bool,
    },
}

/// Finds where a JSON document ends, as easynetwork's `_JSONParser.raw_parse`.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonSkim {
    phase: Phase,
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_printable(byte: u8) -> bool {
    (0x20..=0x7e).contains(&byte)
}

impl Skim for JsonSkim {
    fn scan(&mut self, input: &[u8]) -> Scan {
        let mut pos = 0;
        if let Phase::Start = self.phase {
            let whitespace = input.iter().take_while(|&&b| is_whitespace(b)).count();
            if input.is_empty() {
                return Scan::Incomplete { consumed: 0 };
            }
            if whitespace > 0 {
                return Scan::Skip { skip: whitespace };
            }
            self.phase = match input[0] {
                open @ (b'{' | b'[' | b'"') => {
                    pos = 1;
                    Phase::Enclosed {
                        open,
                        close: match open {
                            b'{' => b'}',
                            b'[' => b']',
                            _ => b'"',
                        },
                        depth: 1,
                        in_string: open == b'"',
                        escape: false,
                    }
                }
                byte if is_printable(byte) => Phase::Scalar,
                byte => {
                    let run = input[1..]
                        .iter()
                        .take_while(|&&b| !is_printable(b) && !is_whitespace(b))
                        .count();
                    return Scan::Malformed {
                        consumed: 1 + run,
                        message: format!(
                            "invalid JSON: a document cannot start with byte 0x{byte:02x}"
                        ),
                    };
                }
            };
        }
        match &mut self.phase {
            Phase::Start => unreachable!("the phase was set above"),
            Phase::Scalar => match input.iter().position(|&b| !is_printable(b)) {
                Some(end) => Scan::Complete { consumed: end },
                None => Scan::Incomplete {
                    consumed: input.len(),
                },
            },
            Phase::Enclosed {
                open,
                close,
                depth,
                in_string,
                escape,
            } => {
                while pos < input.len() {
                    if *escape {
                        *escape = false;
                        pos += 1;
                        continue;
                    }
                    if *in_string {
                        // Jump to the next byte that matters inside a string.
                        match memchr::memchr2(b'"', b'\\', &input[pos..]) {
                            Some(i) => pos += i,
                            None => {
                                pos = input.len();
                                break;
                            }
                        }
                    }
                    match input[pos] {
                        b'\\' => *escape = true,
                        b'"' => {
                            *in_string = !*in_string;
                            if *close == b'"' {
                                *depth -= 1;
                            }
                        }
                        _ if *in_string => {}
                        byte if byte == *close => *depth -= 1,
                        byte if byte == *open => *depth += 1,
                        _ => {}
                    }
                    pos += 1;
                    if *depth == 0 {
                        return Scan::Complete { consumed: pos };
                    }
                }
                Scan::Incomplete { consumed: pos }
            }
        }
    }

    fn pending(&self) -> u64 {
        0
    }

    fn reset(&mut self) {
        self.phase = Phase::Start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParseErrorKind;
    use serde_json::{Value, json};

    fn decode_chunks(
        codec: &mut JsonStream<Value>,
        chunks: &[&[u8]],
    ) -> Vec<Result<Value, ParseErrorKind>> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(v)) => out.push(Ok(v)),
                    Ok(None) => break,
                    Err(ProtocolError::Parse(e)) => out.push(Err(e.kind())),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        out
    }

    #[test]
    fn newline_only_after_scalars() {
        let mut codec = JsonStream::<Value>::new();
        let mut buf = BytesMut::new();
        for value in [
            json!({"a": 1}),
            json!([1]),
            json!("s"),
            json!(1),
            json!(null),
            json!(-2.5),
        ] {
            codec.encode(&value, &mut buf).unwrap();
        }
        assert_eq!(&buf[..], b"{\"a\":1}[1]\"s\"1\nnull\n-2.5\n");
    }

    #[test]
    fn split_anywhere_decodes_the_same() {
        let stream: &[u8] =
            b" {\"a\":\"}{[\\\"\",\"b\":[{}]}[1,[2,\"]\"]]\"x\\\\\"12\ntrue\r\n\t\"\\u00e9\"null\n";
        let expected = vec![
            json!({"a": "}{[\"", "b": [{}]}),
            json!([1, [2, "]"]]),
            json!("x\\"),
            json!(12),
            json!(true),
            json!("é"),
            json!(null),
        ];
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            let got = decode_chunks(&mut JsonStream::new(), &[a, b]);
            let got: Vec<Value> = got.into_iter().map(Result::unwrap).collect();
            assert_eq!(got, expected, "split at {split}");
        }
        // One byte at a time.
        let chunks: Vec<&[u8]> = stream.chunks(1).collect();
        let got = decode_chunks(&mut JsonStream::new(), &chunks);
        assert_eq!(got.len(), expected.len());
    }

    #[test]
    fn bad_input_and_the_stream_goes_on() {
        let got = decode_chunks(
            &mut JsonStream::new(),
            &[b"{oops}\x00\x01[1]12 34\n\xc3\xa9 \"ok\""],
        );
        use ParseErrorKind::InvalidPacket;
        assert_eq!(
            got,
            vec![
                Err(InvalidPacket),
                Err(InvalidPacket),
                Ok(json!([1])),
                Err(InvalidPacket),
                Err(InvalidPacket),
                Ok(json!("ok")),
            ]
        );
    }

    #[test]
    fn over_long_documents_are_skipped_to_their_end() {
        let mut codec = JsonStream::<Value>::new().max_frame_size(16);
        let long = format!("{{\"k\":\"{}\",\"n\":[{{}}]}}", "}".repeat(100));
        let mut chunks: Vec<&[u8]> = long.as_bytes().chunks(7).collect();
        chunks.push(b"[\"next\"]");
        let got = decode_chunks(&mut codec, &chunks);
        assert_eq!(
            got,
            vec![Err(ParseErrorKind::FrameTooLarge), Ok(json!(["next"]))]
        );
        // Whole, and a scalar.
        let got = decode_chunks(&mut codec, &[long.as_bytes(), b"12345678901234567890\n1\n"]);
        assert_eq!(
            got,
            vec![
                Err(ParseErrorKind::FrameTooLarge),
                Err(ParseErrorKind::FrameTooLarge),
                Ok(json!(1))
            ]
        );
        // Whitespace between documents is not counted.
        let spaces = " ".repeat(100);
        let got = decode_chunks(&mut codec, &[spaces.as_bytes(), b"[2]"]);
        assert_eq!(got, vec![Ok(json!([2]))]);
    }
}
