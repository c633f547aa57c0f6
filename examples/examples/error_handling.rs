//! "Error Handling" of the how-to: a request that cannot be decoded comes out of
//! `recv!()` as `Err(RecvError::Parse(..))`, the analog of Python's
//! `StreamProtocolParseError` thrown through `yield`.
//!
//! The handler answers a bad request with an error packet; the bad frame is discarded
//! and the connection stays usable for the next request.
//!
//! Run it with `cargo run -p easynet-examples --example error_handling`: a client sends a
//! good request, a request of the wrong shape, then a good one again, and prints the
//! three answers.

use std::io::IsTerminal;

use easynet::{
    BoxError, HandlerError, JsonLines, RecvError, StreamClient, StreamRequestHandler, TcpClient,
    TcpServer, handler, recv,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing_subscriber::EnvFilter;

/// Add two numbers.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    a: i64,
    b: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status")]
enum Response {
    Ok { sum: i64 },
    BadRequest { error: String },
    InternalError,
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        // Every way recv!() can fail is a variant of RecvError. A disconnect is not one
        // of them: the handler is simply dropped (Python's GeneratorExit).
        match recv!() {
            Ok(request) => {
                let sum = request.a + request.b;
                client.send_packet(&Response::Ok { sum }).await?;
            }
            Err(RecvError::Parse(error)) => {
                let error = error.to_string();
                client.send_packet(&Response::BadRequest { error }).await?;
            }
            Err(error) => {
                // Not expected here (no timeout was asked for): log it.
                tracing::error!(%error, "unexpected error");
                client.send_packet(&Response::InternalError).await?;
            }
        }
        // If sending fails (the socket failed at the OS level), `?` returns the error:
        // the server logs it and closes the connection.
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
    let requests = [
        json!({"a": 1, "b": 2}),
        json!({"a": "one", "b": 2}), // valid JSON, but not a `Request`
        json!({"a": 20, "b": 22}),   // the connection is still usable
    ];
    for request in requests {
        client.send_packet(&request).await?;
        let response = client.recv_packet().await?;
        println!("{request} -> {response:?}");
    }
    client.close().await;

    running.shutdown().await?;
    Ok(())
}
