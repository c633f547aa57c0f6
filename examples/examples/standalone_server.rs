//! "Server Object" of the how-to, with the synchronous API: a `StandaloneTcpServer` (the
//! async server on a tokio runtime of its own) whose `serve_forever()` blocks a plain
//! `fn main` until Ctrl-C or SIGTERM. Its handler echoes every JSON request.
//!
//! ```text
//! cargo run -p easynet-examples --example standalone_server -- --port 9000 [--host HOST] [--workers N] [--udp]
//! ```
//!
//! On startup it prints `standalone_server listening on HOST:PORT` (with `--port 0`, the
//! port picked), then serves; try it with `blocking_client --port PORT`.
//!
//! With `--udp` it serves the same echo over UDP instead, a `StandaloneUdpServer` (the
//! analog of easynetwork's `StandaloneUDPNetworkServer`): one JSON document per datagram,
//! each answered with itself, as `DatagramProtocol(JSONSerializer())` in easynetwork.

use std::io::Write;

use clap::Parser;
use easynet::blocking::{AsyncServer, StandaloneServer, StandaloneTcpServer, StandaloneUdpServer};
use easynet::{
    BoxError, DatagramClient, DatagramProtocol, DatagramRequestHandler, HandlerError, JsonLines,
    JsonSerializer, ShutdownSignal, StreamClient, StreamRequestHandler, TcpServer, UdpServer,
    handler, recv,
};
use serde_json::Value;

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

impl DatagramRequestHandler for MyRequestHandler {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &DatagramClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

/// Serves JSON echo with blocking calls until Ctrl-C or SIGTERM.
#[derive(Parser)]
struct Args {
    /// The host to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port to listen on (0: a free port).
    #[arg(long)]
    port: u16,
    /// The server runtime's worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Serve over UDP (one JSON document per datagram) instead of TCP (JSON lines).
    #[arg(long)]
    udp: bool,
}

fn main() -> Result<(), BoxError> {
    easynet_examples::init_tracing("info");
    let Args {
        host,
        port,
        workers,
        udp,
    } = Args::parse();
    let handler = MyRequestHandler;

    // Create the server, binding to `host` on `port`: the async builder's bind() runs on
    // the server's own runtime.
    if udp {
        let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
        let bind = UdpServer::builder(protocol, handler)
            .host(host)
            .port(port)
            .bind();
        serve(StandaloneUdpServer::new(workers, bind)?)
    } else {
        let protocol = JsonLines::<Value>::new();
        let bind = TcpServer::builder(protocol, handler)
            .host(host)
            .port(port)
            .bind();
        serve(StandaloneTcpServer::new(workers, bind)?)
    }
}

/// Serves until Ctrl-C or SIGTERM, whatever the transport.
fn serve<S: AsyncServer>(server: StandaloneServer<S>) -> Result<(), BoxError> {
    // Ctrl-C (and SIGTERM) shut the server down from its runtime; caught from now on.
    let signals = {
        let _runtime = server.runtime_handle().enter();
        ShutdownSignal::new()?
    };
    let handle = server.handle();
    server.runtime_handle().spawn(async move {
        let mut signals = signals;
        signals.recv().await;
        tracing::info!("interrupted, shutting down");
        handle.shutdown().await;
    });

    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "standalone_server listening on {}",
        server.local_addrs()[0]
    )?;
    stdout.flush()?;
    drop(stdout);

    // Activate the server; this will keep running until you interrupt the program with
    // Ctrl-C
    server.serve_forever()?;
    Ok(())
}
