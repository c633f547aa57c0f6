//! The connection layer: everything one connected client is made of, between the
//! transport below and the handler above.
//!
//! ```text
//! transport read half -> RequestReader (buffer + decoder) -> RecvSlot -> recv!() in the handler
//!                                     Driver: resumes the Conversation (genawaiter)
//! handler / any task -> StreamClient::send_packet -> SendQueue (encoder + buffer) -> write half
//! ```
//!
//! - [`StreamClient`] (`client.rs`) is the handle on a connection: `Clone + Send + Sync`,
//!   usable from any task. Its state is shared; its send side is the [`SendQueue`]
//!   (`send.rs`), bounded by a high-water mark, holding whole frames only.
//! - [`RecvSlot`] (`recv.rs`) is where the driver puts decoded requests for `recv!()`;
//!   [`Handler`] is a `#[handler]` body.
//! - [`Conversation`] (`generator.rs`) is the connection's one genawaiter generator, in
//!   which its bodies run one after another.
//! - [`RequestReader`] (`reader.rs`) reads and decodes.
//! - [`Driver`] (`driver.rs`) runs a conversation: every wait it does is bounded (by the
//!   `recv!()` timeout, the write timeout, the shutdown).
//! - [`broadcast`] (`broadcast.rs`) sends one packet, encoded once ([`Encoded`],
//!   `encoded.rs`), to many clients.
//!
//! Nothing here knows the handler trait: the handler layer builds the conversation's body
//! (its `lifecycle`) and hands it to the driver.

mod alarm;
mod broadcast;
mod client;
mod datagram;
mod driver;
mod encoded;
mod generator;
mod reader;
mod recv;
mod send;
mod shutdown;

pub use broadcast::{Broadcast, broadcast};
pub use client::{ClientId, StreamClient};
pub use datagram::DatagramClient;
pub use encoded::Encoded;
#[doc(hidden)]
pub use generator::RecvParams;
#[doc(hidden)]
pub use recv::Recv;
pub use recv::{Handler, RecvError, RecvSlot};

pub(crate) use client::{EndReason, Peer, SendOptions};
pub(crate) use datagram::{DatagramDriver, DatagramEnd, datagram_slot};
pub(crate) use driver::{Driver, ReadLimits, panic_message};
pub(crate) use generator::Conversation;
pub(crate) use reader::RequestReader;
pub(crate) use recv::Finished;
#[cfg(test)]
pub(crate) use recv::INBOX_CAPACITY;
pub(crate) use send::BoxedWriter;
pub(crate) use shutdown::Shutdown;
