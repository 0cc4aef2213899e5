//! Requirements: which credentials a route needs and what they must carry, evaluated against the
//! credentials a request presented. (STUB: to be completed by the policy work.)

use crate::config::ConfigError;
use crate::config::Known;
use crate::reason::Reason;
use serde::Deserialize;
use std::rc::Rc;

/// A requirement tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    Jwt {
        provider: String,
        scopes: Vec<String>,
        claims: Vec<(String, Vec<serde_json::Value>)>,
    },
    ApiKey {
        scopes: Vec<String>,
        ids: Vec<String>,
    },
    Any(Vec<Requirement>),
    All(Vec<Requirement>),
}

/// JSON form of a requirement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementConfig {
    jwt: Option<String>,
    api_key: Option<serde_json::Value>,
}

impl RequirementConfig {
    pub fn validate(self, field: &str, known: Known<'_>) -> Result<Requirement, ConfigError> {
        match (self.jwt, self.api_key) {
            (Some(p), None) if known.providers.contains_key(&p) => Ok(Requirement::Jwt {
                provider: p,
                scopes: vec![],
                claims: vec![],
            }),
            (None, Some(_)) if known.api_keys => Ok(Requirement::ApiKey {
                scopes: vec![],
                ids: vec![],
            }),
            _ => Err(ConfigError::new(field, "unsupported requirement")),
        }
    }
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
        scopes: Vec<String>,
    },
    /// Wait for these providers' keys, then evaluate again.
    Pending(Vec<String>),
    Unavailable(String),
}

/// Evaluates a requirement.
pub fn evaluate(req: &Requirement, creds: &mut dyn Credentials) -> Evaluation {
    match req {
        Requirement::ApiKey { .. } => match creds.api_key() {
            CredentialState::Valid(k) => Evaluation::Granted(vec![Granted::ApiKey(k)]),
            CredentialState::Missing => Evaluation::Denied {
                reason: Reason::Missing,
                kind: CredentialKind::ApiKey,
                scopes: vec![],
            },
            CredentialState::Invalid(r) => Evaluation::Denied {
                reason: r,
                kind: CredentialKind::ApiKey,
                scopes: vec![],
            },
            CredentialState::Pending | CredentialState::Unavailable => Evaluation::Denied {
                reason: Reason::Missing,
                kind: CredentialKind::ApiKey,
                scopes: vec![],
            },
        },
        Requirement::Jwt { provider, .. } => match creds.jwt(provider) {
            CredentialState::Valid(j) => Evaluation::Granted(vec![Granted::Jwt(j)]),
            CredentialState::Missing => Evaluation::Denied {
                reason: Reason::Missing,
                kind: CredentialKind::Jwt,
                scopes: vec![],
            },
            CredentialState::Invalid(r) => Evaluation::Denied {
                reason: r,
                kind: CredentialKind::Jwt,
                scopes: vec![],
            },
            CredentialState::Pending => Evaluation::Pending(vec![provider.clone()]),
            CredentialState::Unavailable => Evaluation::Unavailable(provider.clone()),
        },
        Requirement::Any(list) => {
            let mut last = Evaluation::Denied {
                reason: Reason::Missing,
                kind: CredentialKind::Jwt,
                scopes: vec![],
            };
            for r in list {
                match evaluate(r, creds) {
                    g @ Evaluation::Granted(_) => return g,
                    other => last = other,
                }
            }
            last
        }
        Requirement::All(list) => {
            let mut granted = Vec::new();
            for r in list {
                match evaluate(r, creds) {
                    Evaluation::Granted(g) => granted.extend(g),
                    other => return other,
                }
            }
            Evaluation::Granted(granted)
        }
    }
}
