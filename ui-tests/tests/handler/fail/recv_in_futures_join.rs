//! `recv!()` inside `futures::join!`: its futures are polled concurrently.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let (request, sent) = futures::join!(async { recv!() }, client.send_packet(&String::new()));
        let _request = request?;
        sent?;
        Ok(())
    }
}

fn main() {}
