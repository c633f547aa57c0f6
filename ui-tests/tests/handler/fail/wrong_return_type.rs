//! A handler body returning something else than `()` or `Result<(), E>`.

use easynet::{StreamClient, StreamRequestHandler, handler, recv};

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> String {
        let request = recv!().unwrap_or_default();
        let _ = client;
        request
    }
}

fn main() {}
