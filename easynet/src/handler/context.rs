//! Per-client variables: the analog of the how-to's `contextvars` section.
//!
//! Each connection runs in one tokio task, and the server runs that task inside a
//! task-local scope holding the client's variables. A value set in `on_connection` is
//! therefore visible from `handle` and from any function it calls, without passing it.
//! Values set in `service_init` are copied into every client's scope.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

tokio::task_local! {
    static CONTEXT: RefCell<Context>;
}

/// The variables of one client (or the template made by `service_init`).
#[derive(Clone, Default)]
pub(crate) struct Context {
    entries: Vec<(usize, Arc<dyn Any + Send + Sync>)>,
}

impl Context {
    /// Runs `future` with this context as the current one.
    pub(crate) async fn scope<F: Future>(self, future: F) -> (F::Output, Context) {
        CONTEXT
            .scope(RefCell::new(self), async move {
                let output = future.await;
                (output, CONTEXT.with(|c| c.take()))
            })
            .await
    }
}

/// A [`ClientLocal`] was used outside a connection task or `service_init`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("client-local variable used outside a connection task or service_init")]
pub struct ContextError(());

/// A variable with one value per connected client, declared as a `static`.
///
/// Set it in `on_connection` (or in `service_init`, to give every client a starting
/// value); read it from `handle` or from any function `handle` calls. Each connection has
/// its own copy; what one client's handler sets is never seen by another.
///
/// ```
/// use std::net::SocketAddr;
/// use easynet::ClientLocal;
///
/// static CLIENT_ADDR: ClientLocal<SocketAddr> = ClientLocal::new();
///
/// fn client_log(message: &str) {
///     // Works from any code running in the client's task, without passing the address.
///     if let Some(addr) = CLIENT_ADDR.get() {
///         println!("from {addr}: {message}");
///     }
/// }
/// ```
///
/// Declare it as a `static`: a `const` would make a new variable at every use.
/// Tasks spawned with `tokio::spawn` from a handler do not see the client's variables.
pub struct ClientLocal<T> {
    id: AtomicUsize,
    _value: PhantomData<fn() -> T>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

impl<T: Send + Sync + 'static> ClientLocal<T> {
    /// A new variable, unset for every client.
    pub const fn new() -> Self {
        ClientLocal {
            id: AtomicUsize::new(0),
            _value: PhantomData,
        }
    }

    fn id(&self) -> usize {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(existing) => existing,
        }
    }

    /// Sets the current client's value.
    ///
    /// # Panics
    /// Outside a connection task or `service_init`; see [`try_set`](Self::try_set).
    pub fn set(&self, value: T) {
        self.try_set(value)
            .expect("ClientLocal::set called outside a connection task or service_init");
    }

    /// Sets the current client's value, or fails outside a connection task or
    /// `service_init`.
    pub fn try_set(&self, value: T) -> Result<(), ContextError> {
        let id = self.id();
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        CONTEXT
            .try_with(|context| {
                let entries = &mut context.borrow_mut().entries;
                match entries.iter_mut().find(|(key, _)| *key == id) {
                    Some(entry) => entry.1 = value,
                    None => entries.push((id, value)),
                }
            })
            .map_err(|_| ContextError(()))
    }

    /// Calls `f` with the current client's value (`None` if unset, or outside a
    /// connection task).
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let id = self.id();
        let value = CONTEXT
            .try_with(|context| {
                context
                    .borrow()
                    .entries
                    .iter()
                    .find(|(key, _)| *key == id)
                    .map(|(_, value)| Arc::clone(value))
            })
            .ok()
            .flatten();
        f(value.as_deref().and_then(|v| v.downcast_ref::<T>()))
    }

    /// The current client's value, cloned (`None` if unset, or outside a connection task).
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|value| value.cloned())
    }
}

impl<T: Send + Sync + 'static> Default for ClientLocal<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for ClientLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLocal")
            .field("id", &self.id.load(Ordering::Relaxed))
            .finish()
    }
}
