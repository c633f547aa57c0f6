//! A handler body with no return type: it returns `()`, which never fails.

#![deny(warnings)]

use easynet::{JsonLines, StreamClient, StreamRequestHandler, TcpServer, handler, recv};
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
    async fn handle(&self, client: &StreamClient<Self::Response>) {
        if recv!().is_ok() && client.send_packet(&Response {}).await.is_err() {
            client.close().await;
        }
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler);
}
