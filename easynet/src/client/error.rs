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
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}
