//! API keys: the `api_keys` section (keys stored only as SHA-256 digests, each with an id, scopes, an
//! on/off switch and an optional validity window; inline, and optionally a remote key set) and the
//! credential kind that checks them.
//!
//! A presented key is hashed once and looked up by digest ([`crate::api_key_set`]). A valid key's
//! identity is its id (`key_id`, sent as `headers.key_id`) and its scopes; a failure is challenged
//! with scheme `ApiKey` and error `invalid_key`.
//!
//! With `remote`, the key is looked up in the merged set (inline + remote, built once per fetched
//! document) when one is loaded; otherwise an inline key still answers at once, and any other key
//! waits for the set ([`Need::ApiKeySet`]) or, when it cannot be had, is a 503
//! `key_set_unavailable` — never a 401.

use super::requirement::{validate_ids, validate_scopes, CredentialRequirement};
use super::{
    challenge_denial, presented, Authenticator, Configured, Context, CredentialState, Identity,
    Kind,
};
use crate::api_key_set::{ApiKey, ApiKeySet, KeyCheck, KeyEntryConfig};
use crate::config_error::ConfigError;
use crate::decision::{Denial, Edits};
use crate::extractor::{validate_sources, Source, SourceConfig};
use crate::need::Need;
use crate::provider::{check_authority, check_cluster, check_path};
use crate::provider::{
    DEFAULT_MAX_STALE_SECONDS, DEFAULT_TIMEOUT_MS, MAX_MAX_STALE_SECONDS, MAX_REFRESH_SECONDS,
    MAX_TIMEOUT_MS,
};
use crate::reason::Reason;
use crate::resources::Loaded;

pub use crate::api_key_set::{sha256, sha256_hex};

/// `api_keys.remote.refresh_seconds` default.
pub const DEFAULT_KEY_SET_REFRESH_SECONDS: u64 = 30;
/// `api_keys.remote.max_bytes` default and range.
pub const DEFAULT_KEY_SET_MAX_BYTES: usize = 1024 * 1024;
pub const MIN_KEY_SET_MAX_BYTES: usize = 1024;
pub const MAX_KEY_SET_MAX_BYTES: usize = 16 * 1024 * 1024;

/// JSON form of the `api_keys` section.
#[derive(Debug)]
pub struct ApiKeysConfig {
    from: Option<Vec<SourceConfig>>,
    keys: Vec<KeyEntryConfig>,
    forward_credential: Option<bool>,
    remote: Option<RemoteKeySetConfig>,
}

from_json_struct!(ApiKeysConfig {
    from,
    keys = default,
    forward_credential,
    remote,
});

/// JSON form of `api_keys.remote`.
#[derive(Debug)]
struct RemoteKeySetConfig {
    cluster: String,
    authority: String,
    path: String,
    refresh_seconds: Option<u64>,
    timeout_ms: Option<u64>,
    max_stale_seconds: Option<u64>,
    max_bytes: Option<usize>,
}

from_json_struct!(RemoteKeySetConfig {
    cluster,
    authority,
    path,
    refresh_seconds,
    timeout_ms,
    max_stale_seconds,
    max_bytes,
});

/// Where a remote key set is fetched from, and its refresh policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteKeySet {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub refresh_seconds: u64,
    pub timeout_ms: u64,
    pub max_stale_seconds: u64,
    /// Responses larger than this are refused (a failed fetch).
    pub max_bytes: usize,
}

/// The validated `api_keys` section.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    /// Where keys are looked for (default: header `x-api-key`).
    pub sources: Vec<Source>,
    /// Keep the key in the request that goes upstream (default: strip it).
    pub forward_credential: bool,
    /// The inline keys.
    pub inline: ApiKeySet,
    /// The remote key set, merged with the inline keys once loaded.
    pub remote: Option<RemoteKeySet>,
}

impl ApiKeysConfig {
    pub fn validate(self, field: &str) -> Result<ApiKeys, ConfigError> {
        let default = vec![Source::Header {
            name: "x-api-key".into(),
            prefix: None,
        }];
        let sources = validate_sources(self.from, &format!("{field}.from"), default)?;
        let keys = self
            .keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| k.validate(&format!("{field}.keys[{i}]")))
            .collect::<Result<Vec<ApiKey>, _>>()?;
        let inline = ApiKeySet::inline(keys, &format!("{field}.keys"))?;
        let remote = self
            .remote
            .map(|r| r.validate(&format!("{field}.remote")))
            .transpose()?;
        Ok(ApiKeys {
            sources,
            forward_credential: self.forward_credential.unwrap_or(false),
            inline,
            remote,
        })
    }
}

impl RemoteKeySetConfig {
    fn validate(self, field: &str) -> Result<RemoteKeySet, ConfigError> {
        let f = |sub: &str| format!("{field}.{sub}");
        check_cluster(&self.cluster, &f("cluster"))?;
        check_authority(&self.authority, &f("authority"))?;
        check_path(&self.path, &f("path"))?;
        let range = |v: Option<u64>, default: u64, min: u64, max: u64, name: &str| {
            let v = v.unwrap_or(default);
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(ConfigError::new(
                    &f(name),
                    format!("must be between {min} and {max}"),
                ))
            }
        };
        let max_bytes = range(
            self.max_bytes.map(|b| b as u64),
            DEFAULT_KEY_SET_MAX_BYTES as u64,
            MIN_KEY_SET_MAX_BYTES as u64,
            MAX_KEY_SET_MAX_BYTES as u64,
            "max_bytes",
        )?;
        Ok(RemoteKeySet {
            refresh_seconds: range(
                self.refresh_seconds,
                DEFAULT_KEY_SET_REFRESH_SECONDS,
                1,
                MAX_REFRESH_SECONDS,
                "refresh_seconds",
            )?,
            timeout_ms: range(
                self.timeout_ms,
                DEFAULT_TIMEOUT_MS,
                1,
                MAX_TIMEOUT_MS,
                "timeout_ms",
            )?,
            max_stale_seconds: range(
                self.max_stale_seconds,
                DEFAULT_MAX_STALE_SECONDS,
                0,
                MAX_MAX_STALE_SECONDS,
                "max_stale_seconds",
            )?,
            max_bytes: usize::try_from(max_bytes).unwrap_or(DEFAULT_KEY_SET_MAX_BYTES),
            cluster: self.cluster,
            authority: self.authority,
            path: self.path,
        })
    }
}

impl ApiKeys {
    /// The inline keys (in digest order), for metrics registration.
    pub fn keys(&self) -> &[ApiKey] {
        self.inline.keys()
    }
}

/// JSON form of the requirement leaf `{"api_key": {"scopes": [...], "ids": [...]}}`.
#[derive(Debug)]
pub struct RequirementConfig {
    scopes: Option<Vec<String>>,
    ids: Option<Vec<String>>,
}

from_json_struct!(RequirementConfig { scopes, ids });

impl RequirementConfig {
    /// Validates the leaf found at `field` (`rules[0].require.api_key`): refused without an
    /// `api_keys` section.
    pub fn validate(
        self,
        field: &str,
        configured: Configured<'_>,
    ) -> Result<CredentialRequirement, ConfigError> {
        if configured.api_keys.is_none() {
            return Err(ConfigError::new(
                field,
                "no \"api_keys\" section is configured",
            ));
        }
        let scopes = match self.scopes {
            Some(s) => validate_scopes(s, &format!("{field}.scopes"))?,
            None => Vec::new(),
        };
        let ids = match self.ids {
            Some(ids) => validate_ids(ids, &format!("{field}.ids"))?,
            None => Vec::new(),
        };
        Ok(CredentialRequirement {
            scopes,
            ids,
            ..CredentialRequirement::any(Kind::ApiKey, None)
        })
    }
}

/// The API-key credential kind.
#[derive(Debug)]
pub struct ApiKeyAuth;

impl Authenticator for ApiKeyAuth {
    fn check(&self, _source: Option<&str>, cx: &mut Context<'_>) -> CredentialState {
        let Some(keys) = cx.configured.api_keys else {
            return CredentialState::Missing;
        };
        let (value, found) = match presented(&keys.sources, cx.req) {
            Ok(p) => p,
            Err(state) => return state,
        };
        let digest = crate::api_key_set::sha256(value.as_bytes());
        let now = cx.now;
        let (id, state) = if keys.remote.is_none() {
            key_state(keys.inline.lookup_digest(&digest, now))
        } else {
            match cx.resources.api_key_set() {
                Loaded::Ready(set) => key_state(set.lookup_digest(&digest, now)),
                // An inline key needs no remote set; any other key waits for it, or is a 503.
                pending => match keys.inline.lookup_digest(&digest, now) {
                    KeyCheck::Unknown => match pending {
                        Loaded::Loading => (None, CredentialState::Pending(Need::ApiKeySet)),
                        _ => (None, CredentialState::Unavailable(Need::ApiKeySet)),
                    },
                    known => key_state(known),
                },
            }
        };
        if let (Some(id), CredentialState::Valid(_)) = (id, &state) {
            cx.verified_at(found, keys.forward_credential);
            cx.events.key_id = Some(id);
        }
        state
    }

    fn denial(&self, realm: &str, reason: Reason, scopes: &[String]) -> Denial {
        challenge_denial("ApiKey", "invalid_key", realm, reason, scopes)
    }

    /// Nothing besides `headers.key_id`.
    fn forward(&self, _: &Identity, _: Configured<'_>, _: &mut Edits<'_>) {}

    fn sources<'a>(&self, configured: Configured<'a>) -> Vec<&'a Source> {
        configured
            .api_keys
            .map(|k| k.sources.iter().collect())
            .unwrap_or_default()
    }

    fn owned_headers<'a>(&self, _: Configured<'a>) -> Vec<&'a str> {
        Vec::new()
    }
}

/// The state of a looked-up key, with the id of the key whose digest matched.
fn key_state(check: KeyCheck<'_>) -> (Option<String>, CredentialState) {
    let invalid = |k: &ApiKey, r| (Some(k.id.clone()), CredentialState::Invalid(r));
    match check {
        KeyCheck::Valid(k) => (
            Some(k.id.clone()),
            CredentialState::Valid(Identity {
                kind: Kind::ApiKey,
                method: super::Method::ApiKey,
                source: None,
                subject: None,
                key_id: Some(k.id.clone()),
                client_id: None,
                scopes: k.scopes.clone(),
                claims: None,
                plan: k.plan.as_deref().map(Box::from),
            }),
        ),
        KeyCheck::Disabled(k) => invalid(k, Reason::DisabledKey),
        KeyCheck::NotYetValid(k) => invalid(k, Reason::KeyNotYetValid),
        KeyCheck::Expired(k) => invalid(k, Reason::ExpiredKey),
        KeyCheck::Unknown => (None, CredentialState::Invalid(Reason::UnknownKey)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(json: &str) -> Result<ApiKeys, ConfigError> {
        crate::config_json::parse::<ApiKeysConfig>(json.as_bytes())?.validate("api_keys")
    }

    fn entry(id: &str, key: &str, disabled: bool) -> String {
        format!(
            r#"{{"id":"{id}","sha256":"{}","scopes":["orders:read"],"disabled":{disabled}}}"#,
            sha256_hex(key.as_bytes())
        )
    }

    #[test]
    fn lookup_valid_disabled_unknown() {
        let k = keys(&format!(
            r#"{{"keys":[{},{}]}}"#,
            entry("ios", "k1", false),
            entry("old", "k2", true)
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            matches!(k.inline.lookup("k1", 0), KeyCheck::Valid(a) if a.id == "ios" && a.scopes == ["orders:read"])
        );
        assert!(matches!(k.inline.lookup("k2", 0), KeyCheck::Disabled(a) if a.id == "old"));
        assert_eq!(k.inline.lookup("k3", 0), KeyCheck::Unknown);
        assert_eq!(k.inline.lookup("", 0), KeyCheck::Unknown);
        assert_eq!(
            k.sources,
            vec![Source::Header {
                name: "x-api-key".into(),
                prefix: None
            }]
        );
    }

    #[test]
    fn rejects_bad_entries() {
        let dup_id = keys(&format!(
            r#"{{"keys":[{},{}]}}"#,
            entry("a", "k1", false),
            entry("a", "k2", false)
        ));
        assert_eq!(dup_id.unwrap_err().field, "api_keys.keys[1].id");
        let dup_digest = keys(&format!(
            r#"{{"keys":[{},{}]}}"#,
            entry("a", "k1", false),
            entry("b", "k1", false)
        ));
        assert_eq!(dup_digest.unwrap_err().field, "api_keys.keys[1].sha256");
        let plain = keys(r#"{"keys":[{"id":"a","sha256":"my-secret-key"}]}"#).unwrap_err();
        assert!(plain.problem.contains("digest"), "{plain}");
        let bad_id = keys(&format!(r#"{{"keys":[{}]}}"#, entry("a b", "k", false)));
        assert_eq!(bad_id.unwrap_err().field, "api_keys.keys[0].id");
        assert!(keys(r#"{"keys":[],"from":[]}"#).is_err());
    }

    #[test]
    fn digest_hex_is_case_insensitive() {
        let upper = sha256_hex(b"k").to_uppercase();
        let k = keys(&format!(r#"{{"keys":[{{"id":"a","sha256":"{upper}"}}]}}"#))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(matches!(k.inline.lookup("k", 0), KeyCheck::Valid(_)));
    }

    #[test]
    fn remote_key_set_fields_defaults_and_errors() {
        let k = keys(
            r#"{"remote": {"cluster": "keys", "authority": "keys.internal", "path": "/edge-keys"}}"#,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(k.inline.keys().is_empty());
        assert_eq!(
            k.remote,
            Some(RemoteKeySet {
                cluster: "keys".into(),
                authority: "keys.internal".into(),
                path: "/edge-keys".into(),
                refresh_seconds: 30,
                timeout_ms: 2000,
                max_stale_seconds: 86400,
                max_bytes: 1024 * 1024,
            })
        );
        let full = keys(
            r#"{"keys": [], "remote": {"cluster": "keys", "authority": "keys.internal", "path": "/k",
                "refresh_seconds": 1, "timeout_ms": 500, "max_stale_seconds": 0, "max_bytes": 1024}}"#,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            full.remote.map(|r| (
                r.refresh_seconds,
                r.timeout_ms,
                r.max_stale_seconds,
                r.max_bytes
            )),
            Some((1, 500, 0, 1024))
        );
        let base = r#""cluster": "keys", "authority": "keys.internal", "path": "/k""#;
        for (extra, field) in [
            (r#""refresh_seconds": 0"#, "refresh_seconds"),
            (r#""timeout_ms": 0"#, "timeout_ms"),
            (r#""timeout_ms": 60001"#, "timeout_ms"),
            (r#""max_stale_seconds": 99999999"#, "max_stale_seconds"),
            (r#""max_bytes": 10"#, "max_bytes"),
            (r#""max_bytes": -1"#, "max_bytes"),
            (r#""refresh": 5"#, "refresh"),
        ] {
            let e = keys(&format!(r#"{{"remote": {{{base}, {extra}}}}}"#)).unwrap_err();
            // (JSON type errors are named from the section here, from the document in a config)
            let got = e.field.trim_start_matches("api_keys.");
            assert_eq!(got, format!("remote.{field}"), "{e}");
        }
        for (remote, field) in [
            (
                r#"{"cluster": "", "authority": "a", "path": "/k"}"#,
                "cluster",
            ),
            (
                r#"{"cluster": "c", "authority": "a/b", "path": "/k"}"#,
                "authority",
            ),
            (r#"{"cluster": "c", "authority": "a", "path": "k"}"#, "path"),
            (r#"{"cluster": "c", "authority": "a"}"#, ""),
        ] {
            let e = keys(&format!(r#"{{"remote": {remote}}}"#)).unwrap_err();
            let want = if field.is_empty() {
                "remote".to_string()
            } else {
                format!("remote.{field}")
            };
            assert_eq!(e.field.trim_start_matches("api_keys."), want, "{e}");
        }
    }

    #[test]
    fn inline_validity_window_and_plan_are_accepted_and_checked() {
        let k = keys(&format!(
            r#"{{"keys":[{{"id":"a","sha256":"{}","not_before":100,"expires_at":200,"plan":"gold"}}]}}"#,
            sha256_hex(b"k")
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            matches!(k.inline.lookup("k", 150), KeyCheck::Valid(a) if a.plan.as_deref() == Some("gold"))
        );
        assert!(matches!(k.inline.lookup("k", 99), KeyCheck::NotYetValid(_)));
        assert!(matches!(k.inline.lookup("k", 200), KeyCheck::Expired(_)));
        let e = keys(&format!(
            r#"{{"keys":[{{"id":"a","sha256":"{}","plan":"no spaces"}}]}}"#,
            sha256_hex(b"k")
        ))
        .unwrap_err();
        assert_eq!(e.field, "api_keys.keys[0].plan");
        let e = keys(&format!(
            r#"{{"keys":[{{"id":"a","sha256":"{}","expires_at":"soon"}}]}}"#,
            sha256_hex(b"k")
        ))
        .unwrap_err();
        assert_eq!(e.field, "keys[0].expires_at", "named from the section");
    }
}
