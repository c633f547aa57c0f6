//! The handler layer: the request-handler trait and what `recv!()` gives back.
//!
//! A request handler is written as straight-line async code; each `recv!()` waits for the
//! next request, like the `request = yield` of Python easynetwork's generators. The
//! [`handler`](crate::handler) attribute turns the body into a resumable generator
//! ([`Handler`]) that the server drives.

mod context;
mod datagram;
mod lifecycle;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use context::Context;
pub use context::{ClientLocal, ContextError};
pub use datagram::DatagramRequestHandler;
pub(crate) use datagram::serve_datagrams;
pub(crate) use lifecycle::serve;

use crate::connection::{Handler, RecvSlot, StreamClient};
use crate::error::HandlerError;
use crate::service::{ExitStack, ServerHandle};

/// A request handler: the service a [`TcpServer`](crate::TcpServer) runs for every
/// connection.
///
/// One instance serves every connection (it is shared, hence `Send + Sync`); per-client
/// state lives in the handler's generator, in [`ClientLocal`] variables, or in a map keyed
/// by [`StreamClient::remote_addr`].
///
/// Only [`handle`](Self::handle) is required; write it with [`#[handler]`](crate::handler):
///
/// ```
/// use easynet::{handler, recv, HandlerError, StreamClient, StreamRequestHandler};
///
/// struct Echo;
///
/// impl StreamRequestHandler for Echo {
///     type Request = serde_json::Value;
///     type Response = serde_json::Value;
///
///     #[handler]
///     async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
///         let request = recv!()?;
///         client.send_packet(&request).await?;
///         Ok(())
///     }
/// }
/// ```
///
/// The life of a connection:
/// 1. [`on_connection`](Self::on_connection) runs (it may send, close, or read a log-in
///    with `recv!()`).
/// 2. The body of [`handle`](Self::handle) runs up to its first `recv!()`; the next
///    request is decoded and handed to it; and so on for every `recv!()`. When the body
///    returns `Ok`, a fresh run of it (fresh locals, as Python's fresh generator) handles
///    the next request. When it returns before its first `recv!()`, the connection is
///    closed. When it returns an error or panics, the error is logged with the client's
///    address and the connection is closed; other clients are not affected. Requests
///    that arrived together (a client pipelining) are decoded together, and a `recv!()`
///    takes an already decoded one at once.
/// 3. When the connection ends, whatever ended it, [`on_disconnection`](Self::on_disconnection)
///    runs once.
///
/// Every hook receives the client as `&StreamClient`; clone it to keep it (a registry,
/// a channel, another task): [`StreamClient::send_packet`] works from any task while the
/// connection is open.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request handler",
    label = "expected a `StreamRequestHandler`",
    note = "implement `easynet::StreamRequestHandler` for `{Self}`, with a \
            `#[handler] async fn handle(&self, client: &StreamClient<Self::Response>)`"
)]
pub trait StreamRequestHandler: Send + Sync + 'static {
    /// The packet type received from clients.
    type Request: Send + 'static;
    /// The packet type sent to clients.
    type Response: 'static;

    /// Handles requests: write it as
    /// `#[handler] async fn handle(&self, client: &StreamClient<Self::Response>)`.
    ///
    /// [`#[handler]`](crate::handler) generates this signature; `recv` is where the
    /// server hands each request to the pending `recv!()`.
    fn handle<'a>(
        &'a self,
        client: &'a StreamClient<Self::Response>,
        recv: &'a RecvSlot<Self::Request>,
    ) -> Handler<'a, Self::Request, impl Future<Output = Result<(), HandlerError>> + Send + 'a>;

    /// Runs once when a client connects, before the first request is handled.
    ///
    /// Write it as a plain `async fn` (it may send packets or close the client). To read
    /// from the client first (a log-in before serving), write it instead as a
    /// [`#[handler]`](crate::handler) fn with `recv!()` points: the attribute then
    /// implements [`__on_connection_handler`](Self::__on_connection_handler) for you and
    /// this method is not called. An error closes the connection.
    fn on_connection<'a>(
        &'a self,
        client: &'a StreamClient<Self::Response>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        let _ = client;
        async { Ok(()) }
    }

    /// The generator of an `on_connection` written with `#[handler]`; generated, never
    /// written by hand.
    #[doc(hidden)]
    fn __on_connection_handler<'a>(
        &'a self,
        client: &'a StreamClient<Self::Response>,
        recv: &'a RecvSlot<Self::Request>,
    ) -> Option<
        Handler<'a, Self::Request, impl Future<Output = Result<(), HandlerError>> + Send + 'a>,
    > {
        let _ = (client, recv);
        None::<Handler<'a, Self::Request, std::future::Ready<Result<(), HandlerError>>>>
    }

    /// Runs once when a connection ends, whatever ended it (the peer, an error, a panic in
    /// the handler, [`StreamClient::close`], or the server shutting down).
    fn on_disconnection<'a>(
        &'a self,
        client: &'a StreamClient<Self::Response>,
    ) -> impl Future<Output = ()> + Send + 'a {
        let _ = client;
        async {}
    }

    /// Runs once when [`serve_forever`](crate::TcpServer::serve_forever) starts, before the
    /// first connection is accepted: the service's set-up.
    ///
    /// `exit_stack` is the analog of Python's `AsyncExitStack`: spawn background tasks
    /// and register clean-ups on it; at shutdown (after every client task has ended) the
    /// tasks stop and the clean-ups run, in reverse order. The handler comes as an
    /// `Arc<Self>` so that tasks and clean-ups can keep it:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use easynet::{handler, recv, ExitStack, HandlerError, ServerHandle, StreamClient, StreamRequestHandler};
    /// struct Service;
    ///
    /// impl Service {
    ///     async fn service_actions(&self) {
    ///         loop {
    ///             tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ///             // Do some stuff each second in background.
    ///         }
    ///     }
    /// }
    ///
    /// impl StreamRequestHandler for Service {
    ///     # type Request = String;
    ///     # type Response = String;
    ///     # #[handler]
    ///     # async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
    ///     #     recv!()?;
    ///     #     Ok(())
    ///     # }
    ///     async fn service_init(
    ///         self: Arc<Self>,
    ///         exit_stack: &mut ExitStack,
    ///         _server: &ServerHandle,
    ///     ) -> Result<(), HandlerError> {
    ///         exit_stack.callback(|| println!("Service stopped"));
    ///         exit_stack.spawn(async move { self.service_actions().await });
    ///         Ok(())
    ///     }
    /// }
    /// ```
    ///
    /// [`ClientLocal`] values set here are copied into every client's context. An error
    /// stops the server: `serve_forever` returns it, after the clean-ups registered so far
    /// have run.
    fn service_init<'a>(
        self: Arc<Self>,
        exit_stack: &'a mut ExitStack,
        server: &'a ServerHandle,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        let _ = (exit_stack, server);
        async { Ok(()) }
    }
}

/// What a handler body may return: `()` or `Result<(), E>` for any error `E` that
/// converts into [`HandlerError`].
#[diagnostic::on_unimplemented(
    message = "a handler must return `()` or `Result<(), E>`, not `{Self}`",
    note = "`E` is any error that converts into `easynet::HandlerError`"
)]
pub trait IntoHandlerResult {
    /// Converts into the result the server looks at.
    fn into_handler_result(self) -> Result<(), HandlerError>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: Into<HandlerError>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        self.map_err(Into::into)
    }
}

/// What `recv!(timeout = <expr>)` accepts: a `Duration`, or an `Option<Duration>`
/// (`None` waits forever).
#[diagnostic::on_unimplemented(
    message = "`recv!(timeout = ..)` takes a `Duration` or an `Option<Duration>`, not `{Self}`",
    note = "write a literal such as `30s`, `500ms` or `1.5s`, or an expression giving a `Duration`"
)]
pub trait IntoTimeout {
    /// Converts into the optional timeout.
    fn into_timeout(self) -> Option<Duration>;
}

impl IntoTimeout for Duration {
    fn into_timeout(self) -> Option<Duration> {
        Some(self)
    }
}

impl IntoTimeout for Option<Duration> {
    fn into_timeout(self) -> Option<Duration> {
        self
    }
}

impl IntoTimeout for &Duration {
    fn into_timeout(self) -> Option<Duration> {
        Some(*self)
    }
}

#[cfg(test)]
mod tests;
