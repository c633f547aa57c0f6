//! The PROXY protocol step of serving a connection: in the client's own task, before
//! TLS and before any hook, a trusted source's header is read (bounded by the header
//! timeout, abandoned at shutdown) and the peer's addresses are set from it.

use bytes::Bytes;
use tokio::io::AsyncRead;

use super::{Server, Transport};
use crate::connection::Peer;
use crate::handler::StreamRequestHandler;
use crate::protocol::StreamProtocol;
use crate::transport::proxy::{self, Header};

/// What the PROXY protocol step decided for a connection.
pub(crate) enum Proxied {
    /// Not a trusted source (or the PROXY protocol is off): a plain connection.
    Plain,
    /// The header was read: serve the connection, reading these bytes first.
    Read(Bytes),
    /// Close the connection (a health check, a bad or missing header, the shutdown).
    Close,
}

impl<H, P, T> Server<H, P, T>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
    T: Transport,
{
    /// Reads the PROXY protocol header of a connection from a trusted source, and sets
    /// `peer` from it: the client's address as `remote`, the header in `proxy`.
    pub(crate) async fn read_proxy_header<S>(&self, stream: &mut S, peer: &mut Peer) -> Proxied
    where
        S: AsyncRead + Unpin,
    {
        let inner = &*self.inner;
        let Some(trusted) = &inner.options.proxy_protocol else {
            return Proxied::Plain;
        };
        if !trusted.trusts(&peer.remote) {
            return Proxied::Plain;
        }
        let from = &peer.remote;
        let read = tokio::select! {
            biased;
            () = inner.handle.shutdown_signal().started() => {
                tracing::debug!(proxy = %from, "server shutting down during the PROXY protocol header");
                return Proxied::Close;
            }
            read = tokio::time::timeout(
                inner.options.proxy_header_timeout,
                proxy::read_header(stream, from),
            ) => read,
        };
        let (header, rest) = match read {
            Ok(Ok(read)) => read,
            Ok(Err(e)) => {
                tracing::debug!(proxy = %from, error = %e, "closing the connection");
                return Proxied::Close;
            }
            Err(_) => {
                tracing::debug!(
                    proxy = %from,
                    timeout = ?inner.options.proxy_header_timeout,
                    "no whole PROXY protocol header in time, closing the connection"
                );
                return Proxied::Close;
            }
        };
        match header {
            Header::Local => {
                tracing::debug!(proxy = %from, "PROXY protocol LOCAL connection (health check), closing it");
                Proxied::Close
            }
            Header::Proxy(info) => {
                if let Some(source) = info.source() {
                    peer.remote = source.clone();
                }
                peer.proxy = Some(Box::new(info));
                Proxied::Read(rest)
            }
        }
    }
}
