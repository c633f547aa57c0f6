//! `recv!(deadline = 1s)`: the only argument of `recv!` is `timeout`.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = recv!(deadline = 1s)?;
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
