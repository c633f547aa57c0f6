//! `recv!(timeout = self.timeout)` with a field of type `Option<Duration>`: `None` waits
//! as long as it takes.

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
    timeout: Option<Duration>,
}

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = recv!(timeout = self.timeout)?;
        let _no_limit = recv!(timeout = None)?;
        client.send_packet(&Response {}).await?;
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let handler = MyRequestHandler {
        timeout: Some(Duration::from_secs(30)),
    };
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), handler);
}
