//! The clients a server has now: listed, counted, found by id.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::connection::{ClientId, StreamClient};
use crate::service::Counted;

/// The connected clients of one server.
pub(crate) struct Registry<Response> {
    clients: Mutex<HashMap<ClientId, StreamClient<Response>>>,
}

impl<Response> Registry<Response> {
    pub(crate) fn new() -> Self {
        Registry {
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, StreamClient<Response>>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `client` until the returned guard drops.
    pub(crate) fn register(
        &self,
        client: &StreamClient<Response>,
        count: Counted,
    ) -> Registration<'_, Response> {
        self.lock().insert(client.id(), client.clone());
        Registration {
            registry: self,
            id: client.id(),
            _count: count,
        }
    }

    /// Every client connected now.
    pub(crate) fn snapshot(&self) -> Vec<StreamClient<Response>> {
        self.lock().values().cloned().collect()
    }

    /// The client with this id, if it is connected.
    pub(crate) fn get(&self, id: ClientId) -> Option<StreamClient<Response>> {
        self.lock().get(&id).cloned()
    }
}

/// A client's place in the [`Registry`], given up on drop.
pub(crate) struct Registration<'r, Response> {
    registry: &'r Registry<Response>,
    id: ClientId,
    _count: Counted,
}

impl<Response> Drop for Registration<'_, Response> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}
