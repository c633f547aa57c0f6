//! `easynet::recv!()` written with a path inside another macro's arguments.

#![deny(warnings)]

use easynet::{HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer, handler};
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
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        assert!(easynet::recv!().is_ok());
        assert!(::easynet::recv!(timeout = 1s).is_ok());
        client.send_packet(&Response {}).await?;
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler);
}
