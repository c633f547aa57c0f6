//! Helpers shared by easynet's integration tests: start a server in the background,
//! talk to it with raw sockets, find the Python interpreter for interop tests.

pub mod fuzz;
pub mod logs;
pub mod services;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use easynet::{ServerError, StreamProtocol, StreamRequestHandler, TcpServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStdin, Command};
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

/// Polls `condition` until it holds, failing the test after [`STEP`]: for a state that
/// has no event of its own to wait on (a counter, a log line, a count of descriptors).
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + STEP;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {STEP:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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

    /// Connects to `addr` from `local_ip` (any port): a loopback address other than
    /// 127.0.0.1 tells this peer apart from a proxy that connects from 127.0.0.1.
    pub async fn connect_from(local_ip: std::net::IpAddr, addr: SocketAddr) -> RawPeer {
        let socket = match local_ip {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .expect("a TCP socket");
        socket
            .bind(SocketAddr::new(local_ip, 0))
            .unwrap_or_else(|e| panic!("bind {local_ip}: {e}"));
        let stream = within(socket.connect(addr)).await.expect("connect");
        let (read, writer) = stream.into_split();
        RawPeer {
            reader: BufReader::new(read),
            writer,
        }
    }

    /// Our own address (the server's `remote_addr()` for this connection).
    pub fn local_addr(&self) -> SocketAddr {
        self.writer.local_addr().expect("local address")
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        within(self.writer.write_all(bytes)).await.expect("write");
    }

    /// Sends raw bytes, saying whether the connection took them (a closed or reset
    /// connection refuses them).
    pub async fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        within(self.writer.write_all(bytes)).await
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
        let path = PathBuf::from(path);
        // A bare name (`python3`) is looked up in PATH when run; a path must exist.
        assert!(
            path.components().count() == 1 || path.exists(),
            "EASYNET_PYTHON={} does not exist: point it to a Python with easynetwork==1.2.0, \
             or unset it and run `bash tests/run.sh` (it creates tests/.venv)",
            path.display()
        );
        return path;
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

/// The directory of the example binaries (`echo_server`, `echo_client`, ...), from
/// `EASYNET_EXAMPLES_DIR` (`tests/run.sh` builds them and sets it).
///
/// Fails the test if the variable is unset: tests that run examples never skip.
pub fn examples_dir() -> PathBuf {
    match std::env::var_os("EASYNET_EXAMPLES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "EASYNET_EXAMPLES_DIR is not set: run `bash tests/run.sh`, or build the examples \
             (`cargo build -p easynet-examples --examples`) and set it to the directory that \
             holds them (target/debug/examples)"
        ),
    }
}

/// The path of the example binary `name` in [`examples_dir`]; fails the test if it is
/// missing.
pub fn example_binary(name: &str) -> PathBuf {
    let path = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "example binary {} is missing: build it with `cargo build -p easynet-examples \
         --examples` (EASYNET_EXAMPLES_DIR must point to the directory that holds it)",
        path.display()
    );
    path
}

/// How long a whole child-process run (a Python peer script) may take before the test
/// fails. Longer than [`STEP`]: a peer runs many steps, and starting Python takes time.
pub const PROCESS_STEP: Duration = Duration::from_secs(60);

/// A command that runs the Python peer `script` of [`python_scripts`] with the
/// interpreter of [`python`] (fails the test if either is missing).
///
/// The child is killed if the command's future or [`ServerProcess`] is dropped.
pub fn python_script(script: &str) -> Command {
    let interpreter = python();
    let path = python_scripts().join(script);
    assert!(
        path.is_file(),
        "missing Python peer script {}",
        path.display()
    );
    let mut command = Command::new(interpreter);
    command
        .arg(path)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// What a finished child process printed, and how it exited.
#[derive(Debug)]
pub struct ProcessOutput {
    /// What the process was (for messages).
    pub what: String,
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl ProcessOutput {
    /// Fails the test, showing both outputs, unless the process exited with status 0.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "{} failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
            self.what,
            self.status,
            self.stderr.trim_end(),
            self.stdout.trim_end()
        );
        self
    }

    /// The JSON object of the peer's success line `<name> OK {...}` (the Python peers'
    /// summary); fails the test if the process failed or printed no such line.
    pub fn summary(&self, name: &str) -> serde_json::Value {
        self.assert_success();
        let prefix = format!("{name} OK ");
        let line = self
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| {
                panic!("{} printed no `{prefix}` line:\n{}", self.what, self.stdout)
            });
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bad summary from {}: {line:?}: {e}", self.what))
    }
}

/// Runs `command` to its end (stdin closed, outputs captured), failing the test if it
/// takes longer than [`PROCESS_STEP`] (the child is then killed).
pub async fn run_process(mut command: Command, what: &str) -> ProcessOutput {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(PROCESS_STEP, command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {PROCESS_STEP:?}"))
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    ProcessOutput {
        what: what.to_owned(),
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A server running in a child process: an example binary or a Python peer. It is
/// killed when dropped.
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    stderr_done: JoinHandle<()>,
    what: String,
    /// The address it listens on, from its `... listening on HOST:PORT` line.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `command` and waits (at most [`STEP`]) for its first stdout line, which
    /// must end with `listening on HOST:PORT`. Its outputs are collected in the
    /// background (a chatty child never blocks on a full pipe); its stdin stays open
    /// until [`stop`](Self::stop).
    pub async fn spawn(mut command: Command, what: &str) -> ServerProcess {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdin = child.stdin.take();
        let stdout_pipe = child.stdout.take().expect("piped stdout");
        let (stderr, stderr_done) = collect(child.stderr.take().expect("piped stderr"));

        let mut lines = BufReader::new(stdout_pipe);
        let mut first = String::new();
        let read = tokio::time::timeout(STEP, lines.read_line(&mut first)).await;
        let stderr_now = || stderr.lock().unwrap().clone();
        match read {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => panic!(
                "{what} exited before it was ready ({:?}):\n{}",
                child.try_wait(),
                stderr_now()
            ),
            Ok(Err(e)) => panic!("cannot read the output of {what}: {e}"),
            Err(_) => panic!(
                "{what} printed no `listening on` line within {STEP:?}:\n{}",
                stderr_now()
            ),
        }
        let addr = first
            .trim_end()
            .rsplit_once("listening on ")
            .and_then(|(_, addr)| addr.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| {
                panic!("{what}: expected a first line `... listening on HOST:PORT`, got {first:?}")
            });
        ServerProcess {
            child,
            stdin,
            stdout: collect(lines).0,
            stderr,
            stderr_done,
            what: what.to_owned(),
            addr,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server process is running")
    }

    /// A number of kilobytes from the server's `/proc/PID/status` (`"VmRSS"`,
    /// `"VmHWM"`), and how many file descriptors it has open.
    #[cfg(target_os = "linux")]
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read the server's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in the server's status"))
    }

    /// How many file descriptors the server has open.
    #[cfg(target_os = "linux")]
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read the server's fds")
            .count()
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// What the server wrote on stdout after its `listening on` line, so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Closes the server's stdin (the Python peers stop on it) and waits, at most
    /// [`STEP`], for it to exit; fails the test if it does not, or exits with an error.
    /// Returns what it wrote on stderr.
    pub async fn stop(mut self) -> String {
        drop(self.stdin.take());
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop within {STEP:?}", self.what))
            .expect("wait for the server process");
        // Its stderr is complete once the collector has seen the end of the pipe.
        let _ = tokio::time::timeout(STEP, &mut self.stderr_done).await;
        let stderr = self.stderr();
        assert!(
            status.success(),
            "{} exited with {status}:\n{stderr}",
            self.what
        );
        stderr
    }

    /// Sends SIGINT (Ctrl-C) to the server and waits, at most [`STEP`], for it to exit;
    /// fails the test if it does not, or exits with an error (the example servers stop
    /// cleanly on Ctrl-C). Returns what it wrote on stderr.
    #[cfg(unix)]
    pub async fn interrupt(mut self) -> String {
        let pid = self
            .child
            .id()
            .unwrap_or_else(|| panic!("{} has already exited", self.what));
        let kill = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("cannot run `kill`");
        assert!(kill.success(), "kill -INT {pid}: {kill}");
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop within {STEP:?} of SIGINT", self.what))
            .expect("wait for the server process");
        let _ = tokio::time::timeout(STEP, &mut self.stderr_done).await;
        let stderr = self.stderr();
        assert!(
            status.success(),
            "{} exited with {status} after SIGINT:\n{stderr}",
            self.what
        );
        stderr
    }
}

impl ServerProcess {
    /// Sends the signal `name` (`"TERM"`, `"INT"`, `"KILL"`) to the server, without
    /// waiting.
    #[cfg(unix)]
    pub fn signal(&self, name: &str) {
        let pid = self.pid();
        let kill = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .expect("cannot run `kill`");
        assert!(kill.success(), "kill -{name} {pid}: {kill}");
    }

    /// Waits, at most [`STEP`], for the server to exit by itself (after a signal); fails
    /// the test if it does not, or exits with an error. Returns what it wrote on stderr.
    pub async fn wait_exit(mut self) -> String {
        drop(self.stdin.take());
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit within {STEP:?}", self.what))
            .expect("wait for the server process");
        let _ = tokio::time::timeout(STEP, &mut self.stderr_done).await;
        let stderr = self.stderr();
        assert!(
            status.success(),
            "{} exited with {status}:\n{stderr}",
            self.what
        );
        stderr
    }

    /// Whether the server has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits, at most [`STEP`], until the server's stderr holds a line containing
    /// `needle` (checking again each time the collector may have read more).
    pub async fn wait_stderr(&self, needle: &str) {
        within(async {
            while !self.stderr().contains(needle) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

/// Waits, at most [`STEP`], until connecting to `addr` is refused (the listener is
/// closed): tries again, each time a connection was still accepted, or was queued and
/// then reset as the listener closed.
pub async fn wait_refused(addr: SocketAddr) {
    within(async {
        loop {
            match TcpStream::connect(addr).await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
                Err(e) => panic!("connect to {addr}: {e} (expected refused)"),
            }
        }
    })
    .await;
}

/// Reads `pipe` to its end in the background, into a shared string.
fn collect<R>(pipe: R) -> (Arc<Mutex<String>>, JoinHandle<()>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let task = tokio::spawn(async move {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf)),
            }
        }
    });
    (text, task)
}
