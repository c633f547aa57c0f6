//! Waiting for client data on connection: an `on_connection` written with `#[handler]`
//! reads a log-in with `recv!()` before `handle` serves requests.

#![deny(warnings)]

use easynet::{
    HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer, handler, recv,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {}

#[derive(Serialize)]
struct Response {}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn on_connection(
        &self,
        client: &StreamClient<Self::Response>,
    ) -> Result<(), HandlerError> {
        // Ask the user to log in.
        let _initial_user_info = recv!(timeout = 30s)?;
        // Successfully logged in.
        client.send_packet(&Response {}).await?;
        Ok(())
    }

    async fn on_disconnection(&self, _client: &StreamClient<Self::Response>) {
        // Perform log-out clean-up.
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = recv!()?;
        client.send_packet(&Response {}).await?;
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler);
}
