//! "SSL/TLS Connection" of the how-to: the "Run Server In Background" scenario over TLS.
//! The server loads its certificate chain and key from PEM files
//! (`ssl_context.load_cert_chain(cert, key)` in Python), the clients check the server's
//! certificate, and the handler reports the negotiated TLS version.
//!
//! ```text
//! cargo run -p easynet-examples --example background_server_ssl [-- --tls-cert FILE --tls-key FILE --ca FILE]
//! ```
//!
//! Without arguments it makes a throwaway CA and a certificate for `localhost` (with rcgen,
//! in a temporary directory it removes afterwards), so that it runs on its own. It prints
//! something like:
//!
//! ```text
//! Server loop running in task: Task-3
//! From server: {"request":{"message":"Hello world 1"},"task":"Task-4","tls":"TLSv1_3"}
//! From server: {"request":{"message":"Hello world 2"},"task":"Task-5","tls":"TLSv1_3"}
//! From server: {"request":{"message":"Hello world 3"},"task":"Task-6","tls":"TLSv1_3"}
//! ```

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Parser;
use easynet::tls::ClientTls;
use easynet::{
    BoxError, HandlerError, JsonLines, StreamClient, StreamRequestHandler, TcpClient, TcpServer,
    handler, recv,
};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// The how-to's background server, over TLS.
#[derive(Parser)]
struct Args {
    /// The server's certificate chain (PEM). Default: a throwaway one for `localhost`.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "ca"])]
    tls_cert: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The CA the clients trust (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    ca: Option<PathBuf>,
}

struct MyRequestHandler;

impl StreamRequestHandler for MyRequestHandler {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;

        let current_task = format!("Task-{}", tokio::task::id());
        let tls = client
            .tls()
            .map(|tls| format!("{:?}", tls.protocol_version()));

        client
            .send_packet(&json!({"task": current_task, "request": request, "tls": tls}))
            .await?;
        Ok(())
    }
}

async fn client(port: u16, tls: &ClientTls, message: &str) -> Result<(), BoxError> {
    let client = TcpClient::connect_tls("127.0.0.1", port, JsonLines::<Value>::new(), tls).await?;
    client.send_packet(&json!({"message": message})).await?;
    let response = client.recv_packet().await?;
    println!("From server: {response}");
    client.close().await;
    Ok(())
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes a CA and a certificate for `localhost` signed by it, as PEM files in `dir`:
/// `ca.pem`, `ssl_cert.pem`, `ssl_key.pem`.
fn throwaway_certificates(dir: &Path) -> Result<(), BoxError> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &ca)?;
    std::fs::write(dir.join("ca.pem"), ca.as_ref().pem())?;
    std::fs::write(dir.join("ssl_cert.pem"), cert.pem())?;
    std::fs::write(dir.join("ssl_key.pem"), key.serialize_pem())?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Logs go to stderr (warnings and errors; RUST_LOG chooses otherwise).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    let _temp;
    let (cert, key, ca) = match (args.tls_cert, args.tls_key, args.ca) {
        (Some(cert), Some(key), Some(ca)) => (cert, key, ca),
        _ => {
            let dir = std::env::temp_dir().join(format!(
                "easynet-background-server-ssl-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir)?;
            _temp = TempDir(dir.clone());
            throwaway_certificates(&dir)?;
            (
                dir.join("ssl_cert.pem"),
                dir.join("ssl_key.pem"),
                dir.join("ca.pem"),
            )
        }
    };

    // The how-to's ssl.create_default_context(Purpose.CLIENT_AUTH) + load_cert_chain().
    let ssl_context = easynet::tls::server_config_from_pem(&cert, &key)?;
    let server = TcpServer::builder(JsonLines::new(), MyRequestHandler)
        .host("127.0.0.1")
        .tls(ssl_context)
        .bind()
        .await?;
    let port = server.local_addrs()[0].port();

    let server_task = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    server.wait_serving().await;

    println!("Server loop running in task: Task-{}", server_task.id());

    // The clients trust the CA that issued the server's certificate, and check that it is
    // valid for "localhost" (Python's server_hostname="localhost"): they connect to
    // 127.0.0.1, an address the certificate does not name.
    let tls = ClientTls::builder()
        .ca_file(&ca)?
        .server_name("localhost")
        .build()?;
    client(port, &tls, "Hello world 1").await?;
    client(port, &tls, "Hello world 2").await?;
    client(port, &tls, "Hello world 3").await?;

    server.shutdown().await;
    server_task.await??;
    Ok(())
}
