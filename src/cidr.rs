//! IP address ranges in CIDR notation (`10.0.0.0/8`, `fd00::/8`), parsed strictly.
//!
//! # Contract
//! - The form is `ADDRESS/PREFIX`: an IPv4 address in dotted-quad form or an IPv6 address (as Rust's
//!   standard parsers read them: no leading zeros in IPv4 octets, no zone id), `/`, and a prefix
//!   length of ASCII digits without a sign or leading zero (`0`–`32` for IPv4, `0`–`128` for IPv6).
//!   A bare address, bits set beyond the prefix (`10.0.0.1/8`), spaces, or anything else is refused:
//!   a typo in a trust list must not widen or shrink it silently.
//! - An IPv4 range also contains the IPv4-mapped IPv6 form of its addresses (`::ffff:10.1.2.3`, as a
//!   dual-stack listener reports an IPv4 peer).

use std::net::IpAddr;

/// One range of IP addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDRESS/PREFIX` strictly (see the module contract); the error says what is wrong.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let Some((addr, prefix)) = s.split_once('/') else {
            return Err(format!(
                "{s:?} is not in CIDR form ADDRESS/PREFIX (a single address is ADDRESS/32 or ADDRESS/128)"
            ));
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 or IPv6 address"))?;
        let max: u8 = if network.is_ipv4() { 32 } else { 128 };
        let digits_ok = !prefix.is_empty()
            && prefix.len() <= 3
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && (prefix == "0" || !prefix.starts_with('0'));
        let prefix = match prefix.parse::<u8>() {
            Ok(p) if digits_ok && p <= max => p,
            _ => return Err(format!("the prefix length must be 0-{max}, got {prefix:?}")),
        };
        let cidr = Cidr { network, prefix };
        if cidr.masked(network) != network {
            return Err(format!(
                "{s:?} has address bits set beyond the /{prefix} prefix (the range is {})",
                Cidr {
                    network: cidr.masked(network),
                    prefix
                }
            ));
        }
        Ok(cidr)
    }

    /// Whether `addr` is in the range (an IPv4 range also matches IPv4-mapped IPv6 addresses).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match (self.network, addr) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => addr,
        };
        addr.is_ipv4() == self.network.is_ipv4() && self.masked(addr) == self.network
    }

    /// `addr` with the bits beyond the prefix cleared (`addr` of the range's family).
    fn masked(&self, addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let r = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(r.contains(ip("10.255.1.2")));
        assert!(r.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(!r.contains(ip("::a00:1")), "IPv4-compatible is not mapped");
        let one = Cidr::parse("127.0.0.3/32").unwrap();
        assert!(one.contains(ip("127.0.0.3")));
        assert!(!one.contains(ip("127.0.0.2")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!(!all.contains(ip("2001:db8::1")), "families do not mix");
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12:3456::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let host6 = Cidr::parse("::1/128").unwrap();
        assert!(host6.contains(ip("::1")));
        assert!(!host6.contains(ip("::2")));
        assert_eq!(v6.to_string(), "fd00::/8");
    }

    #[test]
    fn malformed_ranges_are_refused() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            " 10.0.0.0/8",
            "10.0.0.1/8",
            "010.0.0.0/8",
            "10.0.0/8",
            "10.0.0.0/8/8",
            "fd00::/129",
            "fd00::1/8",
            "fe80::1%eth0/64",
            "[::1]/128",
            "localhost/32",
            "",
            "/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} accepted");
        }
        let e = Cidr::parse("10.0.0.1/8").unwrap_err();
        assert!(e.contains("10.0.0.0/8"), "{e}");
    }
}
