//! # easynet
//!
//! Typed-packet TCP servers and clients on tokio, in the model of the Python library
//! [easynetwork](https://github.com/francis-clairicia/EasyNetwork): peers exchange
//! *packets* (any serde type), not bytes, and a request handler is straight-line async
//! code that waits for the next request with `recv!()`.
//!
//! The data path, one module per layer (`easynet/ARCHITECTURE.md` in the repository
//! has the design):
//!
//! ```text
//! bytes on the socket
//!   -> transport   (TCP sockets: listening, accepting, TCP_NODELAY; TLS: feature `tls`)
//!   -> protocol    (tokio-util codecs: bytes <-> packets, with a frame size limit)
//!   -> connection  (one client: the StreamClient handle and its bounded send queue, the
//!                   reader, the generator recv!() suspends, the driver)
//!   -> handler     (your #[handler] code: let request = recv!()?; ...)
//!   -> client.send_packet(&response) -> protocol encoder -> send queue -> transport
//! ```
//!
//! [`StreamClient`] is a handle any task may keep (`Clone + Send + Sync`): keep clients
//! in a registry and push to them from anywhere, or [`broadcast`] one packet to many.
//!
//! ## A server and a client
//!
//! ```
//! use easynet::{handler, recv, HandlerError, JsonLines, StreamClient, StreamRequestHandler,
//!               TcpClient, TcpServer};
//! use serde_json::{json, Value};
//!
//! struct Greeter;
//!
//! impl StreamRequestHandler for Greeter {
//!     type Request = Value;
//!     type Response = Value;
//!
//!     #[handler]
//!     async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
//!         // Like the how-to's `request = yield`: wait for the next request.
//!         let request = recv!()?;
//!         client.send_packet(&json!({"hello": request["name"]})).await?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TcpServer::bind("127.0.0.1:0", JsonLines::new(), Greeter).await?;
//! let addr = server.local_addrs()[0];
//! let serving = tokio::spawn({
//!     let server = server.clone();
//!     async move { server.serve_forever().await }
//! });
//! server.wait_serving().await;
//!
//! let client = TcpClient::connect(addr, JsonLines::<Value>::new()).await?;
//! client.send_packet(&json!({"name": "world"})).await?;
//! assert_eq!(client.recv_packet().await?, json!({"hello": "world"}));
//!
//! client.close().await;
//! server.shutdown().await;
//! serving.await??;
//! # Ok(()) }
//! ```
//!
//! ## `recv!()`
//!
//! Inside a [`#[handler]`](handler) fn, `recv!()` suspends the handler until the server has
//! decoded the next request and evaluates to `Result<Request, RecvError>`:
//! - `Err(RecvError::Parse(..))`: the packet failed to decode (bad data, or over the
//!   protocol's frame limit); the connection stays usable.
//! - `recv!(timeout = 30s)` (or `500ms`, `1.5s`, or any expression giving a `Duration` or
//!   an `Option<Duration>`) bounds the wait: `Err(RecvError::Timeout)` when it expires,
//!   and the handler goes on.
//! - A disconnect is never an error: the generator is dropped (its guards run).
//!
//! Use `recv!()` any number of times, in loops, matches and other macros' arguments
//! (`assert!(recv!().is_ok())`) too, but only in the body of the `#[handler]` fn itself: a
//! handler waits for one request at a time. Each of these is a compile error that says
//! so, where the `recv!()` is:
//! - `recv!()` inside a closure, an async block or a nested fn, also in another macro's
//!   arguments (`println!("{}", it.map(|_| recv!()).count())`);
//! - `recv!()` anywhere inside a macro that polls futures concurrently: `join!`,
//!   `try_join!` and `select!` of tokio and futures, `select_biased!`, `stream_select!`
//!   (any macro whose name is one of those, `join_all!`, `try_join_all!`, `select_all!` or
//!   `race!`), even in a `select!` branch's body. Call `recv!()` before or after it and
//!   pass the request in;
//! - `recv!()` anywhere outside a `#[handler]` fn.
//!
//! A `recv!()` that another macro's expansion puts inside a closure or an async block
//! (`macro_rules! later { ($e:expr) => { async move { $e } } }`, then `later!(recv!())`),
//! where `#[handler]` cannot see it, is rejected by rustc itself: "use of unreachable label
//! `'__easynet_recv_must_be_directly_in_the_handler_body`".
//!
//! Import it like any macro (`use easynet::recv;`) or write `easynet::recv!()`.

#![cfg_attr(docsrs, feature(doc_cfg))]

// Lets `#[handler]` expansions (which name `::easynet::__private`) work in this crate's
// own unit tests too.
#[cfg(test)]
extern crate self as easynet;

pub mod blocking;
mod client;
mod connection;
mod error;
mod handler;
mod metrics;
mod protocol;
mod serializers;
mod server;
mod service;
mod transport;

#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use client::UnixClient;
pub use client::{Client, ClientError, TcpClient};
pub use connection::{
    Broadcast, ClientId, Encoded, Handler, RecvError, RecvSlot, StreamClient, broadcast,
};
pub use error::{BoxError, HandlerError, ParseError, ParseErrorKind, ProtocolError, SendError};
pub use handler::{
    ClientLocal, ContextError, IntoHandlerResult, IntoTimeout, StreamRequestHandler,
};
#[cfg(feature = "bincode")]
#[cfg_attr(docsrs, doc(cfg(feature = "bincode")))]
pub use protocol::Bincode;
#[cfg(feature = "cbor")]
#[cfg_attr(docsrs, doc(cfg(feature = "cbor")))]
pub use protocol::Cbor;
#[cfg(feature = "json")]
pub use protocol::JsonLines;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use protocol::JsonStream;
#[cfg(feature = "msgpack")]
#[cfg_attr(docsrs, doc(cfg(feature = "msgpack")))]
pub use protocol::MsgPack;
pub use protocol::{BytesLines, DEFAULT_MAX_FRAME_SIZE, Newline, StreamProtocol, StringLines};
pub use protocol::{
    Converted, FixedSize, FixedSizePacket, LengthPrefixed, PacketConverter, Stapled,
};
#[cfg(feature = "cbor")]
#[cfg_attr(docsrs, doc(cfg(feature = "cbor")))]
pub use serializers::CborSerializer;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use serializers::JsonSerializer;
#[cfg(feature = "msgpack")]
#[cfg_attr(docsrs, doc(cfg(feature = "msgpack")))]
pub use serializers::MsgPackSerializer;
#[cfg(feature = "bz2")]
#[cfg_attr(docsrs, doc(cfg(feature = "bz2")))]
pub use serializers::wrapper::Bz2;
#[cfg(feature = "zlib")]
#[cfg_attr(docsrs, doc(cfg(feature = "zlib")))]
pub use serializers::wrapper::Zlib;
#[cfg(feature = "base64")]
#[cfg_attr(docsrs, doc(cfg(feature = "base64")))]
pub use serializers::wrapper::{Alphabet, Base64, InvalidKey};
#[cfg(feature = "bincode")]
#[cfg_attr(docsrs, doc(cfg(feature = "bincode")))]
pub use serializers::{BINCODE_ALLOCATION_LIMIT, BincodeSerializer};
pub use serializers::{PacketDeserializer, PacketSerializer, StringSerializer};
pub use server::{
    Server, ServerBuilder, ServerOptions, Tcp, TcpServer, TcpServerBuilder, Transport,
};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use server::{Unix, UnixServer, UnixServerBuilder};
pub use service::{ExitStack, ServerError, ServerHandle, ServerTask, ShutdownSignal, StopSignal};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use transport::tls;
pub use transport::{Address, PeerCredentials};
pub use transport::{ProxyInfo, TrustedSources, TrustedSourcesError};
// Datagrams (UDP, Unix datagram sockets): the protocol, the handler, servers, clients.
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use client::UnixDatagramClient;
pub use client::{DatagramEndpoint, UdpClient};
pub use connection::DatagramClient;
pub use handler::DatagramRequestHandler;
pub use protocol::{DatagramProtocol, DatagramSerializer, MAX_DATAGRAM_SIZE};
pub use server::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_ADDRESSES, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_QUEUE_SIZE,
    DatagramKind, DatagramServer, DatagramServerBuilder, Udp, UdpServer, UdpServerBuilder,
};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use server::{UnixDatagram, UnixDatagramServer, UnixDatagramServerBuilder};

/// Turns an `async fn` with `recv!()` points into a request handler's generator.
///
/// Apply it to `handle` (and optionally `on_connection`) in an `impl StreamRequestHandler`:
///
/// ```
/// use easynet::{handler, recv, HandlerError, RecvError, StreamClient, StreamRequestHandler};
///
/// struct Chat;
///
/// impl StreamRequestHandler for Chat {
///     type Request = String;
///     type Response = String;
///
///     #[handler]
///     async fn handle(&self, client: &StreamClient<String>) -> Result<(), HandlerError> {
///         // The client has 30 seconds to log in.
///         let user = match recv!(timeout = 30s) {
///             Ok(user) => user,
///             Err(RecvError::Timeout) => {
///                 client.send_packet(&"too slow".to_owned()).await?;
///                 client.close().await;
///                 return Ok(());
///             }
///             Err(e) => return Err(e.into()),
///         };
///         client.send_packet(&format!("welcome {user}")).await?;
///         // An inner loop: one generator serves the whole session.
///         while !client.is_closing() {
///             let line = recv!()?;
///             client.send_packet(&format!("{user}: {line}")).await?;
///         }
///         Ok(())
///     }
/// }
/// ```
///
/// The fn must be `async fn name(&self, client: &StreamClient<Self::Response>)`, returning
/// `()` or `Result<(), E>` with `E` convertible into [`HandlerError`]. Mistakes (`recv!()`
/// in a closure or an async block, a bad timeout, a wrong signature) are compile errors
/// that say what to write instead.
pub use easynet_macros::handler;

/// Waits for the next request: only valid inside a [`#[handler]`](handler) fn, which
/// rewrites it.
///
/// `recv!()` evaluates to `Result<Request, RecvError>`; `recv!(timeout = 30s)` bounds the
/// wait (units `s` and `ms`, decimals allowed, or an expression giving a `Duration` or an
/// `Option<Duration>`). It must be directly in the fn's body (loops, matches and other
/// macros' arguments included): in a closure, an async block, a nested fn or a macro that
/// polls futures concurrently (`tokio::join!`, `tokio::select!`, `futures::join!`...), and
/// anywhere outside a `#[handler]` fn, it is a compile error. See
/// [the crate docs](crate#recv).
#[macro_export]
macro_rules! recv {
    // The forms `#[handler]` rewrites `recv!(..)` into: `$recv` is the generator's handle,
    // `$label` the label `#[handler]` puts on the fn's body. The `break` is never taken;
    // it is there so that rustc rejects ("use of unreachable label") a suspension that
    // ended up inside a closure or an async block (one another macro's expansion put it
    // in), where it could not suspend the generator. Its own `loop` keeps rustc from also
    // reporting a `break` inside a closure or an async block.
    (@__easynet_suspend $recv:ident $label:lifetime, none) => {{
        #[allow(unreachable_code, clippy::diverging_sub_expression)]
        if false {
            loop {
                break $label::core::unreachable!();
            }
        }
        $crate::__private::Recv::recv(
            &$recv,
            $crate::__private::RecvParams::new(::core::option::Option::None),
        )
        .await
    }};
    (@__easynet_suspend $recv:ident $label:lifetime, nanos $nanos:literal) => {{
        #[allow(unreachable_code, clippy::diverging_sub_expression)]
        if false {
            loop {
                break $label::core::unreachable!();
            }
        }
        $crate::__private::Recv::recv(
            &$recv,
            $crate::__private::RecvParams::new(::core::option::Option::Some(
                ::core::time::Duration::from_nanos($nanos),
            )),
        )
        .await
    }};
    (@__easynet_suspend $recv:ident $label:lifetime, expr $timeout:expr) => {{
        #[allow(unreachable_code, clippy::diverging_sub_expression)]
        if false {
            loop {
                break $label::core::unreachable!();
            }
        }
        $crate::__private::Recv::recv(
            &$recv,
            $crate::__private::RecvParams::new($crate::__private::IntoTimeout::into_timeout(
                $timeout,
            )),
        )
        .await
    }};
    // Names `recv` in the stub of a `#[handler]` fn whose signature is wrong, so that the
    // user's `use easynet::recv` stays used.
    (@__easynet_unused) => {};
    // A misplaced or malformed `recv!(..)`, reported by `#[handler]` in place: rustc
    // checks nothing further in that expression, so the mistake gives one error.
    (@__easynet_error $message:literal) => {
        ::core::compile_error!($message)
    };
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`recv!()` can only be used in the body of a `#[handler]` async fn: \
             add `#[easynet::handler]` to the enclosing fn"
        )
    };
}

/// Items the code generated by `#[handler]` names. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::connection::{
        DatagramClient, Handler, Recv, RecvParams, RecvSlot, StreamClient,
    };
    pub use crate::error::HandlerError;
    pub use crate::handler::{IntoHandlerResult, IntoTimeout, StreamRequestHandler};
    pub use crate::transport::proxy::fuzz_header as fuzz_proxy_header;
}
