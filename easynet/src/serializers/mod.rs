//! One-shot serializers: a whole packet to bytes and back, with no framing.
//!
//! A serializer here is the analog of easynetwork's `AbstractPacketSerializer`: its
//! [`serialize`](PacketSerializer::serialize) gives the bytes of one packet and its
//! [`deserialize`](PacketDeserializer::deserialize) reads one packet from exactly those
//! bytes. It knows nothing of streams: the protocols of [`crate`] (tokio-util codecs) add
//! the framing, and the wrappers ([`Base64`](crate::Base64), [`Zlib`](crate::Zlib),
//! [`Bz2`](crate::Bz2)) compose over any serializer, exactly as easynetwork's wrappers
//! take any serializer.
//!
//! Implement the two traits for your own format to use it with the wrappers or with
//! [`LengthPrefixed`](crate::LengthPrefixed).

mod string;

#[cfg(feature = "bincode")]
mod bincode;
#[cfg(feature = "cbor")]
pub(crate) mod cbor;
#[cfg(feature = "json")]
mod json;
#[cfg(feature = "msgpack")]
pub(crate) mod msgpack;
pub(crate) mod wrapper;

#[cfg(feature = "bincode")]
pub use self::bincode::{BINCODE_ALLOCATION_LIMIT, BincodeSerializer};
#[cfg(feature = "cbor")]
pub use self::cbor::CborSerializer;
#[cfg(feature = "json")]
pub use self::json::JsonSerializer;
#[cfg(feature = "msgpack")]
pub use self::msgpack::MsgPackSerializer;
pub use self::string::StringSerializer;

use bytes::BytesMut;

use crate::error::{BoxError, ParseError};

/// Turns a packet of type `Sent` into bytes: the sending half of a serializer.
///
/// `Sent` is a type parameter (not an associated type) so that one serializer can send
/// many types: `JsonSerializer` sends any `Serialize` value.
pub trait PacketSerializer<Sent: ?Sized> {
    /// Appends the bytes of `packet` to `dst`.
    ///
    /// On error nothing is appended: `dst` is left as it was.
    fn serialize(&mut self, packet: &Sent, dst: &mut BytesMut) -> Result<(), BoxError>;
}

/// Turns bytes back into a packet: the receiving half of a serializer.
pub trait PacketDeserializer {
    /// The type of the packets it reads.
    type Packet;

    /// Reads one packet from `data`, which holds exactly the bytes of one packet (as
    /// [`PacketSerializer::serialize`] wrote them).
    ///
    /// Bytes left over after the packet are an error, as in easynetwork ("extra data").
    fn deserialize(&mut self, data: &[u8]) -> Result<Self::Packet, ParseError>;
}

/// Runs `write` to append to `dst`; if it fails, removes whatever it appended.
#[cfg(any(
    feature = "json",
    feature = "cbor",
    feature = "msgpack",
    feature = "bincode",
    feature = "zlib",
    feature = "bz2"
))]
pub(crate) fn append_or_rollback<E>(
    dst: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let start = dst.len();
    let result = write(dst);
    if result.is_err() {
        dst.truncate(start);
    }
    result
}
