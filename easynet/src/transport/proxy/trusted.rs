//! [`TrustedSources`]: the addresses and CIDR ranges a PROXY protocol header is taken
//! from, parsed from `127.0.0.1,10.0.0.0/8,::1`.
//!
//! A small parser of our own rather than a crate: the whole job is an address, an
//! optional prefix length, and a masked comparison.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::transport::Address;

/// The sources a server takes a PROXY protocol header from: IP addresses and CIDR ranges
/// (`10.0.0.0/8`, `fd00::/8`), or every connection ([`TrustedSources::all`]).
///
/// A connection from a trusted source must begin with a header (or it is closed); a
/// connection from any other source is served as a plain one, its first bytes being
/// data, whatever they look like: the server never guesses whether a header is there.
///
/// Parsed from a comma-separated list, as the echo tools' `--proxy-protocol` takes it:
///
/// ```
/// let trusted: easynet::TrustedSources = "127.0.0.1, 10.0.0.0/8,::1".parse().unwrap();
/// assert!(trusted.contains("10.1.2.3".parse().unwrap()));
/// assert!(!trusted.contains("192.0.2.1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<easynet::TrustedSources>().is_err());
/// ```
///
/// An IPv4-mapped IPv6 peer (`::ffff:10.1.2.3`, from a dual-stack listener) is matched
/// as the IPv4 address it carries. A Unix-socket peer has no IP address: only
/// [`TrustedSources::all`] trusts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedSources {
    all: bool,
    ranges: Vec<Range>,
}

/// One address range: an address with its low bits cleared, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    network: IpAddr,
    prefix: u8,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask(u128::from(u32::from(ip)), 32, self.prefix) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(ip), 128, self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// Keeps the `prefix` high bits of a `width`-bit address.
fn mask(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u32::from(width - prefix);
    (bits >> keep) << keep
}

impl TrustedSources {
    /// No source: every connection is plain (what a server without the PROXY protocol
    /// does).
    pub fn none() -> Self {
        TrustedSources::default()
    }

    /// Every connection, whatever its source (Unix sockets included) must send a
    /// header: for a listener only the proxy can reach, such as a Unix socket whose file
    /// permissions admit only the proxy's user.
    pub fn all() -> Self {
        TrustedSources {
            all: true,
            ranges: Vec::new(),
        }
    }

    /// Whether nothing is trusted.
    pub fn is_empty(&self) -> bool {
        !self.all && self.ranges.is_empty()
    }

    /// Whether a connection from `ip` must send a header.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.all || self.ranges.iter().any(|range| range.contains(ip))
    }

    /// Whether a connection from this peer must send a header.
    pub(crate) fn trusts(&self, peer: &Address) -> bool {
        self.all || peer.as_inet().is_some_and(|addr| self.contains(addr.ip()))
    }
}

/// Why a list of trusted sources did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trusted source {item:?}: {reason}")]
pub struct TrustedSourcesError {
    item: String,
    reason: &'static str,
}

impl FromStr for TrustedSources {
    type Err = TrustedSourcesError;

    /// Comma-separated IP addresses and CIDR ranges; spaces around items are ignored.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut sources = TrustedSources::none();
        for item in list.split(',').map(str::trim) {
            let error = |reason| TrustedSourcesError {
                item: item.to_owned(),
                reason,
            };
            if item.is_empty() {
                return Err(error("empty item"));
            }
            let (addr, prefix) = match item.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (item, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| error("not an IP address"))?;
            let width = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => width,
                Some(p) => Some(p)
                    .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|p| p.parse::<u8>().ok())
                    .filter(|p| *p <= width)
                    .ok_or_else(|| {
                        error("the prefix length is not a number up to 32 (IPv4) or 128 (IPv6)")
                    })?,
            };
            let network = match addr {
                IpAddr::V4(a) => {
                    IpAddr::V4((mask(u128::from(u32::from(a)), 32, prefix) as u32).into())
                }
                IpAddr::V6(a) => IpAddr::V6(mask(u128::from(a), 128, prefix).into()),
            };
            sources.ranges.push(Range { network, prefix });
        }
        Ok(sources)
    }
}

impl fmt::Display for TrustedSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("(all)");
        }
        for (i, range) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}/{}", range.network, range.prefix)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_and_ranges() {
        let t: TrustedSources = "127.0.0.1,10.0.0.0/8, 192.168.1.7/24 ,::1,fd00::/8"
            .parse()
            .unwrap();
        assert!(t.contains(ip("127.0.0.1")));
        assert!(!t.contains(ip("127.0.0.2")));
        assert!(t.contains(ip("10.255.0.1")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(t.contains(ip("192.168.1.200")));
        assert!(!t.contains(ip("192.168.2.1")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("fd12::5")));
        assert!(!t.contains(ip("fe80::1")));
        assert!(t.contains(ip("::ffff:10.1.2.3")), "mapped IPv4");
        assert_eq!(
            t.to_string(),
            "127.0.0.1/32,10.0.0.0/8,192.168.1.0/24,::1/128,fd00::/8"
        );
        let any: TrustedSources = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains(ip("203.0.113.9")));
        assert!(!any.contains(ip("::1")));
    }

    #[test]
    fn bad_lists_are_refused() {
        for bad in [
            "",
            "127.0.0.1,",
            "localhost",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "1.2.3.4/8/8",
        ] {
            let e = bad.parse::<TrustedSources>().unwrap_err();
            assert!(
                e.to_string().starts_with("invalid trusted source"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn all_and_none() {
        assert!(TrustedSources::all().trusts(&Address::Unix(None)));
        assert!(!TrustedSources::none().trusts(&Address::Inet("127.0.0.1:1".parse().unwrap())));
        assert!(TrustedSources::none().is_empty());
        let lo: TrustedSources = "127.0.0.1".parse().unwrap();
        assert!(!lo.trusts(&Address::Unix(None)));
    }
}
