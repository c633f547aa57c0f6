//! The examples of `easynet-examples`, run as the user runs them: every self-running
//! example exits 0 and prints what it demonstrates; `echo_server` and `echo_client` work
//! as command-line tools, over real loopback sockets.
//!
//! The binaries are found in `$EASYNET_EXAMPLES_DIR`: `tests/run.sh` builds them
//! (`cargo build -p easynet-examples --examples`) and sets it. A missing variable or
//! binary fails the test: these tests never skip.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStdout, Command};

use easynet_tests::ServerProcess;

/// The longest a self-running example may take; it is killed after that.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// The longest any single network step may take.
const STEP: Duration = Duration::from_secs(10);

/// The path of an example binary, from `$EASYNET_EXAMPLES_DIR`.
fn example_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("EASYNET_EXAMPLES_DIR").unwrap_or_else(|| {
        panic!(
            "EASYNET_EXAMPLES_DIR is not set: build the examples with \
             `cargo build -p easynet-examples --examples` and set EASYNET_EXAMPLES_DIR to \
             <target dir>/debug/examples (tests/run.sh does both)"
        )
    });
    let path = PathBuf::from(dir).join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "example binary {} not found: build it with `cargo build -p easynet-examples --examples` \
         (EASYNET_EXAMPLES_DIR must point to <target dir>/debug/examples)",
        path.display()
    );
    path
}

/// A command for an example binary; the process is killed when its handle is dropped
/// (a failed assertion included).
fn example(name: &str) -> Command {
    let mut command = Command::new(example_path(name));
    command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// What a finished process printed.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn describe(&self, name: &str) -> String {
        format!(
            "{name} exited with {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs an example to its end (killing it after `RUN_LIMIT`) and returns its output.
async fn finish(name: &str, args: &[&str]) -> Finished {
    let child = example(name)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    // On timeout the future, and with it the child, is dropped: kill_on_drop kills it.
    let output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within {RUN_LIMIT:?}: killed"))
        .unwrap_or_else(|e| panic!("cannot wait for {name}: {e}"));
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a self-running example, checks that it exits 0, and returns its stdout lines.
async fn run_ok(name: &str) -> Vec<String> {
    let finished = finish(name, &[]).await;
    assert!(finished.status.success(), "{}", finished.describe(name));
    finished.stdout.lines().map(str::to_owned).collect()
}

/// Fails unless some line of `lines` contains each of `expected`, in this order.
#[track_caller]
fn assert_lines_in_order(lines: &[String], expected: &[&str]) {
    let mut rest = lines.iter();
    for want in expected {
        assert!(
            rest.any(|line| line.contains(want)),
            "expected a line containing {want:?} (after the previous expected ones) in:\n{}",
            lines.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------
// The self-running examples, one per section of the how-to.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn background_server_prints_three_answers_from_three_tasks() {
    let lines = run_ok("background_server").await;
    assert_eq!(
        lines.len(),
        4,
        "expected 4 lines, got:\n{}",
        lines.join("\n")
    );
    let server_task = lines[0]
        .strip_prefix("Server loop running in task: ")
        .unwrap_or_else(|| panic!("unexpected first line {:?}", lines[0]));
    assert!(server_task.starts_with("Task-"), "{server_task:?}");

    let answers: Vec<Value> = lines[1..]
        .iter()
        .map(|line| {
            let answer = line
                .strip_prefix("From server: ")
                .unwrap_or_else(|| panic!("line does not start with `From server: `: {line:?}"));
            serde_json::from_str(answer).unwrap_or_else(|e| panic!("bad JSON {answer:?}: {e}"))
        })
        .collect();
    let mut tasks = vec![server_task];
    for (i, answer) in answers.iter().enumerate() {
        let message = format!("Hello world {}", i + 1);
        assert_eq!(answer["request"], json!({ "message": message }), "{answer}");
        let task = answer["task"].as_str().expect("a task name");
        assert!(task.starts_with("Task-"), "{answer}");
        assert!(!tasks.contains(&task), "task {task} seen twice: {lines:?}");
        tasks.push(task);
        assert_eq!(answer.as_object().unwrap().len(), 2, "{answer}");
    }
}

#[tokio::test]
async fn simple_handler_answers_each_request_with_a_fresh_handle() {
    let lines = run_ok("simple_handler").await;
    assert_lines_in_order(
        &lines,
        &[
            r#""Alice" -> Response { greeting: "Hello, Alice!" }"#,
            r#""Bob" -> Response { greeting: "Hello, Bob!" }"#,
        ],
    );
}

#[tokio::test]
async fn error_handling_answers_a_bad_request_and_goes_on() {
    let lines = run_ok("error_handling").await;
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_lines_in_order(
        &lines,
        &[
            "Ok { sum: 3 }",
            r#"BadRequest { error: "invalid JSON: "#,
            "Ok { sum: 42 }",
        ],
    );
}

#[tokio::test]
async fn multiple_recv_serves_a_session_in_one_handle() {
    let lines = run_ok("multiple_recv").await;
    assert_lines_in_order(
        &lines,
        &[
            r#"Welcome { user: "alice" }"#,
            r#"Said { user: "alice", text: "hello" }"#,
            r#"Said { user: "alice", text: "how are you?" }"#,
            "Logout -> Bye",
            "The server closed the connection",
        ],
    );
}

#[tokio::test]
async fn timeout_sends_timed_out_and_the_connection_stays_usable() {
    let lines = run_ok("timeout").await;
    assert_lines_in_order(
        &lines,
        &[
            "Sent at once -> Answer(",
            "Said nothing -> TimedOut",
            "Asked again -> Answer(",
        ],
    );
}

#[tokio::test]
async fn connection_hooks_run_around_the_connection() {
    let lines = run_ok("connection_hooks").await;
    assert_lines_in_order(
        &lines,
        &[
            "[server] StreamClient { remote_addr: 127.0.0.1:",
            "[client] first packet: Ready",
            r#"-> Upper("HELLO")"#,
        ],
    );
    assert!(
        lines[0].ends_with("closing: false } is connected"),
        "on_connection did not print first:\n{}",
        lines.join("\n")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("closing: true } is disconnected")),
        "on_disconnection did not print:\n{}",
        lines.join("\n")
    );
}

#[tokio::test]
async fn on_connection_login_reads_the_log_in_first() {
    let lines = run_ok("on_connection_login").await;
    assert_lines_in_order(
        &lines,
        &[
            "[server] alice logged in",
            "[alice] Login { user: \"alice\" } -> LoggedIn",
            "[alice] Whoami -> You(\"alice\")",
        ],
    );
    assert_lines_in_order(
        &lines,
        &[
            "[mallory] Whoami -> Error(\"log in first\")",
            "[mallory] the server closed the connection",
        ],
    );
    assert!(
        lines.iter().any(|l| l == "[server] alice logged out"),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("mallory logged")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn service_init_background_task_and_clean_up() {
    let lines = run_ok("service_init").await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let answer = lines[0]
        .strip_prefix("From server: ")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let answer: Value = serde_json::from_str(answer).unwrap();
    assert!(answer["ticks"].is_u64(), "{answer}");
    assert_eq!(
        lines[1..],
        ["Shutting down", "Service stopped", "Server stopped"]
    );
}

#[tokio::test]
async fn client_context_logs_each_clients_own_address() {
    let lines = run_ok("client_context").await;
    for name in ["first", "second"] {
        let prefix = format!("[client] {name} client is ");
        let addr = lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:#?}"));
        let addr: SocketAddr = addr.parse().unwrap();
        let log = format!(r#"[server] From {addr}: Received request: {{"from":"{name}"}}"#);
        assert!(lines.contains(&log), "no {log:?} in {lines:#?}");
    }
}

#[tokio::test]
async fn server_object_serves_one_round_trip() {
    let lines = run_ok("server_object").await;
    assert_lines_in_order(
        &lines,
        &[
            "Serving on 127.0.0.1:",
            "Request { n: 12 } -> Response { square: 144 }",
        ],
    );
}

#[tokio::test]
async fn chat_room_plays_its_scenario() {
    let lines = run_ok("chat_room").await;
    let welcome = "* welcome to the chat room! your nickname?";
    let mut expected = vec![
        format!("[alice] < {welcome}"),
        "[alice] > alice".into(),
        "[alice] < * alice joined".into(),
        format!("[bob] < {welcome}"),
        "[bob] > bob".into(),
        "[alice] < * bob joined".into(),
        "[bob] < * bob joined".into(),
        format!("[carol] < {welcome}"),
        "[carol] > bob".into(),
        "[carol] < * bob is taken, try another nickname".into(),
        "[carol] > carol".into(),
    ];
    for name in ["alice", "bob", "carol"] {
        expected.push(format!("[{name}] < * carol joined"));
    }
    for (speaker, text) in [
        ("alice", "hi everyone"),
        ("bob", "hi alice"),
        ("carol", "hello! I can't stay"),
    ] {
        expected.push(format!("[{speaker}] > {text}"));
        for name in ["alice", "bob", "carol"] {
            expected.push(format!("[{name}] < {speaker}: {text}"));
        }
    }
    expected.extend([
        "[carol] > /quit".into(),
        "[carol] < * bye".into(),
        "[carol] (the server closed the connection)".into(),
        "[alice] < * carol left".into(),
        "[bob] < * carol left".into(),
    ]);
    assert_eq!(lines, expected);
}

/// A transcript (an example's stdout), read line by line.
struct Transcript<'a> {
    lines: &'a [String],
    at: usize,
}

impl<'a> Transcript<'a> {
    fn new(lines: &'a [String]) -> Self {
        Transcript { lines, at: 0 }
    }

    fn whole(&self) -> String {
        self.lines.join("\n")
    }

    /// The next line is `want`.
    #[track_caller]
    fn expect(&mut self, want: &str) {
        let line = self.lines.get(self.at).map(String::as_str);
        assert_eq!(
            line,
            Some(want),
            "line {} of:\n{}",
            self.at + 1,
            self.whole()
        );
        self.at += 1;
    }

    /// The number of the next line if it is `[name] < tick N`, which it then consumes.
    #[track_caller]
    fn maybe_tick(&mut self, name: &str) -> Option<u64> {
        let line = self.lines.get(self.at)?;
        let tick = line.strip_prefix(&format!("[{name}] < tick "))?;
        let tick = tick
            .parse()
            .unwrap_or_else(|e| panic!("bad tick {line:?}: {e}"));
        self.at += 1;
        Some(tick)
    }

    /// The next line is `[name] < tick N`: returns N.
    #[track_caller]
    fn tick(&mut self, name: &str) -> u64 {
        self.maybe_tick(name).unwrap_or_else(|| {
            panic!(
                "line {}: expected a tick for {name} in:\n{}",
                self.at + 1,
                self.whole()
            )
        })
    }

    /// Nothing follows.
    #[track_caller]
    fn end(&self) {
        assert_eq!(
            self.at,
            self.lines.len(),
            "more lines in:\n{}",
            self.whole()
        );
    }
}

/// Fails unless `ticks` are consecutive numbers.
#[track_caller]
fn assert_consecutive(ticks: &[u64], transcript: &Transcript<'_>) {
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "ticks {ticks:?} are not consecutive:\n{}",
        transcript.whole()
    );
}

#[tokio::test]
async fn push_ticker_pushes_ticks_to_subscribers_only() {
    let lines = run_ok("push_ticker").await;
    let mut out = Transcript::new(&lines);
    out.expect("[bob] > ping");
    out.expect("[bob] < pong");
    out.expect("[alice] > subscribe");
    out.expect("[alice] < subscribed");
    let mut alice_ticks: Vec<u64> = (0..3).map(|_| out.tick("alice")).collect();
    out.expect("[bob] > ping");
    out.expect("[bob] < pong");
    out.expect("bob got no tick: pong was the next line after his ping");
    out.expect("[alice] > unsubscribe");
    // Ticks already on their way may come before `unsubscribed`.
    while let Some(tick) = out.maybe_tick("alice") {
        alice_ticks.push(tick);
    }
    assert_consecutive(&alice_ticks, &out);
    out.expect("[alice] < unsubscribed");
    out.expect("[bob] > subscribe");
    out.expect("[bob] < subscribed");
    let bob_ticks: Vec<u64> = (0..2).map(|_| out.tick("bob")).collect();
    assert_consecutive(&bob_ticks, &out);
    assert!(
        bob_ticks[0] > *alice_ticks.last().unwrap(),
        "bob's ticks did not go out after alice's:\n{}",
        out.whole()
    );
    out.expect("[alice] > ping");
    out.expect("[alice] < pong");
    out.expect("alice got no tick after unsubscribing: pong was the next line after her ping");
    out.end();
}

// ---------------------------------------------------------------------------------------
// The tools: echo_server and echo_client.
// ---------------------------------------------------------------------------------------

/// An `echo_server --port 0` process, killed when dropped.
struct EchoServer {
    child: Child,
    addr: SocketAddr,
    _stdout: Lines<BufReader<ChildStdout>>,
}

impl EchoServer {
    async fn start() -> EchoServer {
        let mut child = example("echo_server")
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start echo_server");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(RUN_LIMIT, stdout.next_line())
            .await
            .expect("echo_server did not print its address in time")
            .expect("cannot read echo_server's stdout")
            .expect("echo_server exited without printing its address");
        let addr = line
            .strip_prefix("echo_server listening on ")
            .and_then(|addr| addr.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("unexpected first line from echo_server: {line:?}"));
        assert!(addr.ip().is_loopback(), "{line}");
        assert_ne!(addr.port(), 0, "{line}");
        EchoServer {
            child,
            addr,
            _stdout: stdout,
        }
    }
}

/// A raw TCP peer: sends exact bytes, reads exact lines.
struct RawPeer {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl RawPeer {
    async fn connect(addr: SocketAddr) -> RawPeer {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        let (read, writer) = stream.into_split();
        RawPeer {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(STEP, self.writer.write_all(bytes))
            .await
            .expect("write timed out")
            .expect("write");
    }

    /// The next line without its `\n`; `None` at end of stream.
    async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = tokio::time::timeout(STEP, self.reader.read_line(&mut line))
            .await
            .expect("no answer in time")
            .expect("read");
        if n == 0 {
            return None;
        }
        assert_eq!(line.pop(), Some('\n'), "partial line at EOF: {line:?}");
        Some(line)
    }

    async fn json(&mut self) -> Value {
        let line = self.line().await.expect("a line, got EOF");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"))
    }

    /// Reads an answer and checks it is `{"error": "<non-empty message>"}`.
    async fn expect_error(&mut self) -> String {
        let answer = self.json().await;
        let message = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error object, got {answer}"));
        assert!(!message.is_empty(), "{answer}");
        assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
        message.to_owned()
    }
}

/// Packets in canonical form (compact, keys sorted, no escapes that could be written
/// otherwise): what `serde_json::Value` re-encodes, so the echo is byte-exact.
const PACKETS: &[&str] = &[
    r#"{"a":1,"b":[true,false,null,"x"]}"#,
    "[1,2,3]",
    r#""hello""#,
    "42",
    "-1.5",
    "null",
    r#"{"nested":{"k":"v"},"z":""}"#,
    r#""café 😀 \"quoted\" \\ \n""#,
    "[]",
    "{}",
];

#[tokio::test]
async fn echo_server_echoes_packets_byte_exactly() {
    let server = EchoServer::start().await;
    let mut peer = RawPeer::connect(server.addr).await;
    for packet in PACKETS {
        peer.send(format!("{packet}\n").as_bytes()).await;
        assert_eq!(peer.line().await.as_deref(), Some(*packet));
    }
    // Pipelined: all at once, answered in order.
    peer.send(format!("{}\n", PACKETS.join("\n")).as_bytes())
        .await;
    for packet in PACKETS {
        assert_eq!(peer.line().await.as_deref(), Some(*packet));
    }
}

#[tokio::test]
async fn echo_server_answers_bad_json_with_an_error_and_stays_usable() {
    let server = EchoServer::start().await;
    let mut peer = RawPeer::connect(server.addr).await;
    peer.send(b"{oops\n").await;
    let message = peer.expect_error().await;
    assert!(message.starts_with("invalid JSON"), "{message}");
    peer.send(b"{\"after\":\"bad\"}\n").await;
    assert_eq!(peer.line().await.as_deref(), Some(r#"{"after":"bad"}"#));

    // Not UTF-8, then a bad line and a good one in the same write.
    peer.send(b"\xff\xfe\n[1,\n[2]\n").await;
    peer.expect_error().await;
    peer.expect_error().await;
    assert_eq!(peer.line().await.as_deref(), Some("[2]"));
}

#[tokio::test]
async fn echo_server_answers_an_over_long_line_with_an_error_and_stays_usable() {
    const LIMIT: usize = 64 * 1024;
    let server = EchoServer::start().await;
    let mut peer = RawPeer::connect(server.addr).await;

    // Exactly at the limit: echoed.
    let at_limit = format!("\"{}\"", "a".repeat(LIMIT - 2));
    peer.send(format!("{at_limit}\n").as_bytes()).await;
    assert_eq!(peer.line().await.as_deref(), Some(at_limit.as_str()));

    // One byte over: an error, and the connection goes on.
    let over = format!("\"{}\"", "b".repeat(LIMIT - 1));
    peer.send(format!("{over}\n").as_bytes()).await;
    let message = peer.expect_error().await;
    assert!(message.contains("too large"), "{message}");
    peer.send(b"{\"after\":\"long\"}\n").await;
    assert_eq!(peer.line().await.as_deref(), Some(r#"{"after":"long"}"#));

    // Far over (several reads): one error, then the next packet.
    let huge = format!("[{}1]\n", "1,".repeat(100_000));
    peer.send(format!("{huge}\"next\"\n").as_bytes()).await;
    peer.expect_error().await;
    assert_eq!(peer.line().await.as_deref(), Some(r#""next""#));
}

#[tokio::test]
async fn echo_server_serves_clients_at_the_same_time() {
    let server = EchoServer::start().await;
    let mut first = RawPeer::connect(server.addr).await;
    let mut second = RawPeer::connect(server.addr).await;
    first.send(b"1\n").await;
    second.send(b"2\n").await;
    assert_eq!(second.line().await.as_deref(), Some("2"));
    assert_eq!(first.line().await.as_deref(), Some("1"));
}

/// Sends `signal` to a running echo_server and checks that it shuts down cleanly: exit
/// status 0, idle connections closed.
#[cfg(unix)]
async fn echo_server_shuts_down_cleanly_on(signal: &str) {
    let mut server = EchoServer::start().await;
    let mut peer = RawPeer::connect(server.addr).await;
    peer.send(b"\"before\"\n").await;
    assert_eq!(peer.line().await.as_deref(), Some(r#""before""#));

    let pid = server
        .child
        .id()
        .expect("echo_server is running")
        .to_string();
    let kill = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("cannot run `kill`");
    assert!(kill.success(), "kill -{signal} {pid}: {kill}");

    let status = tokio::time::timeout(RUN_LIMIT, server.child.wait())
        .await
        .unwrap_or_else(|_| panic!("echo_server did not exit after SIG{signal}"))
        .unwrap();
    assert!(
        status.success(),
        "echo_server exited with {status} after SIG{signal}"
    );
    // The idle connection was closed by the shutdown.
    assert_eq!(peer.line().await, None);
}

#[cfg(unix)]
#[tokio::test]
async fn echo_server_shuts_down_cleanly_on_ctrl_c() {
    echo_server_shuts_down_cleanly_on("INT").await;
}

#[cfg(unix)]
#[tokio::test]
async fn echo_server_shuts_down_cleanly_on_sigterm() {
    echo_server_shuts_down_cleanly_on("TERM").await;
}

#[tokio::test]
async fn echo_client_prints_the_answers_as_compact_json() {
    let server = EchoServer::start().await;
    let port = server.addr.port().to_string();
    let finished = finish(
        "echo_client",
        &[
            "--port",
            &port,
            r#"{"a": 1}"#,
            "[1,2]",
            "hello",
            "-3",
            r#"{"nested": {"list": [1, "two", null]}}"#,
            "two words",
        ],
    )
    .await;
    assert!(
        finished.status.success(),
        "{}",
        finished.describe("echo_client")
    );
    assert_eq!(
        finished.stdout,
        "{\"a\":1}\n[1,2]\n\"hello\"\n-3\n{\"nested\":{\"list\":[1,\"two\",null]}}\n\"two words\"\n"
    );

    // --host given explicitly.
    let finished = finish(
        "echo_client",
        &["--host", "127.0.0.1", "--port", &port, "x"],
    )
    .await;
    assert!(
        finished.status.success(),
        "{}",
        finished.describe("echo_client")
    );
    assert_eq!(finished.stdout, "\"x\"\n");
}

#[tokio::test]
async fn echo_client_fails_clearly_when_it_cannot_connect() {
    // A port nobody listens on: bind one, then free it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let finished = finish("echo_client", &["--port", &port, "hello"]).await;
    assert!(
        !finished.status.success(),
        "{}",
        finished.describe("echo_client")
    );
    assert!(
        finished.stderr.contains("cannot connect to 127.0.0.1:"),
        "{}",
        finished.describe("echo_client")
    );
    assert_eq!(finished.stdout, "");
}

#[tokio::test]
async fn echo_client_fails_clearly_when_no_answer_comes() {
    // A listener that never accepts: the kernel completes the connection, nobody answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let finished = finish(
        "echo_client",
        &["--port", &port, "--timeout", "0.5", "hello"],
    )
    .await;
    assert!(
        !finished.status.success(),
        "{}",
        finished.describe("echo_client")
    );
    assert!(
        finished
            .stderr
            .contains("no answer to \"hello\": timed out"),
        "{}",
        finished.describe("echo_client")
    );
    drop(listener);
}

// ---------------------------------------------------------------------------------------
// The example servers: chat_room and push_ticker with --port, talked to with raw lines
// (what `nc` sends).
// ---------------------------------------------------------------------------------------

/// `NAME --port 0`, serving until Ctrl-C.
async fn example_server(name: &str) -> ServerProcess {
    let mut command = example(name);
    command.args(["--port", "0"]);
    let server = ServerProcess::spawn(command, &format!("{name} --port 0")).await;
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    assert_ne!(server.addr.port(), 0);
    server
}

/// The next line of `peer`, which must be there.
async fn next_line(peer: &mut RawPeer) -> String {
    peer.line()
        .await
        .expect("a line, got the end of the stream")
}

const CHAT_WELCOME: &str = "* welcome to the chat room! your nickname?";

/// Connects to the chat room and gives `name` (ended by `newline`) as the nickname.
async fn chat_join(addr: SocketAddr, name: &str, newline: &str) -> RawPeer {
    let mut peer = RawPeer::connect(addr).await;
    assert_eq!(next_line(&mut peer).await, CHAT_WELCOME);
    peer.send(format!("{name}{newline}").as_bytes()).await;
    peer
}

#[cfg(unix)]
#[tokio::test]
async fn chat_room_serves_line_clients_until_ctrl_c() {
    let server = example_server("chat_room").await;
    let addr = server.addr;

    let mut alice = chat_join(addr, "alice", "\n").await;
    assert_eq!(next_line(&mut alice).await, "* alice joined");
    // telnet's line ends work too.
    let mut bob = chat_join(addr, "bob", "\r\n").await;
    for peer in [&mut alice, &mut bob] {
        assert_eq!(next_line(peer).await, "* bob joined");
    }
    // A nickname that is taken, or malformed, is refused and asked again.
    let mut carol = chat_join(addr, "alice", "\n").await;
    assert_eq!(
        next_line(&mut carol).await,
        "* alice is taken, try another nickname"
    );
    carol.send(b"no spaces\n").await;
    assert!(
        next_line(&mut carol).await.starts_with("* a nickname is "),
        "malformed nickname accepted"
    );
    carol.send(b"carol\n").await;
    for peer in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(next_line(peer).await, "* carol joined");
    }

    // Everyone talks at once: every line reaches every member (the sender too), and all
    // members see the lines in one order, each sender's in the order it sent them.
    let names = ["alice", "bob", "carol"];
    let mut peers = [alice, bob, carol];
    for (peer, name) in peers.iter_mut().zip(names) {
        peer.send(format!("{name} one\n{name} two\n").as_bytes())
            .await;
    }
    let mut heard = Vec::new();
    for peer in &mut peers {
        let mut lines = Vec::new();
        for _ in 0..6 {
            lines.push(next_line(peer).await);
        }
        heard.push(lines);
    }
    let mut expected: Vec<String> = names
        .iter()
        .flat_map(|name| [format!("{name}: {name} one"), format!("{name}: {name} two")])
        .collect();
    expected.sort();
    for lines in &heard {
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(sorted, expected, "{heard:#?}");
        assert_eq!(lines, &heard[0], "members saw different orders: {heard:#?}");
        for name in names {
            let at = |text: &str| {
                lines
                    .iter()
                    .position(|l| *l == format!("{name}: {name} {text}"))
            };
            assert!(
                at("one") < at("two"),
                "{name}'s lines out of order: {lines:#?}"
            );
        }
    }

    // Leaving: carol just closes her connection, bob says /quit.
    let [mut alice, mut bob, carol] = peers;
    drop(carol);
    for peer in [&mut alice, &mut bob] {
        assert_eq!(next_line(peer).await, "* carol left");
    }
    bob.send(b"/quit\n").await;
    assert_eq!(next_line(&mut bob).await, "* bye");
    assert_eq!(
        bob.line().await,
        None,
        "the server did not close bob's connection"
    );
    assert_eq!(next_line(&mut alice).await, "* bob left");

    // Ctrl-C: a clean shutdown, which closes alice's connection.
    let stderr = server.interrupt().await;
    assert_eq!(alice.line().await, None);
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

/// The number of a `tick N` line.
#[track_caller]
fn tick_number(line: &str) -> u64 {
    line.strip_prefix("tick ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected `tick N`, got {line:?}"))
}

#[cfg(unix)]
#[tokio::test]
async fn push_ticker_serves_line_clients_until_ctrl_c() {
    let server = example_server("push_ticker").await;
    let mut subscriber = RawPeer::connect(server.addr).await;
    let mut other = RawPeer::connect(server.addr).await;

    // `other` is served (a ping is answered), and so are requests it does not know.
    other.send(b"ping\n").await;
    assert_eq!(next_line(&mut other).await, "pong");
    other.send(b"hello\n").await;
    let error = next_line(&mut other).await;
    assert!(error.starts_with("error: unknown request"), "{error}");

    // A subscriber gets consecutive ticks...
    subscriber.send(b"subscribe\r\n").await;
    assert_eq!(next_line(&mut subscriber).await, "subscribed");
    let mut ticks = Vec::new();
    for _ in 0..3 {
        ticks.push(tick_number(&next_line(&mut subscriber).await));
    }
    // ...which went out while `other` was connected: none came before its pong.
    other.send(b"ping\n").await;
    assert_eq!(next_line(&mut other).await, "pong");

    // Unsubscribed: ticks on their way may come before `unsubscribed`, none after it.
    subscriber.send(b"unsubscribe\n").await;
    loop {
        let line = next_line(&mut subscriber).await;
        if line == "unsubscribed" {
            break;
        }
        ticks.push(tick_number(&line));
    }
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "not consecutive: {ticks:?}"
    );
    other.send(b"subscribe\n").await;
    assert_eq!(next_line(&mut other).await, "subscribed");
    for _ in 0..2 {
        let tick = tick_number(&next_line(&mut other).await);
        assert!(tick > *ticks.last().unwrap(), "{tick} after {ticks:?}");
    }
    // Those ticks went out after the unsubscribe: none came before the pong.
    subscriber.send(b"ping\n").await;
    assert_eq!(next_line(&mut subscriber).await, "pong");

    // Ctrl-C: a clean shutdown, which closes both connections (`other` may get the
    // ticks sent while the server was shutting down first).
    let stderr = server.interrupt().await;
    assert_eq!(subscriber.line().await, None);
    while let Some(line) = other.line().await {
        tick_number(&line);
    }
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// The echo tools over a Unix socket, and echo_server's limits from its command line.

#[cfg(unix)]
#[tokio::test]
async fn the_echo_tools_talk_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("easynet-echo-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let mut server = example("echo_server")
        .arg("--unix")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start echo_server --unix");
    let mut first = String::new();
    let stdout = server.stdout.take().unwrap();
    tokio::time::timeout(RUN_LIMIT, BufReader::new(stdout).read_line(&mut first))
        .await
        .expect("echo_server printed nothing")
        .unwrap();
    assert_eq!(
        first.trim_end(),
        format!("echo_server listening on unix:{}", path.display())
    );
    let client = finish(
        "echo_client",
        &[
            "--unix",
            path.to_str().unwrap(),
            r#"{"over": "unix"}"#,
            "hi",
        ],
    )
    .await;
    assert!(
        client.status.success(),
        "{}",
        client.describe("echo_client")
    );
    assert_eq!(client.stdout, "{\"over\":\"unix\"}\n\"hi\"\n");
    let pid = server.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(RUN_LIMIT, server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "echo_server exited with {status}");
    assert!(!path.exists(), "the socket file was left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn echo_server_takes_its_limits_from_the_command_line() {
    let mut command = example("echo_server");
    command.args([
        "--port",
        "0",
        "--max-connections",
        "1",
        "--frame-timeout",
        "0.3",
        "--idle-timeout",
        "2.5",
    ]);
    let server = ServerProcess::spawn(command, "echo_server").await;
    // The frame timeout: a request that never ends is cut.
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial.write_all(b"{\"never\": ").await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(
        RUN_LIMIT,
        tokio::io::AsyncReadExt::read_to_end(&mut partial, &mut rest),
    )
    .await
    .expect("the frame timeout did not close the connection")
    .unwrap();
    assert!(rest.is_empty());
    // One connection at a time: a second waits until the first leaves.
    let mut first = RawPeer::connect(server.addr).await;
    let mut second = RawPeer::connect(server.addr).await;
    first.send(b"[1]\n").await;
    assert_eq!(next_line(&mut first).await, "[1]");
    second.send(b"[2]\n").await;
    drop(first);
    assert_eq!(next_line(&mut second).await, "[2]");
    drop(second);
    server.interrupt().await;
}
