//! `easynet::recv!()` and `::easynet::recv!()` written with a path, without importing
//! `recv`; `#[handler]` written with a path too.

#![deny(warnings)]

use easynet::{HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {}

#[derive(Serialize)]
struct Response {}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[easynet::handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = easynet::recv!()?;
        let _next = ::easynet::recv!(timeout = 30s)?;
        client.send_packet(&Response {}).await?;
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler);
}
