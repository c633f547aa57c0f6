//! `recv!()` inside a closure in another macro's arguments.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        println!("{:?}", (0..2).map(|_| recv!()).count());
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
