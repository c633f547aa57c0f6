//! `recv!()` directly in other macros' arguments, however they are written: nested
//! macros, `vec![..; n]`, named format arguments, a macro's own syntax.

#![deny(warnings)]

use easynet::{
    HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer, handler, recv,
};

/// Tokens that are not a list of expressions.
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
        assert!(matches!(recv!(), Ok(_)));
        assert_eq!(recv!()?, "second");
        let copies = vec![recv!()?; 2];
        let line = format!("{first} {rest:?}", first = recv!()?, rest = copies);
        let echo = run!(wait for std::future::ready(recv!(timeout = 1s)))?;
        client.send_packet(&line).await?;
        client.send_packet(&echo).await?;
        Ok(())
    }
}

fn main() {
    // Checks the bounds of `TcpServer::bind`; the future is never polled.
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler);
}
