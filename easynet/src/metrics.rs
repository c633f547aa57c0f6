//! What a server counts, through the [`metrics`](https://docs.rs/metrics) crate's facade
//! (cargo feature `metrics`): install any recorder (Prometheus, StatsD, ...) and the
//! figures appear there. Without the feature every call here is an empty inline
//! function: nothing is counted and nothing is paid.
//!
//! Every metric carries the label `server`, the builder's
//! [`name`](crate::TcpServerBuilder::name) (default `easynet`):
//!
//! | metric | kind | what |
//! | --- | --- | --- |
//! | `easynet_connections_accepted_total` | counter | connections accepted (and given to `serve_stream`) |
//! | `easynet_connections_active` | gauge | connections open now |
//! | `easynet_connections_closed_total` | counter, label `reason` | connections that reached the handler and ended: `peer_closed`, `handler_ended`, `closed` (by `close()`), `write_timeout`, `slow_peer` (frame or idle timeout), `error`, `shutdown`, `drained` |
//! | `easynet_packets_received_total` | counter | requests decoded |
//! | `easynet_packets_sent_total` | counter | responses queued (broadcasts included) |
//! | `easynet_parse_errors_total` | counter | requests that failed to decode |
//! | `easynet_timeouts_total` | counter, label `kind` | `recv` (a `recv!(timeout)` expired), `frame`, `idle`, `write` |
//! | `easynet_send_buffer_waits_total` | counter | sends that waited for room in a full send queue |
//! | `easynet_bytes_received_total`, `easynet_bytes_sent_total` | counter | bytes read from and written to the transport (after TLS: the protocol's bytes) |
//! | `easynet_datagrams_dropped_total` | counter, label `reason` | datagrams a datagram server received and dropped unhandled: `queue_full` (the address's queue), `max_addresses` (the address table is full), `max_queued_bytes` (the server's byte budget), `unnamed` (an unnamed Unix socket, which cannot be answered) |
//!
//! A datagram server counts its datagrams in the packets counters (a datagram that
//! decodes as a request; one sent), in the parse errors (one that does not) and in the
//! bytes counters (the datagrams' bytes); it has no connections and no timeouts of
//! those kinds.
//!
//! The handles are resolved once per server (one registry lookup each, at bind) and
//! shared by its connections (one reference count): counting a packet is one atomic
//! add in the recorder.

/// Why a connection ended, as the `reason` label says it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CloseReason {
    PeerClosed,
    HandlerEnded,
    Closed,
    WriteTimeout,
    SlowPeer,
    Error,
    Shutdown,
    Drained,
}

/// Why a datagram server dropped a datagram, as the `reason` label says it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DatagramDrop {
    /// The address's queue is full (its handler is busy).
    QueueFull,
    /// The table of addresses with live state is full.
    MaxAddresses,
    /// The bytes queued on the server in all reached their bound.
    MaxQueuedBytes,
    /// From an unnamed Unix socket: it cannot be answered.
    Unnamed,
}

impl DatagramDrop {
    /// What the log line says.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            DatagramDrop::QueueFull => "the address's queue is full",
            DatagramDrop::MaxAddresses => "too many addresses with live state",
            DatagramDrop::MaxQueuedBytes => "too many bytes queued on the server",
            DatagramDrop::Unnamed => "from an unnamed Unix socket: it cannot be answered",
        }
    }
}

/// A timeout, as the `kind` label says it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Timeout {
    Recv,
    Frame,
    Idle,
    Write,
}

#[cfg(feature = "metrics")]
mod on {
    use std::sync::Arc;

    use metrics::{Counter, Gauge, counter, gauge};

    use super::{CloseReason, DatagramDrop, Timeout};

    const REASONS: [&str; 8] = [
        "peer_closed",
        "handler_ended",
        "closed",
        "write_timeout",
        "slow_peer",
        "error",
        "shutdown",
        "drained",
    ];
    const KINDS: [&str; 4] = ["recv", "frame", "idle", "write"];
    const DROPS: [&str; 4] = ["queue_full", "max_addresses", "max_queued_bytes", "unnamed"];

    struct Handles {
        accepted: Counter,
        active: Gauge,
        closed: [Counter; REASONS.len()],
        packets_in: Counter,
        packets_out: Counter,
        parse_errors: Counter,
        timeouts: [Counter; KINDS.len()],
        send_waits: Counter,
        bytes_in: Counter,
        bytes_out: Counter,
        dropped: [Counter; DROPS.len()],
    }

    /// One server's metric handles (none: not counted, as in a unit test).
    #[derive(Clone, Default)]
    pub(crate) struct Metrics(Option<Arc<Handles>>);

    impl Metrics {
        /// Resolves every handle of the server `name` in the installed recorder.
        pub(crate) fn new(name: &str) -> Metrics {
            let server = name.to_owned();
            let label = || [("server", server.clone())];
            Metrics(Some(Arc::new(Handles {
                accepted: counter!("easynet_connections_accepted_total", &label()),
                active: gauge!("easynet_connections_active", &label()),
                closed: REASONS.map(|reason| {
                    counter!("easynet_connections_closed_total", "server" => server.clone(), "reason" => reason)
                }),
                packets_in: counter!("easynet_packets_received_total", &label()),
                packets_out: counter!("easynet_packets_sent_total", &label()),
                parse_errors: counter!("easynet_parse_errors_total", &label()),
                timeouts: KINDS.map(|kind| {
                    counter!("easynet_timeouts_total", "server" => server.clone(), "kind" => kind)
                }),
                send_waits: counter!("easynet_send_buffer_waits_total", &label()),
                bytes_in: counter!("easynet_bytes_received_total", &label()),
                bytes_out: counter!("easynet_bytes_sent_total", &label()),
                dropped: DROPS.map(|reason| {
                    counter!("easynet_datagrams_dropped_total", "server" => server.clone(), "reason" => reason)
                }),
            })))
        }

        #[inline]
        fn with(&self, f: impl FnOnce(&Handles)) {
            if let Some(handles) = &self.0 {
                f(handles);
            }
        }

        pub(crate) fn accepted(&self) {
            self.with(|h| {
                h.accepted.increment(1);
                h.active.increment(1.0);
            });
        }

        pub(crate) fn connection_ended(&self) {
            self.with(|h| h.active.decrement(1.0));
        }

        pub(crate) fn closed(&self, why: CloseReason) {
            self.with(|h| h.closed[why as usize].increment(1));
        }

        #[inline]
        pub(crate) fn packet_received(&self) {
            self.with(|h| h.packets_in.increment(1));
        }

        #[inline]
        pub(crate) fn packet_sent(&self) {
            self.with(|h| h.packets_out.increment(1));
        }

        pub(crate) fn parse_error(&self) {
            self.with(|h| h.parse_errors.increment(1));
        }

        pub(crate) fn timeout(&self, kind: Timeout) {
            self.with(|h| h.timeouts[kind as usize].increment(1));
        }

        pub(crate) fn send_wait(&self) {
            self.with(|h| h.send_waits.increment(1));
        }

        #[inline]
        pub(crate) fn bytes_received(&self, n: usize) {
            self.with(|h| h.bytes_in.increment(n as u64));
        }

        #[inline]
        pub(crate) fn bytes_sent(&self, n: usize) {
            self.with(|h| h.bytes_out.increment(n as u64));
        }

        pub(crate) fn datagram_dropped(&self, why: DatagramDrop) {
            self.with(|h| h.dropped[why as usize].increment(1));
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use super::{CloseReason, DatagramDrop, Timeout};

    /// Without the `metrics` feature: nothing, and every call compiles to nothing (not
    /// `Copy` and not a unit struct, so that the code is written once for both cases).
    #[derive(Clone, Default)]
    pub(crate) struct Metrics(());

    impl Metrics {
        #[inline(always)]
        pub(crate) fn new(_name: &str) -> Metrics {
            Metrics(())
        }
        #[inline(always)]
        pub(crate) fn accepted(&self) {}
        #[inline(always)]
        pub(crate) fn connection_ended(&self) {}
        #[inline(always)]
        pub(crate) fn closed(&self, _why: CloseReason) {}
        #[inline(always)]
        pub(crate) fn packet_received(&self) {}
        #[inline(always)]
        pub(crate) fn packet_sent(&self) {}
        #[inline(always)]
        pub(crate) fn parse_error(&self) {}
        #[inline(always)]
        pub(crate) fn timeout(&self, _kind: Timeout) {}
        #[inline(always)]
        pub(crate) fn send_wait(&self) {}
        #[inline(always)]
        pub(crate) fn bytes_received(&self, _n: usize) {}
        #[inline(always)]
        pub(crate) fn bytes_sent(&self, _n: usize) {}
        #[inline(always)]
        pub(crate) fn datagram_dropped(&self, _why: DatagramDrop) {}
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::Metrics;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::Metrics;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}
