//! Finds where a bzip2 stream ends, without decompressing it: each block's Huffman
//! symbols are decoded (bzip2 blocks are not byte-aligned and their end-of-stream marker
//! may also appear inside compressed data, so the symbols are the only sure way), but
//! neither the Burrows-Wheeler transform nor the run-length stages are undone, so the
//! state is a few kilobytes (plus one byte per selector, at most 18,002) instead of
//! libbzip2's 3.6 MB at level 9.
//!
//! The structural checks follow libbzip2 1.0.8 (and its Rust port, libbz2-rs-sys)
//! decision for decision, so that a stream both read ends at the same byte; what the
//! skimmer cannot check (the CRCs, the block's permutation), the decompressor checks when
//! it decompresses the frame.

use super::{Skim, SkimError};

/// Reads bits most significant first (bzip2's order) from a byte slice.
struct Bits<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl Bits<'_> {
    fn available(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    /// The next `n` bits (1 to 25), zeros past the end of the data.
    fn peek(&self, n: u32) -> u32 {
        let byte = self.pos / 8;
        let word = match self.data.get(byte..byte + 8) {
            Some(eight) => u64::from_be_bytes(eight.try_into().expect("8 bytes")),
            None => {
                let mut eight = [0u8; 8];
                let rest = &self.data[byte.min(self.data.len())..];
                eight[..rest.len()].copy_from_slice(rest);
                u64::from_be_bytes(eight)
            }
        };
        ((word << (self.pos % 8)) >> (64 - n)) as u32
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

const BLOCK_MAGIC: u64 = 0x3141_5926_5359;
const END_MAGIC: u64 = 0x1772_4538_5090;
/// libbzip2's `BZ_MAX_SELECTORS`: selectors past it are read and ignored.
const MAX_SELECTORS: usize = 18_002;
/// libbzip2's `BZ_MAX_CODE_LEN`.
const MAX_CODE_LEN: usize = 23;
/// libbzip2's `BZ_MAX_ALPHA_SIZE`.
const MAX_ALPHA_SIZE: usize = 258;

/// The decoding tables of one coding group, as libbzip2's `BZ2_hbCreateDecodeTables`.
#[derive(Debug, Clone)]
struct Group {
    limit: [i32; MAX_CODE_LEN],
    base: [i32; MAX_CODE_LEN],
    perm: [u16; MAX_ALPHA_SIZE],
    min_len: u8,
}

impl Group {
    fn new() -> Self {
        Group {
            limit: [0; MAX_CODE_LEN],
            base: [0; MAX_CODE_LEN],
            perm: [0; MAX_ALPHA_SIZE],
            min_len: 0,
        }
    }

    /// libbzip2's table construction, step for step (its tables are what decide where a
    /// block ends, even for codes that are not proper prefix codes). `perm` past the
    /// code's symbols keeps what earlier blocks left there, as in libbzip2.
    fn build(&mut self, lengths: &[u8]) {
        let min_len = lengths.iter().copied().min().unwrap_or(0);
        let max_len = lengths.iter().copied().max().unwrap_or(0);
        self.min_len = min_len;
        let mut pp = 0;
        for len in min_len..=max_len {
            for (symbol, &l) in lengths.iter().enumerate() {
                if l == len {
                    self.perm[pp] = symbol as u16;
                    pp += 1;
                }
            }
        }
        self.base = [0; MAX_CODE_LEN];
        for &l in lengths {
            self.base[usize::from(l) + 1] += 1;
        }
        for i in 1..MAX_CODE_LEN {
            self.base[i] += self.base[i - 1];
        }
        self.limit = [0; MAX_CODE_LEN];
        let mut vec = 0;
        for i in usize::from(min_len)..=usize::from(max_len) {
            vec += self.base[i + 1] - self.base[i];
            self.limit[i] = vec - 1;
            vec <<= 1;
        }
        for i in usize::from(min_len)..usize::from(max_len) {
            self.base[i + 1] = 2 * (self.limit[i] + 1) - self.base[i + 1];
        }
    }

    /// libbzip2's `GET_MTF_VAL`: `None` when more bits are needed.
    fn decode(&self, bits: &mut Bits<'_>) -> Result<Option<u16>, SkimError> {
        let mut zn = u32::from(self.min_len);
        let Some(mut zvec) = bits.take(zn).map(|v| v as i32) else {
            return Ok(None);
        };
        loop {
            if zn > 20 {
                return Err(SkimError::Data);
            }
            if zvec <= self.limit[zn as usize] {
                let index = zvec - self.base[zn as usize];
                return match usize::try_from(index).ok().and_then(|i| self.perm.get(i)) {
                    Some(&symbol) => Ok(Some(symbol)),
                    None => Err(SkimError::Data),
                };
            }
            zn += 1;
            let Some(bit) = bits.take(1) else {
                return Ok(None);
            };
            zvec = (zvec << 1) | bit as i32;
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// `BZh` and the block size digit.
    #[default]
    Header,
    /// A block's magic (or the end-of-stream magic) and, for a block, its header.
    Magic,
    /// The 16-bit maps of the bytes used in the block.
    Bitmaps { used16: u16 },
    /// The number of coding groups and of selectors.
    Groups,
    /// The selectors, `done` of them read.
    Selectors { done: u16 },
    /// The code lengths of group `group`, symbol `symbol` (`None`: its 5-bit start).
    Lengths { group: u8, symbol: u16 },
    /// The block's symbols.
    Data,
    /// The stream's CRC after the end-of-stream magic.
    Crc,
    /// The stream ended after this many bytes.
    Done,
}

/// Where a bzip2 stream ends (see the module's doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct Bzip2Skim {
    phase: Phase,
    /// Position in bits in the frame.
    pos: usize,
    /// The block size digit of the stream header (1 to 9).
    level: u8,
    orig_ptr: u32,
    in_use: u16,
    groups: u8,
    selector_count: u16,
    selector_mtf: Vec<u8>,
    selectors: Vec<u8>,
    /// The code length being read (libbzip2's `curr`), and the lengths of the group.
    curr: u8,
    lengths: Vec<u8>,
    tables: Vec<Group>,
    group_no: i32,
    group_pos: u8,
    /// Inside a run of RUNA / RUNB symbols: its length so far and `log2(N)`.
    run: Option<(u32, u8)>,
    /// Bytes of the current block so far (before its run-length decoding).
    nblock: u32,
    /// The largest block so far, and the sum of the blocks, in the same bytes.
    max_block: u32,
    total_blocks: u64,
}

/// What one step of the skimmer did.
enum Step {
    Go,
    More,
}

impl Bzip2Skim {
    /// The smallest block size digit whose blocks hold every block of the stream so far:
    /// a decompressor told this digit reads the stream exactly as with its own, with
    /// less memory (the digit only sizes the decompressor's block buffer, and bounds it).
    pub(crate) fn level_needed(&self) -> u8 {
        (self.max_block.div_ceil(100_000) as u8).clamp(1, self.level.max(1))
    }

    fn block_cap(&self) -> u32 {
        100_000 * u32::from(self.level)
    }

    fn step(&mut self, bits: &mut Bits<'_>) -> Result<Step, SkimError> {
        match self.phase {
            Phase::Header => {
                // libbzip2 checks the 4 bytes one by one: a bad first byte is an error
                // at once, not after 4 bytes.
                let have = (bits.available() / 8).min(4);
                for (i, expected) in [b'B', b'Z', b'h'].into_iter().enumerate().take(have) {
                    if bits.data[i] != expected {
                        return Err(SkimError::Magic);
                    }
                }
                if have < 4 {
                    return Ok(Step::More);
                }
                let level = bits.data[3];
                if !(b'1'..=b'9').contains(&level) {
                    return Err(SkimError::Magic);
                }
                self.level = level - b'0';
                bits.pos = 32;
                self.phase = Phase::Magic;
            }
            Phase::Magic => {
                let Some(high) = bits.take(24) else {
                    return Ok(Step::More);
                };
                let Some(low) = bits.take(24) else {
                    return Ok(Step::More);
                };
                match (u64::from(high) << 24) | u64::from(low) {
                    BLOCK_MAGIC => {
                        // CRC (32 bits), randomised (1), origPtr (24), 16-bit map (16).
                        if bits.available() < 73 {
                            return Ok(Step::More);
                        }
                        bits.pos += 33;
                        let orig_ptr = bits.take(24).expect("checked");
                        if orig_ptr > 10 + self.block_cap() {
                            return Err(SkimError::Data);
                        }
                        self.orig_ptr = orig_ptr;
                        let used16 = bits.take(16).expect("checked") as u16;
                        self.phase = Phase::Bitmaps { used16 };
                    }
                    END_MAGIC => self.phase = Phase::Crc,
                    _ => return Err(SkimError::Data),
                }
            }
            Phase::Bitmaps { used16 } => {
                let maps = used16.count_ones() as usize;
                if bits.available() < 16 * maps {
                    return Ok(Step::More);
                }
                let mut in_use = 0;
                for _ in 0..maps {
                    in_use += bits.take(16).expect("checked").count_ones() as u16;
                }
                if in_use == 0 {
                    return Err(SkimError::Data);
                }
                self.in_use = in_use;
                self.phase = Phase::Groups;
            }
            Phase::Groups => {
                let Some(header) = bits.take(18) else {
                    return Ok(Step::More);
                };
                let groups = (header >> 15) as u8;
                let selectors = (header & 0x7fff) as u16;
                if !(2..=6).contains(&groups) || selectors < 1 {
                    return Err(SkimError::Data);
                }
                self.groups = groups;
                self.selector_count = selectors;
                self.selector_mtf.clear();
                self.phase = Phase::Selectors { done: 0 };
            }
            Phase::Selectors { done } => {
                if done == self.selector_count {
                    // Undo the move-to-front coding of the selectors.
                    let count = usize::from(self.selector_count).min(MAX_SELECTORS);
                    let mut order: [u8; 6] = [0, 1, 2, 3, 4, 5];
                    self.selectors.clear();
                    for &mtf in &self.selector_mtf[..count] {
                        order[..=usize::from(mtf)].rotate_right(1);
                        self.selectors.push(order[0]);
                    }
                    if self.tables.is_empty() {
                        self.tables = vec![Group::new(); 6];
                    }
                    self.curr = 0;
                    self.lengths.clear();
                    self.phase = Phase::Lengths {
                        group: 0,
                        symbol: u16::MAX,
                    };
                    return Ok(Step::Go);
                }
                let mut j = 0;
                loop {
                    match bits.take(1) {
                        None => return Ok(Step::More),
                        Some(0) => break,
                        Some(_) => {
                            j += 1;
                            if j >= self.groups {
                                return Err(SkimError::Data);
                            }
                        }
                    }
                }
                if usize::from(done) < MAX_SELECTORS {
                    self.selector_mtf.push(j);
                }
                self.phase = Phase::Selectors { done: done + 1 };
            }
            Phase::Lengths { group, symbol } => {
                let alpha_size = self.in_use + 2;
                if group == self.groups {
                    self.group_no = -1;
                    self.group_pos = 0;
                    self.run = None;
                    self.nblock = 0;
                    self.phase = Phase::Data;
                    return Ok(Step::Go);
                }
                if symbol == u16::MAX {
                    let Some(start) = bits.take(5) else {
                        return Ok(Step::More);
                    };
                    self.curr = start as u8;
                    self.lengths.clear();
                    self.phase = Phase::Lengths { group, symbol: 0 };
                    return Ok(Step::Go);
                }
                if symbol == alpha_size {
                    self.tables[usize::from(group)].build(&self.lengths);
                    self.phase = Phase::Lengths {
                        group: group + 1,
                        symbol: u16::MAX,
                    };
                    return Ok(Step::Go);
                }
                if !(1..=20).contains(&self.curr) {
                    return Err(SkimError::Data);
                }
                match bits.take(1) {
                    None => return Ok(Step::More),
                    Some(0) => {
                        self.lengths.push(self.curr);
                        self.phase = Phase::Lengths {
                            group,
                            symbol: symbol + 1,
                        };
                    }
                    Some(_) => match bits.take(1) {
                        None => return Ok(Step::More),
                        Some(0) => self.curr += 1,
                        Some(_) => self.curr -= 1,
                    },
                }
            }
            Phase::Data => {
                // The coding group of this symbol (libbzip2 switches every 50 symbols).
                let (mut group_no, mut group_pos) = (self.group_no, self.group_pos);
                if group_pos == 0 {
                    group_no += 1;
                    if group_no as usize >= self.selectors.len() {
                        return Err(SkimError::Data);
                    }
                    group_pos = 50;
                }
                group_pos -= 1;
                let table = &self.tables[usize::from(self.selectors[group_no as usize])];
                let Some(symbol) = table.decode(bits)? else {
                    return Ok(Step::More);
                };
                (self.group_no, self.group_pos) = (group_no, group_pos);
                if symbol <= 1 {
                    // RUNA (1) or RUNB (2), times N, adds to the run.
                    let (length, log_n) = self.run.unwrap_or((0, 0));
                    if log_n >= 21 {
                        return Err(SkimError::Data);
                    }
                    self.run = Some((length + ((u32::from(symbol) + 1) << log_n), log_n + 1));
                    return Ok(Step::Go);
                }
                if let Some((length, _)) = self.run.take() {
                    self.nblock += length;
                    if self.nblock > self.block_cap() {
                        return Err(SkimError::Data);
                    }
                }
                if symbol == self.in_use + 1 {
                    // End of block.
                    if self.orig_ptr >= self.nblock {
                        return Err(SkimError::Data);
                    }
                    self.max_block = self.max_block.max(self.nblock);
                    self.total_blocks += u64::from(self.nblock);
                    self.nblock = 0;
                    self.phase = Phase::Magic;
                } else {
                    if self.nblock >= self.block_cap() {
                        return Err(SkimError::Data);
                    }
                    self.nblock += 1;
                }
            }
            Phase::Crc => {
                if bits.take(32).is_none() {
                    return Ok(Step::More);
                }
                bits.pos = bits.pos.div_ceil(8) * 8;
                self.phase = Phase::Done;
            }
            Phase::Done => {}
        }
        Ok(Step::Go)
    }
}

impl Skim for Bzip2Skim {
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
        // The stream header is read from the frame's first bytes: keep them until it is.
        if self.phase == Phase::Header {
            0
        } else {
            self.pos / 8
        }
    }

    fn forget(&mut self, bytes: usize) {
        self.pos -= bytes * 8;
    }

    fn produced(&self) -> u64 {
        // Each byte of a block gives one byte out, except the count bytes of runs
        // (at most one in five, after four equal bytes), which give 0 to 255.
        let blocks = self.total_blocks + u64::from(self.nblock);
        blocks - blocks / 5
    }

    fn reset(&mut self) {
        self.phase = Phase::Header;
        self.pos = 0;
        self.level = 0;
        self.max_block = 0;
        self.total_blocks = 0;
        self.nblock = 0;
        self.run = None;
        // A new stream: libbzip2's tables start zeroed.
        self.tables.clear();
    }
}
