//! "Connecting/Disconnecting Hooks" of the how-to: `on_connection` runs once when a
//! client connects (here it tells the client the service is ready), `on_disconnection`
//! once when the connection ends, whatever ended it.
//!
//! Run it with `cargo run -p easynet-examples --example connection_hooks`: a client
//! connects, waits for "ready", sends one request and leaves; the server prints when the
//! client connects and disconnects.

use std::io::IsTerminal;

use easynet::{
    BoxError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient, TcpServer,
    handler, recv,
};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    text: String,
}

#[derive(Debug, Serialize, Deserialize)]
enum Response {
    Ready,
    Upper(String),
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    async fn on_connection(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        println!("[server] {client:?} is connected");

        // Notify the client that the service is ready.
        client.send_packet(&Response::Ready).await?;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<Response>) {
        // Perform service shutdown clean-up
        // ...

        println!("[server] {client:?} is disconnected");
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        let request = recv!()?;

        client
            .send_packet(&Response::Upper(request.text.to_uppercase()))
            .await?;
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
    let server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler).await?;
    let addr = server.local_addrs()[0];
    // serve_forever() in a background task; returns once the server accepts clients.
    let running = server.spawn().await?;

    let client = TcpClient::connect(addr, JsonLines::<Response>::new()).await?;
    println!("[client] first packet: {:?}", client.recv_packet().await?);
    let request = Request {
        text: "hello".into(),
    };
    client.send_packet(&request).await?;
    println!("[client] {request:?} -> {:?}", client.recv_packet().await?);
    client.close().await;
    println!("[client] closed");

    // Shutting down waits for every connection to end, on_disconnection included.
    running.shutdown().await?;
    Ok(())
}
