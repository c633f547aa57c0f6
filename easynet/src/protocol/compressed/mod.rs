//! Framing of the compression wrappers: one complete compressed stream per packet.
//!
//! As easynetwork's `AbstractCompressorSerializer`, a packet ends where its compressed
//! stream ends; what follows belongs to the next packet. Unlike easynetwork, the
//! *decompressed* size is bounded (a small "zip bomb" cannot make us allocate more than
//! the frame limit), and so is the memory a connection holds while its peer has sent only
//! part of a frame.
//!
//! # Design
//!
//! A streaming decompressor kept between reads would hold its working memory for as long
//! as the peer likes: libbzip2 sets up 3.6 MB for a level-9 stream as soon as it has read
//! the 4-byte header, inflate about 45 KB. So nothing is decompressed until the whole
//! frame is there:
//!
//! - The compressed bytes are buffered, at most [`compressed_limit`] of them (the frame
//!   limit, plus the largest expansion a compressor can give: bzip2 adds at most 1% and
//!   600 bytes, deflate 5 bytes per 64 KiB).
//! - A *skimmer* ([`Skim`]: [`deflate::DeflateSkim`], [`bzip2::Bzip2Skim`]) reads the
//!   stream's structure as the bytes arrive (the Huffman codes of each block, without
//!   producing output or keeping a window), keeps where it stopped, and so tells exactly
//!   where the stream ends. Guessing from end markers would not do: deflate has none, and
//!   bzip2's end-of-stream magic is not byte-aligned and may appear inside a block.
//! - Once the skimmer has seen the end, a fresh decompressor decompresses the frame in
//!   one go, with the frame limit on its output, and is dropped.
//!
//! Worst case, for a frame of `n` compressed bytes received in `r` reads: the skimmer
//! looks at each byte once, plus, at each read, the item it was in the middle of (at most
//! 32 bytes: a bzip2 block's byte maps); the frame is decompressed exactly once. So the
//! work is `O(n + 32 r)` plus one decompression, whatever the split, and a frame sent
//! byte by byte costs about what it costs in one read. The memory held between reads is
//! the buffered frame (at most [`compressed_limit`], plus one read when it came with the
//! end of the previous packet), the skimmer (about 5 KB, plus one byte per bzip2 selector
//! read, at most 18 KB), and the decompressed packet's buffer only while it is small. The
//! decompressor's memory exists only during the call that decompresses a whole frame.
//!
//! The skimmer's checks mirror the decompressor's (miniz_oxide for zlib, libbzip2 for
//! bzip2) so that it never sees an end where the decompressor would not; what it cannot
//! check (checksums, a block's permutation), the decompressor does. An over-long packet is
//! found by the skimmer's count of the output (exact for deflate, a lower bound for bzip2:
//! four fifths of the block bytes) or by the decompressor, and is skipped by skimming the
//! rest of its stream, which needs no buffer.
#![cfg(any(feature = "zlib", feature = "bz2"))]

#[cfg(feature = "bz2")]
pub(crate) mod bzip2;
#[cfg(feature = "zlib")]
pub(crate) mod deflate;

use bytes::{Buf, BytesMut};

use crate::error::{ParseError, ProtocolError};

/// The first size of the decompression buffer (it grows up to the frame limit).
const FIRST_OUTPUT: usize = 4 * 1024;

/// An output buffer up to this size is kept from one packet to the next; a larger one is
/// freed once its packet is handed out, so that an idle connection holds little.
const KEEP: usize = 16 * 1024;

/// How much output of an over-long packet is skipped to find where it ends, in multiples
/// of the frame limit; past that, the connection is given up.
pub(crate) const DISCARD_FACTOR: u64 = 256;

/// The most compressed bytes a frame may have: the frame limit, plus what a compressor
/// may add to incompressible data (bzip2: 1% + 600 bytes; deflate: 5 bytes per 64 KiB
/// stored block + 6), with room to spare: `max + max / 16 + 1024`.
pub(crate) fn compressed_limit(max_frame_size: usize) -> usize {
    max_frame_size
        .saturating_add(max_frame_size / 16)
        .saturating_add(1024)
}

/// Why a skimmer refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkimError {
    /// The stream header is not the format's.
    Magic,
    /// The stream's structure is broken.
    Data,
}

/// Finds where a compressed stream ends by reading its structure, resumably (see the
/// module's doc).
pub(crate) trait Skim: Default + Clone + std::fmt::Debug {
    /// Reads on in `data`, the frame so far (the bytes given to earlier calls, then new
    /// ones), from where the last call stopped. `Some(len)`: the stream is the first
    /// `len` bytes. `None`: more bytes are needed.
    fn scan(&mut self, data: &[u8]) -> Result<Option<usize>, SkimError>;
    /// How many whole bytes at the front of the frame are behind the skimmer for good.
    fn scanned_bytes(&self) -> usize;
    /// The first `bytes` bytes (at most [`scanned_bytes`](Self::scanned_bytes)) were
    /// dropped from the frame.
    fn forget(&mut self, bytes: usize);
    /// How many bytes the stream decompresses to, at least, from what was read so far.
    fn produced(&self) -> u64;
    /// Ready for a new stream.
    fn reset(&mut self);
}

/// What one call of a decompressor did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// Input bytes it used.
    pub(crate) consumed: usize,
    /// Output bytes it wrote.
    pub(crate) produced: usize,
    /// It reached the end of the compressed stream.
    pub(crate) end: bool,
}

/// A streaming decompressor (zlib's inflate, bzip2's decompressor), used on whole
/// frames.
pub(crate) trait Decompressor {
    /// The name of the format, for messages (`"zlib"`).
    const FORMAT: &'static str;
    /// Its skimmer.
    type Skim: Skim;
    /// A decompressor at the start of a stream.
    fn start() -> Self;
    /// Decompresses what it can of `input` into `output`.
    fn step(&mut self, input: &[u8], output: &mut [u8]) -> Result<Step, String>;
    /// A byte of the frame to change before decompressing it (offset, new value), as the
    /// skimmer found the stream: bzip2 asks for the smallest block size that holds the
    /// stream's blocks, which decodes the same bytes with less memory.
    fn patch(_skim: &Self::Skim) -> Option<(usize, u8)> {
        None
    }
    /// The message for `data`, a stream the skimmer refused with `error`.
    fn refused(data: &[u8], error: SkimError) -> String;
    /// Decompresses `frame`, one whole stream as the skimmer found it (`patch` applied),
    /// into `output`, at most `max` bytes (`hint`: the skimmer's count).
    fn decompress_frame(
        frame: &[u8],
        patch: Option<(usize, u8)>,
        max: usize,
        hint: u64,
        output: &mut Vec<u8>,
    ) -> Inflated
    where
        Self: Sized,
    {
        inflate::<Self>(frame, patch, max, hint, output)
    }
}

/// What decompressing a whole frame gave.
pub(crate) enum Inflated {
    /// The packet, in the output buffer.
    Done,
    /// More than the frame limit.
    TooLarge,
    Failed(String),
}

/// Decompresses `frame`, one whole stream, with `patch` applied, into `output`: at most
/// `max` bytes (`hint`: how many are expected).
fn inflate<D: Decompressor>(
    frame: &[u8],
    patch: Option<(usize, u8)>,
    max: usize,
    hint: u64,
    output: &mut Vec<u8>,
) -> Inflated {
    let mut decompressor = D::start();
    // The frame in up to three pieces: before the patched byte, the byte, after it.
    let patched;
    let pieces: [&[u8]; 3] = match patch {
        Some((at, byte)) if at < frame.len() => {
            patched = [byte];
            [&frame[..at], &patched, &frame[at + 1..]]
        }
        _ => [frame, &[], &[]],
    };
    let cap = max.saturating_add(1);
    let first = usize::try_from(hint)
        .unwrap_or(usize::MAX)
        .max(FIRST_OUTPUT);
    output.clear();
    output.resize(first.min(cap), 0);
    let mut filled = 0;
    for (i, piece) in pieces.iter().enumerate() {
        let mut input = *piece;
        let rest_empty = pieces[i + 1..].iter().all(|p| p.is_empty());
        loop {
            if filled == output.len() {
                let len = (output.len() * 2).min(cap);
                output.resize(len, 0);
            }
            let step = match decompressor.step(input, &mut output[filled..]) {
                Ok(step) => step,
                Err(message) => return Inflated::Failed(message),
            };
            input = &input[step.consumed..];
            filled += step.produced;
            if filled > max {
                return Inflated::TooLarge;
            }
            if step.end {
                output.truncate(filled);
                return if rest_empty && input.is_empty() {
                    Inflated::Done
                } else {
                    Inflated::Failed(D::refused(frame, SkimError::Data))
                };
            }
            if input.is_empty() && filled < output.len() {
                break;
            }
            if step.consumed == 0 && step.produced == 0 {
                break;
            }
        }
    }
    // The skimmer saw an end the decompressor did not: corrupt.
    Inflated::Failed(D::refused(frame, SkimError::Data))
}

/// The receiving state of a compression wrapper (see the module's doc).
///
/// The received bytes of a frame stay in the caller's buffer (`src`) until the frame is
/// complete, as tokio-util's decoders leave what they cannot decode yet: the reader then
/// sees a partial frame as buffered bytes (the frame timeout watches those), and one
/// buffer holds them.
#[derive(Debug)]
pub(crate) struct Inflating<D: Decompressor> {
    skim: D::Skim,
    /// The decompressed packet.
    output: Vec<u8>,
    /// The last packet was handed out: start afresh on the next call.
    ready: bool,
    /// Skipping the rest of a packet over the limit.
    discarding: bool,
    max_frame_size: usize,
    /// How many frames were decompressed (the tests check there is one per frame).
    #[cfg(test)]
    pub(crate) decompressions: u32,
}

impl<D: Decompressor> Clone for Inflating<D> {
    /// A fresh state: a clone serves another stream.
    fn clone(&self) -> Self {
        Inflating::new(self.max_frame_size)
    }
}

impl<D: Decompressor> Inflating<D> {
    pub(crate) fn new(max_frame_size: usize) -> Self {
        Inflating {
            skim: D::Skim::default(),
            output: Vec::new(),
            ready: false,
            discarding: false,
            max_frame_size,
            #[cfg(test)]
            decompressions: 0,
        }
    }

    pub(crate) fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// The packet that [`feed`](Self::feed) just completed.
    pub(crate) fn packet(&self) -> &[u8] {
        &self.output
    }

    /// Drops every byte received (after bad data: we cannot tell where the next packet
    /// starts, so the next bytes received start one, as easynetwork drops the chunk).
    fn drop_all(&mut self, src: &mut BytesMut) {
        src.clear();
        self.skim.reset();
    }

    /// Skims the start of `src`. `Some` when a packet is complete: its bytes are
    /// [`packet`](Self::packet), and what followed it stays in `src`. `None` when the
    /// frame is not complete yet: its bytes stay in `src`, and the skimmer remembers
    /// where it stopped, so the next call looks only at what is new.
    pub(crate) fn feed(&mut self, src: &mut BytesMut) -> Result<Option<()>, ProtocolError> {
        if std::mem::take(&mut self.ready) {
            self.output.clear();
            if self.output.capacity() > KEEP {
                self.output = Vec::new();
            }
        }
        let max = self.max_frame_size;
        loop {
            if src.is_empty() {
                return Ok(None);
            }
            if self.discarding {
                match self.skim.scan(src) {
                    Err(_) => {
                        // Garbage inside a frame already reported as too large: go on.
                        self.drop_all(src);
                        self.discarding = false;
                        return Ok(None);
                    }
                    Ok(Some(len)) => {
                        src.advance(len);
                        self.skim.reset();
                        self.discarding = false;
                        continue;
                    }
                    Ok(None) => {
                        let done = self.skim.scanned_bytes();
                        src.advance(done);
                        self.skim.forget(done);
                        let skipped = self.skim.produced();
                        if skipped > DISCARD_FACTOR * max as u64 {
                            return Err(ProtocolError::Io(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!(
                                    "{} packet too large to skip: more than {} bytes decompressed",
                                    D::FORMAT,
                                    DISCARD_FACTOR * max as u64
                                ),
                            )));
                        }
                        return Ok(None);
                    }
                }
            }
            let limit = compressed_limit(max);
            let window = &src[..src.len().min(limit)];
            match self.skim.scan(window) {
                Err(error) => {
                    let at = (self.skim.scanned_bytes() + 64).min(src.len());
                    let message = D::refused(&src[..at], error);
                    self.drop_all(src);
                    return Err(invalid::<D>(&message));
                }
                Ok(Some(len)) => {
                    let (patch, produced) = (D::patch(&self.skim), self.skim.produced());
                    self.skim.reset();
                    let frame = src.split_to(len);
                    if produced > max as u64 {
                        return Err(ParseError::frame_too_large(max).into());
                    }
                    #[cfg(test)]
                    {
                        self.decompressions += 1;
                    }
                    match D::decompress_frame(&frame, patch, max, produced, &mut self.output) {
                        Inflated::Done => {
                            self.ready = true;
                            return Ok(Some(()));
                        }
                        Inflated::TooLarge => {
                            self.output.clear();
                            return Err(ParseError::frame_too_large(max).into());
                        }
                        Inflated::Failed(message) => {
                            self.output.clear();
                            self.drop_all(src);
                            return Err(invalid::<D>(&message));
                        }
                    }
                }
                Ok(None) => {
                    if self.skim.produced() > max as u64 || window.len() == limit {
                        // Over the limit: report it now, skip the rest of the stream.
                        let done = self.skim.scanned_bytes();
                        src.advance(done);
                        self.skim.forget(done);
                        self.discarding = true;
                        return Err(ParseError::frame_too_large(max).into());
                    }
                    return Ok(None);
                }
            }
        }
    }
}

fn invalid<D: Decompressor>(message: &str) -> ProtocolError {
    ParseError::invalid_msg(format!("invalid {} data: {message}", D::FORMAT)).into()
}

/// Decompresses `data`, exactly one complete stream, into `output` (the one-shot
/// serializers of the wrappers), with at most `max` bytes of output.
pub(crate) fn decompress_whole<D: Decompressor>(
    data: &[u8],
    max: usize,
    output: &mut Vec<u8>,
) -> Result<(), ParseError> {
    let invalid =
        |message: String| ParseError::invalid_msg(format!("invalid {} data: {message}", D::FORMAT));
    let mut skim = D::Skim::default();
    let len = match skim.scan(data) {
        Err(error) => {
            let at = (skim.scanned_bytes() + 64).min(data.len());
            return Err(invalid(D::refused(&data[..at], error)));
        }
        Ok(None) if skim.produced() > max as u64 => return Err(ParseError::frame_too_large(max)),
        Ok(None) => {
            return Err(invalid(
                "the data ended before the end-of-stream marker".to_owned(),
            ));
        }
        Ok(Some(len)) => len,
    };
    if skim.produced() > max as u64 {
        return Err(ParseError::frame_too_large(max));
    }
    match D::decompress_frame(&data[..len], D::patch(&skim), max, skim.produced(), output) {
        Inflated::Done => {}
        Inflated::TooLarge => return Err(ParseError::frame_too_large(max)),
        Inflated::Failed(message) => return Err(invalid(message)),
    }
    if len < data.len() {
        return Err(invalid(format!(
            "{} bytes of trailing data after the end of the stream",
            data.len() - len
        )));
    }
    Ok(())
}

#[cfg(all(test, feature = "zlib", feature = "bz2"))]
mod tests {
    use super::*;
    use crate::serializers::wrapper::{Bz2Decompressor, ZlibDecompressor};

    /// A deterministic pseudo-random generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Data of several kinds: random bytes, text, runs, and a mix.
    fn samples() -> Vec<Vec<u8>> {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut out = vec![Vec::new(), b"a".to_vec(), b"null".to_vec()];
        for len in [10, 300, 5_000, 70_000] {
            out.push((0..len).map(|_| rng.next() as u8).collect());
            out.push(
                (0..len)
                    .map(|i| b"the quick brown fox jumps "[(i * 7 + i / 13) % 26])
                    .collect(),
            );
            out.push(vec![b'z'; len]);
            out.push(
                (0..len)
                    .map(|i| {
                        if i % 1000 < 500 {
                            b'x'
                        } else {
                            rng.next() as u8 & 0x3f
                        }
                    })
                    .collect(),
            );
        }
        out
    }

    fn zlib_streams(data: &[u8]) -> Vec<Vec<u8>> {
        use flate2::{Compress, Compression, FlushCompress};
        let mut streams = Vec::new();
        for level in [0, 1, 5, 9] {
            streams.push(deflate::tests::zlib(data, level));
            // Several blocks: a sync flush (an empty stored block) and a full flush.
            let mut c = Compress::new(Compression::new(level), true);
            let mut out = Vec::with_capacity(data.len() * 2 + 128);
            let (a, b) = data.split_at(data.len() / 2);
            c.compress_vec(a, &mut out, FlushCompress::Sync).unwrap();
            c.compress_vec(b, &mut out, FlushCompress::Full).unwrap();
            c.compress_vec(&[], &mut out, FlushCompress::Finish)
                .unwrap();
            streams.push(out);
        }
        streams
    }

    fn bz2_stream(data: &[u8], level: u32) -> Vec<u8> {
        let mut c = ::bzip2::Compress::new(::bzip2::Compression::new(level), 0);
        let mut out = Vec::with_capacity(data.len() * 2 + 1024);
        loop {
            match c
                .compress_vec(data, &mut out, ::bzip2::Action::Finish)
                .unwrap()
            {
                ::bzip2::Status::StreamEnd => return out,
                _ => out.reserve(out.capacity()),
            }
        }
    }

    fn bz2_streams(data: &[u8]) -> Vec<Vec<u8>> {
        vec![bz2_stream(data, 1), bz2_stream(data, 9)]
    }

    /// Where a fresh decompressor ends `data` (bytes used), if it does without error.
    fn decompressor_end<D: Decompressor>(data: &[u8]) -> Option<usize> {
        let mut d = D::start();
        let mut output = vec![0; 1 << 20];
        let mut input = data;
        loop {
            let step = d.step(input, &mut output).ok()?;
            input = &input[step.consumed..];
            if step.end {
                return Some(data.len() - input.len());
            }
            if step.consumed == 0 && step.produced == 0 {
                return None;
            }
        }
    }

    /// The skimmer ends each stream where it ends, with garbage after it or not, and
    /// also when the stream arrives byte by byte.
    fn check_ends<D: Decompressor>(stream: &[u8], data: &[u8], exact: bool) {
        let mut skim = D::Skim::default();
        let mut with_tail = stream.to_vec();
        with_tail.extend_from_slice(b"\xffgarbage after");
        assert_eq!(skim.scan(&with_tail), Ok(Some(stream.len())));
        if exact {
            assert_eq!(skim.produced(), data.len() as u64);
        } else {
            assert!(skim.produced() <= data.len() as u64);
        }
        let mut skim = D::Skim::default();
        for i in 0..stream.len() {
            assert_eq!(
                skim.scan(&stream[..i]),
                Ok(None),
                "at {i} of {}",
                stream.len()
            );
        }
        assert_eq!(skim.scan(stream), Ok(Some(stream.len())));
    }

    #[test]
    fn skimmers_find_the_end_of_valid_streams() {
        for data in samples() {
            for stream in zlib_streams(&data) {
                check_ends::<ZlibDecompressor>(&stream, &data, true);
            }
            for stream in bz2_streams(&data) {
                check_ends::<Bz2Decompressor>(&stream, &data, false);
            }
        }
        // Several bzip2 blocks.
        let data: Vec<u8> = (0..250_000u64).map(|i| (i * i % 251) as u8).collect();
        let stream = bz2_stream(&data, 1);
        check_ends::<Bz2Decompressor>(&stream, &data, false);
    }

    /// Mutated streams: whenever the decompressor reads one to its end without error,
    /// the skimmer ends it at the same byte.
    fn check_mutations<D: Decompressor>(streams: &[Vec<u8>], rounds: usize) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut agreed = 0;
        for _ in 0..rounds {
            let mut data = streams[rng.below(streams.len())].clone();
            for _ in 0..1 + rng.below(3) {
                let len = data.len();
                if len == 0 {
                    break;
                }
                match rng.below(4) {
                    0 => {
                        let i = rng.below(len);
                        data[i] ^= 1 << rng.below(8);
                    }
                    1 => {
                        let i = rng.below(len);
                        data[i] = rng.next() as u8;
                    }
                    2 => {
                        let i = rng.below(len + 1);
                        data.insert(i, rng.next() as u8);
                    }
                    _ => data.truncate(len - rng.below(len.min(8) + 1)),
                }
            }
            let mut skim = D::Skim::default();
            let skimmed = skim.scan(&data);
            if let Some(end) = decompressor_end::<D>(&data) {
                assert_eq!(skimmed, Ok(Some(end)), "{data:02x?}");
                agreed += 1;
            }
        }
        assert!(agreed > 0, "no mutation was read to its end");
    }

    #[test]
    fn skimmers_agree_with_decompressors_on_mutated_streams() {
        let small: Vec<Vec<u8>> = samples().into_iter().filter(|d| d.len() <= 300).collect();
        let zlib: Vec<Vec<u8>> = small.iter().flat_map(|d| zlib_streams(d)).collect();
        check_mutations::<ZlibDecompressor>(&zlib, 20_000);
        let bz2: Vec<Vec<u8>> = small.iter().flat_map(|d| bz2_streams(d)).collect();
        check_mutations::<Bz2Decompressor>(&bz2, 3_000);
    }

    /// One decompression per frame, however the frame arrives.
    fn check_feeding<D: Decompressor>(streams: &[Vec<u8>], packets: &[&[u8]]) {
        let wire: Vec<u8> = streams.concat();
        for chunk in [1, 3, 64, wire.len()] {
            let mut inflating = Inflating::<D>::new(100_000);
            let mut got = Vec::new();
            // One receive buffer, as a reader keeps: a partial frame stays in it.
            let mut src = BytesMut::new();
            for piece in wire.chunks(chunk) {
                src.extend_from_slice(piece);
                while let Some(()) = inflating.feed(&mut src).unwrap() {
                    got.push(inflating.packet().to_vec());
                }
            }
            assert!(src.is_empty(), "chunks of {chunk}: bytes left over");
            assert_eq!(got, packets, "chunks of {chunk}");
            assert_eq!(inflating.decompressions as usize, packets.len());
        }
    }

    #[test]
    fn frames_fed_byte_by_byte_are_decompressed_once() {
        let data = samples();
        let packets: Vec<&[u8]> = data
            .iter()
            .map(Vec::as_slice)
            .filter(|d| d.len() < 6000)
            .collect();
        let streams: Vec<Vec<u8>> = packets.iter().map(|d| deflate::tests::zlib(d, 9)).collect();
        check_feeding::<ZlibDecompressor>(&streams, &packets);
        let streams: Vec<Vec<u8>> = packets.iter().map(|d| bz2_stream(d, 9)).collect();
        check_feeding::<Bz2Decompressor>(&streams, &packets);
    }

    #[test]
    fn bzip2_is_decompressed_with_the_smallest_block_size() {
        let data = vec![b'q'; 50_000];
        let stream = bz2_stream(&data, 9);
        assert_eq!(stream[3], b'9');
        let mut skim = bzip2::Bzip2Skim::default();
        assert_eq!(skim.scan(&stream), Ok(Some(stream.len())));
        assert_eq!(skim.level_needed(), 1);
        let big: Vec<u8> = (0..350_000u32).map(|i| (i * 7919 % 256) as u8).collect();
        let stream = bz2_stream(&big, 9);
        let mut skim = bzip2::Bzip2Skim::default();
        assert_eq!(skim.scan(&stream), Ok(Some(stream.len())));
        assert_eq!(skim.level_needed(), 4);
        let mut output = Vec::new();
        decompress_whole::<Bz2Decompressor>(&stream, 400_000, &mut output).unwrap();
        assert_eq!(output, big);
    }
}
