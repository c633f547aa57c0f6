//! CBOR and MessagePack streams: values back to back, each one self-delimiting, as
//! easynetwork's `CBORSerializer` and `MessagePackSerializer` send them.
#![cfg(any(feature = "cbor", feature = "msgpack"))]

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::DEFAULT_MAX_FRAME_SIZE;
use super::skim::SkimFramer;
use crate::error::ProtocolError;

/// Defines a stream protocol of self-delimiting values over one serializer.
macro_rules! self_delimited {
    (
        $(#[$meta:meta])*
        $name:ident, $serializer:ident, $skim:ty
    ) => {
        $(#[$meta])*
        pub struct $name<T> {
            framer: SkimFramer<$skim>,
            _packet: std::marker::PhantomData<fn() -> T>,
        }

        impl<T> $name<T> {
            /// Values back to back, with the default 64 KiB frame limit.
            pub fn new() -> Self {
                $name {
                    framer: SkimFramer::new(<$skim>::default(), DEFAULT_MAX_FRAME_SIZE),
                    _packet: std::marker::PhantomData,
                }
            }

            /// Sets the maximum size of a received value, in bytes.
            pub fn max_frame_size(mut self, max: usize) -> Self {
                self.framer = SkimFramer::new(<$skim>::default(), max);
                self
            }

            /// The maximum size of a received value, in bytes.
            pub fn frame_limit(&self) -> usize {
                self.framer.max_frame_size()
            }
        }

        impl<T> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                Self::new().max_frame_size(self.framer.max_frame_size())
            }
        }

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("max_frame_size", &self.framer.max_frame_size())
                    .finish()
            }
        }

        impl<T: serde::de::DeserializeOwned> Decoder for $name<T> {
            type Item = T;
            type Error = ProtocolError;

            fn decode(&mut self, src: &mut BytesMut) -> Result<Option<T>, ProtocolError> {
                let Some(len) = self.framer.next_frame(src)? else {
                    return Ok(None);
                };
                let packet = crate::serializers::$serializer::<T>::read(&src[..len]);
                src.advance(len);
                Ok(Some(packet?))
            }
        }

        impl<S: serde::Serialize + ?Sized, T> Encoder<&S> for $name<T> {
            type Error = ProtocolError;

            fn encode(&mut self, packet: &S, dst: &mut BytesMut) -> Result<(), ProtocolError> {
                crate::serializers::$serializer::<T>::write(packet, dst)
                    .map_err(ProtocolError::Serialize)
            }
        }
    };
}

#[cfg(feature = "cbor")]
self_delimited! {
    /// CBOR values back to back: easynetwork 1.2.0's `StreamProtocol(CBORSerializer())`.
    ///
    /// Each packet is one CBOR data item ([`CborSerializer`](crate::CborSerializer)), with
    /// nothing between items: an item's own headers say where it ends. `T` is the type of
    /// received packets (any `serde` type, or `serde_json::Value`); any `Serialize` value
    /// can be sent.
    ///
    /// Receiving scans each item's headers as bytes arrive (never twice) and decodes it
    /// once it is complete. A length field is never used to allocate: an item announced
    /// or found to be longer than the frame limit (64 KiB by default, as easynetwork's
    /// buffer limit) is one [`FrameTooLarge`](crate::ParseErrorKind) error and is skipped
    /// as its bytes arrive. A well-formed item that is not a valid `T` (a map with
    /// integer keys for `Value`, invalid UTF-8 in a text string, ...) is an
    /// `InvalidPacket` error. In both cases the next item decodes normally. A byte that
    /// breaks CBOR's structure (a reserved header, a misplaced break) is an
    /// `InvalidPacket` error too; decoding goes on right after that byte, as Python's
    /// `cbor2`, reading byte by byte, does. Items nest at most 256 levels deep.
    Cbor, CborSerializer, crate::serializers::cbor::CborSkim
}

#[cfg(feature = "msgpack")]
self_delimited! {
    /// MessagePack values back to back: easynetwork 1.2.0's
    /// `StreamProtocol(MessagePackSerializer())`.
    ///
    /// Each packet is one MessagePack value ([`MsgPackSerializer`](crate::MsgPackSerializer):
    /// structs as maps, bytes as `bin`), with nothing between values. `T` is the type of
    /// received packets (any `serde` type, or `serde_json::Value`); any `Serialize` value
    /// can be sent.
    ///
    /// Receiving scans each value's type bytes as they arrive (never twice) and decodes
    /// it once it is complete. A length field is never used to allocate: a value
    /// announced or found to be longer than the frame limit (64 KiB by default) is one
    /// [`FrameTooLarge`](crate::ParseErrorKind) error and is skipped as its bytes arrive.
    /// A well-formed value that is not a valid `T` is an `InvalidPacket` error. In both
    /// cases the next value decodes normally. The never-used byte `0xc1` is an
    /// `InvalidPacket` error, and decoding goes on right after it (Python's `msgpack`
    /// drops what it has buffered instead). Values nest at most 256 levels deep.
    MsgPack, MsgPackSerializer, crate::serializers::msgpack::MsgPackSkim
}
