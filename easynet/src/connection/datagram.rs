//! One remote address of a datagram server: its [`DatagramClient`] handle, and the
//! [`DatagramDriver`] that runs its conversation over the address's queue of received
//! datagrams.
//!
//! ```text
//! server's receive loop -> address queue (bounded) -> DatagramDriver: decode -> RecvSlot -> recv!()
//! handler / any task -> DatagramClient::send_packet -> encode -> socket.send_to(address)
//! ```

use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::client::ClientFlags;
use super::driver::panic_message;
use super::generator::Conversation;
use super::recv::{BufferedRequests, RecvError, RecvSlot};
use super::shutdown::Shutdown;
use crate::error::SendError;
use crate::metrics::Metrics;
use crate::protocol::DatagramProtocol;
use crate::serializers::{PacketDeserializer, PacketSerializer};
use crate::transport::{Address, DatagramSocket};

/// Encodes one response into the bytes of one datagram; the protocol, type-erased.
trait EncodeDatagram<Response>: Send {
    fn encode(&mut self, packet: &Response, dst: &mut BytesMut) -> Result<(), SendError>;
}

impl<Response, S: PacketSerializer<Response> + Send> EncodeDatagram<Response>
    for DatagramProtocol<S>
{
    fn encode(&mut self, packet: &Response, dst: &mut BytesMut) -> Result<(), SendError> {
        DatagramProtocol::encode(self, packet, dst)
    }
}

struct Shared<Response> {
    remote: Address,
    local: Address,
    socket: Arc<DatagramSocket>,
    encoder: Mutex<Box<dyn EncodeDatagram<Response>>>,
    metrics: Metrics,
}

/// One remote address of a datagram server ([`UdpServer`](crate::UdpServer),
/// `UnixDatagramServer`), as its handler sees it.
///
/// A cheap handle (one `Arc`), `Clone + Send + Sync`: keep it, give it to another task;
/// [`send_packet`](Self::send_packet) works from anywhere, as long as the server's socket
/// is open. Clients compare equal, and hash, by address (the remote one and the server
/// socket's): two handles on the same peer are equal even across conversations.
///
/// UDP gives no connection: nothing tells a server that a peer went away, datagrams may
/// be dropped, duplicated or reordered, and `send_packet` succeeding only means the
/// datagram left this host.
pub struct DatagramClient<Response> {
    shared: Arc<Shared<Response>>,
}

impl<Response> Clone for DatagramClient<Response> {
    fn clone(&self) -> Self {
        DatagramClient {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<Response: 'static> DatagramClient<Response> {
    pub(crate) fn new<S>(
        socket: Arc<DatagramSocket>,
        local: Address,
        remote: Address,
        protocol: DatagramProtocol<S>,
        metrics: Metrics,
    ) -> Self
    where
        S: PacketSerializer<Response> + Send + 'static,
    {
        DatagramClient {
            shared: Arc::new(Shared {
                metrics,
                remote,
                local,
                socket,
                encoder: Mutex::new(Box::new(protocol)),
            }),
        }
    }
}

impl<Response> DatagramClient<Response> {
    /// Sends `packet` as one datagram to this address.
    ///
    /// # Errors
    /// [`SendError::Serialize`] if it cannot be serialized, [`SendError::TooLarge`] if it
    /// serializes to more than the protocol's datagram limit (nothing is sent), and
    /// [`SendError::Io`] if the system refuses the datagram.
    pub async fn send_packet(&self, packet: &Response) -> Result<(), SendError> {
        let mut datagram = BytesMut::new();
        self.shared
            .encoder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .encode(packet, &mut datagram)?;
        self.shared
            .socket
            .send_to(&datagram, &self.shared.remote)
            .await
            .map_err(SendError::Io)?;
        self.shared.metrics.packet_sent();
        self.shared.metrics.bytes_sent(datagram.len());
        Ok(())
    }

    /// The peer's address.
    pub fn remote_address(&self) -> &Address {
        &self.shared.remote
    }

    /// The address of the server's socket this peer sends to.
    pub fn local_address(&self) -> &Address {
        &self.shared.local
    }
}

impl<Response> PartialEq for DatagramClient<Response> {
    fn eq(&self, other: &Self) -> bool {
        self.shared.remote == other.shared.remote && self.shared.local == other.shared.local
    }
}

impl<Response> Eq for DatagramClient<Response> {}

impl<Response> Hash for DatagramClient<Response> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.shared.remote.hash(state);
        self.shared.local.hash(state);
    }
}

impl<Response> fmt::Debug for DatagramClient<Response> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramClient")
            .field("remote", &self.shared.remote)
            .field("local", &self.shared.local)
            .finish()
    }
}

/// Why a datagram conversation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DatagramEnd {
    /// Idle past the timeout, and forgotten.
    Forgotten,
    /// The server is shutting down (or its table was dropped).
    Shutdown,
    /// The conversation panicked: a new one may start.
    Panicked,
}

/// Runs the conversation of one remote address over its queue of datagrams.
pub(crate) struct DatagramDriver<'a, T, S> {
    queue: &'a mut mpsc::Receiver<T>,
    protocol: DatagramProtocol<S>,
    idle_timeout: Duration,
    shutdown: Shutdown,
    remote: &'a Address,
    metrics: Metrics,
}

/// A fresh request slot for a datagram conversation (which has no stream flags to share).
pub(crate) fn datagram_slot<Request>() -> RecvSlot<Request> {
    RecvSlot::new(Arc::new(ClientFlags {
        closing: AtomicBool::new(false),
        batching: AtomicBool::new(false),
    }))
}

/// Nothing decoded ahead: each datagram stays in its address's bounded queue (and counts
/// against its bound) until the handler's `recv!()` asks for it.
struct NothingAhead;

impl<Request> BufferedRequests<Request> for NothingAhead {
    fn next_buffered(&mut self) -> Option<Result<Request, RecvError>> {
        None
    }

    fn has_buffered_request(&self) -> bool {
        false
    }
}

impl<'a, T, S> DatagramDriver<'a, T, S>
where
    T: AsRef<[u8]> + Send,
    S: PacketDeserializer,
{
    pub(crate) fn new(
        queue: &'a mut mpsc::Receiver<T>,
        protocol: DatagramProtocol<S>,
        idle_timeout: Duration,
        shutdown: Shutdown,
        remote: &'a Address,
        metrics: Metrics,
    ) -> Self {
        DatagramDriver {
            queue,
            protocol,
            idle_timeout,
            shutdown,
            remote,
            metrics,
        }
    }

    /// Resumes the conversation up to each wait and hands it the next datagram (or the
    /// `recv!()` timeout), until it must stop. `forget` is asked, when the address has
    /// been idle for the idle timeout, to drop the address's state if no datagram came
    /// meanwhile (it sees the queue); when it refuses, the conversation goes on.
    pub(crate) async fn drive<F>(
        &mut self,
        mut conversation: Conversation<F>,
        slot: &RecvSlot<S::Packet>,
        forget: &(dyn Fn(&mpsc::Receiver<T>) -> bool + Sync),
    ) -> DatagramEnd
    where
        F: Future<Output = ()> + Send,
    {
        loop {
            let params = {
                let resume = AssertUnwindSafe(conversation.resume()).catch_unwind();
                let shutdown = &self.shutdown;
                let grace_over = async {
                    shutdown.started().await;
                    if let Some(deadline) = shutdown.grace_deadline() {
                        tokio::time::sleep_until(deadline).await;
                    }
                };
                tokio::select! {
                    resumed = resume => match resumed {
                        Ok(Some(params)) => params,
                        // The conversation's body loops forever: it ended only by a panic
                        // caught below (genawaiter then completes it).
                        Ok(None) => return DatagramEnd::Panicked,
                        Err(panic) => {
                            tracing::error!(
                                client = %self.remote,
                                panic = %panic_message(&*panic),
                                "handle panicked"
                            );
                            return DatagramEnd::Panicked;
                        }
                    },
                    () = grace_over => {
                        tracing::debug!(client = %self.remote, "handler still busy at the end of the grace period, dropped");
                        return DatagramEnd::Shutdown;
                    }
                }
            };
            if self.shutdown.is_started() {
                return DatagramEnd::Shutdown;
            }
            // A `recv!()` with a timeout of its own is bounded by it; any other wait by
            // the idle timeout, after which the address is forgotten.
            let (limit, idle) = match params.timeout {
                Some(timeout) if !params.between => (timeout, false),
                _ => (self.idle_timeout, true),
            };
            let first = loop {
                let started = tokio::time::sleep(limit);
                tokio::select! {
                    biased;
                    () = self.shutdown.started() => return DatagramEnd::Shutdown,
                    datagram = self.queue.recv() => match datagram {
                        Some(datagram) => {
                            let decoded = self.protocol.decode(datagram.as_ref());
                            match decoded {
                                Ok(_) => self.metrics.packet_received(),
                                Err(_) => self.metrics.parse_error(),
                            }
                            break decoded.map_err(RecvError::Parse);
                        }
                        None => return DatagramEnd::Shutdown,
                    },
                    () = started => {
                        if !idle {
                            break Err(RecvError::Timeout);
                        }
                        if forget(self.queue) {
                            return DatagramEnd::Forgotten;
                        }
                    }
                }
            };
            slot.deliver(first, &mut NothingAhead);
        }
    }
}
