//! The load generator of the benchmark harness (`examples/bench/run.py`), modelled on the
//! echo client of MagicStack's vmbench, which Python easynetwork's own benchmark uses.
//!
//! ```text
//! cargo run --release -p easynet-examples --example bench_client -- \
//!     --addr 127.0.0.1:PORT --conns 10 --msize 1024 --mpr 1 --duration 5 [--warmup 1] [--json]
//! ```
//!
//! Each of `--conns` connections, in a loop: writes one request of `--mpr` messages of
//! `--msize` bytes (`'x' * (msize - 1) + '\n'`, or with `--json` a `{"x":"xx..."}\n`
//! document of the same size), reads back exactly as many bytes, checks them byte for
//! byte against what it sent, and records the latency. It runs on one thread (a
//! current-thread tokio runtime), which costs about half the CPU per request of a
//! thread-per-connection client.
//!
//! After `--warmup` seconds it prints `measuring` (the harness samples the server's CPU
//! time then), and after `--duration` more seconds one JSON line: requests, messages,
//! bytes, seconds, and latency percentiles in microseconds. Any mismatch or error exits
//! non-zero.
//!
//! With `--tls-ca FILE` it connects with TLS (rustls, ring provider), trusting that CA.
//!
//! With `--reconnect`, every request is on a new connection: connect, write the request,
//! read its echo, close (the figure is then connections per second, and the latency
//! includes the connect). With `--proxy-v2` every connection first sends a PROXY
//! protocol v2 header (`PROXY`, TCP over IPv4, the connection's own addresses: 28 bytes),
//! as HAProxy's `send-proxy-v2` does, for a server started with `--proxy-protocol`.
//!
//! With `--idle N` it instead opens N connections, prints `connected`, waits for a line
//! on stdin, makes every connection echo one `--msize` message, prints `echoed`, and exits
//! when stdin closes (the harness measures the server's memory in between).

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A vmbench-style echo load generator.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// How many connections.
    #[arg(long, default_value_t = 10)]
    conns: usize,
    /// Bytes per message, newline included.
    #[arg(long, default_value_t = 1024)]
    msize: usize,
    /// Messages per request.
    #[arg(long, default_value_t = 1)]
    mpr: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Send `{"x":"..."}` JSON documents instead of raw lines.
    #[arg(long)]
    json: bool,
    /// Open this many idle connections for a memory measurement instead.
    #[arg(long)]
    idle: Option<usize>,
    /// Connect with TLS, trusting this CA certificate (PEM).
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// One request per connection: connect, request, close, again.
    #[arg(long)]
    reconnect: bool,
    /// Send a PROXY protocol v2 header first on every connection.
    #[arg(long)]
    proxy_v2: bool,
}

/// A PROXY protocol v2 header for a TCP connection from `source` to `destination`
/// (IPv4 only: the harness runs on 127.0.0.1).
fn proxy_v2_header(source: SocketAddr, destination: SocketAddr) -> std::io::Result<Vec<u8>> {
    let (SocketAddr::V4(source), SocketAddr::V4(destination)) = (source, destination) else {
        return Err(std::io::Error::other("--proxy-v2 takes IPv4 addresses"));
    };
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    // Version 2, command PROXY; TCP over IPv4; 12 bytes of addresses.
    header.extend_from_slice(&[0x21, 0x11, 0, 12]);
    header.extend_from_slice(&source.ip().octets());
    header.extend_from_slice(&destination.ip().octets());
    header.extend_from_slice(&source.port().to_be_bytes());
    header.extend_from_slice(&destination.port().to_be_bytes());
    Ok(header)
}

/// Connects, with TLS when `tls` is given.
async fn connect(
    addr: SocketAddr,
    tls: Option<&tokio_rustls::TlsConnector>,
    proxy_v2: bool,
) -> std::io::Result<Box<dyn Stream>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    if proxy_v2 {
        let header = proxy_v2_header(stream.local_addr()?, addr)?;
        stream.write_all(&header).await?;
    }
    match tls {
        None => Ok(Box::new(stream)),
        Some(connector) => {
            let name = easynet::tls::rustls::pki_types::ServerName::from(addr.ip());
            Ok(Box::new(connector.connect(name, stream).await?))
        }
    }
}

/// A byte stream, plain or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for S {}

/// One message of `size` bytes, newline included.
fn message(size: usize, json: bool) -> Vec<u8> {
    assert!(size >= if json { 9 } else { 1 }, "message too small");
    let mut message = Vec::with_capacity(size);
    if json {
        message.extend_from_slice(b"{\"x\":\"");
        message.resize(size - 3, b'x');
        message.extend_from_slice(b"\"}\n");
    } else {
        message.resize(size - 1, b'x');
        message.push(b'\n');
    }
    message
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    requests: u64,
    latencies_us: Vec<u32>,
}

/// `--reconnect`: a new connection per request, closed after its echo.
async fn run_reconnecting(
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
    proxy_v2: bool,
    request: &[u8],
    warmup_end: Instant,
    end: Instant,
) -> std::io::Result<Tally> {
    let mut response = vec![0u8; request.len()];
    let mut tally = Tally::default();
    loop {
        let started = Instant::now();
        if started >= end {
            return Ok(tally);
        }
        let mut stream = connect(addr, tls.as_ref(), proxy_v2).await?;
        stream.write_all(request).await?;
        stream.read_exact(&mut response).await?;
        if response != request {
            return Err(std::io::Error::other("the echo differs from the request"));
        }
        stream.shutdown().await?;
        drop(stream);
        if started >= warmup_end {
            tally.requests += 1;
            let micros = started.elapsed().as_micros();
            tally.latencies_us.push(micros.min(u32::MAX as u128) as u32);
        }
    }
}

async fn run_connection(
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
    proxy_v2: bool,
    request: &[u8],
    warmup_end: Instant,
    end: Instant,
) -> std::io::Result<Tally> {
    let mut stream = connect(addr, tls.as_ref(), proxy_v2).await?;
    let mut response = vec![0u8; request.len()];
    let mut tally = Tally::default();
    loop {
        let started = Instant::now();
        if started >= end {
            // A clean close (TLS close_notify), so servers see an orderly end.
            stream.shutdown().await?;
            return Ok(tally);
        }
        stream.write_all(request).await?;
        stream.read_exact(&mut response).await?;
        if response != request {
            return Err(std::io::Error::other("the echo differs from the request"));
        }
        if started >= warmup_end {
            tally.requests += 1;
            let micros = started.elapsed().as_micros();
            tally.latencies_us.push(micros.min(u32::MAX as u128) as u32);
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn load(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut request = Vec::with_capacity(args.msize * args.mpr);
    for _ in 0..args.mpr {
        request.extend_from_slice(&message(args.msize, args.json));
    }
    let request: &'static [u8] = Box::leak(request.into_boxed_slice());
    let start = Instant::now();
    let warmup_end = start + Duration::from_secs_f64(args.warmup);
    let end = warmup_end + Duration::from_secs_f64(args.duration);
    let tls = match &args.tls_ca {
        Some(ca) => {
            let config = easynet::tls::ClientTls::builder().ca_file(ca)?.build()?;
            Some(tokio_rustls::TlsConnector::from(config.config().clone()))
        }
        None => None,
    };
    let tasks: Vec<_> = (0..args.conns)
        .map(|_| {
            let tls = tls.clone();
            let (addr, proxy_v2) = (args.addr, args.proxy_v2);
            if args.reconnect {
                tokio::spawn(run_reconnecting(
                    addr, tls, proxy_v2, request, warmup_end, end,
                ))
            } else {
                tokio::spawn(run_connection(
                    addr, tls, proxy_v2, request, warmup_end, end,
                ))
            }
        })
        .collect();
    tokio::time::sleep_until(warmup_end.into()).await;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "measuring")?;
        stdout.flush()?;
    }
    let mut requests = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let tally = task.await??;
        requests += tally.requests;
        latencies.extend(tally.latencies_us);
    }
    let seconds = args.duration;
    latencies.sort_unstable();
    let messages = requests * args.mpr as u64;
    let report = serde_json::json!({
        "requests": requests,
        "messages": messages,
        "bytes": messages * args.msize as u64,
        "seconds": seconds,
        "latency_us": {
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "max": latencies.last().copied().unwrap_or(0),
        },
    });
    println!("{report}");
    if requests == 0 {
        return Err("no request completed".into());
    }
    Ok(())
}

fn wait_for_stdin_line() -> std::io::Result<bool> {
    let mut line = String::new();
    Ok(std::io::stdin().lock().read_line(&mut line)? > 0)
}

async fn idle(args: &Args, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        streams.push(TcpStream::connect(args.addr).await?);
    }
    println!("connected");
    std::io::stdout().flush()?;
    if !tokio::task::spawn_blocking(wait_for_stdin_line).await?? {
        return Ok(());
    }
    let request = message(args.msize, args.json);
    let mut response = vec![0u8; request.len()];
    for stream in &mut streams {
        stream.write_all(&request).await?;
        stream.read_exact(&mut response).await?;
        if response != request {
            return Err("the echo differs from the request".into());
        }
    }
    println!("echoed");
    std::io::stdout().flush()?;
    tokio::task::spawn_blocking(wait_for_stdin_line).await??;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match args.idle {
        Some(count) => idle(&args, count).await,
        None => load(&args).await,
    }
}
