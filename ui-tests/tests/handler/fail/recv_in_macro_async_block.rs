//! `recv!()` inside an async block in another macro's arguments.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        assert!(std::convert::identity(async { recv!() }).await.is_ok());
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
