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

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
