//! An echo server (JSON lines, as `echo_server`'s default) that counts what it does
//! through easynet's `metrics` feature, and serves the figures for Prometheus.
//!
//! ```text
//! cargo run -p easynet-examples --example metrics_server -- --port PORT [--metrics-port PORT] [--name NAME]
//!     [--udp-port PORT [--udp-max-addresses N]]
//! curl http://127.0.0.1:METRICS_PORT/metrics
//! ```
//!
//! It prints `metrics_server listening on ADDR`, then
//! `metrics_server metrics on http://ADDR/metrics` (the real ports with `0`, the default
//! of `--metrics-port`). `metrics-exporter-prometheus` is the recorder: every metric
//! easynet records (README "Metrics") is rendered in Prometheus's text format, with the
//! label `server="NAME"` (`--name`, default `echo`). The metrics port listens on
//! 127.0.0.1 only, and answers any `GET` with the figures: a minimal HTTP/1.1 responder,
//! enough for Prometheus and `curl` (one request per connection). Ctrl-C or SIGTERM
//! stops it, as `echo_server`.
//!
//! With `--udp-port`, a UDP echo server (JSON, one document per datagram) runs beside
//! it, labelled `server="NAME-udp"`, and the example prints `metrics_server udp on ADDR`:
//! its datagrams are counted in the packets and bytes counters, and those it drops in
//! `easynet_datagrams_dropped_total` (`--udp-max-addresses` lowers the bound on the
//! addresses it serves at once, to see drops).

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use easynet::{
    BoxError, DatagramClient, DatagramProtocol, DatagramRequestHandler, HandlerError, JsonLines,
    JsonSerializer, RecvError, ShutdownSignal, StreamClient, StreamRequestHandler, TcpServer,
    UdpServer, handler, recv,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An echo server with Prometheus metrics.
#[derive(Parser)]
struct Args {
    /// The port of the echo server (0: a free port).
    #[arg(long, default_value = "0")]
    port: u16,
    /// The host of the echo server.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The loopback port that serves /metrics (0: a free port).
    #[arg(long, default_value = "0")]
    metrics_port: u16,
    /// The server's name: the `server` label of its metrics.
    #[arg(long, default_value = "echo")]
    name: String,
    /// Also serve UDP echo on this port (0: a free port), labelled `NAME-udp`.
    #[arg(long)]
    udp_port: Option<u16>,
    /// The most addresses the UDP server serves at once; datagrams from further ones are
    /// dropped (and counted).
    #[arg(long, default_value_t = easynet::DEFAULT_MAX_ADDRESSES)]
    udp_max_addresses: usize,
}

/// Sends every JSON document back; answers one that is not JSON with an error.
struct Echo;

impl StreamRequestHandler for Echo {
    type Request = serde_json::Value;
    type Response = serde_json::Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<serde_json::Value>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(packet) => client.send_packet(&packet).await?,
            Err(RecvError::Parse(error)) => {
                let answer = serde_json::json!({"error": error.to_string()});
                client.send_packet(&answer).await?;
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

impl DatagramRequestHandler for Echo {
    type Request = serde_json::Value;
    type Response = serde_json::Value;

    #[handler]
    async fn handle(&self, client: &DatagramClient<serde_json::Value>) -> Result<(), HandlerError> {
        match recv!() {
            Ok(packet) => client.send_packet(&packet).await?,
            Err(RecvError::Parse(error)) => {
                let answer = serde_json::json!({"error": error.to_string()});
                client.send_packet(&answer).await?;
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

/// Answers every HTTP request on `listener` with the rendered metrics.
async fn serve_metrics(listener: TcpListener, prometheus: PrometheusHandle) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let prometheus = prometheus.clone();
        tokio::spawn(async move {
            // The request head (ignored: every path gets the figures), bounded.
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let body = prometheus.render();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    easynet_examples::init_tracing("info");
    let args = Args::parse();
    // The recorder first: the server resolves its metric handles when it is built.
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let server = TcpServer::builder(JsonLines::new(), Echo)
        .host(&args.host)
        .port(args.port)
        .name(&args.name)
        .bind()
        .await?;
    let metrics = TcpListener::bind(("127.0.0.1", args.metrics_port)).await?;
    let metrics_addr = metrics.local_addr()?;
    tokio::spawn(serve_metrics(metrics, prometheus));

    let udp = match args.udp_port {
        Some(port) => {
            let protocol = DatagramProtocol::new(JsonSerializer::new());
            let udp = UdpServer::builder(protocol, Echo)
                .host(&args.host)
                .port(port)
                .max_addresses(args.udp_max_addresses)
                .name(format!("{}-udp", args.name))
                .bind()
                .await?;
            let addr = udp.local_addrs()[0];
            Some((udp.spawn().await?, addr))
        }
        None => None,
    };

    let mut signals = ShutdownSignal::new()?;
    let running = server.spawn().await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "metrics_server listening on {}",
        server.local_addrs()[0]
    )?;
    writeln!(
        stdout,
        "metrics_server metrics on http://{metrics_addr}/metrics"
    )?;
    if let Some((_, addr)) = &udp {
        writeln!(stdout, "metrics_server udp on {addr}")?;
    }
    stdout.flush()?;
    drop(stdout);
    running
        .stop_on_signals(&mut signals, Duration::from_secs(10))
        .await?;
    if let Some((udp, _)) = udp {
        udp.shutdown().await?;
    }
    Ok(())
}
