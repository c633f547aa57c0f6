//! A JSON-lines echo server, the server side of the how-to's "An Echo Client/Server Over
//! TCP": a tool for trying easynet by hand and for the tests.
//!
//! ```text
//! cargo run --release -p easynet-examples --example echo_server -- --port PORT [--host HOST]
//! ```
//!
//! Every packet (one JSON document per line) is checked and sent back unchanged, byte for
//! byte: it is decoded as a `serde_json::value::RawValue`, so key order, number spelling
//! and integers beyond 64 bits (Python's big ints) survive. A line that is not valid JSON,
//! or is longer than 64 KiB, is answered with `{"error": "<why>"}` and the connection
//! stays open. On startup it prints `echo_server listening on HOST:PORT`
//! (the real port with `--port 0`); it runs until Ctrl-C (or SIGTERM), then shuts down
//! cleanly. Logs go to stderr (`RUST_LOG` sets the level, default `info`).

use std::io::Write;

use clap::Parser;
use easynet::{
    BoxError, HandlerError, JsonLines, RecvError, StreamClient, StreamRequestHandler, TcpServer,
    handler, recv,
};
use easynet_examples::Endpoint;
use serde_json::json;
use serde_json::value::RawValue;

/// A JSON-lines echo server: every packet is sent back, bad ones get `{"error": ..}`.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
}

struct EchoRequestHandler;

/// A valid JSON document, kept as the exact text received.
type Packet = Box<RawValue>;

impl StreamRequestHandler for EchoRequestHandler {
    type Request = Packet;
    type Response = Packet;

    #[handler]
    async fn handle(&self, client: &StreamClient<Packet>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(packet) => client.send_packet(&packet).await?,
            Err(RecvError::Parse(error)) => {
                tracing::debug!(client = %client.remote_addr(), %error, "bad packet");
                let error = json!({"error": error.to_string()});
                client
                    .send_packet(&serde_json::value::to_raw_value(&error)?)
                    .await?;
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    easynet_examples::init_tracing("info");
    let Endpoint { host, port } = Args::parse().endpoint;

    let server = TcpServer::builder(JsonLines::new(), EchoRequestHandler)
        .host(host)
        .port(port)
        .bind()
        .await?;
    // Catch Ctrl-C from now on, before we say we are listening.
    let interrupted = easynet_examples::interrupted()?;
    let mut server_task = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    if server.wait_serving().await {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "echo_server listening on {}",
            server.local_addrs()[0]
        )?;
        stdout.flush()?;
    }

    tokio::select! {
        // The server stopped by itself: report why.
        result = &mut server_task => return Ok(result??),
        () = interrupted => {}
    }
    tracing::info!("interrupted, shutting down");
    server.shutdown().await;
    server_task.await??;
    Ok(())
}
