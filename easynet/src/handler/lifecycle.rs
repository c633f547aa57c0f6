//! The life of a connection, as the how-to states it: `on_connection`, then `handle`
//! again and again, then `on_disconnection`, with errors and panics logged and every wait
//! bounded.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use tokio_util::codec::Decoder;

use super::StreamRequestHandler;
use crate::connection::{
    Conversation, Driver, EndReason, Finished, Handler, RecvSlot, StreamClient, panic_message,
};
use crate::error::{HandlerError, ProtocolError, SendError};
use crate::transport::ReadHalf;

/// Serves one connection until it ends, then runs `on_disconnection` and closes the
/// transport. `ended` runs as soon as no more requests are handled (before
/// `on_disconnection`): the server forgets the client there.
pub(crate) async fn serve<H, R, D>(
    handler: &H,
    client: &StreamClient<H::Response>,
    mut driver: Driver<'_, H::Response, R, D>,
    ended: impl FnOnce(),
) where
    H: StreamRequestHandler,
    R: ReadHalf,
    D: Decoder<Item = H::Request, Error = ProtocolError>,
{
    // Lent to every handler body of this connection: the one place requests go through.
    let slot = RecvSlot::new(client.flags());
    {
        let hook = handler.__on_connection_handler(client, &slot);
        let body = converse(handler, client, &slot, hook);
        let conversation = Conversation::new(|suspender| slot.attach(suspender), body);
        driver.drive(conversation, &slot).await;
    }
    client.end_with(EndReason::Handler);
    client.mark_closing();
    ended();
    let hook = AssertUnwindSafe(handler.on_disconnection(client)).catch_unwind();
    // Bounded, so that a stuck hook cannot hold the connection (or a shutdown) forever.
    let bound = client.shutdown().grace().max(Duration::from_secs(1));
    match client.bounded(hook, Some(bound)).await {
        Some(Ok(())) => {}
        Some(Err(panic)) => tracing::error!(
            client = %client.remote_address(),
            panic = %panic_message(&*panic),
            "on_disconnection panicked"
        ),
        None => tracing::warn!(
            client = %client.remote_address(),
            "on_disconnection still running after its time, dropped"
        ),
    }
    client.finish().await;
    driver.discard_unread();
}

/// The body of a connection's generator: `on_connection` (plain, or a `#[handler]` one
/// that may `recv!()`), then `handle` again and again (a fresh body after each `Ok`),
/// until the client is closing or a body fails. Errors are logged here, with the
/// client's address.
async fn converse<'a, H, F>(
    handler: &'a H,
    client: &'a StreamClient<H::Response>,
    slot: &'a RecvSlot<H::Request>,
    on_connection: Option<Handler<'a, H::Request, F>>,
) where
    H: StreamRequestHandler,
    F: Future<Output = Result<(), HandlerError>> + Send,
{
    // Returning before any `recv!()` is fine for `on_connection`; an error is not.
    let connected = match on_connection {
        Some(hook) => hook.run().await.result,
        None => handler.on_connection(client).await,
    };
    if let Err(error) = connected {
        log_failure(client, "on_connection", &error);
        return;
    }
    while !client.is_closing() {
        let Finished { result, received } = handler.handle(client, slot).run().await;
        match result {
            Ok(()) if received => {}
            Ok(()) => {
                tracing::debug!(
                    client = %client.remote_address(),
                    "handle returned before its first recv!(): closing the connection"
                );
                return;
            }
            Err(error) => {
                log_failure(client, "handle", &error);
                return;
            }
        }
    }
}

/// Logs a hook's error: at `ERROR`, unless it only says that the connection is gone (a
/// send that failed because the peer left, or after the shutdown ended the connection),
/// which is no error of the handler's.
fn log_failure<Response>(client: &StreamClient<Response>, hook: &str, error: &HandlerError) {
    let disconnected = matches!(
        error.downcast_ref::<SendError>(),
        Some(SendError::Closed | SendError::Io(_))
    ) && (client.is_lost() || client.end_reason() == EndReason::Shutdown);
    if disconnected {
        tracing::debug!(
            client = %client.remote_address(),
            error = %error,
            "{hook} ended: the connection is gone"
        );
    } else {
        tracing::error!(
            client = %client.remote_address(),
            error = %error,
            "{hook} failed, closing the connection"
        );
    }
}
