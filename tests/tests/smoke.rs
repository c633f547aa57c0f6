//! Quick end-to-end check of the core shapes.

use easynet::{HandlerError, JsonLines, StreamClient, StreamRequestHandler, handler, recv};
use easynet_tests::{RawPeer, serve};
use serde_json::{Value, json};

struct Echo;

impl StreamRequestHandler for Echo {
    type Request = Value;
    type Response = Value;

    async fn on_connection(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        client.send_packet(&json!("hello")).await?;
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

#[tokio::test]
async fn echo() {
    let running = serve(JsonLines::new(), Echo).await;
    let mut peer = RawPeer::connect(running.addr).await;
    assert_eq!(peer.json().await, json!("hello"));
    peer.send(b"{\"a\": 1}\n[1,2]\n").await;
    assert_eq!(peer.json().await, json!({"a": 1}));
    assert_eq!(peer.json().await, json!([1, 2]));
    running.stop().await;
}
