//! "Request Handler Objects" and "Using handle() Generator / Minimum Requirements" of the
//! how-to: the smallest request handler.
//!
//! One handler instance serves every client; `handle` is written as straight-line async
//! code where `recv!()` plays the part of Python's `request = yield`. When `handle`
//! returns, the connection stays open and the server starts a fresh `handle` for the
//! next request.
//!
//! Run it with `cargo run -p easynet-examples --example simple_handler`: it starts the
//! server in the background, sends two requests on one connection, prints the answers
//! and shuts the server down.

use std::io::IsTerminal;

use easynet::{
    BoxError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient, TcpServer,
    handler, recv,
};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// Object representing the client request.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    name: String,
}

/// Object representing the response to send to the client.
#[derive(Debug, Serialize, Deserialize)]
struct Response {
    greeting: String,
}

/// The request handler of our server.
///
/// It is instantiated once for the server, and must implement `handle()` to
/// communicate with the client.
struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        // "client" is the write side of the connection to the remote host.
        // The read side is owned by the server, and the incoming request
        // comes out of recv!().

        // ### Before recv!()
        // This is the setup part before receiving a request.
        // You don't have much to do here.

        let request: Request = recv!()?;

        // ### After recv!()
        // Once the server has handed you the client's request, you can do
        // whatever you want with it and send responses back to the client.
        let response = Response {
            greeting: format!("Hello, {}!", request.name),
        };
        client.send_packet(&response).await?;

        // ### On return
        // When handle() returns, this request handler is finished. It does not
        // close the connection: the server immediately starts a new handle().
        // (To close it, call `client.close().await`; returning before the first
        // recv!(), or returning an error, closes it too.)
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
    for name in ["Alice", "Bob"] {
        client.send_packet(&Request { name: name.into() }).await?;
        let response = client.recv_packet().await?;
        println!("{name:?} -> {response:?}");
    }
    client.close().await;

    running.shutdown().await?;
    Ok(())
}
