//! `recv!()` inside `tokio::try_join!`: its futures are polled concurrently.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let (_request, ()) =
            tokio::try_join!(async { recv!().map_err(HandlerError::from) }, async {
                client
                    .send_packet(&String::new())
                    .await
                    .map_err(HandlerError::from)
            },)?;
        Ok(())
    }
}

fn main() {}
