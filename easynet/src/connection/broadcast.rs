//! One packet to many clients, encoded once: [`broadcast`].

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
/// It never waits (it is not `async`: call it anywhere, even holding a lock) and never
/// waits for a slow client in particular: the packet is queued on each client whose send
/// queue has room, and written at once where the peer reads. A client whose queue is at
/// its high-water mark (a peer that reads slower than the server sends) does not get it
/// and is listed in [`Broadcast::full`] (close it with
/// [`close_now`](StreamClient::close_now), or retry later), so that one slow peer never delays the others,
/// as with `tokio::sync::broadcast`, where a lagging receiver misses messages. To wait
/// for room instead, [`encode`](StreamClient::encode) once and
/// [`send_encoded`](StreamClient::send_encoded) to each client.
///
/// ```
/// # use easynet::{StreamClient, SendError};
/// # async fn announce(clients: &[StreamClient<String>]) -> Result<(), SendError> {
/// let report = easynet::broadcast(clients, &"server restarting soon".to_owned())?;
/// for slow in report.full() {
///     slow.close_now(); // it could not keep up: drop it rather than wait for it
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`SendError::Serialize`] if the packet cannot be serialized (nothing is sent to
/// anyone). Clients that are closed are counted in [`Broadcast::closed`], not errors.
pub fn broadcast<'a, Response: 'a>(
    clients: impl IntoIterator<Item = &'a StreamClient<Response>>,
    packet: &Response,
) -> Result<Broadcast<Response>, SendError> {
    let mut report = Broadcast::default();
    let mut encoded = None;
    for client in clients {
        let frame = match &encoded {
            Some(frame) => frame,
            None => match client.encode(packet) {
                Ok(frame) => encoded.insert(frame),
                Err(SendError::Closed) => {
                    report.closed += 1;
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        match client.try_send_encoded(frame) {
            Ok(()) => report.sent += 1,
            Err(SendError::Full) => report.full.push(client.clone()),
            Err(_) => report.closed += 1,
        }
    }
    Ok(report)
}
