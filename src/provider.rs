//! JWT providers: issuer, audiences, where tokens come from, which algorithms, which key set.
//! (STUB: to be completed by the JWT work — keep the public names used by `engine` and `jwks_cache`.)

use crate::config::ConfigError;
use crate::extractor::{validate_sources, Source, SourceConfig};
use crate::jwk::KeySet;
use serde::Deserialize;

/// JSON form of one entry of `providers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    issuer: String,
    from: Option<Vec<SourceConfig>>,
}

/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Keys given in the config.
    Inline(KeySet),
    /// Keys fetched over HTTP through an Envoy cluster.
    Remote(RemoteJwks),
}

/// A remote JWKS endpoint and its refresh policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwks {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub refresh_seconds: u64,
    pub timeout_ms: u64,
    pub max_stale_seconds: u64,
    /// Responses larger than this are rejected (default 512 KiB).
    pub max_bytes: usize,
}

/// A validated provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub issuer: String,
    pub sources: Vec<Source>,
    pub jwks: JwksSource,
    pub forward_token: bool,
    /// `(dotted claim path, header name)` pairs.
    pub claims_to_headers: Vec<(String, String)>,
    /// Claims that carry scopes (default `scope`, `scp`).
    pub scope_claims: Vec<String>,
}

impl ProviderConfig {
    pub fn validate(self, name: &str, field: &str) -> Result<Provider, ConfigError> {
        let default = vec![Source::Header {
            name: "authorization".into(),
            prefix: Some("Bearer ".into()),
        }];
        let sources = validate_sources(self.from, &format!("{field}.from"), default)?;
        Ok(Provider {
            name: name.to_string(),
            issuer: self.issuer,
            sources,
            jwks: JwksSource::Inline(KeySet::default()),
            forward_token: false,
            claims_to_headers: Vec::new(),
            scope_claims: vec!["scope".into(), "scp".into()],
        })
    }
}
