//! "Having Multiple yield Statements" of the how-to: a handler may call `recv!()` any
//! number of times, in loops too, so one `handle` can serve a whole session.
//!
//! Here the client logs in first, then sends messages until it logs out; the handler's
//! inner `while !client.is_closing()` loop serves them, and closing the client ends the
//! loop (the how-to's `async with contextlib.aclosing(client)`).
//!
//! Run it with `cargo run -p easynet-examples --example multiple_recv`: a client logs
//! in, sends two messages, logs out, and sees the server close the connection.

use std::io::IsTerminal;

use easynet::{
    BoxError, ClientError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient,
    TcpServer, handler, recv,
};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

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
    // Logs go to stderr (warnings and errors; RUST_LOG chooses otherwise).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler).await?;
    let addr = server.local_addrs()[0];
    // serve_forever() in a background task; returns once the server accepts clients.
    let running = server.spawn().await?;

    let client = TcpClient::connect(addr, JsonLines::<Response>::new()).await?;
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

    running.shutdown().await?;
    Ok(())
}
