//! The generator a connection's `#[handler]` bodies run in, and the only module that
//! touches genawaiter.
//!
//! genawaiter 0.99.1 is unmaintained (no release since 2020), so it stays behind this
//! module: replacing it changes nothing outside. Facts this relies on, checked on Rust
//! 1.95 with genawaiter 0.99.1:
//! - `Gen::async_resume()`, the only resume that lets the body await real futures, exists
//!   only when the resume type is `()`. So the request does not travel as the resume
//!   argument: the driver puts it in the connection's `RecvSlot` (`recv.rs`),
//!   then resumes; the body's `recv!()` takes it from there.
//! - The future `async_resume` returns polls the body with the caller's own `Context`:
//!   the body runs in the connection's task, under its waker (the send queue tells the
//!   connection's own sends from other tasks' by that waker).
//! - The synchronous `resume` polls with a no-op waker and panics if the body awaits a
//!   real future: only `async_resume` is used.
//! - Only the `sync` flavour is used (`Send`, so a connection can run on any worker
//!   thread); the `stack` flavour has unsoundness fixed only on genawaiter's master.
//! - Two suspensions polled at once (two `recv!()` in a `join!`) make genawaiter panic
//!   ("Multiple values were yielded without an intervening await"): `#[handler]` rejects
//!   every place where that could happen at compile time.
//!
//! # One genawaiter generator per connection
//!
//! A connection runs its `#[handler]` bodies (`on_connection`, then `handle` again and
//! again) one after another inside a single genawaiter generator, its [`Conversation`].
//! Each body is a plain future ([`Handler`](super::Handler)) that the conversation
//! awaits in place; each `recv!()` that finds no request waiting suspends the
//! conversation. So a fresh `handle` after `Ok` is a fresh body (fresh locals, as the
//! how-to's fresh generator) without a fresh genawaiter generator: no allocation per
//! request, and the step from one body's end to the next one's first `recv!()` happens
//! within one resume.

use std::future::Future;
use std::time::Duration;

use genawaiter::GeneratorState;
use genawaiter::sync::{Co, Gen};

/// What one `recv!()` asks of the driver: wait for the next request, for at most
/// `timeout`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct RecvParams {
    pub(crate) timeout: Option<Duration>,
    /// Not a `recv!()`: a datagram conversation waits, between two `handle` bodies, for
    /// the datagram that starts the next one.
    pub(crate) between: bool,
}

impl RecvParams {
    #[doc(hidden)]
    pub fn new(timeout: Option<Duration>) -> Self {
        RecvParams {
            timeout,
            between: false,
        }
    }
}

/// A body's handle on its generator: suspends it until the driver has a request.
pub(crate) struct Suspender(Co<RecvParams, ()>);

impl Suspender {
    /// Suspends the conversation, telling the driver what this `recv!()` asks.
    pub(crate) fn suspend(&self, params: RecvParams) -> impl Future<Output = ()> + '_ {
        self.0.yield_(params)
    }
}

/// A connection's generator: runs `body` (the connection's bodies one after another),
/// suspending at each `recv!()` that finds no request waiting.
pub(crate) struct Conversation<F: Future> {
    generator: Gen<RecvParams, (), F>,
}

impl<F> Conversation<F>
where
    F: Future<Output = ()> + Send,
{
    /// Starts a conversation running `body`; `attach` receives the handle its
    /// `recv!()` points suspend it with (the connection's request slot keeps it).
    pub(crate) fn new(attach: impl FnOnce(Suspender), body: F) -> Self {
        let generator = Gen::new(|co| {
            attach(Suspender(co));
            body
        });
        Conversation { generator }
    }

    /// Runs until a `recv!()` waits for the network (`Some`, with what it asks), or the
    /// conversation is over (`None`). Deliver a result through the slot before the next
    /// resume.
    pub(crate) async fn resume(&mut self) -> Option<RecvParams> {
        match self.generator.async_resume().await {
            GeneratorState::Yielded(params) => Some(params),
            GeneratorState::Complete(()) => None,
        }
    }
}
