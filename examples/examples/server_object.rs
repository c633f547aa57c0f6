//! "Server Object" of the how-to: create a `TcpServer` for a host and a port, with a
//! protocol and a request handler, and serve.
//!
//! Run it with `cargo run -p easynet-examples --example server_object`: it binds
//! 127.0.0.1 on a free port, serves one client round trip and shuts down. To serve like
//! the how-to until Ctrl-C, run
//! `cargo run -p easynet-examples --example server_object -- --host localhost --port 9000 --forever`.

use std::io::IsTerminal;

use clap::Parser;
use easynet::{
    BoxError, HandlerError, JsonLines, ShutdownSignal, StreamClient, StreamRequestHandler,
    TcpClient, TcpServer, handler, recv,
};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    n: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Response {
    square: u64,
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        let request = recv!()?;

        let square = request.n * request.n;

        client.send_packet(&Response { square }).await?;
        Ok(())
    }
}

/// The "Server Object" example: serve one round trip, or until Ctrl-C with --forever.
#[derive(Parser)]
struct Args {
    /// The host to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port to listen on (0: a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve until Ctrl-C instead of one round trip.
    #[arg(long)]
    forever: bool,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Logs go to stderr (connections at INFO; RUST_LOG chooses otherwise).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let Args {
        host,
        port,
        forever,
    } = Args::parse();
    // The server's protocol receives `Request`s (and sends `Response`s).
    let protocol = JsonLines::<Request>::new();
    let handler = MyRequestHandler;

    // Create the server, binding to `host` on `port`
    let server = TcpServer::builder(protocol, handler)
        .host(host)
        .port(port)
        .bind()
        .await?;
    let addr = server.local_addrs()[0];

    // With --forever, catch Ctrl-C (and SIGTERM) from now on: one that comes right
    // after "Serving on" is still a clean shutdown.
    let signals = forever.then(ShutdownSignal::new).transpose()?;

    // Activate the server: serve_forever() in a background task
    let running = server.spawn().await?;
    println!("Serving on {addr}");

    if let Some(mut signals) = signals {
        // Keep running until you interrupt the program with Ctrl-C
        signals.recv().await;
    } else {
        let client = TcpClient::connect(addr, JsonLines::<Response>::new()).await?;
        let request = Request { n: 12 };
        client.send_packet(&request).await?;
        println!("{request:?} -> {:?}", client.recv_packet().await?);
        client.close().await;
    }

    running.shutdown().await?;
    Ok(())
}
