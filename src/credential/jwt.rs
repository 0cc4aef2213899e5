//! JWTs as a credential kind: a bearer token verified by a named provider (`providers.<name>`).
//!
//! The provider's configuration is [`crate::provider`], token verification is [`crate::jwt`]; this
//! file is the glue between them and a request:
//! - the token is read through [`presented`] from the provider's sources, and its key set is the
//!   inline one or the remote one the host holds: a remote set still loading makes the check wait
//!   ([`Need::KeySet`]), one that could not be loaded is a 503;
//! - the signature part is answered from the verified-token cache when it can ([`crate::jwt::cache`]);
//!   time, issuer and audience are checked on every request, the size by [`crate::jwt::verify`] on a
//!   miss (a cached token passed it when it was stored);
//! - a token naming a `kid` the remote key set lacks may wait for one (rate-limited) refetch;
//! - the identity is the provider's name (`headers.provider`), the token's `sub` (`headers.subject`),
//!   the scopes from the provider's scope claims and the claims; the provider's `claims_to_headers`
//!   go upstream too ([`claim_header_value`]);
//! - a provider with `introspection` hands every token to [`introspected`] when it has no key set,
//!   and every token that is not a JWT when it has one;
//! - a failure is challenged per RFC 6750 (`Bearer`, `invalid_token`).

use super::introspected;
use super::requirement::{validate_claims, validate_scopes, CredentialRequirement};
use super::{
    challenge_denial, is_header_exact, presented, Authenticator, Configured, Context,
    CredentialState, Identity, Kind,
};
use crate::claim_path::ClaimPath;
use crate::config_error::ConfigError;
use crate::config_json::{At, FromJson, Obj};
use crate::decision::{Denial, Edits};
use crate::extractor::Source;
use crate::introspection::looks_like_jwt;
use crate::jwt::cache::{Cached, JwtCache};
use crate::jwt::jwk::KeySet;
use crate::jwt::{self, Claims, JwtError};
use crate::need::Need;
use crate::provider::{JwksSource, Provider};
use crate::reason::Reason;
use crate::resources::KeyAvailability;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Bounds of the verified-token cache (per VM). `max_entries: 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheConfig {
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        TokenCacheConfig {
            max_entries: 4096,
            max_bytes: 8 << 20,
        }
    }
}

// Every member of `token_cache` is optional (the default when absent).
impl FromJson for TokenCacheConfig {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        let o = Obj::new(v, at, &["max_entries", "max_bytes"])?;
        let d = TokenCacheConfig::default();
        Ok(TokenCacheConfig {
            max_entries: o.get_or("max_entries", d.max_entries)?,
            max_bytes: o.get_or("max_bytes", d.max_bytes)?,
        })
    }
}

/// The requirement leaf `{"jwt": "<provider>", "scopes": [...], "claims": {...}}` (or its general
/// name, `{"token": "<provider>", ...}`: `member`) found at `field` (`rules[0].require`): refused for
/// a provider that is not configured.
pub fn requirement(
    (member, provider): (&str, String),
    scopes: Option<Vec<String>>,
    claims: Option<BTreeMap<String, Value>>,
    field: &str,
    configured: Configured<'_>,
) -> Result<CredentialRequirement, ConfigError> {
    if !configured.providers.contains_key(&provider) {
        let mut names: Vec<&str> = configured.providers.keys().map(String::as_str).collect();
        names.sort_unstable();
        let problem = if names.is_empty() {
            format!("unknown provider \"{provider}\": no providers are configured")
        } else {
            format!(
                "unknown provider \"{provider}\" (configured: {})",
                names.join(", ")
            )
        };
        return Err(ConfigError::new(&format!("{field}.{member}"), problem));
    }
    let scopes = match scopes {
        Some(s) => validate_scopes(s, &format!("{field}.scopes"))?,
        None => Vec::new(),
    };
    let claims = match claims {
        Some(c) => validate_claims(c, &format!("{field}.claims"))?,
        None => Vec::new(),
    };
    Ok(CredentialRequirement {
        scopes,
        claims,
        ..CredentialRequirement::any(Kind::Jwt, Some(provider))
    })
}

/// The JWT credential kind, with its verified-token cache.
#[derive(Debug)]
pub struct JwtAuth {
    /// Signature outcomes of recent tokens (see `jwt::cache`).
    token_cache: RefCell<JwtCache<Claims>>,
}

impl JwtAuth {
    pub fn new(bounds: TokenCacheConfig) -> Self {
        JwtAuth {
            token_cache: RefCell::new(JwtCache::new(bounds.max_entries, bounds.max_bytes)),
        }
    }

    /// Verifies a token, answering the signature part from the verified-token cache when it can.
    /// Time, issuer and audience are checked on every request; the size by `jwt::verify`, first, on
    /// a miss (a cached token passed it when it was stored).
    fn verify(
        &self,
        token: &str,
        provider: &Provider,
        keys: &KeySet,
        cx: &mut Context<'_>,
    ) -> Result<Rc<Claims>, JwtError> {
        let slot = cx
            .configured
            .providers
            .keys()
            .position(|n| n == &provider.name)
            .unwrap_or(usize::MAX);
        let slot = u32::try_from(slot).unwrap_or(u32::MAX);
        let cached = self
            .token_cache
            .borrow()
            .get(token, slot, keys.fingerprint());
        match cached {
            Some(Cached::Verified(claims)) => {
                cx.events.cache_hits += 1;
                jwt::check_claims(&claims, &provider.rules, cx.now).map(|()| claims)
            }
            Some(Cached::BadSignature) => {
                cx.events.cache_hits += 1;
                Err(JwtError::BadSignature)
            }
            None => {
                cx.events.cache_misses += 1;
                let result = jwt::verify(token, &provider.rules, keys, cx.now).map(Rc::new);
                let entry = match &result {
                    Ok(claims) => Some(Cached::Verified(claims.clone())),
                    Err(JwtError::BadSignature) => Some(Cached::BadSignature),
                    Err(_) => None,
                };
                if let Some(entry) = entry {
                    self.token_cache
                        .borrow_mut()
                        .insert(token, slot, keys.fingerprint(), entry);
                }
                result
            }
        }
    }
}

impl Authenticator for JwtAuth {
    /// `source` is the provider's name; an unknown one (or none) is `Missing`.
    fn check(&self, source: Option<&str>, cx: &mut Context<'_>) -> CredentialState {
        let Some(provider) = source.and_then(|name| cx.configured.providers.get(name)) else {
            return CredentialState::Missing;
        };
        let (token, found) = match presented(&provider.sources, cx.req) {
            Ok(p) => p,
            Err(state) => return state,
        };
        if provider.introspection.is_some()
            && (matches!(provider.jwks, JwksSource::Absent) || !looks_like_jwt(&token))
        {
            return introspected::check(provider, &token, found, cx);
        }
        let need = || Need::KeySet(provider.name.clone());
        let keys = match &provider.jwks {
            JwksSource::Inline(k) => k.clone(),
            // Validation gives every provider without a key set an introspection endpoint.
            JwksSource::Absent => return CredentialState::Invalid(Reason::Malformed),
            JwksSource::Remote(_) | JwksSource::Discovered(_) => {
                match cx.resources.key_set(&provider.name) {
                    KeyAvailability::Ready(k) => k,
                    KeyAvailability::Loading(doc) => {
                        return CredentialState::Pending(doc.need(&provider.name))
                    }
                    KeyAvailability::Unavailable(doc) => {
                        return CredentialState::Unavailable(doc.need(&provider.name))
                    }
                }
            }
        };
        match self.verify(&token, provider, &keys, cx) {
            Ok(claims) => {
                cx.verified_at(found, provider.forward_token);
                cx.events.verified.push(provider.name.clone());
                let subject = claims
                    .get("sub")
                    .and_then(|s| s.as_str())
                    .map(str::to_string);
                if cx.events.subject.is_none() {
                    cx.events.subject.clone_from(&subject);
                }
                CredentialState::Valid(Identity {
                    kind: Kind::Jwt,
                    method: super::Method::Jwt,
                    source: Some(provider.name.clone()),
                    subject,
                    key_id: None,
                    client_id: None,
                    scopes: token_scopes(&claims, &provider.scope_claims),
                    plan: provider
                        .plan_claim
                        .as_ref()
                        .and_then(|c| c.lookup(&claims))
                        .and_then(|v| v.as_str())
                        .map(Box::from),
                    claims: Some(claims),
                })
            }
            Err(e) => {
                if e == JwtError::UnknownKid {
                    cx.events.unknown_kid.push(provider.name.clone());
                    if provider.jwks.is_remote() && cx.resources.refetch_key_set(&provider.name) {
                        return CredentialState::Pending(need());
                    }
                }
                CredentialState::Invalid(e.reason())
            }
        }
    }

    fn denial(&self, realm: &str, reason: Reason, scopes: &[String]) -> Denial {
        challenge_denial("Bearer", "invalid_token", realm, reason, scopes)
    }

    /// The provider's `claims_to_headers`, each claim that renders as a header value.
    fn forward(&self, identity: &Identity, configured: Configured<'_>, edits: &mut Edits<'_>) {
        let (Some(claims), Some(p)) = (
            &identity.claims,
            identity
                .source
                .as_ref()
                .and_then(|name| configured.providers.get(name)),
        ) else {
            return;
        };
        for (claim, header) in &p.claims_to_headers {
            if let Some(v) = claim_header_value(claims, claim) {
                edits.set(header, v);
            }
        }
    }

    fn sources<'a>(&self, configured: Configured<'a>) -> Vec<&'a Source> {
        configured
            .providers
            .values()
            .flat_map(|p| p.sources.iter())
            .collect()
    }

    fn owned_headers<'a>(&self, configured: Configured<'a>) -> Vec<&'a str> {
        configured
            .providers
            .values()
            .flat_map(|p| p.claims_to_headers.iter().map(|(_, h)| h.as_str()))
            .collect()
    }
}

/// A claim rendered as a header value: strings as is, numbers and booleans as JSON, arrays of those
/// joined with `,`. Not forwarded at all (`None`): objects, nulls, empty arrays, array elements that
/// contain `,` (the joined value would be ambiguous), and values that would not arrive byte for byte
/// (see [`is_header_exact`]).
pub fn claim_header_value(claims: &Claims, path: &ClaimPath) -> Option<String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let out = match path.lookup(claims)? {
        Value::Array(items) => {
            let parts = items
                .iter()
                .map(|v| scalar(v).filter(|s| is_header_exact(s) && !s.contains(',')))
                .collect::<Option<Vec<_>>>()?;
            parts.join(",")
        }
        other => scalar(other)?,
    };
    is_header_exact(&out).then_some(out)
}

/// Scopes from the provider's scope claims: strings delimited by spaces (RFC 6749 §3.3: `SP` only;
/// other whitespace is part of a scope) or arrays of strings.
pub fn token_scopes(claims: &Claims, scope_claims: &[String]) -> Vec<String> {
    let mut scopes = Vec::new();
    for c in scope_claims {
        match claims.get(c) {
            Some(Value::String(s)) => {
                scopes.extend(s.split(' ').filter(|s| !s.is_empty()).map(str::to_string))
            }
            Some(Value::Array(a)) => {
                scopes.extend(a.iter().filter_map(|v| v.as_str()).map(str::to_string))
            }
            _ => {}
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_values_render_as_headers() {
        let claims: Claims = match serde_json::from_str(
            r#"{"sub":"u1","n":5,"b":true,"a":["x","y"],"o":{"p":{"q":"deep"}},"bad":"a\nb","obj":{},
                "comma":["user,admin"],"pad":" admin","tab":"x\t","empty":"","ea":[],"o.p":"top"}"#,
        ) {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        };
        let at = |p: &str| match ClaimPath::parse(p) {
            Ok(p) => claim_header_value(&claims, &p),
            Err(e) => unreachable!("{e}"),
        };
        assert_eq!(at("sub").as_deref(), Some("u1"));
        assert_eq!(at("n").as_deref(), Some("5"));
        assert_eq!(at("b").as_deref(), Some("true"));
        assert_eq!(at("a").as_deref(), Some("x,y"));
        assert_eq!(at("o.p.q").as_deref(), Some("deep"));
        assert_eq!(at("o\\.p").as_deref(), Some("top"));
        for none in [
            "bad", "obj", "nope", "comma", "pad", "tab", "empty", "ea", "o.p",
        ] {
            assert_eq!(at(none), None, "{none}");
        }
        assert_eq!(
            token_scopes(&claims, &["a".into(), "sub".into()]),
            vec!["x", "y", "u1"]
        );
        let nbsp: Claims =
            serde_json::from_str("{\"scope\": \"orders:read\u{a0}admin  x\"}").unwrap_or_default();
        assert_eq!(
            token_scopes(&nbsp, &["scope".into()]),
            vec!["orders:read\u{a0}admin", "x"]
        );
    }
}
