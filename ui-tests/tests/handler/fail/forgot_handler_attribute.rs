//! `handle` written with `recv!()` but without `#[handler]`.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

fn main() {}
