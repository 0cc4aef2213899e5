//! JWT providers: issuer, audiences, where tokens come from, which algorithms, which key set.
//!
//! JSON form (one entry of `providers`; unknown fields are rejected):
//! ```json
//! {"issuer": "https://idp.example", "audiences": ["orders-api"],
//!  "jwks": {"inline": {"keys": [ ... ]}}      // or
//!  "jwks": {"remote": {"cluster": "jwks_cluster", "authority": "idp.example",
//!                      "path": "/.well-known/jwks.json", "refresh_seconds": 300,
//!                      "timeout_ms": 2000, "max_stale_seconds": 86400, "max_bytes": 524288}},
//!  "from": [{"header": "authorization", "prefix": "Bearer "}],
//!  "clock_skew_seconds": 60, "require_exp": true, "max_lifetime_seconds": 86400,
//!  "algorithms": ["RS256", "ES256"], "max_token_bytes": 8192,
//!  "forward_token": false, "claims_to_headers": [{"claim": "sub", "header": "x-user-id"}],
//!  "scope_claims": ["scope", "scp"]}
//! ```
//! Defaults: `from` = `Authorization: Bearer`, `audiences` absent = `aud` not checked, clock skew 60 s,
//! `require_exp` true, no maximum lifetime, every supported algorithm (the key still decides which
//! algorithm it verifies), `max_token_bytes` 8192, `forward_token` false, `scope_claims` `scope`, `scp`;
//! remote: refresh 300 s, timeout 2000 ms, stale keys usable for 86400 s, responses up to 512 KiB.

use crate::claim_path::ClaimPath;
use crate::config_error::ConfigError;
use crate::extractor::{is_lowercase_header_name, validate_sources, Source, SourceConfig};
use crate::introspection::{Introspection, IntrospectionConfig};
use crate::jwt::jwk::Alg;
use crate::jwt::{Rules, DEFAULT_CLOCK_SKEW_SECONDS, DEFAULT_MAX_TOKEN_BYTES};
use crate::spelling::same_header;

mod callout;
pub mod discovery;
pub mod jwks;
pub(crate) use callout::{check_authority, check_cluster, check_path, in_range, is_plain_text};
use jwks::JwksConfig;
pub use jwks::{
    JwksSource, RemoteJwks, DEFAULT_JWKS_MAX_BYTES, DEFAULT_MAX_STALE_SECONDS,
    DEFAULT_REFRESH_SECONDS, DEFAULT_TIMEOUT_MS, MAX_JWKS_MAX_BYTES, MAX_MAX_STALE_SECONDS,
    MAX_REFRESH_SECONDS, MAX_TIMEOUT_MS, MIN_JWKS_MAX_BYTES,
};

pub const MAX_CLOCK_SKEW_SECONDS: u64 = 3600;
pub const MAX_LIFETIME_SECONDS_LIMIT: u64 = 10 * 366 * 86400;
pub const MIN_MAX_TOKEN_BYTES: usize = 64;
pub const MAX_MAX_TOKEN_BYTES: usize = 65536;

/// Headers a claim may never be copied into (routing, framing, hop-by-hop).
const RESERVED_HEADERS: [&str; 14] = [
    "host",
    "cookie",
    "authorization",
    "proxy-authorization",
    "authority",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// JSON form of one entry of `providers`.
#[derive(Debug)]
pub struct ProviderConfig {
    issuer: String,
    audiences: Option<Vec<String>>,
    jwks: Option<JwksConfig>,
    introspection: Option<IntrospectionConfig>,
    from: Option<Vec<SourceConfig>>,
    clock_skew_seconds: Option<u64>,
    require_exp: Option<bool>,
    max_lifetime_seconds: Option<u64>,
    algorithms: Option<Vec<String>>,
    max_token_bytes: Option<usize>,
    forward_token: Option<bool>,
    claims_to_headers: Option<Vec<ClaimHeaderConfig>>,
    scope_claims: Option<Vec<String>>,
    plan_claim: Option<String>,
}

#[derive(Debug)]
struct ClaimHeaderConfig {
    claim: String,
    header: String,
}

from_json_struct!(ProviderConfig {
    issuer,
    audiences,
    jwks,
    introspection,
    from,
    clock_skew_seconds,
    require_exp,
    max_lifetime_seconds,
    algorithms,
    max_token_bytes,
    forward_token,
    claims_to_headers,
    scope_claims,
    plan_claim,
});
from_json_struct!(ClaimHeaderConfig { claim, header });

/// A validated provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    /// What its tokens must satisfy (issuer, audiences, time, algorithms, size): what
    /// [`crate::jwt::verify`] checks.
    pub rules: Rules,
    pub sources: Vec<Source>,
    pub jwks: JwksSource,
    /// Token introspection (RFC 7662): every token when `jwks` is absent, else every non-JWT.
    pub introspection: Option<Introspection>,
    pub forward_token: bool,
    /// `(claim path, header name)` pairs.
    pub claims_to_headers: Vec<(ClaimPath, String)>,
    /// Claims that carry scopes (default `scope`, `scp`).
    pub scope_claims: Vec<String>,
    /// The claim that names the caller's plan (see [`crate::plan`]).
    pub plan_claim: Option<ClaimPath>,
}

impl Provider {
    /// A provider with the defaults, for tests and programmatic use.
    pub fn new(name: &str, issuer: &str, jwks: JwksSource) -> Provider {
        Provider {
            name: name.to_string(),
            rules: Rules::new(issuer),
            sources: default_sources(),
            jwks,
            introspection: None,
            forward_token: false,
            claims_to_headers: Vec::new(),
            scope_claims: default_scope_claims(),
            plan_claim: None,
        }
    }
}

fn default_sources() -> Vec<Source> {
    vec![Source::Header {
        name: "authorization".into(),
        prefix: Some("Bearer ".into()),
    }]
}

fn default_scope_claims() -> Vec<String> {
    vec!["scope".into(), "scp".into()]
}

impl ProviderConfig {
    pub fn validate(self, name: &str, field: &str) -> Result<Provider, ConfigError> {
        let f = |sub: &str| format!("{field}.{sub}");
        if self.issuer.is_empty() || self.issuer.chars().any(char::is_control) {
            return Err(ConfigError::new(
                &f("issuer"),
                "must be a non-empty string without control characters",
            ));
        }
        let audiences = match self.audiences {
            None => Vec::new(),
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new(
                    &f("audiences"),
                    "must list at least one audience (omit the field to not check \"aud\")",
                ))
            }
            Some(list) => {
                for (i, a) in list.iter().enumerate() {
                    if a.is_empty() {
                        return Err(ConfigError::new(
                            &f(&format!("audiences[{i}]")),
                            "must be a non-empty string",
                        ));
                    }
                }
                list
            }
        };
        let introspection = self
            .introspection
            .map(|i| i.validate(&f("introspection"), &|name| std::env::var(name).ok()))
            .transpose()?;
        let jwks = match self.jwks {
            None if introspection.is_some() => JwksSource::Absent,
            None => {
                return Err(ConfigError::new(
                    &f("jwks"),
                    "is required unless the provider has \"introspection\"",
                ))
            }
            Some(jwks) => jwks.validate(&self.issuer, &f("jwks"))?,
        };
        let endpoint_missing = introspection.as_ref().is_some_and(|i| i.endpoint.is_none());
        if endpoint_missing && !matches!(jwks, JwksSource::Discovered(_)) {
            return Err(ConfigError::new(
                &f("introspection.path"),
                "is required unless the provider has \"jwks\": {\"discovery\": ...} (whose document's introspection_endpoint is then used)",
            ));
        }
        let sources = validate_sources(self.from, &f("from"), default_sources())?;
        let clock_skew_seconds = in_range(
            self.clock_skew_seconds,
            DEFAULT_CLOCK_SKEW_SECONDS,
            0,
            MAX_CLOCK_SKEW_SECONDS,
            &f("clock_skew_seconds"),
        )?;
        let max_lifetime_seconds = match self.max_lifetime_seconds {
            None => None,
            Some(v) => Some(in_range(
                Some(v),
                v,
                1,
                MAX_LIFETIME_SECONDS_LIMIT,
                &f("max_lifetime_seconds"),
            )?),
        };
        let algorithms = match self.algorithms {
            None => Alg::ALL.to_vec(),
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new(
                    &f("algorithms"),
                    "must list at least one algorithm",
                ))
            }
            Some(list) => {
                let mut algs = Vec::new();
                for (i, name) in list.iter().enumerate() {
                    let field = f(&format!("algorithms[{i}]"));
                    if name.eq_ignore_ascii_case("none") {
                        return Err(ConfigError::new(&field, "\"none\" is never accepted"));
                    }
                    let alg = Alg::from_name(name).ok_or_else(|| {
                        ConfigError::new(
                            &field,
                            format!(
                                "unknown algorithm; supported: {}",
                                Alg::ALL.map(Alg::name).join(", ")
                            ),
                        )
                    })?;
                    if !algs.contains(&alg) {
                        algs.push(alg);
                    }
                }
                algs
            }
        };
        let max_token_bytes = in_range(
            self.max_token_bytes,
            DEFAULT_MAX_TOKEN_BYTES,
            MIN_MAX_TOKEN_BYTES,
            MAX_MAX_TOKEN_BYTES,
            &f("max_token_bytes"),
        )?;
        let source_headers: Vec<&str> = sources
            .iter()
            .filter_map(|s| match s {
                Source::Header { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let mut claims_to_headers: Vec<(ClaimPath, String)> = Vec::new();
        for (i, c) in self
            .claims_to_headers
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let base = f(&format!("claims_to_headers[{i}]"));
            let claim = ClaimPath::parse(&c.claim)
                .map_err(|e| ConfigError::new(&format!("{base}.claim"), e))?;
            let header_field = format!("{base}.header");
            if !is_lowercase_header_name(&c.header) {
                return Err(ConfigError::new(
                    &header_field,
                    "must be a lowercase HTTP header name (letters, digits, '-', '_')",
                ));
            }
            if RESERVED_HEADERS.iter().any(|r| same_header(r, &c.header)) {
                return Err(ConfigError::new(
                    &header_field,
                    "is a reserved header and cannot carry a claim",
                ));
            }
            if source_headers.iter().any(|h| same_header(h, &c.header)) {
                return Err(ConfigError::new(
                    &header_field,
                    "is a header the token is read from",
                ));
            }
            if claims_to_headers
                .iter()
                .any(|(_, h)| same_header(h, &c.header))
            {
                return Err(ConfigError::new(
                    &header_field,
                    "is already used by another claim",
                ));
            }
            claims_to_headers.push((claim, c.header));
        }
        let scope_claims = match self.scope_claims {
            None => default_scope_claims(),
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new(
                    &f("scope_claims"),
                    "must list at least one claim",
                ))
            }
            Some(list) => {
                if let Some(i) = list.iter().position(String::is_empty) {
                    return Err(ConfigError::new(
                        &f(&format!("scope_claims[{i}]")),
                        "must be a non-empty claim name",
                    ));
                }
                list
            }
        };
        Ok(Provider {
            name: name.to_string(),
            rules: Rules {
                issuer: self.issuer,
                audiences,
                clock_skew_seconds,
                require_exp: self.require_exp.unwrap_or(true),
                max_lifetime_seconds,
                algorithms,
                max_token_bytes,
            },
            sources,
            jwks,
            introspection,
            forward_token: self.forward_token.unwrap_or(false),
            claims_to_headers,
            scope_claims,
            plan_claim: self
                .plan_claim
                .map(|c| ClaimPath::parse(&c).map_err(|e| ConfigError::new(&f("plan_claim"), e)))
                .transpose()?,
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn b64(b: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn inline() -> Value {
        json!({"inline": {"keys": [{"kty": "oct", "kid": "h", "k": b64(&[5u8; 32])}]}})
    }

    fn base() -> Value {
        json!({"issuer": "https://idp.example", "jwks": inline()})
    }

    fn validate(v: Value) -> Result<Provider, ConfigError> {
        let text = v.to_string();
        let c: ProviderConfig = crate::config_json::parse(text.as_bytes())?;
        c.validate("idp", "providers.idp")
    }

    fn err(v: Value) -> ConfigError {
        validate(v).unwrap_err()
    }

    fn set(mut v: Value, k: &str, val: Value) -> Value {
        v[k] = val;
        v
    }

    #[test]
    fn defaults() {
        let p = validate(base()).unwrap();
        assert_eq!(p.rules.clock_skew_seconds, 60);
        assert!(p.rules.require_exp);
        assert_eq!(p.rules.max_lifetime_seconds, None);
        assert_eq!(p.rules.algorithms, Alg::ALL.to_vec());
        assert_eq!(p.rules.max_token_bytes, 8192);
        assert!(!p.forward_token);
        assert!(p.rules.audiences.is_empty());
        assert_eq!(p.scope_claims, vec!["scope", "scp"]);
        assert_eq!(p.sources.len(), 1);
        assert!(matches!(p.jwks, JwksSource::Inline(ref k) if k.len() == 1));
    }

    #[test]
    fn full_config() {
        let v = json!({"issuer": "https://idp.example", "audiences": ["orders-api"],
            "jwks": {"remote": {"cluster": "jwks_cluster", "authority": "idp.example",
                "path": "/.well-known/jwks.json"}},
            "from": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}, {"cookie": "at"}],
            "clock_skew_seconds": 30, "require_exp": false, "max_lifetime_seconds": 86400,
            "algorithms": ["RS256", "ES256", "RS256"], "max_token_bytes": 4096,
            "forward_token": true, "claims_to_headers": [{"claim": "sub", "header": "x-user-id"},
                {"claim": "org.id", "header": "x-org"}],
            "scope_claims": ["scope"]});
        let p = validate(v).unwrap();
        assert_eq!(p.rules.algorithms, vec![Alg::RS256, Alg::ES256]);
        assert_eq!(p.rules.audiences, vec!["orders-api"]);
        assert_eq!(p.sources.len(), 3);
        assert_eq!(p.claims_to_headers[1].0.as_str(), "org.id");
        assert_eq!(p.claims_to_headers[1].1, "x-org");
        let JwksSource::Remote(r) = p.jwks else {
            panic!()
        };
        assert_eq!(
            r,
            RemoteJwks {
                cluster: "jwks_cluster".into(),
                authority: "idp.example".into(),
                path: "/.well-known/jwks.json".into(),
                refresh_seconds: 300,
                timeout_ms: 2000,
                max_stale_seconds: 86400,
                max_bytes: 512 * 1024,
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (set(base(), "issuer", json!("")), "providers.idp.issuer"),
            (
                set(base(), "audiences", json!([])),
                "providers.idp.audiences",
            ),
            (
                set(base(), "audiences", json!(["a", ""])),
                "providers.idp.audiences[1]",
            ),
            (
                set(base(), "algorithms", json!(["RS256", "XX1"])),
                "providers.idp.algorithms[1]",
            ),
            (
                set(base(), "algorithms", json!(["none"])),
                "providers.idp.algorithms[0]",
            ),
            (
                set(base(), "algorithms", json!(["NONE"])),
                "providers.idp.algorithms[0]",
            ),
            (
                set(base(), "algorithms", json!([])),
                "providers.idp.algorithms",
            ),
            (
                set(base(), "clock_skew_seconds", json!(100000)),
                "providers.idp.clock_skew_seconds",
            ),
            (
                set(base(), "max_lifetime_seconds", json!(0)),
                "providers.idp.max_lifetime_seconds",
            ),
            (
                set(base(), "max_token_bytes", json!(1)),
                "providers.idp.max_token_bytes",
            ),
            (set(base(), "from", json!([])), "providers.idp.from"),
            (
                set(base(), "scope_claims", json!([""])),
                "providers.idp.scope_claims[0]",
            ),
            (set(base(), "jwks", json!({})), "providers.idp.jwks"),
            (
                set(
                    base(),
                    "jwks",
                    json!({"inline": {"keys": []}, "remote": {"cluster": "c", "authority": "a", "path": "/"}}),
                ),
                "providers.idp.jwks",
            ),
            (
                set(
                    base(),
                    "jwks",
                    json!({"inline": {"keys": [{"kty": "oct", "use": "enc", "k": b64(&[1u8; 32])}]}}),
                ),
                "providers.idp.jwks.inline",
            ),
            (
                set(base(), "jwks", json!({"inline": []})),
                "providers.idp.jwks.inline",
            ),
            (
                set(
                    base(),
                    "claims_to_headers",
                    json!([{"claim": "sub", "header": "X-User"}]),
                ),
                "providers.idp.claims_to_headers[0].header",
            ),
            (
                set(
                    base(),
                    "claims_to_headers",
                    json!([{"claim": "sub", "header": "host"}]),
                ),
                "providers.idp.claims_to_headers[0].header",
            ),
            (
                set(
                    base(),
                    "claims_to_headers",
                    json!([{"claim": "sub", "header": "authorization"}]),
                ),
                "providers.idp.claims_to_headers[0].header",
            ),
            (
                set(
                    base(),
                    "claims_to_headers",
                    json!([{"claim": "a", "header": "x-a"}, {"claim": "b", "header": "x-a"}]),
                ),
                "providers.idp.claims_to_headers[1].header",
            ),
            (
                set(
                    base(),
                    "claims_to_headers",
                    json!([{"claim": "a..b", "header": "x-a"}]),
                ),
                "providers.idp.claims_to_headers[0].claim",
            ),
        ];
        for (v, field) in cases {
            let e = err(v.clone());
            assert_eq!(e.field, field, "{v}: {e}");
        }
        assert!(err(set(base(), "algorithms", json!(["none"])))
            .problem
            .contains("none"));
        assert!(err(set(base(), "algorithms", json!(["XX1"])))
            .problem
            .contains("RS256"));
        assert!(err(set(base(), "extra", json!(1)))
            .problem
            .contains("unknown field"));
    }

    #[test]
    fn remote_ranges() {
        let remote = |extra: Value| {
            let mut r = json!({"cluster": "c", "authority": "idp.example", "path": "/jwks"});
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            set(base(), "jwks", json!({ "remote": r }))
        };
        validate(remote(
            json!({"refresh_seconds": 1, "timeout_ms": 60000, "max_stale_seconds": 0}),
        ))
        .unwrap();
        for (extra, field) in [
            (json!({"refresh_seconds": 0}), "refresh_seconds"),
            (json!({"timeout_ms": 0}), "timeout_ms"),
            (json!({"timeout_ms": 60001}), "timeout_ms"),
            (json!({"max_stale_seconds": 99999999}), "max_stale_seconds"),
            (json!({"max_bytes": 10}), "max_bytes"),
            (json!({"cluster": ""}), "cluster"),
            (json!({"authority": "a b"}), "authority"),
            (json!({"path": "jwks"}), "path"),
            (json!({"url": "https://x"}), "url"),
        ] {
            let e = err(remote(extra.clone()));
            assert!(e.field.contains("jwks.remote"), "{extra}: {e}");
            assert!(
                e.field.ends_with(field) || e.problem.contains(field),
                "{extra}: {e}"
            );
        }
    }
}
