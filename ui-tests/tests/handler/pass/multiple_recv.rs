//! Several `recv!()` in one body, one of them under an `if`.

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
    fn need_something_else(&self, _request: &Request, client: &StreamClient<Response>) -> bool {
        !client.is_closing()
    }
}

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&Response {}).await?;
        if self.need_something_else(&request, client) {
            let _additional_data = recv!()?;
            client.send_packet(&Response {}).await?;
        }
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler);
}
