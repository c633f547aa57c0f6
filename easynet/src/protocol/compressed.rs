//! Framing of the compression wrappers: one complete compressed stream per packet.
//!
//! As easynetwork's `AbstractCompressorSerializer`, received bytes are fed to a
//! decompressor until it reports the end of its stream; what follows belongs to the next
//! packet. Unlike easynetwork, the *decompressed* size is bounded: a small "zip bomb"
//! cannot make us allocate more than the frame limit.
#![cfg(any(feature = "zlib", feature = "bz2"))]

use bytes::{Buf, BytesMut};

use crate::error::{ParseError, ProtocolError};

/// The first size of the decompression buffer (it grows up to the frame limit).
const FIRST_OUTPUT: usize = 4 * 1024;

/// How much output of an over-long packet is decompressed (and thrown away) to find
/// where it ends, in multiples of the frame limit; past that, the connection is given up.
pub(crate) const DISCARD_FACTOR: u64 = 256;

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

/// A streaming decompressor (zlib's inflate, bzip2's decompressor).
pub(crate) trait Decompressor {
    /// The name of the format, for messages (`"zlib"`).
    const FORMAT: &'static str;
    /// A decompressor at the start of a stream.
    fn start() -> Self;
    /// Decompresses what it can of `input` into `output`.
    fn step(&mut self, input: &[u8], output: &mut [u8]) -> Result<Step, String>;
    /// Ready for a new stream.
    fn restart(&mut self);
}

/// The receiving state of a compression wrapper: the current stream's decompressor and
/// the packet decompressed so far.
#[derive(Debug)]
pub(crate) struct Inflating<D> {
    decompressor: Option<D>,
    /// The decompressed packet is `output[..filled]`; the rest is room.
    output: Vec<u8>,
    filled: usize,
    /// The last packet was handed out: start afresh on the next call.
    ready: bool,
    /// The last step filled all the room it had: the decompressor may hold more output,
    /// even with no more input.
    flushing: bool,
    /// Skipping the rest of a packet over the limit.
    discarding: bool,
    discarded: u64,
    max_frame_size: usize,
}

impl<D> Clone for Inflating<D> {
    /// A fresh state: a clone serves another stream.
    fn clone(&self) -> Self {
        Inflating::new(self.max_frame_size)
    }
}

impl<D> Inflating<D> {
    pub(crate) fn new(max_frame_size: usize) -> Self {
        Inflating {
            decompressor: None,
            output: Vec::new(),
            filled: 0,
            ready: false,
            flushing: false,
            discarding: false,
            discarded: 0,
            max_frame_size,
        }
    }

    pub(crate) fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// The packet that [`feed`](Self::feed) just completed.
    pub(crate) fn packet(&self) -> &[u8] {
        &self.output[..self.filled]
    }

    /// Makes room for more output: doubles the buffer, up to one byte over the limit
    /// (that byte tells an over-long packet).
    fn grow(&mut self) {
        let cap = self.max_frame_size.saturating_add(1);
        let len = (self.output.len() * 2).clamp(FIRST_OUTPUT.min(cap), cap);
        if len > self.output.len() {
            self.output.resize(len, 0);
        }
    }
}

impl<D: Decompressor> Inflating<D> {
    /// Feeds the received bytes of `src` (consuming them) to the decompressor. `Some` when
    /// a packet is complete: its bytes are [`packet`](Self::packet), and `src` holds what
    /// follows it.
    pub(crate) fn feed(&mut self, src: &mut BytesMut) -> Result<Option<()>, ProtocolError> {
        if std::mem::take(&mut self.ready) {
            self.filled = 0;
        }
        loop {
            if src.is_empty() && !self.flushing {
                return Ok(None);
            }
            if self.filled == self.output.len() {
                self.grow();
            }
            let room = self.output.len() - self.filled;
            let decompressor = self.decompressor.get_or_insert_with(D::start);
            let step = decompressor.step(src, &mut self.output[self.filled..]);
            self.flushing = matches!(step, Ok(step) if step.produced == room && !step.end);
            let step = match step {
                Ok(step) => step,
                Err(message) => {
                    // We cannot tell where the next packet starts: drop what we have, the
                    // next bytes received start a new packet (easynetwork drops the chunk).
                    src.clear();
                    decompressor.restart();
                    self.filled = 0;
                    let was_discarding = std::mem::take(&mut self.discarding);
                    self.discarded = 0;
                    if was_discarding {
                        return Ok(None);
                    }
                    return Err(ParseError::invalid_msg(format!(
                        "invalid {} data: {message}",
                        D::FORMAT
                    ))
                    .into());
                }
            };
            src.advance(step.consumed);
            if step.end {
                decompressor.restart();
            }
            if self.discarding {
                self.discarded += step.produced as u64;
                self.filled = 0;
                if step.end {
                    self.discarding = false;
                    self.discarded = 0;
                    continue;
                }
                if self.discarded > DISCARD_FACTOR * self.max_frame_size as u64 {
                    return Err(ProtocolError::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} packet too large to skip: more than {} bytes decompressed",
                            D::FORMAT,
                            DISCARD_FACTOR * self.max_frame_size as u64
                        ),
                    )));
                }
            } else {
                self.filled += step.produced;
                if self.filled > self.max_frame_size {
                    self.filled = 0;
                    self.discarding = !step.end;
                    return Err(ParseError::frame_too_large(self.max_frame_size).into());
                }
                if step.end {
                    self.ready = true;
                    return Ok(Some(()));
                }
            }
            if step.consumed == 0 && step.produced == 0 {
                self.flushing = false;
                return Ok(None);
            }
        }
    }
}

/// Decompresses `data`, exactly one complete stream, into `output` (the one-shot
/// serializers of the wrappers), with at most `max` bytes of output.
pub(crate) fn decompress_whole<D: Decompressor>(
    data: &[u8],
    max: usize,
    output: &mut Vec<u8>,
) -> Result<(), ParseError> {
    let mut decompressor = D::start();
    let mut input = data;
    output.clear();
    let mut filled = 0;
    loop {
        if filled == output.len() {
            let cap = max.saturating_add(1);
            let len = (output.len() * 2).clamp(FIRST_OUTPUT.min(cap), cap);
            output.resize(len, 0);
        }
        let step = decompressor
            .step(input, &mut output[filled..])
            .map_err(|m| ParseError::invalid_msg(format!("invalid {} data: {m}", D::FORMAT)))?;
        input = &input[step.consumed..];
        filled += step.produced;
        if filled > max {
            return Err(ParseError::frame_too_large(max));
        }
        if step.end {
            output.truncate(filled);
            if !input.is_empty() {
                return Err(ParseError::invalid_msg(format!(
                    "invalid {} data: {} bytes of trailing data after the end of the stream",
                    D::FORMAT,
                    input.len()
                )));
            }
            return Ok(());
        }
        if step.consumed == 0 && step.produced == 0 {
            return Err(ParseError::invalid_msg(format!(
                "invalid {} data: the data ended before the end-of-stream marker",
                D::FORMAT
            )));
        }
    }
}
