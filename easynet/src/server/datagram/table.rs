//! The table of remote addresses with live state on a datagram server, with its bounds:
//! datagrams queued per address, addresses, and bytes queued in all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::metrics::DatagramDrop;
use crate::transport::Address;

/// An address, on one of the server's sockets (the answer goes out of the socket the
/// datagram came in on).
pub(crate) type Key = (usize, Address);

/// One received datagram waiting for its address's handler; its bytes count against the
/// server's budget until it is dropped.
pub(crate) struct Queued {
    data: Bytes,
    budget: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Queued {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.budget.fetch_sub(self.data.len(), Ordering::Relaxed);
    }
}

/// What became of a received datagram.
pub(crate) enum Dispatched {
    /// Queued for the address's running conversation.
    Queued,
    /// The address's first datagram: serve it with this queue.
    Started(mpsc::Receiver<Queued>),
    /// Dropped, for this reason.
    Dropped(DatagramDrop),
}

/// The bounds of a table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) queue_size: usize,
    pub(crate) max_addresses: usize,
    pub(crate) max_queued_bytes: usize,
}

pub(crate) struct Table {
    entries: Mutex<HashMap<Key, mpsc::Sender<Queued>>>,
    bounds: Bounds,
    queued_bytes: Arc<AtomicUsize>,
}

impl Table {
    pub(crate) fn new(bounds: Bounds) -> Self {
        Table {
            entries: Mutex::new(HashMap::new()),
            bounds,
            queued_bytes: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, mpsc::Sender<Queued>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `data` from `key` for its conversation, or starts one, within the bounds.
    pub(crate) fn dispatch(&self, key: &Key, data: &[u8]) -> Dispatched {
        let len = data.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        let item = Queued {
            data: Bytes::copy_from_slice(data),
            budget: Arc::clone(&self.queued_bytes),
        };
        if before + len > self.bounds.max_queued_bytes {
            return Dispatched::Dropped(DatagramDrop::MaxQueuedBytes);
        }
        let mut entries = self.lock();
        let item = match entries.get(key) {
            Some(sender) => match sender.try_send(item) {
                Ok(()) => return Dispatched::Queued,
                Err(TrySendError::Full(_)) => {
                    return Dispatched::Dropped(DatagramDrop::QueueFull);
                }
                // Its conversation's task is gone (aborted): start a new one.
                Err(TrySendError::Closed(item)) => {
                    entries.remove(key);
                    item
                }
            },
            None => item,
        };
        if entries.len() >= self.bounds.max_addresses {
            return Dispatched::Dropped(DatagramDrop::MaxAddresses);
        }
        let (sender, receiver) = mpsc::channel(self.bounds.queue_size.max(1));
        if sender.try_send(item).is_err() {
            unreachable!("a new queue has room");
        }
        entries.insert(key.clone(), sender);
        Dispatched::Started(receiver)
    }

    /// Forgets `key` if nothing arrived in its queue: under the lock `dispatch` takes, so
    /// a datagram is either queued before (and the address stays) or starts anew after.
    pub(crate) fn forget(&self, key: &Key, queue: &mpsc::Receiver<Queued>) -> bool {
        let mut entries = self.lock();
        if !queue.is_empty() {
            return false;
        }
        entries.remove(key);
        true
    }

    /// Drops every queue (the server is shutting down).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// How many addresses have an entry.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
