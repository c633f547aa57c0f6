//! Converters: business objects on one side, the packets a serializer handles on the
//! other, as easynetwork's `AbstractPacketConverterComposite`.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{BoxError, ParseError, ProtocolError};

/// Converts between business objects and the packets (easynetwork's "DTOs") that a
/// protocol reads and writes: the analog of easynetwork's
/// `AbstractPacketConverterComposite`. Use it with [`Converted`].
///
/// ```
/// use easynet::{BoxError, Converted, JsonLines, PacketConverter};
/// use serde_json::{Value, json};
///
/// /// A temperature, sent as `{"celsius": 21.5}`.
/// #[derive(Debug, PartialEq)]
/// struct Temperature(f64);
///
/// struct TemperatureConverter;
///
/// impl PacketConverter for TemperatureConverter {
///     type Sent = Temperature;
///     type Received = Temperature;
///     type SentDto = Value;
///     type ReceivedDto = Value;
///
///     fn convert_to_dto(&self, packet: &Temperature) -> Result<Value, BoxError> {
///         Ok(json!({"celsius": packet.0}))
///     }
///
///     fn create_from_dto(&self, packet: Value) -> Result<Temperature, BoxError> {
///         match packet["celsius"].as_f64() {
///             Some(celsius) => Ok(Temperature(celsius)),
///             None => Err("no number in \"celsius\"".into()),
///         }
///     }
/// }
///
/// // A protocol of `Temperature`s, over JSON lines.
/// let protocol = Converted::new(JsonLines::<Value>::new(), TemperatureConverter);
/// # let _ = protocol;
/// ```
pub trait PacketConverter {
    /// The business object sent.
    type Sent: ?Sized;
    /// The business object received.
    type Received;
    /// The packet the protocol sends for a [`Sent`](Self::Sent).
    type SentDto;
    /// The packet the protocol receives, turned into a [`Received`](Self::Received).
    type ReceivedDto;

    /// The packet to send for `packet` (easynetwork's `convert_to_dto_packet`). An error
    /// means nothing is sent: `send_packet` fails with a serialization error.
    fn convert_to_dto(&self, packet: &Self::Sent) -> Result<Self::SentDto, BoxError>;

    /// The business object of a received packet (easynetwork's `create_from_dto_packet`).
    /// An error is a parse error for the handler (easynetwork's `PacketConversionError`):
    /// `recv!()` gives `Err(RecvError::Parse(..))` and the connection stays usable.
    fn create_from_dto(&self, packet: Self::ReceivedDto) -> Result<Self::Received, BoxError>;
}

/// A protocol with a converter on top: easynetwork's `StreamProtocol(serializer,
/// converter)`.
///
/// Receiving decodes a packet with `P`, then converts it with
/// [`create_from_dto`](PacketConverter::create_from_dto); a conversion failure is an
/// `InvalidPacket` [`ParseError`] ("invalid packet: ..."), and the next packet decodes
/// normally. Sending converts with [`convert_to_dto`](PacketConverter::convert_to_dto)
/// and encodes the result with `P`.
#[derive(Debug, Clone)]
pub struct Converted<P, C> {
    protocol: P,
    converter: C,
}

impl<P, C> Converted<P, C> {
    /// `protocol` with `converter` on top.
    pub fn new(protocol: P, converter: C) -> Self {
        Converted {
            protocol,
            converter,
        }
    }

    /// The underlying protocol.
    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// The converter.
    pub fn converter(&self) -> &C {
        &self.converter
    }
}

impl<P, C> Decoder for Converted<P, C>
where
    C: PacketConverter,
    P: Decoder<Item = C::ReceivedDto, Error = ProtocolError>,
{
    type Item = C::Received;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<C::Received>, ProtocolError> {
        match self.protocol.decode(src)? {
            Some(packet) => match self.converter.create_from_dto(packet) {
                Ok(packet) => Ok(Some(packet)),
                Err(e) => Err(ParseError::invalid("invalid packet", e).into()),
            },
            None => Ok(None),
        }
    }
}

impl<'a, P, C> Encoder<&'a C::Sent> for Converted<P, C>
where
    C: PacketConverter,
    P: for<'b> Encoder<&'b C::SentDto, Error = ProtocolError>,
{
    type Error = ProtocolError;

    fn encode(&mut self, packet: &'a C::Sent, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let packet = self
            .converter
            .convert_to_dto(packet)
            .map_err(ProtocolError::Serialize)?;
        self.protocol.encode(&packet, dst)
    }
}
