//! Text: the one-shot half of easynetwork's `StringLineSerializer`.

use bytes::{BufMut, BytesMut};

use super::{PacketDeserializer, PacketSerializer};
use crate::error::{BoxError, ParseError};

/// Text as bytes: UTF-8 (or ASCII only), with no newline.
///
/// What easynetwork's `StringLineSerializer.serialize` / `deserialize` do, for use inside
/// the wrappers (`Base64<StringSerializer>`); the line protocol itself is
/// [`StringLines`](crate::StringLines). Python's `StringLineSerializer` defaults to ASCII,
/// this serializer to UTF-8; [`ascii`](Self::ascii) restricts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerializer {
    ascii: bool,
}

impl StringSerializer {
    /// UTF-8 text.
    pub fn new() -> Self {
        StringSerializer { ascii: false }
    }

    /// ASCII text only: other characters are refused both ways.
    pub fn ascii(mut self) -> Self {
        self.ascii = true;
        self
    }
}

impl<S: AsRef<str> + ?Sized> PacketSerializer<S> for StringSerializer {
    fn serialize(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), BoxError> {
        let text = packet.as_ref();
        if self.ascii && !text.is_ascii() {
            return Err("text has non-ASCII characters".into());
        }
        dst.put_slice(text.as_bytes());
        Ok(())
    }
}

impl PacketDeserializer for StringSerializer {
    type Packet = String;

    fn deserialize(&mut self, data: &[u8]) -> Result<String, ParseError> {
        if self.ascii
            && let Some(i) = data.iter().position(|b| !b.is_ascii())
        {
            return Err(ParseError::invalid_msg(format!(
                "invalid ASCII: byte 0x{:02x} at position {i}",
                data[i]
            )));
        }
        match std::str::from_utf8(data) {
            Ok(text) => Ok(text.to_owned()),
            Err(e) => Err(ParseError::invalid("invalid UTF-8", e)),
        }
    }
}
