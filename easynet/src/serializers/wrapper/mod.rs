//! Serializer wrappers, as easynetwork's `serializers.wrapper`: each takes any serializer
//! and changes its bytes (base64 text, zlib or bzip2 compression). Each is also a stream
//! protocol (a tokio-util codec) on its own, with easynetwork's framing for it.

#[cfg(feature = "base64")]
mod base64;
#[cfg(feature = "bz2")]
mod bz2;
#[cfg(feature = "zlib")]
mod zlib;

#[cfg(feature = "base64")]
pub use self::base64::{Alphabet, Base64, InvalidKey};
#[cfg(feature = "bz2")]
pub use self::bz2::Bz2;
#[cfg(feature = "zlib")]
pub use self::zlib::Zlib;
