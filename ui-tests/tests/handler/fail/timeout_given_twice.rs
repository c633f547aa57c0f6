//! `recv!(timeout = 1s, timeout = 2s)`: `timeout` given more than once.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = recv!(timeout = 1s, timeout = 2s)?;
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
