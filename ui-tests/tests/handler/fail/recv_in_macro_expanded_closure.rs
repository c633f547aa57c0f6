//! `recv!()` that another macro's expansion puts inside a plain closure: `#[handler]`
//! cannot see it, rustc rejects it (the label on the body is unreachable from there).
//! The one case with a second error: rustc also reports the suspension's `.await` in a
//! closure that is not `async`.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

macro_rules! call {
    ($e:expr) => {
        (|| $e)()
    };
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let request = call!(recv!())?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

fn main() {}
