//! `UnixDatagramServer`: a [`DatagramServer`] on a Unix datagram socket file.

use std::io;
use std::path::{Path, PathBuf};

use super::{DatagramKind, DatagramServer, DatagramServerBuilder, sealed};
use crate::handler::DatagramRequestHandler;
use crate::protocol::{DatagramProtocol, DatagramSerializer};
use crate::transport::{self, DatagramSocket};

/// A datagram server on a Unix datagram socket: see [`DatagramServer`].
///
/// A peer must send from a socket bound to a path of its own (an unnamed socket cannot be
/// answered: its datagrams are dropped and counted), as
/// [`UnixDatagramClient`](crate::UnixDatagramClient)'s `connect_unix` does.
pub type UnixDatagramServer<H, S> = DatagramServer<H, S, UnixDatagram>;

/// Builds a [`UnixDatagramServer`]: [`UnixDatagramServer::builder`].
pub type UnixDatagramServerBuilder<H, S> = DatagramServerBuilder<H, S, UnixDatagram>;

/// A Unix datagram socket file, as what a [`DatagramServer`] binds.
#[derive(Debug)]
pub struct UnixDatagram;

/// What a [`UnixDatagramServerBuilder`] binds.
#[doc(hidden)]
#[derive(Debug)]
pub struct UnixDatagramConfig {
    path: Option<PathBuf>,
    mode: Option<u32>,
    remove_stale: bool,
    remove_on_close: bool,
}

impl Default for UnixDatagramConfig {
    fn default() -> Self {
        UnixDatagramConfig {
            path: None,
            mode: None,
            remove_stale: true,
            remove_on_close: true,
        }
    }
}

impl sealed::Sealed for UnixDatagram {}

impl DatagramKind for UnixDatagram {
    type Config = UnixDatagramConfig;
}

impl<H, S> UnixDatagramServer<H, S>
where
    H: DatagramRequestHandler,
    S: DatagramSerializer<H::Response, H::Request>,
{
    /// Binds a Unix datagram server at `path` (a stale socket file there is replaced).
    ///
    /// # Errors
    /// The socket cannot be bound (a live server there, a file that is not a socket).
    pub async fn bind(
        path: impl AsRef<Path>,
        protocol: DatagramProtocol<S>,
        handler: H,
    ) -> io::Result<Self> {
        Self::builder(path, protocol, handler).bind().await
    }

    /// A builder, for the socket file's options and the bounds.
    pub fn builder(
        path: impl AsRef<Path>,
        protocol: DatagramProtocol<S>,
        handler: H,
    ) -> UnixDatagramServerBuilder<H, S> {
        let mut builder: UnixDatagramServerBuilder<H, S> =
            DatagramServerBuilder::new(protocol, handler);
        builder.config.path = Some(path.as_ref().to_owned());
        builder
    }
}

impl<H, S> UnixDatagramServerBuilder<H, S>
where
    H: DatagramRequestHandler,
    S: DatagramSerializer<H::Response, H::Request>,
{
    /// The socket file's permission bits, e.g. `0o660` (default: the process umask's).
    pub fn mode(mut self, mode: u32) -> Self {
        self.config.mode = Some(mode);
        self
    }

    /// Replace a stale socket file (one nobody receives on) at bind (default on).
    pub fn remove_stale(mut self, enabled: bool) -> Self {
        self.config.remove_stale = enabled;
        self
    }

    /// Remove the socket file when the server stops (default on).
    pub fn remove_on_close(mut self, enabled: bool) -> Self {
        self.config.remove_on_close = enabled;
        self
    }

    /// Binds the socket.
    ///
    /// # Errors
    /// As [`UnixDatagramServer::bind`].
    pub async fn bind(self) -> io::Result<UnixDatagramServer<H, S>> {
        let config = &self.config;
        let path = config.path.clone().expect("set by the constructor");
        let (socket, file) = transport::bind_unix_datagram(
            &path,
            config.mode,
            config.remove_stale,
            config.remove_on_close,
        )?;
        self.build(vec![DatagramSocket::Unix(socket)], Some(file))
    }
}
