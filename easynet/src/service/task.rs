//! [`ServerTask`]: a server serving in a background task (the how-to's "Run Server In
//! Background").

use tokio::task::JoinHandle;

use super::handle::{ServerError, ServerHandle};

/// A server serving in a background task, as [`TcpServer::spawn`](crate::TcpServer::spawn)
/// starts it.
///
/// [`shutdown`](Self::shutdown) stops it and tells how serving ended. Dropping it
/// without that starts the shutdown, which then ends on its own in the background.
#[derive(Debug)]
pub struct ServerTask {
    handle: ServerHandle,
    task: Option<JoinHandle<Result<(), ServerError>>>,
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
            task: Some(task),
        };
        if running.handle.wait_serving().await {
            return Ok(running);
        }
        // It closed without serving (`service_init` failed): say why.
        Err(match running.join_task().await {
            Ok(()) => ServerError::Closed,
            Err(e) => e,
        })
    }

    /// The server's handle.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Shuts the server down ([`ServerHandle::shutdown`]) and returns what
    /// `serve_forever` returned.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.handle.shutdown().await;
        self.join().await
    }

    /// Waits for serving to end by itself (another task shuts the server down).
    pub async fn join(mut self) -> Result<(), ServerError> {
        self.join_task().await
    }

    async fn join_task(&mut self) -> Result<(), ServerError> {
        match self.task.take() {
            Some(task) => task.await.map_err(ServerError::Task)?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.handle.shutdown_signal().begin();
        }
    }
}
