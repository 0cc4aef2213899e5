//! Metric names, ready for Prometheus: one family per concept, its labels carried in the name in
//! Istio's tag form — `<family>.` then `<label>=.=<value>;.;` for each label — because the host ABI has no
//! labels (`edgeguard_requests_total.decision=.=denied;.;reason=.=expired;.;`). Envoy's `stats_config.stats_tags` with one regex per label, `(<label>=\.=(.*?);\.;)`
//! (shipped in `envoy/stats-tags.yaml`; in Istio, `proxyStatsMatcher` plus `extraStatTags`), turn
//! them into labels, so `/stats/prometheus` reads
//! `edgeguard_requests_total{decision="denied",reason="expired"}`. In `/stats` a metric keeps its
//! whole name under Envoy's `wasmcustom.` prefix.
//!
//! Label values are bounded and never secret: decisions, reason codes, results, and configured
//! names (providers; API-key ids, which use the charset of [`crate::plan::is_plan_name`]). Nothing
//! per user or per token is ever in a name.
//!
//! | family | kind | labels | meaning |
//! |---|---|---|---|
//! | `edgeguard_requests_total` | counter | `decision` (`allowed`, `denied`, `would_deny`), `reason` (denials) | requests by decision: let through (report mode included), answered with a denial, or (report mode) let through but would have been denied |
//! | `edgeguard_plan_unknown_total` | counter | — | allowed requests whose credential named a plan not in `plans.names` (they got the fallback plan) |
//! | `edgeguard_transport_plaintext_credentials_total` | counter | `kind` (`api_key`, `jwt`) | credentials presented over plaintext on a rule that requires TLS (to be rotated; both transport modes) |
//! | `edgeguard_api_key_requests_total` | counter | `key_id` | requests allowed with each API key (usage) |
//! | `edgeguard_tokens_verified_total` | counter | `provider` | tokens verified by each provider |
//! | `edgeguard_token_cache_lookups_total` | counter | `result` (`hit`, `miss`) | signature checks answered by the verified-token cache, or not |
//! | `edgeguard_jwks_fetches_total` | counter | `provider`, `result` (`ok`, `failed`) | JWKS fetches |
//! | `edgeguard_jwks_age_seconds` | gauge | `provider` | age of the key set in use |
//! | `edgeguard_discovery_fetches_total` | counter | `provider`, `result` | discovery-document fetches (an issuer mismatch or a refused `jwks_uri` is a failed fetch) |
//! | `edgeguard_discovery_age_seconds` | gauge | `provider` | age of the discovery document in use |
//! | `edgeguard_introspection_calls_total` | counter | `provider`, `result` (`active`, `inactive`, `error`) | introspection calls by outcome |
//! | `edgeguard_introspection_lookups_total` | counter | `provider`, `result` (`cache_hit`, `coalesced`, `overloaded`) | tokens answered from the cache, requests that waited for another request's call, new tokens refused (503) beyond `max_in_flight` |
//! | `edgeguard_api_key_set_fetches_total` | counter | `result` | remote API-key set fetches |
//! | `edgeguard_api_key_set_keys` | gauge | — | keys of the remote set in use (after skipped entries) |
//! | `edgeguard_api_key_set_age_seconds` | gauge | — | age of the remote key set in use |
//! | `edgeguard_basic_checks_total` | counter | `result` (`verified`, `failed`, `cache_hit`, `busy`, `locked`) | HTTP Basic credentials by how their check ended: the password checked with its slow hash (an unknown user's dummy check counts as failed), answered from the verified-credential cache (one keyed hash), or refused before any hash — the VM's slow-hash budget spent (503), the name had too many failures this minute (429) |

use crate::reason::Reason;

/// Every label name a family uses (what `envoy/stats-tags.yaml` extracts).
pub const LABELS: [&str; 6] = ["decision", "reason", "key_id", "provider", "result", "kind"];

pub const REQUESTS: &str = "edgeguard_requests_total";
pub const PLAN_UNKNOWN: &str = "edgeguard_plan_unknown_total";
pub const PLAINTEXT_CREDENTIALS: &str = "edgeguard_transport_plaintext_credentials_total";
pub const API_KEY_REQUESTS: &str = "edgeguard_api_key_requests_total";
pub const TOKENS_VERIFIED: &str = "edgeguard_tokens_verified_total";
pub const TOKEN_CACHE: &str = "edgeguard_token_cache_lookups_total";
pub const JWKS_FETCHES: &str = "edgeguard_jwks_fetches_total";
pub const JWKS_AGE: &str = "edgeguard_jwks_age_seconds";
pub const DISCOVERY_FETCHES: &str = "edgeguard_discovery_fetches_total";
pub const DISCOVERY_AGE: &str = "edgeguard_discovery_age_seconds";
pub const INTROSPECTION_CALLS: &str = "edgeguard_introspection_calls_total";
pub const INTROSPECTION_LOOKUPS: &str = "edgeguard_introspection_lookups_total";
pub const KEY_SET_FETCHES: &str = "edgeguard_api_key_set_fetches_total";
pub const KEY_SET_KEYS: &str = "edgeguard_api_key_set_keys";
pub const KEY_SET_AGE: &str = "edgeguard_api_key_set_age_seconds";
pub const BASIC_CHECKS: &str = "edgeguard_basic_checks_total";

/// The metric name of `family` with `labels`, in Istio's tag form.
pub fn name(family: &str, labels: &[(&str, &str)]) -> String {
    let mut n = String::with_capacity(family.len() + labels.len() * 24);
    n.push_str(family);
    if !labels.is_empty() {
        n.push('.');
    }
    for (label, value) in labels {
        n.push_str(label);
        n.push_str("=.=");
        n.push_str(value);
        n.push_str(";.;");
    }
    n
}

fn result(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "failed"
    }
}

pub fn allowed() -> String {
    name(REQUESTS, &[("decision", "allowed")])
}

/// Denials (`enforced`) or would-be denials (report mode) for `reason`.
pub fn denied(reason: Reason, enforced: bool) -> String {
    let decision = if enforced { "denied" } else { "would_deny" };
    name(
        REQUESTS,
        &[("decision", decision), ("reason", reason.code())],
    )
}

pub fn plan_unknown() -> String {
    name(PLAN_UNKNOWN, &[])
}

/// Credentials of `kind` presented over plaintext where TLS is required.
pub fn plaintext_credential(kind: crate::credential::Kind) -> String {
    name(PLAINTEXT_CREDENTIALS, &[("kind", kind.name())])
}

pub fn key_allowed(id: &str) -> String {
    name(API_KEY_REQUESTS, &[("key_id", id)])
}

pub fn provider_verified(provider: &str) -> String {
    name(TOKENS_VERIFIED, &[("provider", provider)])
}

pub fn token_cache(hit: bool) -> String {
    name(TOKEN_CACHE, &[("result", if hit { "hit" } else { "miss" })])
}

pub fn jwks_fetch(provider: &str, ok: bool) -> String {
    name(
        JWKS_FETCHES,
        &[("provider", provider), ("result", result(ok))],
    )
}

pub fn jwks_age(provider: &str) -> String {
    name(JWKS_AGE, &[("provider", provider)])
}

pub fn discovery_fetch(provider: &str, ok: bool) -> String {
    name(
        DISCOVERY_FETCHES,
        &[("provider", provider), ("result", result(ok))],
    )
}

pub fn discovery_age(provider: &str) -> String {
    name(DISCOVERY_AGE, &[("provider", provider)])
}

/// An introspection outcome of `provider`: a call's (`active`, `inactive`, `error`) or a lookup's
/// (`cache_hit`, `coalesced`, `overloaded`).
pub fn introspection(provider: &str, what: &str) -> String {
    let family = match what {
        "active" | "inactive" | "error" => INTROSPECTION_CALLS,
        _ => INTROSPECTION_LOOKUPS,
    };
    name(family, &[("provider", provider), ("result", what)])
}

/// How an HTTP Basic check ended (`verified`, `failed`, `cache_hit`, `busy`, `locked`).
pub fn basic(result: &str) -> String {
    name(BASIC_CHECKS, &[("result", result)])
}

pub fn key_set_fetch(ok: bool) -> String {
    name(KEY_SET_FETCHES, &[("result", result(ok))])
}

pub fn key_set_keys() -> String {
    name(KEY_SET_KEYS, &[])
}

pub fn key_set_age() -> String {
    name(KEY_SET_AGE, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_labels_in_istio_tag_form() {
        assert_eq!(allowed(), "edgeguard_requests_total.decision=.=allowed;.;");
        assert_eq!(
            denied(Reason::Expired, true),
            "edgeguard_requests_total.decision=.=denied;.;reason=.=expired;.;"
        );
        assert_eq!(
            introspection("as", "coalesced"),
            "edgeguard_introspection_lookups_total.provider=.=as;.;result=.=coalesced;.;"
        );
        assert_eq!(plan_unknown(), "edgeguard_plan_unknown_total");
        // every label of every name is one LABELS extracts
        for n in [
            denied(Reason::Missing, false),
            key_allowed("ios-app"),
            jwks_fetch("idp", true),
            token_cache(false),
            key_set_fetch(true),
        ] {
            for (before, _) in n.split(";.;").filter_map(|p| p.split_once("=.=")) {
                let label = before.rsplit('.').next().unwrap_or(before);
                assert!(LABELS.contains(&label), "{n}: {label}");
            }
        }
    }
}
