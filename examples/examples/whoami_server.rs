//! A server that tells each client who it is, as the server sees it: for trying a load
//! balancer in front of easynet (the PROXY protocol, `--reuse-port`) by hand and for the
//! tests.
//!
//! ```text
//! cargo run -p easynet-examples --example whoami_server -- --port PORT [--host HOST]
//!     [--proxy-protocol TRUSTED] [--proxy-header-timeout SECS] [--reuse-port]
//!     [--format NAME] [--tls-cert FILE --tls-key FILE]
//!     [--max-connections N] [--frame-timeout SECS] [--idle-timeout SECS]
//! cargo run -p easynet-examples --example whoami_server -- --unix PATH [...]
//! ```
//!
//! It takes `echo_server`'s flags. Every packet it receives (one JSON document per line
//! by default) is answered with `{"remote": "IP:PORT", "proxy": "IP:PORT"}`: `remote`
//! is [`StreamClient::remote_address`] (the client's address, from the PROXY protocol
//! header when a trusted proxy sent one), `proxy` is
//! [`StreamClient::proxy_address`] (the proxy's address, or `null` for a direct
//! connection). A packet that fails to decode gets `{"error": "<why>"}`. It prints
//! `whoami_server listening on HOST:PORT` and runs until Ctrl-C or SIGTERM.

use std::io::Write;
use std::marker::PhantomData;

use clap::Parser;
use easynet::{
    BoxError, HandlerError, RecvError, Server, ShutdownSignal, StreamClient, StreamProtocol,
    StreamRequestHandler, TcpServer, Transport, UnixServer, handler, recv,
};
use easynet_examples::balancer::BalancerArgs;
use easynet_examples::formats::{EchoPacket, FormatArgs, WithProtocol, with_server_protocol};
use easynet_examples::{LimitArgs, ServerTlsArgs, StreamEndpoint};
use serde_json::json;

/// Answers every packet with the client's address and the proxy's.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    endpoint: StreamEndpoint,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    tls: ServerTlsArgs,
    #[command(flatten)]
    balancer: BalancerArgs,
}

struct WhoAmI<T>(PhantomData<fn() -> T>);

impl<T: EchoPacket> StreamRequestHandler for WhoAmI<T> {
    type Request = T;
    type Response = T;

    #[handler]
    async fn handle(&self, client: &StreamClient<T>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(_) => {
                let answer = json!({
                    "remote": client.remote_address().to_string(),
                    "proxy": client.proxy_address().map(ToString::to_string),
                });
                client
                    .send_packet(&T::from_arg(&answer.to_string()))
                    .await?;
            }
            Err(RecvError::Parse(error)) => {
                client.send_packet(&T::error(error.to_string())).await?;
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

struct Serve(Args);

impl WithProtocol for Serve {
    type Output = Result<(), BoxError>;

    async fn run<T, P>(self, protocol: P) -> Result<(), BoxError>
    where
        T: EchoPacket,
        P: StreamProtocol<T, T>,
    {
        let Serve(args) = self;
        let handler = WhoAmI::<T>(PhantomData);
        if let Some(path) = &args.endpoint.unix {
            if args.tls.tls_cert.is_some() {
                return Err("--tls-cert serves TLS over TCP: it does not go with --unix".into());
            }
            let builder = args
                .balancer
                .apply_unix(UnixServer::builder(path, protocol, handler))?;
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
/// `whoami_server listening on WHERE`.
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
    writeln!(stdout, "whoami_server listening on {at}")?;
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
