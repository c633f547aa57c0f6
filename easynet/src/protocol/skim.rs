//! Framing for self-delimiting formats (CBOR, MessagePack, JSON documents back to back):
//! a resumable scanner finds where each value ends without decoding it.
//!
//! The scanner ([`Skim`]) keeps its state between reads, so every byte is scanned once
//! however the frame arrives (only a header split across two reads, at most 9 bytes, is
//! looked at again). Lengths announced in headers are never used to allocate: a string
//! announced longer than the frame limit is reported at once and then skipped as its
//! bytes arrive, so the stream stays in step.

use bytes::{Buf, BytesMut};

use crate::error::ParseError;

/// What a scan of new bytes found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The frame goes on: `consumed` bytes were scanned (a partial header is not).
    Incomplete { consumed: usize },
    /// The frame ends after `consumed` more bytes.
    Complete { consumed: usize },
    /// Before the frame starts, `skip` bytes are to be dropped (whitespace between JSON
    /// documents). Only returned while no byte of the frame has been scanned.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    Skip { skip: usize },
    /// The bytes are not the format: drop the frame so far and `consumed` more bytes (up
    /// to and including the offending one), then go on after them.
    Malformed { consumed: usize, message: String },
}

/// A resumable scanner for one self-delimiting format.
pub(crate) trait Skim: Clone {
    /// Scans `input`, the bytes that follow those already scanned for this frame.
    fn scan(&mut self, input: &[u8]) -> Scan;
    /// Bytes the frame is already known to need after those scanned (the rest of a
    /// string whose length its header gave).
    fn pending(&self) -> u64;
    /// Forgets the frame: ready for the next one.
    fn reset(&mut self);
}

/// Finds frames of a self-delimiting format in a receive buffer, with a size limit.
#[derive(Debug, Clone)]
pub(crate) struct SkimFramer<K> {
    skim: K,
    max_frame_size: usize,
    /// How many bytes at the front of the buffer belong to the current frame and were
    /// scanned already.
    scanned: usize,
    /// Skipping the rest of a frame over the limit.
    discarding: bool,
}

impl<K: Skim> SkimFramer<K> {
    pub(crate) fn new(skim: K, max_frame_size: usize) -> Self {
        SkimFramer {
            skim,
            max_frame_size,
            scanned: 0,
            discarding: false,
        }
    }

    pub(crate) fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// The length of the next complete frame at the front of `buf`, or `None` if more
    /// bytes are needed. The caller reads the frame from `buf[..len]` and then advances
    /// `buf` by `len`.
    pub(crate) fn next_frame(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, ParseError> {
        loop {
            if buf.len() == self.scanned {
                // Nothing new since the last scan.
                return Ok(None);
            }
            match self.skim.scan(&buf[self.scanned..]) {
                Scan::Skip { skip } => {
                    debug_assert_eq!(self.scanned, 0);
                    buf.advance(skip);
                }
                Scan::Complete { consumed } => {
                    let len = self.scanned + consumed;
                    self.skim.reset();
                    self.scanned = 0;
                    if self.discarding {
                        // The end of a frame over the limit: drop it, go on.
                        self.discarding = false;
                        buf.advance(len);
                    } else if len > self.max_frame_size {
                        buf.advance(len);
                        return Err(ParseError::frame_too_large(self.max_frame_size));
                    } else {
                        return Ok(Some(len));
                    }
                }
                Scan::Incomplete { consumed } => {
                    self.scanned += consumed;
                    if self.discarding {
                        buf.advance(self.scanned);
                        self.scanned = 0;
                        return Ok(None);
                    }
                    let needed = (self.scanned as u64).saturating_add(self.skim.pending());
                    if needed > self.max_frame_size as u64 {
                        // Keep scanning the frame to find its end, without keeping it.
                        buf.advance(self.scanned);
                        self.scanned = 0;
                        self.discarding = true;
                        return Err(ParseError::frame_too_large(self.max_frame_size));
                    }
                    return Ok(None);
                }
                Scan::Malformed { consumed, message } => {
                    buf.advance(self.scanned + consumed);
                    self.skim.reset();
                    self.scanned = 0;
                    if !std::mem::take(&mut self.discarding) {
                        return Err(ParseError::invalid_msg(message));
                    }
                    // Garbage inside a frame already reported as too large: go on.
                }
            }
        }
    }
}

/// Checks that `data` holds exactly one whole value (the one-shot serializers' check).
#[cfg(any(feature = "cbor", feature = "msgpack"))]
pub(crate) fn skim_whole<K: Skim>(
    mut skim: K,
    data: &[u8],
    format: &str,
) -> Result<(), ParseError> {
    let mut offset = 0;
    loop {
        match skim.scan(&data[offset..]) {
            Scan::Skip { skip } => offset += skip,
            Scan::Complete { consumed } if offset + consumed == data.len() => return Ok(()),
            Scan::Complete { .. } => {
                return Err(ParseError::invalid_msg(format!(
                    "invalid {format}: extra data after the value"
                )));
            }
            Scan::Incomplete { .. } => {
                return Err(ParseError::invalid_msg(format!(
                    "invalid {format}: missing data to create the packet"
                )));
            }
            Scan::Malformed { message, .. } => return Err(ParseError::invalid_msg(message)),
        }
    }
}

/// Reads a big-endian unsigned integer of 1, 2, 4 or 8 bytes.
#[cfg(any(feature = "cbor", feature = "msgpack"))]
pub(crate) fn be_uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}
