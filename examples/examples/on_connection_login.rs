//! "Wait For Client Data On Connection" of the how-to: an `on_connection` written with
//! `#[handler]` may call `recv!()`, here to read a log-in before any request is handled.
//! `on_disconnection` does the log-out clean-up.
//!
//! Run it with `cargo run -p easynet-examples --example on_connection_login`: a first
//! client logs in and is served; a second one sends a request without logging in and is
//! turned away.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use easynet::{
    BoxError, ClientError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient,
    handler, recv,
};
use easynet_examples::serve_in_background;
use serde::{Deserialize, Serialize};

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
    easynet_examples::init_tracing("warn");
    let server = serve_in_background(JsonLines::new(), MyRequestHandler::default()).await?;

    // A client that logs in first.
    let alice = TcpClient::connect(server.addr, JsonLines::<Response>::new()).await?;
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
    let mallory = TcpClient::connect(server.addr, JsonLines::<Response>::new()).await?;
    mallory.send_packet(&Request::Whoami).await?;
    println!("[mallory] Whoami -> {:?}", mallory.recv_packet().await?);
    if let Err(ClientError::ConnectionClosed) = mallory.recv_packet().await {
        println!("[mallory] the server closed the connection");
    }

    server.shutdown().await
}
