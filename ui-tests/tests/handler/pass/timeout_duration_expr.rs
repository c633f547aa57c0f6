//! `recv!(timeout = <expr>)` with an expression giving a `Duration`, checked at run time.

#![deny(warnings)]

use std::time::Duration;

use easynet::{
    HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer, handler, recv,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {}

#[derive(Serialize)]
struct Response {}

struct MyRequestHandler {
    base: Duration,
}

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        // A call, an arithmetic expression, a borrowed field.
        let _login = recv!(timeout = Duration::from_secs(30))?;
        let _first = recv!(timeout = 2 * self.base)?;
        let _next = recv!(timeout = &self.base)?;
        client.send_packet(&Response {}).await?;
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let handler = MyRequestHandler {
        base: Duration::from_secs(1),
    };
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), handler);
}
