//! CBOR through ciborium: the analog of easynetwork's `CBORSerializer`.

use std::fmt;
use std::marker::PhantomData;

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{PacketDeserializer, PacketSerializer, append_or_rollback};
use crate::error::{BoxError, ParseError};
use crate::protocol::skim::{Scan, Skim, be_uint, skim_whole};

/// How deeply arrays, maps and indefinite-length strings may nest (ciborium's own
/// recursion limit).
pub(crate) const MAX_DEPTH: usize = 256;

/// CBOR values (RFC 8949): the analog of easynetwork's `CBORSerializer`, without framing.
///
/// Serializes any `Serialize` value with ciborium and deserializes `T` (any `serde` type,
/// or `serde_json::Value` for JSON-like data). The stream protocol is [`Cbor`](crate::Cbor).
///
/// Compared with Python's `cbor2`: floats are sent in the shortest form that keeps their
/// value (`1.5` as a 16-bit float; cbor2 sends 64 bits) and both read either; maps,
/// strings, byte strings, integers and arrays are encoded alike. Tagged values (dates,
/// big integers beyond 128 bits, ...) reach serde as enums: `serde_json::Value` refuses
/// them (a parse error).
pub struct CborSerializer<T> {
    _packet: PhantomData<fn() -> T>,
}

impl<T> CborSerializer<T> {
    /// A CBOR serializer.
    pub fn new() -> Self {
        CborSerializer {
            _packet: PhantomData,
        }
    }

    /// Appends the CBOR of `packet` to `dst` (nothing on error).
    pub(crate) fn write<S: Serialize + ?Sized>(
        packet: &S,
        dst: &mut BytesMut,
    ) -> Result<(), BoxError> {
        append_or_rollback(dst, |dst| ciborium::into_writer(packet, dst.writer()))
            .map_err(|e| BoxError::from(e.to_string()))
    }

    /// Reads the value of `data`, already known to hold exactly one well-formed item.
    pub(crate) fn read(data: &[u8]) -> Result<T, ParseError>
    where
        T: DeserializeOwned,
    {
        ciborium::from_reader(data).map_err(|e| {
            ParseError::invalid_msg(match e {
                ciborium::de::Error::Io(_) => "invalid CBOR: missing data".to_owned(),
                ciborium::de::Error::Syntax(at) => {
                    format!("invalid CBOR: syntax error at byte {at}")
                }
                ciborium::de::Error::Semantic(Some(at), message) => {
                    format!("invalid CBOR: {message} (at byte {at})")
                }
                ciborium::de::Error::Semantic(None, message) => format!("invalid CBOR: {message}"),
                ciborium::de::Error::RecursionLimitExceeded => {
                    format!("invalid CBOR: nested more than {MAX_DEPTH} levels deep")
                }
            })
        })
    }
}

impl<T> Default for CborSerializer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for CborSerializer<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for CborSerializer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CborSerializer")
    }
}

impl<S: Serialize + ?Sized, T> PacketSerializer<S> for CborSerializer<T> {
    fn serialize(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), BoxError> {
        Self::write(packet, dst)
    }
}

impl<T: DeserializeOwned> PacketDeserializer for CborSerializer<T> {
    type Packet = T;

    fn deserialize(&mut self, data: &[u8]) -> Result<T, ParseError> {
        skim_whole(CborSkim::default(), data, "CBOR")?;
        Self::read(data)
    }
}

/// An open container of the item being scanned.
#[derive(Debug, Clone, Copy)]
enum Level {
    /// A definite-length array or map: this many items still to come.
    Items(u64),
    /// An indefinite-length array.
    IndefiniteArray,
    /// An indefinite-length map; `odd` after a key.
    IndefiniteMap { odd: bool },
    /// An indefinite-length byte (2) or text (3) string: definite chunks of that type.
    IndefiniteString(u8),
}

/// Finds where a CBOR data item ends (RFC 8949 section 3), resumably.
#[derive(Debug, Clone, Default)]
pub(crate) struct CborSkim {
    stack: Vec<Level>,
    /// Payload bytes of a string still to skip.
    pending: u64,
    /// A tag was read: an item must follow.
    after_tag: bool,
}

impl CborSkim {
    /// One item is complete; returns whether the whole data item is.
    fn item_done(&mut self) -> bool {
        self.after_tag = false;
        while let Some(level) = self.stack.last_mut() {
            match level {
                Level::Items(left) => {
                    *left -= 1;
                    if *left > 0 {
                        return false;
                    }
                    self.stack.pop();
                }
                Level::IndefiniteMap { odd } => {
                    *odd = !*odd;
                    return false;
                }
                Level::IndefiniteArray | Level::IndefiniteString(_) => return false,
            }
        }
        true
    }

    fn push(&mut self, level: Level, at: usize) -> Result<(), Scan> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(malformed(
                at,
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        self.after_tag = false;
        self.stack.push(level);
        Ok(())
    }
}

fn malformed(at: usize, what: impl fmt::Display) -> Scan {
    Scan::Malformed {
        consumed: at + 1,
        message: format!("invalid CBOR: {what}"),
    }
}

impl Skim for CborSkim {
    fn scan(&mut self, input: &[u8]) -> Scan {
        let mut pos = 0;
        loop {
            if self.pending > 0 {
                let available = (input.len() - pos) as u64;
                let take = self.pending.min(available);
                pos += take as usize;
                self.pending -= take;
                if self.pending > 0 {
                    return Scan::Incomplete { consumed: pos };
                }
                if self.item_done() {
                    return Scan::Complete { consumed: pos };
                }
                continue;
            }
            let Some(&initial) = input.get(pos) else {
                return Scan::Incomplete { consumed: pos };
            };
            let major = initial >> 5;
            let info = initial & 0x1f;
            let (argument, header_len) = match info {
                0..=23 => (Some(u64::from(info)), 1),
                24..=27 => {
                    let size = 1usize << (info - 24);
                    let Some(bytes) = input.get(pos + 1..pos + 1 + size) else {
                        return Scan::Incomplete { consumed: pos };
                    };
                    (Some(be_uint(bytes)), 1 + size)
                }
                28..=30 => {
                    return malformed(pos, format!("reserved header byte 0x{initial:02x}"));
                }
                _ => (None, 1),
            };
            if let Some(Level::IndefiniteString(string_major)) = self.stack.last()
                && initial != 0xff
                && (major != *string_major || argument.is_none())
            {
                return malformed(
                    pos,
                    format!("header byte 0x{initial:02x} inside an indefinite-length string"),
                );
            }
            let at = pos;
            pos += header_len;
            let done = match (major, argument) {
                (0 | 1, Some(_)) => true,
                (2 | 3, Some(len)) => {
                    self.after_tag = false;
                    self.pending = len;
                    if len > 0 {
                        continue;
                    }
                    true
                }
                (2 | 3, None) => {
                    if let Err(scan) = self.push(Level::IndefiniteString(major), at) {
                        return scan;
                    }
                    false
                }
                (4 | 5, Some(0)) => true,
                (4, Some(len)) => {
                    if let Err(scan) = self.push(Level::Items(len), at) {
                        return scan;
                    }
                    false
                }
                (5, Some(len)) => {
                    let Some(items) = len.checked_mul(2) else {
                        return malformed(at, "map length out of range");
                    };
                    if let Err(scan) = self.push(Level::Items(items), at) {
                        return scan;
                    }
                    false
                }
                (4, None) => {
                    if let Err(scan) = self.push(Level::IndefiniteArray, at) {
                        return scan;
                    }
                    false
                }
                (5, None) => {
                    if let Err(scan) = self.push(Level::IndefiniteMap { odd: false }, at) {
                        return scan;
                    }
                    false
                }
                (6, Some(_)) => {
                    self.after_tag = true;
                    false
                }
                (7, None) => {
                    // A break: it ends the innermost indefinite-length item.
                    let closes = matches!(
                        self.stack.last(),
                        Some(
                            Level::IndefiniteArray
                                | Level::IndefiniteString(_)
                                | Level::IndefiniteMap { odd: false }
                        )
                    );
                    if !closes || self.after_tag {
                        return malformed(at, "unexpected break byte 0xff");
                    }
                    self.stack.pop();
                    true
                }
                (7, Some(simple)) if info == 24 && simple < 32 => {
                    return malformed(at, format!("invalid simple value {simple}"));
                }
                (7, Some(_)) => true,
                (_, None) => {
                    return malformed(
                        at,
                        format!("indefinite length in header byte 0x{initial:02x}"),
                    );
                }
                _ => unreachable!("major types are 0 to 7"),
            };
            if done && self.item_done() {
                return Scan::Complete { consumed: pos };
            }
        }
    }

    fn pending(&self) -> u64 {
        self.pending
    }

    fn reset(&mut self) {
        self.stack.clear();
        self.pending = 0;
        self.after_tag = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(bytes: &[u8]) -> Scan {
        CborSkim::default().scan(bytes)
    }

    #[test]
    fn finds_the_end_of_items() {
        // RFC 8949 appendix A examples.
        let items: &[&[u8]] = &[
            b"\x00",
            b"\x1b\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x3b\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xf9\x3e\x00",
            b"\xfb\x7e\x37\xe4\x3c\x88\x00\x75\x9c",
            b"\xf4",
            b"\xf8\xff",
            b"\xc1\x1a\x51\x4b\x67\xb0",
            b"\x44\x01\x02\x03\x04",
            b"\x62\xc3\xbc",
            b"\x83\x01\x82\x02\x03\x82\x04\x05",
            b"\xa2\x61\x61\x01\x61\x62\x82\x02\x03",
            b"\x5f\x42\x01\x02\x43\x03\x04\x05\xff",
            b"\x7f\x65\x73\x74\x72\x65\x61\x64\x6d\x69\x6e\x67\xff",
            b"\x9f\x01\x82\x02\x03\x9f\x04\x05\xff\xff",
            b"\xbf\x61\x61\x01\x61\x62\x9f\x02\x03\xff\xff",
            b"\x80",
            b"\xa0",
            b"\x9f\xff",
        ];
        for item in items {
            assert_eq!(
                scan_all(item),
                Scan::Complete {
                    consumed: item.len()
                },
                "{item:x?}"
            );
            for split in 1..item.len() {
                let mut skim = CborSkim::default();
                let Scan::Incomplete { consumed } = skim.scan(&item[..split]) else {
                    panic!("{item:x?} split at {split}");
                };
                assert_eq!(
                    skim.scan(&item[consumed..]),
                    Scan::Complete {
                        consumed: item.len() - consumed
                    },
                    "{item:x?} split at {split}"
                );
            }
        }
    }

    #[test]
    fn malformed_items() {
        for bad in [
            &b"\x1c"[..],
            b"\xff",
            b"\x9f\x01\xc1\xff",
            b"\xbf\x01\xff",
            b"\x5f\x61\x61\xff",
            b"\x1f",
            b"\xf8\x10",
        ] {
            assert!(
                matches!(scan_all(bad), Scan::Malformed { .. }),
                "{bad:x?}: {:?}",
                scan_all(bad)
            );
        }
        let mut deep = vec![0x81u8; MAX_DEPTH + 1];
        deep.push(0);
        assert!(
            matches!(scan_all(&deep), Scan::Malformed { consumed, .. } if consumed == MAX_DEPTH + 1)
        );
    }

    #[test]
    fn announced_lengths_are_not_allocated() {
        let mut skim = CborSkim::default();
        assert_eq!(
            skim.scan(b"\x5b\x00\x00\x00\x10\x00\x00\x00\x00ab"),
            Scan::Incomplete { consumed: 11 }
        );
        assert_eq!(skim.pending(), (1 << 36) - 2);
    }
}
