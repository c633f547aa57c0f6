//! Length-prefixed frames: a 4-byte big-endian length, then that many bytes.

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::DEFAULT_MAX_FRAME_SIZE;
use crate::error::{ParseError, ProtocolError};
use crate::serializers::{PacketDeserializer, PacketSerializer};

/// The size of the length prefix.
const PREFIX: usize = 4;

/// Length-prefixed packets over any serializer: each packet is its length as a 4-byte
/// big-endian (network order) unsigned integer, then the serializer's bytes.
///
/// The framing of `Bincode` (feature `bincode`), and a way to put any
/// [`PacketSerializer`] on a stream (easynetwork has no such framing: it is Rust-only).
///
/// A length over the frame limit (64 KiB by default) is one
/// [`FrameTooLarge`](crate::ParseErrorKind) error: nothing is allocated for it, its bytes
/// are skipped as they arrive, and the next packet decodes normally. A frame the
/// serializer cannot read is an `InvalidPacket` error and the stream goes on as well.
#[derive(Clone)]
pub struct LengthPrefixed<S> {
    serializer: S,
    max_frame_size: usize,
    /// Bytes of an over-long frame still to skip.
    skipping: usize,
}

impl<S> LengthPrefixed<S> {
    /// Length-prefixed packets of `serializer`, with the default 64 KiB limit.
    pub fn new(serializer: S) -> Self {
        LengthPrefixed {
            serializer,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            skipping: 0,
        }
    }

    /// Sets the maximum size of a received packet (without its prefix), in bytes; at
    /// most `u32::MAX`.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.max_frame_size = max.min(u32::MAX as usize);
        self
    }

    /// The maximum size of a received packet, in bytes.
    pub fn frame_limit(&self) -> usize {
        self.max_frame_size
    }

    /// The serializer.
    pub fn serializer(&self) -> &S {
        &self.serializer
    }
}

impl<S: fmt::Debug> fmt::Debug for LengthPrefixed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LengthPrefixed")
            .field("serializer", &self.serializer)
            .field("max_frame_size", &self.max_frame_size)
            .finish()
    }
}

impl<S: PacketDeserializer> Decoder for LengthPrefixed<S> {
    type Item = S::Packet;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<S::Packet>, ProtocolError> {
        if self.skipping > 0 {
            let skip = self.skipping.min(src.len());
            src.advance(skip);
            self.skipping -= skip;
            if self.skipping > 0 {
                return Ok(None);
            }
        }
        let Some(prefix) = src.get(..PREFIX) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize;
        if len > self.max_frame_size {
            src.advance(PREFIX);
            let skip = len.min(src.len());
            src.advance(skip);
            self.skipping = len - skip;
            return Err(ParseError::frame_too_large(self.max_frame_size).into());
        }
        if src.len() < PREFIX + len {
            // Bounded by the limit: the announced length was checked.
            src.reserve(PREFIX + len - src.len());
            return Ok(None);
        }
        let packet = self.serializer.deserialize(&src[PREFIX..PREFIX + len]);
        src.advance(PREFIX + len);
        Ok(Some(packet?))
    }
}

impl<Sent: ?Sized, S: PacketSerializer<Sent>> Encoder<&Sent> for LengthPrefixed<S> {
    type Error = ProtocolError;

    fn encode(&mut self, packet: &Sent, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let start = dst.len();
        dst.put_u32(0);
        if let Err(e) = self.serializer.serialize(packet, dst) {
            dst.truncate(start);
            return Err(ProtocolError::Serialize(e));
        }
        let len = dst.len() - start - PREFIX;
        let Ok(len) = u32::try_from(len) else {
            dst.truncate(start);
            return Err(ProtocolError::Serialize(
                format!("packet of {len} bytes too large for a 4-byte length").into(),
            ));
        };
        dst[start..start + PREFIX].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

#[cfg(feature = "bincode")]
pub use self::bincode::Bincode;

#[cfg(feature = "bincode")]
mod bincode {
    use super::*;
    use crate::serializers::BincodeSerializer;

    /// bincode 2 packets, each prefixed with its length: Rust-only (easynetwork has no
    /// bincode), for two Rust peers that share their packet types.
    ///
    /// [`LengthPrefixed`] framing (a 4-byte big-endian length) over
    /// [`BincodeSerializer`] (`bincode::config::standard()`). `T` is the type of received
    /// packets; any `Serialize` value can be sent. bincode is not self-describing:
    /// `serde_json::Value` and `#[serde(untagged)]` types cannot be received.
    ///
    /// Neither the prefix nor bincode's own length fields are trusted for allocation: a
    /// prefix over the frame limit (64 KiB by default) is one
    /// [`FrameTooLarge`](crate::ParseErrorKind) error and its bytes are skipped, and
    /// decoding one packet never sets aside more than
    /// [`BINCODE_ALLOCATION_LIMIT`](crate::BINCODE_ALLOCATION_LIMIT). A frame that is not
    /// a valid `T` is an `InvalidPacket` error. The stream stays usable in every case.
    pub struct Bincode<T>(LengthPrefixed<BincodeSerializer<T>>);

    impl<T> Bincode<T> {
        /// bincode packets with the default 64 KiB frame limit.
        pub fn new() -> Self {
            Bincode(LengthPrefixed::new(BincodeSerializer::new()))
        }

        /// Sets the maximum size of a received packet (without its prefix), in bytes.
        pub fn max_frame_size(self, max: usize) -> Self {
            Bincode(self.0.max_frame_size(max))
        }

        /// The maximum size of a received packet, in bytes.
        pub fn frame_limit(&self) -> usize {
            self.0.frame_limit()
        }
    }

    impl<T> Default for Bincode<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T> Clone for Bincode<T> {
        fn clone(&self) -> Self {
            Bincode(self.0.clone())
        }
    }

    impl<T> fmt::Debug for Bincode<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Bincode")
                .field("max_frame_size", &self.0.frame_limit())
                .finish()
        }
    }

    impl<T: serde::de::DeserializeOwned> Decoder for Bincode<T> {
        type Item = T;
        type Error = ProtocolError;

        fn decode(&mut self, src: &mut BytesMut) -> Result<Option<T>, ProtocolError> {
            self.0.decode(src)
        }
    }

    impl<S: serde::Serialize + ?Sized, T> Encoder<&S> for Bincode<T> {
        type Error = ProtocolError;

        fn encode(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), ProtocolError> {
            self.0.encode(packet, dst)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StringSerializer;

    #[test]
    fn over_long_lengths_are_skipped_without_allocating() {
        let mut codec = LengthPrefixed::new(StringSerializer::new()).max_frame_size(4);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"\x00\x00\x00\x06abc");
        match codec.decode(&mut buf) {
            Err(ProtocolError::Parse(e)) => {
                assert_eq!(e.kind(), crate::ParseErrorKind::FrameTooLarge)
            }
            other => panic!("{other:?}"),
        }
        assert!(buf.is_empty());
        buf.extend_from_slice(b"def\x00\x00");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"\x00\x02ok\xff\xff\xff\xff");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "ok");
        assert!(codec.decode(&mut buf).is_err());
        assert!(buf.capacity() < 1024, "no allocation for a 4 GiB length");
        let mut out = BytesMut::new();
        codec.encode("héllo", &mut out).unwrap();
        assert_eq!(&out[..], b"\x00\x00\x00\x06h\xc3\xa9llo");
    }
}
