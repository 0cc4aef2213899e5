//! Requirements: which credentials a route needs and what they must carry, evaluated against the
//! credentials a request presented.
//!
//! # JSON form
//!
//! A requirement is an object with exactly one of:
//! - `{"jwt": "<provider>", "scopes": [...], "claims": {"<dotted.path>": <value> | [<values>]}}` — a
//!   token verified by that provider, carrying every listed scope and, for each claim, a value equal
//!   to the given JSON scalar (or to one of the listed scalars);
//! - `{"api_key": {"scopes": [...], "ids": [...]}}` — a valid API key carrying every listed scope and,
//!   if `ids` is given, being one of those keys; `{"api_key": {}}` accepts any valid key;
//! - `{"any": [<requirement>, ...]}` — at least one child is satisfied;
//! - `{"all": [<requirement>, ...]}` — every child is satisfied (every child's identity is forwarded).
//!
//! Validation: unknown providers, `api_key` without an `api_keys` section, empty `any`/`all`/`scopes`/
//! `ids`/`claims`, scopes with whitespace, quotes or backslashes, non-scalar claim values and nesting
//! deeper than [`MAX_DEPTH`] are configuration errors naming the field.
//!
//! # Matching
//! - Scopes match exactly: `admin` does not satisfy `admin:read`, nor the reverse.
//! - A claim path walks nested objects on `.` ([`crate::claim_path`]: a literal dot in a member name
//!   is escaped, `https://example\\.com/roles`); the same path means the same value in
//!   `claims_to_headers`. Scalars compare by JSON value (numbers numerically); if the token's claim
//!   is an array, any element equal to any allowed value satisfies it. A missing claim is a mismatch.
//!
//! # Outcomes and precedence
//! A leaf yields `Granted`, `Denied{reason}` (missing: 401 `missing`; present but invalid: 401 with the
//! credential's reason; valid but lacking rights: 403 `insufficient_scope` / `claim_mismatch` /
//! `key_not_allowed`), `Pending` (the provider's keys are loading: wait and re-evaluate) or
//! `Unavailable` (the keys could not be loaded: 503).
//!
//! - `any` returns the first granted child (later children are not evaluated). Otherwise it returns the
//!   child outcome with the highest [`precedence`]: `Pending` (the union of all pending providers: the
//!   request waits because the keys may still grant it) > `Unavailable` > 403 > 401 invalid credential >
//!   401 missing; ties go to the first child.
//! - `all` returns the first `Denied` child as soon as it is seen: a denial is final, waiting for keys
//!   cannot change it. Otherwise, if some child is `Pending`, it waits (union of providers); otherwise,
//!   if some child is `Unavailable`, 503; otherwise it grants with every child's identities.

use crate::claim_path::ClaimPath;
use crate::config_error::ConfigError;
use crate::need::Need;
use crate::reason::Reason;
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;

/// What other sections may refer to: used to validate rules.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub providers: &'a BTreeMap<String, crate::provider::Provider>,
    pub api_keys: bool,
}

/// The deepest allowed nesting of requirements (a leaf at the top is depth 1).
pub const MAX_DEPTH: usize = 8;

/// A requirement tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    Jwt {
        provider: String,
        /// Every one must be among the token's scopes.
        scopes: Vec<String>,
        /// `(claim path, allowed values)`: each claim must equal one of its values.
        claims: Vec<(ClaimPath, Vec<Value>)>,
    },
    ApiKey {
        /// Every one must be among the key's scopes.
        scopes: Vec<String>,
        /// If non-empty, the key's id must be one of these.
        ids: Vec<String>,
    },
    Any(Vec<Requirement>),
    All(Vec<Requirement>),
}

/// JSON form of a requirement.
#[derive(Debug)]
pub struct RequirementConfig {
    jwt: Option<String>,
    scopes: Option<Vec<String>>,
    claims: Option<BTreeMap<String, Value>>,
    api_key: Option<ApiKeyRequirementConfig>,
    any: Option<Vec<RequirementConfig>>,
    all: Option<Vec<RequirementConfig>>,
}

/// JSON form of `{"api_key": {...}}`.
#[derive(Debug)]
struct ApiKeyRequirementConfig {
    scopes: Option<Vec<String>>,
    ids: Option<Vec<String>>,
}

from_json_struct!(RequirementConfig {
    jwt,
    scopes,
    claims,
    api_key,
    any,
    all,
});
from_json_struct!(ApiKeyRequirementConfig { scopes, ids });

impl RequirementConfig {
    /// Validates the requirement found at `field` (e.g. `rules[2].require`).
    pub fn validate(self, field: &str, known: Known<'_>) -> Result<Requirement, ConfigError> {
        self.validate_at(field, known, 1)
    }

    fn validate_at(
        self,
        field: &str,
        known: Known<'_>,
        depth: usize,
    ) -> Result<Requirement, ConfigError> {
        if depth > MAX_DEPTH {
            return Err(ConfigError::new(
                field,
                format!("requirements are nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        let kinds = [
            self.jwt.is_some(),
            self.api_key.is_some(),
            self.any.is_some(),
            self.all.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(ConfigError::new(
                field,
                "needs exactly one of \"jwt\", \"api_key\", \"any\", \"all\"",
            ));
        }
        if self.jwt.is_none() {
            let hint =
                "only applies to \"jwt\" (for API keys use {\"api_key\": {\"scopes\": [...]}})";
            if self.scopes.is_some() {
                return Err(ConfigError::new(&format!("{field}.scopes"), hint));
            }
            if self.claims.is_some() {
                return Err(ConfigError::new(&format!("{field}.claims"), hint));
            }
        }
        if let Some(provider) = self.jwt {
            if !known.providers.contains_key(&provider) {
                let mut names: Vec<&str> = known.providers.keys().map(String::as_str).collect();
                names.sort_unstable();
                let problem = if names.is_empty() {
                    format!("unknown provider \"{provider}\": no providers are configured")
                } else {
                    format!(
                        "unknown provider \"{provider}\" (configured: {})",
                        names.join(", ")
                    )
                };
                return Err(ConfigError::new(&format!("{field}.jwt"), problem));
            }
            let scopes = match self.scopes {
                Some(s) => validate_scopes(s, &format!("{field}.scopes"))?,
                None => Vec::new(),
            };
            let claims = match self.claims {
                Some(c) => validate_claims(c, &format!("{field}.claims"))?,
                None => Vec::new(),
            };
            return Ok(Requirement::Jwt {
                provider,
                scopes,
                claims,
            });
        }
        if let Some(k) = self.api_key {
            let f = format!("{field}.api_key");
            if !known.api_keys {
                return Err(ConfigError::new(
                    &f,
                    "no \"api_keys\" section is configured",
                ));
            }
            let scopes = match k.scopes {
                Some(s) => validate_scopes(s, &format!("{f}.scopes"))?,
                None => Vec::new(),
            };
            let ids = match k.ids {
                Some(ids) => validate_ids(ids, &format!("{f}.ids"))?,
                None => Vec::new(),
            };
            return Ok(Requirement::ApiKey { scopes, ids });
        }
        let (name, list) = match (self.any, self.all) {
            (Some(l), _) => ("any", l),
            (None, Some(l)) => ("all", l),
            (None, None) => {
                return Err(ConfigError::new(
                    field,
                    "needs exactly one requirement kind",
                ))
            }
        };
        let f = format!("{field}.{name}");
        if list.is_empty() {
            return Err(ConfigError::new(&f, "must list at least one requirement"));
        }
        let children = list
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.validate_at(&format!("{f}[{i}]"), known, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if name == "any" {
            Requirement::Any(children)
        } else {
            Requirement::All(children)
        })
    }
}

/// A scope as it may appear in a `WWW-Authenticate` `scope` attribute (RFC 6750 `scope-token`).
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

fn validate_scopes(scopes: Vec<String>, field: &str) -> Result<Vec<String>, ConfigError> {
    if scopes.is_empty() {
        return Err(ConfigError::new(
            field,
            "must list at least one scope (omit it to require none)",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for (i, s) in scopes.into_iter().enumerate() {
        if !is_scope_token(&s) {
            return Err(ConfigError::new(
                &format!("{field}[{i}]"),
                "a scope is non-empty printable ASCII without spaces, quotes or backslashes",
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

fn validate_ids(ids: Vec<String>, field: &str) -> Result<Vec<String>, ConfigError> {
    if ids.is_empty() {
        return Err(ConfigError::new(
            field,
            "must list at least one key id (omit it to allow any key)",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        if id.is_empty() {
            return Err(ConfigError::new(
                &format!("{field}[{i}]"),
                "must not be empty",
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn validate_claims(
    claims: BTreeMap<String, Value>,
    field: &str,
) -> Result<Vec<(ClaimPath, Vec<Value>)>, ConfigError> {
    if claims.is_empty() {
        return Err(ConfigError::new(
            field,
            "must list at least one claim (omit it to require none)",
        ));
    }
    let mut out = Vec::with_capacity(claims.len());
    for (path, value) in claims {
        let f = format!("{field}.{path}");
        let parsed = ClaimPath::parse(&path).map_err(|e| ConfigError::new(&f, e))?;
        let values = match value {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(ConfigError::new(&f, "must list at least one allowed value"));
                }
                if let Some(i) = items.iter().position(|v| !is_scalar(v)) {
                    return Err(ConfigError::new(
                        &format!("{f}[{i}]"),
                        "allowed values are strings, numbers or booleans",
                    ));
                }
                items
            }
            v if is_scalar(&v) => vec![v],
            _ => {
                return Err(ConfigError::new(
                    &f,
                    "must be a string, number, boolean or a list of them",
                ))
            }
        };
        out.push((parsed, values));
    }
    Ok(out)
}

/// A valid API key's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    pub id: String,
    pub scopes: Vec<String>,
}

/// A verified token's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtIdentity {
    pub provider: String,
    pub claims: Rc<crate::jwt::Claims>,
    /// Scopes gathered from the provider's scope claims.
    pub scopes: Vec<String>,
}

/// What the engine knows about one credential.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialState<T> {
    Valid(T),
    Missing,
    Invalid(Reason),
    /// The provider's keys are still loading: the request should wait.
    Pending,
    /// The provider's keys could not be loaded: 503.
    Unavailable,
}

/// Credentials of the request, computed lazily by the engine (each at most once).
pub trait Credentials {
    fn api_key(&mut self) -> CredentialState<KeyIdentity>;
    fn jwt(&mut self, provider: &str) -> CredentialState<JwtIdentity>;
}

/// Which kind of credential a denial concerns (decides the challenge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    Jwt,
}

/// A credential that satisfied (part of) the requirement: its identity is forwarded.
#[derive(Debug, Clone, PartialEq)]
pub enum Granted {
    ApiKey(KeyIdentity),
    Jwt(JwtIdentity),
}

/// The result of evaluating a requirement.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    Granted(Vec<Granted>),
    Denied {
        reason: Reason,
        kind: CredentialKind,
        /// The scopes the failing requirement asked for (for the `scope` challenge attribute).
        scopes: Vec<String>,
    },
    /// Wait for these providers' keys, then evaluate again.
    Pending(Vec<Need>),
    Unavailable(Need),
}

/// How useful an outcome is as the answer of an `any`: the highest wins (ties: the first child).
///
/// `Granted` (5) > `Pending` (4: keys may still grant it) > `Unavailable` (3: 503, retry may succeed) >
/// denied with a valid credential lacking rights (2: 403) > denied with a present but invalid
/// credential (1: 401 with an error) > denied for a missing credential (0: 401).
pub fn precedence(e: &Evaluation) -> u8 {
    match e {
        Evaluation::Granted(_) => 5,
        Evaluation::Pending(_) => 4,
        Evaluation::Unavailable(_) => 3,
        Evaluation::Denied { reason, .. } if reason.is_forbidden() => 2,
        Evaluation::Denied {
            reason: Reason::Missing,
            ..
        } => 0,
        Evaluation::Denied { .. } => 1,
    }
}

fn denied(reason: Reason, kind: CredentialKind, scopes: Vec<String>) -> Evaluation {
    Evaluation::Denied {
        reason,
        kind,
        scopes,
    }
}

fn has_scopes(held: &[String], required: &[String]) -> bool {
    required.iter().all(|r| held.iter().any(|h| h == r))
}

/// JSON scalar equality; numbers compare numerically (`1` equals `1.0`).
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64() == y.as_f64()
        }
        _ => is_scalar(a) && a == b,
    }
}

fn claim_matches(value: &Value, allowed: &[Value]) -> bool {
    let one = |v: &Value| allowed.iter().any(|a| scalar_eq(v, a));
    match value {
        Value::Array(items) => items.iter().any(one),
        v => one(v),
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, items: Vec<T>) {
    for i in items {
        if !list.contains(&i) {
            list.push(i);
        }
    }
}

/// Evaluates a requirement. See the module documentation for the precedence rules.
pub fn evaluate(req: &Requirement, creds: &mut dyn Credentials) -> Evaluation {
    match req {
        Requirement::ApiKey { scopes, ids } => match creds.api_key() {
            CredentialState::Valid(k) => {
                if !ids.is_empty() && !ids.contains(&k.id) {
                    denied(Reason::KeyNotAllowed, CredentialKind::ApiKey, Vec::new())
                } else if !has_scopes(&k.scopes, scopes) {
                    denied(
                        Reason::InsufficientScope,
                        CredentialKind::ApiKey,
                        scopes.clone(),
                    )
                } else {
                    Evaluation::Granted(vec![Granted::ApiKey(k)])
                }
            }
            CredentialState::Invalid(r) => denied(r, CredentialKind::ApiKey, Vec::new()),
            // API keys are local: they are never pending or unavailable. Treat anything else as absent.
            CredentialState::Missing | CredentialState::Pending | CredentialState::Unavailable => {
                denied(Reason::Missing, CredentialKind::ApiKey, Vec::new())
            }
        },
        Requirement::Jwt {
            provider,
            scopes,
            claims,
        } => match creds.jwt(provider) {
            CredentialState::Valid(j) => {
                if !has_scopes(&j.scopes, scopes) {
                    denied(
                        Reason::InsufficientScope,
                        CredentialKind::Jwt,
                        scopes.clone(),
                    )
                } else if !claims.iter().all(|(path, allowed)| {
                    path.lookup(&j.claims)
                        .is_some_and(|v| claim_matches(v, allowed))
                }) {
                    denied(Reason::ClaimMismatch, CredentialKind::Jwt, Vec::new())
                } else {
                    Evaluation::Granted(vec![Granted::Jwt(j)])
                }
            }
            CredentialState::Missing => denied(Reason::Missing, CredentialKind::Jwt, Vec::new()),
            CredentialState::Invalid(r) => denied(r, CredentialKind::Jwt, Vec::new()),
            CredentialState::Pending => Evaluation::Pending(vec![Need::KeySet(provider.clone())]),
            CredentialState::Unavailable => Evaluation::Unavailable(Need::KeySet(provider.clone())),
        },
        Requirement::Any(list) => {
            let mut best: Option<Evaluation> = None;
            let mut pending: Vec<Need> = Vec::new();
            for r in list {
                let e = evaluate(r, creds);
                match e {
                    Evaluation::Granted(_) => return e,
                    Evaluation::Pending(p) => push_unique(&mut pending, p),
                    e => {
                        if best.as_ref().is_none_or(|b| precedence(&e) > precedence(b)) {
                            best = Some(e);
                        }
                    }
                }
            }
            if !pending.is_empty() {
                return Evaluation::Pending(pending);
            }
            best.unwrap_or_else(|| denied(Reason::Missing, CredentialKind::Jwt, Vec::new()))
        }
        Requirement::All(list) => {
            if list.is_empty() {
                // Never grant on an empty conjunction (validation rejects it anyway).
                return denied(Reason::Missing, CredentialKind::Jwt, Vec::new());
            }
            let mut granted: Vec<Granted> = Vec::new();
            let mut pending: Vec<Need> = Vec::new();
            let mut unavailable: Option<Need> = None;
            for r in list {
                match evaluate(r, creds) {
                    Evaluation::Granted(g) => push_unique(&mut granted, g),
                    d @ Evaluation::Denied { .. } => return d,
                    Evaluation::Pending(p) => push_unique(&mut pending, p),
                    Evaluation::Unavailable(p) => {
                        unavailable.get_or_insert(p);
                    }
                }
            }
            if !pending.is_empty() {
                Evaluation::Pending(pending)
            } else if let Some(p) = unavailable {
                Evaluation::Unavailable(p)
            } else {
                Evaluation::Granted(granted)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::KeySet;
    use crate::provider::{JwksSource, Provider};
    use serde_json::json;
    use CredentialState as S;

    /// Credentials given up front; counts how often each is asked for.
    #[derive(Default)]
    struct Fake {
        key: Option<CredentialState<KeyIdentity>>,
        jwts: BTreeMap<String, CredentialState<JwtIdentity>>,
        asked: Vec<String>,
    }

    impl Fake {
        fn key(mut self, s: CredentialState<KeyIdentity>) -> Self {
            self.key = Some(s);
            self
        }
        fn jwt(mut self, p: &str, s: CredentialState<JwtIdentity>) -> Self {
            self.jwts.insert(p.into(), s);
            self
        }
    }

    impl Credentials for Fake {
        fn api_key(&mut self) -> CredentialState<KeyIdentity> {
            self.asked.push("api_key".into());
            self.key.clone().unwrap_or(S::Missing)
        }
        fn jwt(&mut self, provider: &str) -> CredentialState<JwtIdentity> {
            self.asked.push(provider.into());
            self.jwts.get(provider).cloned().unwrap_or(S::Missing)
        }
    }

    fn key(id: &str, scopes: &[&str]) -> CredentialState<KeyIdentity> {
        S::Valid(KeyIdentity {
            id: id.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn token(provider: &str, scopes: &[&str], claims: Value) -> CredentialState<JwtIdentity> {
        S::Valid(ident(provider, scopes, claims))
    }

    fn ident(provider: &str, scopes: &[&str], claims: Value) -> JwtIdentity {
        JwtIdentity {
            provider: provider.into(),
            claims: Rc::new(claims.as_object().cloned().unwrap_or_default()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn provider(name: &str) -> Provider {
        Provider::new(
            name,
            &format!("https://{name}.example"),
            JwksSource::Inline(KeySet::default()),
        )
    }

    fn providers() -> BTreeMap<String, Provider> {
        ["a", "b"]
            .into_iter()
            .map(|n| (n.to_string(), provider(n)))
            .collect()
    }

    fn parse(v: Value, api_keys: bool) -> Result<Requirement, ConfigError> {
        let p = providers();
        let known = Known {
            providers: &p,
            api_keys,
        };
        let cfg: RequirementConfig =
            crate::config_json::FromJson::from_json(&v, &crate::config_json::At::Root)?;
        cfg.validate("rules[0].require", known)
    }

    fn req(v: Value) -> Requirement {
        match parse(v.clone(), true) {
            Ok(r) => r,
            Err(e) => unreachable!("{v}: {e}"),
        }
    }

    fn deny(reason: Reason, kind: CredentialKind, scopes: &[&str]) -> Evaluation {
        denied(reason, kind, scopes.iter().map(|s| s.to_string()).collect())
    }

    use CredentialKind::{ApiKey as K, Jwt as J};

    #[test]
    fn leaves() {
        let claims = json!({"sub": "u1", "tenant": "acme", "level": 3, "roles": ["dev", "ops"],
            "org": {"team": {"name": "core"}}, "https://x.example/roles": ["admin"], "ratio": 1.0});
        let t = || {
            token(
                "a",
                &["orders:read", "orders:write", "admin"],
                claims.clone(),
            )
        };
        let granted_a = Evaluation::Granted(vec![Granted::Jwt(ident(
            "a",
            &["orders:read", "orders:write", "admin"],
            claims.clone(),
        ))]);
        let granted_k = Evaluation::Granted(vec![Granted::ApiKey(KeyIdentity {
            id: "k1".into(),
            scopes: vec!["read".into()],
        })]);
        let cases: Vec<(Value, Fake, Evaluation)> = vec![
            // jwt presence / validity
            (
                json!({"jwt": "a"}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a"}),
                Fake::default(),
                deny(Reason::Missing, J, &[]),
            ),
            (
                json!({"jwt": "a"}),
                Fake::default().jwt("a", S::Invalid(Reason::Expired)),
                deny(Reason::Expired, J, &[]),
            ),
            (
                json!({"jwt": "a"}),
                Fake::default().jwt("a", S::Pending),
                Evaluation::Pending(vec![Need::KeySet("a".into())]),
            ),
            (
                json!({"jwt": "a"}),
                Fake::default().jwt("a", S::Unavailable),
                Evaluation::Unavailable(Need::KeySet("a".into())),
            ),
            // a token of another provider does not count
            (
                json!({"jwt": "b"}),
                Fake::default().jwt("a", t()),
                deny(Reason::Missing, J, &[]),
            ),
            // scopes: all required, exact match
            (
                json!({"jwt": "a", "scopes": ["orders:read"]}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "scopes": ["orders:read", "orders:write"]}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "scopes": ["orders:read", "orders:delete"]}),
                Fake::default().jwt("a", t()),
                deny(
                    Reason::InsufficientScope,
                    J,
                    &["orders:read", "orders:delete"],
                ),
            ),
            (
                json!({"jwt": "a", "scopes": ["admin:read"]}),
                Fake::default().jwt("a", t()),
                deny(Reason::InsufficientScope, J, &["admin:read"]),
            ),
            (
                json!({"jwt": "a", "scopes": ["orders"]}),
                Fake::default().jwt("a", t()),
                deny(Reason::InsufficientScope, J, &["orders"]),
            ),
            // claims
            (
                json!({"jwt": "a", "claims": {"tenant": "acme"}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "claims": {"tenant": "other"}}),
                Fake::default().jwt("a", t()),
                deny(Reason::ClaimMismatch, J, &[]),
            ),
            (
                json!({"jwt": "a", "claims": {"tenant": ["x", "acme"]}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "claims": {"roles": "ops"}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "claims": {"roles": ["admin", "dev"]}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "claims": {"roles": ["admin"]}}),
                Fake::default().jwt("a", t()),
                deny(Reason::ClaimMismatch, J, &[]),
            ),
            (
                json!({"jwt": "a", "claims": {"org.team.name": "core"}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "claims": {"org.team": "core"}}),
                Fake::default().jwt("a", t()),
                deny(Reason::ClaimMismatch, J, &[]),
            ),
            (
                json!({"jwt": "a", "claims": {"org.missing.name": "core"}}),
                Fake::default().jwt("a", t()),
                deny(Reason::ClaimMismatch, J, &[]),
            ),
            (
                json!({"jwt": "a", "claims": {"https://x\\.example/roles": "admin"}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            // a dotted path always walks objects: no fallback to a member named like the path
            (
                json!({"jwt": "a", "claims": {"https://x.example/roles": "admin"}}),
                Fake::default().jwt("a", t()),
                deny(Reason::ClaimMismatch, J, &[]),
            ),
            (
                json!({"jwt": "a", "claims": {"level": 3}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "claims": {"level": 3.0}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "claims": {"ratio": 1}}),
                Fake::default().jwt("a", t()),
                granted_a.clone(),
            ),
            (
                json!({"jwt": "a", "claims": {"level": "3"}}),
                Fake::default().jwt("a", t()),
                deny(Reason::ClaimMismatch, J, &[]),
            ),
            (
                json!({"jwt": "a", "claims": {"tenant": "acme", "level": 4}}),
                Fake::default().jwt("a", t()),
                deny(Reason::ClaimMismatch, J, &[]),
            ),
            // scope failure is reported before a claim failure
            (
                json!({"jwt": "a", "scopes": ["x"], "claims": {"tenant": "no"}}),
                Fake::default().jwt("a", t()),
                deny(Reason::InsufficientScope, J, &["x"]),
            ),
            // api keys
            (
                json!({"api_key": {}}),
                Fake::default().key(key("k1", &["read"])),
                granted_k.clone(),
            ),
            (
                json!({"api_key": {}}),
                Fake::default(),
                deny(Reason::Missing, K, &[]),
            ),
            (
                json!({"api_key": {}}),
                Fake::default().key(S::Invalid(Reason::UnknownKey)),
                deny(Reason::UnknownKey, K, &[]),
            ),
            (
                json!({"api_key": {}}),
                Fake::default().key(S::Invalid(Reason::DisabledKey)),
                deny(Reason::DisabledKey, K, &[]),
            ),
            (
                json!({"api_key": {"scopes": ["read"]}}),
                Fake::default().key(key("k1", &["read"])),
                granted_k.clone(),
            ),
            (
                json!({"api_key": {"scopes": ["read", "write"]}}),
                Fake::default().key(key("k1", &["read"])),
                deny(Reason::InsufficientScope, K, &["read", "write"]),
            ),
            (
                json!({"api_key": {"ids": ["k0", "k1"]}}),
                Fake::default().key(key("k1", &["read"])),
                granted_k.clone(),
            ),
            (
                json!({"api_key": {"ids": ["k2"]}}),
                Fake::default().key(key("k1", &["read"])),
                deny(Reason::KeyNotAllowed, K, &[]),
            ),
            // a pending/unavailable API key state (never produced) fails closed
            (
                json!({"api_key": {}}),
                Fake::default().key(S::Pending),
                deny(Reason::Missing, K, &[]),
            ),
        ];
        for (i, (r, mut creds, want)) in cases.into_iter().enumerate() {
            let got = evaluate(&req(r.clone()), &mut creds);
            assert_eq!(got, want, "case {i}: {r}");
        }
    }

    #[test]
    fn precedence_ranking() {
        let ordered = [
            deny(Reason::Missing, J, &[]),
            deny(Reason::BadSignature, J, &[]),
            deny(Reason::InsufficientScope, K, &[]),
            Evaluation::Unavailable(Need::KeySet("a".into())),
            Evaluation::Pending(vec![Need::KeySet("a".into())]),
            Evaluation::Granted(vec![]),
        ];
        for w in ordered.windows(2) {
            if let [lo, hi] = w {
                assert!(precedence(lo) < precedence(hi), "{lo:?} < {hi:?}");
            }
        }
        for r in [Reason::ClaimMismatch, Reason::KeyNotAllowed] {
            assert_eq!(precedence(&deny(r, J, &[])), 2);
        }
        for r in [
            Reason::Expired,
            Reason::UnknownKey,
            Reason::Malformed,
            Reason::WrongAudience,
        ] {
            assert_eq!(precedence(&deny(r, J, &[])), 1);
        }
    }

    #[test]
    fn any_picks_the_most_useful_outcome() {
        let any = req(
            json!({"any": [{"api_key": {"scopes": ["w"]}}, {"jwt": "a", "scopes": ["s"]}, {"jwt": "b"}]}),
        );
        let cases: Vec<(Fake, Evaluation)> = vec![
            // nothing presented: the first missing
            (Fake::default(), deny(Reason::Missing, K, &[])),
            // present-but-invalid beats missing
            (
                Fake::default().jwt("b", S::Invalid(Reason::BadSignature)),
                deny(Reason::BadSignature, J, &[]),
            ),
            // 403 beats 401 invalid
            (
                Fake::default()
                    .key(S::Invalid(Reason::UnknownKey))
                    .jwt("a", token("a", &[], json!({}))),
                deny(Reason::InsufficientScope, J, &["s"]),
            ),
            // ties go to the first child
            (
                Fake::default()
                    .key(key("k", &[]))
                    .jwt("a", token("a", &[], json!({}))),
                deny(Reason::InsufficientScope, K, &["w"]),
            ),
            // a grant anywhere wins, even over pending and unavailable branches
            (
                Fake::default()
                    .jwt("a", S::Pending)
                    .jwt("b", token("b", &[], json!({}))),
                Evaluation::Granted(vec![Granted::Jwt(ident("b", &[], json!({})))]),
            ),
            (
                Fake::default()
                    .jwt("a", S::Unavailable)
                    .key(key("k", &["w"])),
                Evaluation::Granted(vec![Granted::ApiKey(KeyIdentity {
                    id: "k".into(),
                    scopes: vec!["w".into()],
                })]),
            ),
            // nothing granted but keys are loading: wait (pending providers merged)
            (
                Fake::default()
                    .jwt("a", S::Pending)
                    .jwt("b", S::Pending)
                    .key(key("k", &[])),
                Evaluation::Pending(vec![Need::KeySet("a".into()), Need::KeySet("b".into())]),
            ),
            (
                Fake::default()
                    .jwt("b", S::Pending)
                    .jwt("a", S::Unavailable),
                Evaluation::Pending(vec![Need::KeySet("b".into())]),
            ),
            // unavailable beats denials
            (
                Fake::default().jwt("a", S::Unavailable).key(key("k", &[])),
                Evaluation::Unavailable(Need::KeySet("a".into())),
            ),
        ];
        for (i, (mut creds, want)) in cases.into_iter().enumerate() {
            assert_eq!(evaluate(&any, &mut creds), want, "case {i}");
        }
    }

    #[test]
    fn any_stops_at_the_first_grant() {
        let any = req(json!({"any": [{"api_key": {}}, {"jwt": "a"}]}));
        let mut creds = Fake::default().key(key("k", &[]));
        assert!(matches!(evaluate(&any, &mut creds), Evaluation::Granted(_)));
        assert_eq!(creds.asked, vec!["api_key".to_string()]);
    }

    #[test]
    fn all_requires_every_child() {
        let all =
            req(json!({"all": [{"api_key": {}}, {"jwt": "a", "scopes": ["s"]}, {"jwt": "b"}]}));
        let k = || key("k", &[]);
        let ta = || token("a", &["s"], json!({"sub": "x"}));
        let tb = || token("b", &[], json!({"sub": "y"}));
        let cases: Vec<(Fake, Evaluation)> = vec![
            (
                Fake::default().key(k()).jwt("a", ta()).jwt("b", tb()),
                Evaluation::Granted(vec![
                    Granted::ApiKey(KeyIdentity {
                        id: "k".into(),
                        scopes: vec![],
                    }),
                    Granted::Jwt(ident("a", &["s"], json!({"sub": "x"}))),
                    Granted::Jwt(ident("b", &[], json!({"sub": "y"}))),
                ]),
            ),
            // first failing child decides
            (
                Fake::default().jwt("a", ta()).jwt("b", tb()),
                deny(Reason::Missing, K, &[]),
            ),
            (
                Fake::default()
                    .key(k())
                    .jwt("a", token("a", &[], json!({})))
                    .jwt("b", S::Invalid(Reason::Expired)),
                deny(Reason::InsufficientScope, J, &["s"]),
            ),
            // a denial is final: no waiting, no 503
            (
                Fake::default().key(k()).jwt("a", S::Pending),
                deny(Reason::Missing, J, &[]),
            ),
            (
                Fake::default().key(k()).jwt("a", S::Unavailable),
                deny(Reason::Missing, J, &[]),
            ),
            (
                Fake::default().jwt("a", S::Pending).jwt("b", tb()),
                deny(Reason::Missing, K, &[]),
            ),
            // otherwise pending waits, then unavailable
            (
                Fake::default()
                    .key(k())
                    .jwt("a", S::Pending)
                    .jwt("b", S::Pending),
                Evaluation::Pending(vec![Need::KeySet("a".into()), Need::KeySet("b".into())]),
            ),
            (
                Fake::default()
                    .key(k())
                    .jwt("a", S::Unavailable)
                    .jwt("b", S::Pending),
                Evaluation::Pending(vec![Need::KeySet("b".into())]),
            ),
            (
                Fake::default()
                    .key(k())
                    .jwt("a", ta())
                    .jwt("b", S::Unavailable),
                Evaluation::Unavailable(Need::KeySet("b".into())),
            ),
        ];
        for (i, (mut creds, want)) in cases.into_iter().enumerate() {
            assert_eq!(evaluate(&all, &mut creds), want, "case {i}");
        }
    }

    #[test]
    fn nesting() {
        // admin token, or (api key with scope AND user token of tenant acme)
        let r = req(json!({"any": [
            {"jwt": "a", "scopes": ["admin"]},
            {"all": [{"api_key": {"scopes": ["svc"]}}, {"jwt": "b", "claims": {"tenant": "acme"}}]}
        ]}));
        let ok = Fake::default()
            .jwt("a", token("a", &[], json!({})))
            .key(key("k", &["svc"]))
            .jwt("b", token("b", &[], json!({"tenant": "acme"})));
        let mut c = ok;
        assert!(matches!(evaluate(&r, &mut c), Evaluation::Granted(g) if g.len() == 2));
        let mut c = Fake::default()
            .key(key("k", &["svc"]))
            .jwt("b", token("b", &[], json!({"tenant": "evil"})));
        assert_eq!(evaluate(&r, &mut c), deny(Reason::ClaimMismatch, J, &[]));
        let mut c = Fake::default().key(key("k", &["svc"])).jwt("b", S::Pending);
        assert_eq!(
            evaluate(&r, &mut c),
            Evaluation::Pending(vec![Need::KeySet("b".into())])
        );
        let mut c = Fake::default().jwt("a", token("a", &["admin"], json!({})));
        assert!(matches!(evaluate(&r, &mut c), Evaluation::Granted(g) if g.len() == 1));
        // identical identities from several children are forwarded once
        let r =
            req(json!({"all": [{"jwt": "a", "scopes": ["x"]}, {"jwt": "a", "claims": {"t": 1}}]}));
        let mut c = Fake::default().jwt("a", token("a", &["x"], json!({"t": 1})));
        assert!(matches!(evaluate(&r, &mut c), Evaluation::Granted(g) if g.len() == 1));
    }

    #[test]
    fn empty_combinators_never_grant() {
        let mut c = Fake::default().key(key("k", &[]));
        assert!(matches!(
            evaluate(&Requirement::All(vec![]), &mut c),
            Evaluation::Denied { .. }
        ));
        assert!(matches!(
            evaluate(&Requirement::Any(vec![]), &mut c),
            Evaluation::Denied { .. }
        ));
    }

    #[test]
    fn config_errors_name_the_field() {
        let deep = (0..8).fold(json!({"jwt": "a"}), |r, _| json!({"any": [r]}));
        let cases: Vec<(Value, bool, &str, &str)> = vec![
            (json!({}), true, "rules[0].require", "exactly one"),
            (
                json!({"jwt": "a", "api_key": {}}),
                true,
                "rules[0].require",
                "exactly one",
            ),
            (
                json!({"jwt": "nope"}),
                true,
                "rules[0].require.jwt",
                "unknown provider",
            ),
            (
                json!({"api_key": {}}),
                false,
                "rules[0].require.api_key",
                "api_keys",
            ),
            (
                json!({"any": []}),
                true,
                "rules[0].require.any",
                "at least one",
            ),
            (
                json!({"all": []}),
                true,
                "rules[0].require.all",
                "at least one",
            ),
            (
                json!({"all": [{"api_key": {}}, {"jwt": "zzz"}]}),
                true,
                "rules[0].require.all[1].jwt",
                "unknown provider",
            ),
            (
                json!({"any": [{"all": [{"jwt": "a", "scopes": ["ok", "not ok"]}]}]}),
                true,
                "rules[0].require.any[0].all[0].scopes[1]",
                "scope",
            ),
            (
                json!({"jwt": "a", "scopes": []}),
                true,
                "rules[0].require.scopes",
                "at least one",
            ),
            (
                json!({"jwt": "a", "scopes": [""]}),
                true,
                "rules[0].require.scopes[0]",
                "scope",
            ),
            (
                json!({"jwt": "a", "scopes": ["a\"b"]}),
                true,
                "rules[0].require.scopes[0]",
                "scope",
            ),
            (
                json!({"api_key": {"scopes": ["a b"]}}),
                true,
                "rules[0].require.api_key.scopes[0]",
                "scope",
            ),
            (
                json!({"api_key": {"ids": []}}),
                true,
                "rules[0].require.api_key.ids",
                "at least one",
            ),
            (
                json!({"api_key": {"ids": ["x", ""]}}),
                true,
                "rules[0].require.api_key.ids[1]",
                "empty",
            ),
            (
                json!({"any": [{"api_key": {}}], "scopes": ["x"]}),
                true,
                "rules[0].require.scopes",
                "only applies",
            ),
            (
                json!({"api_key": {}, "claims": {"a": 1}}),
                true,
                "rules[0].require.claims",
                "only applies",
            ),
            (
                json!({"jwt": "a", "claims": {}}),
                true,
                "rules[0].require.claims",
                "at least one",
            ),
            (
                json!({"jwt": "a", "claims": {"t": null}}),
                true,
                "rules[0].require.claims.t",
                "string",
            ),
            (
                json!({"jwt": "a", "claims": {"t": {"x": 1}}}),
                true,
                "rules[0].require.claims.t",
                "string",
            ),
            (
                json!({"jwt": "a", "claims": {"t": []}}),
                true,
                "rules[0].require.claims.t",
                "at least one",
            ),
            (
                json!({"jwt": "a", "claims": {"t": [1, [2]]}}),
                true,
                "rules[0].require.claims.t[1]",
                "strings",
            ),
            (
                json!({"jwt": "a", "claims": {"a..b": 1}}),
                true,
                "rules[0].require.claims.a..b",
                "claim path",
            ),
            (
                deep,
                true,
                "rules[0].require.any[0].any[0].any[0].any[0].any[0].any[0].any[0].any[0]",
                "nested",
            ),
        ];
        for (v, api_keys, field, problem) in cases {
            match parse(v.clone(), api_keys) {
                Ok(r) => unreachable!("{v} accepted as {r:?}"),
                Err(e) => {
                    assert_eq!(e.field, field, "{v}: {e}");
                    assert!(e.problem.contains(problem), "{v}: {e}");
                }
            }
        }
        // seven levels of nesting below the top are fine; unknown fields are refused by serde
        let ok = (0..7).fold(json!({"jwt": "a"}), |r, _| json!({"all": [r]}));
        assert!(parse(ok, true).is_ok());
        assert!(parse(json!({"jwt": "a", "scope": ["x"]}), true).is_err());
        assert!(parse(json!({"api_key": {"scope": ["x"]}}), true).is_err());
        // duplicates are folded
        assert_eq!(
            parse(json!({"jwt": "a", "scopes": ["x", "x"]}), true),
            Ok(Requirement::Jwt {
                provider: "a".into(),
                scopes: vec!["x".into()],
                claims: vec![]
            })
        );
    }
}
