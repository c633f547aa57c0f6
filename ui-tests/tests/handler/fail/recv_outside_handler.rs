//! `recv!()` in an `async fn` without `#[handler]`.

use easynet::{HandlerError, StreamClient, recv};

struct MyRequestHandler;

impl MyRequestHandler {
    async fn helper(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let request: String = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

fn main() {}
