//! Finds where a zlib stream (RFC 1950 around RFC 1951 deflate) ends, without inflating
//! it: the Huffman codes are decoded, but no byte is produced and no window is kept, so
//! the state is a few kilobytes whatever the stream.
//!
//! The structural checks are those of miniz_oxide (the inflater behind flate2), so that a
//! stream the skimmer accepts is one the inflater reads to the same end; anything it
//! refuses, the inflater refuses too (the inflater is then asked for its message).

use super::{Skim, SkimError};

/// Reads bits least significant first (deflate's order) from a byte slice.
struct Bits<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl Bits<'_> {
    fn available(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    /// The next `n` bits (at most 25), zeros past the end of the data.
    fn peek(&self, n: u32) -> u32 {
        let byte = self.pos / 8;
        let word = match self.data.get(byte..byte + 8) {
            Some(eight) => u64::from_le_bytes(eight.try_into().expect("8 bytes")),
            None => self.data[byte.min(self.data.len())..]
                .iter()
                .rev()
                .fold(0, |acc, &b| (acc << 8) | u64::from(b)),
        };
        ((word >> (self.pos % 8)) & ((1 << n) - 1)) as u32
    }

    fn take(&mut self, n: u32) -> Option<u32> {
        if self.available() < n as usize {
            return None;
        }
        let value = self.peek(n);
        self.pos += n as usize;
        Some(value)
    }
}

/// Bits of the lookup table of [`Huffman`]: codes up to this long decode in one step.
const FAST_BITS: u32 = 9;

/// A canonical Huffman code of deflate, for decoding only.
#[derive(Clone)]
struct Huffman {
    /// How many codes of each length (1 to 15).
    counts: [u16; 16],
    /// The symbols, by code length then value.
    symbols: [u16; 288],
    /// For the next `FAST_BITS` bits: `symbol << 4 | length`, or 0 for a longer code.
    fast: [u16; 1 << FAST_BITS],
}

impl std::fmt::Debug for Huffman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Huffman")
            .field("counts", &self.counts)
            .finish()
    }
}

impl Default for Huffman {
    fn default() -> Self {
        Huffman {
            counts: [0; 16],
            symbols: [0; 288],
            fast: [0; 1 << FAST_BITS],
        }
    }
}

/// What [`Huffman::decode`] found.
enum Symbol {
    Found(u16),
    /// Not enough bits yet.
    More,
    Invalid,
}

impl Huffman {
    /// Builds the code of `lengths`. Over-subscribed codes are refused; incomplete ones
    /// too, except (when `lenient`) a code with no symbol or a single 1-bit one, as
    /// miniz_oxide and zlib allow for the literal/length and distance codes.
    fn build(&mut self, lengths: &[u8], lenient: bool) -> Result<(), SkimError> {
        self.counts = [0; 16];
        for &len in lengths {
            self.counts[usize::from(len)] += 1;
        }
        self.counts[0] = 0;
        let mut left: i32 = 1;
        let mut max_len = 0;
        for len in 1..16 {
            left <<= 1;
            left -= i32::from(self.counts[len]);
            if left < 0 {
                return Err(SkimError::Data);
            }
            if self.counts[len] > 0 {
                max_len = len;
            }
        }
        if left > 0 && !(lenient && max_len <= 1) {
            return Err(SkimError::Data);
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + self.counts[len];
        }
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                self.symbols[usize::from(offsets[usize::from(len)])] = symbol as u16;
                offsets[usize::from(len)] += 1;
            }
        }
        // The lookup table: each code, its bits reversed (deflate sends a code's first
        // bit first, in the low bit), in every slot that starts with it.
        self.fast.fill(0);
        let mut code: u32 = 0;
        let mut index = 0;
        for len in 1..=FAST_BITS {
            for _ in 0..self.counts[len as usize] {
                let symbol = self.symbols[index];
                index += 1;
                let reversed = code.reverse_bits() >> (32 - len);
                let mut slot = reversed;
                while slot < 1 << FAST_BITS {
                    self.fast[slot as usize] = (symbol << 4) | len as u16;
                    slot += 1 << len;
                }
                code += 1;
            }
            code <<= 1;
        }
        Ok(())
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Symbol {
        if bits.available() >= FAST_BITS as usize {
            let entry = self.fast[bits.peek(FAST_BITS) as usize];
            if entry != 0 {
                bits.pos += usize::from(entry & 15);
                return Symbol::Found(entry >> 4);
            }
        }
        // One bit at a time (puff's canonical decoding).
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            let Some(bit) = bits.take(1) else {
                return Symbol::More;
            };
            code |= bit as i32;
            let count = i32::from(self.counts[len]);
            if code - first < count {
                return Symbol::Found(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Symbol::Invalid
    }
}

/// Extra bits of the length codes 257 to 285.
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Base lengths of the length codes 257 to 285.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
/// Extra bits of the distance codes 0 to 29.
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order in which the code length code lengths are sent.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// The 2-byte zlib header.
    #[default]
    Header,
    /// A block's 3-bit header.
    Block,
    /// A stored block: `left` bytes to skip.
    Stored { left: u16 },
    /// A dynamic block's code lengths: `have` of `lit + dist` read.
    Lengths { have: u16 },
    /// Compressed data.
    Data,
    /// The Adler-32 after the final block.
    Trailer,
    /// The stream ended after this many bytes.
    Done,
}

/// Where a zlib stream ends (see the module's doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct DeflateSkim {
    phase: Phase,
    /// Position in bits in the frame.
    pos: usize,
    last_block: bool,
    /// The current tables hold the fixed codes.
    fixed: bool,
    lit_count: u16,
    dist_count: u16,
    lengths: Vec<u8>,
    code_lengths: Box<Huffman>,
    lit: Box<Huffman>,
    dist: Box<Huffman>,
    produced: u64,
}

/// What one step of the skimmer did.
enum Step {
    Go,
    More,
}

impl DeflateSkim {
    fn step(&mut self, bits: &mut Bits<'_>) -> Result<Step, SkimError> {
        match self.phase {
            Phase::Header => {
                let Some(header) = bits.take(16) else {
                    return Ok(Step::More);
                };
                let (cmf, flg) = (header & 0xff, header >> 8);
                if (cmf * 256 + flg) % 31 != 0 || flg & 0x20 != 0 || cmf & 15 != 8 || cmf >> 4 > 7 {
                    return Err(SkimError::Magic);
                }
                self.phase = Phase::Block;
            }
            Phase::Block => {
                let Some(header) = bits.take(3) else {
                    return Ok(Step::More);
                };
                self.last_block = header & 1 == 1;
                match header >> 1 {
                    0 => {
                        // Stored: to the byte boundary, then LEN and its complement.
                        let skip = (8 - bits.pos % 8) % 8;
                        if bits.available() < skip + 32 {
                            return Ok(Step::More);
                        }
                        bits.pos += skip;
                        let len = bits.take(16).expect("checked");
                        let nlen = bits.take(16).expect("checked");
                        if len != !nlen & 0xffff {
                            return Err(SkimError::Data);
                        }
                        self.phase = Phase::Stored { left: len as u16 };
                    }
                    1 => {
                        if !self.fixed {
                            let mut lengths = [8u8; 288];
                            lengths[144..256].fill(9);
                            lengths[256..280].fill(7);
                            self.lit.build(&lengths, false)?;
                            self.dist.build(&[5; 32], false)?;
                            self.fixed = true;
                        }
                        self.phase = Phase::Data;
                    }
                    2 => {
                        let Some(counts) = bits.take(14) else {
                            return Ok(Step::More);
                        };
                        let lit = (counts & 31) as u16 + 257;
                        let dist = ((counts >> 5) & 31) as u16 + 1;
                        let code_count = (counts >> 10) as usize + 4;
                        if bits.available() < 3 * code_count {
                            return Ok(Step::More);
                        }
                        if lit > 286 || dist > 30 {
                            return Err(SkimError::Data);
                        }
                        let mut code_lengths = [0u8; 19];
                        for &symbol in &CODE_LENGTH_ORDER[..code_count] {
                            code_lengths[symbol] = bits.take(3).expect("checked") as u8;
                        }
                        self.code_lengths.build(&code_lengths, false)?;
                        self.fixed = false;
                        self.lit_count = lit;
                        self.dist_count = dist;
                        self.lengths.clear();
                        self.lengths.resize(usize::from(lit + dist), 0);
                        self.phase = Phase::Lengths { have: 0 };
                    }
                    _ => return Err(SkimError::Data),
                }
            }
            Phase::Stored { left } => {
                if left == 0 {
                    self.phase = self.after_block();
                    return Ok(Step::Go);
                }
                let bytes = (bits.available() / 8).min(usize::from(left));
                if bytes == 0 {
                    return Ok(Step::More);
                }
                bits.pos += bytes * 8;
                self.produced += bytes as u64;
                self.phase = Phase::Stored {
                    left: left - bytes as u16,
                };
            }
            Phase::Lengths { have } => {
                let total = usize::from(self.lit_count + self.dist_count);
                let have = usize::from(have);
                if have == total {
                    let (lit, dist) = self.lengths.split_at(usize::from(self.lit_count));
                    self.lit.build(lit, true)?;
                    self.dist.build(dist, true)?;
                    self.phase = Phase::Data;
                    return Ok(Step::Go);
                }
                let symbol = match self.code_lengths.decode(bits) {
                    Symbol::Found(symbol) => symbol,
                    Symbol::More => return Ok(Step::More),
                    Symbol::Invalid => return Err(SkimError::Data),
                };
                let (value, extra, base) = match symbol {
                    0..=15 => {
                        self.lengths[have] = symbol as u8;
                        self.phase = Phase::Lengths {
                            have: have as u16 + 1,
                        };
                        return Ok(Step::Go);
                    }
                    16 if have == 0 => return Err(SkimError::Data),
                    16 => (self.lengths[have - 1], 2, 3),
                    17 => (0, 3, 3),
                    _ => (0, 7, 11),
                };
                let Some(repeat) = bits.take(extra) else {
                    return Ok(Step::More);
                };
                let end = have + base + repeat as usize;
                if end > total {
                    return Err(SkimError::Data);
                }
                self.lengths[have..end].fill(value);
                self.phase = Phase::Lengths { have: end as u16 };
            }
            Phase::Data => {
                let symbol = match self.lit.decode(bits) {
                    Symbol::Found(symbol) => symbol,
                    Symbol::More => return Ok(Step::More),
                    Symbol::Invalid => return Err(SkimError::Data),
                };
                match symbol {
                    0..=255 => self.produced += 1,
                    256 => self.phase = self.after_block(),
                    257..=285 => {
                        let code = usize::from(symbol - 257);
                        let Some(extra) = bits.take(u32::from(LENGTH_EXTRA[code])) else {
                            return Ok(Step::More);
                        };
                        let distance = match self.dist.decode(bits) {
                            Symbol::Found(d) if d < 30 => d,
                            Symbol::Found(_) | Symbol::Invalid => return Err(SkimError::Data),
                            Symbol::More => return Ok(Step::More),
                        };
                        if bits
                            .take(u32::from(DISTANCE_EXTRA[usize::from(distance)]))
                            .is_none()
                        {
                            return Ok(Step::More);
                        }
                        self.produced += u64::from(LENGTH_BASE[code]) + u64::from(extra);
                    }
                    _ => return Err(SkimError::Data),
                }
            }
            Phase::Trailer => {
                let skip = (8 - bits.pos % 8) % 8;
                if bits.available() < skip + 32 {
                    return Ok(Step::More);
                }
                bits.pos += skip + 32;
                self.phase = Phase::Done;
            }
            Phase::Done => {}
        }
        Ok(Step::Go)
    }

    fn after_block(&self) -> Phase {
        if self.last_block {
            Phase::Trailer
        } else {
            Phase::Block
        }
    }
}

impl Skim for DeflateSkim {
    fn scan(&mut self, data: &[u8]) -> Result<Option<usize>, SkimError> {
        loop {
            if self.phase == Phase::Done {
                return Ok(Some(self.pos / 8));
            }
            // Each step reads one item whole, or nothing: on `More`, the position and
            // the state are those before it.
            let mut bits = Bits {
                data,
                pos: self.pos,
            };
            match self.step(&mut bits)? {
                Step::Go => self.pos = bits.pos,
                Step::More => return Ok(None),
            }
        }
    }

    fn scanned_bytes(&self) -> usize {
        self.pos / 8
    }

    fn forget(&mut self, bytes: usize) {
        self.pos -= bytes * 8;
    }

    fn produced(&self) -> u64 {
        self.produced
    }

    fn reset(&mut self) {
        self.phase = Phase::Header;
        self.pos = 0;
        self.last_block = false;
        self.produced = 0;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    pub(crate) fn zlib(data: &[u8], level: u32) -> Vec<u8> {
        let mut c = Compress::new(Compression::new(level), true);
        let mut out = Vec::with_capacity(data.len() * 2 + 64);
        c.compress_vec(data, &mut out, FlushCompress::Finish)
            .unwrap();
        out
    }

    #[test]
    fn finds_the_end_of_streams() {
        for data in [&b""[..], b"a", b"hello hello hello hello", &[7u8; 1000]] {
            for level in [0, 1, 6, 9] {
                let stream = zlib(data, level);
                let mut skim = DeflateSkim::default();
                assert_eq!(
                    skim.scan(&stream),
                    Ok(Some(stream.len())),
                    "{level} {:?}",
                    &stream
                );
                assert_eq!(skim.produced(), data.len() as u64);
            }
        }
    }
}
