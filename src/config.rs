//! Plugin configuration: JSON in, a validated, typed [`Config`] out, or a [`ConfigError`] that names the
//! field and the problem. The same parser serves the filter's `on_configure` and `edgeguard check-config`.
//!
//! Each section's JSON shape and validation lives in the module named after the concept
//! (`api_key`, `provider`, `matcher`/`policy`); this module composes them and checks cross-references.

use crate::api_key::{ApiKeys, ApiKeysConfig};
use crate::extractor::is_lowercase_header_name;
use crate::matcher::{DefaultAction, Policy, RuleConfig};
use crate::provider::{Provider, ProviderConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// A configuration problem: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path to the field, e.g. `api_keys.keys[1].sha256` (empty for the document itself).
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        ConfigError {
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid edgeguard config: {}", self.problem)
        } else {
            write!(
                f,
                "invalid edgeguard config: {}: {}",
                self.field, self.problem
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Enforce denials, or only report what would have been denied (dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Report,
}

/// Names of the headers edgeguard sets upstream. Client-supplied copies are always removed first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderNames {
    /// The id of the API key that authenticated the request.
    pub key_id: String,
    /// The JWT provider that verified the token.
    pub provider: String,
    /// The token's `sub`.
    pub subject: String,
    /// In report mode: what would have happened (`deny; reason=...`).
    pub decision: String,
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            key_id: "x-edgeguard-key-id".into(),
            provider: "x-edgeguard-provider".into(),
            subject: "x-edgeguard-subject".into(),
            decision: "x-edgeguard-decision".into(),
        }
    }
}

/// Bounds of the verified-token cache (per VM). `max_entries: 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    mode: Option<Mode>,
    realm: Option<String>,
    api_keys: Option<ApiKeysConfig>,
    providers: Option<BTreeMap<String, ProviderConfig>>,
    headers: Option<HeaderNames>,
    bypass_cors_preflight: Option<bool>,
    token_cache: Option<TokenCacheConfig>,
    rules: Option<Vec<RuleConfig>>,
    rule_sets: Option<BTreeMap<String, Vec<RuleConfig>>>,
    default: Option<DefaultAction>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub mode: Mode,
    /// The `realm` of `WWW-Authenticate` challenges.
    pub realm: String,
    pub api_keys: Option<ApiKeys>,
    /// JWT providers by name.
    pub providers: BTreeMap<String, Provider>,
    pub headers: HeaderNames,
    pub bypass_cors_preflight: bool,
    pub token_cache: TokenCacheConfig,
    pub policy: Policy,
}

/// What other sections may refer to: used to validate rules.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub providers: &'a BTreeMap<String, Provider>,
    pub api_keys: bool,
}

impl Config {
    /// Parses and validates the plugin configuration.
    pub fn parse(json: &[u8]) -> Result<Config, ConfigError> {
        if json.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigError::new(
                "",
                "the configuration is empty; expected a JSON object",
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(json);
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            ConfigError::new(&field, e.inner().to_string())
        })?;
        let realm = raw.realm.unwrap_or_else(|| "edgeguard".into());
        if realm.is_empty() || realm.contains(['"', '\\']) || realm.chars().any(char::is_control) {
            return Err(ConfigError::new(
                "realm",
                "must be non-empty, without quotes, backslashes or control characters",
            ));
        }
        let api_keys = raw.api_keys.map(|k| k.validate("api_keys")).transpose()?;
        let mut providers = BTreeMap::new();
        for (name, p) in raw.providers.unwrap_or_default() {
            let field = format!("providers.{name}");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ConfigError::new(
                    &field,
                    "provider names use letters, digits, '-' and '_' only",
                ));
            }
            providers.insert(name.clone(), p.validate(&name, &field)?);
        }
        let headers = raw.headers.unwrap_or_default();
        for (f, v) in [
            ("key_id", &headers.key_id),
            ("provider", &headers.provider),
            ("subject", &headers.subject),
            ("decision", &headers.decision),
        ] {
            if !is_lowercase_header_name(v) {
                return Err(ConfigError::new(
                    &format!("headers.{f}"),
                    "must be a lowercase HTTP header name",
                ));
            }
        }
        if api_keys.is_none() && providers.is_empty() {
            return Err(ConfigError::new("", "configure \"api_keys\" and/or \"providers\": edgeguard needs at least one kind of credential"));
        }
        let token_cache = raw.token_cache.unwrap_or_default();
        if token_cache.max_entries > 1_000_000 || token_cache.max_bytes > 1 << 30 {
            return Err(ConfigError::new(
                "token_cache",
                "at most 1000000 entries and 1 GiB",
            ));
        }
        let known = Known {
            providers: &providers,
            api_keys: api_keys.is_some(),
        };
        let policy = Policy::validate(raw.rules, raw.rule_sets, raw.default, known)?;
        Ok(Config {
            mode: raw.mode.unwrap_or_default(),
            realm,
            api_keys,
            providers,
            headers,
            bypass_cors_preflight: raw.bypass_cors_preflight.unwrap_or(true),
            token_cache,
            policy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let e =
            Config::parse(br#"{"api_keys": {"keys": [{"id": "a", "sha256": 5}]}}"#).unwrap_err();
        assert_eq!(e.field, "api_keys.keys[0].sha256", "{e}");
        let e = Config::parse(br#"{"apikeys": {}}"#).unwrap_err();
        assert!(e.problem.contains("unknown field"), "{e}");
        let e = Config::parse(b"").unwrap_err();
        assert!(e.problem.contains("empty"));
        let e = Config::parse(b"{").unwrap_err();
        assert!(e.to_string().starts_with("invalid edgeguard config"), "{e}");
    }

    #[test]
    fn nothing_configured_is_rejected() {
        assert!(Config::parse(b"{}").is_err());
    }
}
