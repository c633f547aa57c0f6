//! Fixed-size records: the Rust analog of easynetwork's `StructSerializer`.

use std::fmt;
use std::marker::PhantomData;

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{ParseError, ProtocolError};

/// A packet that is always exactly [`SIZE`](Self::SIZE) bytes on the wire, numbers in
/// network byte order (big-endian): what a Python `struct.Struct("!...")` format describes.
///
/// Implemented for the integers (`u8` to `u128`, `i8` to `i128`: Python's `B H I Q` /
/// `b h i q`), `f32` and `f64` (`f`, `d`), `bool` (`?`), arrays `[T; N]` (`[u8; N]` is
/// Python's `Ns`) and tuples of up to 12 of them, so `FixedSize<(u32, i16, f64)>` reads
/// and writes what `StructSerializer("!Ihd")` does. For your own type, delegate to a
/// tuple:
///
/// ```
/// use easynet::{FixedSizePacket, ParseError};
///
/// #[derive(Debug, PartialEq)]
/// struct Point {
///     x: i32,
///     y: i32,
///     label: [u8; 4],
/// }
///
/// impl FixedSizePacket for Point {
///     const SIZE: usize = <(i32, i32, [u8; 4])>::SIZE;
///
///     fn write_to(&self, dst: &mut [u8]) {
///         (self.x, self.y, self.label).write_to(dst)
///     }
///
///     fn read_from(src: &[u8]) -> Result<Self, ParseError> {
///         let (x, y, label) = <(i32, i32, [u8; 4])>::read_from(src)?;
///         Ok(Point { x, y, label })
///     }
/// }
///
/// let mut bytes = [0; Point::SIZE];
/// Point { x: 1, y: -1, label: *b"abcd" }.write_to(&mut bytes);
/// assert_eq!(bytes, *b"\x00\x00\x00\x01\xff\xff\xff\xffabcd");
/// ```
pub trait FixedSizePacket: Sized {
    /// The size of every packet, in bytes.
    const SIZE: usize;

    /// Writes the packet into `dst`, which is exactly [`SIZE`](Self::SIZE) bytes long.
    fn write_to(&self, dst: &mut [u8]);

    /// Reads a packet from `src`, which is exactly [`SIZE`](Self::SIZE) bytes long. Bytes
    /// that are no valid packet (a `bool` other than 0 or 1, or your own checks) are a
    /// [`ParseError`].
    fn read_from(src: &[u8]) -> Result<Self, ParseError>;
}

macro_rules! numbers {
    ($($ty:ty),*) => {$(
        impl FixedSizePacket for $ty {
            const SIZE: usize = std::mem::size_of::<$ty>();

            fn write_to(&self, dst: &mut [u8]) {
                dst.copy_from_slice(&self.to_be_bytes());
            }

            fn read_from(src: &[u8]) -> Result<Self, ParseError> {
                match src.try_into() {
                    Ok(bytes) => Ok(<$ty>::from_be_bytes(bytes)),
                    Err(_) => Err(wrong_size::<$ty>(src.len())),
                }
            }
        }
    )*};
}

numbers!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

fn wrong_size<T: FixedSizePacket>(len: usize) -> ParseError {
    ParseError::invalid_msg(format!(
        "invalid record: {len} bytes for a {}-byte {}",
        T::SIZE,
        std::any::type_name::<T>()
    ))
}

impl FixedSizePacket for bool {
    const SIZE: usize = 1;

    fn write_to(&self, dst: &mut [u8]) {
        dst[0] = u8::from(*self);
    }

    /// `0` or `1`; Python reads any non-zero byte as `True`, this refuses them.
    fn read_from(src: &[u8]) -> Result<Self, ParseError> {
        match src {
            [0] => Ok(false),
            [1] => Ok(true),
            [other] => Err(ParseError::invalid_msg(format!(
                "invalid record: byte 0x{other:02x} is not a bool (0 or 1)"
            ))),
            _ => Err(wrong_size::<bool>(src.len())),
        }
    }
}

impl<T: FixedSizePacket, const N: usize> FixedSizePacket for [T; N] {
    const SIZE: usize = T::SIZE * N;

    fn write_to(&self, dst: &mut [u8]) {
        for (item, dst) in self.iter().zip(dst.chunks_exact_mut(T::SIZE.max(1))) {
            item.write_to(dst);
        }
    }

    fn read_from(src: &[u8]) -> Result<Self, ParseError> {
        if src.len() != Self::SIZE {
            return Err(wrong_size::<Self>(src.len()));
        }
        let mut error = None;
        let items: [Option<T>; N] = std::array::from_fn(|i| {
            if error.is_some() {
                return None;
            }
            match T::read_from(&src[i * T::SIZE..(i + 1) * T::SIZE]) {
                Ok(item) => Some(item),
                Err(e) => {
                    error = Some(e);
                    None
                }
            }
        });
        if let Some(e) = error {
            return Err(e);
        }
        let mut items = items.into_iter();
        Ok(std::array::from_fn(|_| {
            items
                .next()
                .flatten()
                .expect("every item was read, or an error returned")
        }))
    }
}

macro_rules! tuples {
    ($(($($name:ident),+))*) => {$(
        impl<$($name: FixedSizePacket),+> FixedSizePacket for ($($name,)+) {
            const SIZE: usize = 0 $(+ $name::SIZE)+;

            #[allow(non_snake_case, unused_assignments)]
            fn write_to(&self, dst: &mut [u8]) {
                let ($($name,)+) = self;
                let mut at = 0;
                $(
                    $name.write_to(&mut dst[at..at + <$name as FixedSizePacket>::SIZE]);
                    at += <$name as FixedSizePacket>::SIZE;
                )+
            }

            #[allow(non_snake_case, unused_assignments)]
            fn read_from(src: &[u8]) -> Result<Self, ParseError> {
                if src.len() != Self::SIZE {
                    return Err(wrong_size::<Self>(src.len()));
                }
                let mut at = 0;
                $(
                    let $name = $name::read_from(&src[at..at + $name::SIZE])?;
                    at += $name::SIZE;
                )+
                Ok(($($name,)+))
            }
        }
    )*};
}

tuples! {
    (A)
    (A, B)
    (A, B, C)
    (A, B, C, D)
    (A, B, C, D, E)
    (A, B, C, D, E, F)
    (A, B, C, D, E, F, G)
    (A, B, C, D, E, F, G, H)
    (A, B, C, D, E, F, G, H, I)
    (A, B, C, D, E, F, G, H, I, J)
    (A, B, C, D, E, F, G, H, I, J, K)
    (A, B, C, D, E, F, G, H, I, J, K, L)
}

/// Fixed-size records: every packet is exactly `T::SIZE` bytes, with no separator. The
/// Rust analog of easynetwork's `StructSerializer` (and `NamedTupleStructSerializer`):
/// `FixedSize<(u32, i16, f64)>` talks to Python's
/// `StreamProtocol(StructSerializer("!Ihd"))`. See [`FixedSizePacket`].
///
/// A record that `T` refuses is an `InvalidPacket` parse error; the next record decodes
/// normally (the stream cannot lose its place). The frame size is `T::SIZE`: no limit
/// to set.
pub struct FixedSize<T> {
    _packet: PhantomData<fn() -> T>,
}

impl<T: FixedSizePacket> FixedSize<T> {
    /// Records of `T::SIZE` bytes.
    ///
    /// # Panics
    ///
    /// If `T::SIZE` is 0: a stream of empty records would never advance.
    pub fn new() -> Self {
        assert!(T::SIZE > 0, "a fixed-size record cannot be empty");
        FixedSize {
            _packet: PhantomData,
        }
    }
}

impl<T: FixedSizePacket> Default for FixedSize<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for FixedSize<T> {
    fn clone(&self) -> Self {
        FixedSize {
            _packet: PhantomData,
        }
    }
}

impl<T: FixedSizePacket> fmt::Debug for FixedSize<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedSize").field("size", &T::SIZE).finish()
    }
}

impl<T: FixedSizePacket> Decoder for FixedSize<T> {
    type Item = T;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<T>, ProtocolError> {
        if src.len() < T::SIZE {
            src.reserve(T::SIZE - src.len());
            return Ok(None);
        }
        let packet = T::read_from(&src[..T::SIZE]);
        src.advance(T::SIZE);
        Ok(Some(packet?))
    }
}

impl<T: FixedSizePacket> Encoder<&T> for FixedSize<T> {
    type Error = ProtocolError;

    fn encode(&mut self, packet: &T, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let start = dst.len();
        dst.resize(start + T::SIZE, 0);
        packet.write_to(&mut dst[start..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_struct_layouts() {
        // struct.pack("!Ihd?4s", 7, -2, 1.5, True, b"abcd")
        type Record = (u32, i16, f64, bool, [u8; 4]);
        assert_eq!(Record::SIZE, 4 + 2 + 8 + 1 + 4);
        let record: Record = (7, -2, 1.5, true, *b"abcd");
        let mut buf = BytesMut::new();
        let mut codec = FixedSize::<Record>::new();
        codec.encode(&record, &mut buf).unwrap();
        assert_eq!(
            &buf[..],
            b"\x00\x00\x00\x07\xff\xfe\x3f\xf8\x00\x00\x00\x00\x00\x00\x01abcd"
        );
        buf.extend_from_slice(&buf.clone());
        buf[Record::SIZE + 14] = 2; // a bad bool in the second record
        buf.extend_from_slice(&buf.clone()[..Record::SIZE]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(record));
        assert!(codec.decode(&mut buf).is_err());
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(record));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(<[(u8, i16); 3]>::SIZE, 9);
        assert_eq!(
            <[(u8, i16); 3]>::read_from(b"\x01\x00\x02\x03\x00\x04\x05\xff\xff").unwrap(),
            [(1, 2), (3, 4), (5, -1)]
        );
    }
}
