//! bincode 2 through its serde support (Rust-only).

use std::fmt;
use std::marker::PhantomData;

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{PacketDeserializer, PacketSerializer, append_or_rollback};
use crate::error::{BoxError, ParseError};

/// The most memory bincode may set aside, in all, for the strings and sequences of one
/// packet while decoding it: 16 MiB.
///
/// bincode sizes a `Vec` or a `String` from the length written before it; this limit
/// (bincode's `with_limit`) means a length field can never make the decoder allocate
/// more, whatever it says. Within a frame of at most the protocol's maximum frame size, a
/// real packet stays far below it.
pub const BINCODE_ALLOCATION_LIMIT: usize = 16 * 1024 * 1024;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<BINCODE_ALLOCATION_LIMIT>,
>;

fn config() -> Config {
    bincode::config::standard().with_limit::<BINCODE_ALLOCATION_LIMIT>()
}

/// bincode 2 values (`bincode::config::standard()`: little-endian, variable-length
/// integers), through serde. Rust-only: easynetwork has no bincode.
///
/// bincode is not self-describing: it cannot decode types that ask the format what comes
/// next (`serde_json::Value`, `#[serde(untagged)]` or `#[serde(flatten)]`), and both peers
/// must use the same type. The stream protocol is [`Bincode`](crate::Bincode) (a
/// length prefix before each packet). Decoding never allocates more than
/// [`BINCODE_ALLOCATION_LIMIT`] for one packet.
pub struct BincodeSerializer<T> {
    _packet: PhantomData<fn() -> T>,
}

impl<T> BincodeSerializer<T> {
    /// A bincode serializer with the standard configuration.
    pub fn new() -> Self {
        BincodeSerializer {
            _packet: PhantomData,
        }
    }
}

impl<T> Default for BincodeSerializer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for BincodeSerializer<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for BincodeSerializer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BincodeSerializer")
    }
}

impl<S: Serialize + ?Sized, T> PacketSerializer<S> for BincodeSerializer<T> {
    fn serialize(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), BoxError> {
        append_or_rollback(dst, |dst| {
            bincode::serde::encode_into_std_write(packet, &mut dst.writer(), config()).map(drop)
        })
        .map_err(BoxError::from)
    }
}

impl<T: DeserializeOwned> PacketDeserializer for BincodeSerializer<T> {
    type Packet = T;

    fn deserialize(&mut self, data: &[u8]) -> Result<T, ParseError> {
        match bincode::serde::decode_from_slice(data, config()) {
            Ok((packet, read)) if read == data.len() => Ok(packet),
            Ok((_, read)) => Err(ParseError::invalid_msg(format!(
                "invalid bincode: {} bytes of extra data after the value",
                data.len() - read
            ))),
            Err(bincode::error::DecodeError::LimitExceeded) => {
                Err(ParseError::invalid_msg(format!(
                    "invalid bincode: a length field asks for more than \
                     {BINCODE_ALLOCATION_LIMIT} bytes"
                )))
            }
            Err(e) => Err(ParseError::invalid("invalid bincode", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_announced_lengths_do_not_allocate() {
        let mut serializer = BincodeSerializer::<String>::new();
        // A varint length of 2^40 (0xfd: a u64 follows), then nothing.
        let e = serializer
            .deserialize(b"\xfd\x00\x00\x00\x00\x00\x01\x00\x00")
            .unwrap_err();
        assert!(e.to_string().contains("length field"), "{e}");
        let mut buf = BytesMut::new();
        serializer.serialize("hello", &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x05hello");
        assert_eq!(serializer.deserialize(&buf).unwrap(), "hello");
        buf.extend_from_slice(b"!");
        assert!(serializer.deserialize(&buf).is_err());
    }
}
