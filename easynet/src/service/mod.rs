//! The service layer: what a server is while it runs, independent of its transport and
//! of its handler's types: its [`ServerHandle`] (state, shutdown, client count), the
//! [`ExitStack`] that `service_init` fills, a [`ServerTask`] serving in the background,
//! and the [`ShutdownSignal`] that stops it.

mod exit_stack;
mod handle;
mod signal;
mod task;

pub use exit_stack::ExitStack;
pub(crate) use handle::Counted;
pub use handle::{ServerError, ServerHandle};
pub use signal::{ShutdownSignal, StopSignal};
pub use task::ServerTask;
