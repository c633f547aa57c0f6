//! `recv!()` inside an `async` block in a handler cannot suspend the generator.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = async { recv!() }.await?;
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
