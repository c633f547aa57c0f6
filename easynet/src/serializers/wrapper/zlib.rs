//! The zlib wrapper: easynetwork's `ZlibCompressorSerializer`.

use std::fmt;

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{BoxError, ParseError, ProtocolError};
use crate::protocol::DEFAULT_MAX_FRAME_SIZE;
use crate::protocol::compressed::deflate::DeflateSkim;
use crate::protocol::compressed::{
    Decompressor, Inflated, Inflating, SkimError, Step, decompress_whole,
};
use crate::serializers::{PacketDeserializer, PacketSerializer, append_or_rollback};

/// zlib compression of any serializer's bytes: easynetwork's `ZlibCompressorSerializer`.
///
/// Each packet is the inner serializer's bytes as one complete zlib stream (RFC 1950,
/// 32 KiB window, compression level 9 by default as Python's `Z_BEST_COMPRESSION`).
/// As a stream protocol, packets follow each other with no separator: a packet ends where
/// its zlib stream ends, and the bytes after it start the next one, exactly as
/// easynetwork. So `Zlib::new(JsonSerializer::<Value>::new())` talks to Python's
/// `StreamProtocol(ZlibCompressorSerializer(JSONSerializer()))`.
///
/// The compressed bytes differ from Python's zlib (another deflate implementation), the
/// decompressed ones do not; each side reads the other's.
///
/// Limits: a packet's *decompressed* size is bounded by the frame limit (64 KiB by
/// default; easynetwork has no bound), so a small zip bomb cannot make the receiver
/// allocate more. A packet over the limit is a [`FrameTooLarge`](crate::ParseErrorKind)
/// parse error; the rest of its stream is decompressed and thrown away to find the next
/// packet (up to 256 times the limit; past that, the connection is closed). Data that is
/// not zlib is a parse error, and what was received with it is dropped: the next bytes
/// start a new packet (easynetwork drops the chunk too).
pub struct Zlib<S> {
    inner: S,
    level: u32,
    compressor: Option<Compress>,
    inflating: Inflating<ZlibDecompressor>,
    /// The inner serializer's bytes of the packet being sent.
    scratch: BytesMut,
    /// The decompressed bytes of a one-shot `deserialize`.
    output: Vec<u8>,
}

impl<S> Zlib<S> {
    /// Wraps `inner`, with compression level 9 and the default 64 KiB limit.
    pub fn new(inner: S) -> Self {
        Zlib {
            inner,
            level: 9,
            compressor: None,
            inflating: Inflating::new(DEFAULT_MAX_FRAME_SIZE),
            scratch: BytesMut::new(),
            output: Vec::new(),
        }
    }

    /// Sets the compression level, from 0 (none) to 9 (best, the default).
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self.compressor = None;
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

    /// Compresses `self.scratch` into `dst`, as one complete stream.
    fn compress_scratch(&mut self, dst: &mut BytesMut) -> Result<(), BoxError> {
        let level = self.level;
        let compressor = self
            .compressor
            .get_or_insert_with(|| Compress::new(Compression::new(level), true));
        let input = &self.scratch[..];
        let result = append_or_rollback(dst, |dst| {
            let mut used = 0;
            loop {
                let start = dst.len();
                let left = input.len() - used;
                dst.resize(start + left + left / 8 + 64, 0);
                let (in_before, out_before) = (compressor.total_in(), compressor.total_out());
                let status =
                    compressor.compress(&input[used..], &mut dst[start..], FlushCompress::Finish);
                used += (compressor.total_in() - in_before) as usize;
                dst.truncate(start + (compressor.total_out() - out_before) as usize);
                match status {
                    Ok(Status::StreamEnd) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(BoxError::from(e)),
                }
            }
        });
        compressor.reset();
        result
    }
}

impl<S: Clone> Clone for Zlib<S> {
    /// A fresh wrapper with the same settings (no stream state is shared).
    fn clone(&self) -> Self {
        Zlib {
            inner: self.inner.clone(),
            level: self.level,
            compressor: None,
            inflating: self.inflating.clone(),
            scratch: BytesMut::new(),
            output: Vec::new(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Zlib<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zlib")
            .field("inner", &self.inner)
            .field("level", &self.level)
            .field("max_frame_size", &self.inflating.max_frame_size())
            .finish()
    }
}

compressor_impls!(Zlib, ZlibDecompressor, "zlib");

/// zlib's inflate, through flate2 (pure-Rust miniz_oxide backend): one per frame.
#[derive(Debug)]
pub(crate) struct ZlibDecompressor(Decompress);

impl Decompressor for ZlibDecompressor {
    const FORMAT: &'static str = "zlib";
    type Skim = DeflateSkim;

    fn start() -> Self {
        ZlibDecompressor(Decompress::new(true))
    }

    fn step(&mut self, input: &[u8], output: &mut [u8]) -> Result<Step, String> {
        let (in_before, out_before) = (self.0.total_in(), self.0.total_out());
        let status = self
            .0
            .decompress(input, output, FlushDecompress::None)
            .map_err(|e| e.to_string())?;
        Ok(Step {
            consumed: (self.0.total_in() - in_before) as usize,
            produced: (self.0.total_out() - out_before) as usize,
            end: status == Status::StreamEnd,
        })
    }

    fn refused(_data: &[u8], _error: SkimError) -> String {
        // What flate2 says of every stream miniz_oxide refuses (it has no other message).
        "deflate decompression error".to_owned()
    }

    /// One call of miniz_oxide's inflater (flate2's backend) straight into the packet's
    /// buffer, of the exact size the skimmer counted: no 32 KiB window to set up, as
    /// flate2's streaming API needs, since the output itself is the window.
    fn decompress_frame(
        frame: &[u8],
        _patch: Option<(usize, u8)>,
        max: usize,
        hint: u64,
        output: &mut Vec<u8>,
    ) -> Inflated {
        use miniz_oxide::inflate::TINFLStatus;
        use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
        let Ok(len) = usize::try_from(hint) else {
            return Inflated::TooLarge;
        };
        if len > max {
            return Inflated::TooLarge;
        }
        output.clear();
        output.resize(len, 0);
        let mut state = Box::new(DecompressorOxide::new());
        let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
            | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
            | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32;
        let (status, read, written) = decompress(&mut state, frame, output, 0, flags);
        match status {
            TINFLStatus::Done if read == frame.len() && written == len => Inflated::Done,
            _ => Inflated::Failed(Self::refused(frame, SkimError::Data)),
        }
    }
}
