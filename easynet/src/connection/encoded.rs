//! [`Encoded`]: a packet encoded once, to be queued on many clients.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;

/// A packet already encoded by a client's protocol
/// ([`StreamClient::encode`](super::StreamClient::encode)), ready to be queued on many clients without encoding it
/// again. Cheap to clone (the bytes are shared).
pub struct Encoded<Response> {
    bytes: Bytes,
    _packet: PhantomData<fn(&Response)>,
}

impl<Response> Encoded<Response> {
    pub(crate) fn new(bytes: Bytes) -> Self {
        Encoded {
            bytes,
            _packet: PhantomData,
        }
    }

    /// The encoded frame, as it goes on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl<Response> Clone for Encoded<Response> {
    fn clone(&self) -> Self {
        Encoded::new(self.bytes.clone())
    }
}

impl<Response> fmt::Debug for Encoded<Response> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoded")
            .field("len", &self.bytes.len())
            .finish()
    }
}
