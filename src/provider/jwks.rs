//! A provider's `jwks`: exactly one of `inline` (a JWKS in the configuration), `remote` (fetched
//! through an Envoy cluster, with its refresh policy) or `discovery` (found through the issuer's
//! OpenID Connect discovery document); absent when the provider introspects every token.

use super::callout::{check_authority, check_cluster, check_path, in_range};
use super::discovery::{Discovery, DiscoveryConfig};
use crate::config_error::ConfigError;
use crate::jwt::jwk::KeySet;

pub const DEFAULT_REFRESH_SECONDS: u64 = 300;
pub const MAX_REFRESH_SECONDS: u64 = 7 * 86400;
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
pub const MAX_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_MAX_STALE_SECONDS: u64 = 86400;
pub const MAX_MAX_STALE_SECONDS: u64 = 30 * 86400;
pub const DEFAULT_JWKS_MAX_BYTES: usize = 512 * 1024;
pub const MIN_JWKS_MAX_BYTES: usize = 1024;
pub const MAX_JWKS_MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub(super) struct JwksConfig {
    inline: Option<serde_json::Value>,
    remote: Option<RemoteConfig>,
    discovery: Option<DiscoveryConfig>,
}

#[derive(Debug)]
struct RemoteConfig {
    cluster: String,
    authority: String,
    path: String,
    refresh_seconds: Option<u64>,
    timeout_ms: Option<u64>,
    max_stale_seconds: Option<u64>,
    max_bytes: Option<usize>,
}

from_json_struct!(JwksConfig {
    inline,
    remote,
    discovery
});
from_json_struct!(RemoteConfig {
    cluster,
    authority,
    path,
    refresh_seconds,
    timeout_ms,
    max_stale_seconds,
    max_bytes,
});
/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Keys given in the config.
    Inline(KeySet),
    /// Keys fetched over HTTP through an Envoy cluster.
    Remote(RemoteJwks),
    /// Keys found through the issuer's OpenID Connect discovery document.
    Discovered(Discovery),
    /// No key set: the provider introspects every token (it has `introspection`).
    Absent,
}

impl JwksSource {
    /// The keys are fetched (directly or through discovery), not given or absent.
    pub fn is_remote(&self) -> bool {
        matches!(self, JwksSource::Remote(_) | JwksSource::Discovered(_))
    }
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

impl JwksConfig {
    /// `issuer` is the provider's (discovery starts from it).
    pub(super) fn validate(self, issuer: &str, field: &str) -> Result<JwksSource, ConfigError> {
        Ok(match (self.inline, self.remote, self.discovery) {
            (Some(doc), None, None) => {
                let (keys, _skipped) = KeySet::from_value(&doc).map_err(|e| {
                    ConfigError::new(&format!("{field}.inline"), format!("unusable key set: {e}"))
                })?;
                JwksSource::Inline(keys)
            }
            (None, Some(r), None) => JwksSource::Remote(r.validate(&format!("{field}.remote"))?),
            (None, None, Some(d)) => {
                JwksSource::Discovered(d.validate(issuer, &format!("{field}.discovery"))?)
            }
            _ => {
                return Err(ConfigError::new(
                    field,
                    "must have exactly one of \"inline\", \"remote\" or \"discovery\"",
                ))
            }
        })
    }
}

impl RemoteConfig {
    fn validate(self, field: &str) -> Result<RemoteJwks, ConfigError> {
        let f = |sub: &str| format!("{field}.{sub}");
        check_cluster(&self.cluster, &f("cluster"))?;
        check_authority(&self.authority, &f("authority"))?;
        check_path(&self.path, &f("path"))?;
        let refresh_seconds = in_range(
            self.refresh_seconds,
            DEFAULT_REFRESH_SECONDS,
            1,
            MAX_REFRESH_SECONDS,
            &f("refresh_seconds"),
        )?;
        let timeout_ms = in_range(
            self.timeout_ms,
            DEFAULT_TIMEOUT_MS,
            1,
            MAX_TIMEOUT_MS,
            &f("timeout_ms"),
        )?;
        let max_stale_seconds = in_range(
            self.max_stale_seconds,
            DEFAULT_MAX_STALE_SECONDS,
            0,
            MAX_MAX_STALE_SECONDS,
            &f("max_stale_seconds"),
        )?;
        let max_bytes = in_range(
            self.max_bytes,
            DEFAULT_JWKS_MAX_BYTES,
            MIN_JWKS_MAX_BYTES,
            MAX_JWKS_MAX_BYTES,
            &f("max_bytes"),
        )?;
        Ok(RemoteJwks {
            cluster: self.cluster,
            authority: self.authority,
            path: self.path,
            refresh_seconds,
            timeout_ms,
            max_stale_seconds,
            max_bytes,
        })
    }
}
