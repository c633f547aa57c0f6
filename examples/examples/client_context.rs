//! "Per-client variables (contextvars integration)" of the how-to: a `static`
//! `ClientLocal` holds one value per connected client, like Python's `ContextVar`.
//!
//! `on_connection` stores the client's address in it; `client_log`, called from
//! `handle`, reads it back without being given the client.
//!
//! Run it with `cargo run -p easynet-examples --example client_context`: two clients
//! connected at the same time each send a request, and the server's log lines show each
//! client's own address.

use std::io::IsTerminal;
use std::net::SocketAddr;

use easynet::{
    BoxError, ClientLocal, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient,
    TcpServer, handler, recv,
};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// The address of the client being served, set once per connection.
static CLIENT_ADDR: ClientLocal<SocketAddr> = ClientLocal::new();

struct ClientContextRequestHandler;

impl ClientContextRequestHandler {
    fn client_log(message: &str) {
        // The address of the currently handled client can be read
        // without passing it explicitly to this function.
        let client_address = CLIENT_ADDR.get().expect("set in on_connection");

        println!("[server] From {client_address}: {message}");
    }
}

impl StreamRequestHandler for ClientContextRequestHandler {
    type Request = Value;
    type Response = Value;

    async fn on_connection(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        CLIENT_ADDR.set(client.remote_addr());

        // Any code called from handle() can now get the client's
        // address with `CLIENT_ADDR.get()`.
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;

        Self::client_log(&format!("Received request: {request}"));

        client.send_packet(&json!({"ok": true})).await?;
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
        TcpServer::bind("127.0.0.1:0", JsonLines::new(), ClientContextRequestHandler).await?;
    let addr = server.local_addrs()[0];
    // serve_forever() in a background task; returns once the server accepts clients.
    let running = server.spawn().await?;

    // Two clients connected at the same time: each connection has its own value.
    let first = TcpClient::connect(addr, JsonLines::<Value>::new()).await?;
    let second = TcpClient::connect(addr, JsonLines::<Value>::new()).await?;
    for (name, client) in [("first", &first), ("second", &second)] {
        println!("[client] {name} client is {}", client.local_addr());
        client.send_packet(&json!({"from": name})).await?;
        client.recv_packet().await?;
    }
    first.close().await;
    second.close().await;

    running.shutdown().await?;
    Ok(())
}
