//! The JWKS document of a remote JWT provider: the request that fetches it and how its body becomes a
//! [`KeySet`].

use super::lifecycle::Timing;
use super::Document;
use crate::host::Callout;
use crate::jwt::jwk::{parse_jwks, KeySet};
use crate::provider::RemoteJwks;
use crate::stats;

/// A provider's remote key set.
#[derive(Debug, Clone)]
pub struct Jwks(pub RemoteJwks);

impl Document for Jwks {
    type Value = KeySet;
    const KIND: &'static str = "jwks";
    const LABEL: &'static str = "JWKS";
    const OWNER: &'static str = "provider";

    fn request(&self) -> Callout {
        let r = &self.0;
        super::get_json(&r.cluster, &r.authority, &r.path, r.timeout_ms)
    }

    fn timing(&self) -> Timing {
        Timing {
            refresh_ms: self.0.refresh_seconds.saturating_mul(1000),
            max_stale_ms: self.0.max_stale_seconds.saturating_mul(1000),
            timeout_ms: self.0.timeout_ms,
        }
    }

    fn max_bytes(&self) -> usize {
        self.0.max_bytes
    }

    fn parse(&self, name: &str, body: &[u8]) -> Result<KeySet, String> {
        let (set, skipped) = parse_jwks(body).map_err(|e| format!("unusable JWKS: {e}"))?;
        for s in skipped {
            log::warn!(
                "edgeguard: provider {name}: skipped JWK kid={:?}: {}",
                s.kid.as_deref().unwrap_or("-"),
                s.why
            );
        }
        Ok(set)
    }

    fn describe(value: &KeySet) -> String {
        format!("{} usable key(s)", value.len())
    }

    fn fetch_metric(name: &str, ok: bool) -> String {
        stats::jwks_fetch(name, ok)
    }

    fn age_metric(name: &str) -> String {
        stats::jwks_age(name)
    }
}
