//! The servers of the benchmark harness (`examples/bench/run.py`), one binary, one
//! `--kind` each, so that they are built and measured alike: every one runs on a
//! current-thread tokio runtime (or, with `--multi-thread`, on the runtime that
//! `#[tokio::main]` builds, with one worker thread: what the `echo_server` example runs
//! on in the harness) and echoes newline-terminated messages.
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
//! | `framed-json` | `framed-feed` with `serde_json`: each line is parsed as a JSON document (`Box<RawValue>`, its exact text, as `echo_server --format json` keeps it) and sent back; one that is not JSON is answered with `{"error": "<why>"}` |
//!
//! With `--tls-cert FILE --tls-key FILE` every kind serves TLS (rustls, ring provider):
//! easynet through its `tls` option, the hand-written ones through a tokio-rustls
//! acceptor. It prints `bench_server listening on ADDR` once ready and runs until killed.

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
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
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
    /// Serve TLS with this certificate chain (PEM)...
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// ...and this private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Run on a multi-thread runtime with one worker thread (what `#[tokio::main]`
    /// builds with `TOKIO_WORKER_THREADS=1`) instead of a current-thread one.
    #[arg(long)]
    multi_thread: bool,
}

type ServerConfig = std::sync::Arc<easynet::tls::rustls::ServerConfig>;

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    EasynetLoop,
    EasynetPerRequest,
    EasynetJson,
    TokioRaw,
    FramedSend,
    FramedFeed,
    FramedJson,
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

async fn serve_easynet<H, P>(
    protocol: P,
    handler: H,
    port: u16,
    tls: Option<ServerConfig>,
) -> Result<(), BoxError>
where
    H: StreamRequestHandler,
    P: easynet::StreamProtocol<H::Response, H::Request>,
{
    let mut builder = TcpServer::builder(protocol, handler)
        .host("127.0.0.1")
        .port(port)
        .log_client_connection(false);
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    let server = builder.bind().await?;
    announce(server.local_addrs()[0])?;
    server.serve_forever().await?;
    Ok(())
}

/// A byte stream, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for S {}

async fn tokio_raw(stream: impl Stream) -> std::io::Result<()> {
    let (mut read, mut write) = tokio::io::split(stream);
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

async fn framed_send(stream: impl Stream) -> Result<(), BoxError> {
    let mut framed = Framed::new(stream, LinesCodec::new());
    while let Some(line) = framed.next().await {
        framed.send(line?).await?;
    }
    Ok(())
}

async fn framed_feed(stream: impl Stream) -> Result<(), BoxError> {
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

/// The hand-written peer of `echo_server --format json`: JSON lines through `Framed`,
/// fed then flushed.
async fn framed_json(stream: impl Stream) -> Result<(), BoxError> {
    /// The document back (its exact text), or `{"error": "<why>"}`.
    fn answer(line: &str) -> String {
        match serde_json::from_str::<Box<RawValue>>(line) {
            Ok(document) => String::from(Box::<str>::from(document)),
            Err(error) => serde_json::json!({ "error": error.to_string() }).to_string(),
        }
    }
    let mut framed = Framed::new(stream, LinesCodec::new());
    while let Some(line) = framed.next().await {
        framed.feed(answer(&line?)).await?;
        while let Some(Some(line)) = framed.next().now_or_never() {
            framed.feed(answer(&line?)).await?;
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

/// Accepts and serves each connection with `serve` (over TLS with `tls`), as a Rust user
/// writes it by hand.
macro_rules! serve_hand_written {
    ($port:expr, $tls:expr, $serve:path) => {{
        let listener = TcpListener::bind(("127.0.0.1", $port)).await?;
        announce(listener.local_addr()?)?;
        let acceptor = $tls.map(tokio_rustls::TlsAcceptor::from);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let result: Result<(), BoxError> = match acceptor {
                    None => $serve(stream).await.map_err(Into::into),
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => $serve(stream).await.map_err(Into::into),
                        Err(e) => Err(e.into()),
                    },
                };
                if let Err(e) = result {
                    eprintln!("connection failed: {e}");
                }
            });
        }
    }};
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let mut runtime = if args.multi_thread {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(1);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    runtime.enable_all().build()?.block_on(serve(args))
}

async fn serve(args: Args) -> Result<(), BoxError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(easynet::tls::server_config_from_pem(cert, key)?),
        _ => None,
    };
    let port = args.port;
    match args.kind {
        Kind::EasynetLoop => serve_easynet(BytesLines::new(), LoopEcho, port, tls).await,
        Kind::EasynetPerRequest => {
            serve_easynet(BytesLines::new(), PerRequestEcho, port, tls).await
        }
        Kind::EasynetJson => serve_easynet(JsonLines::new(), JsonEcho, port, tls).await,
        Kind::TokioRaw => serve_hand_written!(port, tls, tokio_raw),
        Kind::FramedSend => serve_hand_written!(port, tls, framed_send),
        Kind::FramedFeed => serve_hand_written!(port, tls, framed_feed),
        Kind::FramedJson => serve_hand_written!(port, tls, framed_json),
    }
}
