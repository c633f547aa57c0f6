//! [`Transport`]: what a [`Server`](super::Server) listens on (TCP, Unix sockets), and
//! how it turns an accepted connection into a served one.

use std::io;
use std::task::{Context, Poll};

use super::Server;
use crate::handler::StreamRequestHandler;
use crate::protocol::StreamProtocol;

pub(crate) mod sealed {
    use super::*;

    /// The transport's side of a server. Sealed: only easynet's transports implement it.
    pub trait Transport: Send + Sync + Sized + 'static {
        /// What `serve_forever` takes to accept from: the bound listeners.
        type Listening: Send + Sync;
        /// One accepted connection, before it is set up.
        type Accepted: Send + 'static;
        /// Settings given to the builder before binding.
        type Config: Default + Send;

        /// Hands the listeners to `serve_forever`, once.
        fn take_listening(&self) -> Option<Self::Listening>;

        /// Accepts from whichever listener has a connection first.
        fn poll_accept(
            listening: &Self::Listening,
            cx: &mut Context<'_>,
        ) -> Poll<io::Result<Self::Accepted>>;

        /// Sets up an accepted connection (TCP options, a TLS handshake) and serves it
        /// to its end, in its own task.
        fn serve<H, P>(
            server: Server<H, P, Self>,
            accepted: Self::Accepted,
        ) -> impl Future<Output = ()> + Send
        where
            H: StreamRequestHandler,
            P: StreamProtocol<H::Response, H::Request>;
    }
}

/// A kind of stream transport a [`Server`](super::Server) listens on: [`Tcp`](super::Tcp)
/// (a [`TcpServer`](super::TcpServer)) or, on Unix, [`Unix`](super::Unix) (a
/// [`UnixServer`](super::UnixServer)). Implemented by easynet's transports only.
pub trait Transport: sealed::Transport {}

impl<T: sealed::Transport> Transport for T {}
