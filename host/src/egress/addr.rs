//! Vetting of IP addresses an outbound request may connect to.
//!
//! Owns [`AddressPolicy`]: refuses loopback, private (RFC 1918), shared CGNAT, link-local
//! (including the 169.254.169.254 metadata address), unique-local, site-local,
//! unspecified, multicast, broadcast, reserved, benchmarking and documentation ranges,
//! and every IPv6 address outside global unicast (`2000::/3`), unless an operator CIDR
//! admits the address. IPv6 transition forms that carry an IPv4 address are judged by
//! that address: IPv4-mapped (`::ffff:0:0/96`), IPv4-translated (SIIT, `::ffff:0:0:0/96`),
//! NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`). Forms whose target cannot be read
//! from the address or that have no legitimate use are refused outright:
//! IPv4-compatible (`::/96`), local-use NAT64 (`64:ff9b:1::/48`) and Teredo (`2001::/32`,
//! whose client address is obfuscated).
//!
//! An operator CIDR admits an address exactly as it will be dialed: allowing
//! `127.0.0.1/32` does not admit `::ffff:127.0.0.1`, so an IPv4 allowance is never
//! widened by an IPv6 spelling. This module does no I/O; `resolve` calls it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Which addresses may be dialed: the built-in refusals minus operator allowances.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    /// A policy that refuses every special-purpose range except those in `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// `Ok` when `ip` may be dialed, else the name of the refused range it falls in.
    pub fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match blocked_range(ip) {
            Some(range) => Err(range),
            None => Ok(()),
        }
    }
}

/// The name of the refused range `ip` is in, or `None` for an ordinary public address.
pub(crate) fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

const V4_BLOCKS: &[([u8; 4], u32, &str)] = &[
    ([255, 255, 255, 255], 32, "broadcast"),
    ([0, 0, 0, 0], 8, "unspecified (\"this network\")"),
    ([10, 0, 0, 0], 8, "private (RFC 1918)"),
    ([100, 64, 0, 0], 10, "shared address space (CGNAT)"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local (cloud metadata)"),
    ([172, 16, 0, 0], 12, "private (RFC 1918)"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast"),
    ([192, 168, 0, 0], 16, "private (RFC 1918)"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_BLOCKS
        .iter()
        .find(|(net, len, _)| in_v4(ip, *net, *len))
        .map(|(_, _, name)| *name)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

const V6_BLOCKS: &[([u16; 8], u32, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"),
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use NAT64"),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo"),
    ([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "benchmarking"),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique-local"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(name) = V6_BLOCKS
        .iter()
        .find(|(net, len, _)| in_v6(ip, *net, *len))
        .map(|(_, _, name)| *name)
    {
        return Some(name);
    }
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (SIIT translated) and 64:ff9b::a.b.c.d
    // (NAT64) reach the embedded IPv4 host.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) {
        return blocked_v4(low32).map(|_| "IPv4-mapped form of a refused IPv4 range");
    }
    if in_v6(ip, [0, 0, 0, 0, 0xffff, 0, 0, 0], 96) {
        return blocked_v4(low32).map(|_| "IPv4-translated (SIIT) form of a refused IPv4 range");
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return blocked_v4(low32).map(|_| "NAT64 form of a refused IPv4 range");
    }
    // ::a.b.c.d (IPv4-compatible) is deprecated and has no legitimate use any more.
    if in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 96) {
        return Some("IPv4-compatible IPv6 (deprecated)");
    }
    // 2002:AABB:CCDD::/48 carries the IPv4 address AA.BB.CC.DD (6to4).
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        let embedded = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return blocked_v4(embedded).map(|_| "6to4 form of a refused IPv4 range");
    }
    // Only 2000::/3 is allocated for global unicast; anything else is special-purpose or
    // unallocated.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return Some("outside IPv6 global unicast (2000::/3)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &AddressPolicy, ip: &str) -> bool {
        policy.check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn refuses_special_v4_ranges() {
        let p = AddressPolicy::default();
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.99",
            "198.18.0.1",
        ] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
    }

    #[test]
    fn admits_public_addresses() {
        let p = AddressPolicy::default();
        for ip in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:0:808:808",
            "::ffff:0:8.8.8.8",
            "2a00:1450:4001::200e",
        ] {
            assert!(!refused(&p, ip), "{ip} should be admitted");
        }
    }

    #[test]
    fn refuses_special_v6_ranges_and_v4_spellings() {
        let p = AddressPolicy::default();
        for ip in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
        ] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
    }

    #[test]
    fn refuses_siit_and_other_transition_forms_of_refused_v4() {
        let p = AddressPolicy::default();
        // IPv4-translated (SIIT, ::ffff:0:0:0/96): judged by the embedded IPv4 address.
        for ip in [
            "::ffff:0:127.0.0.1",
            "::ffff:0:7f00:1",
            "::ffff:0:169.254.169.254",
            "::ffff:0:10.0.0.1",
            "::ffff:0:192.168.1.1",
            "::ffff:0:0.0.0.0",
        ] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
        assert_eq!(
            p.check("::ffff:0:7f00:1".parse().unwrap()),
            Err("IPv4-translated (SIIT) form of a refused IPv4 range")
        );
        // NAT64 well-known prefix judged by the embedded address; local-use NAT64 and
        // Teredo refused outright, public embedded address or not.
        for ip in [
            "64:ff9b::10.0.0.1",
            "64:ff9b::192.168.0.1",
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff::1",
            "2001:0:808:808::1",
            "2001::ffff:ffff",
            "2002:a00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::1",
            "2001:2::1",
        ] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
        // Unallocated space outside 2000::/3 is not reachable unicast.
        for ip in ["4000::1", "100:1::1", "::2:1:1:1:1"] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
        // An operator CIDR still admits exactly what it names.
        let allowed = AddressPolicy::new(vec!["::ffff:0:0:0/96".parse().unwrap()]);
        assert!(!refused(&allowed, "::ffff:0:7f00:1"));
    }

    #[test]
    fn operator_cidr_admits_exactly_as_written() {
        let p = AddressPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(!refused(&p, "127.0.0.1"));
        assert!(refused(&p, "127.0.0.2"));
        assert!(refused(&p, "::ffff:127.0.0.1"));
        assert!(refused(&p, "::1"));
        let p6 = AddressPolicy::new(vec!["fd00::/8".parse().unwrap()]);
        assert!(!refused(&p6, "fd00::5"));
        assert!(refused(&p6, "fc00::5"));
    }

    #[test]
    fn refusal_names_the_range() {
        let p = AddressPolicy::default();
        assert_eq!(
            p.check("169.254.169.254".parse().unwrap()),
            Err("link-local (cloud metadata)")
        );
    }
}
