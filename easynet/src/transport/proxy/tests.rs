//! Parsing the PROXY protocol spec's examples, and what must be refused.

use super::*;
use crate::transport::Address;

fn proxy() -> Address {
    Address::Inet("127.0.0.1:40000".parse().unwrap())
}

fn inet(s: &str) -> Option<Address> {
    Some(Address::Inet(s.parse().unwrap()))
}

fn complete(bytes: &[u8]) -> (Header, usize) {
    match parse(bytes, &proxy()) {
        Ok(Parsed::Complete(header, len)) => (header, len),
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
    }
}

fn info_of(bytes: &[u8]) -> ProxyInfo {
    match complete(bytes).0 {
        Header::Proxy(info) => info,
        Header::Local => panic!("LOCAL"),
    }
}

/// A v2 header: signature, version/command, family/protocol, then `body`.
fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.push(0x20 | command);
    bytes.push(family);
    bytes.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    bytes.extend(body);
    bytes
}

fn v2_inet4_body() -> Vec<u8> {
    let mut body = vec![192, 168, 0, 1, 192, 168, 0, 11];
    body.extend(56324u16.to_be_bytes());
    body.extend(443u16.to_be_bytes());
    body
}

#[test]
fn v1_tcp4_spec_example() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    let mut bytes = line.to_vec();
    bytes.extend(b"GET / HTTP/1.1\r\n");
    let (header, len) = complete(&bytes);
    assert_eq!(
        len,
        line.len(),
        "the data after the header is not the header's"
    );
    let Header::Proxy(info) = header else {
        panic!()
    };
    assert_eq!(info.version(), 1);
    assert_eq!(info.source(), inet("192.168.0.1:56324").as_ref());
    assert_eq!(info.destination(), inet("192.168.0.11:443").as_ref());
    assert_eq!(info.proxy_address(), &proxy());
    assert_eq!(info.alpn(), None);
}

#[test]
fn v1_tcp6_and_unknown_spec_examples() {
    let tcp6 = info_of(b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 443\r\n");
    assert_eq!(tcp6.source(), inet("[2001:db8::1]:65535").as_ref());
    assert_eq!(tcp6.destination(), inet("[2001:db8::2]:443").as_ref());
    // The spec's worst case: 107 bytes exactly.
    let worst = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(worst.len(), 107);
    let unknown = info_of(worst);
    assert_eq!(unknown.source(), None, "UNKNOWN keeps the real addresses");
    assert_eq!(info_of(b"PROXY UNKNOWN\r\n").source(), None);
}

#[test]
fn v1_incomplete_then_refused() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    for end in 0..line.len() {
        assert_eq!(
            parse(&line[..end], &proxy()),
            Ok(Parsed::Incomplete),
            "{end} bytes"
        );
    }
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(107, b'1');
    assert!(
        parse(&long, &proxy())
            .unwrap_err()
            .0
            .contains("longer than 107")
    );
    for bad in [
        &b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n"[..],
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
        b"PROXY tcp4 192.168.0.1 192.168.0.11 1 2\r\n",
        b"PROXY  TCP4 192.168.0.1 192.168.0.11 1 2\r\n",
        b"proxy TCP4 192.168.0.1 192.168.0.11 1 2\r\n",
        b"GET / HTTP/1.1\r\n",
        b"{\"json\": 1}\n",
    ] {
        let parsed = parse(bad, &proxy());
        assert!(
            parsed.is_err(),
            "{:?}: {parsed:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn v2_proxy_inet4_and_inet6() {
    let mut bytes = v2(0x1, 0x11, &v2_inet4_body());
    assert_eq!(bytes.len(), 28, "HAProxy's IPv4 header is 28 bytes");
    bytes.extend(b"{}\n");
    let (header, len) = complete(&bytes);
    assert_eq!(len, 28);
    let Header::Proxy(info) = header else {
        panic!()
    };
    assert_eq!(info.version(), 2);
    assert_eq!(info.source(), inet("192.168.0.1:56324").as_ref());
    assert_eq!(info.destination(), inet("192.168.0.11:443").as_ref());

    let mut body = "2001:db8::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets()
        .to_vec();
    body.extend(
        "2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    body.extend(1234u16.to_be_bytes());
    body.extend(80u16.to_be_bytes());
    let info6 = info_of(&v2(0x1, 0x21, &body));
    assert_eq!(info6.source(), inet("[2001:db8::1]:1234").as_ref());
}

#[test]
fn v2_local_and_unspec() {
    // HAProxy's health checks: LOCAL, AF_UNSPEC, no address block.
    assert_eq!(complete(&v2(0x0, 0x00, &[])), (Header::Local, 16));
    // LOCAL with addresses: still LOCAL (the addresses are ignored).
    assert_eq!(complete(&v2(0x0, 0x11, &v2_inet4_body())).0, Header::Local);
    assert_eq!(info_of(&v2(0x1, 0x00, &[])).source(), None);
}

#[test]
fn v2_tlvs() {
    let mut body = v2_inet4_body();
    for (kind, value) in [
        (0x01u8, &b"h2"[..]),
        (0x02, b"example.com"),
        (0x05, b"id-42"),
        (0x04, b""),
    ] {
        body.push(kind);
        body.extend(u16::try_from(value.len()).unwrap().to_be_bytes());
        body.extend(value);
    }
    let info = info_of(&v2(0x1, 0x11, &body));
    assert_eq!(info.alpn(), Some(&b"h2"[..]));
    assert_eq!(info.authority(), Some("example.com"));
    assert_eq!(info.unique_id(), Some(&b"id-42"[..]));
    assert_eq!(info.tlv(0x04), Some(&b""[..]));
    assert_eq!(info.tlv(0x30), None);

    // A TLV running past the header's end.
    let mut bad = v2_inet4_body();
    bad.extend([0x01, 0x00, 0x05, b'h']);
    assert!(parse(&v2(0x1, 0x11, &bad), &proxy()).is_err());
}

#[test]
fn v2_truncated_is_incomplete_and_bad_signature_refused() {
    let bytes = v2(0x1, 0x11, &v2_inet4_body());
    for end in 0..bytes.len() {
        assert_eq!(
            parse(&bytes[..end], &proxy()),
            Ok(Parsed::Incomplete),
            "{end} bytes"
        );
    }
    let mut sig = bytes.clone();
    sig[5] = b'X';
    assert!(parse(&sig, &proxy()).is_err());
    assert!(
        parse(&sig[..8], &proxy()).is_err(),
        "refused before the whole signature"
    );
    let mut version = bytes.clone();
    version[12] = 0x11;
    assert!(
        parse(&version, &proxy()).is_err(),
        "version 1 in a binary header"
    );
    let mut command = bytes.clone();
    command[12] = 0x22;
    assert!(parse(&command, &proxy()).is_err());
    let mut family = bytes.clone();
    family[13] = 0x41;
    assert!(parse(&family, &proxy()).is_err());
    // Too short for its address family.
    assert!(parse(&v2(0x1, 0x11, &[1, 2, 3]), &proxy()).is_err());
}

#[test]
fn v2_unix_addresses() {
    let mut body = vec![0u8; 216];
    body[..9].copy_from_slice(b"/tmp/a.sk");
    let info = info_of(&v2(0x1, 0x31, &body));
    assert_eq!(
        info.source(),
        Some(&Address::Unix(Some("/tmp/a.sk".into())))
    );
    assert_eq!(info.destination(), Some(&Address::Unix(None)));
}
