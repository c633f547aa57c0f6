//! The client side: [`TcpClient`] connects to a TCP server and exchanges packets with it.

mod error;
mod tcp;

pub use error::ClientError;
pub use tcp::TcpClient;
