//! [`ShutdownSignal`]: Ctrl-C (and, on Unix, SIGTERM), caught from the moment it is
//! installed.

use std::io;

/// The signals that ask a server to stop: SIGINT (Ctrl-C) and SIGTERM on Unix, Ctrl-C on
/// Windows.
///
/// The handlers are installed by [`new`](Self::new), not at the first wait (as awaiting
/// `tokio::signal::ctrl_c()` does): a server can announce that it is ready, and a signal
/// that comes right after is still a clean shutdown, not a kill.
///
/// ```no_run
/// # async fn run(server: easynet::ServerHandle) -> std::io::Result<()> {
/// let mut signals = easynet::ShutdownSignal::new()?;
/// signals.recv().await;   // the first Ctrl-C or SIGTERM
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl ShutdownSignal {
    /// Installs the signal handlers. Call it inside a tokio runtime.
    ///
    /// # Errors
    /// The handlers cannot be installed.
    pub fn new() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignal {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(ShutdownSignal {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
            })
        }
    }

    /// Waits for the next signal (each call waits for a new one: a second Ctrl-C can
    /// mean "now").
    pub async fn recv(&mut self) {
        self.recv_kind().await;
    }

    /// Waits for the next signal and says which it was: a server may
    /// [drain](crate::ServerHandle::drain) on SIGTERM (what a supervisor or an
    /// orchestrator sends to stop a service) and shut down at once on Ctrl-C.
    pub async fn recv_kind(&mut self) -> StopSignal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => StopSignal::Interrupt,
                _ = self.terminate.recv() => StopSignal::Terminate,
            }
        }
        #[cfg(windows)]
        {
            self.ctrl_c.recv().await;
            StopSignal::Interrupt
        }
    }
}

/// Which signal [`ShutdownSignal::recv_kind`] received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (Unix only).
    Terminate,
}
