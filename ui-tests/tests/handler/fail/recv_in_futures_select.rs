//! `recv!()` inside one of the futures of `futures::select!`.

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

use futures::FutureExt;

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        futures::select! {
            request = async { recv!() }.fuse() => {
                client.send_packet(&request?).await?;
            }
            sent = client.send_packet(&String::new()).fuse() => sent?,
        }
        Ok(())
    }
}

fn main() {}
