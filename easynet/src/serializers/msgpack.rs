//! MessagePack through rmp-serde: the analog of easynetwork's `MessagePackSerializer`.

use std::fmt;
use std::marker::PhantomData;

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{PacketDeserializer, PacketSerializer, append_or_rollback};
use crate::error::{BoxError, ParseError};
use crate::protocol::skim::{Scan, Skim, be_uint, skim_whole};

/// How deeply arrays and maps may nest.
pub(crate) const MAX_DEPTH: usize = 256;

/// MessagePack values: the analog of easynetwork's `MessagePackSerializer`, without
/// framing.
///
/// Serializes any `Serialize` value with rmp-serde, structs as maps with their field
/// names (what Python's `msgpack` gives a `dict`), byte strings (`serde_bytes`, `&[u8]`)
/// as `bin` and text as `str` (as Python's default `use_bin_type=True`); integers take
/// the smallest encoding and floats are 64-bit, as Python's `msgpack.packb`.
/// Deserializes `T` (any `serde` type, or `serde_json::Value` for JSON-like data, which
/// has no place for `bin` or ext values: those are parse errors). The stream protocol is
/// [`MsgPack`](crate::MsgPack).
pub struct MsgPackSerializer<T> {
    _packet: PhantomData<fn() -> T>,
}

impl<T> MsgPackSerializer<T> {
    /// A MessagePack serializer.
    pub fn new() -> Self {
        MsgPackSerializer {
            _packet: PhantomData,
        }
    }

    /// Appends the MessagePack of `packet` to `dst` (nothing on error).
    pub(crate) fn write<S: Serialize + ?Sized>(
        packet: &S,
        dst: &mut BytesMut,
    ) -> Result<(), BoxError> {
        append_or_rollback(dst, |dst| {
            let mut serializer = rmp_serde::Serializer::new(dst.writer()).with_struct_map();
            packet.serialize(&mut serializer)
        })
        .map_err(BoxError::from)
    }

    /// Reads the value of `data`, already known to hold exactly one well-formed value.
    pub(crate) fn read(data: &[u8]) -> Result<T, ParseError>
    where
        T: DeserializeOwned,
    {
        let mut deserializer = rmp_serde::Deserializer::from_read_ref(data);
        deserializer.set_max_depth(MAX_DEPTH + 1);
        T::deserialize(&mut deserializer)
            .map_err(|e| ParseError::invalid_msg(format!("invalid MessagePack: {e}")))
    }
}

impl<T> Default for MsgPackSerializer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for MsgPackSerializer<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for MsgPackSerializer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MsgPackSerializer")
    }
}

impl<S: Serialize + ?Sized, T> PacketSerializer<S> for MsgPackSerializer<T> {
    fn serialize(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), BoxError> {
        Self::write(packet, dst)
    }
}

impl<T: DeserializeOwned> PacketDeserializer for MsgPackSerializer<T> {
    type Packet = T;

    fn deserialize(&mut self, data: &[u8]) -> Result<T, ParseError> {
        skim_whole(MsgPackSkim::default(), data, "MessagePack")?;
        Self::read(data)
    }
}

/// Finds where a MessagePack value ends, resumably.
#[derive(Debug, Clone, Default)]
pub(crate) struct MsgPackSkim {
    /// For each open array or map, how many values are still to come.
    stack: Vec<u64>,
    /// Payload bytes still to skip.
    pending: u64,
}

impl MsgPackSkim {
    /// One value is complete; returns whether the outermost one is.
    fn value_done(&mut self) -> bool {
        while let Some(left) = self.stack.last_mut() {
            *left -= 1;
            if *left > 0 {
                return false;
            }
            self.stack.pop();
        }
        true
    }
}

/// What a MessagePack type byte announces.
enum Header {
    /// A value of `payload` bytes after the header, whose length field (if any) is
    /// `length_size` bytes; `extra` bytes (an ext's type) come on top of the length.
    Payload {
        length_size: usize,
        fixed: u64,
        extra: u64,
    },
    /// An array or map of `items` values (a map counts keys and values), or of a length
    /// given in `length_size` bytes, times `per_entry`.
    Container {
        length_size: usize,
        fixed: u64,
        per_entry: u64,
    },
    /// The never-used byte 0xc1.
    Invalid,
}

fn header(byte: u8) -> Header {
    use Header::{Container, Invalid, Payload};
    let payload = |length_size, fixed, extra| Payload {
        length_size,
        fixed,
        extra,
    };
    match byte {
        0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => payload(0, 0, 0),
        0x80..=0x8f => Container {
            length_size: 0,
            fixed: u64::from(byte & 0x0f),
            per_entry: 2,
        },
        0x90..=0x9f => Container {
            length_size: 0,
            fixed: u64::from(byte & 0x0f),
            per_entry: 1,
        },
        0xa0..=0xbf => payload(0, u64::from(byte & 0x1f), 0),
        0xc1 => Invalid,
        0xc4 | 0xd9 => payload(1, 0, 0),
        0xc5 | 0xda => payload(2, 0, 0),
        0xc6 | 0xdb => payload(4, 0, 0),
        0xc7 => payload(1, 0, 1),
        0xc8 => payload(2, 0, 1),
        0xc9 => payload(4, 0, 1),
        0xca => payload(0, 4, 0),
        0xcb => payload(0, 8, 0),
        0xcc | 0xd0 => payload(0, 1, 0),
        0xcd | 0xd1 => payload(0, 2, 0),
        0xce | 0xd2 => payload(0, 4, 0),
        0xcf | 0xd3 => payload(0, 8, 0),
        0xd4 => payload(0, 2, 0),
        0xd5 => payload(0, 3, 0),
        0xd6 => payload(0, 5, 0),
        0xd7 => payload(0, 9, 0),
        0xd8 => payload(0, 17, 0),
        0xdc => Container {
            length_size: 2,
            fixed: 0,
            per_entry: 1,
        },
        0xdd => Container {
            length_size: 4,
            fixed: 0,
            per_entry: 1,
        },
        0xde => Container {
            length_size: 2,
            fixed: 0,
            per_entry: 2,
        },
        0xdf => Container {
            length_size: 4,
            fixed: 0,
            per_entry: 2,
        },
    }
}

impl Skim for MsgPackSkim {
    fn scan(&mut self, input: &[u8]) -> Scan {
        let mut pos = 0;
        loop {
            if self.pending > 0 {
                let take = self.pending.min((input.len() - pos) as u64);
                pos += take as usize;
                self.pending -= take;
                if self.pending > 0 {
                    return Scan::Incomplete { consumed: pos };
                }
                if self.value_done() {
                    return Scan::Complete { consumed: pos };
                }
                continue;
            }
            let Some(&byte) = input.get(pos) else {
                return Scan::Incomplete { consumed: pos };
            };
            let length = |size: usize| input.get(pos + 1..pos + 1 + size).map(be_uint);
            match header(byte) {
                Header::Invalid => {
                    return Scan::Malformed {
                        consumed: pos + 1,
                        message: "invalid MessagePack: byte 0xc1 is never used".to_owned(),
                    };
                }
                Header::Payload {
                    length_size,
                    fixed,
                    extra,
                } => {
                    let Some(len) = length(length_size) else {
                        return Scan::Incomplete { consumed: pos };
                    };
                    pos += 1 + length_size;
                    self.pending = fixed + len + extra;
                    if self.pending == 0 && self.value_done() {
                        return Scan::Complete { consumed: pos };
                    }
                }
                Header::Container {
                    length_size,
                    fixed,
                    per_entry,
                } => {
                    let Some(len) = length(length_size) else {
                        return Scan::Incomplete { consumed: pos };
                    };
                    pos += 1 + length_size;
                    let items = (fixed + len) * per_entry;
                    if items == 0 {
                        if self.value_done() {
                            return Scan::Complete { consumed: pos };
                        }
                    } else if self.stack.len() >= MAX_DEPTH {
                        return Scan::Malformed {
                            consumed: pos - length_size,
                            message: format!(
                                "invalid MessagePack: nested more than {MAX_DEPTH} levels deep"
                            ),
                        };
                    } else {
                        self.stack.push(items);
                    }
                }
            }
        }
    }

    fn pending(&self) -> u64 {
        self.pending
    }

    fn reset(&mut self) {
        self.stack.clear();
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_values() {
        let values: &[&[u8]] = &[
            b"\x01",
            b"\xff",
            b"\xc0",
            b"\xcf\x01\x02\x03\x04\x05\x06\x07\x08",
            b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00",
            b"\xa3abc",
            b"\xd9\x03abc",
            b"\xc4\x02\x01\x02",
            b"\xc7\x01\x05\xaa",
            b"\xd6\xff\x00\x00\x00\x01",
            b"\x92\x01\x92\x02\x03",
            b"\x82\xa1a\x01\xa1b\x90",
            b"\xdc\x00\x02\xc2\xc3",
            b"\xde\x00\x01\xa1k\x80",
            b"\x80",
            b"\x90",
        ];
        for value in values {
            for split in 0..value.len() {
                let mut skim = MsgPackSkim::default();
                let first = skim.scan(&value[..split]);
                let Scan::Incomplete { consumed } = first else {
                    panic!("{value:x?} split at {split}: {first:?}");
                };
                assert_eq!(
                    skim.scan(&value[consumed..]),
                    Scan::Complete {
                        consumed: value.len() - consumed
                    },
                    "{value:x?} split at {split}"
                );
            }
        }
        assert!(matches!(
            MsgPackSkim::default().scan(b"\x92\x01\xc1"),
            Scan::Malformed { consumed: 3, .. }
        ));
    }
}
