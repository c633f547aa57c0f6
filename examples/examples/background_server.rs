//! "Run Server In Background" of the how-to: serve in a background task, talk to the
//! server from the same program, then shut it down.
//!
//! Run it with `cargo run -p easynet-examples --example background_server`. It prints
//! something like:
//!
//! ```text
//! Server loop running in task: Task-3
//! From server: {"request":{"message":"Hello world 1"},"task":"Task-4"}
//! From server: {"request":{"message":"Hello world 2"},"task":"Task-5"}
//! From server: {"request":{"message":"Hello world 3"},"task":"Task-6"}
//! ```

use std::io::IsTerminal;
use std::net::SocketAddr;

use easynet::{
    BoxError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient, TcpServer,
    handler, recv,
};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;

        let current_task = format!("Task-{}", tokio::task::id());

        client
            .send_packet(&json!({"task": current_task, "request": request}))
            .await?;
        Ok(())
    }
}

async fn client(addr: SocketAddr, message: &str) -> Result<(), BoxError> {
    let client = TcpClient::connect(addr, JsonLines::<Value>::new()).await?;
    client.send_packet(&json!({"message": message})).await?;
    let response = client.recv_packet().await?;
    println!("From server: {response}");
    client.close().await;
    Ok(())
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
    let server = TcpServer::builder(JsonLines::new(), MyRequestHandler)
        .host("127.0.0.1")
        .bind()
        .await?;
    let addr = server.local_addrs()[0];

    let server_task = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    server.wait_serving().await;

    println!("Server loop running in task: Task-{}", server_task.id());

    client(addr, "Hello world 1").await?;
    client(addr, "Hello world 2").await?;
    client(addr, "Hello world 3").await?;

    server.shutdown().await;
    server_task.await??;
    Ok(())
}
