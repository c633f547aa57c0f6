//! [`DatagramRequestHandler`]: the request handler of a datagram server, and the life of
//! one remote address's conversation.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::connection::{
    Conversation, DatagramClient, DatagramDriver, DatagramEnd, Finished, Handler, RecvSlot,
    datagram_slot,
};
use crate::error::HandlerError;
use crate::serializers::PacketDeserializer;
use crate::service::{ExitStack, ServerHandle};

/// A request handler for datagrams: the service a [`UdpServer`](crate::UdpServer) (or a
/// `UnixDatagramServer`) runs for every remote address.
///
/// Written like a [`StreamRequestHandler`](crate::StreamRequestHandler)'s, with
/// [`#[handler]`](crate::handler) and `recv!()`:
///
/// ```
/// use easynet::{handler, recv, DatagramClient, DatagramRequestHandler, HandlerError};
///
/// struct Echo;
///
/// impl DatagramRequestHandler for Echo {
///     type Request = serde_json::Value;
///     type Response = serde_json::Value;
///
///     #[handler]
///     async fn handle(&self, client: &DatagramClient<Self::Response>) -> Result<(), HandlerError> {
///         let request = recv!()?;
///         client.send_packet(&request).await?;
///         Ok(())
///     }
/// }
/// ```
///
/// The rules, as easynetwork's `AsyncDatagramRequestHandler`:
/// - There is one conversation per remote address, started by that address's first
///   datagram: [`handle`](Self::handle) runs, and its first `recv!()` gets the datagram.
/// - At most one `handle` runs per address. Datagrams that arrive while it is busy are
///   queued for it (a bounded queue: past its bound they are dropped and counted, see
///   [`UdpServerBuilder::queue_size`](crate::UdpServerBuilder::queue_size)).
/// - When `handle` returns (or fails: the error is logged), a fresh one starts at that
///   address's next datagram.
/// - A `handle` that returns before its first `recv!()` discards the datagram that
///   started it.
/// - A datagram that fails to decode comes out of `recv!()` as
///   [`RecvError::Parse`](crate::RecvError::Parse); the next one is decoded normally.
/// - `recv!(timeout = ..)` gives [`RecvError::Timeout`](crate::RecvError::Timeout) when
///   no datagram came in time. A `recv!()` without a timeout (or a conversation between
///   two `handle`s) waits at most the server's idle timeout; then the address is forgotten
///   and the waiting `handle` is dropped (its guards run), as a disconnect on TCP.
///
/// UDP may drop, duplicate and reorder datagrams, and tells nobody: a handler that
/// expects several datagrams in a row must cope with any of these (easynetwork's
/// documentation gives the same warning).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a datagram request handler",
    label = "expected a `DatagramRequestHandler`",
    note = "implement `easynet::DatagramRequestHandler` for `{Self}`, with a \
            `#[handler] async fn handle(&self, client: &DatagramClient<Self::Response>)`"
)]
pub trait DatagramRequestHandler: Send + Sync + 'static {
    /// The packet type received from clients.
    type Request: Send + 'static;
    /// The packet type sent to clients.
    type Response: 'static;

    /// Handles requests: write it as
    /// `#[handler] async fn handle(&self, client: &DatagramClient<Self::Response>)`.
    fn handle<'a>(
        &'a self,
        client: &'a DatagramClient<Self::Response>,
        recv: &'a RecvSlot<Self::Request>,
    ) -> Handler<'a, Self::Request, impl Future<Output = Result<(), HandlerError>> + Send + 'a>;

    /// Runs once when the server starts serving, before the first datagram is read: as
    /// [`StreamRequestHandler::service_init`](crate::StreamRequestHandler::service_init).
    fn service_init<'a>(
        self: Arc<Self>,
        exit_stack: &'a mut ExitStack,
        server: &'a ServerHandle,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        let _ = (exit_stack, server);
        async { Ok(()) }
    }
}

/// Serves one remote address: conversation after conversation (a new one only after a
/// panic), until it is forgotten or the server shuts down.
pub(crate) async fn serve_datagrams<H, T, S>(
    handler: &H,
    client: &DatagramClient<H::Response>,
    mut driver: DatagramDriver<'_, T, S>,
    forget: &(dyn Fn(&mpsc::Receiver<T>) -> bool + Sync),
) where
    H: DatagramRequestHandler,
    T: AsRef<[u8]> + Send,
    S: PacketDeserializer<Packet = H::Request>,
{
    loop {
        let slot = datagram_slot();
        let body = converse(handler, client, &slot);
        let conversation = Conversation::new(|suspender| slot.attach(suspender), body);
        match driver.drive(conversation, &slot, forget).await {
            DatagramEnd::Panicked => continue,
            DatagramEnd::Forgotten => {
                tracing::debug!(client = %client.remote_address(), "idle address forgotten");
                return;
            }
            DatagramEnd::Shutdown => return,
        }
    }
}

async fn converse<H: DatagramRequestHandler>(
    handler: &H,
    client: &DatagramClient<H::Response>,
    slot: &RecvSlot<H::Request>,
) {
    loop {
        slot.wait_for_request().await;
        let Finished { result, received } = handler.handle(client, slot).run().await;
        if !received {
            tracing::debug!(
                client = %client.remote_address(),
                "handle returned before its first recv!(): datagram discarded"
            );
            slot.discard_first();
        }
        if let Err(error) = result {
            tracing::error!(client = %client.remote_address(), error = %error, "handle failed");
        }
    }
}
