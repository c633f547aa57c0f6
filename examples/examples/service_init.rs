//! "Service Initialization" of the how-to: `service_init` runs once when
//! `serve_forever` starts and receives an `ExitStack` (Python's `AsyncExitStack`).
//!
//! Here it registers a clean-up callback that prints "Service stopped" and spawns a
//! background task that ticks every 100 ms. At shutdown, after every connection has
//! ended, the task is stopped and the callback runs (last registered, first unwound).
//!
//! Run it with `cargo run -p easynet-examples --example service_init`: a client asks how
//! many ticks the service has counted, then the server shuts down and prints
//! "Service stopped".

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use easynet::{
    BoxError, ExitStack, HandlerError, JsonLines, ServerHandle, StreamClient, StreamRequestHandler,
    TcpClient, TcpServer, handler, recv,
};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

#[derive(Default)]
struct MyRequestHandler {
    /// Counted by the background task, read by `handle`.
    ticks: AtomicU64,
}

impl MyRequestHandler {
    async fn service_actions(&self) {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;

            // Do some stuff every 100 ms in background
            self.ticks.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn service_quit(&self) {
        println!("Service stopped");
    }
}

impl StreamRequestHandler for MyRequestHandler {
    type Request = Value;
    type Response = Value;

    // The handler comes as an `Arc<Self>`, so the task and the callback can keep it.
    async fn service_init(
        self: Arc<Self>,
        exit_stack: &mut ExitStack,
        _server: &ServerHandle,
    ) -> Result<(), HandlerError> {
        let this = Arc::clone(&self);
        exit_stack.callback(move || this.service_quit());

        exit_stack.spawn(async move { self.service_actions().await });
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let _request = recv!()?;

        let ticks = self.ticks.load(Ordering::Relaxed);
        client.send_packet(&json!({ "ticks": ticks })).await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Logs go to stderr (warnings and errors; RUST_LOG chooses otherwise).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let server =
        TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler::default()).await?;
    let addr = server.local_addrs()[0];
    // serve_forever() in a background task; returns once the server accepts clients.
    let running = server.spawn().await?;

    tokio::time::sleep(Duration::from_millis(350)).await;
    let client = TcpClient::connect(addr, JsonLines::<Value>::new()).await?;
    client.send_packet(&json!("how long?")).await?;
    println!("From server: {}", client.recv_packet().await?);
    client.close().await;

    println!("Shutting down");
    running.shutdown().await?;
    println!("Server stopped");
    Ok(())
}
