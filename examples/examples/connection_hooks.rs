//! "Connecting/Disconnecting Hooks" of the how-to: `on_connection` runs once when a
//! client connects (here it tells the client the service is ready), `on_disconnection`
//! once when the connection ends, whatever ended it.
//!
//! Run it with `cargo run -p easynet-examples --example connection_hooks`: a client
//! connects, waits for "ready", sends one request and leaves; the server prints when the
//! client connects and disconnects.

use easynet::{
    BoxError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient, handler, recv,
};
use easynet_examples::serve_in_background;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    text: String,
}

#[derive(Debug, Serialize, Deserialize)]
enum Response {
    Ready,
    Upper(String),
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Request;
    type Response = Response;

    async fn on_connection(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        println!("[server] {client:?} is connected");

        // Notify the client that the service is ready.
        client.send_packet(&Response::Ready).await?;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<Response>) {
        // Perform service shutdown clean-up
        // ...

        println!("[server] {client:?} is disconnected");
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Response>) -> Result<(), HandlerError> {
        let request = recv!()?;

        client
            .send_packet(&Response::Upper(request.text.to_uppercase()))
            .await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    easynet_examples::init_tracing("warn");
    let server = serve_in_background(JsonLines::new(), MyRequestHandler).await?;

    let client = TcpClient::connect(server.addr, JsonLines::<Response>::new()).await?;
    println!("[client] first packet: {:?}", client.recv_packet().await?);
    let request = Request {
        text: "hello".into(),
    };
    client.send_packet(&request).await?;
    println!("[client] {request:?} -> {:?}", client.recv_packet().await?);
    client.close().await;
    println!("[client] closed");

    // Shutting down waits for every connection to end, on_disconnection included.
    server.shutdown().await
}
