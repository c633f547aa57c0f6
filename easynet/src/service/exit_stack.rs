//! The service's lifetime: [`ExitStack`], the analog of Python's `AsyncExitStack` that
//! `service_init` receives.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use tokio::task::{AbortHandle, JoinHandle};

type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

enum Entry {
    Callback(Box<dyn FnOnce() + Send>),
    Async(Cleanup),
    Task(JoinHandle<()>),
}

/// Background tasks and clean-ups of a running service.
///
/// [`service_init`](crate::StreamRequestHandler::service_init) receives one. When the
/// server shuts down (after every client task has ended), the entries are unwound in
/// reverse order of registration: a task is stopped (aborted, then awaited), a clean-up
/// is run and awaited.
///
/// If the `serve_forever` future is dropped instead of shut down, the stack is unwound
/// as far as a destructor can: tasks are aborted, callbacks run, and async clean-ups are
/// spawned on the current runtime (if there is one) rather than awaited.
#[derive(Default)]
pub struct ExitStack {
    entries: Vec<Entry>,
}

impl ExitStack {
    pub(crate) fn new() -> Self {
        ExitStack::default()
    }

    /// Spawns a background task that runs while the server serves and is stopped at
    /// shutdown (Python: a task in a `TaskGroup` entered on the exit stack).
    pub fn spawn<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task);
        let abort = handle.abort_handle();
        self.entries.push(Entry::Task(handle));
        abort
    }

    /// Registers a function to call at shutdown (Python: `exit_stack.callback`).
    pub fn callback<F>(&mut self, callback: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.entries.push(Entry::Callback(Box::new(callback)));
    }

    /// Registers a future to run to completion at shutdown (Python:
    /// `exit_stack.push_async_callback`).
    pub fn push_async<F>(&mut self, cleanup: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.entries.push(Entry::Async(Box::pin(cleanup)));
    }

    /// How many entries are registered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Unwinds every entry, last registered first.
    pub(crate) async fn close(&mut self) {
        while let Some(entry) = self.entries.pop() {
            match entry {
                Entry::Callback(callback) => callback(),
                Entry::Async(cleanup) => cleanup.await,
                Entry::Task(handle) => {
                    handle.abort();
                    if let Err(e) = handle.await
                        && e.is_panic()
                    {
                        tracing::error!(error = %e, "service background task panicked");
                    }
                }
            }
        }
    }
}

impl Drop for ExitStack {
    fn drop(&mut self) {
        let runtime = tokio::runtime::Handle::try_current().ok();
        while let Some(entry) = self.entries.pop() {
            match entry {
                Entry::Callback(callback) => callback(),
                Entry::Async(cleanup) => {
                    if let Some(runtime) = &runtime {
                        runtime.spawn(cleanup);
                    }
                }
                Entry::Task(handle) => handle.abort(),
            }
        }
    }
}

impl fmt::Debug for ExitStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitStack")
            .field("entries", &self.entries.len())
            .finish()
    }
}
