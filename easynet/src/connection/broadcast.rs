//! One packet to many clients, encoded once: [`broadcast`].

use std::future::poll_fn;
use std::task::Poll;

use super::client::StreamClient;
use crate::error::SendError;

/// What a [`broadcast`] did.
#[derive(Debug)]
pub struct Broadcast<Response> {
    sent: usize,
    closed: usize,
    full: Vec<StreamClient<Response>>,
}

impl<Response> Broadcast<Response> {
    /// How many clients the packet was queued on.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// How many clients had already closed (nothing was sent to them).
    pub fn closed(&self) -> usize {
        self.closed
    }

    /// The clients whose send queue was at its high-water mark, which did not get the
    /// packet: peers reading slower than the server sends. Close them, send to them later
    /// with [`StreamClient::send_encoded`] (which waits), or let them miss it.
    pub fn full(&self) -> &[StreamClient<Response>] {
        &self.full
    }

    /// [`full`](Self::full), owned.
    pub fn into_full(self) -> Vec<StreamClient<Response>> {
        self.full
    }
}

impl<Response> Default for Broadcast<Response> {
    fn default() -> Self {
        Broadcast {
            sent: 0,
            closed: 0,
            full: Vec::new(),
        }
    }
}

/// Sends one packet to every client of `clients`, encoding it once (with the first open
/// client's protocol: give clients of one server).
///
/// It never waits for a slow client: the packet is queued on each client whose send
/// queue has room, and written at once where the peer reads. A client whose queue is at
/// its high-water mark (a peer that reads slower than the server sends) does not get it
/// and is listed in [`Broadcast::full`], so that one slow peer never delays the others,
/// as with `tokio::sync::broadcast`, where a lagging receiver misses messages. To wait
/// for room instead, [`encode`](StreamClient::encode) once and
/// [`send_encoded`](StreamClient::send_encoded) to each client.
///
/// ```
/// # use easynet::{StreamClient, SendError};
/// # async fn announce(clients: &[StreamClient<String>]) -> Result<(), SendError> {
/// let report = easynet::broadcast(clients, &"server restarting soon".to_owned()).await?;
/// for slow in report.full() {
///     slow.close().await;
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`SendError::Serialize`] if the packet cannot be serialized (nothing is sent to
/// anyone). Clients that are closed are counted in [`Broadcast::closed`], not errors.
pub async fn broadcast<'a, Response: 'a>(
    clients: impl IntoIterator<Item = &'a StreamClient<Response>>,
    packet: &Response,
) -> Result<Broadcast<Response>, SendError> {
    let mut clients = Some(clients.into_iter());
    poll_fn(|cx| {
        let mut report = Broadcast::default();
        let mut encoded = None;
        for client in clients.take().into_iter().flatten() {
            let frame = match &encoded {
                Some(frame) => frame,
                None => match client.encode(packet) {
                    Ok(frame) => encoded.insert(frame),
                    Err(SendError::Closed) => {
                        report.closed += 1;
                        continue;
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                },
            };
            match client.poll_try_send_encoded(cx, frame) {
                Poll::Ready(Ok(())) => report.sent += 1,
                Poll::Ready(Err(_)) if client.is_closing() => report.closed += 1,
                // `Full` (a send that may not wait never returns `Pending`).
                Poll::Ready(Err(_)) | Poll::Pending => report.full.push(client.clone()),
            }
        }
        Poll::Ready(Ok(report))
    })
    .await
}
