//! [`ClientError`]: what a client operation reports.

use std::io;

use crate::error::{BoxError, ParseError};

/// An error of a [`TcpClient`](crate::TcpClient) operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The client was closed with [`TcpClient::close`](crate::TcpClient::close).
    #[error("client closed")]
    Closed,
    /// The server closed the connection (end of stream).
    #[error("connection closed by the server")]
    ConnectionClosed,
    /// No packet arrived in time. Bytes of a partial packet are kept for the next call.
    #[error("timed out waiting for a packet")]
    Timeout,
    /// A received frame is not a valid packet; the stream stays usable.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A packet could not be serialized; nothing was sent.
    #[error("cannot serialize packet: {0}")]
    Serialize(#[source] BoxError),
    /// The packet serializes to more than one datagram may hold (`max` bytes): nothing
    /// was sent. Datagram clients only.
    #[error("packet too large for one datagram: {size} bytes, more than {max}")]
    TooLarge {
        /// The serialized packet's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}
