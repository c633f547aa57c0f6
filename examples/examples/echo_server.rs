//! An echo server, the server side of the how-to's "An Echo Client/Server Over
//! TCP": a tool for trying easynet by hand and for the tests.
//!
//! ```text
//! cargo run --release -p easynet-examples --example echo_server -- --port PORT [--host HOST]
//!     [--format NAME] [--tls-cert FILE --tls-key FILE]
//!     [--max-connections N] [--frame-timeout SECS] [--idle-timeout SECS]
//! cargo run --release -p easynet-examples --example echo_server -- --unix PATH [...]
//! ```
//!
//! By default, every packet (one JSON document per line) is checked and sent back
//! unchanged, byte for byte: it is decoded as a `serde_json::value::RawValue`, so key order, number spelling
//! and integers beyond 64 bits (Python's big ints) survive. A line that is not valid JSON,
//! or is longer than 64 KiB, is answered with `{"error": "<why>"}` and the connection
//! stays open. On startup it prints `echo_server listening on HOST:PORT`
//! (the real port with `--port 0`); it runs until Ctrl-C, then shuts down cleanly, or
//! until SIGTERM, then drains (`--drain-grace SECS`, default 10: the listener closes at
//! once, idle connections close one by one over SECS, then it shuts down; a second
//! signal shuts down at once). Logs go to stderr (`RUST_LOG` sets the level, default `info`).
//!
//! `--format NAME` picks the wire format (default `json`, JSON lines): `json-nolines`,
//! `lines`, `cbor`, `msgpack`, `bincode`, `base64-json`, `zlib-json`, `bz2-json` (see
//! `easynet_examples::formats`). In every format a packet is sent back as received (JSON
//! documents byte for byte), and one that fails to decode or is too large is answered
//! with `{"error": "<why>"}` (in `lines`, the line `error: <why>`); the connection stays
//! open wherever the format lets the next packet be found.
//!
//! With `--tls-cert FILE --tls-key FILE` (a PEM certificate chain and its private key) it
//! serves TLS instead of plain TCP: the how-to's `ssl=ssl_context`. With `--unix PATH` it
//! serves a Unix socket instead (it prints `echo_server listening on unix:PATH`).
//!
//! The limits: `--max-connections N` serves at most N connections at once (more wait in
//! the backlog); `--frame-timeout SECS` closes a connection whose request has not fully
//! arrived SECS after its first byte (default 30); `--idle-timeout SECS` closes one idle
//! that long (default: never). Decimals are allowed (`0.5`).
//!
//! Behind a load balancer: `--proxy-protocol TRUSTED` takes PROXY protocol headers (v1
//! or v2, e.g. HAProxy's `send-proxy-v2`) from these comma-separated addresses or CIDR
//! ranges (`all` with `--unix`), `--proxy-header-timeout SECS` bounds the wait for one
//! (default 5), and `--reuse-port` lets several processes listen on one port (see
//! `easynet_examples::balancer`).

use std::io::Write;
use std::marker::PhantomData;

use clap::Parser;
use easynet::{
    BoxError, HandlerError, RecvError, Server, ShutdownSignal, StreamClient, StreamProtocol,
    StreamRequestHandler, TcpServer, Transport, UnixServer, handler, recv,
};
use easynet_examples::formats::{EchoPacket, FormatArgs, WithProtocol, with_server_protocol};
use easynet_examples::{LimitArgs, StreamEndpoint};

/// An echo server: every packet is sent back, bad ones get `{"error": ..}`.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    endpoint: StreamEndpoint,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    tls: easynet_examples::ServerTlsArgs,
    #[command(flatten)]
    balancer: easynet_examples::balancer::BalancerArgs,
}

/// Sends every packet back; answers one that fails to decode with an error packet.
struct EchoRequestHandler<T>(PhantomData<fn() -> T>);

impl<T: EchoPacket> StreamRequestHandler for EchoRequestHandler<T> {
    type Request = T;
    type Response = T;

    #[handler]
    async fn handle(&self, client: &StreamClient<T>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(packet) => client.send_packet(&packet).await?,
            Err(RecvError::Parse(error)) => {
                tracing::debug!(client = %client.remote_addr(), %error, "bad packet");
                client.send_packet(&T::error(error.to_string())).await?;
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

/// Serves the echo handler with the protocol of `--format`.
struct Serve(Args);

impl WithProtocol for Serve {
    type Output = Result<(), BoxError>;

    async fn run<T, P>(self, protocol: P) -> Result<(), BoxError>
    where
        T: EchoPacket,
        P: StreamProtocol<T, T>,
    {
        let Serve(args) = self;
        let handler = EchoRequestHandler::<T>(PhantomData);
        if let Some(path) = &args.endpoint.unix {
            if args.tls.tls_cert.is_some() {
                return Err("--tls-cert serves TLS over TCP: it does not go with --unix".into());
            }
            let builder = UnixServer::builder(path, protocol, handler);
            let builder = args.balancer.apply_unix(builder)?;
            let server = args.limits.apply(builder).bind().await?;
            let at = format!("unix:{}", path.display());
            return serve_until_signal(server, at, args.balancer.drain_grace).await;
        }
        let port = args.endpoint.port.ok_or("--port or --unix is required")?;
        let builder = TcpServer::builder(protocol, handler)
            .host(&args.endpoint.host)
            .port(port);
        let builder = args.balancer.apply_tcp(builder)?;
        let server = args.tls.apply(args.limits.apply(builder))?.bind().await?;
        let addr = server.local_addrs()[0].to_string();
        serve_until_signal(server, addr, args.balancer.drain_grace).await
    }
}

/// Serves until Ctrl-C or SIGTERM (which drains within `drain_grace`), after printing
/// `echo_server listening on WHERE`.
async fn serve_until_signal<H, P, T>(
    server: Server<H, P, T>,
    at: String,
    drain_grace: std::time::Duration,
) -> Result<(), BoxError>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
    T: Transport,
{
    // Catch Ctrl-C (and SIGTERM) from now on, before we say we are listening.
    let mut signals = ShutdownSignal::new()?;
    let running = server.spawn().await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "echo_server listening on {at}")?;
    stdout.flush()?;
    drop(stdout);
    Ok(running.stop_on_signals(&mut signals, drain_grace).await?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    easynet_examples::init_tracing("info");
    let args = Args::parse();
    with_server_protocol(args.format.format, Serve(args)).await
}
