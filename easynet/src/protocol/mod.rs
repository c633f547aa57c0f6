//! The protocol layer: bytes on the stream to packets and back.
//!
//! A protocol is a [tokio-util codec](tokio_util::codec): a [`Decoder`] that turns the
//! received bytes into packets and an [`Encoder`] that writes packets out, both with
//! [`ProtocolError`] as their error. So easynet's protocols work with tokio-util's
//! `Framed`, and any codec of that shape works as an easynet protocol.
//!
//! Every decoder here has a maximum frame size (64 KiB by default, as easynetwork): a peer
//! that sends a longer frame gets a [`ParseError`](crate::ParseError) of kind
//! [`FrameTooLarge`](crate::ParseErrorKind::FrameTooLarge), the frame is discarded (up to
//! its separator, or to its end as its format tells), and the stream stays usable.
//!
//! The framings: lines ([`JsonLines`](crate::JsonLines), [`StringLines`],
//! [`BytesLines`], and the base64 wrapper), self-delimiting values
//! ([`JsonStream`](crate::JsonStream), [`Cbor`](crate::Cbor), [`MsgPack`](crate::MsgPack)),
//! one compressed stream per packet (the zlib and bzip2 wrappers), a length prefix
//! ([`LengthPrefixed`], [`Bincode`](crate::Bincode)) and fixed-size records
//! ([`FixedSize`]); plus [`Converted`] and [`Stapled`] on top of any of them.

pub(crate) mod compressed;
mod convert;
mod datagram;
mod fixed;
mod json;
mod json_stream;
mod length_prefixed;
pub(crate) mod lines;
mod self_delimited;
#[cfg(any(feature = "json", feature = "cbor", feature = "msgpack"))]
pub(crate) mod skim;
mod stapled;

pub use convert::{Converted, PacketConverter};
pub use datagram::{DatagramProtocol, DatagramSerializer, MAX_DATAGRAM_SIZE};
pub use fixed::{FixedSize, FixedSizePacket};
#[cfg(feature = "json")]
pub use json::JsonLines;
#[cfg(feature = "json")]
pub use json_stream::JsonStream;
#[cfg(feature = "bincode")]
pub use length_prefixed::Bincode;
pub use length_prefixed::LengthPrefixed;
pub use lines::{BytesLines, Newline, StringLines};
#[cfg(feature = "cbor")]
pub use self_delimited::Cbor;
#[cfg(feature = "msgpack")]
pub use self_delimited::MsgPack;
pub use stapled::Stapled;

use tokio_util::codec::{Decoder, Encoder};

use crate::error::ProtocolError;

/// The default maximum frame size of every protocol: 64 KiB, as easynetwork.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 64 * 1024;

/// A protocol that sends `Sent` packets and receives `Received` packets, in the order of
/// Python easynetwork's `StreamProtocol[SentPacket, ReceivedPacket]`.
///
/// Implemented for every `Clone` tokio-util codec whose error is [`ProtocolError`]: the
/// server and the client clone the protocol for each connection (one clone decodes, one
/// encodes), so a codec's per-stream state is never shared.
pub trait StreamProtocol<Sent: ?Sized, Received>:
    Decoder<Item = Received, Error = ProtocolError>
    + for<'a> Encoder<&'a Sent, Error = ProtocolError>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T, Sent: ?Sized, Received> StreamProtocol<Sent, Received> for T where
    T: Decoder<Item = Received, Error = ProtocolError>
        + for<'a> Encoder<&'a Sent, Error = ProtocolError>
        + Clone
        + Send
        + Sync
        + 'static
{
}
