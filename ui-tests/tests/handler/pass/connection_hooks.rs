//! Plain `async fn` connection hooks next to a `#[handler]` `handle`.

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

    async fn on_connection(
        &self,
        client: &StreamClient<Self::Response>,
    ) -> Result<(), HandlerError> {
        println!("{} is connected", client.remote_addr());
        // Notify the client that the service is ready.
        client.send_packet(&Response {}).await?;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<Self::Response>) {
        // Perform service shutdown clean-up.
        println!("{} is disconnected", client.remote_addr());
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
