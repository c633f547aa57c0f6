//! "Cancellation And Timeouts" of the how-to: `recv!(timeout = ..)` bounds the wait for
//! a request, like Python's `request = yield 30.0`.
//!
//! When the delay expires, `recv!()` gives `Err(RecvError::Timeout)` and the handler goes
//! on: here it sends a `TimedOut` packet, and the connection stays usable.
//!
//! Run it with `cargo run -p easynet-examples --example timeout`: a client sends a
//! request at once, then stays silent for longer than the timeout, then sends another.

use std::io::IsTerminal;
use std::time::Duration;

use easynet::{
    BoxError, HandlerError, JsonLines, RecvError, StreamClient, StreamRequestHandler, TcpClient,
    TcpServer, handler, recv,
};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    question: String,
}

#[derive(Debug, Serialize, Deserialize)]
enum Response {
    Answer(String),
    TimedOut,
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        // The client has 1 second to send the request to the server
        // (30 seconds in the how-to: write `recv!(timeout = 30s)`).
        match recv!(timeout = 1s) {
            Ok(request) => {
                let answer = format!("you asked {:?}", request.question);
                client.send_packet(&Response::Answer(answer)).await?;
            }
            Err(RecvError::Timeout) => client.send_packet(&Response::TimedOut).await?,
            Err(error) => return Err(error.into()),
        }
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
    let ask = |question: &str| Request {
        question: question.into(),
    };

    client.send_packet(&ask("quick?")).await?;
    println!("Sent at once -> {:?}", client.recv_packet().await?);

    // Say nothing: after 1 s the handler gives up waiting and tells us.
    let started = tokio::time::Instant::now();
    let response = client.recv_packet_timeout(Duration::from_secs(10)).await?;
    println!(
        "Said nothing -> {response:?} (after {:.1?})",
        started.elapsed()
    );

    // A fresh handle() serves the next request: the connection is still usable.
    client.send_packet(&ask("still there?")).await?;
    println!("Asked again -> {:?}", client.recv_packet().await?);
    client.close().await;

    running.shutdown().await?;
    Ok(())
}
