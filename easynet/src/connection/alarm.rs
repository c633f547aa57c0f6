//! [`Alarm`]: a timer whose deadline may move while it is polled.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

/// A timer for deadlines that come and go (a write stall, a shutdown that begins while
/// something else is awaited). The timer is allocated the first time a deadline is set,
/// so a connection that never needs one pays nothing.
#[derive(Default)]
pub(crate) struct Alarm {
    sleep: Option<Pin<Box<Sleep>>>,
    at: Option<Instant>,
}

impl Alarm {
    /// Polls for `at` (`None`: no deadline now). Ready once `at` has passed.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, at: Option<Instant>) -> Poll<()> {
        let Some(at) = at else {
            return Poll::Pending;
        };
        if self.at != Some(at) {
            self.at = Some(at);
            if let Some(sleep) = &mut self.sleep {
                sleep.as_mut().reset(at);
            }
        }
        self.sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)))
            .as_mut()
            .poll(cx)
    }
}

impl Alarm {
    /// As [`poll`](Self::poll), for a deadline that moves later often (an idle timer
    /// pushed back by every request): the timer is re-armed only when it fires before
    /// `at`, never pushed back on every call, so a busy connection costs the timer wheel
    /// one operation per period, not one per request.
    pub(crate) fn poll_lazy(&mut self, cx: &mut Context<'_>, at: Option<Instant>) -> Poll<()> {
        let Some(at) = at else {
            return Poll::Pending;
        };
        loop {
            match (&mut self.sleep, self.at) {
                (Some(sleep), Some(armed)) if armed <= at => {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if armed == at {
                        return Poll::Ready(());
                    }
                    // Fired early: the deadline moved on since it was armed.
                    sleep.as_mut().reset(at);
                    self.at = Some(at);
                }
                _ => return self.poll(cx, Some(at)),
            }
        }
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
