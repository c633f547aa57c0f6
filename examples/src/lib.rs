//! Shared helpers for the easynet examples: logging, running a server in the background,
//! and the command line of the `echo_server` and `echo_client` tools.
//!
//! Each example in `examples/` mirrors one section of easynetwork's "TCP Servers" how-to;
//! run one with `cargo run -p easynet-examples --example <name>`.

pub mod formats;

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use easynet::tls::{ClientTls, TlsError};
use easynet::{
    BoxError, ProtocolError, ServerError, StreamProtocol, StreamRequestHandler, TcpClient,
    TcpServer, TcpServerBuilder,
};
use serde_json::Value;
use tokio::task::JoinHandle;

/// How long the tools wait for a connection or an answer before giving up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Logs to stderr. `RUST_LOG` chooses what is shown; without it, `default_filter` does
/// (`"warn"` in the self-running examples, so that their output is the demonstration).
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// A server serving in a background task: what every self-running example starts
/// before its client scenario.
pub struct Background<H, P> {
    /// The server (a handle on it: `TcpServer` clones share one server).
    pub server: TcpServer<H, P>,
    /// The address clients connect to.
    pub addr: SocketAddr,
    task: JoinHandle<Result<(), ServerError>>,
}

/// Binds `handler` on 127.0.0.1 (a free port), runs `serve_forever` in a background task
/// and waits until the server accepts connections.
///
/// This is the how-to's "Run Server In Background", which the `background_server`
/// example spells out step by step.
pub async fn serve_in_background<H, P>(protocol: P, handler: H) -> io::Result<Background<H, P>>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    let server = TcpServer::builder(protocol, handler)
        .host("127.0.0.1")
        .bind()
        .await?;
    let addr = server.local_addrs()[0];
    let task = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    server.wait_serving().await;
    Ok(Background { server, addr, task })
}

impl<H, P> Background<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    /// Shuts the server down and returns what `serve_forever` returned.
    pub async fn shutdown(self) -> Result<(), BoxError> {
        self.server.shutdown().await;
        self.task.await??;
        Ok(())
    }
}

/// Installs the Ctrl-C handler at once and returns a future that completes at the next
/// Ctrl-C (on Unix, SIGINT or SIGTERM).
///
/// Unlike awaiting `tokio::signal::ctrl_c()`, which installs its handler only when first
/// polled, the handler is in place when this returns: a server can announce that it is
/// ready, and a Ctrl-C that comes right after is still a clean shutdown, not a kill.
pub fn interrupted() -> io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(windows)]
    {
        let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
        Ok(async move {
            ctrl_c.recv().await;
        })
    }
}

/// Where a tool listens or connects: `--port PORT [--host HOST]`.
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoint {
    /// The host name or IP address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The TCP port (for the server, 0 picks a free one).
    #[arg(long)]
    pub port: u16,
}

/// The TLS options of a server tool: `--tls-cert FILE --tls-key FILE` (PEM files: the
/// certificate chain, then its private key). Without them the server speaks plain TCP.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerTlsArgs {
    /// Serve TLS with this certificate chain (PEM; needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServerTlsArgs {
    /// Turns TLS on in `builder` when `--tls-cert` and `--tls-key` were given.
    ///
    /// # Errors
    /// A file cannot be read or parsed, or the key does not match the certificate; the
    /// message says which.
    pub fn apply<H, P>(
        &self,
        builder: TcpServerBuilder<H, P>,
    ) -> Result<TcpServerBuilder<H, P>, BoxError>
    where
        H: StreamRequestHandler,
        P: StreamProtocol<H::Response, H::Request>,
    {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let config = easynet::tls::server_config_from_pem(cert, key)
                    .map_err(|e| format!("cannot load --tls-cert/--tls-key: {e}"))?;
                Ok(builder.tls(config))
            }
            _ => Ok(builder),
        }
    }
}

/// The TLS options of a client tool: `--tls [--ca FILE] [--insecure]`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientTlsArgs {
    /// Connect with TLS; the server's certificate must chain to the built-in roots
    /// (Mozilla's), or to --ca, and be valid for --host.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: trust this CA certificate (PEM) instead of the built-in roots.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca: Option<PathBuf>,
    /// With --tls: DANGEROUS, accept any server certificate (still encrypted, not
    /// authenticated). For tests only.
    #[arg(long, requires = "tls", conflicts_with = "ca")]
    pub insecure: bool,
}

impl ClientTlsArgs {
    /// The client TLS settings these options ask for; `None` without `--tls`.
    pub fn settings(&self) -> Result<Option<ClientTls>, TlsError> {
        if !self.tls {
            return Ok(None);
        }
        let mut builder = ClientTls::builder().dangerous_accept_invalid_certs(self.insecure);
        if let Some(ca) = &self.ca {
            builder = builder.ca_file(ca)?;
        }
        builder.build().map(Some)
    }

    /// Connects to `host:port`, with TLS if `--tls` was given; connecting (and the TLS
    /// handshake) gives up after `timeout`.
    pub async fn connect<P>(
        &self,
        host: &str,
        port: u16,
        protocol: P,
        timeout: Duration,
    ) -> Result<TcpClient<P>, BoxError>
    where
        P: tokio_util::codec::Decoder<Error = ProtocolError> + Clone,
    {
        let Some(tls) = self.settings()? else {
            return Ok(TcpClient::connect_timeout((host, port), protocol, timeout).await?);
        };
        match tokio::time::timeout(timeout, TcpClient::connect_tls(host, port, protocol, &tls))
            .await
        {
            Ok(client) => Ok(client?),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out").into()),
        }
    }
}

/// A command-line argument as a JSON packet: the argument parsed as JSON, or, if it is
/// not valid JSON, the argument as a JSON string (`hello` gives `"hello"`).
pub fn json_arg(arg: &str) -> Value {
    serde_json::from_str(arg).unwrap_or_else(|_| Value::String(arg.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::json_arg;
    use serde_json::json;

    #[test]
    fn json_args_fall_back_to_strings() {
        assert_eq!(json_arg(r#"{"a": 1}"#), json!({"a": 1}));
        assert_eq!(json_arg("[1,2]"), json!([1, 2]));
        assert_eq!(json_arg("-3"), json!(-3));
        assert_eq!(json_arg("hello"), json!("hello"));
        assert_eq!(json_arg("{oops"), json!("{oops"));
        assert_eq!(json_arg(""), json!(""));
    }
}
