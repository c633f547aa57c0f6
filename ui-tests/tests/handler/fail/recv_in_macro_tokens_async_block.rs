//! `recv!()` inside an async block in tokens that are not expressions (a macro's own syntax).

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

macro_rules! run {
    (wait for $future:expr) => {
        $future.await
    };
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let request = run!(wait for async { recv!() })?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

fn main() {}
