//! [`DatagramProtocol`]: packets over datagrams (UDP, Unix datagram sockets), one packet
//! per datagram.
//!
//! A datagram is already a frame: there is no separator, no length prefix, no partial
//! packet. So a datagram protocol is a one-shot serializer ([`PacketSerializer`] and
//! [`PacketDeserializer`]): [`JsonSerializer`](crate::JsonSerializer),
//! [`CborSerializer`](crate::CborSerializer),
//! [`MsgPackSerializer`](crate::MsgPackSerializer),
//! [`BincodeSerializer`](crate::BincodeSerializer), [`StringSerializer`](crate::StringSerializer),
//! and the [`Base64`](crate::Base64), [`Zlib`](crate::Zlib) and [`Bz2`](crate::Bz2)
//! wrappers around any of them. The bytes of a datagram are exactly the serializer's
//! output, as in Python easynetwork's `DatagramProtocol(serializer)`: the two interoperate
//! with the same serializer.

use std::fmt;

use bytes::BytesMut;

use crate::error::{ParseError, SendError};
use crate::serializers::{PacketDeserializer, PacketSerializer};

/// The largest datagram sent or received: 64 KiB, easynetwork's `MAX_DATAGRAM_BUFSIZE`.
///
/// UDP itself carries at most 65,507 bytes over IPv4; a packet that serializes to more
/// than the limit is refused at send ([`SendError::TooLarge`]), never truncated.
pub const MAX_DATAGRAM_SIZE: usize = 64 * 1024;

/// Packets over datagrams: each datagram is one packet, serialized by `S`.
///
/// ```
/// use easynet::{DatagramProtocol, JsonSerializer};
///
/// let protocol = DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new());
/// # let _ = protocol;
/// ```
///
/// Datagram transports may reorder, duplicate and drop datagrams: a protocol built on
/// UDP must expect any of them (easynetwork's documentation warns the same).
pub struct DatagramProtocol<S> {
    serializer: S,
    max_size: usize,
}

impl<S> DatagramProtocol<S> {
    /// One packet per datagram, serialized by `serializer`, up to [`MAX_DATAGRAM_SIZE`].
    pub fn new(serializer: S) -> Self {
        DatagramProtocol {
            serializer,
            max_size: MAX_DATAGRAM_SIZE,
        }
    }

    /// Lowers the largest datagram sent or accepted to `max` bytes (at most
    /// [`MAX_DATAGRAM_SIZE`]; a larger value is [`MAX_DATAGRAM_SIZE`]).
    pub fn max_datagram_size(mut self, max: usize) -> Self {
        self.max_size = max.min(MAX_DATAGRAM_SIZE);
        self
    }

    /// The largest datagram sent or accepted.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The serializer.
    pub fn serializer(&self) -> &S {
        &self.serializer
    }

    /// Serializes `packet` into `dst` (cleared first): the bytes of one datagram.
    ///
    /// # Errors
    /// [`SendError::Serialize`] if the serializer fails, [`SendError::TooLarge`] if the
    /// result is larger than [`max_size`](Self::max_size) (`dst` is then cleared).
    pub fn encode<T: ?Sized>(&mut self, packet: &T, dst: &mut BytesMut) -> Result<(), SendError>
    where
        S: PacketSerializer<T>,
    {
        dst.clear();
        if let Err(e) = self.serializer.serialize(packet, dst) {
            dst.clear();
            return Err(SendError::Serialize(e));
        }
        if dst.len() > self.max_size {
            let size = dst.len();
            dst.clear();
            return Err(SendError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        Ok(())
    }

    /// Deserializes one received datagram.
    ///
    /// # Errors
    /// The serializer's [`ParseError`], or one of kind
    /// [`FrameTooLarge`](crate::ParseErrorKind::FrameTooLarge) for a datagram larger
    /// than [`max_size`](Self::max_size).
    pub fn decode(&mut self, datagram: &[u8]) -> Result<S::Packet, ParseError>
    where
        S: PacketDeserializer,
    {
        if datagram.len() > self.max_size {
            return Err(ParseError::frame_too_large(self.max_size));
        }
        self.serializer.deserialize(datagram)
    }
}

impl<S: Clone> Clone for DatagramProtocol<S> {
    fn clone(&self) -> Self {
        DatagramProtocol {
            serializer: self.serializer.clone(),
            max_size: self.max_size,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for DatagramProtocol<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramProtocol")
            .field("serializer", &self.serializer)
            .field("max_size", &self.max_size)
            .finish()
    }
}

/// What a datagram server or client needs of a serializer: it serializes `Sent`,
/// deserializes `Received`, and can be cloned and shared. Implemented for every such
/// type; never implement it yourself.
pub trait DatagramSerializer<Sent: ?Sized, Received>:
    PacketSerializer<Sent> + PacketDeserializer<Packet = Received> + Clone + Send + Sync + 'static
{
}

impl<T, Sent: ?Sized, Received> DatagramSerializer<Sent, Received> for T where
    T: PacketSerializer<Sent>
        + PacketDeserializer<Packet = Received>
        + Clone
        + Send
        + Sync
        + 'static
{
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;
    use crate::serializers::JsonSerializer;

    #[test]
    fn one_packet_is_the_serializer_bytes() {
        let mut p = DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new());
        let mut dst = BytesMut::new();
        p.encode(&serde_json::json!({"a": 1}), &mut dst).unwrap();
        assert_eq!(&dst[..], br#"{"a":1}"#);
        assert_eq!(p.decode(&dst).unwrap(), serde_json::json!({"a": 1}));
    }

    #[test]
    fn oversize_is_an_error_not_a_truncation() {
        let mut p = DatagramProtocol::new(JsonSerializer::<String>::new()).max_datagram_size(10);
        let mut dst = BytesMut::new();
        let err = p.encode("0123456789abcdef", &mut dst).unwrap_err();
        assert!(
            matches!(err, SendError::TooLarge { size: 18, max: 10 }),
            "{err}"
        );
        assert!(dst.is_empty());
        assert!(p.decode(b"\"0123456789\"").is_err());
    }
}
