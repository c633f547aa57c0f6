//! Error handling: `recv!()` gives `Err(RecvError::Parse(..))` for a bad packet and
//! `Err(RecvError::Timeout)` when its timeout expires; the handler goes on after both.

#![deny(warnings)]

use easynet::{
    HandlerError, JsonLines, RecvError, StreamClient, StreamRequestHandler, TcpServer, handler,
    recv,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {}

#[derive(Serialize)]
enum Response {
    Ok,
    BadRequest(String),
    TimedOut,
    InternalError,
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        match recv!(timeout = 30s) {
            Ok(_request) => client.send_packet(&Response::Ok).await?,
            Err(RecvError::Parse(error)) => {
                client
                    .send_packet(&Response::BadRequest(error.to_string()))
                    .await?
            }
            Err(RecvError::Timeout) => client.send_packet(&Response::TimedOut).await?,
            // `RecvError` is `#[non_exhaustive]`.
            Err(error) => {
                eprintln!("unexpected: {error}");
                if let Err(send_error) = client.send_packet(&Response::InternalError).await {
                    client.close().await;
                    return Err(send_error.into());
                }
            }
        }
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler);
}
