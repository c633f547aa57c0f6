//! [`ServerTask`]: a server serving in a background task (the how-to's "Run Server In
//! Background").

use std::time::Duration;

use tokio::task::JoinHandle;

use super::handle::{ServerError, ServerHandle};
use super::signal::{ShutdownSignal, StopSignal};

/// A server serving in a background task, as [`Server::spawn`](crate::Server::spawn)
/// starts it.
///
/// [`shutdown`](Self::shutdown) stops it and tells how serving ended;
/// [`stopped`](Self::stopped) waits for it to end by itself (another task shut it down),
/// for example raced against a [`ShutdownSignal`](crate::ShutdownSignal). Dropping it
/// without either starts the shutdown, which then ends on its own in the background.
#[derive(Debug)]
pub struct ServerTask {
    handle: ServerHandle,
    id: tokio::task::Id,
    task: Option<JoinHandle<Result<(), ServerError>>>,
    /// What `serve_forever` returned, once [`stopped`](Self::stopped) saw it.
    ended: Option<Result<(), ServerError>>,
}

impl ServerTask {
    /// Spawns `serve` (a server's `serve_forever`) and waits until it serves.
    pub(crate) async fn spawn<F>(handle: ServerHandle, serve: F) -> Result<Self, ServerError>
    where
        F: Future<Output = Result<(), ServerError>> + Send + 'static,
    {
        let task = tokio::spawn(serve);
        let mut running = ServerTask {
            handle,
            id: task.id(),
            task: Some(task),
            ended: None,
        };
        if running.handle.wait_serving().await {
            return Ok(running);
        }
        // It closed without serving (`service_init` failed): say why.
        running.stopped().await;
        Err(match running.take_result() {
            Ok(()) => ServerError::Closed,
            Err(e) => e,
        })
    }

    /// The server's handle.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// The id of the tokio task that runs `serve_forever`.
    pub fn id(&self) -> tokio::task::Id {
        self.id
    }

    /// Waits until serving has ended (another task shut the server down, or it failed).
    /// Cancel-safe: race it against something else, then still call
    /// [`shutdown`](Self::shutdown) or [`join`](Self::join), which then return at once
    /// with what `serve_forever` returned.
    pub async fn stopped(&mut self) {
        if let Some(task) = &mut self.task {
            let ended = task.await.map_err(ServerError::Task).and_then(|r| r);
            self.task = None;
            self.ended = Some(ended);
        }
    }

    /// Shuts the server down ([`ServerHandle::shutdown`]) and returns what
    /// `serve_forever` returned.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if self.task.is_some() {
            self.handle.shutdown().await;
        }
        self.join_inner().await
    }

    /// Serves until a signal, then stops as a service should, and returns what
    /// `serve_forever` returned: Ctrl-C (SIGINT) [shuts down](ServerHandle::shutdown);
    /// SIGTERM [drains](ServerHandle::drain) within `drain_grace`, and a second signal
    /// during the drain shuts down at once. Returns earlier if the server stops by
    /// itself.
    ///
    /// ```no_run
    /// # async fn run(server: easynet::ServerTask) -> Result<(), Box<dyn std::error::Error>> {
    /// // Install the handlers before announcing that the server is ready.
    /// let mut signals = easynet::ShutdownSignal::new()?;
    /// server.stop_on_signals(&mut signals, std::time::Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn stop_on_signals(
        mut self,
        signals: &mut ShutdownSignal,
        drain_grace: Duration,
    ) -> Result<(), ServerError> {
        let signal = tokio::select! {
            () = self.stopped() => return self.take_result(),
            signal = signals.recv_kind() => signal,
        };
        if signal == StopSignal::Terminate {
            tracing::info!(grace = ?drain_grace, "SIGTERM: draining (a second signal shuts down at once)");
            let handle = self.handle.clone();
            tokio::select! {
                () = handle.drain(drain_grace) => {}
                _ = signals.recv_kind() => tracing::info!("second signal: shutting down now"),
            }
        } else {
            tracing::info!("interrupted, shutting down");
        }
        self.shutdown().await
    }

    /// Waits for serving to end by itself, and returns what `serve_forever` returned.
    pub async fn join(mut self) -> Result<(), ServerError> {
        self.join_inner().await
    }

    async fn join_inner(&mut self) -> Result<(), ServerError> {
        self.stopped().await;
        self.take_result()
    }

    fn take_result(&mut self) -> Result<(), ServerError> {
        self.ended.take().unwrap_or(Ok(()))
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.handle.shutdown_signal().begin();
        }
    }
}
