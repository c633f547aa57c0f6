//! The bzip2 wrapper: easynetwork's `BZ2CompressorSerializer`.

use std::fmt;

use bytes::BytesMut;
use bzip2::{Action, Compress, Compression, Decompress, Status};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{BoxError, ParseError, ProtocolError};
use crate::protocol::DEFAULT_MAX_FRAME_SIZE;
use crate::protocol::compressed::bzip2::Bzip2Skim;
use crate::protocol::compressed::{Decompressor, Inflating, SkimError, Step, decompress_whole};
use crate::serializers::{PacketDeserializer, PacketSerializer, append_or_rollback};

/// bzip2 compression of any serializer's bytes: easynetwork's `BZ2CompressorSerializer`.
///
/// Each packet is the inner serializer's bytes as one complete bzip2 stream (block size
/// 900k, level 9 by default, as Python's `bz2`); as a stream protocol, packets follow each
/// other with no separator, each ending where its bzip2 stream ends, exactly as
/// easynetwork. So `Bz2::new(JsonSerializer::<Value>::new())` talks to Python's
/// `StreamProtocol(BZ2CompressorSerializer(JSONSerializer()))`. The codec is libbzip2's
/// own algorithm (the pure-Rust port `libbz2-rs-sys`), so the bytes match Python's too.
///
/// bzip2 sets up several megabytes of tables for each stream, on both sides, at every
/// level (level 9: about 7.6 MB to compress, 3.7 MB to decompress); for small packets,
/// [`level(1)`](Self::level) uses less. Limits and bad input are handled as by
/// [`Zlib`](crate::Zlib): the decompressed size is bounded by the frame limit (64 KiB by
/// default), an over-long packet is one `FrameTooLarge` error and is skipped, data that
/// is not bzip2 is an error and what was received with it is dropped.
pub struct Bz2<S> {
    inner: S,
    level: u32,
    inflating: Inflating<Bz2Decompressor>,
    scratch: BytesMut,
    output: Vec<u8>,
}

impl<S> Bz2<S> {
    /// Wraps `inner`, with compression level 9 and the default 64 KiB limit.
    pub fn new(inner: S) -> Self {
        Bz2 {
            inner,
            level: 9,
            inflating: Inflating::new(DEFAULT_MAX_FRAME_SIZE),
            scratch: BytesMut::new(),
            output: Vec::new(),
        }
    }

    /// Sets the compression level (the block size in units of 100k), from 1 to 9 (the
    /// default).
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.clamp(1, 9);
        self
    }

    /// Sets the maximum decompressed size of a received packet, in bytes.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.inflating = Inflating::new(max);
        self
    }

    /// The maximum decompressed size of a received packet, in bytes.
    pub fn frame_limit(&self) -> usize {
        self.inflating.max_frame_size()
    }

    /// The wrapped serializer.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Compresses `self.scratch` into `dst`, as one complete stream, byte for byte what
    /// libbzip2 gives at `self.level`.
    ///
    /// libbzip2 sets up 9 bytes of tables per byte of its block size for each stream
    /// (7.6 MB at level 9), which costs far more than compressing a small packet. The
    /// level only sizes the block: a packet that fits in the block of a lower level is
    /// compressed at that level, into the same single block, and only the header's
    /// digit tells the level apart; it is set to `self.level`.
    fn compress_scratch(&mut self, dst: &mut BytesMut) -> Result<(), BoxError> {
        let input = &self.scratch[..];
        let level = self.level.min(single_block_level(input.len()));
        let mut compressor = Compress::new(Compression::new(level), 0);
        let header_digit = b'0' + self.level as u8;
        append_or_rollback(dst, |dst| {
            let header = dst.len() + 3;
            let mut used = 0;
            loop {
                let start = dst.len();
                let left = input.len() - used;
                dst.resize(start + left + left / 8 + 600, 0);
                let (in_before, out_before) = (compressor.total_in(), compressor.total_out());
                let status = compressor.compress(&input[used..], &mut dst[start..], Action::Finish);
                used += (compressor.total_in() - in_before) as usize;
                dst.truncate(start + (compressor.total_out() - out_before) as usize);
                match status {
                    Ok(Status::StreamEnd) => {
                        dst[header] = header_digit;
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Err(BoxError::from(format!("bzip2 compression failed: {e:?}")));
                    }
                }
            }
        })
    }
}

/// The lowest level (block size) whose single block holds `len` input bytes: a block
/// holds at most 100,000 times its level, less 19, bytes of the first run-length stage,
/// which turns each run of 4 to 255 equal bytes into 5 (so at most 5 in 4, plus 5).
fn single_block_level(len: usize) -> u32 {
    let block = (len as u64).saturating_mul(5) / 4 + 24;
    u32::try_from(block / 100_000 + 1).unwrap_or(u32::MAX)
}

impl<S: Clone> Clone for Bz2<S> {
    /// A fresh wrapper with the same settings (no stream state is shared).
    fn clone(&self) -> Self {
        Bz2 {
            inner: self.inner.clone(),
            level: self.level,
            inflating: self.inflating.clone(),
            scratch: BytesMut::new(),
            output: Vec::new(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Bz2<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bz2")
            .field("inner", &self.inner)
            .field("level", &self.level)
            .field("max_frame_size", &self.inflating.max_frame_size())
            .finish()
    }
}

compressor_impls!(Bz2, Bz2Decompressor, "bzip2");

/// libbzip2's decompressor (the pure-Rust port), one per frame.
pub(crate) struct Bz2Decompressor(Decompress);

impl fmt::Debug for Bz2Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bz2Decompressor")
    }
}

/// "not a bzip2 stream" and "corrupt bzip2 stream", as libbzip2 says them.
fn message(error: bzip2::Error) -> String {
    match error {
        bzip2::Error::DataMagic => "not a bzip2 stream (bad magic bytes)".to_owned(),
        bzip2::Error::Data => "corrupt bzip2 stream".to_owned(),
        other => format!("{other:?}"),
    }
}

impl Decompressor for Bz2Decompressor {
    const FORMAT: &'static str = "bzip2";
    type Skim = Bzip2Skim;

    fn start() -> Self {
        Bz2Decompressor(Decompress::new(DECOMPRESS_SMALL))
    }

    fn step(&mut self, input: &[u8], output: &mut [u8]) -> Result<Step, String> {
        let (in_before, out_before) = (self.0.total_in(), self.0.total_out());
        let status = self.0.decompress(input, output).map_err(message)?;
        if status == Status::MemNeeded {
            return Err("out of memory".to_owned());
        }
        Ok(Step {
            consumed: (self.0.total_in() - in_before) as usize,
            produced: (self.0.total_out() - out_before) as usize,
            end: status == Status::StreamEnd,
        })
    }

    fn patch(skim: &Bzip2Skim) -> Option<(usize, u8)> {
        Some((3, b'0' + skim.level_needed()))
    }

    fn refused(_data: &[u8], error: SkimError) -> String {
        message(match error {
            SkimError::Magic => bzip2::Error::DataMagic,
            SkimError::Data => bzip2::Error::Data,
        })
    }
}

/// libbzip2's "small" decompression mode (2.5 instead of 4 bytes per block byte, about
/// half the speed).
const DECOMPRESS_SMALL: bool = false;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serializers::StringSerializer;

    /// What libbzip2 gives at `level`, with no shortcut.
    fn plain(data: &[u8], level: u32) -> Vec<u8> {
        let mut c = Compress::new(Compression::new(level), 0);
        let mut out = Vec::with_capacity(data.len() * 2 + 1024);
        loop {
            match c.compress_vec(data, &mut out, Action::Finish).unwrap() {
                Status::StreamEnd => return out,
                _ => out.reserve(out.capacity()),
            }
        }
    }

    #[test]
    fn small_packets_compress_byte_for_byte_as_at_their_level() {
        let mut texts = vec![String::new(), "a".into(), "aaaa".repeat(30_000)];
        // Runs of exactly 4, which the first stage stretches most (5 bytes for 4).
        let fours: String = (0..80_000u32)
            .map(|i| char::from(b'a' + (i / 4 % 26) as u8))
            .collect();
        texts.push(fours);
        texts.push(
            (0..120_000u32)
                .map(|i| char::from(b' ' + (i * 7 % 95) as u8))
                .collect(),
        );
        for text in &texts {
            for level in [1, 2, 9] {
                let mut bz2 = Bz2::new(StringSerializer::new()).level(level);
                let mut dst = BytesMut::from(&b"before"[..]);
                bz2.serialize(text.as_str(), &mut dst).unwrap();
                assert_eq!(&dst[..6], b"before");
                assert_eq!(
                    &dst[6..],
                    plain(text.as_bytes(), level),
                    "{} bytes at {level}",
                    text.len()
                );
            }
        }
        assert_eq!(single_block_level(0), 1);
        assert_eq!(single_block_level(79_960), 1);
        assert_eq!(single_block_level(79_981), 2);
    }
}
