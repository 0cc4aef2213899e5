//! The remote API-key set (`api_keys.remote`): the request that fetches it and how its body becomes
//! the key set requests are checked against — the inline keys merged with the document's, built
//! once per fetched document per VM (see [`crate::api_key_set`] for the format and the merge).

use super::lifecycle::Timing;
use super::Document;
use crate::api_key_set::{log_skipped, parse_document, ApiKeySet};
use crate::credential::api_key::RemoteKeySet;
use crate::host::Callout;
use crate::stats;
use std::rc::Rc;

/// The remote key set, and the inline keys it is merged with.
#[derive(Debug, Clone)]
pub struct ApiKeySetDoc {
    pub remote: RemoteKeySet,
    pub inline: ApiKeySet,
}

impl Document for ApiKeySetDoc {
    type Value = Rc<ApiKeySet>;
    const KIND: &'static str = "api_keys";
    const LABEL: &'static str = "key set";
    const OWNER: &'static str = "api_keys";

    fn request(&self) -> Callout {
        let r = &self.remote;
        super::get_json(&r.cluster, &r.authority, &r.path, r.timeout_ms)
    }

    fn timing(&self) -> Timing {
        Timing {
            refresh_ms: self.remote.refresh_seconds.saturating_mul(1000),
            max_stale_ms: self.remote.max_stale_seconds.saturating_mul(1000),
            timeout_ms: self.remote.timeout_ms,
        }
    }

    fn max_bytes(&self) -> usize {
        self.remote.max_bytes
    }

    fn parse(&self, _name: &str, body: &[u8]) -> Result<Rc<ApiKeySet>, String> {
        let (remote, mut skipped) = parse_document(body)?;
        let (set, duplicates) = self.inline.merged(remote);
        skipped.extend(duplicates);
        skipped.sort_by_key(|s| s.index);
        log_skipped(&skipped);
        Ok(Rc::new(set))
    }

    fn describe(value: &Rc<ApiKeySet>) -> String {
        format!(
            "{} remote key(s), {} in all",
            value.remote_len(),
            value.keys().len()
        )
    }

    fn fetch_metric(_name: &str, ok: bool) -> String {
        stats::key_set_fetch(ok)
    }

    fn age_metric(_name: &str) -> String {
        stats::key_set_age()
    }

    fn gauges(value: &Rc<ApiKeySet>) -> Vec<(String, u64)> {
        let n = u64::try_from(value.remote_len()).unwrap_or(u64::MAX);
        vec![(stats::key_set_keys(), n)]
    }
}
