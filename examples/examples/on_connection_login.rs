//! "Wait For Client Data On Connection" of the how-to: an `on_connection` written with
//! `#[handler]` may call `recv!()`, here to read a log-in before any request is handled.
//! `on_disconnection` does the log-out clean-up.
//!
//! Run it with `cargo run -p easynet-examples --example on_connection_login`: a first
//! client logs in and is served; a second one sends a request without logging in and is
//! turned away.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Mutex;

use easynet::{
    BoxError, ClientError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient,
    TcpServer, handler, recv,
};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Login { user: String },
    Whoami,
}

#[derive(Debug, Serialize, Deserialize)]
enum Response {
    LoggedIn,
    You(String),
    Error(String),
}

/// Who is logged in on each connection.
#[derive(Default)]
struct MyRequestHandler {
    users: Mutex<HashMap<SocketAddr, String>>,
}

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    #[handler]
    async fn on_connection(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        // Ask the user to log in
        let Request::Login { user } = recv!()? else {
            let error = Response::Error("log in first".into());
            client.send_packet(&error).await?;
            client.close().await;
            return Ok(());
        };

        println!("[server] {user} logged in");
        self.users
            .lock()
            .unwrap()
            .insert(client.remote_addr(), user);

        // Successfully logged in
        client.send_packet(&Response::LoggedIn).await?;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<Response>) {
        // Perform log out clean-up
        if let Some(user) = self.users.lock().unwrap().remove(&client.remote_addr()) {
            println!("[server] {user} logged out");
        }
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        let request = recv!()?;

        let response = match request {
            Request::Whoami => {
                let user = self.users.lock().unwrap()[&client.remote_addr()].clone();
                Response::You(user)
            }
            Request::Login { .. } => Response::Error("already logged in".into()),
        };
        client.send_packet(&response).await?;
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
    let server =
        TcpServer::bind("127.0.0.1:0", JsonLines::new(), MyRequestHandler::default()).await?;
    let addr = server.local_addrs()[0];
    // serve_forever() in a background task; returns once the server accepts clients.
    let running = server.spawn().await?;

    // A client that logs in first.
    let alice = TcpClient::connect(addr, JsonLines::<Response>::new()).await?;
    for request in [
        Request::Login {
            user: "alice".into(),
        },
        Request::Whoami,
    ] {
        alice.send_packet(&request).await?;
        println!("[alice] {request:?} -> {:?}", alice.recv_packet().await?);
    }
    alice.close().await;

    // A client that does not.
    let mallory = TcpClient::connect(addr, JsonLines::<Response>::new()).await?;
    mallory.send_packet(&Request::Whoami).await?;
    println!("[mallory] Whoami -> {:?}", mallory.recv_packet().await?);
    if let Err(ClientError::ConnectionClosed) = mallory.recv_packet().await {
        println!("[mallory] the server closed the connection");
    }

    running.shutdown().await?;
    Ok(())
}
