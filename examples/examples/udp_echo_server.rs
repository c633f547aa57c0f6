//! A UDP echo server, the datagram twin of `echo_server`: a tool for trying easynet's
//! datagram servers by hand and for the tests.
//!
//! ```text
//! cargo run --release -p easynet-examples --example udp_echo_server -- --port PORT [--host HOST]
//!     [--format NAME] [--reuse-port]
//! cargo run --release -p easynet-examples --example udp_echo_server -- --unix PATH [--format NAME]
//! ```
//!
//! Every datagram is one packet (by default one JSON document), decoded and sent back to
//! its sender (JSON documents byte for byte: they are kept as their exact text). A
//! datagram that fails to decode is answered with `{"error": "<why>"}` (in `lines`, the
//! text `error: <why>`). On startup it prints `udp_echo_server listening on HOST:PORT`
//! (the real port with `--port 0`; `unix:PATH` with `--unix PATH`); it runs until Ctrl-C
//! (or SIGTERM), then shuts down cleanly. Logs go to stderr (`RUST_LOG` sets the level,
//! default `info`).
//!
//! `--format NAME` takes `echo_server`'s names (see `easynet_examples::formats`): `json`
//! (and `json-nolines`, the same on datagrams), `lines` (one UTF-8 string per datagram),
//! `cbor`, `msgpack`, `bincode`, `base64-json`, `zlib-json`, `bz2-json`.
//!
//! `--reuse-port` sets `SO_REUSEPORT`, so that several processes can bind the same port
//! (the kernel spreads datagrams over them by a hash of the sender's address).
//!
//! The server's bounds are the library's defaults: 32 datagrams queued per address, 4096
//! addresses with live state, 16 MiB queued in all, addresses forgotten after 60 s idle.

use std::io::Write;
use std::marker::PhantomData;

use clap::Parser;
use easynet::{
    BoxError, DatagramClient, DatagramKind, DatagramProtocol, DatagramRequestHandler,
    DatagramSerializer, DatagramServer, HandlerError, RecvError, ShutdownSignal, UdpServer,
    handler, recv,
};
use easynet_examples::StreamEndpoint;
use easynet_examples::formats::{
    EchoPacket, FormatArgs, WithDatagramProtocol, with_datagram_server_protocol,
};

/// A UDP echo server: every datagram is sent back, bad ones get `{"error": ..}`.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    endpoint: StreamEndpoint,
    #[command(flatten)]
    format: FormatArgs,
    /// Set SO_REUSEPORT, so that several processes can bind the same port.
    #[arg(long)]
    reuse_port: bool,
}

/// Sends every packet back; answers one that fails to decode with an error packet.
struct EchoRequestHandler<T>(PhantomData<fn() -> T>);

impl<T: EchoPacket> DatagramRequestHandler for EchoRequestHandler<T> {
    type Request = T;
    type Response = T;

    #[handler]
    async fn handle(&self, client: &DatagramClient<T>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(packet) => client.send_packet(&packet).await?,
            Err(RecvError::Parse(error)) => {
                tracing::debug!(client = %client.remote_address(), %error, "bad packet");
                client.send_packet(&T::error(error.to_string())).await?;
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

/// Serves the echo handler with the protocol of `--format`.
struct Serve(Args);

impl WithDatagramProtocol for Serve {
    type Output = Result<(), BoxError>;

    async fn run<T, S>(self, protocol: DatagramProtocol<S>) -> Result<(), BoxError>
    where
        T: EchoPacket,
        S: DatagramSerializer<T, T>,
    {
        let Serve(args) = self;
        let handler = EchoRequestHandler::<T>(PhantomData);
        #[cfg(unix)]
        if let Some(path) = &args.endpoint.unix {
            let server = easynet::UnixDatagramServer::bind(path, protocol, handler).await?;
            return serve_until_signal(server, format!("unix:{}", path.display())).await;
        }
        #[cfg(not(unix))]
        if args.endpoint.unix.is_some() {
            return Err("--unix needs a Unix system".into());
        }
        let port = args.endpoint.port.ok_or("--port or --unix is required")?;
        let server = UdpServer::builder(protocol, handler)
            .host(&args.endpoint.host)
            .port(port)
            .reuse_port(args.reuse_port)
            .bind()
            .await?;
        let addr = server.local_addrs()[0].to_string();
        serve_until_signal(server, addr).await
    }
}

/// Serves until Ctrl-C or SIGTERM, after printing `udp_echo_server listening on WHERE`.
async fn serve_until_signal<H, S, K>(
    server: DatagramServer<H, S, K>,
    at: String,
) -> Result<(), BoxError>
where
    H: DatagramRequestHandler,
    S: DatagramSerializer<H::Response, H::Request>,
    K: DatagramKind,
{
    // Catch Ctrl-C (and SIGTERM) from now on, before we say we are listening.
    let mut signals = ShutdownSignal::new()?;
    let mut running = server.spawn().await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "udp_echo_server listening on {at}")?;
    stdout.flush()?;
    drop(stdout);
    tokio::select! {
        () = running.stopped() => return Ok(running.join().await?),
        () = signals.recv() => {}
    }
    tracing::info!(
        dropped = server.dropped_datagrams(),
        "interrupted, shutting down"
    );
    running.shutdown().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    easynet_examples::init_tracing("info");
    let args = Args::parse();
    with_datagram_server_protocol(args.format.format, Serve(args)).await
}
