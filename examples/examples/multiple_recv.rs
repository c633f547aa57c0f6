//! "Having Multiple yield Statements" of the how-to: a handler may call `recv!()` any
//! number of times, in loops too, so one `handle` can serve a whole session.
//!
//! Here the client logs in first, then sends messages until it logs out; the handler's
//! inner `while !client.is_closing()` loop serves them, and closing the client ends the
//! loop (the how-to's `async with contextlib.aclosing(client)`).
//!
//! Run it with `cargo run -p easynet-examples --example multiple_recv`: a client logs
//! in, sends two messages, logs out, and sees the server close the connection.

use easynet::{
    BoxError, ClientError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient,
    handler, recv,
};
use easynet_examples::serve_in_background;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Request {
    Login { user: String },
    Say { text: String },
    Logout,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Response {
    Welcome { user: String },
    Said { user: String, text: String },
    Bye,
    Error { message: String },
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn handle(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        // Ask the user to log in
        let Request::Login { user } = recv!()? else {
            let message = "log in first".to_owned();
            client.send_packet(&Response::Error { message }).await?;
            client.close().await;
            return Ok(());
        };

        // Successfully logged in
        let welcome = Response::Welcome { user: user.clone() };
        client.send_packet(&welcome).await?;

        // Start handling requests, until the client is closed
        while !client.is_closing() {
            match recv!()? {
                Request::Say { text } => {
                    let user = user.clone();
                    client.send_packet(&Response::Said { user, text }).await?;
                }
                Request::Logout => {
                    client.send_packet(&Response::Bye).await?;
                    client.close().await;
                }
                Request::Login { .. } => {
                    let message = "already logged in".to_owned();
                    client.send_packet(&Response::Error { message }).await?;
                }
            }
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    easynet_examples::init_tracing("warn");
    let server = serve_in_background(JsonLines::new(), MyRequestHandler).await?;

    let client = TcpClient::connect(server.addr, JsonLines::<Response>::new()).await?;
    let session = [
        Request::Login {
            user: "alice".into(),
        },
        Request::Say {
            text: "hello".into(),
        },
        Request::Say {
            text: "how are you?".into(),
        },
        Request::Logout,
    ];
    for request in &session {
        client.send_packet(request).await?;
        println!("{request:?} -> {:?}", client.recv_packet().await?);
    }
    match client.recv_packet().await {
        Err(ClientError::ConnectionClosed) => println!("The server closed the connection"),
        other => println!("Unexpected: {other:?}"),
    }

    server.shutdown().await
}
