//! `#[handler]` on a fn without the client parameter.

use easynet::{HandlerError, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self) -> Result<(), HandlerError> {
        let _request = recv!()?;
        Ok(())
    }
}

fn main() {}
