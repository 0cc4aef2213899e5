//! Plugin configuration: JSON in, a validated, typed [`Config`] out, or a [`ConfigError`] that names the
//! field and the problem. The same parser serves the filter's `on_configure` and `edgeguard check-config`.
//!
//! Each section's JSON shape and validation lives in the module named after the concept
//! (`credential::api_key`, `provider`, `credential::jwt` for `token_cache`, `matcher`/`policy`);
//! this module composes them and checks cross-references.

use crate::config_json::{At, FromJson, Obj};
use crate::credential::api_key::{ApiKeys, ApiKeysConfig};
use crate::credential::basic::{BasicAuthConfig, BasicUsers};
use crate::credential::jwt::TokenCacheConfig;
use crate::credential::Configured;
use crate::extractor::{is_lowercase_header_name, Source};
use crate::matcher::{DefaultAction, RuleConfig, RuleTable};
use crate::path::NonCanonical;
use crate::plan::{Plans, PlansConfig};
use crate::provider::{Provider, ProviderConfig};
use crate::reading::{
    ForwardedHeaders, MethodOverride, PathPolicy, ReadingPolicy, FORWARDED_HEADERS,
    METHOD_OVERRIDE_HEADERS,
};
use crate::spelling::same_header;
use crate::transport::{Transport, TransportConfig};
use serde_json::Value;
use std::collections::BTreeMap;

pub use crate::config_error::ConfigError;

/// Enforce denials, or only report what would have been denied (dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Enforce,
    Report,
}

impl FromJson for Mode {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        Ok(
            match crate::config_json::variant(v, at, &["enforce", "report"])? {
                0 => Mode::Enforce,
                _ => Mode::Report,
            },
        )
    }
}

/// Names of the headers edgeguard sets upstream. Client-supplied copies are always removed first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNames {
    /// The id of the API key that authenticated the request.
    pub key_id: String,
    /// The JWT provider that verified the token.
    pub provider: String,
    /// The token's `sub`.
    pub subject: String,
    /// The OAuth2 client of an introspected token (`client_id`).
    pub client_id: String,
    /// In report mode: what would have happened (`deny; reason=...`).
    pub decision: String,
    /// The caller's plan (see [`crate::plan`]).
    pub plan: String,
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            key_id: "x-edgeguard-key-id".into(),
            provider: "x-edgeguard-provider".into(),
            subject: "x-edgeguard-subject".into(),
            client_id: "x-edgeguard-client-id".into(),
            decision: "x-edgeguard-decision".into(),
            plan: "x-edgeguard-plan".into(),
        }
    }
}

// Every member of `headers` is optional (the default when absent).
impl FromJson for HeaderNames {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        let o = Obj::new(
            v,
            at,
            &[
                "key_id",
                "provider",
                "subject",
                "client_id",
                "decision",
                "plan",
            ],
        )?;
        let d = HeaderNames::default();
        Ok(HeaderNames {
            key_id: o.get_or("key_id", d.key_id)?,
            provider: o.get_or("provider", d.provider)?,
            subject: o.get_or("subject", d.subject)?,
            client_id: o.get_or("client_id", d.client_id)?,
            decision: o.get_or("decision", d.decision)?,
            plan: o.get_or("plan", d.plan)?,
        })
    }
}

#[derive(Debug)]
struct RawConfig {
    mode: Option<Mode>,
    realm: Option<String>,
    api_keys: Option<ApiKeysConfig>,
    providers: Option<BTreeMap<String, ProviderConfig>>,
    basic_auth: Option<BasicAuthConfig>,
    headers: Option<HeaderNames>,
    bypass_cors_preflight: Option<bool>,
    path: Option<PathPolicy>,
    method_override: Option<MethodOverride>,
    forwarded_headers: Option<ForwardedHeaders>,
    token_cache: Option<TokenCacheConfig>,
    rules: Option<Vec<RuleConfig>>,
    rule_sets: Option<BTreeMap<String, Vec<RuleConfig>>>,
    default: Option<DefaultAction>,
    plans: Option<PlansConfig>,
    publish_identity: Option<bool>,
    transport: Option<TransportConfig>,
}

from_json_struct!(RawConfig {
    mode,
    realm,
    api_keys,
    providers,
    basic_auth,
    headers,
    bypass_cors_preflight,
    path,
    method_override,
    forwarded_headers,
    token_cache,
    rules,
    rule_sets,
    default,
    plans,
    publish_identity,
    transport,
});

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub mode: Mode,
    /// The `realm` of `WWW-Authenticate` challenges.
    pub realm: String,
    pub api_keys: Option<ApiKeys>,
    /// JWT providers by name.
    pub providers: BTreeMap<String, Provider>,
    /// HTTP Basic users.
    pub basic_auth: Option<BasicUsers>,
    pub headers: HeaderNames,
    /// Let real CORS preflights through without credentials (default `false`).
    pub bypass_cors_preflight: bool,
    /// How the request is read before rules are matched (path, case, method overrides, forwarded
    /// headers).
    pub reading: ReadingPolicy,
    pub token_cache: TokenCacheConfig,
    pub rules: RuleTable,
    /// Throttling plans; without a `plans` section every caller is on plan `default` and no plan
    /// header is sent upstream.
    pub plans: Option<Plans>,
    /// Publish who the caller is as filter state after every allow (default `true`; see
    /// [`crate::publish`]). Off saves the host calls where nothing reads it.
    pub publish_identity: bool,
    /// Credentials only over TLS (without a `transport` section, only rules that say
    /// `require_tls: true` require it).
    pub transport: Transport,
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
        let raw: RawConfig = crate::config_json::parse(json)?;
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
        let basic_auth = raw
            .basic_auth
            .map(|b| b.validate("basic_auth"))
            .transpose()?;
        let headers = raw.headers.unwrap_or_default();
        for (f, v) in [
            ("key_id", &headers.key_id),
            ("provider", &headers.provider),
            ("subject", &headers.subject),
            ("client_id", &headers.client_id),
            ("decision", &headers.decision),
            ("plan", &headers.plan),
        ] {
            if !is_lowercase_header_name(v) {
                return Err(ConfigError::new(
                    &format!("headers.{f}"),
                    "must be a lowercase HTTP header name",
                ));
            }
        }
        check_header_names(&headers, api_keys.as_ref(), &providers, basic_auth.as_ref())?;
        if api_keys.is_none() && providers.is_empty() && basic_auth.is_none() {
            return Err(ConfigError::new("", "configure \"api_keys\", \"providers\" and/or \"basic_auth\": edgeguard needs at least one kind of credential"));
        }
        let token_cache = raw.token_cache.unwrap_or_default();
        if token_cache.max_entries > 1_000_000 || token_cache.max_bytes > 1 << 30 {
            return Err(ConfigError::new(
                "token_cache",
                "at most 1000000 entries and 1 GiB",
            ));
        }
        let known = Configured {
            providers: &providers,
            api_keys: api_keys.as_ref(),
            basic_auth: basic_auth.as_ref(),
        };
        let reading = ReadingPolicy {
            path: raw.path.unwrap_or_default(),
            method_override: raw.method_override.unwrap_or_default(),
            forwarded_headers: raw.forwarded_headers.unwrap_or_default(),
        };
        let rules = RuleTable::validate(
            raw.rules,
            raw.rule_sets,
            raw.default,
            known,
            reading.path.case,
        )?;
        if rules.uses_rule_sets() && reading.path.non_canonical == NonCanonical::Rewrite {
            // The rule set comes from the route Envoy chose for the path as received; after a
            // rewrite Envoy routes the new path, whose route (and rule set) edgeguard never saw.
            return Err(ConfigError::new(
                "path.non_canonical",
                "\"rewrite\" cannot be combined with \"rule_sets\": the rule set is read from the route of the path as sent, and a rewritten path may take another route; use \"reject\"",
            ));
        }
        let plans = raw.plans.map(|p| p.validate("plans")).transpose()?;
        let transport = raw
            .transport
            .map(|t| t.validate("transport"))
            .transpose()?
            .unwrap_or_default();
        // An inline key's plan must be a configured one (a remote key's unknown plan falls back
        // at runtime, counted: a fetched document cannot be refused field by field).
        if let Some(keys) = &api_keys {
            for k in keys.inline.keys() {
                let Some(plan) = k.plan.as_deref() else {
                    continue;
                };
                if !plans.as_ref().is_some_and(|p| p.contains(plan)) {
                    return Err(ConfigError::new(
                        "api_keys.keys",
                        format!(
                            "key {:?}: plan {plan:?} is not in plans.names (configure \"plans\")",
                            k.id
                        ),
                    ));
                }
            }
        }
        // A Basic user's plan too, like an inline key's.
        if let Some(basic) = &basic_auth {
            for (i, u) in basic.users.iter().enumerate() {
                let Some(plan) = u.plan.as_deref() else {
                    continue;
                };
                if !plans.as_ref().is_some_and(|p| p.contains(plan)) {
                    return Err(ConfigError::new(
                        &format!("basic_auth.users[{i}].plan"),
                        format!("plan {plan:?} is not in plans.names (configure \"plans\")"),
                    ));
                }
            }
        }
        Ok(Config {
            mode: raw.mode.unwrap_or_default(),
            realm,
            api_keys,
            providers,
            basic_auth,
            headers,
            bypass_cors_preflight: raw.bypass_cors_preflight.unwrap_or(false),
            reading,
            token_cache,
            rules,
            plans,
            publish_identity: raw.publish_identity.unwrap_or(true),
            transport,
        })
    }

    /// The configured credentials, as the credential kinds and requirement leaves see them.
    pub fn credentials(&self) -> Configured<'_> {
        Configured {
            api_keys: self.api_keys.as_ref(),
            providers: &self.providers,
            basic_auth: self.basic_auth.as_ref(),
        }
    }
}

/// Every header edgeguard writes is owned in every spelling (case; `_`, `.` or any non-alphanumeric byte for `-`), so two owners of
/// one name — an identity header and a claim header, a claim header and a credential source — would
/// let one reader's value pass for the other's. Refused, naming the later field.
fn check_header_names(
    headers: &HeaderNames,
    api_keys: Option<&ApiKeys>,
    providers: &BTreeMap<String, Provider>,
    basic_auth: Option<&BasicUsers>,
) -> Result<(), ConfigError> {
    let mut owners: Vec<(String, String)> = Vec::new();
    let mut claim = |field: String, name: &str| -> Result<(), ConfigError> {
        if let Some((other, _)) = owners.iter().find(|(_, n)| same_header(n, name)) {
            return Err(ConfigError::new(
                &field,
                format!("\"{name}\" is the same header as {other} (names are compared ignoring case, with every byte but letters and digits as '-')"),
            ));
        }
        owners.push((field, name.to_string()));
        Ok(())
    };
    for (f, v) in [
        ("key_id", &headers.key_id),
        ("provider", &headers.provider),
        ("subject", &headers.subject),
        ("client_id", &headers.client_id),
        ("decision", &headers.decision),
        ("plan", &headers.plan),
    ] {
        claim(format!("headers.{f}"), v)?;
    }
    for h in METHOD_OVERRIDE_HEADERS
        .iter()
        .chain(FORWARDED_HEADERS.iter())
    {
        claim(format!("the request header \"{h}\""), h)?;
    }
    let mut sources: Vec<(String, &str)> = Vec::new();
    if let Some(k) = api_keys {
        for (i, s) in k.sources.iter().enumerate() {
            if let Source::Header { name, .. } = s {
                sources.push((format!("api_keys.from[{i}]"), name));
            }
        }
    }
    for (pname, p) in providers {
        for (i, s) in p.sources.iter().enumerate() {
            if let Source::Header { name, .. } = s {
                sources.push((format!("providers.{pname}.from[{i}]"), name));
            }
        }
    }
    for s in basic_auth.map(|b| b.sources.as_slice()).unwrap_or_default() {
        if let Source::Header { name, .. } = s {
            sources.push(("basic_auth (the Authorization header)".to_string(), name));
        }
    }
    for (pname, p) in providers {
        for (i, (_, h)) in p.claims_to_headers.iter().enumerate() {
            let field = format!("providers.{pname}.claims_to_headers[{i}].header");
            if let Some((src, _)) = sources.iter().find(|(_, n)| same_header(n, h)) {
                return Err(ConfigError::new(
                    &field,
                    format!("\"{h}\" is a header credentials are read from ({src})"),
                ));
            }
            claim(field, h)?;
        }
    }
    for (src, name) in &sources {
        if let Some((other, _)) = owners
            .iter()
            .find(|(f, n)| same_header(n, name) && f.starts_with("headers."))
        {
            return Err(ConfigError::new(
                src,
                format!("\"{name}\" is the same header as {other}"),
            ));
        }
    }
    Ok(())
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
    fn an_inline_keys_plan_must_be_configured() {
        let digest = crate::credential::api_key::sha256_hex(b"k");
        let cfg = |plans: &str| {
            format!(
                r#"{{"api_keys": {{"keys": [{{"id": "a", "sha256": "{digest}", "plan": "gold"}}]}} {plans}}}"#
            )
        };
        let e = Config::parse(cfg("").as_bytes()).unwrap_err();
        assert_eq!(e.field, "api_keys.keys", "{e}");
        let e = Config::parse(cfg(r#", "plans": {"names": ["default", "silver"]}"#).as_bytes())
            .unwrap_err();
        assert!(e.problem.contains("\"gold\""), "{e}");
        let ok = Config::parse(cfg(r#", "plans": {"names": ["default", "gold"]}"#).as_bytes());
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn rewrite_is_refused_with_route_rule_sets() {
        let e = Config::parse(
            br#"{"api_keys": {"keys": []}, "path": {"non_canonical": "rewrite"},
                 "rule_sets": {"ops": [{"allow": "anonymous"}]}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "path.non_canonical", "{e}");
    }

    #[test]
    fn claim_headers_collide_in_every_spelling() {
        for (target, field) in [
            (
                "x-edgeguard-subject",
                "providers.p.claims_to_headers[0].header",
            ),
            (
                "x_edgeguard_key_id",
                "providers.p.claims_to_headers[0].header",
            ),
            ("x-api-key", "providers.p.claims_to_headers[0].header"),
            (
                "x_http_method_override",
                "providers.p.claims_to_headers[0].header",
            ),
            ("cookie", "providers.p.claims_to_headers[0].header"),
        ] {
            let doc = format!(
                r#"{{"api_keys": {{"keys": []}}, "providers": {{"p": {{"issuer": "i",
                    "jwks": {{"inline": {{"keys": [{{"kty": "oct", "k": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}]}}}},
                    "claims_to_headers": [{{"claim": "sub", "header": "{target}"}}]}}}}}}"#
            );
            let e = Config::parse(doc.as_bytes()).unwrap_err();
            assert_eq!(e.field, field, "{target}: {e}");
        }
    }

    #[test]
    fn nothing_configured_is_rejected() {
        assert!(Config::parse(b"{}").is_err());
    }
}
