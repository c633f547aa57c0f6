//! The server's shutdown as one connection sees it: a signal, and a grace period measured
//! once, from the moment [`begin`](Shutdown::begin) is called; and the drain that may come
//! before it ([`drain`](Shutdown::drain)): no new connection, each idle one closed at its
//! own moment of the drain's grace period.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// How long past the grace period a connection may take to finish: to run
/// `on_disconnection`, write what it had queued and close its transport (TLS
/// `close_notify` included). Every connection has ended `shutdown_timeout` plus this much
/// after `shutdown()` was called.
pub(crate) const CLOSE_BOUND: Duration = Duration::from_secs(1);

/// The shutdown of one server, shared by its handle and every connection (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Set by `begin`, read without a lock on every request (the token's own
    /// `is_cancelled` takes one).
    started: AtomicBool,
    token: CancellationToken,
    grace: Duration,
    /// When the grace period ends: set once, by the first `begin`.
    deadline: OnceLock<Instant>,
    /// Cancelled by `drain` and by `begin` (a child of `token`): what a connection's
    /// driver waits for, so that one registered waker serves both.
    wake: CancellationToken,
    /// The drain, set once by the first `drain`.
    drain: OnceLock<Drain>,
    /// How many connections took their moment to close in the drain.
    drain_turns: AtomicUsize,
}

/// A drain: from `start`, the connections open then close one by one over `grace`.
#[derive(Debug, Clone, Copy)]
struct Drain {
    start: Instant,
    grace: Duration,
    /// The connections open when it started: the grace period is cut into this many
    /// turns.
    open: usize,
}

impl Shutdown {
    /// A shutdown whose busy handlers get `grace` to reach their next `recv!()`.
    pub(crate) fn new(grace: Duration) -> Self {
        let token = CancellationToken::new();
        Shutdown {
            inner: Arc::new(Inner {
                started: AtomicBool::new(false),
                wake: token.child_token(),
                token,
                grace,
                deadline: OnceLock::new(),
                drain: OnceLock::new(),
                drain_turns: AtomicUsize::new(0),
            }),
        }
    }

    /// Starts a drain of `grace`, with `open` connections open now: the accept loop
    /// stops, and each connection closes when it is idle at its turn (see
    /// [`drain_turn`](Self::drain_turn)). Only the first call counts; a drain after the
    /// shutdown began does nothing.
    pub(crate) fn drain(&self, grace: Duration, open: usize) {
        if self.is_started() {
            return;
        }
        self.inner.drain.get_or_init(|| Drain {
            start: Instant::now(),
            grace,
            open,
        });
        self.inner.wake.cancel();
    }

    /// Whether a drain (or the shutdown) began.
    pub(crate) fn is_draining(&self) -> bool {
        self.inner.wake.is_cancelled()
    }

    /// Resolves once a drain or the shutdown begins.
    pub(crate) fn draining(&self) -> WaitForCancellationFutureOwned {
        self.inner.wake.clone().cancelled_owned()
    }

    /// The moment this connection should close in the drain, taken once per connection:
    /// the `k`-th connection to ask, of the `n` open when the drain began, closes `k/n`
    /// of the way into the grace period (so the first at once, the others evenly spread;
    /// connections beyond `n`, which a drain does not expect, at its end). `None` when no
    /// drain began.
    pub(crate) fn drain_turn(&self) -> Option<Instant> {
        let drain = self.inner.drain.get()?;
        let turn = self.inner.drain_turns.fetch_add(1, Ordering::Relaxed);
        let open = drain.open.max(1);
        let offset = if turn >= open {
            drain.grace
        } else {
            // turn < open, so the fraction is below one; u32 turns are plenty.
            let turn = u32::try_from(turn).unwrap_or(u32::MAX);
            let open = u32::try_from(open).unwrap_or(u32::MAX);
            drain.grace / open * turn
        };
        Some(drain.start + offset)
    }

    /// When the drain's grace period ends; `None` when no drain began.
    pub(crate) fn drain_deadline(&self) -> Option<Instant> {
        self.inner.drain.get().map(|d| d.start + d.grace)
    }

    /// Starts the shutdown: the grace period is measured from the first call.
    pub(crate) fn begin(&self) {
        self.inner
            .deadline
            .get_or_init(|| Instant::now() + self.inner.grace);
        self.inner.started.store(true, Ordering::Release);
        self.inner.token.cancel();
    }

    /// Whether [`begin`](Self::begin) was called.
    pub(crate) fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
    }

    /// Resolves once the shutdown begins, as one future to keep: polling it again after
    /// it registered its waker costs no lock of the token's waiter list.
    pub(crate) fn started(&self) -> WaitForCancellationFutureOwned {
        self.inner.token.clone().cancelled_owned()
    }

    /// When busy handlers are dropped; `None` before the shutdown began.
    pub(crate) fn grace_deadline(&self) -> Option<Instant> {
        self.inner.deadline.get().copied()
    }

    /// When every connection has ended: the grace period plus [`CLOSE_BOUND`].
    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        self.grace_deadline().map(|deadline| deadline + CLOSE_BOUND)
    }

    /// The grace period.
    pub(crate) fn grace(&self) -> Duration {
        self.inner.grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_turns_spread_evenly_over_the_grace_period() {
        let shutdown = Shutdown::new(Duration::from_secs(5));
        assert_eq!(shutdown.drain_turn(), None, "no drain yet");
        assert!(!shutdown.is_draining());
        shutdown.drain(Duration::from_secs(4), 4);
        assert!(shutdown.is_draining() && !shutdown.is_started());
        let end = shutdown.drain_deadline().unwrap();
        let start = end - Duration::from_secs(4);
        let turns: Vec<_> = (0..6)
            .map(|_| shutdown.drain_turn().unwrap() - start)
            .collect();
        let secs = |s| Duration::from_secs(s);
        // Four open: 0, 1, 2, 3 s; the ones the drain did not expect, at its end.
        assert_eq!(
            turns,
            [secs(0), secs(1), secs(2), secs(3), secs(4), secs(4)]
        );
        // A second drain changes nothing; the shutdown still comes.
        shutdown.drain(Duration::from_secs(100), 1);
        assert_eq!(shutdown.drain_deadline(), Some(end));
        shutdown.begin();
        assert!(shutdown.is_started() && shutdown.is_draining());
    }

    #[tokio::test]
    async fn a_drain_after_the_shutdown_does_nothing() {
        let shutdown = Shutdown::new(Duration::from_secs(1));
        shutdown.begin();
        shutdown.drain(Duration::from_secs(4), 4);
        assert_eq!(shutdown.drain_deadline(), None);
        assert_eq!(shutdown.drain_turn(), None);
    }
}
