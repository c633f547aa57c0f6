//! The generator a `#[handler]` fn becomes, and the only module that touches genawaiter.
//!
//! genawaiter 0.99.1 is unmaintained (no release since 2020), so it stays behind this
//! module: replacing it changes nothing outside. Facts this relies on (see DESIGN.md):
//! - `Gen::async_resume()`, the only resume that lets the body await real futures, exists
//!   only when the resume type is `()`. So the request does not travel as the resume
//!   argument: the driver puts it in a slot shared with the generator, then resumes; the
//!   body's `recv!()` takes it from there.
//! - The synchronous `resume` polls with a no-op waker and panics if the body awaits a
//!   real future: the server only ever uses `async_resume`.
//! - Only the `sync` flavour is used (`Send`, so a connection can run on any worker
//!   thread); the `stack` flavour has unsoundness fixed only on genawaiter's master.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use genawaiter::GeneratorState;
use genawaiter::sync::{Co, Gen};

use super::RecvError;
use crate::error::HandlerError;

/// What one `recv!()` asks of the driver: wait for the next request, for at most
/// `timeout`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct RecvParams {
    pub(crate) timeout: Option<Duration>,
}

impl RecvParams {
    #[doc(hidden)]
    pub fn new(timeout: Option<Duration>) -> Self {
        RecvParams { timeout }
    }
}

/// Where the server puts the request that a suspended `recv!()` is waiting for.
///
/// One per connection, owned by the server's connection task and lent to every generator
/// of that connection (the `#[handler]`-generated methods take it as a hidden parameter),
/// so starting a generator allocates no slot of its own.
pub struct RecvSlot<Request>(Mutex<Option<Result<Request, RecvError>>>);

impl<Request> RecvSlot<Request> {
    pub(crate) fn new() -> Self {
        RecvSlot(Mutex::new(None))
    }

    fn put(&self, item: Result<Request, RecvError>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(item);
    }

    fn take(&self) -> Option<Result<Request, RecvError>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl<Request> std::fmt::Debug for RecvSlot<Request> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvSlot").finish_non_exhaustive()
    }
}

/// The generator side of `recv!()`: the macro rewrites each `recv!(..)` into
/// `Recv::recv(&handle, params).await`.
#[doc(hidden)]
pub struct Recv<'a, Request> {
    co: Co<RecvParams, ()>,
    slot: &'a RecvSlot<Request>,
}

impl<Request> Recv<'_, Request> {
    #[doc(hidden)]
    pub async fn recv(&self, params: RecvParams) -> Result<Request, RecvError> {
        self.co.yield_(params).await;
        self.slot.take().expect(
            "easynet: the generator was resumed without a request (two `recv!()` awaited at once?)",
        )
    }
}

/// A request handler's generator: what a [`#[handler]`](crate::handler) fn returns.
///
/// `F` is the body's future (its type is never written: the trait names it
/// `impl Future`). You do not build or drive one yourself: the server resumes it up to
/// each `recv!()`, decodes the next request, hands it over and resumes it again, until
/// the body returns.
pub struct Handler<'a, Request, F: Future> {
    generator: Gen<RecvParams, (), F>,
    slot: &'a RecvSlot<Request>,
}

/// How far one resume got.
pub(crate) enum Step {
    /// The body waits in a `recv!()`.
    Recv(RecvParams),
    /// The body returned.
    Done(Result<(), HandlerError>),
}

impl<'a, Request, F> Handler<'a, Request, F>
where
    F: Future<Output = Result<(), HandlerError>> + Send,
{
    /// Wraps a body that receives through `slot`. Used by the `#[handler]` expansion.
    ///
    /// genawaiter boxes the body once; with the per-connection slot, starting a
    /// generator costs that box and genawaiter's own shared cell, nothing more.
    #[doc(hidden)]
    pub fn new(slot: &'a RecvSlot<Request>, body: impl FnOnce(Recv<'a, Request>) -> F) -> Self {
        let generator = Gen::new(move |co| body(Recv { co, slot }));
        Handler { generator, slot }
    }

    /// Runs the body until its next `recv!()` or its end.
    pub(crate) async fn resume(&mut self) -> Step {
        match self.generator.async_resume().await {
            GeneratorState::Yielded(params) => Step::Recv(params),
            GeneratorState::Complete(result) => Step::Done(result),
        }
    }

    /// Hands the result of the pending `recv!()` over; the next `resume` returns it there.
    pub(crate) fn deliver(&self, item: Result<Request, RecvError>) {
        self.slot.put(item);
    }
}

impl<Request, F: Future> std::fmt::Debug for Handler<'_, Request, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler").finish_non_exhaustive()
    }
}
