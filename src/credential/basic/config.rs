//! The `basic_auth` section: users (name, password hash, scopes, plan, on/off switch, expiry) and
//! the limits that bound what verifying them costs (hash parameters, the slow-hash budget, the
//! verified-credential cache, the failures per name).

use super::super::Identity;
use super::super::{Kind, Method};
use crate::api_key_set::{is_key_id, MAX_TIME_SECONDS};
use crate::config_error::ConfigError;
use crate::extractor::Source;
use crate::password::{Caps, PasswordHash};
use crate::provider::in_range;
use std::collections::BTreeMap;

/// JSON form of the `basic_auth` section.
#[derive(Debug)]
pub struct BasicAuthConfig {
    users: Vec<UserConfig>,
    forward_credential: Option<bool>,
    allow_sha1: Option<bool>,
    limits: Option<LimitsConfig>,
}

from_json_struct!(BasicAuthConfig {
    users,
    forward_credential,
    allow_sha1,
    limits,
});

/// JSON form of one `basic_auth.users[]` entry.
#[derive(Debug)]
struct UserConfig {
    name: String,
    hash: String,
    scopes: Vec<String>,
    plan: Option<String>,
    disabled: bool,
    expires_at: Option<u64>,
}

from_json_struct!(UserConfig {
    name,
    hash,
    scopes = default,
    plan,
    disabled = default,
    expires_at,
});

/// JSON form of `basic_auth.limits`.
#[derive(Debug)]
struct LimitsConfig {
    max_bcrypt_cost: Option<u64>,
    max_argon2_memory_kib: Option<u64>,
    max_argon2_iterations: Option<u64>,
    max_sha_crypt_rounds: Option<u64>,
    slow_verifies_per_second: Option<u64>,
    verified_cache_seconds: Option<u64>,
    verified_cache_entries: Option<u64>,
    failures_per_user_per_minute: Option<u64>,
}

from_json_struct!(LimitsConfig {
    max_bcrypt_cost,
    max_argon2_memory_kib,
    max_argon2_iterations,
    max_sha_crypt_rounds,
    slow_verifies_per_second,
    verified_cache_seconds,
    verified_cache_entries,
    failures_per_user_per_minute,
});

/// The validated `basic_auth.limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The hash parameters a configuration may hold.
    pub caps: Caps,
    /// Slow verifications per second per VM (token bucket).
    pub slow_verifies_per_second: u32,
    /// How long a verified user and password are answered from the cache (0: no cache).
    pub verified_cache_seconds: u64,
    /// Cache entries per VM (0: no cache).
    pub verified_cache_entries: usize,
    /// Failures of one name in a minute, across every VM, before it is refused (429).
    pub failures_per_user_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            caps: Caps::default(),
            slow_verifies_per_second: 5,
            verified_cache_seconds: 300,
            verified_cache_entries: 10_000,
            failures_per_user_per_minute: 10,
        }
    }
}

/// One configured user (its password only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub hash: PasswordHash,
    pub scopes: Vec<String>,
    /// The user's plan, one of `plans.names`.
    pub plan: Option<String>,
    pub disabled: bool,
    /// Refused from this on (Unix seconds).
    pub expires_at: Option<u64>,
}

impl User {
    /// Who this user is, once verified: the subject is the name, with its scopes and plan.
    pub(super) fn identity(&self) -> Identity {
        Identity {
            kind: Kind::Basic,
            method: Method::Basic,
            source: None,
            subject: Some(self.name.clone()),
            key_id: None,
            client_id: None,
            scopes: self.scopes.clone(),
            claims: None,
            plan: self.plan.as_deref().map(Box::from),
        }
    }
}

/// The validated `basic_auth` section.
#[derive(Debug, Clone)]
pub struct BasicUsers {
    pub users: Vec<User>,
    /// Keep the `Authorization` header in the request that goes upstream (default: strip it).
    pub forward_credential: bool,
    pub limits: Limits,
    /// Where the credential is read: `Authorization: Basic`.
    pub sources: Vec<Source>,
    by_name: BTreeMap<String, usize>,
    /// What an unknown name's password is verified against (the most expensive configured hash's
    /// parameters).
    dummy: PasswordHash,
}

/// A user name: 1–64 letters, digits, `.`, `_`, `-`, `@` (no `:`, which ends the name in a Basic
/// credential, and nothing a principal or a header would need to escape).
fn is_user_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl LimitsConfig {
    fn validate(self, field: &str) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let range = |v: Option<u64>, default: u64, min: u64, max: u64, name: &str| {
            in_range(v, default, min, max, &format!("{field}.{name}"))
        };
        let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let c = d.caps;
        Ok(Limits {
            caps: Caps {
                max_bcrypt_cost: small(range(
                    self.max_bcrypt_cost,
                    c.max_bcrypt_cost.into(),
                    4,
                    16,
                    "max_bcrypt_cost",
                )?),
                max_argon2_memory_kib: small(range(
                    self.max_argon2_memory_kib,
                    c.max_argon2_memory_kib.into(),
                    8,
                    262_144,
                    "max_argon2_memory_kib",
                )?),
                max_argon2_iterations: small(range(
                    self.max_argon2_iterations,
                    c.max_argon2_iterations.into(),
                    1,
                    16,
                    "max_argon2_iterations",
                )?),
                max_sha_crypt_rounds: small(range(
                    self.max_sha_crypt_rounds,
                    c.max_sha_crypt_rounds.into(),
                    1000,
                    1_000_000,
                    "max_sha_crypt_rounds",
                )?),
                allow_sha1: false,
            },
            slow_verifies_per_second: small(range(
                self.slow_verifies_per_second,
                d.slow_verifies_per_second.into(),
                1,
                1000,
                "slow_verifies_per_second",
            )?),
            verified_cache_seconds: range(
                self.verified_cache_seconds,
                d.verified_cache_seconds,
                0,
                86_400,
                "verified_cache_seconds",
            )?,
            verified_cache_entries: usize::try_from(range(
                self.verified_cache_entries,
                d.verified_cache_entries as u64,
                0,
                1_000_000,
                "verified_cache_entries",
            )?)
            .unwrap_or(d.verified_cache_entries),
            failures_per_user_per_minute: small(range(
                self.failures_per_user_per_minute,
                d.failures_per_user_per_minute.into(),
                1,
                10_000,
                "failures_per_user_per_minute",
            )?),
        })
    }
}

impl BasicAuthConfig {
    /// Validates the section found at `field` (`basic_auth`).
    pub fn validate(self, field: &str) -> Result<BasicUsers, ConfigError> {
        let mut limits = match self.limits {
            Some(l) => l.validate(&format!("{field}.limits"))?,
            None => Limits::default(),
        };
        limits.caps.allow_sha1 = self.allow_sha1.unwrap_or(false);
        if self.users.is_empty() {
            return Err(ConfigError::new(
                &format!("{field}.users"),
                "must list at least one user",
            ));
        }
        let mut users = Vec::with_capacity(self.users.len());
        let mut by_name = BTreeMap::new();
        for (i, u) in self.users.into_iter().enumerate() {
            let f = |sub: &str| format!("{field}.users[{i}].{sub}");
            if !is_user_name(&u.name) {
                return Err(ConfigError::new(
                    &f("name"),
                    "must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
                ));
            }
            if by_name.insert(u.name.clone(), i).is_some() {
                return Err(ConfigError::new(
                    &f("name"),
                    format!("user {:?} is listed twice", u.name),
                ));
            }
            let hash = PasswordHash::parse(&u.hash, &limits.caps)
                .map_err(|e| ConfigError::new(&f("hash"), e.to_string()))?;
            for (j, s) in u.scopes.iter().enumerate() {
                if s.is_empty() || s.contains(char::is_whitespace) {
                    return Err(ConfigError::new(
                        &f(&format!("scopes[{j}]")),
                        "scopes are non-empty and contain no spaces",
                    ));
                }
            }
            if let Some(plan) = &u.plan {
                if !is_key_id(plan) {
                    return Err(ConfigError::new(
                        &f("plan"),
                        "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'",
                    ));
                }
            }
            if u.expires_at.is_some_and(|t| t > MAX_TIME_SECONDS) {
                return Err(ConfigError::new(
                    &f("expires_at"),
                    format!("must be Unix seconds (at most {MAX_TIME_SECONDS}), not milliseconds"),
                ));
            }
            users.push(User {
                name: u.name,
                hash,
                scopes: u.scopes,
                plan: u.plan,
                disabled: u.disabled,
                expires_at: u.expires_at,
            });
        }
        let dummy = users
            .iter()
            .map(|u| &u.hash)
            .max_by_key(|h| h.work())
            .map(PasswordHash::dummy)
            .ok_or_else(|| {
                ConfigError::new(&format!("{field}.users"), "must list at least one user")
            })?;
        Ok(BasicUsers {
            users,
            forward_credential: self.forward_credential.unwrap_or(false),
            limits,
            sources: vec![Source::Header {
                name: "authorization".into(),
                prefix: Some("Basic ".into()),
            }],
            by_name,
            dummy,
        })
    }
}

impl BasicUsers {
    /// The user named `name`, with its index.
    pub fn find(&self, name: &str) -> Option<(usize, &User)> {
        let i = *self.by_name.get(name)?;
        self.users.get(i).map(|u| (i, u))
    }

    /// What an unknown name's password is verified against.
    pub fn dummy(&self) -> &PasswordHash {
        &self.dummy
    }
}
