//! The UDP side of the benchmark harness (`examples/bench/run.py`): a hand-written tokio
//! `UdpSocket` echo server, the baseline easynet's `udp_echo_server` is measured against,
//! and a load client that keeps datagrams in flight and checks every echo.
//!
//! ```text
//! cargo run --release -p easynet-examples --example bench_udp -- serve [--port 0]
//! cargo run --release -p easynet-examples --example bench_udp -- load --addr 127.0.0.1:PORT \
//!     [--sockets 4] [--inflight 16] [--size 64] [--duration 5] [--warmup 1]
//! ```
//!
//! `serve` binds 127.0.0.1, prints `bench_udp listening on ADDR` and sends every datagram
//! back to its sender from one task, until killed.
//!
//! `load` opens `--sockets` connected UDP sockets (each a separate address for the
//! server) on one thread. Each keeps `--inflight` datagrams of `--size` bytes
//! outstanding: a 16-digit hexadecimal sequence number, then `x`s. Every datagram that
//! comes back must be one still outstanding and byte for byte what was sent, or the
//! client exits non-zero; each answered one is replaced by a new one. UDP may drop
//! datagrams: one unanswered for 200 ms is counted lost and replaced (an answer that
//! comes later is counted late and ignored). After `--warmup` seconds it prints
//! `measuring`, after `--duration` more one JSON line: datagrams echoed, lost, late,
//! seconds, and round-trip percentiles in microseconds.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tokio::net::UdpSocket;

/// UDP echo baseline and load client.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A hand-written tokio `UdpSocket` echo server on 127.0.0.1.
    Serve {
        /// The port (0: any free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Keep datagrams in flight against an echo server and check every echo.
    Load {
        /// The server's address.
        #[arg(long)]
        addr: SocketAddr,
        /// How many client sockets (addresses).
        #[arg(long, default_value_t = 4)]
        sockets: usize,
        /// Datagrams outstanding per socket.
        #[arg(long, default_value_t = 16)]
        inflight: usize,
        /// Bytes per datagram (at least 16).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Seconds measured.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Seconds of warm-up before measuring.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
    },
}

/// How long a datagram may go unanswered before it is counted lost.
const LOST_AFTER: Duration = Duration::from_millis(200);

async fn serve(port: u16) -> std::io::Result<()> {
    let socket = UdpSocket::bind(("127.0.0.1", port)).await?;
    println!("bench_udp listening on {}", socket.local_addr()?);
    std::io::stdout().flush()?;
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        // A full send buffer drops the echo, as a UDP server would.
        let _ = socket.send_to(&buf[..n], from).await;
    }
}

/// The datagram with sequence number `seq`.
fn datagram(seq: u64, size: usize) -> Vec<u8> {
    let mut out = format!("{seq:016x}").into_bytes();
    out.resize(size, b'x');
    out
}

/// What one socket measured.
#[derive(Default)]
struct Tally {
    echoed: u64,
    lost: u64,
    late: u64,
    latencies_us: Vec<u32>,
}

async fn run_socket(
    addr: SocketAddr,
    inflight: usize,
    size: usize,
    warmup_end: Instant,
    end: Instant,
) -> std::io::Result<Tally> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(addr).await?;
    let mut outstanding: HashMap<u64, Instant> = HashMap::with_capacity(inflight);
    let mut next = 0u64;
    let mut tally = Tally::default();
    let mut buf = vec![0u8; 65536];
    while outstanding.len() < inflight {
        socket.send(&datagram(next, size)).await?;
        outstanding.insert(next, Instant::now());
        next += 1;
    }
    loop {
        let now = Instant::now();
        if now >= end {
            return Ok(tally);
        }
        match tokio::time::timeout(LOST_AFTER, socket.recv(&mut buf)).await {
            Ok(received) => {
                let n = received?;
                let echo = &buf[..n];
                let seq = std::str::from_utf8(echo.get(..16).unwrap_or_default())
                    .ok()
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| std::io::Error::other("an echo without a sequence number"))?;
                if echo != datagram(seq, size).as_slice() {
                    return Err(std::io::Error::other("the echo differs from the datagram"));
                }
                match outstanding.remove(&seq) {
                    Some(sent) => {
                        if sent >= warmup_end {
                            tally.echoed += 1;
                            let micros = sent.elapsed().as_micros();
                            tally.latencies_us.push(micros.min(u32::MAX as u128) as u32);
                        }
                    }
                    None if seq < next => tally.late += 1,
                    None => return Err(std::io::Error::other("an echo of nothing sent")),
                }
            }
            Err(_) => {
                let now = Instant::now();
                outstanding.retain(|_, sent| {
                    let keep = now.duration_since(*sent) < LOST_AFTER;
                    if !keep && *sent >= warmup_end {
                        tally.lost += 1;
                    }
                    keep
                });
            }
        }
        while outstanding.len() < inflight {
            socket.send(&datagram(next, size)).await?;
            outstanding.insert(next, Instant::now());
            next += 1;
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

async fn load(
    addr: SocketAddr,
    sockets: usize,
    inflight: usize,
    size: usize,
    duration: f64,
    warmup: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    if !(16..=65507).contains(&size) {
        return Err("--size must be 16 to 65507 bytes".into());
    }
    let start = Instant::now();
    let warmup_end = start + Duration::from_secs_f64(warmup);
    let end = warmup_end + Duration::from_secs_f64(duration);
    let tasks: Vec<_> = (0..sockets)
        .map(|_| tokio::spawn(run_socket(addr, inflight.max(1), size, warmup_end, end)))
        .collect();
    tokio::time::sleep_until(warmup_end.into()).await;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "measuring")?;
        stdout.flush()?;
    }
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await??;
        total.echoed += tally.echoed;
        total.lost += tally.lost;
        total.late += tally.late;
        total.latencies_us.extend(tally.latencies_us);
    }
    let latencies = &mut total.latencies_us;
    latencies.sort_unstable();
    let report = serde_json::json!({
        "datagrams": total.echoed,
        "lost": total.lost,
        "late": total.late,
        "bytes": total.echoed * size as u64,
        "seconds": duration,
        "latency_us": {
            "p50": percentile(latencies, 50.0),
            "p90": percentile(latencies, 90.0),
            "p99": percentile(latencies, 99.0),
            "max": latencies.last().copied().unwrap_or(0),
        },
    });
    println!("{report}");
    if total.echoed == 0 {
        return Err("no datagram was echoed".into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Args::parse().command {
        Command::Serve { port } => {
            // Like the example servers: `#[tokio::main]`'s runtime (the harness gives it
            // one worker thread).
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(port))?;
            Ok(())
        }
        Command::Load {
            addr,
            sockets,
            inflight,
            size,
            duration,
            warmup,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(load(addr, sockets, inflight, size, duration, warmup)),
    }
}
