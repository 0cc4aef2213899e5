//! A requirement leaf: what a rule asks of one credential. Its kind and source name the
//! credential; its scopes, claim values and ids are what the credential's [`Identity`] must carry.
//! Validated from the leaf's JSON members (the members themselves, and the tree of `any`/`all`
//! around leaves, are [`crate::policy`]'s) and matched against an identity.
//!
//! # Matching
//! - `ids`: the identity's key id is one of them (an identity without a key id never is).
//! - Scopes match exactly: `admin` does not satisfy `admin:read`, nor the reverse.
//! - A claim path walks nested objects on `.` ([`crate::claim_path`]: a literal dot in a member name
//!   is escaped, `https://example\\.com/roles`); the same path means the same value in
//!   `claims_to_headers`. Scalars compare by JSON value (numbers numerically); if the token's claim
//!   is an array, any element equal to any allowed value satisfies it. A missing claim (or an
//!   identity without claims) is a mismatch.

use super::{Identity, Kind};
use crate::claim_path::ClaimPath;
use crate::config_error::ConfigError;
use crate::reason::Reason;
use serde_json::Value;
use std::collections::BTreeMap;

/// A leaf: one credential, and what its identity must carry.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialRequirement {
    pub kind: Kind,
    /// The named configuration of that kind (a JWT provider); `None` for a kind configured once.
    pub source: Option<String>,
    /// Every one must be among the identity's scopes.
    pub scopes: Vec<String>,
    /// `(claim path, allowed values)`: each claim must equal one of its values (JWTs).
    pub claims: Vec<(ClaimPath, Vec<Value>)>,
    /// If non-empty, the identity's key id must be one of these (API keys; a Basic leaf: its
    /// `users`, matched against the subject).
    pub ids: Vec<String>,
}

impl CredentialRequirement {
    /// Any valid credential of `kind` from `source`.
    pub fn any(kind: Kind, source: Option<String>) -> Self {
        CredentialRequirement {
            kind,
            source,
            scopes: Vec::new(),
            claims: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// What `identity` lacks, checked in the order ids, scopes, claims (`None`: it carries it all):
    /// `key_not_allowed` (a Basic leaf's `users`: `user_not_allowed`), `insufficient_scope` or
    /// `claim_mismatch`.
    pub fn unmet(&self, identity: &Identity) -> Option<Reason> {
        // A Basic leaf's `ids` are user names, matched against the identity's subject.
        let (id, not_allowed) = match self.kind {
            Kind::Basic => (&identity.subject, Reason::UserNotAllowed),
            Kind::ApiKey | Kind::Jwt => (&identity.key_id, Reason::KeyNotAllowed),
        };
        let id_allowed = |ids: &[String]| id.as_ref().is_some_and(|k| ids.contains(k));
        let claim_ok = |(path, allowed): &(ClaimPath, Vec<Value>)| {
            identity
                .claims
                .as_ref()
                .and_then(|c| path.lookup(c))
                .is_some_and(|v| claim_matches(v, allowed))
        };
        if !self.ids.is_empty() && !id_allowed(&self.ids) {
            Some(not_allowed)
        } else if !has_scopes(&identity.scopes, &self.scopes) {
            Some(Reason::InsufficientScope)
        } else if !self.claims.iter().all(claim_ok) {
            Some(Reason::ClaimMismatch)
        } else {
            None
        }
    }
}

/// A scope as it may appear in a `WWW-Authenticate` `scope` attribute (RFC 6750 `scope-token`).
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// Validated `scopes`: non-empty, each an RFC 6750 `scope-token`; duplicates folded.
pub fn validate_scopes(scopes: Vec<String>, field: &str) -> Result<Vec<String>, ConfigError> {
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

/// Validated `ids`: non-empty, no empty id; duplicates folded.
pub fn validate_ids(ids: Vec<String>, field: &str) -> Result<Vec<String>, ConfigError> {
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

/// Validated `claims`: non-empty, each a claim path to a scalar or a non-empty list of scalars.
pub fn validate_claims(
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
