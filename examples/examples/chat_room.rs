//! A chat room: the how-to's "Wait For Client Data On Connection" (`on_connection`, a
//! `#[handler]`, reads the client's nickname with `recv!()` before anything else), with
//! what easynet adds to it: every hook's `StreamClient` is a handle the handler may keep
//! (here, in the list of members), and `easynet::broadcast` sends one line, encoded once,
//! to every member without waiting for a slow one.
//!
//! The protocol is text lines (`StringLines`: UTF-8, one message per `\n`-terminated
//! line; spaces and a `\r` around a line are ignored, so `nc` and `telnet` are clients):
//!
//! ```text
//! server -> client   * welcome to the chat room! your nickname?
//! client -> server   alice                  (1 to 20 letters, digits, '-' or '_')
//! server -> all      * alice joined         (the newcomer too: it is in the room now)
//! client -> server   hello
//! server -> all      alice: hello           (the sender too, in the order all see)
//! client -> server   /quit                  (or just close the connection)
//! server -> client   * bye
//! server -> others   * alice left
//! ```
//!
//! A nickname that is taken or malformed is refused with a `* ...` line and asked again;
//! a client that gives none within 60 s is told so and disconnected.
//!
//! Run it with `cargo run -p easynet-examples --example chat_room`: it starts the server
//! on 127.0.0.1, three clients join (the third first asks for a nickname that is taken),
//! talk, and one leaves; it prints what each client sends (`>`) and receives (`<`), then
//! shuts down. To chat by hand, serve until Ctrl-C with
//! `cargo run -p easynet-examples --example chat_room -- --port 9000 [--host 0.0.0.0]`
//! (it prints `chat_room listening on ADDR`), then run `nc 127.0.0.1 9000` in a few
//! terminals.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use clap::Parser;
use easynet::{
    BoxError, ClientError, ClientId, HandlerError, RecvError, SendError, ShutdownSignal,
    StreamClient, StreamRequestHandler, StringLines, TcpClient, TcpServer, handler, recv,
};
use tokio::sync::Mutex;
use tracing_subscriber::EnvFilter;

/// Someone in the room.
struct Member {
    /// The handle on its connection: any task may send to it.
    client: StreamClient<String>,
    nickname: String,
}

impl Member {
    // A fn rather than the closure `|m| &m.client` for `broadcast`: rustc (1.95) cannot
    // yet prove Send a handler future that holds such a closure across an await
    // ("implementation of `FnOnce` is not general enough").
    fn client(&self) -> &StreamClient<String> {
        &self.client
    }
}

/// The chat room: one handler instance serves every connection.
#[derive(Default)]
struct ChatRoom {
    /// Who is in the room, by connection.
    ///
    /// A tokio `Mutex`, held while a line is broadcast, so that every member sees the
    /// lines in one order (and no one joins or leaves halfway through a broadcast).
    /// Holding it is short: `broadcast` never waits for a slow client.
    members: Mutex<HashMap<ClientId, Member>>,
}

/// Sends `line` to every member, and disconnects the members who cannot keep up.
fn tell_everyone(members: &HashMap<ClientId, Member>, line: &String) -> Result<(), SendError> {
    let report = easynet::broadcast(members.values().map(Member::client), line)?;
    for laggard in report.full() {
        // Its send queue is full: its peer reads slower than the room talks. Letting it
        // miss this line would leave a silent hole in its conversation, and waiting for
        // it would hold up everyone; so it is disconnected, at once (`close` would first
        // wait for its queue to drain, up to the write timeout). Its `on_disconnection`
        // then tells the others that it left.
        tracing::info!(client = %laggard.remote_addr(), "too slow for the room, disconnecting");
        laggard.close_now();
    }
    Ok(())
}

/// Whether `nickname` is 1 to 20 letters, digits, `-` or `_`.
fn is_valid_nickname(nickname: &str) -> bool {
    (1..=20).contains(&nickname.chars().count())
        && nickname
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

impl StreamRequestHandler for ChatRoom {
    type Request = String;
    type Response = String;

    // A #[handler]: it may wait for the client's lines with recv!() before `handle`
    // serves any (the how-to's "Wait For Client Data On Connection").
    #[handler]
    async fn on_connection(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let prompt = "* welcome to the chat room! your nickname?".to_owned();
        client.send_packet(&prompt).await?;
        loop {
            let nickname = match recv!(timeout = 60s) {
                Ok(line) => line.trim().to_owned(),
                Err(RecvError::Timeout) => {
                    let line = "* no nickname within 60 s, bye".to_owned();
                    client.send_packet(&line).await?;
                    client.close().await;
                    return Ok(());
                }
                // Not UTF-8, or a line over the protocol's limit: say so and ask again.
                Err(RecvError::Parse(error)) => {
                    client.send_packet(&format!("* {error}")).await?;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            if !is_valid_nickname(&nickname) {
                let line = "* a nickname is 1 to 20 letters, digits, '-' or '_'; your nickname?";
                client.send_packet(&line.to_owned()).await?;
                continue;
            }
            // Checked and taken under one lock: two clients cannot get the same name.
            let mut members = self.members.lock().await;
            if members.values().any(|m| m.nickname == nickname) {
                drop(members);
                let line = format!("* {nickname} is taken, try another nickname");
                client.send_packet(&line).await?;
                continue;
            }
            let joined = format!("* {nickname} joined");
            let member = Member {
                client: client.clone(),
                nickname,
            };
            members.insert(client.id(), member);
            tell_everyone(&members, &joined)?;
            return Ok(());
        }
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
        let line = match recv!() {
            Ok(line) => line,
            Err(RecvError::Parse(error)) => {
                client.send_packet(&format!("* {error}")).await?;
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        match line.trim() {
            "" => {}
            "/quit" => {
                client.send_packet(&"* bye".to_owned()).await?;
                // on_disconnection tells the others.
                client.close().await;
            }
            text => {
                let members = self.members.lock().await;
                // Every client that gets here has joined (on_connection ran first).
                if let Some(me) = members.get(&client.id()) {
                    let said = format!("{}: {text}", me.nickname);
                    tell_everyone(&members, &said)?;
                }
            }
        }
        Ok(())
    }

    // Runs once per connection, whatever ended it: /quit, the peer closing, a laggard
    // disconnected, the server shutting down.
    async fn on_disconnection(&self, client: &StreamClient<String>) {
        let mut members = self.members.lock().await;
        if let Some(member) = members.remove(&client.id()) {
            let left = format!("* {} left", member.nickname);
            if let Err(error) = tell_everyone(&members, &left) {
                tracing::warn!(%error, "cannot announce a departure");
            }
        }
    }
}

/// A chat server; without --port, a short scenario with three clients.
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

    let server = TcpServer::builder(StringLines::new(), ChatRoom::default())
        .host(args.host)
        .port(args.port.unwrap_or(0))
        .bind()
        .await?;
    let addr = server.local_addrs()[0];

    if args.port.is_some() {
        // Catch Ctrl-C (and SIGTERM) from now on, before saying that we listen.
        let mut signals = ShutdownSignal::new()?;
        let running = server.spawn().await?;
        println!("chat_room listening on {addr}");
        signals.recv().await;
        // Every client is disconnected; the room empties through on_disconnection.
        return Ok(running.shutdown().await?);
    }

    let running = server.spawn().await?;
    let alice = Chatter::join("alice", addr).await?;
    alice.hear().await?; // * alice joined

    let bob = Chatter::join("bob", addr).await?;
    alice.hear().await?; // * bob joined
    bob.hear().await?;

    // carol first asks for a nickname that is taken: on_connection asks again.
    let carol = Chatter::connect("carol", addr).await?;
    carol.hear().await?; // the prompt
    carol.say("bob").await?;
    carol.hear().await?; // * bob is taken
    carol.say("carol").await?;
    for member in [&alice, &bob, &carol] {
        member.hear().await?; // * carol joined
    }

    // Each line reaches every member, the sender too.
    for (speaker, text) in [
        (&alice, "hi everyone"),
        (&bob, "hi alice"),
        (&carol, "hello! I can't stay"),
    ] {
        speaker.say(text).await?;
        for member in [&alice, &bob, &carol] {
            member.hear().await?;
        }
    }

    carol.say("/quit").await?;
    carol.hear().await?; // * bye
    carol.hear_the_end().await?;
    alice.hear().await?; // * carol left
    bob.hear().await?;

    alice.client.close().await;
    bob.client.close().await;
    running.shutdown().await?;
    Ok(())
}

/// How long the scenario waits for a line before giving up.
const STEP: Duration = Duration::from_secs(10);

/// A client of the scenario, which prints what it says and hears.
struct Chatter {
    name: &'static str,
    client: TcpClient<StringLines>,
}

impl Chatter {
    /// Connects; the server's first line is its nickname prompt.
    async fn connect(name: &'static str, addr: std::net::SocketAddr) -> Result<Self, BoxError> {
        let client = TcpClient::connect(addr, StringLines::new()).await?;
        Ok(Chatter { name, client })
    }

    /// Connects, reads the prompt and gives `name` as the nickname.
    async fn join(name: &'static str, addr: std::net::SocketAddr) -> Result<Self, BoxError> {
        let chatter = Self::connect(name, addr).await?;
        chatter.hear().await?;
        chatter.say(name).await?;
        Ok(chatter)
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

    /// Waits for the server to close the connection.
    async fn hear_the_end(&self) -> Result<(), BoxError> {
        match self.client.recv_packet_timeout(STEP).await {
            Err(ClientError::ConnectionClosed) => {
                println!("[{}] (the server closed the connection)", self.name);
                Ok(())
            }
            Ok(line) => Err(format!("{}: expected the end, got {line:?}", self.name).into()),
            Err(error) => Err(error.into()),
        }
    }
}
