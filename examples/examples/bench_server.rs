//! The servers of the benchmark harness (`examples/bench/run.py`), one binary, one
//! `--kind` each, so that they are built and measured alike: every one runs on a
//! current-thread tokio runtime and echoes newline-terminated messages.
//!
//! ```text
//! cargo run --release -p easynet-examples --example bench_server -- --kind KIND [--port PORT]
//! ```
//!
//! | kind | what it is |
//! | --- | --- |
//! | `easynet-loop` | easynet, `BytesLines`, one generator per connection with an inner `loop { recv!() }` |
//! | `easynet-per-request` | the same handler without the inner loop: one generator per request |
//! | `easynet-json` | easynet, `JsonLines<Value>`, inner loop (`{"x": "..."}` documents) |
//! | `tokio-raw` | hand-written tokio echo: `read` into a 64 KiB buffer (not zeroed), `write_all` it back |
//! | `framed-send` | tokio-util `Framed<TcpStream, LinesCodec>`, `send` per message |
//! | `framed-feed` | the same, `feed` every message already buffered, then one `flush` |
//!
//! It prints `bench_server listening on ADDR` once ready and runs until killed.

use std::io::Write;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use easynet::{
    BoxError, BytesLines, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpServer,
    handler, recv,
};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LinesCodec};

/// One of the benchmark's echo servers.
#[derive(Parser)]
struct Args {
    /// Which server to run.
    #[arg(long, value_enum)]
    kind: Kind,
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    EasynetLoop,
    EasynetPerRequest,
    EasynetJson,
    TokioRaw,
    FramedSend,
    FramedFeed,
}

/// Echoes with one generator per connection (an inner loop).
struct LoopEcho;

impl StreamRequestHandler for LoopEcho {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        loop {
            let line = recv!()?;
            client.send_packet(&line).await?;
        }
    }
}

/// Echoes with one generator per request.
struct PerRequestEcho;

impl StreamRequestHandler for PerRequestEcho {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        client.send_packet(&line).await?;
        Ok(())
    }
}

/// Echoes JSON documents, decoded and encoded again.
struct JsonEcho;

impl StreamRequestHandler for JsonEcho {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        loop {
            let document = recv!()?;
            client.send_packet(&document).await?;
        }
    }
}

async fn serve_easynet<H, P>(protocol: P, handler: H, port: u16) -> Result<(), BoxError>
where
    H: StreamRequestHandler,
    P: easynet::StreamProtocol<H::Response, H::Request>,
{
    let server = TcpServer::builder(protocol, handler)
        .host("127.0.0.1")
        .port(port)
        .log_client_connection(false)
        .bind()
        .await?;
    announce(server.local_addrs()[0])?;
    server.serve_forever().await?;
    Ok(())
}

async fn tokio_raw(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut read, mut write) = stream.into_split();
    // Not zeroed: only the pages that data lands in are touched.
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        if read.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        write.write_all(&buf).await?;
    }
}

async fn framed_send(stream: TcpStream) -> Result<(), BoxError> {
    stream.set_nodelay(true)?;
    let mut framed = Framed::new(stream, LinesCodec::new());
    while let Some(line) = framed.next().await {
        framed.send(line?).await?;
    }
    Ok(())
}

async fn framed_feed(stream: TcpStream) -> Result<(), BoxError> {
    stream.set_nodelay(true)?;
    let mut framed = Framed::new(stream, LinesCodec::new());
    while let Some(line) = framed.next().await {
        framed.feed(line?).await?;
        // Feed every message already buffered, then flush once.
        while let Some(Some(line)) = framed.next().now_or_never() {
            framed.feed(line?).await?;
        }
        SinkExt::<String>::flush(&mut framed).await?;
    }
    Ok(())
}

fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "bench_server listening on {addr}")?;
    stdout.flush()
}

async fn serve_hand_written<F, Fut, E>(port: u16, serve: F) -> Result<(), BoxError>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    announce(listener.local_addr()?)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let connection = serve(stream);
        tokio::spawn(connection.map(|result| {
            if let Err(e) = result {
                eprintln!("connection failed: {e}");
            }
        }));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    match args.kind {
        Kind::EasynetLoop => serve_easynet(BytesLines::new(), LoopEcho, args.port).await,
        Kind::EasynetPerRequest => {
            serve_easynet(BytesLines::new(), PerRequestEcho, args.port).await
        }
        Kind::EasynetJson => serve_easynet(JsonLines::new(), JsonEcho, args.port).await,
        Kind::TokioRaw => serve_hand_written(args.port, tokio_raw).await,
        Kind::FramedSend => serve_hand_written(args.port, framed_send).await,
        Kind::FramedFeed => serve_hand_written(args.port, framed_feed).await,
    }
}
