//! [`SendLock`]: the mutex around a blocking client's send side, with a bounded wait for
//! [`close`](super::Client::close).

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Instant;

/// A mutex whose every release is counted, so that a thread can wait for it until a
/// deadline (`std`'s `Mutex` has no timed lock): `close` waits so for a send in progress,
/// and gives up on one that a peer that never reads holds forever.
pub(super) struct SendLock<T> {
    value: Mutex<T>,
    releases: Mutex<u64>,
    released: Condvar,
}

impl<T> SendLock<T> {
    pub(super) fn new(value: T) -> Self {
        SendLock {
            value: Mutex::new(value),
            releases: Mutex::new(0),
            released: Condvar::new(),
        }
    }

    /// Waits for the lock as long as it takes.
    pub(super) fn lock(&self) -> SendGuard<'_, T> {
        SendGuard {
            guard: Some(self.value.lock().unwrap_or_else(PoisonError::into_inner)),
            lock: self,
        }
    }

    /// Waits for the lock until `deadline`; `None` if it is still held then.
    pub(super) fn lock_until(&self, deadline: Instant) -> Option<SendGuard<'_, T>> {
        let mut releases = self.releases.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            // Tried with `releases` held: a release between this try and the wait below
            // cannot be missed, as the releaser counts it under `releases`.
            match self.value.try_lock() {
                Ok(guard) => {
                    return Some(SendGuard {
                        guard: Some(guard),
                        lock: self,
                    });
                }
                Err(TryLockError::Poisoned(p)) => {
                    return Some(SendGuard {
                        guard: Some(p.into_inner()),
                        lock: self,
                    });
                }
                Err(TryLockError::WouldBlock) => {}
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            let seen = *releases;
            releases = self
                .released
                .wait_timeout_while(releases, left, |count| *count == seen)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The held [`SendLock`]; releasing it wakes the threads waiting in `lock_until`.
pub(super) struct SendGuard<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
    lock: &'a SendLock<T>,
}

impl<T> Deref for SendGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl<T> DerefMut for SendGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl<T> Drop for SendGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        *self
            .lock
            .releases
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        self.lock.released.notify_all();
    }
}
