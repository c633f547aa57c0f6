//! `#[handler]` on a fn without the `&self` receiver.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(client: &StreamClient<String>) -> Result<(), HandlerError> {
        let _request = recv!()?;
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
