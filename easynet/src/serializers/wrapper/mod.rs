//! Serializer wrappers, as easynetwork's `serializers.wrapper`: each takes any serializer
//! and changes its bytes (base64 text, zlib or bzip2 compression). Each is also a stream
//! protocol (a tokio-util codec) on its own, with easynetwork's framing for it.

/// The serializer and codec impls shared by the compression wrappers (`Zlib`, `Bz2`): each
/// has `inner`, `scratch`, `output`, `inflating` fields and a `compress_scratch` method;
/// only the decompressor differs.
#[cfg(any(feature = "zlib", feature = "bz2"))]
macro_rules! compressor_impls {
    ($wrapper:ident, $decompressor:ty, $format:literal) => {
        impl<Sent: ?Sized, S: PacketSerializer<Sent>> PacketSerializer<Sent> for $wrapper<S> {
            fn serialize(&mut self, packet: &Sent, dst: &mut BytesMut) -> Result<(), BoxError> {
                self.scratch.clear();
                self.inner.serialize(packet, &mut self.scratch)?;
                self.compress_scratch(dst)
            }
        }

        impl<S: PacketDeserializer> PacketDeserializer for $wrapper<S> {
            type Packet = S::Packet;

            #[doc = concat!("Decompresses `data` (exactly one ", $format, " stream) and deserializes the result.")]
            fn deserialize(&mut self, data: &[u8]) -> Result<S::Packet, ParseError> {
                let max = self.inflating.max_frame_size();
                decompress_whole::<$decompressor>(data, max, &mut self.output)?;
                self.inner.deserialize(&self.output)
            }
        }

        impl<S: PacketDeserializer> Decoder for $wrapper<S> {
            type Item = S::Packet;
            type Error = ProtocolError;

            fn decode(&mut self, src: &mut BytesMut) -> Result<Option<S::Packet>, ProtocolError> {
                match self.inflating.feed(src)? {
                    Some(()) => Ok(Some(self.inner.deserialize(self.inflating.packet())?)),
                    None => Ok(None),
                }
            }
        }

        impl<Sent: ?Sized, S: PacketSerializer<Sent>> Encoder<&Sent> for $wrapper<S> {
            type Error = ProtocolError;

            fn encode(&mut self, packet: &Sent, dst: &mut BytesMut) -> Result<(), ProtocolError> {
                self.serialize(packet, dst).map_err(ProtocolError::Serialize)
            }
        }
    };
}

#[cfg(feature = "base64")]
mod base64;
#[cfg(feature = "bz2")]
mod bz2;
#[cfg(feature = "zlib")]
mod zlib;

#[cfg(feature = "base64")]
pub use self::base64::{Alphabet, Base64, InvalidKey};
#[cfg(feature = "bz2")]
pub use self::bz2::Bz2;
#[cfg(all(test, feature = "bz2"))]
pub(crate) use self::bz2::Bz2Decompressor;
#[cfg(feature = "zlib")]
pub use self::zlib::Zlib;
#[cfg(all(test, feature = "zlib"))]
pub(crate) use self::zlib::ZlibDecompressor;
