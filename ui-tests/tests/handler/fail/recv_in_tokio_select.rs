//! `recv!()` inside one of the futures of `tokio::select!`.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

use std::time::Duration;

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        tokio::select! {
            request = async { recv!() } => {
                client.send_packet(&request?).await?;
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        Ok(())
    }
}

fn main() {}
