//! `recv!()` that another macro's expansion puts inside an async block: `#[handler]`
//! cannot see it, rustc rejects it (the label on the body is unreachable from there).

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

macro_rules! later {
    ($e:expr) => {
        async move { $e }
    };
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let request = later!(recv!()).await?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

fn main() {}
