//! The chat room of `chat_room.rs`, run as two or more processes (behind HAProxy, say):
//! a line said to any process reaches the clients of every process, through Redis
//! pub/sub.
//!
//! ```text
//! cargo run -p easynet-examples --example chat_cluster -- --port 9001 --redis redis://127.0.0.1:6379/ [--node NAME]
//! cargo run -p easynet-examples --example chat_cluster -- --port 9002 --redis redis://127.0.0.1:6379/
//! ```
//!
//! The protocol is `chat_room`'s (text lines: a nickname first, then lines to say,
//! `/quit` to leave; `nc` is a client). What a process's clients say is not sent to its
//! own clients directly: every line (`alice: hello`, `* alice joined`, `* alice left`)
//! is published on the Redis channel (`--channel`, default `easynet-chat`), and each
//! process delivers what it receives from the channel to its own clients. So every
//! client, on whichever process, sees the same lines in the same order (Redis's).
//! Nicknames are unique across the cluster: a process claims one with `SADD` on the set
//! `CHANNEL:nicknames` and gives it back when its client leaves.
//!
//! It prints `chat_cluster listening on ADDR` once it is subscribed (no line published
//! after that is missed). Ctrl-C shuts it down; SIGTERM drains it (`--drain-grace SECS`,
//! default 10), so its clients reconnect to the other processes gradually. If its Redis
//! connection is lost it shuts down (exit status 1): a process that cannot hear the
//! others must not keep clients.
//!
//! Shortcuts: a process that is killed (not shut down) leaves its clients' nicknames
//! claimed in Redis; a deployment would claim them with an expiry, renewed while the
//! client is connected.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use clap::Parser;
use easynet::{
    BoxError, ClientId, HandlerError, RecvError, SendError, ShutdownSignal, StreamClient,
    StreamRequestHandler, StringLines, TcpServer, handler, recv,
};
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

/// A chat room spread over several processes through Redis pub/sub.
#[derive(Parser)]
struct Args {
    /// The port to listen on (0: a free port).
    #[arg(long)]
    port: u16,
    /// The host to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The Redis server, as a URL.
    #[arg(long, value_name = "URL", default_value = "redis://127.0.0.1:6379/")]
    redis: String,
    /// The Redis channel the processes share.
    #[arg(long, default_value = "easynet-chat")]
    channel: String,
    /// This process's name, in its logs.
    #[arg(long, default_value = "chat")]
    node: String,
    /// On SIGTERM, close idle connections over this many seconds before shutting down.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = easynet_examples::parse_seconds)]
    drain_grace: Duration,
}

/// Someone in the room, connected to this process.
struct Member {
    client: StreamClient<String>,
    nickname: String,
}

impl Member {
    // A fn rather than a closure, as in chat_room.rs (a Send bound rustc cannot prove).
    fn client(&self) -> &StreamClient<String> {
        &self.client
    }
}

/// This process's part of the room.
struct ClusterRoom {
    /// Its own members; lines from the channel go to them.
    members: Mutex<HashMap<ClientId, Member>>,
    /// Publishes lines and claims nicknames (a multiplexed connection: cheap to clone,
    /// shared by every client).
    redis: MultiplexedConnection,
    channel: String,
    nicknames: String,
}

impl ClusterRoom {
    /// Publishes `line` to every process of the room (this one included).
    async fn publish(&self, line: String) -> Result<(), HandlerError> {
        let mut redis = self.redis.clone();
        let _receivers: i64 = redis.publish(&self.channel, line).await?;
        Ok(())
    }
}

/// Sends `line` to every member of this process, and disconnects those who cannot keep
/// up (as chat_room.rs does).
fn tell_members(members: &HashMap<ClientId, Member>, line: &String) -> Result<(), SendError> {
    let report = easynet::broadcast(members.values().map(Member::client), line)?;
    for laggard in report.full() {
        tracing::info!(client = %laggard.remote_addr(), "too slow for the room, disconnecting");
        laggard.close_now();
    }
    Ok(())
}

fn is_valid_nickname(nickname: &str) -> bool {
    (1..=20).contains(&nickname.chars().count())
        && nickname
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

impl StreamRequestHandler for ClusterRoom {
    type Request = String;
    type Response = String;

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
            // Claimed in Redis: unique across every process.
            let mut redis = self.redis.clone();
            let claimed: i64 = redis.sadd(&self.nicknames, &nickname).await?;
            if claimed == 0 {
                let line = format!("* {nickname} is taken, try another nickname");
                client.send_packet(&line).await?;
                continue;
            }
            let joined = format!("* {nickname} joined");
            let member = Member {
                client: client.clone(),
                nickname,
            };
            // A member before the line goes out: the newcomer sees its own arrival.
            self.members.lock().await.insert(client.id(), member);
            self.publish(joined).await?;
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
                client.close().await;
            }
            text => {
                let nickname = self
                    .members
                    .lock()
                    .await
                    .get(&client.id())
                    .map(|m| m.nickname.clone());
                if let Some(nickname) = nickname {
                    self.publish(format!("{nickname}: {text}")).await?;
                }
            }
        }
        Ok(())
    }

    async fn on_disconnection(&self, client: &StreamClient<String>) {
        let member = self.members.lock().await.remove(&client.id());
        if let Some(member) = member {
            let mut redis = self.redis.clone();
            let released: Result<i64, _> = redis.srem(&self.nicknames, &member.nickname).await;
            let left = self.publish(format!("* {} left", member.nickname));
            if let Err(error) = released.map_err(HandlerError::from).and(left.await) {
                tracing::warn!(%error, "cannot announce a departure");
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    easynet_examples::init_tracing("info");
    let args = Args::parse();
    let redis = redis::Client::open(args.redis.as_str())?;
    let connection = redis.get_multiplexed_async_connection().await?;
    let mut pubsub = redis.get_async_pubsub().await?;
    pubsub.subscribe(&args.channel).await?;

    let room = ClusterRoom {
        members: Mutex::new(HashMap::new()),
        redis: connection,
        nicknames: format!("{}:nicknames", args.channel),
        channel: args.channel.clone(),
    };
    let server = TcpServer::builder(StringLines::new(), room)
        .host(&args.host)
        .port(args.port)
        .bind()
        .await?;
    let addr = server.local_addrs()[0];

    // What the channel carries goes to this process's members, in the channel's order.
    let relay = tokio::spawn({
        let server = server.clone();
        async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let line: String = match message.get_payload() {
                    Ok(line) => line,
                    Err(error) => {
                        tracing::warn!(%error, "a message that is not text, skipped");
                        continue;
                    }
                };
                let members = server.handler().members.lock().await;
                if let Err(error) = tell_members(&members, &line) {
                    tracing::warn!(%error, "cannot deliver a line");
                }
            }
        }
    });

    let mut signals = ShutdownSignal::new()?;
    let running = server.spawn().await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "chat_cluster listening on {addr}")?;
    stdout.flush()?;
    drop(stdout);
    tracing::info!(node = %args.node, channel = %args.channel, "joined the cluster");

    let handle = running.handle().clone();
    let mut relay = relay;
    tokio::select! {
        result = running.stop_on_signals(&mut signals, args.drain_grace) => {
            relay.abort();
            Ok(result?)
        }
        _ = &mut relay => {
            tracing::error!(node = %args.node, "lost the Redis subscription, shutting down");
            handle.shutdown().await;
            Err("lost the Redis subscription".into())
        }
    }
}
