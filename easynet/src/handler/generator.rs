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
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use genawaiter::GeneratorState;
use genawaiter::sync::{Co, Gen};

use super::{IntoHandlerResult, RecvError};
use crate::error::HandlerError;

type Body<'a> = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'a>>;

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

/// The slot through which the driver hands a request to a suspended `recv!()`.
type Slot<Request> = Mutex<Option<Result<Request, RecvError>>>;

/// The generator side of `recv!()`: the macro rewrites each `recv!(..)` into
/// `Recv::recv(&handle, params).await`.
#[doc(hidden)]
pub struct Recv<Request> {
    co: Co<RecvParams, ()>,
    slot: Arc<Slot<Request>>,
}

impl<Request> Recv<Request> {
    #[doc(hidden)]
    pub async fn recv(&self, params: RecvParams) -> Result<Request, RecvError> {
        self.co.yield_(params).await;
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .expect("easynet: the generator was resumed without a request (two `recv!()` awaited at once?)")
    }
}

/// Runs a `#[handler]` body to completion and converts what it returns.
#[doc(hidden)]
pub async fn finish<T, F>(body: F) -> Result<(), HandlerError>
where
    T: IntoHandlerResult,
    F: Future<Output = T>,
{
    body.await.into_handler_result()
}

/// A request handler's generator: what a [`#[handler]`](crate::handler) fn returns.
///
/// You do not build or drive one yourself: the server resumes it up to each `recv!()`,
/// decodes the next request, hands it over and resumes it again, until the body returns.
pub struct Handler<'a, Request> {
    generator: Gen<RecvParams, (), Body<'a>>,
    slot: Arc<Slot<Request>>,
}

/// How far one resume got.
pub(crate) enum Step {
    /// The body waits in a `recv!()`.
    Recv(RecvParams),
    /// The body returned.
    Done(Result<(), HandlerError>),
}

impl<'a, Request: Send + 'static> Handler<'a, Request> {
    /// Wraps a body that receives through `recv`. Used by the `#[handler]` expansion.
    #[doc(hidden)]
    pub fn new<F, Fut>(body: F) -> Self
    where
        F: FnOnce(Recv<Request>) -> Fut,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'a,
    {
        let slot: Arc<Slot<Request>> = Arc::new(Mutex::new(None));
        let body_slot = Arc::clone(&slot);
        let generator = Gen::new(move |co| -> Body<'a> {
            Box::pin(body(Recv {
                co,
                slot: body_slot,
            }))
        });
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
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(item);
    }
}

impl<Request> std::fmt::Debug for Handler<'_, Request> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler").finish_non_exhaustive()
    }
}
