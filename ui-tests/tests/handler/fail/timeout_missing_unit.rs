//! `recv!(timeout = 30)`: a duration literal needs a unit.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = recv!(timeout = 30)?;
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
