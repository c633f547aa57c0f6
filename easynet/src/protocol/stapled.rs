//! A protocol that sends with one protocol and receives with another.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::ProtocolError;

/// Sends with `E` and receives with `D`: easynetwork's `StapledPacketSerializer`, for
/// the peers whose requests and responses use different formats.
///
/// ```
/// use easynet::{Stapled, StringLines, JsonLines};
/// use serde_json::Value;
///
/// // A server that reads text commands and answers in JSON lines.
/// let protocol = Stapled::new(JsonLines::<Value>::new(), StringLines::new());
/// # let _ = protocol;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stapled<E, D> {
    encoder: E,
    decoder: D,
}

impl<E, D> Stapled<E, D> {
    /// Sends with `encoder`, receives with `decoder`.
    pub fn new(encoder: E, decoder: D) -> Self {
        Stapled { encoder, decoder }
    }

    /// The protocol that sends.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// The protocol that receives.
    pub fn decoder(&self) -> &D {
        &self.decoder
    }
}

impl<E, D: Decoder<Error = ProtocolError>> Decoder for Stapled<E, D> {
    type Item = D::Item;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<D::Item>, ProtocolError> {
        self.decoder.decode(src)
    }
}

impl<Item, E: Encoder<Item, Error = ProtocolError>, D> Encoder<Item> for Stapled<E, D> {
    type Error = ProtocolError;

    fn encode(&mut self, item: Item, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.encoder.encode(item, dst)
    }
}
