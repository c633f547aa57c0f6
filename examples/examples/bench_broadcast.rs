//! Broadcast for the benchmark harness (`examples/bench/run.py`): what one packet pushed
//! to many clients costs the server, per delivered packet, with easynet's broadcast and
//! with the fan-out a tokio user writes by hand.
//!
//! ```text
//! cargo build --release -p easynet-examples --example bench_broadcast
//! target/release/examples/bench_broadcast serve --kind easynet [--port 0] [--every-ms 10] [--size 1024]
//! target/release/examples/bench_broadcast listen --addr 127.0.0.1:PORT [--clients 1000]
//!     [--duration 5] [--warmup 1] [--size 1024]
//! ```
//!
//! `serve` runs one of two servers on a current-thread tokio runtime (as `bench_server`
//! does), prints `bench_broadcast listening on ADDR` and runs until killed. Every
//! `--every-ms` milliseconds (a `tokio::time::interval`, as the `push_ticker` example)
//! it sends one packet of `--size` bytes, newline included, to every connected client:
//! an 8-digit sequence number, then `x`s, then `\n`.
//!
//! | kind | what it is |
//! | --- | --- |
//! | `easynet` | a `TcpServer` of `BytesLines` whose handler waits in `recv!()`; a task keeps a clone of the server and calls `server.broadcast(&packet)` (encoded once, queued on each client) |
//! | `tokio` | hand-written: a `tokio::sync::broadcast` channel of `Bytes` (capacity 64), and per connection one task that writes each packet it receives (`write_all`) and watches the socket for EOF |
//!
//! `listen` opens `--clients` connections (one current-thread runtime), checks every
//! packet byte for byte (its length, its filler, and that each connection's sequence
//! numbers follow on: a gap is a missed packet), prints `measuring` once they are all
//! connected and `--warmup` seconds have passed (the harness samples the server's CPU
//! time then), and after `--duration` more seconds one JSON line: `delivered` (packets
//! received meanwhile, all connections together), `missed`, `clients`, `seconds`. A bad
//! packet, a connection the server closes, or no packet at all exits non-zero.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clap::{Parser, Subcommand, ValueEnum};
use easynet::{BoxError, BytesLines, HandlerError, StreamClient, StreamRequestHandler, TcpServer};
use easynet::{handler, recv};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

/// Broadcast to many clients: a server that pushes, or the clients that count.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broadcasting server.
    Serve {
        /// Which server.
        #[arg(long, value_enum)]
        kind: Kind,
        /// The port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Milliseconds between two packets.
        #[arg(long, default_value_t = 10)]
        every_ms: u64,
        /// Bytes per packet, newline included (at least 10).
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    /// Connect clients and count what reaches them.
    Listen {
        /// The server's address.
        #[arg(long)]
        addr: SocketAddr,
        /// How many clients.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Seconds measured.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Seconds of warm-up, once every client is connected.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Bytes per packet, newline included (as the server's `--size`).
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Easynet,
    Tokio,
}

/// Packet number `seq`: 8 digits, `x`s up to `size - 1` bytes (no newline).
fn packet(seq: u64, size: usize) -> BytesMut {
    let mut packet = BytesMut::with_capacity(size);
    packet.extend_from_slice(format!("{:08}", seq % 100_000_000).as_bytes());
    packet.resize(size - 1, b'x');
    packet
}

/// An interval of `every_ms` that, late, ticks a period after the late tick.
fn ticker(every_ms: u64) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(Duration::from_millis(every_ms.max(1)));
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// Waits for requests it never gets (the clients only listen).
struct Listener;

impl StreamRequestHandler for Listener {
    type Request = Bytes;
    type Response = Bytes;

    #[handler]
    async fn handle(&self, _client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let _ignored = recv!()?;
        Ok(())
    }
}

async fn serve_easynet(port: u16, every_ms: u64, size: usize) -> Result<(), BoxError> {
    let server = TcpServer::builder(BytesLines::new(), Listener)
        .host("127.0.0.1")
        .port(port)
        .log_client_connection(false)
        .bind()
        .await?;
    announce(server.local_addrs()[0])?;
    let pusher = server.clone();
    tokio::spawn(async move {
        let mut interval = ticker(every_ms);
        for seq in 0u64.. {
            interval.tick().await;
            // BytesLines adds the newline.
            if let Err(error) = pusher.broadcast(&packet(seq, size).freeze()) {
                eprintln!("broadcast failed: {error}");
            }
        }
    });
    server.serve_forever().await?;
    Ok(())
}

async fn serve_tokio(port: u16, every_ms: u64, size: usize) -> Result<(), BoxError> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    announce(listener.local_addr()?)?;
    let (sender, _) = tokio::sync::broadcast::channel::<Bytes>(64);
    let pusher = sender.clone();
    tokio::spawn(async move {
        let mut interval = ticker(every_ms);
        for seq in 0u64.. {
            interval.tick().await;
            let mut packet = packet(seq, size);
            packet.extend_from_slice(b"\n");
            // An error only says that nobody is connected.
            let _ = pusher.send(packet.freeze());
        }
    });
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let mut packets = sender.subscribe();
        tokio::spawn(async move {
            let (mut read, mut write) = stream.into_split();
            let mut scratch = [0u8; 512];
            loop {
                tokio::select! {
                    packet = packets.recv() => match packet {
                        Ok(packet) => {
                            if write.write_all(&packet).await.is_err() {
                                return;
                            }
                        }
                        // A slow reader misses packets, as with easynet's broadcast.
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    },
                    // The clients send nothing: a read ends at EOF (or an error).
                    read = read.read(&mut scratch) => if !matches!(read, Ok(n) if n > 0) {
                        return;
                    },
                }
            }
        });
    }
}

fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "bench_broadcast listening on {addr}")?;
    stdout.flush()
}

/// What every listening connection adds to.
#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    missed: AtomicU64,
}

/// Reads and checks packets until the connection fails or ends (which is an error).
async fn listen_one(stream: TcpStream, size: usize, counts: Arc<Counts>) -> Result<(), String> {
    let mut reader = BufReader::with_capacity(8 * 1024, stream);
    let mut line = Vec::with_capacity(size);
    let mut last: Option<u64> = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err("the server closed a connection".into());
        }
        let well_formed = line.len() == size
            && line[size - 1] == b'\n'
            && line[8..size - 1].iter().all(|&b| b == b'x');
        let seq = std::str::from_utf8(&line[..8.min(line.len())])
            .ok()
            .and_then(|digits| digits.parse::<u64>().ok());
        let (Some(seq), true) = (seq, well_formed) else {
            return Err(format!(
                "a bad packet: {:?}",
                String::from_utf8_lossy(&line[..line.len().min(40)])
            ));
        };
        if let Some(last) = last {
            let expected = (last + 1) % 100_000_000;
            if seq != expected {
                let gap = (seq + 100_000_000 - expected) % 100_000_000;
                counts.missed.fetch_add(gap, Ordering::Relaxed);
            }
        }
        last = Some(seq);
        counts.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

async fn listen(
    addr: SocketAddr,
    clients: usize,
    duration: f64,
    warmup: f64,
    size: usize,
) -> Result<(), BoxError> {
    if size < 10 {
        return Err("--size is at least 10".into());
    }
    let counts = Arc::new(Counts::default());
    let (failed, mut failure) = tokio::sync::mpsc::unbounded_channel::<String>();
    for _ in 0..clients {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let counts = Arc::clone(&counts);
        let failed = failed.clone();
        tokio::spawn(async move {
            if let Err(error) = listen_one(stream, size, counts).await {
                let _ = failed.send(error);
            }
        });
    }
    let failed_meanwhile = async move {
        tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
        let start = (
            counts.delivered.load(Ordering::Relaxed),
            counts.missed.load(Ordering::Relaxed),
        );
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "measuring")?;
            stdout.flush()?;
        }
        tokio::time::sleep(Duration::from_secs_f64(duration)).await;
        let delivered = counts.delivered.load(Ordering::Relaxed) - start.0;
        let missed = counts.missed.load(Ordering::Relaxed) - start.1;
        let report = serde_json::json!({
            "delivered": delivered,
            "missed": missed,
            "clients": clients,
            "seconds": duration,
        });
        println!("{report}");
        if delivered == 0 {
            return Err::<(), BoxError>("no packet was delivered".into());
        }
        Ok(())
    };
    tokio::select! {
        result = failed_meanwhile => result,
        Some(error) = failure.recv() => Err(error.into()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    match Args::parse().command {
        Command::Serve {
            kind,
            port,
            every_ms,
            size,
        } => {
            if size < 10 {
                return Err("--size is at least 10".into());
            }
            match kind {
                Kind::Easynet => serve_easynet(port, every_ms, size).await,
                Kind::Tokio => serve_tokio(port, every_ms, size).await,
            }
        }
        Command::Listen {
            addr,
            clients,
            duration,
            warmup,
            size,
        } => listen(addr, clients, duration, warmup, size).await,
    }
}
