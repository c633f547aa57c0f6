//! Helpers shared by easynet's integration tests: start a server in the background,
//! talk to it with raw sockets, find the Python interpreter for interop tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use easynet::{ServerError, StreamProtocol, StreamRequestHandler, TcpServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;

/// The longest any single step of a test may take before the test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Logs to the test output (`RUST_LOG` chooses the level; default: warnings).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A server serving in a background task.
pub struct Running<H, P> {
    /// The server.
    pub server: TcpServer<H, P>,
    /// Its first address.
    pub addr: SocketAddr,
    /// The task running `serve_forever`.
    pub task: JoinHandle<Result<(), ServerError>>,
}

impl<H, P> Running<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    /// Shuts the server down and checks that `serve_forever` returned `Ok`.
    pub async fn stop(self) {
        within(self.server.shutdown()).await;
        within(self.task).await.unwrap().unwrap();
    }
}

/// Binds `handler` on 127.0.0.1 (a free port) and serves it in the background.
pub async fn serve<H, P>(protocol: P, handler: H) -> Running<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    let server = TcpServer::builder(protocol, handler)
        .host("127.0.0.1")
        .shutdown_timeout(Duration::from_secs(2))
        .bind()
        .await
        .expect("bind");
    start(server).await
}

/// Serves an already built server in the background and waits until it is up.
pub async fn start<H, P>(server: TcpServer<H, P>) -> Running<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    init_tracing();
    let addr = server.local_addrs()[0];
    let task = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    assert!(within(server.wait_serving()).await, "server did not start");
    Running { server, addr, task }
}

/// Awaits `future`, failing the test if it takes longer than [`STEP`].
pub async fn within<F: std::future::IntoFuture>(future: F) -> F::Output {
    tokio::time::timeout(STEP, future)
        .await
        .expect("test step timed out")
}

/// A raw line-oriented TCP peer, to send exact bytes and read exact lines.
pub struct RawPeer {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl RawPeer {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> RawPeer {
        let stream = within(TcpStream::connect(addr)).await.expect("connect");
        let (read, writer) = stream.into_split();
        RawPeer {
            reader: BufReader::new(read),
            writer,
        }
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        within(self.writer.write_all(bytes)).await.expect("write");
    }

    /// Reads one line, without its `\n`; `None` at end of stream.
    pub async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = within(self.reader.read_line(&mut line))
            .await
            .expect("read");
        if n == 0 {
            return None;
        }
        assert!(line.ends_with('\n'), "partial line at EOF: {line:?}");
        line.pop();
        Some(line)
    }

    /// Reads one line and parses it as JSON.
    pub async fn json(&mut self) -> serde_json::Value {
        let line = self.line().await.expect("a line, got EOF");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"))
    }

    /// Waits for the server to close the connection, failing if it sends anything.
    pub async fn expect_eof(&mut self) {
        if let Some(line) = self.line().await {
            panic!("expected EOF, got {line:?}");
        }
    }

    /// Closes our write side (the server sees EOF).
    pub async fn shutdown_write(&mut self) {
        let _ = self.writer.shutdown().await;
    }
}

/// The Python interpreter of the interop venv (with `easynetwork==1.2.0`).
///
/// `tests/run.sh` creates it; `EASYNET_PYTHON` may point to another one. A missing
/// interpreter fails the test: interop tests never skip.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("EASYNET_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python interop environment at {}: run `bash tests/run.sh` (it creates it with \
         easynetwork==1.2.0) or set EASYNET_PYTHON",
        venv.display()
    );
    venv
}

/// The directory of the Python peer scripts used by interop tests.
pub fn python_scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python")
}
