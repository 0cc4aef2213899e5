//! The `transport` section: credentials accepted only over TLS, and when a request's channel counts
//! as TLS.
//!
//! # JSON form
//!
//! ```json
//! "transport": {"require_tls": true, "mode": "enforce",
//!               "trust_forwarded_proto": {"source_cidrs": ["10.0.0.0/8"],
//!                                         "peer_uri_sans": ["spiffe://cluster.local/ns/edge/sa/gateway"]}}
//! ```
//!
//! `require_tls` (default `true` when the section is present; without the section `false`) is the
//! default of every rule, which may override it with its own `"require_tls": true|false`. `mode`
//! `"enforce"` (default) refuses, `"report"` lets the request through and reports it (as the
//! top-level `mode: "report"` does, which also makes this check report-only).
//!
//! # When the channel is TLS ([`Transport::channel`])
//! - The downstream peer is **trusted** when the connection was matched to one of the listener
//!   filter chains named in `filter_chains` (`xds.filter_chain_name`; the operator matches that
//!   chain with `filter_chain_match.direct_source_prefix_ranges`, which Envoy evaluates on the TCP
//!   peer: the robust way to trust a front proxy by address), when its address (`source.address`, see
//!   [`Connection::source_address`]) is in `source_cidrs` — never an address Envoy took from
//!   `x-forwarded-for`, which it reports with port 0 — or the first URI SAN of its certificate
//!   (`connection.uri_san_peer_certificate`) is one of `peer_uri_sans` (byte for byte).
//! - A trusted peer that sends `x-forwarded-proto` decides: the channel is TLS if and only if it
//!   sent exactly one such header whose value is `https` (ASCII case ignored); two headers, a list
//!   (`https, https`) or `http` is plaintext — even when the hop from that peer is itself TLS (a
//!   mesh hop says nothing of the client's).
//! - Otherwise the channel is TLS if and only if the downstream connection is
//!   (`connection.tls_version` is present). `:scheme` is never evidence: over HTTP/2 it is whatever
//!   the client sent; `x-forwarded-proto` from a peer that is not trusted is ignored.
//!
//! Each fact is one host property read, made only when needed: nothing for a request whose rule
//! does not require TLS, or that neither presents a credential nor needs one.

use crate::cidr::Cidr;
use crate::config::Mode;
use crate::config_error::ConfigError;
use crate::request::Request;
use std::net::{IpAddr, SocketAddr};

/// The host property that is present only on a TLS downstream connection.
pub const TLS_VERSION_PROPERTY: [&str; 2] = ["connection", "tls_version"];
/// The host property with Envoy's remote address of the downstream (`ip:port`): the TCP peer, or
/// `ip:0` when Envoy took it from `x-forwarded-for` (Envoy 1.40 has no property for the TCP peer).
pub const SOURCE_ADDRESS_PROPERTY: [&str; 2] = ["source", "address"];
/// The host property with the first URI SAN of the downstream peer's certificate.
pub const PEER_URI_SAN_PROPERTY: [&str; 2] = ["connection", "uri_san_peer_certificate"];
/// The host property with the name of the listener filter chain the downstream connection was
/// matched to (Envoy matches `filter_chain_match.direct_source_prefix_ranges` on the TCP peer).
pub const FILTER_CHAIN_PROPERTY: [&str; 2] = ["xds", "filter_chain_name"];

/// What the transport check may ask of the downstream connection. Each call may cost a host call:
/// the check asks only what it needs, at most once each.
pub trait Connection {
    /// Whether the downstream connection is TLS (`connection.tls_version` is present and not
    /// empty).
    fn is_tls(&self) -> bool;
    /// The downstream peer's address as the host reports it (`source.address`: `ip:port`; see
    /// [`SOURCE_ADDRESS_PROPERTY`]).
    fn source_address(&self) -> Option<String>;
    /// The first URI SAN of the downstream peer's certificate, if it presented one.
    fn peer_uri_san(&self) -> Option<String>;
    /// The name of the listener filter chain the connection was matched to (`xds.filter_chain_name`).
    fn filter_chain(&self) -> Option<String>;
}

/// JSON form of `transport`.
#[derive(Debug)]
pub struct TransportConfig {
    require_tls: Option<bool>,
    mode: Option<Mode>,
    trust_forwarded_proto: Option<TrustConfig>,
}

from_json_struct!(TransportConfig {
    require_tls,
    mode,
    trust_forwarded_proto,
});

/// JSON form of `transport.trust_forwarded_proto`.
#[derive(Debug)]
struct TrustConfig {
    source_cidrs: Option<Vec<String>>,
    peer_uri_sans: Option<Vec<String>>,
    filter_chains: Option<Vec<String>>,
}

from_json_struct!(TrustConfig {
    source_cidrs,
    peer_uri_sans,
    filter_chains,
});

/// The validated `transport` section (without one: nothing requires TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// The default of rules that do not say (`rules[].require_tls`).
    pub require_tls: bool,
    /// Refuse (`Enforce`) or only report (`Report`) a credential over plaintext.
    pub mode: Mode,
    /// Peers whose `x-forwarded-proto` is believed.
    trusted_cidrs: Vec<Cidr>,
    trusted_uri_sans: Vec<String>,
    trusted_filter_chains: Vec<String>,
}

/// What carried the request, as far as credentials are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The downstream connection is TLS (and no trusted peer says otherwise).
    Tls,
    /// A trusted peer forwarded it and says the client used HTTPS.
    ForwardedHttps,
    /// Plaintext, as far as edgeguard can tell.
    Clear,
}

impl TransportConfig {
    pub fn validate(self, field: &str) -> Result<Transport, ConfigError> {
        let (cidrs, sans, chains) = match self.trust_forwarded_proto {
            None => (Vec::new(), Vec::new(), Vec::new()),
            Some(t) => {
                let at = format!("{field}.trust_forwarded_proto");
                let cidrs = t
                    .source_cidrs
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        Cidr::parse(c)
                            .map_err(|e| ConfigError::new(&format!("{at}.source_cidrs[{i}]"), e))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let sans = t.peer_uri_sans.unwrap_or_default();
                for (i, s) in sans.iter().enumerate() {
                    if s.is_empty() || s.len() > 2048 || s.chars().any(|c| c.is_control()) {
                        return Err(ConfigError::new(
                            &format!("{at}.peer_uri_sans[{i}]"),
                            "must be a non-empty URI of at most 2048 bytes without control characters",
                        ));
                    }
                }
                let chains = t.filter_chains.unwrap_or_default();
                for (i, c) in chains.iter().enumerate() {
                    if c.is_empty() || c.len() > 256 || c.chars().any(|c| c.is_control()) {
                        return Err(ConfigError::new(
                            &format!("{at}.filter_chains[{i}]"),
                            "must be a non-empty listener filter chain name of at most 256 bytes without control characters",
                        ));
                    }
                }
                if cidrs.is_empty() && sans.is_empty() && chains.is_empty() {
                    return Err(ConfigError::new(
                        &at,
                        "trusts nobody: give \"source_cidrs\", \"peer_uri_sans\" and/or \"filter_chains\", or remove it",
                    ));
                }
                (cidrs, sans, chains)
            }
        };
        Ok(Transport {
            require_tls: self.require_tls.unwrap_or(true),
            mode: self.mode.unwrap_or_default(),
            trusted_cidrs: cidrs,
            trusted_uri_sans: sans,
            trusted_filter_chains: chains,
        })
    }
}

impl Transport {
    /// The channel of `req` over `conn` (see the module documentation for the rules).
    pub fn channel(&self, req: &Request, conn: &dyn Connection) -> Channel {
        let mut proto = req.header_values("x-forwarded-proto");
        let first = proto.next();
        if let Some(first) = first {
            if self.trusts(conn) {
                let one_https =
                    proto.next().is_none() && first.trim().eq_ignore_ascii_case("https");
                return if one_https {
                    Channel::ForwardedHttps
                } else {
                    Channel::Clear
                };
            }
        }
        if conn.is_tls() {
            Channel::Tls
        } else {
            Channel::Clear
        }
    }

    /// Whether the downstream peer is one whose `x-forwarded-proto` is believed.
    fn trusts(&self, conn: &dyn Connection) -> bool {
        let by_address = || {
            conn.source_address()
                .and_then(|a| direct_peer_ip(&a))
                .is_some_and(|ip| self.trusted_cidrs.iter().any(|c| c.contains(ip)))
        };
        let by_san = || {
            conn.peer_uri_san()
                .is_some_and(|san| self.trusted_uri_sans.contains(&san))
        };
        let by_chain = || {
            conn.filter_chain()
                .is_some_and(|c| self.trusted_filter_chains.contains(&c))
        };
        (!self.trusted_filter_chains.is_empty() && by_chain())
            || (!self.trusted_cidrs.is_empty() && by_address())
            || (!self.trusted_uri_sans.is_empty() && by_san())
    }
}

/// The IP of `source.address` (`ip:port`, `[v6]:port`) when it is the TCP peer. Envoy replaces it
/// by an address it took from `x-forwarded-for` (with `use_remote_address: false`, or
/// `xff_num_trusted_hops` > 0) or another original-IP header; such an address carries no port
/// (Envoy reports port 0), and is never the peer: `None`, so it is never trusted.
fn direct_peer_ip(source: &str) -> Option<IpAddr> {
    let addr: SocketAddr = source.parse().ok()?;
    (addr.port() != 0).then_some(addr.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_json::parse;
    use crate::testing::FixedConnection;

    fn conn(tls: bool, source: &str, san: Option<&str>) -> FixedConnection {
        FixedConnection::from_peer(tls, source, san)
    }

    fn transport(json: &str) -> Result<Transport, ConfigError> {
        parse::<TransportConfig>(json.as_bytes())?.validate("transport")
    }

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut h = vec![(":method".to_string(), "GET".to_string())];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Request::from_headers(h)
    }

    const TRUSTING: &str = r#"{"trust_forwarded_proto": {"source_cidrs": ["127.0.0.3/32", "fd00::/8"],
        "peer_uri_sans": ["spiffe://cluster.local/ns/edge/sa/gateway"]}}"#;

    #[test]
    fn a_peer_is_trusted_by_the_filter_chain_its_connection_was_matched_to() {
        let t =
            transport(r#"{"trust_forwarded_proto": {"filter_chains": ["from-gateway"]}}"#).unwrap();
        let https = req(&[("x-forwarded-proto", "https")]);
        let on = |chain: Option<&str>, source: &str| {
            let mut c = conn(false, source, None);
            c.filter_chain = chain.map(str::to_string);
            c
        };
        assert_eq!(
            t.channel(&https, &on(Some("from-gateway"), "127.0.0.3:4000")),
            Channel::ForwardedHttps
        );
        // Another chain, or none: its header is ignored, whatever address Envoy reports (an
        // x-forwarded-for spoof makes it say the gateway's, with port 0).
        for c in [
            on(Some("default"), "127.0.0.3:0"),
            on(None, "127.0.0.3:4000"),
        ] {
            assert_eq!(t.channel(&https, &c), Channel::Clear);
        }
        assert!(
            transport(r#"{"trust_forwarded_proto": {"filter_chains": [""]}}"#)
                .unwrap_err()
                .to_string()
                .contains("transport.trust_forwarded_proto.filter_chains[0]")
        );
    }

    #[test]
    fn tls_is_the_connection_unless_a_trusted_peer_says_otherwise() {
        let t = transport(TRUSTING).unwrap();
        let https = [("x-forwarded-proto", "https")];
        let plain = conn(false, "127.0.0.2:5000", None);
        assert_eq!(t.channel(&req(&[]), &plain), Channel::Clear);
        assert_eq!(
            plain.reads.get(),
            1,
            "no forwarded header: only the TLS fact is read"
        );
        assert_eq!(
            t.channel(&req(&[]), &conn(true, "127.0.0.2:5000", None)),
            Channel::Tls
        );
        // An untrusted peer's header is ignored, either way.
        assert_eq!(t.channel(&req(&https), &plain), Channel::Clear);
        let tls_untrusted = conn(true, "127.0.0.2:5000", None);
        let http = [("x-forwarded-proto", "http")];
        assert_eq!(t.channel(&req(&http), &tls_untrusted), Channel::Tls);
        // A trusted peer (by address, IPv4 or IPv6, or by URI SAN) decides.
        for peer in [
            conn(false, "127.0.0.3:4000", None),
            conn(false, "[fd00::7]:4000", None),
            conn(
                true,
                "127.0.0.9:4000",
                Some("spiffe://cluster.local/ns/edge/sa/gateway"),
            ),
        ] {
            assert_eq!(t.channel(&req(&https), &peer), Channel::ForwardedHttps);
            assert_eq!(t.channel(&req(&http), &peer), Channel::Clear);
            assert_eq!(
                t.channel(&req(&[("x-forwarded-proto", "HTTPS")]), &peer),
                Channel::ForwardedHttps
            );
            for twice in [
                vec![
                    ("x-forwarded-proto", "https"),
                    ("x-forwarded-proto", "https"),
                ],
                vec![("x-forwarded-proto", "https, https")],
                vec![("x-forwarded-proto", "https,http")],
                vec![("x-forwarded-proto", "")],
            ] {
                assert_eq!(t.channel(&req(&twice), &peer), Channel::Clear, "{twice:?}");
            }
        }
        // `:scheme` is never evidence.
        assert_eq!(
            t.channel(&req(&[(":scheme", "https")]), &plain),
            Channel::Clear
        );
    }

    #[test]
    fn an_address_envoy_took_from_a_header_is_never_trusted() {
        let t = transport(TRUSTING).unwrap();
        let https = [("x-forwarded-proto", "https")];
        // Envoy reports an x-forwarded-for-derived remote address with port 0.
        assert_eq!(
            t.channel(&req(&https), &conn(false, "127.0.0.3:0", None)),
            Channel::Clear
        );
        for odd in ["127.0.0.3", "", "/tmp/socket", "envoy://internal"] {
            assert_eq!(
                t.channel(&req(&https), &conn(false, odd, None)),
                Channel::Clear,
                "{odd:?}"
            );
        }
        // A SAN other than the configured ones (only the first URI SAN is visible).
        assert_eq!(
            t.channel(
                &req(&https),
                &conn(true, "127.0.0.9:1", Some("spiffe://other"))
            ),
            Channel::Tls
        );
    }

    #[test]
    fn configuration_is_strict_and_names_the_field() {
        let t = transport("{}").unwrap();
        assert!(t.require_tls, "a transport section requires TLS by default");
        assert_eq!(t.mode, Mode::Enforce);
        let t = transport(r#"{"require_tls": false, "mode": "report"}"#).unwrap();
        assert!(!t.require_tls);
        assert_eq!(t.mode, Mode::Report);
        for (json, field) in [
            (
                r#"{"trust_forwarded_proto": {"source_cidrs": ["10.0.0.0/8", "10.0.0.1/8"]}}"#,
                "transport.trust_forwarded_proto.source_cidrs[1]",
            ),
            (
                r#"{"trust_forwarded_proto": {"source_cidrs": ["10.0.0.0"]}}"#,
                "transport.trust_forwarded_proto.source_cidrs[0]",
            ),
            (
                r#"{"trust_forwarded_proto": {"peer_uri_sans": [""]}}"#,
                "transport.trust_forwarded_proto.peer_uri_sans[0]",
            ),
            (
                r#"{"trust_forwarded_proto": {}}"#,
                "transport.trust_forwarded_proto",
            ),
            (r#"{"mode": "off"}"#, "mode"),
            (r#"{"require_tls": "yes"}"#, "require_tls"),
            (r#"{"require_tsl": true}"#, "require_tsl"),
        ] {
            let e = transport(json).unwrap_err();
            assert_eq!(e.field, field, "{json}: {e}");
        }
    }
}
