//! A push service: the how-to's "Service Initialization", where the background task that
//! `service_init` spawns on its `ExitStack` does the service's work: every 100 ms it
//! pushes a tick to every subscribed client, without any request from them. Clients
//! subscribe and unsubscribe with requests; the handler keeps the subscribers (client
//! handles, which any task may send to), and `self: Arc<Self>` in `service_init` lets the
//! task see them. Each tick goes out with `easynet::broadcast`: encoded once, never
//! waiting for a slow subscriber.
//!
//! The protocol is text lines (`StringLines`: UTF-8, one message per `\n`-terminated
//! line; spaces and a `\r` around a request are ignored, so `nc` and `telnet` are
//! clients):
//!
//! ```text
//! client -> server   subscribe     server -> client   subscribed     (then the ticks)
//! server -> client   tick 42       (every 100 ms, to subscribers; 42 ticks since the server started)
//! client -> server   unsubscribe   server -> client   unsubscribed   (no tick after it)
//! client -> server   ping          server -> client   pong
//! anything else                    server -> client   error: ...
//! ```
//!
//! Run it with `cargo run -p easynet-examples --example push_ticker`: it starts the
//! server on 127.0.0.1; alice subscribes and receives ticks while bob, who has not
//! subscribed, checks that he receives none (he sends `ping`, and `pong` is the very next
//! line he gets); then alice unsubscribes, bob subscribes, and alice checks the same way
//! that no tick reaches her any more. It prints what each client sends (`>`) and
//! receives (`<`), then shuts down. To try it by hand, serve until Ctrl-C with
//! `cargo run -p easynet-examples --example push_ticker -- --port 9000 [--host 0.0.0.0]`
//! (it prints `push_ticker listening on ADDR`), then run `nc 127.0.0.1 9000` and type
//! `subscribe`.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use easynet::{
    BoxError, ClientError, ExitStack, HandlerError, RecvError, ServerHandle, ShutdownSignal,
    StreamClient, StreamRequestHandler, StringLines, TcpClient, TcpServer, handler, recv,
};
use tokio::sync::Mutex;
use tokio::time::MissedTickBehavior;
use tracing_subscriber::EnvFilter;

/// How often the service pushes a tick.
const PERIOD: Duration = Duration::from_millis(100);

/// The ticker service: one handler instance serves every connection, and its
/// background task pushes the ticks.
#[derive(Default)]
struct Ticker {
    /// The subscribed clients.
    ///
    /// A tokio `Mutex`, held while a tick is broadcast: a client removed from the set
    /// then gets no tick from a broadcast that started before, so nothing follows its
    /// `unsubscribed`. Holding it is short: `broadcast` never waits for a slow client.
    subscribers: Mutex<HashSet<StreamClient<String>>>,
}

impl Ticker {
    /// The background task: pushes `tick N` to every subscriber every period.
    async fn push_ticks(&self) {
        let mut interval = tokio::time::interval(PERIOD);
        // Late (a busy machine)? Tick a period after the late one, not in a burst.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick of an interval completes at once: start a period from now.
        interval.tick().await;
        for tick in 1u64.. {
            interval.tick().await;
            let subscribers = self.subscribers.lock().await;
            if subscribers.is_empty() {
                continue;
            }
            match easynet::broadcast(subscribers.iter(), &format!("tick {tick}")) {
                // A subscriber whose send queue is full (its peer reads slower than the
                // ticks come) misses this tick, and that is fine for a live feed: the
                // next tick supersedes it. So laggards are left alone, not closed.
                Ok(report) if !report.full().is_empty() => {
                    tracing::debug!(
                        tick,
                        missed = report.full().len(),
                        "slow subscribers missed a tick"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot send a tick"),
            }
        }
    }
}

impl StreamRequestHandler for Ticker {
    type Request = String;
    type Response = String;

    // The handler comes as an `Arc<Self>`: the task keeps it, and so sees the
    // subscribers that `handle` keeps. It runs while the server serves, and is stopped
    // at shutdown, after every client has been disconnected.
    async fn service_init(
        self: Arc<Self>,
        exit_stack: &mut ExitStack,
        _server: &ServerHandle,
    ) -> Result<(), HandlerError> {
        exit_stack.spawn(async move { self.push_ticks().await });
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let request = match recv!() {
            Ok(request) => request,
            // Not UTF-8, or a line over the protocol's limit: the connection goes on.
            Err(RecvError::Parse(error)) => {
                client.send_packet(&format!("error: {error}")).await?;
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        let answer = match request.trim() {
            "subscribe" => {
                // Answer first, then subscribe: no tick comes before `subscribed`.
                client.send_packet(&"subscribed".to_owned()).await?;
                self.subscribers.lock().await.insert(client.clone());
                return Ok(());
            }
            "unsubscribe" => {
                // Unsubscribe first, then answer: no tick comes after `unsubscribed`.
                self.subscribers.lock().await.remove(client);
                "unsubscribed".to_owned()
            }
            "ping" => "pong".to_owned(),
            other => format!("error: unknown request {other:?} (subscribe, unsubscribe or ping)"),
        };
        client.send_packet(&answer).await?;
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<String>) {
        self.subscribers.lock().await.remove(client);
    }
}

/// A tick server; without --port, a short scenario with two clients.
#[derive(Parser)]
struct Args {
    /// Serve on this port until Ctrl-C instead of playing the scenario (0: a free port).
    #[arg(long)]
    port: Option<u16>,
    /// The host to listen on, with --port.
    #[arg(long, default_value = "127.0.0.1", requires = "port")]
    host: String,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    // Logs go to stderr: connections too when serving, else only warnings and errors
    // (RUST_LOG chooses otherwise).
    let level = if args.port.is_some() { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let server = TcpServer::builder(StringLines::new(), Ticker::default())
        .host(args.host)
        .port(args.port.unwrap_or(0))
        .bind()
        .await?;
    let addr = server.local_addrs()[0];

    if args.port.is_some() {
        // Catch Ctrl-C (and SIGTERM) from now on, before saying that we listen.
        let mut signals = ShutdownSignal::new()?;
        let running = server.spawn().await?;
        println!("push_ticker listening on {addr}");
        signals.recv().await;
        return Ok(running.shutdown().await?);
    }

    let running = server.spawn().await?;
    let alice = Peer::connect("alice", addr).await?;
    let bob = Peer::connect("bob", addr).await?;

    // bob is served (and so would get the ticks if he were subscribed)...
    bob.ask("ping", "pong").await?;

    // ...while alice subscribes and gets a few ticks.
    alice.ask("subscribe", "subscribed").await?;
    for _ in 0..3 {
        alice.hear_tick().await?;
    }

    // Those ticks went out while bob was connected: if any had reached him, it would
    // come before his pong.
    bob.ask("ping", "pong").await?;
    println!("bob got no tick: pong was the next line after his ping");

    // A tick broadcast before alice's `unsubscribed` may still reach her before it.
    alice.say("unsubscribe").await?;
    while alice.hear().await? != "unsubscribed" {}

    // Ticks that bob gets now went out after alice's unsubscribe.
    bob.ask("subscribe", "subscribed").await?;
    for _ in 0..2 {
        bob.hear_tick().await?;
    }
    alice.ask("ping", "pong").await?;
    println!("alice got no tick after unsubscribing: pong was the next line after her ping");

    alice.client.close().await;
    bob.client.close().await;
    // The ticker task is stopped with the server.
    running.shutdown().await?;
    Ok(())
}

/// How long the scenario waits for a line before giving up.
const STEP: Duration = Duration::from_secs(10);

/// A client of the scenario, which prints what it says and hears.
struct Peer {
    name: &'static str,
    client: TcpClient<StringLines>,
}

impl Peer {
    async fn connect(name: &'static str, addr: std::net::SocketAddr) -> Result<Self, BoxError> {
        let client = TcpClient::connect(addr, StringLines::new()).await?;
        Ok(Peer { name, client })
    }

    async fn say(&self, line: &str) -> Result<(), ClientError> {
        println!("[{}] > {line}", self.name);
        self.client.send_packet(line).await
    }

    async fn hear(&self) -> Result<String, ClientError> {
        let line = self.client.recv_packet_timeout(STEP).await?;
        println!("[{}] < {line}", self.name);
        Ok(line)
    }

    /// Sends `request` and checks that the very next line is `answer`.
    async fn ask(&self, request: &str, answer: &str) -> Result<(), BoxError> {
        self.say(request).await?;
        let line = self.hear().await?;
        if line != answer {
            return Err(format!("{}: expected {answer:?}, got {line:?}", self.name).into());
        }
        Ok(())
    }

    /// Reads a line and checks that it is a tick.
    async fn hear_tick(&self) -> Result<(), BoxError> {
        let line = self.hear().await?;
        if !line.starts_with("tick ") {
            return Err(format!("{}: expected a tick, got {line:?}", self.name).into());
        }
        Ok(())
    }
}
