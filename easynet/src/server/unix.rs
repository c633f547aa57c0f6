//! [`UnixServer`]: a [`Server`] on a Unix stream socket.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::net::{UnixListener, UnixStream};

use super::kind::sealed;
use super::proxy::Proxied;
use super::{Server, ServerBuilder};
use crate::connection::{Peer, Shutdown};
use crate::handler::StreamRequestHandler;
use crate::protocol::StreamProtocol;
use crate::service::ServerHandle;
use crate::transport::proxy::Rewind;
use crate::transport::{self, Address, UnixBind, UnixSocketFile};

/// A [`Server`] on a Unix stream socket: the analog of easynetwork's
/// `AsyncUnixStreamServer`. It serves the same [`StreamRequestHandler`]s as a
/// [`TcpServer`](super::TcpServer), with the same hooks, `recv!()`, timeouts, limits and
/// client handle; [`StreamClient::peer_credentials`](crate::StreamClient::peer_credentials)
/// gives the connected process's uid, gid and pid.
///
/// ```no_run
/// # use easynet::{handler, recv, HandlerError, JsonLines, StreamClient, StreamRequestHandler, UnixServer};
/// # struct Echo;
/// # impl StreamRequestHandler for Echo {
/// #     type Request = serde_json::Value;
/// #     type Response = serde_json::Value;
/// #     #[handler]
/// #     async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
/// #         let request = recv!()?;
/// #         client.send_packet(&request).await?;
/// #         Ok(())
/// #     }
/// # }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = UnixServer::builder("/run/echo.sock", JsonLines::new(), Echo)
///     .mode(0o660)
///     .bind()
///     .await?;
/// server.serve_forever().await?;
/// # Ok(()) }
/// ```
pub type UnixServer<H, P> = Server<H, P, Unix>;

/// Builds a [`UnixServer`]: the socket file's options, and the settings of
/// [`ServerBuilder`].
pub type UnixServerBuilder<H, P> = ServerBuilder<H, P, Unix>;

/// The Unix-socket transport of a [`UnixServer`]: its listener and socket file.
pub struct Unix {
    listening: Mutex<Option<(UnixListener, UnixSocketFile)>>,
    path: PathBuf,
}

impl std::fmt::Debug for Unix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unix").field("path", &self.path).finish()
    }
}

/// Where a [`UnixServer`] listens, as the builder is told.
#[derive(Debug)]
pub struct UnixConfig {
    path: PathBuf,
    mode: Option<u32>,
    remove_stale: bool,
    remove_on_close: bool,
    /// A listening socket bound elsewhere, used instead of binding `path`.
    inherited: Option<socket2::Socket>,
}

impl Default for UnixConfig {
    fn default() -> Self {
        UnixConfig {
            path: PathBuf::new(),
            mode: None,
            remove_stale: true,
            remove_on_close: true,
            inherited: None,
        }
    }
}

impl sealed::Transport for Unix {
    /// The listener, and the socket file (removed when `serve_forever` ends, if asked).
    type Listening = (UnixListener, UnixSocketFile);
    type Accepted = UnixStream;
    type Config = UnixConfig;

    fn take_listening(&self) -> Option<Self::Listening> {
        self.listening
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn poll_accept(
        (listener, _): &Self::Listening,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<UnixStream>> {
        listener.poll_accept(cx).map_ok(|(stream, _)| stream)
    }

    async fn serve<H, P>(server: UnixServer<H, P>, stream: UnixStream)
    where
        H: StreamRequestHandler,
        P: StreamProtocol<H::Response, H::Request>,
    {
        let remote = stream
            .peer_addr()
            .map_or(Address::Unix(None), Address::from);
        let local = Address::Unix(Some(server.transport().path.clone()));
        let credentials = stream.peer_cred().ok().map(Into::into);
        let mut peer = Peer {
            remote,
            local,
            nodelay: false,
            credentials,
            proxy: None,
        };
        let mut stream = stream;
        match server.read_proxy_header(&mut stream, &mut peer).await {
            Proxied::Close => {}
            Proxied::Plain => {
                let (read, write) = stream.into_split();
                let client = server.new_client(Box::new(write), peer);
                server.run_connection(client, read).await;
            }
            Proxied::Read(rest) => {
                let (read, write) = Rewind::new(rest, stream).map(UnixStream::into_split);
                let client = server.new_client(Box::new(write), peer);
                server.run_connection(client, read).await;
            }
        }
    }
}

impl<H, P> UnixServer<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    /// Binds a server at `path`, with default options (a stale socket file there is
    /// replaced; the file is removed when the server closes).
    pub async fn bind(path: impl AsRef<Path>, protocol: P, handler: H) -> io::Result<Self> {
        Self::builder(path, protocol, handler).bind().await
    }

    /// Starts building a server at `path`; call [`bind`](UnixServerBuilder::bind) to
    /// create it.
    pub fn builder(path: impl AsRef<Path>, protocol: P, handler: H) -> UnixServerBuilder<H, P> {
        let config = UnixConfig {
            path: path.as_ref().to_owned(),
            ..UnixConfig::default()
        };
        ServerBuilder::new(protocol, handler, config)
    }

    /// Starts building a server on a Unix listener already bound and listening (made by
    /// a parent process); call [`bind`](UnixServerBuilder::bind) to create it. The
    /// socket file is left in place when the server closes unless
    /// [`remove_on_close`](UnixServerBuilder::remove_on_close) says otherwise (whoever
    /// bound it owns it); [`mode`](UnixServerBuilder::mode),
    /// [`remove_stale`](UnixServerBuilder::remove_stale) and the backlog do not apply.
    pub fn from_std_listener(
        listener: std::os::unix::net::UnixListener,
        protocol: P,
        handler: H,
    ) -> UnixServerBuilder<H, P> {
        Self::inherited(socket2::Socket::from(listener), protocol, handler)
    }

    /// Starts building a server on an inherited file descriptor: systemd's socket
    /// activation (`ListenStream=/run/app.sock` in a `.socket` unit), or a socket a
    /// parent process passed; [`bind`](UnixServerBuilder::bind) fails if it is not a
    /// listening Unix stream socket bound to a path. See
    /// [`TcpServerBuilder::listener_fd`](crate::TcpServerBuilder::listener_fd) for how
    /// systemd passes descriptors; as [`from_std_listener`](Self::from_std_listener)
    /// otherwise.
    pub fn from_listener_fd(
        fd: std::os::fd::OwnedFd,
        protocol: P,
        handler: H,
    ) -> UnixServerBuilder<H, P> {
        Self::inherited(socket2::Socket::from(fd), protocol, handler)
    }

    fn inherited(socket: socket2::Socket, protocol: P, handler: H) -> UnixServerBuilder<H, P> {
        let config = UnixConfig {
            remove_on_close: false,
            inherited: Some(socket),
            ..UnixConfig::default()
        };
        ServerBuilder::new(protocol, handler, config)
    }

    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.transport().path
    }
}

impl<H, P> UnixServerBuilder<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    /// The socket file's permission bits (`0o660`: the owner and the group may connect).
    /// Default: what the process's umask leaves.
    pub fn mode(mut self, mode: u32) -> Self {
        self.config.mode = Some(mode);
        self
    }

    /// Replace a socket file left at the path by a server that is gone (one nobody
    /// listens on; a live server's socket, or a file that is not a socket, is never
    /// removed: binding fails). Default: on.
    pub fn remove_stale(mut self, enabled: bool) -> Self {
        self.config.remove_stale = enabled;
        self
    }

    /// Remove the socket file when the server closes (if it is still the file this
    /// server bound). Default: on.
    pub fn remove_on_close(mut self, enabled: bool) -> Self {
        self.config.remove_on_close = enabled;
        self
    }

    /// Binds the socket.
    pub async fn bind(mut self) -> io::Result<UnixServer<H, P>> {
        if let Some(socket) = self.config.inherited.take() {
            let bound = transport::adopt_unix(socket, self.config.remove_on_close)?;
            return Ok(Self::serve_bound(self, bound));
        }
        let UnixConfig {
            path,
            mode,
            remove_stale,
            remove_on_close,
            inherited: _,
        } = &self.config;
        let bound = transport::bind_unix(
            path,
            &UnixBind {
                backlog: self.options.backlog,
                mode: *mode,
                remove_stale: *remove_stale,
                remove_on_close: *remove_on_close,
            },
        )?;
        Ok(Self::serve_bound(self, bound))
    }

    fn serve_bound(self, bound: (UnixListener, UnixSocketFile)) -> UnixServer<H, P> {
        let handle = ServerHandle::new(Vec::new(), Shutdown::new(self.options.shutdown_timeout));
        let transport = Unix {
            path: bound.1.path().to_owned(),
            listening: Mutex::new(Some(bound)),
        };
        Server::new(self, transport, handle)
    }
}
