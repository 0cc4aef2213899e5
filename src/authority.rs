//! The request's authority, parsed strictly: the host that host rules are matched on is the host
//! Envoy's virtual-host matching and the upstream read, or the request is refused (`400 bad_host`).
//!
//! Accepted: `host[:port]` where `host` is a DNS-style name (letters, digits, `-`, `_`, non-empty
//! labels separated by single dots, no trailing dot), an IPv4 address (a name of that alphabet), or
//! an IP literal `[…]` of hex digits, `:` and `.`; `port` is 1–5 digits, at most 65535. The request
//! must carry one authority: `:authority` and `host` (when both are present) must agree. Anything
//! else — `api.example.com:abc`, `…:443:443`, `a b`, `user@host`, `api.example.com.`, an empty
//! authority — is refused, because readers disagree on it (Envoy's `domains: ["api.example.com:*"]`
//! takes `:abc`; a trailing dot is the same host to DNS but not to Envoy's exact domain match).

/// A parsed authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Lowercase, without port.
    pub host: String,
    pub port: Option<u16>,
}

/// Why an authority was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub &'static str);

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Parses one authority value (see the module documentation).
pub fn parse(authority: &str) -> Result<Authority, HostError> {
    if authority.is_empty() {
        return Err(HostError("empty authority"));
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (literal, after) = rest
            .split_once(']')
            .ok_or(HostError("unterminated IP literal"))?;
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(HostError("invalid IP literal"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or(HostError("junk after IP literal"))?,
            ),
        };
        (format!("[{}]", literal.to_ascii_lowercase()), port)
    } else {
        let (name, port) = match authority.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (authority, None),
        };
        let valid = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(HostError("invalid host name"));
        }
        (name.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HostError("invalid port"));
            }
            Some(
                p.parse::<u16>()
                    .map_err(|_| HostError("port out of range"))?,
            )
        }
    };
    Ok(Authority { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for (a, host, port) in [
            ("api.example.com", "api.example.com", None),
            ("API.Example.com:8443", "api.example.com", Some(8443)),
            ("10.0.0.1:80", "10.0.0.1", Some(80)),
            ("[::1]:10000", "[::1]", Some(10000)),
            ("[FE80::1]", "[fe80::1]", None),
            ("svc_internal", "svc_internal", None),
            ("localhost:65535", "localhost", Some(65535)),
        ] {
            assert_eq!(
                parse(a),
                Ok(Authority {
                    host: host.into(),
                    port
                }),
                "{a}"
            );
        }
    }

    #[test]
    fn refused() {
        for a in [
            "",
            "internal.example.com:abc",
            "internal.example.com:443:443",
            "internal.example.com:",
            "internal.example.com:65536",
            "internal.example.com:123456",
            "api.example.com.",
            "a..b",
            ".a",
            "a b",
            "user@host",
            "host/path",
            "[::1",
            "[::1]x",
            "[]",
            "[g::1]",
            "h%41st",
            "caf\u{e9}.example",
        ] {
            assert!(parse(a).is_err(), "{a:?} should be refused");
        }
    }
}
