//! Errors shared by every layer: what a protocol reports, and the error a handler returns.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::io;

/// The error type a request handler returns: any error, boxed.
///
/// `?` converts every easynet error (and any `std::error::Error + Send + Sync`) into it.
pub type HandlerError = Box<dyn StdError + Send + Sync + 'static>;

/// A boxed error, the source of a [`ParseError`] or a serialization failure.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What kind of [`ParseError`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A frame was longer than the protocol's maximum frame size. The protocol discards it
    /// (up to its separator, where the format has one) and goes on with the next frame.
    FrameTooLarge,
    /// A complete frame was received but is not a valid packet (bad JSON, bad UTF-8, ...).
    InvalidPacket,
}

/// A received frame could not be turned into a packet.
///
/// The stream stays usable: the next frame is decoded normally. Inside a handler this is
/// what `recv!()` returns as `Err(RecvError::Parse(..))`, the analog of easynetwork's
/// `StreamProtocolParseError`.
///
/// One pointer wide (the details are boxed): a decoded `Result<Packet, ParseError>` is
/// moved several times on its way to `recv!()`, and errors are rare.
pub struct ParseError(Box<ParseErrorInner>);

#[derive(Debug)]
struct ParseErrorInner {
    kind: ParseErrorKind,
    message: Cow<'static, str>,
    source: Option<BoxError>,
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("source", &self.0.source)
            .finish()
    }
}

impl ParseError {
    /// A frame exceeded `limit` bytes.
    pub fn frame_too_large(limit: usize) -> Self {
        ParseError(Box::new(ParseErrorInner {
            kind: ParseErrorKind::FrameTooLarge,
            message: format!("frame too large: more than {limit} bytes").into(),
            source: None,
        }))
    }

    /// A frame is not a valid packet; `message` says what was expected (for example
    /// `"invalid JSON"`), `source` what went wrong.
    pub fn invalid(message: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        ParseError(Box::new(ParseErrorInner {
            kind: ParseErrorKind::InvalidPacket,
            message: message.into(),
            source: Some(source.into()),
        }))
    }

    /// A frame is not a valid packet, with no underlying error.
    pub fn invalid_msg(message: impl Into<Cow<'static, str>>) -> Self {
        ParseError(Box::new(ParseErrorInner {
            kind: ParseErrorKind::InvalidPacket,
            message: message.into(),
            source: None,
        }))
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ParseErrorKind {
        self.0.kind
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.source {
            Some(source) => write!(f, "{}: {}", self.0.message, source),
            None => f.write_str(&self.0.message),
        }
    }
}

impl StdError for ParseError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The error type of every easynet protocol (a tokio-util `Decoder` and `Encoder`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Received bytes are not a valid packet; the stream stays usable.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A packet could not be serialized; nothing was written.
    #[error("cannot serialize packet: {0}")]
    Serialize(#[source] BoxError),
    /// The underlying transport failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Sending a packet failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection was closed (by [`close`](crate::StreamClient::close), or after the
    /// peer went away); nothing was sent.
    #[error("client closed")]
    Closed,
    /// The packet could not be serialized; nothing was sent.
    #[error("cannot serialize packet: {0}")]
    Serialize(#[source] BoxError),
    /// The client's send queue is at its high-water mark (its peer reads slower than the
    /// server sends); nothing was queued. Only from the sends that do not wait
    /// ([`try_send_packet`](crate::StreamClient::try_send_packet)).
    #[error("send queue full")]
    Full,
    /// The packet serializes to more than the datagram limit, `max` bytes
    /// ([`MAX_DATAGRAM_SIZE`](crate::MAX_DATAGRAM_SIZE) by default): nothing was sent (a
    /// datagram is never truncated).
    #[error("packet too large for one datagram: {size} bytes, more than {max}")]
    TooLarge {
        /// The serialized packet's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Writing to the transport failed.
    #[error("send failed: {0}")]
    Io(#[source] io::Error),
}

impl From<ProtocolError> for SendError {
    fn from(error: ProtocolError) -> Self {
        match error {
            ProtocolError::Serialize(e) => SendError::Serialize(e),
            ProtocolError::Io(e) => SendError::Io(e),
            ProtocolError::Parse(e) => SendError::Serialize(Box::new(e)),
        }
    }
}

/// True for the I/O errors that only mean "the peer is gone".
pub(crate) fn is_disconnect(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_say_what_happened() {
        assert_eq!(
            ParseError::frame_too_large(65536).to_string(),
            "frame too large: more than 65536 bytes"
        );
        let bytes = vec![0xff_u8];
        let utf8 = std::str::from_utf8(&bytes).unwrap_err();
        let e = ParseError::invalid("invalid UTF-8", utf8);
        assert!(e.to_string().starts_with("invalid UTF-8: "), "{e}");
        assert!(e.source().is_some());
        assert_eq!(SendError::Closed.to_string(), "client closed");
    }
}
