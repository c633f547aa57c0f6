//! A datagram handler: the same `#[handler]` and `recv!()` (with a timeout) on a
//! `DatagramRequestHandler`, and a type implementing both handler traits.

#![deny(warnings)]

use easynet::{
    DatagramClient, DatagramProtocol, DatagramRequestHandler, HandlerError,
    JsonSerializer, RecvError, StreamClient, StreamRequestHandler, TcpServer, UdpServer, handler,
    recv,
};
use serde_json::Value;

struct Both;

impl DatagramRequestHandler for Both {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &DatagramClient<Self::Response>) -> Result<(), HandlerError> {
        let first = recv!()?;
        match recv!(timeout = 1.5s) {
            Ok(second) => client.send_packet(&second).await?,
            Err(RecvError::Timeout) => client.send_packet(&first).await?,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

impl StreamRequestHandler for Both {
    type Request = String;
    type Response = String;

    #[handler]
    async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
        let line = recv!()?;
        client.send_packet(&line).await?;
        Ok(())
    }
}

#[allow(dead_code)]
async fn servers() -> std::io::Result<()> {
    let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
    let _udp = UdpServer::bind("127.0.0.1:0", protocol, Both).await?;
    let _tcp = TcpServer::bind("127.0.0.1:0", easynet::StringLines::new(), Both).await?;
    Ok(())
}

fn main() {}
