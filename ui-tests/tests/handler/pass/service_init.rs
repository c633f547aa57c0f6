//! Service initialization: `service_init` (which gets the handler as an `Arc<Self>`)
//! spawns a background task that keeps the handler and registers a clean-up on the
//! `ExitStack`.

#![deny(warnings)]

use std::sync::Arc;
use std::time::Duration;

use easynet::{
    ExitStack, HandlerError, JsonLines, ServerHandle, StreamClient, StreamRequestHandler,
    TcpServer, handler, recv,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {}

#[derive(Serialize)]
struct Response {}

struct MyRequestHandler;

impl MyRequestHandler {
    async fn service_actions(&self) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Do some stuff each second in background.
        }
    }

    fn service_quit() {
        println!("Service stopped");
    }
}

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    async fn service_init(
        self: Arc<Self>,
        exit_stack: &mut ExitStack,
        server: &ServerHandle,
    ) -> Result<(), HandlerError> {
        exit_stack.callback(Self::service_quit);
        let _task = exit_stack.spawn(async move { self.service_actions().await });
        println!("serving on {:?}", server.local_addrs());
        Ok(())
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
