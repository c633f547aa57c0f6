//! "Per-client variables (contextvars integration)" of the how-to: a `static`
//! `ClientLocal` holds one value per connected client, like Python's `ContextVar`.
//!
//! `on_connection` stores the client's address in it; `client_log`, called from
//! `handle`, reads it back without being given the client.
//!
//! Run it with `cargo run -p easynet-examples --example client_context`: two clients
//! connected at the same time each send a request, and the server's log lines show each
//! client's own address.

use std::net::SocketAddr;

use easynet::{
    BoxError, ClientLocal, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient,
    handler, recv,
};
use easynet_examples::serve_in_background;
use serde_json::{Value, json};

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
    easynet_examples::init_tracing("warn");
    let server = serve_in_background(JsonLines::new(), ClientContextRequestHandler).await?;

    // Two clients connected at the same time: each connection has its own value.
    let first = TcpClient::connect(server.addr, JsonLines::<Value>::new()).await?;
    let second = TcpClient::connect(server.addr, JsonLines::<Value>::new()).await?;
    for (name, client) in [("first", &first), ("second", &second)] {
        println!("[client] {name} client is {}", client.local_addr());
        client.send_packet(&json!({"from": name})).await?;
        client.recv_packet().await?;
    }
    first.close().await;
    second.close().await;

    server.shutdown().await
}
