//! `recv!()` inside a fn item nested in a handler cannot suspend the generator.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        fn wait() -> String {
            recv!().unwrap()
        }
        client.send_packet(&wait()).await?;
        Ok(())
    }
}

fn main() {}
