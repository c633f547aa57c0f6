//! The PROXY protocol (HAProxy's, v1 and v2), server side: a load balancer in front of
//! the server opens each connection with a header saying who the client is.
//!
//! - `trusted.rs`: [`TrustedSources`], who may (and must) send a header;
//! - `header.rs`: parsing one header from bytes (sans-IO, with the `ppp` crate);
//! - `read.rs`: reading a header off a connection, keeping what followed it;
//! - `rewind.rs`: the stream that yields those kept bytes first;
//! - `info.rs`: [`ProxyInfo`], what the header said, on the client handle.
//!
//! The server reads the header in each client's own task, before TLS, under a timeout
//! and abandoned at shutdown (`server/proxy.rs`).

mod header;
mod info;
mod read;
mod rewind;
mod trusted;

pub(crate) use header::{Header, HeaderError, Parsed, parse};
pub use info::ProxyInfo;
pub(crate) use read::read_header;
pub(crate) use rewind::Rewind;
pub use trusted::{TrustedSources, TrustedSourcesError};

#[cfg(test)]
mod tests;

/// The PROXY header fuzz target's entry point (easynet-tests' `fuzz.rs`): parses `data`
/// as a connection's first bytes. `Ok(Some((local, len)))` for a whole header of `len`
/// bytes (`local` for v2 `LOCAL`), `Ok(None)` when more bytes are needed, `Err` with the
/// reason when they are not a header. Not public API.
pub fn fuzz_header(data: &[u8]) -> Result<Option<(bool, usize)>, String> {
    let proxy = crate::transport::Address::Unknown;
    match parse(data, &proxy) {
        Ok(Parsed::Incomplete) => Ok(None),
        Ok(Parsed::Complete(header, len)) => Ok(Some((header == Header::Local, len))),
        Err(HeaderError(e)) => Err(e),
    }
}
