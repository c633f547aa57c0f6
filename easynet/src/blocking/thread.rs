//! [`ServerThread`]: a [`StandaloneServer`] serving in a thread of its own.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::server::{AsyncServer, StandaloneServer};
use crate::service::ServerError;

/// A [`StandaloneServer`] (stream or datagram) running `serve_forever` in a background
/// thread: the analog of easynetwork's `NetworkServerThread`. [`start`](Self::start) returns once the server
/// serves; [`stop`](Self::stop) (or dropping it) shuts the server down, waits for the
/// thread, and stops the server's runtime.
///
/// ```no_run
/// # use easynet::{handler, recv, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer};
/// # use easynet::blocking::{ServerThread, StandaloneTcpServer};
/// # struct Echo;
/// # impl StreamRequestHandler for Echo {
/// #     type Request = serde_json::Value;
/// #     type Response = serde_json::Value;
/// #     #[handler]
/// #     async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
/// #         let request = recv!()?;
/// #         client.send_packet(&request).await?;
/// #         Ok(())
/// #     }
/// # }
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let bind = TcpServer::builder(JsonLines::new(), Echo).host("127.0.0.1").bind();
/// let running = ServerThread::start(StandaloneTcpServer::new(1, bind)?)?;
/// let addr = running.server().local_addrs()[0];
/// // ... talk to addr ...
/// running.stop()?;
/// # Ok(()) }
/// ```
pub struct ServerThread<S: AsyncServer> {
    server: Arc<StandaloneServer<S>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl<S: AsyncServer> ServerThread<S> {
    /// Runs `server.serve_forever()` in a new thread and waits until the server serves.
    ///
    /// # Errors
    /// What `serve_forever` returned when the server closed without serving
    /// (`service_init` failed, or the server was already serving or closed); the thread
    /// has ended then.
    ///
    /// # Panics
    /// If the thread cannot be spawned, as [`std::thread::spawn`].
    pub fn start(server: StandaloneServer<S>) -> Result<Self, ServerError> {
        let server = Arc::new(server);
        let thread = std::thread::Builder::new()
            .name("easynet-serve".to_owned())
            .spawn({
                let server = Arc::clone(&server);
                move || server.serve_forever()
            })
            .expect("failed to spawn the server thread");
        let mut running = ServerThread {
            server,
            thread: Some(thread),
        };
        if running.server.wait_serving(None) {
            Ok(running)
        } else {
            // Closed without serving: the thread returns the reason.
            running.join().and(Err(ServerError::Closed))
        }
    }

    /// The server, to learn its addresses or reach its async server.
    pub fn server(&self) -> &StandaloneServer<S> {
        &self.server
    }

    /// Shuts the server down (as [`StandaloneServer::shutdown`]), waits for its thread and
    /// stops the server's runtime.
    ///
    /// # Errors
    /// What `serve_forever` returned.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.server.shutdown();
        self.join()
    }

    /// Waits for the thread and returns what `serve_forever` returned (a panic in it goes
    /// on to the caller).
    fn join(&mut self) -> Result<(), ServerError> {
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }
}

impl<S: AsyncServer> Drop for ServerThread<S> {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.server.shutdown();
            let _ = thread.join();
        }
    }
}

impl<S: AsyncServer + fmt::Debug> fmt::Debug for ServerThread<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerThread")
            .field("server", &self.server)
            .field("running", &self.thread.is_some())
            .finish()
    }
}
