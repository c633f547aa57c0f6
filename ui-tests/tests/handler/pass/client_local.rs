//! Per-client variables: a `ClientLocal` static set in `on_connection` and read from any
//! function `handle` calls (the how-to's `contextvars` section).

#![deny(warnings)]

use std::net::SocketAddr;

use easynet::{
    ClientLocal, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer, handler,
    recv,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct Request {}

#[derive(Serialize)]
struct Response {}

static CLIENT_ADDR: ClientLocal<SocketAddr> = ClientLocal::new();

struct ClientContextRequestHandler;

impl ClientContextRequestHandler {
    fn client_log(message: &str) {
        // The address of the current client, without passing it to this function.
        if let Some(address) = CLIENT_ADDR.get() {
            println!("From {address}: {message}");
        }
    }
}

impl StreamRequestHandler for ClientContextRequestHandler {
    type Request = Request;
    type Response = Response;

    async fn on_connection(
        &self,
        client: &StreamClient<Self::Response>,
    ) -> Result<(), HandlerError> {
        CLIENT_ADDR.try_set(client.remote_addr())?;
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let request = recv!()?;
        Self::client_log(&format!("Received request: {request:?}"));
        client.send_packet(&Response {}).await?;
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), ClientContextRequestHandler);
}
