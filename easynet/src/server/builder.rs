//! [`TcpServerBuilder`]: where a server's addresses and settings are given.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::options::ServerOptions;
use super::{Inner, TcpServer};
use crate::connection::Shutdown;
use crate::handler::StreamRequestHandler;
use crate::protocol::StreamProtocol;
use crate::service::ServerHandle;
use crate::transport;

/// Builds a [`TcpServer`]: hosts, port and settings, each set by one method (the
/// defaults are easynetwork's where it has the setting, and each method says why
/// otherwise). New settings come as new methods.
pub struct TcpServerBuilder<H, P> {
    handler: H,
    protocol: P,
    hosts: Vec<String>,
    addrs: Vec<SocketAddr>,
    port: u16,
    options: ServerOptions,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl<H, P> TcpServerBuilder<H, P>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
{
    pub(crate) fn new(protocol: P, handler: H) -> Self {
        TcpServerBuilder {
            handler,
            protocol,
            hosts: Vec::new(),
            addrs: Vec::new(),
            port: 0,
            options: ServerOptions::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Adds a host to listen on: a name (`"localhost"`, every address it resolves to is
    /// bound) or an IP address. With no host, the server listens on every interface
    /// (`0.0.0.0` and `::`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Adds an exact socket address to listen on (its port is used as is).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addrs.push(addr);
        self
    }

    /// The port for every [`host`](Self::host). `0` (the default) picks a free port; when
    /// several addresses are bound, each gets its own, as with easynetwork.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The `listen()` backlog. Default: 100 (easynetwork's).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.options.backlog = backlog;
        self
    }

    /// The most bytes read from a client at once. Default: 16 KiB (easynetwork's).
    pub fn max_recv_size(mut self, size: usize) -> Self {
        self.options.max_recv_size = size;
        self
    }

    /// Log connections at `INFO` (the default, as easynetwork) or only at `DEBUG`.
    pub fn log_client_connection(mut self, enabled: bool) -> Self {
        self.options.log_client_connection = enabled;
        self
    }

    /// Set `SO_REUSEPORT` on the listening sockets. Default: off.
    pub fn reuse_port(mut self, enabled: bool) -> Self {
        self.options.reuse_port = enabled;
        self
    }

    /// At shutdown, how long a handler busy with a request may take to reach its next
    /// `recv!()` before it is dropped, measured from `shutdown()`. Default: 5 seconds
    /// (easynetwork's). Every connection has ended this long plus one second after
    /// `shutdown()`: see [`ServerHandle::shutdown`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.options.shutdown_timeout = timeout;
        self
    }

    /// The send queue's high-water mark, per connection: `send_packet` waits while this
    /// many bytes or more are queued, so a connection never queues more than the mark
    /// plus one packet, however slowly its peer reads. Default: 64 KiB, the default frame
    /// limit (one frame of any size the protocols accept by default fits under it, and
    /// the responses gathered for pipelined requests go out in one write).
    pub fn send_high_water(mut self, bytes: usize) -> Self {
        self.options.send_high_water = bytes.max(1);
        self
    }

    /// How long a peer may take nothing from a non-empty send queue before the
    /// connection ends (logged at `DEBUG`; `on_disconnection` runs). `None` waits
    /// forever. Default: 60 seconds, nginx's `send_timeout`: long enough for a peer on a
    /// slow or briefly stalled link, short enough that a peer that never reads does not
    /// hold its connection (and the handler waiting to send to it) for good.
    pub fn write_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.options.write_timeout = timeout.into();
        self
    }

    /// The most connections served at once (TLS handshakes included). At the limit the
    /// server stops accepting (newcomers wait in the kernel's backlog) and accepts again
    /// as soon as a connection ends; reaching the limit is logged once per episode, at
    /// `WARN`. Default: no limit, as easynetwork (the process's file-descriptor limit is
    /// then the bound: accepting pauses when it is reached).
    pub fn max_connections(mut self, limit: impl Into<Option<usize>>) -> Self {
        self.options.max_connections = limit.into().map(|n| n.max(1));
        self
    }

    /// How long a request may take to arrive once its first bytes have (a "slowloris"
    /// peer sends one byte now and then and never finishes). Past it the connection is
    /// closed (logged at `DEBUG`; `on_disconnection` runs). It applies while the handler
    /// waits in a `recv!()` without a timeout: `recv!(timeout = ..)` takes precedence for
    /// the request it waits for. `None`: no limit. Default: 30 seconds, long enough for a
    /// whole frame of the default 64 KiB limit at 2 KiB/s (nginx gives 60 s between two
    /// reads of a request).
    pub fn frame_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.options.frame_timeout = timeout.into();
        self
    }

    /// How long a connection may stay idle: no request in progress and nothing to
    /// write. Past it the connection is closed (logged at `DEBUG`; `on_disconnection`
    /// runs). As the frame timeout, it applies while the handler waits in a `recv!()`
    /// without a timeout of its own. `None` (the default, as easynetwork): idle
    /// connections stay, since a chat member or a push subscriber is idle by design; set
    /// it for request/response services that should shed idle peers.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.options.idle_timeout = timeout.into();
        self
    }

    /// Serves TLS with this rustls config (the how-to's `ssl=ssl_context`): every
    /// accepted connection does a TLS handshake, in its own task and bounded by
    /// [`tls_handshake_timeout`](Self::tls_handshake_timeout), before any hook runs. A
    /// client whose handshake fails or times out is closed and logged at `DEBUG`; other
    /// clients are not disturbed.
    ///
    /// [`tls::server_config_from_pem`](crate::tls::server_config_from_pem) makes a config
    /// from PEM files; build your own with
    /// [`tls::crypto_provider`](crate::tls::crypto_provider).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// How long a client's TLS handshake may take. Default: 60 s (easynetwork's
    /// `ssl_handshake_timeout`). Unused without TLS.
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.options.tls_handshake_timeout = timeout;
        self
    }

    /// How long closing a TLS connection may take to send `close_notify`. Default: 30 s
    /// (easynetwork's `ssl_shutdown_timeout`). Unused without TLS.
    pub fn tls_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.options.tls_shutdown_timeout = timeout;
        self
    }

    /// Resolves the hosts and binds every listening socket.
    pub async fn bind(self) -> io::Result<TcpServer<H, P>> {
        let mut addrs = self.addrs;
        for host in &self.hosts {
            let resolved = tokio::net::lookup_host((host.as_str(), self.port))
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {host:?}: {e}")))?;
            for addr in resolved {
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
        }
        let (backlog, reuse_port) = (self.options.backlog, self.options.reuse_port);
        let mut listeners = Vec::new();
        if addrs.is_empty() {
            // Every interface: IPv4 and, where the system has it, IPv6.
            let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port);
            listeners.extend(transport::bind_listeners(&[any4], backlog, reuse_port)?);
            let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port);
            match transport::bind_listeners(&[any6], backlog, reuse_port) {
                Ok(l) => listeners.extend(l),
                Err(e) => tracing::debug!(error = %e, "no IPv6 listener"),
            }
        } else {
            listeners = transport::bind_listeners(&addrs, backlog, reuse_port)?;
        }
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let handle = ServerHandle::new(addrs, Shutdown::new(self.options.shutdown_timeout));
        Ok(TcpServer {
            inner: Arc::new(Inner::new(
                self.handler,
                self.protocol,
                self.options,
                listeners,
                handle,
                #[cfg(feature = "tls")]
                self.tls.map(crate::transport::tls::ServerTls::new),
            )),
        })
    }
}
