//! [`ServerOptions`]: the settings of a server, with easynetwork's defaults where it has
//! the setting.

use std::time::Duration;

use crate::connection::{ReadLimits, SendOptions};
use crate::metrics::Metrics;

/// The settings of a [`TcpServer`](crate::TcpServer), read back with
/// [`TcpServer::options`](crate::TcpServer::options). They are set on the builder
/// ([`TcpServerBuilder`](crate::TcpServerBuilder)), whose docs give each default and the
/// reason for it.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub(crate) backlog: u32,
    pub(crate) max_recv_size: usize,
    pub(crate) log_client_connection: bool,
    pub(crate) reuse_port: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) tls_handshake_timeout: Duration,
    pub(crate) tls_shutdown_timeout: Duration,
    pub(crate) send_high_water: usize,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) frame_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) proxy_protocol: Option<crate::transport::TrustedSources>,
    pub(crate) proxy_header_timeout: Duration,
    pub(crate) name: String,
    /// Resolved from `name` when the server is built.
    pub(crate) metrics: Metrics,
}

/// easynetwork's `listen()` backlog.
pub(crate) const DEFAULT_BACKLOG: u32 = 100;
/// easynetwork's `max_recv_size`.
pub(crate) const DEFAULT_MAX_RECV_SIZE: usize = 16 * 1024;
/// easynetwork's shutdown grace for busy handlers.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// The send queue's high-water mark: as large as the default frame limit, so that one
/// frame of any size the protocols accept by default fits below it, and a burst of
/// gathered responses goes out in one write.
pub(crate) const DEFAULT_SEND_HIGH_WATER: usize = 64 * 1024;
/// nginx's `send_timeout`: how long a peer may take nothing before it is dropped.
pub(crate) const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one request may take to arrive once its first byte has: nginx's
/// `client_header_timeout` and `client_body_timeout` are 60 s each between reads; a
/// whole frame of the default 64 KiB limit in 30 s still allows a peer at 2 KiB/s.
pub(crate) const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a trusted proxy may take to send its PROXY protocol header: a proxy sends it
/// as soon as it connects, so a few seconds cover a loaded proxy and bound a stuck one.
pub(crate) const DEFAULT_PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            backlog: DEFAULT_BACKLOG,
            max_recv_size: DEFAULT_MAX_RECV_SIZE,
            log_client_connection: true,
            reuse_port: false,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            tls_handshake_timeout: Duration::from_secs(60),
            tls_shutdown_timeout: Duration::from_secs(30),
            send_high_water: DEFAULT_SEND_HIGH_WATER,
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            max_connections: None,
            frame_timeout: Some(DEFAULT_FRAME_TIMEOUT),
            idle_timeout: None,
            proxy_protocol: None,
            proxy_header_timeout: DEFAULT_PROXY_HEADER_TIMEOUT,
            name: "easynet".to_owned(),
            metrics: Metrics::default(),
        }
    }
}

impl ServerOptions {
    /// The `listen()` backlog.
    pub fn backlog(&self) -> u32 {
        self.backlog
    }

    /// The most bytes read from a client at once.
    pub fn max_recv_size(&self) -> usize {
        self.max_recv_size
    }

    /// Whether connections are logged at `INFO` (else at `DEBUG`).
    pub fn log_client_connection(&self) -> bool {
        self.log_client_connection
    }

    /// Whether the listening sockets have `SO_REUSEPORT`.
    pub fn reuse_port(&self) -> bool {
        self.reuse_port
    }

    /// At shutdown, how long a busy handler may take to reach its next `recv!()`.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// With TLS, how long a client's handshake may take.
    pub fn tls_handshake_timeout(&self) -> Duration {
        self.tls_handshake_timeout
    }

    /// With TLS, how long sending `close_notify` may take.
    pub fn tls_shutdown_timeout(&self) -> Duration {
        self.tls_shutdown_timeout
    }

    /// The send queue's high-water mark, in bytes.
    pub fn send_high_water(&self) -> usize {
        self.send_high_water
    }

    /// How long a peer may take nothing from a non-empty send queue before the
    /// connection ends; `None`: forever.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// The most connections served at once; `None`: no limit.
    pub fn max_connections(&self) -> Option<usize> {
        self.max_connections
    }

    /// How long a request may take to arrive once its first bytes have; `None`: forever.
    pub fn frame_timeout(&self) -> Option<Duration> {
        self.frame_timeout
    }

    /// How long a connection may stay idle (no request in progress, nothing to write);
    /// `None`: forever.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The sources a PROXY protocol header is taken from; `None`: the PROXY protocol is
    /// off (every connection is plain).
    pub fn proxy_protocol(&self) -> Option<&crate::transport::TrustedSources> {
        self.proxy_protocol.as_ref()
    }

    /// How long a trusted source may take to send its PROXY protocol header.
    pub fn proxy_header_timeout(&self) -> Duration {
        self.proxy_header_timeout
    }

    pub(crate) fn read_limits(&self) -> ReadLimits {
        ReadLimits {
            frame_timeout: self.frame_timeout,
            idle_timeout: self.idle_timeout,
        }
    }

    /// The server's name, the `server` label of its metrics.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn send_options(&self) -> SendOptions {
        SendOptions {
            high_water: self.send_high_water,
            write_timeout: self.write_timeout,
            metrics: self.metrics.clone(),
        }
    }
}
