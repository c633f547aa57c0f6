//! `#[handler]` on a fn taking `self` by value instead of `&self`.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = recv!()?;
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
