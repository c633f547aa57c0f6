//! `recv!()` inside another macro's arguments, inside a closure in a handler.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let log = || println!("{:?}", recv!());
        log();
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
