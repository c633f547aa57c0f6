//! [`ReadHalf`]: the read side of a connection, as the server's reader uses it.

use std::io;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The read side of a connection, as the server's reader uses it.
pub(crate) trait ReadHalf: AsyncRead + Unpin {
    /// Ready once there is something to read (data, the end of the stream or an error),
    /// so that the reader allocates its buffer only then. A transport that cannot tell
    /// is ready at once, and the reader allocates up front.
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }
}

impl ReadHalf for tokio::net::tcp::OwnedReadHalf {
    /// Peeks one byte: tokio reports a new socket readable until a read says otherwise,
    /// so readiness alone would not wait.
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        self.poll_peek(cx, &mut buf).map_ok(drop)
    }
}

/// TLS (through `tokio::io::split`): rustls may hold decrypted bytes the socket's
/// readiness does not show, so it reads at once.
impl<T: AsyncRead> ReadHalf for tokio::io::ReadHalf<T> {}

/// Unix sockets: read at once (their halves have no peek).
#[cfg(unix)]
impl ReadHalf for tokio::net::unix::OwnedReadHalf {}

/// In-memory pipes, for the driver's unit tests.
#[cfg(test)]
impl ReadHalf for tokio::io::DuplexStream {}
