//! [`ServerBuilder`]: where a server's settings are given, one method each; the
//! transport's own settings (hosts and port, a socket path) are in `tcp.rs` and
//! `unix.rs`.

use std::time::Duration;

use super::kind::Transport;
use super::options::ServerOptions;
use crate::handler::StreamRequestHandler;
use crate::protocol::StreamProtocol;

/// Builds a [`Server`](super::Server): its transport's addresses and its settings, each
/// set by one method (the defaults are easynetwork's where it has the setting, and each
/// method says why otherwise). New settings come as new methods.
///
/// [`TcpServerBuilder`](super::TcpServerBuilder) adds hosts, port and TLS;
/// [`UnixServerBuilder`](super::UnixServerBuilder) the socket file's options.
pub struct ServerBuilder<H, P, T: Transport> {
    pub(crate) handler: H,
    pub(crate) protocol: P,
    pub(crate) options: ServerOptions,
    pub(crate) config: T::Config,
}

impl<H, P, T> ServerBuilder<H, P, T>
where
    H: StreamRequestHandler,
    P: StreamProtocol<H::Response, H::Request>,
    T: Transport,
{
    pub(crate) fn new(protocol: P, handler: H, config: T::Config) -> Self {
        ServerBuilder {
            handler,
            protocol,
            options: ServerOptions::default(),
            config,
        }
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

    /// The server's name: the `server` label of every metric it records (cargo feature
    /// `metrics`, see the README's "Metrics" section), so that several servers of one
    /// process are told apart. Default: `easynet`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = name.into();
        self
    }

    /// Log connections at `INFO` (the default, as easynetwork) or only at `DEBUG`.
    pub fn log_client_connection(mut self, enabled: bool) -> Self {
        self.options.log_client_connection = enabled;
        self
    }

    /// At shutdown, how long a handler busy with a request may take to reach its next
    /// `recv!()` before it is dropped, measured from `shutdown()`. Default: 5 seconds
    /// (easynetwork's). Every connection has ended this long plus one second after
    /// `shutdown()`: see [`ServerHandle::shutdown`](crate::ServerHandle::shutdown).
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

    /// Takes the PROXY protocol (HAProxy's v1 text and v2 binary headers) from these
    /// sources: a load balancer in front of the server opens each connection with a
    /// header saying who the client is. Default: off.
    ///
    /// - A connection from a trusted source must begin with a header, read in the
    ///   client's own task before TLS and any hook, within
    ///   [`proxy_header_timeout`](Self::proxy_header_timeout). A malformed, over-long or
    ///   missing header (the connection ends first, or the timeout passes) closes the
    ///   connection, logged at `DEBUG`: nothing it sent reaches the handler.
    /// - A connection from any other source is plain: its first bytes are data, even if
    ///   they look like a header. The server never guesses.
    /// - With the header, [`StreamClient::remote_address`](crate::StreamClient::remote_address)
    ///   is the client's address the header gives,
    ///   [`proxy_address`](crate::StreamClient::proxy_address) the proxy's, and
    ///   [`proxy`](crate::StreamClient::proxy) the rest (v2's ALPN, authority and unique
    ///   id TLVs). The bytes after the header, sent in the same segment or not, are the
    ///   first request's.
    /// - A v2 `LOCAL` header (a health check: HAProxy's `check` with `send-proxy-v2`)
    ///   is logged at `DEBUG` and the connection closed: it reaches no hook.
    /// - "accepted new connection" is logged once the header is read, with the client's
    ///   real address.
    ///
    /// A stream handed to [`Server::serve_stream`](super::Server::serve_stream) is served
    /// as given: no header is read from it.
    ///
    /// On a [`UnixServer`](crate::UnixServer), a peer has no IP address: only
    /// [`TrustedSources::all`](crate::TrustedSources::all) takes headers there (the
    /// socket file's permissions then decide who may connect).
    pub fn proxy_protocol(mut self, trusted: crate::transport::TrustedSources) -> Self {
        self.options.proxy_protocol = (!trusted.is_empty()).then_some(trusted);
        self
    }

    /// How long a trusted source may take to send its whole PROXY protocol header,
    /// from the accept. Default: 5 seconds (a proxy sends the header as soon as it has
    /// connected; this bounds one that is stuck). Unused without
    /// [`proxy_protocol`](Self::proxy_protocol). The shutdown abandons a header being
    /// read at once.
    pub fn proxy_header_timeout(mut self, timeout: Duration) -> Self {
        self.options.proxy_header_timeout = timeout;
        self
    }
}
