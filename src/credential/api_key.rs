//! API keys: the `api_keys` section (keys stored only as SHA-256 digests, each with an id, scopes and
//! an on/off switch) and the credential kind that checks them.
//!
//! A presented key is hashed once and compared against every configured digest in constant time, so
//! neither the secret nor which key matched leaks through timing. A valid key's identity is its id
//! (`key_id`, sent as `headers.key_id`) and its scopes; a failure is challenged with scheme `ApiKey`
//! and error `invalid_key`. API keys are local: their check never waits.

use super::requirement::{validate_ids, validate_scopes, CredentialRequirement};
use super::{
    challenge_denial, presented, Authenticator, Configured, Context, CredentialState, Identity,
    Kind,
};
use crate::config_error::ConfigError;
use crate::decision::{Denial, Edits};
use crate::extractor::{validate_sources, Source, SourceConfig};
use crate::reason::Reason;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// JSON form of the `api_keys` section.
#[derive(Debug)]
pub struct ApiKeysConfig {
    from: Option<Vec<SourceConfig>>,
    keys: Vec<KeyConfig>,
    forward_credential: Option<bool>,
}

#[derive(Debug)]
struct KeyConfig {
    id: String,
    sha256: String,
    scopes: Vec<String>,
    disabled: bool,
}

from_json_struct!(ApiKeysConfig {
    from,
    keys,
    forward_credential,
});
from_json_struct!(KeyConfig {
    id,
    sha256,
    scopes = default,
    disabled = default,
});

/// One configured key (no secret: only its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    digest: [u8; 32],
    pub scopes: Vec<String>,
    pub disabled: bool,
}

/// The validated `api_keys` section.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    /// Where keys are looked for (default: header `x-api-key`).
    pub sources: Vec<Source>,
    /// Keep the key in the request that goes upstream (default: strip it).
    pub forward_credential: bool,
    keys: Vec<ApiKey>,
}

/// The result of looking up a presented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck<'a> {
    Valid(&'a ApiKey),
    Disabled(&'a ApiKey),
    Unknown,
}

impl ApiKeysConfig {
    pub fn validate(self, field: &str) -> Result<ApiKeys, ConfigError> {
        let default = vec![Source::Header {
            name: "x-api-key".into(),
            prefix: None,
        }];
        let sources = validate_sources(self.from, &format!("{field}.from"), default)?;
        let mut keys: Vec<ApiKey> = Vec::with_capacity(self.keys.len());
        for (i, k) in self.keys.into_iter().enumerate() {
            let f = format!("{field}.keys[{i}]");
            if !is_key_id(&k.id) {
                return Err(ConfigError::new(
                    &format!("{f}.id"),
                    "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'",
                ));
            }
            let digest = parse_digest(&k.sha256).ok_or_else(|| {
                ConfigError::new(&format!("{f}.sha256"), "must be the 64-hex-digit SHA-256 digest of the key (see `edgeguard hash-key`), not the key itself")
            })?;
            for (j, s) in k.scopes.iter().enumerate() {
                if s.is_empty() || s.contains(char::is_whitespace) {
                    return Err(ConfigError::new(
                        &format!("{f}.scopes[{j}]"),
                        "scopes are non-empty and contain no spaces",
                    ));
                }
            }
            if keys.iter().any(|o| o.id == k.id) {
                return Err(ConfigError::new(
                    &format!("{f}.id"),
                    format!("duplicate key id {:?}", k.id),
                ));
            }
            if keys.iter().any(|o| o.digest == digest) {
                return Err(ConfigError::new(
                    &format!("{f}.sha256"),
                    "the same digest is configured twice: one key would have two ids",
                ));
            }
            keys.push(ApiKey {
                id: k.id,
                digest,
                scopes: k.scopes,
                disabled: k.disabled,
            });
        }
        Ok(ApiKeys {
            sources,
            forward_credential: self.forward_credential.unwrap_or(false),
            keys,
        })
    }
}

impl ApiKeys {
    /// Looks up a presented key. Runs in time independent of the key and of which entry matches.
    pub fn lookup(&self, presented: &str) -> KeyCheck<'_> {
        let digest = sha256(presented.as_bytes());
        let mut index = u32::MAX;
        for (i, k) in self.keys.iter().enumerate() {
            let hit = k.digest.ct_eq(&digest);
            index.conditional_assign(&(i as u32), hit);
        }
        match self.keys.get(index as usize) {
            Some(k) if k.disabled => KeyCheck::Disabled(k),
            Some(k) => KeyCheck::Valid(k),
            None => KeyCheck::Unknown,
        }
    }

    /// Every configured key, for metrics registration.
    pub fn keys(&self) -> &[ApiKey] {
        &self.keys
    }
}

/// SHA-256 of a key, as stored in config.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    hmac_sha256::Hash::hash(bytes)
}

/// Lowercase hex SHA-256, the form `edgeguard hash-key` prints.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn is_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
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
        match keys.lookup(&value) {
            KeyCheck::Valid(k) => {
                cx.verified_at(found, keys.forward_credential);
                cx.events.key_id = Some(k.id.clone());
                CredentialState::Valid(Identity {
                    kind: Kind::ApiKey,
                    source: None,
                    subject: None,
                    key_id: Some(k.id.clone()),
                    client_id: None,
                    scopes: k.scopes.clone(),
                    claims: None,
                    plan: None,
                })
            }
            KeyCheck::Disabled(_) => CredentialState::Invalid(Reason::DisabledKey),
            KeyCheck::Unknown => CredentialState::Invalid(Reason::UnknownKey),
        }
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
            matches!(k.lookup("k1"), KeyCheck::Valid(a) if a.id == "ios" && a.scopes == ["orders:read"])
        );
        assert!(matches!(k.lookup("k2"), KeyCheck::Disabled(a) if a.id == "old"));
        assert_eq!(k.lookup("k3"), KeyCheck::Unknown);
        assert_eq!(k.lookup(""), KeyCheck::Unknown);
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
        assert!(matches!(k.lookup("k"), KeyCheck::Valid(_)));
    }
}
