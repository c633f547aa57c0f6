//! Fairness under a flood: a well-behaved client's round-trip times against an
//! `echo_server` that is idle, then while eight connections pipeline tiny requests
//! (`1\n`) as fast as they can. For BENCHMARKS.md.
//!
//! ```text
//! cargo build --release -p easynet-examples --example echo_server --example bench_fairness
//! target/release/examples/bench_fairness [--server target/release/examples/echo_server]
//!     [--floods 8] [--samples 2000] [--seconds 10] [--pin-server CPU] [--json]
//! ```
//!
//! It starts `echo_server --format lines --port 0` itself (one worker thread, as the
//! benchmark harness runs every server: `TOKIO_WORKER_THREADS=1`), measures, stops it,
//! and prints a markdown table: p50, p99 and max of the polite client's round trips,
//! idle and flooded, and how many flood requests the server answered meanwhile (with
//! `--json`, one JSON line of the same figures in microseconds instead, for the harness).
//! With `--pin-server CPU` the server runs pinned to that core (`taskset -c CPU`).
//! Everything targets 127.0.0.1 and stops by itself.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

/// Measures a polite client's round trips, idle and under a flood of tiny requests.
#[derive(Parser)]
struct Args {
    /// The echo_server binary (release build).
    #[arg(long, default_value = "target/release/examples/echo_server")]
    server: PathBuf,
    /// How many flooding connections.
    #[arg(long, default_value_t = 8)]
    floods: usize,
    /// How many round trips the polite client measures, each phase.
    #[arg(long, default_value_t = 2000)]
    samples: usize,
    /// At most this long per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Run the server pinned to this core (with `taskset`).
    #[arg(long)]
    pin_server: Option<usize>,
    /// Print one JSON line (microseconds) instead of a markdown table.
    #[arg(long)]
    json: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut server = match args.pin_server {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(&args.server);
            command
        }
        None => Command::new(&args.server),
    };
    let mut server = server
        .args(["--format", "lines", "--port", "0"])
        .env("TOKIO_WORKER_THREADS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut first = String::new();
    BufReader::new(server.stdout.take().ok_or("no stdout")?)
        .read_line(&mut first)
        .await?;
    let addr = first
        .trim()
        .rsplit_once("listening on ")
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .1
        .to_owned();
    let limit = Duration::from_secs(args.seconds);

    let idle = polite(&addr, args.samples, limit).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut floods = Vec::new();
    for _ in 0..args.floods {
        floods.push(tokio::spawn(flood(
            addr.clone(),
            Arc::clone(&stop),
            Arc::clone(&answered),
        )));
    }
    // Let the floods get going: wait until they have had answers.
    let started = Instant::now();
    while answered.load(Ordering::Relaxed) < 100_000 && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = answered.load(Ordering::Relaxed);
    let flooded = polite(&addr, args.samples, limit).await?;
    let during = answered.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for flood in floods {
        let _ = flood.await;
    }
    let _ = server.kill().await;

    let mut out = std::io::stdout().lock();
    if args.json {
        let figures = |times: &[Duration]| {
            serde_json::json!({
                "p50_us": percentile(times, 0.50).as_secs_f64() * 1e6,
                "p99_us": percentile(times, 0.99).as_secs_f64() * 1e6,
                "max_us": times.last().unwrap_or(&Duration::ZERO).as_secs_f64() * 1e6,
                "round_trips": times.len(),
            })
        };
        let report = serde_json::json!({
            "floods": args.floods,
            "idle": figures(&idle),
            "flooded": figures(&flooded),
            "flood_answers": during,
        });
        writeln!(out, "{report}")?;
        return Ok(());
    }
    writeln!(
        out,
        "| server state | p50 | p99 | max | round trips | flood answers meanwhile |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for (label, times, flood) in [
        ("idle", &idle, None),
        ("8 connections flooding `1\\n`", &flooded, Some(during)),
    ] {
        writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} |",
            show(percentile(times, 0.50)),
            show(percentile(times, 0.99)),
            show(*times.last().unwrap_or(&Duration::ZERO)),
            times.len(),
            flood.map_or_else(|| "—".to_owned(), |n| n.to_string()),
        )?;
    }
    Ok(())
}

/// The polite client: one request, wait for its answer, again; sorted round trips.
async fn polite(
    addr: &str,
    samples: usize,
    limit: Duration,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    let mut times = Vec::with_capacity(samples);
    let started = Instant::now();
    while times.len() < samples && started.elapsed() < limit {
        let sent = Instant::now();
        write.write_all(b"polite\n").await?;
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Err("the server closed the polite connection".into());
        }
        times.push(sent.elapsed());
    }
    times.sort();
    Ok(times)
}

/// A flooding connection: writes batches of `1\n` as fast as the server takes them,
/// reading (and counting) the answers on the side.
async fn flood(addr: String, stop: Arc<AtomicBool>, answered: Arc<AtomicU64>) {
    let Ok(stream) = TcpStream::connect(&addr).await else {
        return;
    };
    let (mut read, mut write) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
            answered.fetch_add(lines as u64, Ordering::Relaxed);
        }
    });
    let batch = b"1\n".repeat(8 * 1024);
    while !stop.load(Ordering::Relaxed) {
        if write.write_all(&batch).await.is_err() {
            break;
        }
    }
    drop(write);
    reader.abort();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn show(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}
