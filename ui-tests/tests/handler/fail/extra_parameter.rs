//! `#[handler]` on a fn with a parameter after the client.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(
        &self,
        client: &StreamClient<Self::Response>,
        greeting: &str,
    ) -> Result<(), HandlerError> {
        let _request = recv!()?;
        client.send_packet(&greeting.to_owned()).await?;
        Ok(())
    }
}

fn main() {}
