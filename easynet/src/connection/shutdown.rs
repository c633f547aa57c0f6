//! The server's shutdown as one connection sees it: a signal, and a grace period measured
//! once, from the moment [`begin`](Shutdown::begin) is called.

use std::sync::atomic::{AtomicBool, Ordering};
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
}

impl Shutdown {
    /// A shutdown whose busy handlers get `grace` to reach their next `recv!()`.
    pub(crate) fn new(grace: Duration) -> Self {
        Shutdown {
            inner: Arc::new(Inner {
                started: AtomicBool::new(false),
                token: CancellationToken::new(),
                grace,
                deadline: OnceLock::new(),
            }),
        }
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
