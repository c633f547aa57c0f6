//! `recv!()` in the body of a `tokio::select!` branch: forbidden too, anywhere in the macro.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

use std::time::Duration;

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let _request = recv!()?;
            }
            sent = client.flush() => sent?,
        }
        Ok(())
    }
}

fn main() {}
