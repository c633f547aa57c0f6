//! Unix stream servers, and servers given streams accepted elsewhere: the same handler
//! model as TCP, over other transports.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use easynet::{
    Address, BytesLines, HandlerError, JsonLines, RecvError, StreamClient, StreamRequestHandler,
    UnixServer, handler, recv,
};
use easynet_tests::within;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// A fresh directory for this test's socket files, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("easynet-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Answers `who` with the peer's credentials and address, `wait` with a 300 ms
/// `recv!()` timeout, anything else with itself; reports disconnections.
struct WhoAmI {
    disconnected: mpsc::UnboundedSender<()>,
}

impl StreamRequestHandler for WhoAmI {
    type Request = Bytes;
    type Response = Bytes;

    async fn on_connection(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        client.send_packet(&Bytes::from_static(b"hello")).await?;
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Bytes>) -> Result<(), HandlerError> {
        let line = recv!()?;
        let answer = match &line[..] {
            b"who" => {
                let cred = client.peer_credentials().expect("credentials");
                format!(
                    "uid={} gid={} pid={:?} remote={} local={}",
                    cred.uid(),
                    cred.gid(),
                    cred.pid(),
                    client.remote_address(),
                    client.local_address()
                )
            }
            b"wait" => match recv!(timeout = 300ms) {
                Err(RecvError::Timeout) => "timed out".to_owned(),
                other => format!("{other:?}"),
            },
            _ => String::from_utf8_lossy(&line).into_owned(),
        };
        client.send_packet(&Bytes::from(answer)).await?;
        Ok(())
    }

    async fn on_disconnection(&self, _client: &StreamClient<Bytes>) {
        let _ = self.disconnected.send(());
    }
}

struct Peer {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Peer {
    async fn connect(path: &std::path::Path) -> Peer {
        let (read, writer) = within(UnixStream::connect(path))
            .await
            .unwrap()
            .into_split();
        Peer {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        within(self.writer.write_all(bytes)).await.unwrap();
    }

    async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = within(self.reader.read_line(&mut line)).await.unwrap();
        (n > 0).then(|| line.trim_end_matches('\n').to_owned())
    }
}

#[tokio::test]
async fn a_unix_server_serves_the_stream_handler_with_peer_credentials() {
    let dir = TempDir::new("unix-serve");
    let path = dir.path("echo.sock");
    let (disconnected, mut disconnections) = mpsc::unbounded_channel();
    let server = UnixServer::builder(&path, BytesLines::new(), WhoAmI { disconnected })
        .mode(0o600)
        .bind()
        .await
        .unwrap();
    assert_eq!(server.path(), path);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let running = server.spawn().await.unwrap();

    let mut peer = Peer::connect(&path).await;
    assert_eq!(peer.line().await.as_deref(), Some("hello"));
    peer.send(b"ping\nwho\n").await;
    assert_eq!(peer.line().await.as_deref(), Some("ping"));
    let who = peer.line().await.unwrap();
    // The process's own ids, read from /proc.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = field(&status, "Uid:");
    let gid = field(&status, "Gid:");
    assert_eq!(
        who,
        format!(
            "uid={uid} gid={gid} pid=Some({}) remote=unix:(unnamed) local=unix:{}",
            std::process::id(),
            path.display()
        )
    );
    // recv!() timeouts work as on TCP.
    peer.send(b"wait\n").await;
    assert_eq!(peer.line().await.as_deref(), Some("timed out"));
    assert_eq!(server.client_count(), 1);

    drop(peer);
    within(disconnections.recv()).await.unwrap();
    within(running.shutdown()).await.unwrap();
    assert!(!path.exists(), "the socket file was not removed at close");
}

/// The first number of a `/proc/self/status` line.
fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced_and_a_live_one_refused() {
    let dir = TempDir::new("unix-stale");
    let path = dir.path("stale.sock");
    // What a server killed without cleaning up leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let (disconnected, _rx) = mpsc::unbounded_channel();
    let server = UnixServer::bind(&path, BytesLines::new(), WhoAmI { disconnected })
        .await
        .expect("a stale socket file is replaced");
    let running = server.spawn().await.unwrap();
    let mut peer = Peer::connect(&path).await;
    assert_eq!(peer.line().await.as_deref(), Some("hello"));

    // A second server on the same path while the first serves: refused, file kept.
    let (disconnected, _rx2) = mpsc::unbounded_channel();
    let refused = UnixServer::bind(&path, BytesLines::new(), WhoAmI { disconnected })
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::AddrInUse, "{refused}");
    peer.send(b"still\n").await;
    assert_eq!(peer.line().await.as_deref(), Some("still"));

    // Without remove_stale, a stale file is an error.
    drop(peer);
    within(running.shutdown()).await.unwrap();
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let (disconnected, _rx3) = mpsc::unbounded_channel();
    let kept = UnixServer::builder(&path, BytesLines::new(), WhoAmI { disconnected })
        .remove_stale(false)
        .bind()
        .await
        .unwrap_err();
    assert_eq!(kept.kind(), std::io::ErrorKind::AddrInUse, "{kept}");
    assert!(path.exists());
}

#[tokio::test]
async fn serve_stream_serves_an_in_memory_pipe_with_easynets_decode_errors() {
    let dir = TempDir::new("serve-stream");
    let (disconnected, mut disconnections) = mpsc::unbounded_channel();
    // The server listens nowhere useful; the connection comes from elsewhere.
    let server = UnixServer::bind(
        dir.path("unused.sock"),
        JsonLines::new(),
        Json { disconnected },
    )
    .await
    .unwrap();
    let running = server.spawn().await.unwrap();
    let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve_stream(theirs, Address::Unknown).await }
    });
    let (read, mut write) = tokio::io::split(&mut ours);
    let mut read = BufReader::new(read);
    // A bad document is one parse error out of recv!(); the stream goes on.
    write
        .write_all(b"[1, 2]\n{oops\n{\"a\": 3}\n")
        .await
        .unwrap();
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        within(read.read_line(&mut line)).await.unwrap();
        lines.push(line);
    }
    assert_eq!(lines[0], "[1,2]\n");
    assert!(lines[1].starts_with("{\"error\":"), "{}", lines[1]);
    assert_eq!(lines[2], "{\"a\":3}\n");
    assert_eq!(server.client_count(), 1);
    drop((read, write));
    drop(ours);
    within(serving).await.unwrap();
    within(disconnections.recv()).await.unwrap();
    within(running.shutdown()).await.unwrap();
}

/// Echoes JSON, answers a bad document with `{"error": ..}`.
struct Json {
    disconnected: mpsc::UnboundedSender<()>,
}

impl StreamRequestHandler for Json {
    type Request = serde_json::Value;
    type Response = serde_json::Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<serde_json::Value>) -> Result<(), HandlerError> {
        let answer = match recv!() {
            Ok(value) => value,
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        client.send_packet(&answer).await?;
        Ok(())
    }

    async fn on_disconnection(&self, _client: &StreamClient<serde_json::Value>) {
        let _ = self.disconnected.send(());
    }
}

#[tokio::test]
async fn serve_stream_ends_at_shutdown_within_the_bound() {
    let dir = TempDir::new("serve-stream-shutdown");
    let (disconnected, mut disconnections) = mpsc::unbounded_channel();
    let server = UnixServer::builder(
        dir.path("unused.sock"),
        JsonLines::new(),
        Json { disconnected },
    )
    .shutdown_timeout(Duration::from_millis(100))
    .bind()
    .await
    .unwrap();
    let running = server.spawn().await.unwrap();
    let (ours, theirs) = tokio::io::duplex(1024);
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve_stream(theirs, Address::Unknown).await }
    });
    // The connection waits for a request; shutting down ends it.
    within(running.shutdown()).await.unwrap();
    within(serving).await.unwrap();
    within(disconnections.recv()).await.unwrap();
    drop(ours);
}

#[tokio::test]
async fn a_unix_client_talks_to_a_unix_server() {
    let dir = TempDir::new("unix-client");
    let path = dir.path("json.sock");
    let (disconnected, mut disconnections) = mpsc::unbounded_channel();
    let server = UnixServer::bind(&path, JsonLines::new(), Json { disconnected })
        .await
        .unwrap();
    let running = server.spawn().await.unwrap();
    let client = easynet::UnixClient::connect_unix(&path, JsonLines::<serde_json::Value>::new())
        .await
        .unwrap();
    assert_eq!(client.remote_address(), &Address::Unix(Some(path.clone())));
    client
        .send_packet(&serde_json::json!({"over": "unix"}))
        .await
        .unwrap();
    assert_eq!(
        within(client.recv_packet()).await.unwrap(),
        serde_json::json!({"over": "unix"})
    );
    client.close().await;
    within(disconnections.recv()).await.unwrap();
    within(running.shutdown()).await.unwrap();
}

#[tokio::test]
async fn a_client_over_any_stream_keeps_easynets_decode_errors() {
    let (ours, mut theirs) = tokio::io::duplex(1024);
    let client = easynet::Client::from_io(ours, JsonLines::<serde_json::Value>::new());
    assert_eq!(client.remote_address(), &Address::Unknown);
    // The other end answers a bad document between two good ones.
    theirs.write_all(b"[1]\n{oops\n[2]\n").await.unwrap();
    assert_eq!(
        within(client.recv_packet()).await.unwrap(),
        serde_json::json!([1])
    );
    assert!(matches!(
        within(client.recv_packet()).await,
        Err(easynet::ClientError::Parse(_))
    ));
    assert_eq!(
        within(client.recv_packet()).await.unwrap(),
        serde_json::json!([2])
    );
    client
        .send_packet(&serde_json::json!("back"))
        .await
        .unwrap();
    let mut line = String::new();
    let mut theirs = BufReader::new(theirs);
    within(theirs.read_line(&mut line)).await.unwrap();
    assert_eq!(line, "\"back\"\n");
}
