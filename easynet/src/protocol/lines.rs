//! Line framing, and the two line protocols built on it: [`StringLines`] and
//! [`BytesLines`]. [`JsonLines`](super::JsonLines) uses the same framing.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::DEFAULT_MAX_FRAME_SIZE;
use crate::error::{ParseError, ProtocolError};

/// Finds separator-terminated frames in a buffer, with a size limit.
///
/// It remembers how far it has searched, so bytes are scanned once however they arrive.
/// A frame longer than the limit is reported once, then skipped up to its separator
/// without being buffered: the buffer never holds more than the limit plus one read.
#[derive(Debug, Clone)]
pub(crate) struct LineFramer {
    separator: &'static [u8],
    max_frame_size: usize,
    /// How many bytes at the front of the buffer are known to hold no separator.
    searched: usize,
    /// Skipping the rest of an over-long frame.
    discarding: bool,
}

impl LineFramer {
    pub(crate) fn new(separator: &'static [u8], max_frame_size: usize) -> Self {
        assert!(!separator.is_empty(), "the separator cannot be empty");
        LineFramer {
            separator,
            max_frame_size,
            searched: 0,
            discarding: false,
        }
    }

    #[cfg_attr(not(any(feature = "json", feature = "base64")), allow(dead_code))]
    pub(crate) fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// The length of the next complete frame at the front of `buf` (without its
    /// separator), or `None` if more bytes are needed. The caller reads the frame from
    /// `buf[..len]` and then calls [`consume`](Self::consume).
    pub(crate) fn next_frame(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, ParseError> {
        let sep_len = self.separator.len();
        loop {
            let start = self.searched.saturating_sub(sep_len - 1);
            let found = find(&buf[start..], self.separator).map(|i| start + i);
            match found {
                Some(len) if self.discarding => {
                    // The end of an over-long frame: drop it, go on with the next one.
                    buf.advance(len + sep_len);
                    self.searched = 0;
                    self.discarding = false;
                }
                Some(len) if len > self.max_frame_size => {
                    buf.advance(len + sep_len);
                    self.searched = 0;
                    return Err(ParseError::frame_too_large(self.max_frame_size));
                }
                Some(len) => return Ok(Some(len)),
                None if self.discarding => {
                    self.drop_all_but_tail(buf);
                    return Ok(None);
                }
                None if buf.len() > self.max_frame_size => {
                    self.drop_all_but_tail(buf);
                    self.discarding = true;
                    return Err(ParseError::frame_too_large(self.max_frame_size));
                }
                None => {
                    self.searched = buf.len();
                    return Ok(None);
                }
            }
        }
    }

    /// Removes the frame of `len` bytes (and its separator) that `next_frame` found.
    pub(crate) fn consume(&mut self, buf: &mut BytesMut, len: usize) {
        buf.advance(len + self.separator.len());
        self.searched = 0;
    }

    /// Drops the buffered bytes of a frame being discarded, keeping what could be the
    /// start of a separator split across two reads.
    fn drop_all_but_tail(&mut self, buf: &mut BytesMut) {
        let keep = (self.separator.len() - 1).min(buf.len());
        buf.advance(buf.len() - keep);
        self.searched = buf.len();
    }

    pub(crate) fn separator(&self) -> &'static [u8] {
        self.separator
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [byte] => memchr::memchr(*byte, haystack),
        _ => memchr::memmem::find(haystack, needle),
    }
}

/// The line separator of [`StringLines`] and [`BytesLines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Newline {
    /// `\n` (the default, as easynetwork's `StringLineSerializer`).
    #[default]
    Lf,
    /// `\r`.
    Cr,
    /// `\r\n`.
    CrLf,
}

impl Newline {
    /// The separator's bytes.
    pub(crate) fn bytes(self) -> &'static [u8] {
        match self {
            Newline::Lf => b"\n",
            Newline::Cr => b"\r",
            Newline::CrLf => b"\r\n",
        }
    }
}

/// Text lines: each packet is a `String`, sent as UTF-8 followed by a newline.
///
/// The analog of easynetwork's `StringLineSerializer`; the packet does not include the
/// newline. A received line that is not valid UTF-8 is a parse error. A packet that
/// contains the newline cannot be sent (it would be read back as two packets).
///
/// easynetwork's `StringLineSerializer` defaults to ASCII; this protocol defaults to
/// UTF-8, the encoding of Rust strings; [`ascii`](Self::ascii) restricts it.
#[derive(Debug, Clone)]
pub struct StringLines {
    framer: LineFramer,
    ascii: bool,
}

impl StringLines {
    /// `\n`-separated UTF-8 lines, with the default 64 KiB frame limit.
    pub fn new() -> Self {
        Self::with_newline(Newline::Lf)
    }

    /// Lines separated by `newline`.
    pub fn with_newline(newline: Newline) -> Self {
        StringLines {
            framer: LineFramer::new(newline.bytes(), DEFAULT_MAX_FRAME_SIZE),
            ascii: false,
        }
    }

    /// Sets the maximum size of a received line, in bytes.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.framer = LineFramer::new(self.framer.separator(), max);
        self
    }

    /// Accepts and sends only ASCII text, as easynetwork's default `encoding="ascii"`.
    pub fn ascii(mut self) -> Self {
        self.ascii = true;
        self
    }
}

impl Default for StringLines {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for StringLines {
    type Item = String;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<String>, ProtocolError> {
        let Some(len) = self.framer.next_frame(src)? else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&src[..len]).map(str::to_owned);
        self.framer.consume(src, len);
        let line = line.map_err(|e| ParseError::invalid("invalid UTF-8", e))?;
        if self.ascii && !line.is_ascii() {
            return Err(
                ParseError::invalid_msg("invalid ASCII: line has non-ASCII characters").into(),
            );
        }
        Ok(Some(line))
    }
}

impl<S: AsRef<str> + ?Sized> Encoder<&S> for StringLines {
    type Error = ProtocolError;

    fn encode(&mut self, line: &S, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let line = line.as_ref();
        if self.ascii && !line.is_ascii() {
            return Err(ProtocolError::Serialize(
                "line has non-ASCII characters".into(),
            ));
        }
        if find(line.as_bytes(), self.framer.separator()).is_some() {
            return Err(ProtocolError::Serialize("line contains the newline".into()));
        }
        dst.reserve(line.len() + self.framer.separator().len());
        dst.put_slice(line.as_bytes());
        dst.put_slice(self.framer.separator());
        Ok(())
    }
}

/// Byte lines: each packet is the raw bytes of one line, without its newline.
///
/// Decoding does not copy: each packet is a [`Bytes`] view of the receive buffer.
#[derive(Debug, Clone)]
pub struct BytesLines {
    framer: LineFramer,
}

impl BytesLines {
    /// `\n`-separated lines, with the default 64 KiB frame limit.
    pub fn new() -> Self {
        Self::with_newline(Newline::Lf)
    }

    /// Lines separated by `newline`.
    pub fn with_newline(newline: Newline) -> Self {
        BytesLines {
            framer: LineFramer::new(newline.bytes(), DEFAULT_MAX_FRAME_SIZE),
        }
    }

    /// Sets the maximum size of a received line, in bytes.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.framer = LineFramer::new(self.framer.separator(), max);
        self
    }
}

impl Default for BytesLines {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for BytesLines {
    type Item = Bytes;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        let Some(len) = self.framer.next_frame(src)? else {
            return Ok(None);
        };
        let line = src.split_to(len).freeze();
        self.framer.consume(src, 0);
        Ok(Some(line))
    }
}

impl<B: AsRef<[u8]> + ?Sized> Encoder<&B> for BytesLines {
    type Error = ProtocolError;

    fn encode(&mut self, line: &B, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let line = line.as_ref();
        if find(line, self.framer.separator()).is_some() {
            return Err(ProtocolError::Serialize("line contains the newline".into()));
        }
        dst.reserve(line.len() + self.framer.separator().len());
        dst.put_slice(line);
        dst.put_slice(self.framer.separator());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParseErrorKind;

    fn decode_all<D: Decoder<Error = ProtocolError>>(
        codec: &mut D,
        chunks: &[&[u8]],
    ) -> Vec<Result<D::Item, ParseErrorKind>> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(item)) => out.push(Ok(item)),
                    Ok(None) => break,
                    Err(ProtocolError::Parse(e)) => out.push(Err(e.kind())),
                    Err(e) => panic!("unexpected {e}"),
                }
            }
        }
        out
    }

    #[test]
    fn lines_split_anywhere_decode_the_same() {
        let stream = b"hello\nworld\n\nlast\n";
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            let got = decode_all(&mut StringLines::new(), &[a, b]);
            let got: Vec<String> = got.into_iter().map(Result::unwrap).collect();
            assert_eq!(got, ["hello", "world", "", "last"], "split at {split}");
        }
    }

    #[test]
    fn crlf_separator_split_between_reads() {
        let got = decode_all(
            &mut StringLines::with_newline(Newline::CrLf),
            &[b"a\r", b"\nb\rc\r", b"\n"],
        );
        let got: Vec<String> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, ["a", "b\rc"]);
    }

    #[test]
    fn too_long_line_is_one_error_then_the_stream_goes_on() {
        let mut codec = BytesLines::new().max_frame_size(8);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"0123456789");
        assert!(
            matches!(codec.decode(&mut buf), Err(ProtocolError::Parse(e)) if e.kind() == ParseErrorKind::FrameTooLarge)
        );
        assert!(buf.is_empty(), "the over-long frame is not kept");
        buf.extend_from_slice(b"abcdefghijklmnop");
        assert!(matches!(codec.decode(&mut buf), Ok(None)));
        assert!(buf.is_empty());
        buf.extend_from_slice(b"xyz\nok\n");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "ok");
        assert!(codec.decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn too_long_line_arriving_whole_is_skipped() {
        let got = decode_all(
            &mut BytesLines::new().max_frame_size(4),
            &[b"12345678\nabc\n"],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Err(ParseErrorKind::FrameTooLarge));
        assert_eq!(got[1].as_ref().unwrap(), &Bytes::from_static(b"abc"));
    }

    #[test]
    fn bad_utf8_is_a_parse_error() {
        let got = decode_all(&mut StringLines::new(), &[b"\xff\xfe\nok\n"]);
        assert_eq!(got[0], Err(ParseErrorKind::InvalidPacket));
        assert_eq!(got[1].as_deref(), Ok("ok"));
        let got = decode_all(&mut StringLines::new().ascii(), &[b"caf\xc3\xa9\n"]);
        assert_eq!(got[0], Err(ParseErrorKind::InvalidPacket));
    }

    #[test]
    fn encoding_refuses_embedded_newlines() {
        let mut buf = BytesMut::new();
        StringLines::new().encode("ok", &mut buf).unwrap();
        assert_eq!(&buf[..], b"ok\n");
        assert!(StringLines::new().encode("a\nb", &mut buf).is_err());
        assert!(
            BytesLines::new()
                .encode(b"a\nb".as_slice(), &mut buf)
                .is_err()
        );
        assert_eq!(&buf[..], b"ok\n", "nothing written on error");
    }
}
