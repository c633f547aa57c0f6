//! The base64 wrapper: easynetwork's `Base64EncoderSerializer`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use bytes::{BufMut, BytesMut};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{BoxError, ParseError, ProtocolError};
use crate::protocol::DEFAULT_MAX_FRAME_SIZE;
use crate::protocol::lines::{LineFramer, Newline};
use crate::serializers::{PacketDeserializer, PacketSerializer};

/// The length of a SHA-256 digest, the checksum appended before encoding.
const DIGEST_LEN: usize = 32;

/// The base64 alphabet of a [`Base64`] wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alphabet {
    /// The URL- and filename-safe alphabet (`-` and `_`), easynetwork's default.
    #[default]
    UrlSafe,
    /// The standard alphabet (`+` and `/`).
    Standard,
}

/// The checksum appended to the inner bytes before encoding.
#[derive(Clone)]
enum Checksum {
    None,
    /// SHA-256 of the inner bytes.
    Sha256,
    /// HMAC-SHA256 of the inner bytes, with this key.
    Hmac(Box<Hmac<Sha256>>),
}

/// A signing key given to [`Base64::signing_key_base64`] is not 32 bytes of URL-safe
/// base64.
#[derive(Debug, thiserror::Error)]
#[error("signing key must be 32 url-safe base64-encoded bytes")]
pub struct InvalidKey;

/// base64 text of any serializer's bytes: easynetwork's `Base64EncoderSerializer`.
///
/// Each packet is the inner serializer's bytes, optionally followed by a 32-byte SHA-256
/// checksum ([`checksum`](Self::checksum)) or HMAC-SHA256 signature
/// ([`signing_key`](Self::signing_key)), all encoded in base64 (URL-safe alphabet by
/// default, padded) and, as a stream protocol, followed by `\r\n`. So
/// `Base64::new(JsonSerializer::<Value>::new())` talks to Python's
/// `StreamProtocol(Base64EncoderSerializer(JSONSerializer()))`, and with `.checksum()`
/// or a shared key to `Base64EncoderSerializer(..., checksum=True)` or `checksum=key`.
///
/// Receiving: a line over the frame limit (64 KiB of base64 by default) is a
/// [`FrameTooLarge`](crate::ParseErrorKind) error and is skipped up to its separator; a
/// line that is not valid padded base64 in the alphabet, or whose checksum does not
/// match, is an `InvalidPacket` error; in every case the next line is decoded normally.
///
/// Differences from Python, both on input Python itself never sends: Python's decoder
/// silently skips characters outside the alphabet (and accepts both alphabets in URL-safe
/// mode), this one refuses them; Python sends nothing at all for a packet whose encoding
/// is empty (an inner serializer that gives no bytes, without checksum), this one sends
/// an empty line.
pub struct Base64<S> {
    inner: S,
    alphabet: Alphabet,
    checksum: Checksum,
    framer: LineFramer,
    /// The decoded bytes of the line being received.
    decoded: Vec<u8>,
    /// The inner bytes (and checksum) of the packet being sent.
    scratch: BytesMut,
}

impl<S> Base64<S> {
    /// Wraps `inner`: URL-safe alphabet, no checksum, `\r\n` after each packet, 64 KiB
    /// limit on a received line (easynetwork's defaults).
    pub fn new(inner: S) -> Self {
        Base64 {
            inner,
            alphabet: Alphabet::UrlSafe,
            checksum: Checksum::None,
            framer: LineFramer::new(Newline::CrLf.bytes(), DEFAULT_MAX_FRAME_SIZE),
            decoded: Vec::new(),
            scratch: BytesMut::new(),
        }
    }

    /// Sets the alphabet.
    pub fn alphabet(mut self, alphabet: Alphabet) -> Self {
        self.alphabet = alphabet;
        self
    }

    /// Appends a SHA-256 checksum of the inner bytes (Python's `checksum=True`) and
    /// checks it on receipt.
    pub fn checksum(mut self) -> Self {
        self.checksum = Checksum::Sha256;
        self
    }

    /// Appends an HMAC-SHA256 of the inner bytes with `key` (Python's `checksum=key`,
    /// where `key` is the URL-safe base64 of these 32 bytes) and checks it on receipt.
    pub fn signing_key(mut self, key: &[u8; 32]) -> Self {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key size");
        self.checksum = Checksum::Hmac(Box::new(mac));
        self
    }

    /// [`signing_key`](Self::signing_key) from its URL-safe base64 text, the form
    /// Python's `Base64EncoderSerializer.generate_key()` gives.
    pub fn signing_key_base64(self, key: impl AsRef<[u8]>) -> Result<Self, InvalidKey> {
        let bytes = URL_SAFE.decode(key.as_ref()).map_err(|_| InvalidKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| InvalidKey)?;
        Ok(self.signing_key(&key))
    }

    /// Sets the separator after each packet (`\r\n` by default).
    pub fn newline(mut self, newline: Newline) -> Self {
        self.framer = LineFramer::new(newline.bytes(), self.framer.max_frame_size());
        self
    }

    /// Sets the maximum size of a received line (the base64 text), in bytes.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.framer = LineFramer::new(self.framer.separator(), max);
        self
    }

    /// The maximum size of a received line, in bytes.
    pub fn frame_limit(&self) -> usize {
        self.framer.max_frame_size()
    }

    /// The wrapped serializer.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn engine(&self) -> &'static base64::engine::GeneralPurpose {
        match self.alphabet {
            Alphabet::UrlSafe => &URL_SAFE,
            Alphabet::Standard => &STANDARD,
        }
    }

    /// Decodes the base64 `text` and checks its checksum; the inner bytes are then
    /// `self.decoded`.
    fn decode_text(&mut self, text: &[u8]) -> Result<(), ParseError> {
        self.decoded.clear();
        self.engine()
            .decode_vec(text, &mut self.decoded)
            .map_err(|e| ParseError::invalid("invalid base64", e))?;
        match &self.checksum {
            Checksum::None => Ok(()),
            checksum => {
                let Some(data_len) = self.decoded.len().checked_sub(DIGEST_LEN) else {
                    return Err(ParseError::invalid_msg(
                        "invalid checksum: the packet is shorter than its checksum",
                    ));
                };
                let (data, digest) = self.decoded.split_at(data_len);
                let valid = match checksum {
                    Checksum::Hmac(mac) => {
                        let mut mac = (**mac).clone();
                        mac.update(data);
                        mac.verify_slice(digest).is_ok()
                    }
                    _ => Sha256::digest(data).as_slice() == digest,
                };
                if !valid {
                    return Err(ParseError::invalid_msg(
                        "invalid checksum: the packet was altered or signed with another key",
                    ));
                }
                self.decoded.truncate(data_len);
                Ok(())
            }
        }
    }

    /// Encodes `self.scratch` (the inner bytes) with its checksum into `dst`.
    fn encode_scratch(&mut self, dst: &mut BytesMut) {
        match &self.checksum {
            Checksum::None => {}
            Checksum::Sha256 => {
                let digest = Sha256::digest(&self.scratch);
                self.scratch.put_slice(&digest);
            }
            Checksum::Hmac(mac) => {
                let mut mac = (**mac).clone();
                mac.update(&self.scratch);
                self.scratch.put_slice(&mac.finalize().into_bytes());
            }
        }
        let len = base64::encoded_len(self.scratch.len(), true).expect("packet size fits");
        let start = dst.len();
        dst.resize(start + len, 0);
        let written = self
            .engine()
            .encode_slice(&self.scratch, &mut dst[start..])
            .expect("room for the encoding was made");
        dst.truncate(start + written);
    }
}

impl<S: Clone> Clone for Base64<S> {
    /// The same settings, with fresh buffers.
    fn clone(&self) -> Self {
        Base64 {
            inner: self.inner.clone(),
            alphabet: self.alphabet,
            checksum: self.checksum.clone(),
            framer: LineFramer::new(self.framer.separator(), self.framer.max_frame_size()),
            decoded: Vec::new(),
            scratch: BytesMut::new(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Base64<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let checksum = match self.checksum {
            Checksum::None => "none",
            Checksum::Sha256 => "sha256",
            Checksum::Hmac(_) => "hmac-sha256",
        };
        f.debug_struct("Base64")
            .field("inner", &self.inner)
            .field("alphabet", &self.alphabet)
            .field("checksum", &checksum)
            .field("max_frame_size", &self.framer.max_frame_size())
            .finish()
    }
}

impl<Sent: ?Sized, S: PacketSerializer<Sent>> PacketSerializer<Sent> for Base64<S> {
    /// The base64 text of the inner bytes (and checksum), without separator.
    fn serialize(&mut self, packet: &Sent, dst: &mut BytesMut) -> Result<(), BoxError> {
        self.scratch.clear();
        self.inner.serialize(packet, &mut self.scratch)?;
        self.encode_scratch(dst);
        Ok(())
    }
}

impl<S: PacketDeserializer> PacketDeserializer for Base64<S> {
    type Packet = S::Packet;

    /// Decodes base64 text (without separator), checks the checksum, deserializes.
    fn deserialize(&mut self, data: &[u8]) -> Result<S::Packet, ParseError> {
        self.decode_text(data)?;
        self.inner.deserialize(&self.decoded)
    }
}

impl<S: PacketDeserializer> Decoder for Base64<S> {
    type Item = S::Packet;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<S::Packet>, ProtocolError> {
        let Some(len) = self.framer.next_frame(src)? else {
            return Ok(None);
        };
        let decoded = self.decode_text(&src[..len]);
        self.framer.consume(src, len);
        decoded?;
        Ok(Some(self.inner.deserialize(&self.decoded)?))
    }
}

impl<Sent: ?Sized, S: PacketSerializer<Sent>> Encoder<&Sent> for Base64<S> {
    type Error = ProtocolError;

    fn encode(&mut self, packet: &Sent, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.serialize(packet, dst)
            .map_err(ProtocolError::Serialize)?;
        dst.put_slice(self.framer.separator());
        Ok(())
    }
}
