//! `recv!(timeout = <expr>)` with an expression that is not a `Duration` or an
//! `Option<Duration>` (here a number of seconds).

use easynet::{HandlerError, StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler {
    timeout_secs: u64,
}

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let _request = recv!(timeout = self.timeout_secs)?;
        client.send_packet(&String::new()).await?;
        Ok(())
    }
}

fn main() {}
