//! Requirements: which credentials a route needs and what they must carry, evaluated against the
//! credentials a request presented.
//!
//! A requirement is a tree of `any`/`all` over one kind of leaf, [`CredentialRequirement`]: a
//! credential of one [`Kind`] (and, for JWTs, one provider) whose [`Identity`] carries every listed
//! scope, claim value and (API keys) id. What a kind is and how it is checked lives in
//! [`crate::credential`]; this module knows kinds only by their JSON members.
//!
//! # JSON form
//!
//! A requirement is an object with exactly one of:
//! - `{"jwt": "<provider>", "scopes": [...], "claims": {"<dotted.path>": <value> | [<values>]}}` — a
//!   token verified by that provider, carrying every listed scope and, for each claim, a value equal
//!   to the given JSON scalar (or to one of the listed scalars); `{"token": "<provider>", ...}` is the
//!   same leaf under its general name (a provider's token may be a JWT or introspected);
//! - `{"api_key": {"scopes": [...], "ids": [...]}}` — a valid API key carrying every listed scope and,
//!   if `ids` is given, being one of those keys; `{"api_key": {}}` accepts any valid key;
//! - `{"basic": {"users": [...], "scopes": [...]}}` — a valid HTTP Basic user of `basic_auth`
//!   carrying every listed scope and, if `users` is given, being one of them (otherwise 403
//!   `user_not_allowed`); `{"basic": {}}` accepts any valid user;
//! - `{"any": [<requirement>, ...]}` — at least one child is satisfied;
//! - `{"all": [<requirement>, ...]}` — every child is satisfied (every child's identity is forwarded).
//!
//! Validation: unknown providers, `api_key` without an `api_keys` section, `basic` without a
//! `basic_auth` section or naming a user it does not configure, empty `any`/`all`/`scopes`/
//! `ids`/`claims`, scopes with whitespace, quotes or backslashes, non-scalar claim values and nesting
//! deeper than [`MAX_DEPTH`] are configuration errors naming the field.
//!
//! # Matching
//! A leaf's scopes, claim values and ids are matched against the identity as
//! [`crate::credential::requirement`] says: scopes exactly, claims by JSON value along a claim path.
//!
//! # Outcomes and precedence
//! A leaf yields `Granted`, `Denied{reason}` (missing: 401 `missing`; present but invalid: 401 with the
//! credential's reason; valid but lacking rights: 403 `key_not_allowed` / `insufficient_scope` /
//! `claim_mismatch`, checked in that order), `Pending` (the check waits for what it needs, e.g. the
//! provider's keys: wait and re-evaluate) or `Unavailable` (what it needed could not be had: 503).
//! A kind that never waits ([`Kind::can_wait`]) has a pending or unavailable state
//! treated as missing.
//!
//! - `any` returns the first granted child (later children are not evaluated). Otherwise it returns the
//!   child outcome with the highest [`precedence`]: `Pending` (the union of all pending needs: the
//!   request waits because the keys may still grant it) > `Unavailable` > 403 > 401 invalid credential >
//!   401 missing; ties go to the first child.
//! - `all` returns the first `Denied` child as soon as it is seen: a denial is final, waiting for keys
//!   cannot change it. Otherwise, if some child is `Pending`, it waits (union of needs); otherwise,
//!   if some child is `Unavailable`, 503; otherwise it grants with every child's identities.
//! - An empty `any` or `all` (which validation refuses) never grants: it is denied like a request
//!   no rule allows (`no_matching_rule`, no credential kind, so no challenge).

use crate::config_error::ConfigError;
use crate::credential::requirement::CredentialRequirement;
use crate::credential::{api_key, basic, jwt};
use crate::credential::{Configured, CredentialState, Credentials, Identity, Kind};
use crate::need::Need;
use crate::reason::Reason;
use serde_json::Value;
use std::collections::BTreeMap;

/// The deepest allowed nesting of requirements (a leaf at the top is depth 1).
pub const MAX_DEPTH: usize = 8;

/// A requirement tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    Credential(CredentialRequirement),
    Any(Vec<Requirement>),
    All(Vec<Requirement>),
}

/// Any valid credential the configuration defines (the rule of a configuration without `rules`).
pub fn any_configured(configured: Configured<'_>) -> Requirement {
    Requirement::Any(
        configured
            .any_valid()
            .into_iter()
            .map(Requirement::Credential)
            .collect(),
    )
}

/// JSON form of a requirement.
#[derive(Debug)]
pub struct RequirementConfig {
    jwt: Option<String>,
    token: Option<String>,
    scopes: Option<Vec<String>>,
    claims: Option<BTreeMap<String, Value>>,
    api_key: Option<api_key::RequirementConfig>,
    basic: Option<basic::RequirementConfig>,
    any: Option<Vec<RequirementConfig>>,
    all: Option<Vec<RequirementConfig>>,
}

from_json_struct!(RequirementConfig {
    jwt,
    token,
    scopes,
    claims,
    api_key,
    basic,
    any,
    all,
});

impl RequirementConfig {
    /// Validates the requirement found at `field` (e.g. `rules[2].require`).
    pub fn validate(self, field: &str, known: Configured<'_>) -> Result<Requirement, ConfigError> {
        self.validate_at(field, known, 1)
    }

    fn validate_at(
        self,
        field: &str,
        known: Configured<'_>,
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
            self.token.is_some(),
            self.api_key.is_some(),
            self.basic.is_some(),
            self.any.is_some(),
            self.all.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(ConfigError::new(
                field,
                "needs exactly one of \"jwt\", \"token\", \"api_key\", \"basic\", \"any\", \"all\"",
            ));
        }
        let token = match (self.jwt, self.token) {
            (Some(p), _) => Some(("jwt", p)),
            (None, Some(p)) => Some(("token", p)),
            (None, None) => None,
        };
        if token.is_none() {
            let hint =
                "only applies to \"jwt\" and \"token\" (for API keys use {\"api_key\": {\"scopes\": [...]}}, for Basic users {\"basic\": {\"scopes\": [...]}})";
            if self.scopes.is_some() {
                return Err(ConfigError::new(&format!("{field}.scopes"), hint));
            }
            if self.claims.is_some() {
                return Err(ConfigError::new(&format!("{field}.claims"), hint));
            }
        }
        if let Some(provider) = token {
            return jwt::requirement(provider, self.scopes, self.claims, field, known)
                .map(Requirement::Credential);
        }
        if let Some(k) = self.api_key {
            return k
                .validate(&format!("{field}.api_key"), known)
                .map(Requirement::Credential);
        }
        if let Some(b) = self.basic {
            return b
                .validate(&format!("{field}.basic"), known)
                .map(Requirement::Credential);
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

/// The result of evaluating a requirement.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// Met, by these identities (each once, in the order the tree met them).
    Granted(Vec<Identity>),
    Denied {
        reason: Reason,
        /// The kind of the failing leaf, which decides the challenge; `None` when no leaf failed
        /// (an empty `any`/`all`).
        kind: Option<Kind>,
        /// The scopes the failing requirement asked for (for the `scope` challenge attribute).
        scopes: Vec<String>,
    },
    /// Wait for these, then evaluate again.
    Pending(Vec<Need>),
    /// This could not be had: 503.
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

fn denied(reason: Reason, kind: Kind, scopes: Vec<String>) -> Evaluation {
    Evaluation::Denied {
        reason,
        kind: Some(kind),
        scopes,
    }
}

/// The outcome of a requirement that names no credential: never met, like a request no rule
/// allows.
fn unsatisfiable() -> Evaluation {
    Evaluation::Denied {
        reason: Reason::NoMatchingRule,
        kind: None,
        scopes: Vec::new(),
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
        Requirement::Credential(leaf) => evaluate_leaf(leaf, creds),
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
            best.unwrap_or_else(unsatisfiable)
        }
        Requirement::All(list) => {
            if list.is_empty() {
                // Never grant on an empty conjunction (validation rejects it anyway).
                return unsatisfiable();
            }
            let mut granted: Vec<Identity> = Vec::new();
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

/// A leaf: the credential's state, then its identity against what the leaf asks of it.
fn evaluate_leaf(leaf: &CredentialRequirement, creds: &mut dyn Credentials) -> Evaluation {
    let kind = leaf.kind;
    match creds.credential(kind, leaf.source.as_deref()) {
        CredentialState::Valid(id) => match leaf.unmet(&id) {
            None => Evaluation::Granted(vec![id]),
            Some(Reason::InsufficientScope) => {
                denied(Reason::InsufficientScope, kind, leaf.scopes.clone())
            }
            Some(reason) => denied(reason, kind, Vec::new()),
        },
        CredentialState::Missing => denied(Reason::Missing, kind, Vec::new()),
        CredentialState::Invalid(r) => denied(r, kind, Vec::new()),
        CredentialState::Pending(need) if kind.can_wait() => Evaluation::Pending(vec![need]),
        CredentialState::Unavailable(need) if kind.can_wait() => Evaluation::Unavailable(need),
        // A local kind is never pending or unavailable: treat anything else as absent.
        CredentialState::Pending(_) | CredentialState::Unavailable(_) => {
            denied(Reason::Missing, kind, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::api_key::{ApiKeys, ApiKeysConfig};
    use crate::jwt::jwk::KeySet;
    use crate::provider::{JwksSource, Provider};
    use serde_json::json;
    use std::rc::Rc;
    use CredentialState as S;

    /// Credentials given up front; counts how often each is asked for.
    #[derive(Default)]
    struct Fake {
        key: Option<CredentialState>,
        jwts: BTreeMap<String, CredentialState>,
        asked: Vec<String>,
    }

    impl Fake {
        fn key(mut self, s: CredentialState) -> Self {
            self.key = Some(s);
            self
        }
        fn jwt(mut self, p: &str, s: CredentialState) -> Self {
            self.jwts.insert(p.into(), s);
            self
        }
    }

    impl Credentials for Fake {
        fn credential(&mut self, kind: Kind, source: Option<&str>) -> CredentialState {
            match (kind, source) {
                (Kind::ApiKey, _) => {
                    self.asked.push("api_key".into());
                    self.key.clone().unwrap_or(S::Missing)
                }
                (Kind::Jwt, Some(provider)) => {
                    self.asked.push(provider.into());
                    self.jwts.get(provider).cloned().unwrap_or(S::Missing)
                }
                (Kind::Jwt, None) | (Kind::Basic, _) => S::Missing,
            }
        }
    }

    /// The key set of provider `p`, as a need.
    fn ks(p: &str) -> Need {
        Need::KeySet(p.into())
    }

    fn key(id: &str, scopes: &[&str]) -> CredentialState {
        S::Valid(key_ident(id, scopes))
    }

    fn key_ident(id: &str, scopes: &[&str]) -> Identity {
        Identity {
            plan: None,
            kind: Kind::ApiKey,
            method: crate::credential::Method::ApiKey,
            source: None,
            subject: None,
            key_id: Some(id.into()),
            client_id: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            claims: None,
        }
    }

    fn token(provider: &str, scopes: &[&str], claims: Value) -> CredentialState {
        S::Valid(ident(provider, scopes, claims))
    }

    fn ident(provider: &str, scopes: &[&str], claims: Value) -> Identity {
        Identity {
            plan: None,
            kind: Kind::Jwt,
            method: crate::credential::Method::Jwt,
            source: Some(provider.into()),
            subject: claims
                .get("sub")
                .and_then(Value::as_str)
                .map(str::to_string),
            key_id: None,
            client_id: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            claims: Some(Rc::new(claims.as_object().cloned().unwrap_or_default())),
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
        let keys: ApiKeys =
            crate::config_json::parse::<ApiKeysConfig>(br#"{"keys": []}"#)?.validate("api_keys")?;
        let known = Configured {
            providers: &p,
            api_keys: api_keys.then_some(&keys),
            basic_auth: None,
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

    fn deny(reason: Reason, kind: Kind, scopes: &[&str]) -> Evaluation {
        denied(reason, kind, scopes.iter().map(|s| s.to_string()).collect())
    }

    use Kind::{ApiKey as K, Jwt as J};

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
        let granted_a = Evaluation::Granted(vec![ident(
            "a",
            &["orders:read", "orders:write", "admin"],
            claims.clone(),
        )]);
        let granted_k = Evaluation::Granted(vec![key_ident("k1", &["read"])]);
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
                Fake::default().jwt("a", S::Pending(ks("a"))),
                Evaluation::Pending(vec![Need::KeySet("a".into())]),
            ),
            (
                json!({"jwt": "a"}),
                Fake::default().jwt("a", S::Unavailable(ks("a"))),
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
            // an API key waits for the remote key set, or is a 503 without it
            (
                json!({"api_key": {}}),
                Fake::default().key(S::Pending(Need::ApiKeySet)),
                Evaluation::Pending(vec![Need::ApiKeySet]),
            ),
            (
                json!({"api_key": {}}),
                Fake::default().key(S::Unavailable(Need::ApiKeySet)),
                Evaluation::Unavailable(Need::ApiKeySet),
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
                    .jwt("a", S::Pending(ks("a")))
                    .jwt("b", token("b", &[], json!({}))),
                Evaluation::Granted(vec![ident("b", &[], json!({}))]),
            ),
            (
                Fake::default()
                    .jwt("a", S::Unavailable(ks("a")))
                    .key(key("k", &["w"])),
                Evaluation::Granted(vec![key_ident("k", &["w"])]),
            ),
            // nothing granted but keys are loading: wait (pending providers merged)
            (
                Fake::default()
                    .jwt("a", S::Pending(ks("a")))
                    .jwt("b", S::Pending(ks("b")))
                    .key(key("k", &[])),
                Evaluation::Pending(vec![Need::KeySet("a".into()), Need::KeySet("b".into())]),
            ),
            (
                Fake::default()
                    .jwt("b", S::Pending(ks("b")))
                    .jwt("a", S::Unavailable(ks("a"))),
                Evaluation::Pending(vec![Need::KeySet("b".into())]),
            ),
            // unavailable beats denials
            (
                Fake::default()
                    .jwt("a", S::Unavailable(ks("a")))
                    .key(key("k", &[])),
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
                    key_ident("k", &[]),
                    ident("a", &["s"], json!({"sub": "x"})),
                    ident("b", &[], json!({"sub": "y"})),
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
                Fake::default().key(k()).jwt("a", S::Pending(ks("a"))),
                deny(Reason::Missing, J, &[]),
            ),
            (
                Fake::default().key(k()).jwt("a", S::Unavailable(ks("a"))),
                deny(Reason::Missing, J, &[]),
            ),
            (
                Fake::default().jwt("a", S::Pending(ks("a"))).jwt("b", tb()),
                deny(Reason::Missing, K, &[]),
            ),
            // otherwise pending waits, then unavailable
            (
                Fake::default()
                    .key(k())
                    .jwt("a", S::Pending(ks("a")))
                    .jwt("b", S::Pending(ks("b"))),
                Evaluation::Pending(vec![Need::KeySet("a".into()), Need::KeySet("b".into())]),
            ),
            (
                Fake::default()
                    .key(k())
                    .jwt("a", S::Unavailable(ks("a")))
                    .jwt("b", S::Pending(ks("b"))),
                Evaluation::Pending(vec![Need::KeySet("b".into())]),
            ),
            (
                Fake::default()
                    .key(k())
                    .jwt("a", ta())
                    .jwt("b", S::Unavailable(ks("b"))),
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
        let mut c = Fake::default()
            .key(key("k", &["svc"]))
            .jwt("b", S::Pending(ks("b")));
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
            Ok(Requirement::Credential(CredentialRequirement {
                scopes: vec!["x".into()],
                ..CredentialRequirement::any(Kind::Jwt, Some("a".into()))
            }))
        );
    }
}
