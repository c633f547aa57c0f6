//! Shared helpers of the `echo_server` and `echo_client` tools: logging, their command
//! line, and the wire formats of `--format`.
//!
//! Each other example in `examples/` mirrors one section of easynetwork's "TCP Servers"
//! how-to and uses only `easynet` and ordinary crates (tokio, serde, tracing...), never
//! this crate, so that it compiles as is when copied into a crate of your own; run one
//! with `cargo run -p easynet-examples --example <name>`.

pub mod balancer;
pub mod formats;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use easynet::tls::{ClientTls, TlsError};
use easynet::{
    BoxError, ProtocolError, ServerBuilder, StreamProtocol, StreamRequestHandler, TcpClient,
    TcpServerBuilder, Transport,
};
use serde_json::Value;

/// How long the tools wait for a connection or an answer before giving up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Logs to stderr. `RUST_LOG` chooses what is shown; without it, `default_filter` does.
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
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

/// Where a stream tool listens or connects: `--port PORT [--host HOST]`, or
/// `--unix PATH` (a Unix socket) instead.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamEndpoint {
    /// The host name or IP address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The TCP port (for the server, 0 picks a free one).
    #[arg(long, required_unless_present = "unix")]
    pub port: Option<u16>,
    /// A Unix socket's path, instead of --host/--port.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port"])]
    pub unix: Option<PathBuf>,
}

/// The limits of a server tool: `--max-connections N`, `--frame-timeout SECS`,
/// `--idle-timeout SECS` (decimals allowed: `0.5`). Without them, the library's defaults.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitArgs {
    /// Serve at most N connections at once; more wait in the backlog.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Close a connection whose request has not fully arrived SECS after its first byte
    /// (default 30).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub frame_timeout: Option<Duration>,
    /// Close a connection idle (no request in progress, nothing to send) for SECS
    /// (default: never).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub idle_timeout: Option<Duration>,
}

impl LimitArgs {
    /// Sets the limits that were given on `builder`.
    pub fn apply<H, P, T>(&self, mut builder: ServerBuilder<H, P, T>) -> ServerBuilder<H, P, T>
    where
        H: StreamRequestHandler,
        P: StreamProtocol<H::Response, H::Request>,
        T: Transport,
    {
        if let Some(n) = self.max_connections {
            builder = builder.max_connections(n);
        }
        if let Some(timeout) = self.frame_timeout {
            builder = builder.frame_timeout(timeout);
        }
        if let Some(timeout) = self.idle_timeout {
            builder = builder.idle_timeout(timeout);
        }
        builder
    }
}

/// A duration in seconds, decimals allowed (`30`, `0.5`).
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {text:?}"))?;
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
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
    fn seconds_take_decimals() {
        use std::time::Duration;
        assert_eq!(super::parse_seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(super::parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(super::parse_seconds("-1").is_err());
        assert!(super::parse_seconds("soon").is_err());
    }

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
