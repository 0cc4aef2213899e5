//! OIDC discovery of a provider's key set: the `jwks.discovery` configuration, and how a discovery
//! document's `jwks_uri` becomes a fetchable [`RemoteJwks`].
//!
//! ```json
//! "jwks": {"discovery": {"cluster": "as", "authority": "as.example", "refresh_seconds": 3600,
//!                        "timeout_ms": 2000, "max_stale_seconds": 86400,
//!                        "clusters": {"keys.example.com:443": "idp_keys"}}}
//! ```
//! The document is `GET <issuer path>/.well-known/openid-configuration` (OpenID Connect Discovery
//! 1.0 §4: the issuer's path is kept, a trailing `/` removed first) on `cluster` with `:authority`
//! `authority`. Its `issuer` must equal the provider's byte for byte. Its `jwks_uri` is fetched
//! through `cluster` when the URI's authority is `authority`, otherwise only through the cluster
//! `clusters` names for that `host:port` (the port defaults to the scheme's); any other host is
//! refused. The key set then has the remote JWKS lifecycle (refresh, refetch on an unknown `kid`,
//! last good set kept for `max_stale_seconds`).

use super::{
    check_authority, check_cluster, in_range, is_plain_text, RemoteJwks, DEFAULT_JWKS_MAX_BYTES,
    DEFAULT_MAX_STALE_SECONDS, DEFAULT_REFRESH_SECONDS, DEFAULT_TIMEOUT_MS, MAX_MAX_STALE_SECONDS,
    MAX_REFRESH_SECONDS, MAX_TIMEOUT_MS,
};
use crate::config_error::ConfigError;
use crate::introspection::Endpoint;
use std::collections::BTreeMap;

/// Default refresh of the discovery document (its key set keeps the JWKS default, 300 s).
pub const DEFAULT_DISCOVERY_REFRESH_SECONDS: u64 = 3600;
/// Discovery documents larger than this are refused.
pub const DISCOVERY_MAX_BYTES: usize = 64 * 1024;
/// The path OpenID Connect Discovery appends to the issuer.
pub const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// JSON form of `jwks.discovery`.
#[derive(Debug)]
pub struct DiscoveryConfig {
    cluster: String,
    authority: String,
    refresh_seconds: Option<u64>,
    timeout_ms: Option<u64>,
    max_stale_seconds: Option<u64>,
    clusters: Option<BTreeMap<String, String>>,
}

from_json_struct!(DiscoveryConfig {
    cluster,
    authority,
    refresh_seconds,
    timeout_ms,
    max_stale_seconds,
    clusters,
});

/// A validated `jwks.discovery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The provider's issuer, which the document must repeat.
    pub issuer: String,
    pub cluster: String,
    pub authority: String,
    /// `<issuer path>/.well-known/openid-configuration`.
    pub path: String,
    pub refresh_seconds: u64,
    pub timeout_ms: u64,
    pub max_stale_seconds: u64,
    /// `host:port` (lowercase) → cluster, for a `jwks_uri` on another host.
    pub clusters: BTreeMap<String, String>,
}

/// Why a `jwks_uri` cannot be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriError {
    /// Not an absolute `http`/`https` URI with a host and no fragment or user info.
    Malformed,
    /// The URI's `host:port` is neither the discovery authority nor listed in `clusters`.
    UnlistedHost(String),
}

impl std::fmt::Display for UriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UriError::Malformed => f.write_str("is not an absolute http(s) URI"),
            UriError::UnlistedHost(h) => write!(
                f,
                "is on host {h:?}, which is not the discovery authority and not in \"clusters\""
            ),
        }
    }
}

impl DiscoveryConfig {
    pub fn validate(self, issuer: &str, field: &str) -> Result<Discovery, ConfigError> {
        let f = |sub: &str| format!("{field}.{sub}");
        check_cluster(&self.cluster, &f("cluster"))?;
        check_authority(&self.authority, &f("authority"))?;
        let Some(issuer_path) = issuer_path(issuer) else {
            return Err(ConfigError::new(
                &field.replace("jwks.discovery", "issuer"),
                "must be an http(s) URL without query or fragment to be discovered",
            ));
        };
        let mut clusters = BTreeMap::new();
        for (host, cluster) in self.clusters.unwrap_or_default() {
            let at = f(&format!("clusters.{host}"));
            let Some(key) = host_port(&host, None) else {
                return Err(ConfigError::new(&at, "must be \"host:port\""));
            };
            check_cluster(&cluster, &at)?;
            clusters.insert(key, cluster);
        }
        Ok(Discovery {
            issuer: issuer.to_string(),
            path: format!("{issuer_path}{WELL_KNOWN}"),
            refresh_seconds: in_range(
                self.refresh_seconds,
                DEFAULT_DISCOVERY_REFRESH_SECONDS,
                1,
                MAX_REFRESH_SECONDS,
                &f("refresh_seconds"),
            )?,
            timeout_ms: in_range(
                self.timeout_ms,
                DEFAULT_TIMEOUT_MS,
                1,
                MAX_TIMEOUT_MS,
                &f("timeout_ms"),
            )?,
            max_stale_seconds: in_range(
                self.max_stale_seconds,
                DEFAULT_MAX_STALE_SECONDS,
                0,
                MAX_MAX_STALE_SECONDS,
                &f("max_stale_seconds"),
            )?,
            cluster: self.cluster,
            authority: self.authority,
            clusters,
        })
    }
}

impl Discovery {
    /// The key set a document's `jwks_uri` names, fetched through the cluster its host maps to.
    pub fn jwks_at(&self, jwks_uri: &str) -> Result<RemoteJwks, UriError> {
        let e = self.endpoint_at(jwks_uri)?;
        Ok(RemoteJwks {
            cluster: e.cluster,
            authority: e.authority,
            path: e.path,
            refresh_seconds: DEFAULT_REFRESH_SECONDS,
            timeout_ms: self.timeout_ms,
            max_stale_seconds: self.max_stale_seconds,
            max_bytes: DEFAULT_JWKS_MAX_BYTES,
        })
    }

    /// A URI of the document (`jwks_uri`, `introspection_endpoint`) as a callout target: the
    /// discovery cluster for the discovery authority, else the cluster `clusters` lists for its
    /// `host:port`; any other host is refused.
    pub fn endpoint_at(&self, uri: &str) -> Result<Endpoint, UriError> {
        let jwks_uri = uri;
        let (scheme, rest) = jwks_uri.split_once("://").ok_or(UriError::Malformed)?;
        let default_port = match scheme {
            "https" => "443",
            "http" => "80",
            _ => return Err(UriError::Malformed),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("")),
            None => (rest, ""),
        };
        if authority.is_empty()
            || authority.contains('@')
            || !is_plain_text(rest)
            || rest.contains('#')
        {
            return Err(UriError::Malformed);
        }
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let key = host_port(authority, Some(default_port)).ok_or(UriError::Malformed)?;
        let same = host_port(&self.authority, Some(default_port)).as_deref() == Some(key.as_str());
        let cluster = if same {
            self.cluster.clone()
        } else {
            self.clusters
                .get(&key)
                .cloned()
                .ok_or(UriError::UnlistedHost(key))?
        };
        Ok(Endpoint {
            cluster,
            authority: authority.to_string(),
            path,
        })
    }
}

/// The path part of an `http(s)://host[:port][/path]` issuer without its trailing `/` (`""` for
/// none); `None` when the issuer is not such a URL.
fn issuer_path(issuer: &str) -> Option<&str> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))?;
    if rest.contains(['?', '#', '@']) || !is_plain_text(rest) {
        return None;
    }
    let path = rest.find('/').map_or("", |i| rest.get(i..).unwrap_or(""));
    let host = rest.get(..rest.len() - path.len()).unwrap_or("");
    (!host.is_empty()).then(|| path.trim_end_matches('/'))
}

/// `host:port`, lowercase, the port `default_port` when absent (required when `None`).
fn host_port(authority: &str, default_port: Option<&str>) -> Option<String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after {
            "" => default_port?,
            p => p.strip_prefix(':')?,
        };
        (format!("[{h}]"), port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), default_port?),
        }
    };
    let host_ok = !host.is_empty() && !host.contains(['/', '@', ' ']);
    let port_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    (host_ok && port_ok).then(|| format!("{}:{port}", host.to_ascii_lowercase()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn discovery(issuer: &str, clusters: &[(&str, &str)]) -> Discovery {
        DiscoveryConfig {
            cluster: "as".into(),
            authority: "as.example".into(),
            refresh_seconds: None,
            timeout_ms: None,
            max_stale_seconds: None,
            clusters: Some(
                clusters
                    .iter()
                    .map(|(h, c)| (h.to_string(), c.to_string()))
                    .collect(),
            ),
        }
        .validate(issuer, "providers.as.jwks.discovery")
        .unwrap()
    }

    #[test]
    fn discovery_path_keeps_the_issuer_path_and_drops_a_trailing_slash() {
        assert_eq!(discovery("https://as.example", &[]).path, WELL_KNOWN);
        assert_eq!(discovery("https://as.example/", &[]).path, WELL_KNOWN);
        assert_eq!(
            discovery("https://as.example/tenant/1/", &[]).path,
            "/tenant/1/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery("http://127.0.0.1:9000/o", &[]).path,
            "/o/.well-known/openid-configuration"
        );
    }

    #[test]
    fn an_issuer_that_is_no_url_is_refused_naming_the_issuer() {
        let e = DiscoveryConfig {
            cluster: "as".into(),
            authority: "as.example".into(),
            refresh_seconds: None,
            timeout_ms: None,
            max_stale_seconds: None,
            clusters: None,
        }
        .validate("as-issuer", "providers.as.jwks.discovery")
        .unwrap_err();
        assert!(e.to_string().contains("providers.as.issuer"), "{e}");
    }

    #[test]
    fn jwks_uri_on_the_discovery_host_uses_the_discovery_cluster() {
        let d = discovery("https://as.example", &[]);
        let j = d.jwks_at("https://as.example/o/jwks?x=1").unwrap();
        assert_eq!(
            (j.cluster.as_str(), j.authority.as_str(), j.path.as_str()),
            ("as", "as.example", "/o/jwks?x=1")
        );
        // the same host with its default port written out is the same host
        assert_eq!(d.jwks_at("https://AS.example:443/k").unwrap().cluster, "as");
        assert_eq!(j.timeout_ms, d.timeout_ms);
        assert_eq!(j.max_stale_seconds, d.max_stale_seconds);
    }

    #[test]
    fn jwks_uri_on_another_host_needs_a_listed_cluster() {
        let d = discovery(
            "https://as.example",
            &[("Keys.example.com:443", "idp_keys")],
        );
        let j = d.jwks_at("https://keys.example.com/jwks.json").unwrap();
        assert_eq!(
            (j.cluster.as_str(), j.authority.as_str()),
            ("idp_keys", "keys.example.com")
        );
        assert_eq!(
            d.jwks_at("https://evil.example/jwks.json"),
            Err(UriError::UnlistedHost("evil.example:443".into()))
        );
        // a port other than the listed one is another host
        assert!(matches!(
            d.jwks_at("https://keys.example.com:8443/jwks.json"),
            Err(UriError::UnlistedHost(_))
        ));
        // plain http is port 80, not the listed 443
        assert!(d.jwks_at("http://keys.example.com/jwks.json").is_err());
    }

    #[test]
    fn malformed_jwks_uris_are_refused() {
        let d = discovery("https://as.example", &[]);
        for uri in [
            "",
            "as.example/jwks",
            "ftp://as.example/jwks",
            "https:///jwks",
            "https://user@as.example/jwks",
            "https://as.example/jw ks",
            "https://as.example/jwks#frag",
        ] {
            assert_eq!(d.jwks_at(uri), Err(UriError::Malformed), "{uri}");
        }
    }

    #[test]
    fn clusters_keys_must_be_host_and_port() {
        let e = DiscoveryConfig {
            cluster: "as".into(),
            authority: "as.example".into(),
            refresh_seconds: None,
            timeout_ms: None,
            max_stale_seconds: None,
            clusters: Some([("keys.example.com".to_string(), "k".to_string())].into()),
        }
        .validate("https://as.example", "providers.as.jwks.discovery")
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("providers.as.jwks.discovery.clusters.keys.example.com"),
            "{e}"
        );
    }
}
