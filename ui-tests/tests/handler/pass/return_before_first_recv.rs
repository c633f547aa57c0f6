//! Returning before the first `recv!()`: the server closes the connection.

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

impl MyRequestHandler {
    fn should_handle(&self, client: &StreamClient<Response>) -> bool {
        !client.remote_addr().ip().is_unspecified()
    }
}

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        if !self.should_handle(client) {
            return Ok(());
        }
        let _request = recv!()?;
        client.send_packet(&Response {}).await?;
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler);
}
