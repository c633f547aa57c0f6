//! TLS interop with Python easynetwork 1.2.0 (the how-to's "SSL/TLS Connection"), over
//! real loopback sockets, with certificates made at test time and written to a temporary
//! directory for Python.
//!
//! - Python `AsyncTCPNetworkClient(..., ssl=ctx, server_hostname=...)` -> the
//!   `echo_server --tls-cert ... --tls-key ...` example: packets echo unchanged; an
//!   untrusted CA or a wrong host name is refused by Python's checks.
//! - Python client with a client certificate -> an in-process easynet server requiring
//!   one (mutual TLS): the handler sees Python's certificate; without one, refused.
//! - easynet `TcpClient::connect_tls` (and `echo_client --tls`) -> Python
//!   `AsyncTCPNetworkServer(..., ssl=ctx)`, with and without mutual TLS.
//!
//! The peers are `tests/python/tls_client.py` and `tls_server.py`; the interpreter comes
//! from `easynet_tests::python()` and the examples from `EASYNET_EXAMPLES_DIR`: when either
//! is missing the tests fail, they never skip.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use easynet::tls::TlsInfo;
use easynet::tls::rustls::ProtocolVersion;
use easynet::{
    HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient, TcpServer, handler,
    recv,
};
use easynet_tests::tls::TestPki;
use easynet_tests::{
    ProcessOutput, ServerProcess, example_binary, python_script, run_process, start, within,
};
use serde_json::{Value, json};
use tokio::process::Command;

/// Runs `tls_client.py` against `port`, trusting the test CA, with `args`.
async fn python_client(pki: &TestPki, port: u16, args: &[&str]) -> ProcessOutput {
    let mut command = python_script("tls_client.py");
    command
        .arg("--port")
        .arg(port.to_string())
        .arg("--cafile")
        .arg(&pki.ca)
        .args(args);
    run_process(command, &format!("tls_client.py {}", args.join(" "))).await
}

/// `--certfile FILE --keyfile FILE`: the test client certificate, for Python.
fn client_cert_args(pki: &TestPki) -> [String; 4] {
    [
        "--certfile".to_owned(),
        pki.client_cert.display().to_string(),
        "--keyfile".to_owned(),
        pki.client_key.display().to_string(),
    ]
}

/// `tls_client.py` must have been refused; returns its description of the error.
fn refused(output: &ProcessOutput) -> String {
    let summary = output.summary("tls_client");
    summary["refused"]
        .as_str()
        .unwrap_or_else(|| panic!("not refused: {summary}"))
        .to_owned()
}

async fn tls_echo_server(pki: &TestPki) -> ServerProcess {
    let mut command = Command::new(example_binary("echo_server"));
    command
        .args(["--port", "0", "--tls-cert"])
        .arg(&pki.server_cert)
        .arg("--tls-key")
        .arg(&pki.server_key)
        .env("RUST_LOG", "warn");
    ServerProcess::spawn(command, "echo_server --tls-cert").await
}

async fn python_tls_server(pki: &TestPki, client_ca: bool) -> ServerProcess {
    let mut command = python_script("tls_server.py");
    command
        .arg("--certfile")
        .arg(&pki.server_cert)
        .arg("--keyfile")
        .arg(&pki.server_key);
    if client_ca {
        command.arg("--client-ca").arg(&pki.ca);
    }
    ServerProcess::spawn(command, "tls_server.py").await
}

// ---------------------------------------------------------------------------------------
// Python clients -> easynet servers.

#[tokio::test]
async fn python_tls_client_to_echo_server_example() {
    let pki = TestPki::new();
    let server = tls_echo_server(&pki).await;
    let port = server.addr.port();

    let output = python_client(&pki, port, &["--server-hostname", "localhost"]).await;
    let summary = output.summary("tls_client");
    assert_eq!(summary["echoed"], json!(30), "{summary}");

    // Python checks the certificate too: another CA, or another name, is refused.
    let mut command = python_script("tls_client.py");
    command
        .args(["--port", &port.to_string(), "--expect-refusal", "--cafile"])
        .arg(&pki.other_ca);
    let error = refused(&run_process(command, "tls_client.py with another CA").await);
    assert!(error.contains("CERTIFICATE_VERIFY_FAILED"), "{error}");

    let output = python_client(
        &pki,
        port,
        &["--server-hostname", "wrong.example", "--expect-refusal"],
    )
    .await;
    let error = refused(&output);
    assert!(
        error.contains("CERTIFICATE_VERIFY_FAILED") && error.contains("wrong.example"),
        "{error}"
    );

    // The refusals did not disturb the server.
    let output = python_client(&pki, port, &["--server-hostname", "easynet.test"]).await;
    assert_eq!(output.summary("tls_client")["echoed"], json!(30));
    assert!(!server.stderr().contains("ERROR"), "{}", server.stderr());
    drop(server);
}

/// Echoes; `{"cmd": "info"}` gets what the handler knows of the TLS session.
#[derive(Default)]
struct InfoEcho {
    connections: AtomicUsize,
    tls: Mutex<Vec<TlsInfo>>,
}

impl StreamRequestHandler for InfoEcho {
    type Request = Value;
    type Response = Value;

    async fn on_connection(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        self.connections.fetch_add(1, Ordering::SeqCst);
        if let Some(tls) = client.tls() {
            self.tls.lock().unwrap().push(tls.clone());
        }
        Ok(())
    }

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        if request == json!({"cmd": "info"}) {
            let tls = client.tls().ok_or("not TLS")?;
            let answer = json!({
                "version": format!("{:?}", tls.protocol_version()),
                "cipher_suite": format!("{:?}", tls.cipher_suite()),
                "peer_certificates": tls.peer_certificates().len(),
                "sni": tls.server_name(),
            });
            client.send_packet(&answer).await?;
        } else {
            client.send_packet(&request).await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn python_mutual_tls_client_to_in_process_server() {
    let pki = TestPki::new();
    let server = TcpServer::builder(JsonLines::new(), InfoEcho::default())
        .host("127.0.0.1")
        .tls(pki.mtls_server_config())
        .bind()
        .await
        .unwrap();
    let running = start(server).await;
    let port = running.addr.port();

    let mut args = vec!["--info".to_owned()];
    args.extend(client_cert_args(&pki));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let summary = python_client(&pki, port, &args).await.summary("tls_client");
    assert_eq!(summary["echoed"], json!(30), "{summary}");
    let info = &summary["info"];
    assert_eq!(info["version"], json!("TLSv1_3"), "{summary}");
    assert!(
        info["cipher_suite"].as_str().unwrap().starts_with("TLS13_"),
        "{summary}"
    );
    // OpenSSL sends the client's chain: its certificate, then the CA from the trust store.
    assert!(
        info["peer_certificates"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert_eq!(info["sni"], json!("localhost"), "{summary}");
    let handler = running.server.handler();
    assert_eq!(
        handler.tls.lock().unwrap()[0].peer_certificates()[0],
        *pki.client_der(),
        "the handler sees Python's client certificate first"
    );

    // Without a client certificate Python is refused, and no hook runs for it.
    let output = python_client(&pki, port, &["--expect-refusal"]).await;
    // (easynetwork reports the server's alert as a `ConnectionAbortedError`.)
    let error = refused(&output);
    assert!(
        ["CERTIFICATE_REQUIRED", "SSL", "ConnectionAbortedError"]
            .iter()
            .any(|what| error.contains(what)),
        "{error}"
    );
    assert_eq!(handler.connections.load(Ordering::SeqCst), 1);
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// easynet clients -> Python servers.

#[tokio::test]
async fn easynet_client_to_python_tls_server() {
    let pki = TestPki::new();
    let server = python_tls_server(&pki, false).await;
    let tls = pki.client_tls().with_server_name("localhost").unwrap();
    let client = within(TcpClient::connect_tls(
        "127.0.0.1",
        server.addr.port(),
        JsonLines::<Value>::new(),
        &tls,
    ))
    .await
    .expect("TLS connect to Python");
    let info = client.tls().unwrap();
    assert_eq!(info.protocol_version(), ProtocolVersion::TLSv1_3);
    assert_eq!(info.peer_certificates(), [pki.server_der().clone()]);

    let packets = [
        json!({"hello": "python"}),
        json!([1, 2.5, null, true, "caf\u{e9}"]),
        json!(u64::MAX),
        json!("x".repeat(60_000)),
    ];
    for packet in &packets {
        client.send_packet(packet).await.unwrap();
        let answer = within(client.recv_packet()).await.unwrap();
        assert_eq!(
            answer,
            json!({"echo": packet, "tls_version": "TLSv1.3", "peer_cn": null})
        );
    }
    // Pipelined.
    for packet in &packets {
        client.send_packet(packet).await.unwrap();
    }
    for packet in &packets {
        assert_eq!(within(client.recv_packet()).await.unwrap()["echo"], *packet);
    }
    client.close().await;

    // The echo_client tool, too.
    let output = run_process(
        {
            let mut command = Command::new(example_binary("echo_client"));
            command
                .args(["--port", &server.addr.port().to_string(), "--tls", "--ca"])
                .arg(&pki.ca)
                .args(["--", "{\"via\": \"echo_client\"}"]);
            command
        },
        "echo_client --tls -> tls_server.py",
    )
    .await;
    output.assert_success();
    assert_eq!(
        output.stdout,
        "{\"echo\":{\"via\":\"echo_client\"},\"peer_cn\":null,\"tls_version\":\"TLSv1.3\"}\n"
    );

    let stderr = server.stop().await;
    assert!(
        stderr.trim().is_empty(),
        "the Python server logged:\n{stderr}"
    );
}

#[tokio::test]
async fn easynet_mutual_tls_client_to_python_tls_server() {
    let pki = TestPki::new();
    let server = python_tls_server(&pki, true).await;
    let port = server.addr.port();

    let client = within(TcpClient::connect_tls(
        "127.0.0.1",
        port,
        JsonLines::<Value>::new(),
        &pki.mtls_client_tls(),
    ))
    .await
    .expect("mutual TLS connect to Python");
    client.send_packet(&json!("who am I")).await.unwrap();
    assert_eq!(
        within(client.recv_packet()).await.unwrap(),
        json!({"echo": "who am I", "tls_version": "TLSv1.3", "peer_cn": "easynet test client"})
    );
    client.close().await;

    // Without a client certificate: refused (with TLS 1.3, at the first read at the
    // latest).
    let refused = match within(TcpClient::connect_tls(
        "127.0.0.1",
        port,
        JsonLines::<Value>::new(),
        &pki.client_tls(),
    ))
    .await
    {
        Err(e) => e.to_string(),
        Ok(client) => {
            let _ = client.send_packet(&json!("let me in")).await;
            match within(client.recv_packet()).await {
                Ok(answer) => panic!("answered without a client certificate: {answer}"),
                Err(e) => e.to_string(),
            }
        }
    };
    assert!(!refused.is_empty());
    let stderr = server.stop().await;
    // Python refused it for the right reason (and logged it as easynetwork does, a warning
    // for a handshake error).
    assert!(
        stderr.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE"),
        "{refused}\n{stderr}"
    );
}
