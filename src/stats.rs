//! Metric names. Every name starts with `edgeguard.`; Envoy shows wasm metrics under the
//! `wasmcustom.` prefix (`/stats`) and as `envoy_wasmcustom_edgeguard_*` in `/stats/prometheus`.
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `edgeguard.requests.allowed` | counter | requests let through (report mode included) |
//! | `edgeguard.requests.denied` | counter | requests answered with a denial |
//! | `edgeguard.requests.would_deny` | counter | report mode: requests that would have been denied |
//! | `edgeguard.plan.unknown` | counter | allowed requests whose credential named a plan not in `plans.names` (they got the fallback plan) |
//! | `edgeguard.denied.<reason>` | counter | denials (or would-be denials) by reason code |
//! | `edgeguard.api_key.<id>.allowed` | counter | requests allowed with API key `<id>` (usage) |
//! | `edgeguard.provider.<name>.verified` | counter | tokens verified by provider `<name>` |
//! | `edgeguard.jwks.<name>.fetch_ok` / `fetch_failed` | counter | JWKS fetches by outcome |
//! | `edgeguard.jwks.<name>.age_seconds` | gauge | age of the key set in use |
//! | `edgeguard.discovery.<name>.fetch_ok` / `fetch_failed` | counter | discovery-document fetches by outcome (an issuer mismatch or a refused `jwks_uri` is a failed fetch) |
//! | `edgeguard.discovery.<name>.age_seconds` | gauge | age of the discovery document in use |
//! | `edgeguard.token_cache.hit` / `miss` | counter | signature checks answered by the verified-token cache, or not |
//! | `edgeguard.introspection.<name>.active` / `inactive` / `error` | counter | introspection calls by outcome |
//! | `edgeguard.introspection.<name>.cache_hit` / `coalesced` / `overloaded` | counter | tokens answered from the cache, requests that waited for another request's call, new tokens refused (503) beyond `max_in_flight` |
//! | `edgeguard.api_key_set.fetch_ok` / `fetch_failed` | counter | remote API-key set fetches by outcome |
//! | `edgeguard.api_key_set.keys` | gauge | keys of the remote set in use (after skipped entries) |
//! | `edgeguard.api_key_set.age_seconds` | gauge | age of the remote key set in use |
//! | `edgeguard.basic.verified` / `failed` | counter | HTTP Basic passwords checked with their slow hash, by outcome (an unknown user's dummy check counts as failed) |
//! | `edgeguard.basic.cache_hit` | counter | HTTP Basic credentials answered from the verified-credential cache (one keyed hash) |
//! | `edgeguard.basic.busy` / `locked` | counter | HTTP Basic credentials refused before any hash: the VM's slow-hash budget was spent (503), the name had too many failures this minute (429) |

use crate::reason::Reason;

pub const ALLOWED: &str = "edgeguard.requests.allowed";
pub const DENIED: &str = "edgeguard.requests.denied";
pub const WOULD_DENY: &str = "edgeguard.requests.would_deny";
pub const UNKNOWN_PLAN: &str = "edgeguard.plan.unknown";

pub fn denied_by(reason: Reason) -> String {
    format!("edgeguard.denied.{}", reason.code())
}

pub fn key_allowed(id: &str) -> String {
    format!("edgeguard.api_key.{id}.allowed")
}

pub fn provider_verified(name: &str) -> String {
    format!("edgeguard.provider.{name}.verified")
}

pub fn jwks_fetch(name: &str, ok: bool) -> String {
    format!(
        "edgeguard.jwks.{name}.{}",
        if ok { "fetch_ok" } else { "fetch_failed" }
    )
}

pub fn jwks_age(name: &str) -> String {
    format!("edgeguard.jwks.{name}.age_seconds")
}

pub fn discovery_fetch(name: &str, ok: bool) -> String {
    format!(
        "edgeguard.discovery.{name}.{}",
        if ok { "fetch_ok" } else { "fetch_failed" }
    )
}

pub fn discovery_age(name: &str) -> String {
    format!("edgeguard.discovery.{name}.age_seconds")
}

pub const CACHE_HIT: &str = "edgeguard.token_cache.hit";
pub const CACHE_MISS: &str = "edgeguard.token_cache.miss";

pub const BASIC_VERIFIED: &str = "edgeguard.basic.verified";
pub const BASIC_FAILED: &str = "edgeguard.basic.failed";
pub const BASIC_CACHE_HIT: &str = "edgeguard.basic.cache_hit";
pub const BASIC_BUSY: &str = "edgeguard.basic.busy";
pub const BASIC_LOCKED: &str = "edgeguard.basic.locked";

/// `edgeguard.introspection.<name>.<what>` (`active`, `inactive`, `error`, `cache_hit`, `coalesced`,
/// `overloaded`).
pub fn introspection(name: &str, what: &str) -> String {
    format!("edgeguard.introspection.{name}.{what}")
}
pub fn key_set_fetch(ok: bool) -> String {
    format!(
        "edgeguard.api_key_set.{}",
        if ok { "fetch_ok" } else { "fetch_failed" }
    )
}

pub const KEY_SET_KEYS: &str = "edgeguard.api_key_set.keys";
pub const KEY_SET_AGE: &str = "edgeguard.api_key_set.age_seconds";
