//! HTTP Basic (RFC 7617): the `basic_auth` section (users with password hashes, scopes, a plan,
//! an on/off switch and an expiry) and the credential kind that checks `Authorization: Basic`.
//!
//! # The check, in order
//! 1. The credential is decoded ([`userpass`]: base64, first colon, no control characters);
//!    otherwise 401 `malformed`.
//! 2. The verified-credential cache ([`cache`], per VM): a user and password that verified within
//!    `verified_cache_seconds` cost one keyed hash.
//! 3. The name's failures this minute, across every VM (the `Resources` port,
//!    [`crate::lockout`]): at `failures_per_user_per_minute`, 429 `too_many_failures` before any
//!    slow hash.
//! 4. The VM's budget of slow verifications ([`budget`]): beyond `slow_verifies_per_second`, 503
//!    `basic_auth_busy`.
//! 5. The password is verified against the user's hash; an unknown name is verified against a
//!    dummy of the most expensive configured hash, and answers exactly as a wrong password does
//!    (401 `bad_credentials`, counted as a failure of that name).
//! 6. Only a verified password learns that its user is disabled (`disabled_user`) or expired
//!    (`expired_user`): before it, both answer `bad_credentials`, and names cannot be enumerated.
//!
//! The identity is the user's name (`headers.subject`, principal `basic:<name>`), its scopes and
//! plan. 401s challenge with `Basic realm="<realm>", charset="UTF-8"`.

mod budget;
mod cache;
mod config;
mod userpass;

pub use budget::Budget;
pub use cache::VerifiedCache;
pub use config::{BasicAuthConfig, BasicUsers, Limits, User};
pub use userpass::{UserPass, UserPassError, MAX_ENCODED_BYTES};

use super::requirement::{validate_scopes, CredentialRequirement};
use super::{presented, Authenticator, Configured, Context, CredentialState, Identity, Kind};
use crate::config_error::ConfigError;
use crate::decision::{Denial, Edits, ErrorWord};
use crate::extractor::Source;
use crate::reason::Reason;
use std::cell::RefCell;

/// `retry-after` of a 429 `too_many_failures`: the counters are per minute.
pub const LOCKED_RETRY_AFTER_SECONDS: u32 = 60;
/// `retry-after` of a 503 `basic_auth_busy`: the budget refills every second.
pub const BUSY_RETRY_AFTER_SECONDS: u32 = 1;

/// JSON form of the requirement leaf `{"basic": {"users": [...], "scopes": [...]}}` (`{}`: any
/// valid user).
#[derive(Debug)]
pub struct RequirementConfig {
    users: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
}

from_json_struct!(RequirementConfig { users, scopes });

impl RequirementConfig {
    /// Validates the leaf found at `field` (`rules[0].require.basic`): refused without a
    /// `basic_auth` section, or naming a user it does not configure.
    pub fn validate(
        self,
        field: &str,
        configured: Configured<'_>,
    ) -> Result<CredentialRequirement, ConfigError> {
        let Some(basic) = configured.basic_auth else {
            return Err(ConfigError::new(
                field,
                "no \"basic_auth\" section is configured",
            ));
        };
        let scopes = match self.scopes {
            Some(s) => validate_scopes(s, &format!("{field}.scopes"))?,
            None => Vec::new(),
        };
        let mut users: Vec<String> = Vec::new();
        if let Some(names) = self.users {
            if names.is_empty() {
                return Err(ConfigError::new(
                    &format!("{field}.users"),
                    "must list at least one user (omit it to allow any user)",
                ));
            }
            for (i, n) in names.into_iter().enumerate() {
                if basic.find(&n).is_none() {
                    return Err(ConfigError::new(
                        &format!("{field}.users[{i}]"),
                        format!("{n:?} is not a user of basic_auth.users"),
                    ));
                }
                if !users.contains(&n) {
                    users.push(n);
                }
            }
        }
        Ok(CredentialRequirement {
            scopes,
            ids: users,
            ..CredentialRequirement::any(Kind::Basic, None)
        })
    }
}

/// The HTTP Basic credential kind, with its per-VM verified-credential cache and slow-hash budget.
#[derive(Debug)]
pub struct BasicAuth {
    cache: RefCell<VerifiedCache>,
    budget: RefCell<Budget>,
}

impl BasicAuth {
    pub fn new(limits: &Limits) -> Self {
        BasicAuth {
            cache: RefCell::new(VerifiedCache::new(
                limits.verified_cache_entries,
                limits.verified_cache_seconds,
            )),
            budget: RefCell::new(Budget::new(limits.slow_verifies_per_second)),
        }
    }

    /// Steps 2–5 of the module documentation: the index of the user whose password this is, or the
    /// reason it is refused.
    fn verify(
        &self,
        users: &BasicUsers,
        up: &UserPass,
        cx: &mut Context<'_>,
    ) -> Result<usize, Reason> {
        let tag = self.cache.borrow().tag(&up.user, &up.password);
        let hit = self.cache.borrow().get(&tag, cx.now);
        if let Some(i) = hit.filter(|i| users.users.get(*i).is_some_and(|u| u.name == up.user)) {
            cx.events.basic.cache_hits += 1;
            return Ok(i);
        }
        if cx.resources.basic_failures(&up.user) >= users.limits.failures_per_user_per_minute {
            cx.events.basic.locked += 1;
            return Err(Reason::TooManyFailures);
        }
        let user = users.find(&up.user);
        let hash = user.map_or(users.dummy(), |(_, u)| &u.hash);
        if hash.is_slow() {
            let Ok(mut budget) = self.budget.try_borrow_mut() else {
                return Err(Reason::BasicAuthBusy);
            };
            if !budget.take(cx.now) {
                cx.events.basic.busy += 1;
                return Err(Reason::BasicAuthBusy);
            }
        }
        let verified = hash.verify(up.password.as_bytes());
        match user {
            Some((i, _)) if verified => {
                cx.events.basic.verified += 1;
                if let Ok(mut cache) = self.cache.try_borrow_mut() {
                    cache.insert(tag, i, cx.now);
                }
                Ok(i)
            }
            _ => {
                cx.events.basic.failed += 1;
                cx.events.basic.failed_user = Some(up.user.clone());
                Err(Reason::BadCredentials)
            }
        }
    }
}

impl Authenticator for BasicAuth {
    fn check(&self, _source: Option<&str>, cx: &mut Context<'_>) -> CredentialState {
        let Some(users) = cx.configured.basic_auth else {
            return CredentialState::Missing;
        };
        let (value, found) = match presented(&users.sources, cx.req) {
            Ok(p) => p,
            Err(state) => return state,
        };
        let Ok(up) = UserPass::decode(&value) else {
            return CredentialState::Invalid(Reason::Malformed);
        };
        let user = match self.verify(users, &up, cx) {
            Ok(i) => users.users.get(i),
            Err(reason) => return CredentialState::Invalid(reason),
        };
        let Some(user) = user else {
            return CredentialState::Invalid(Reason::BadCredentials);
        };
        cx.events.subject = Some(user.name.clone());
        if user.disabled {
            return CredentialState::Invalid(Reason::DisabledUser);
        }
        if user.expires_at.is_some_and(|t| cx.now >= t) {
            return CredentialState::Invalid(Reason::ExpiredUser);
        }
        cx.verified_at(found, users.forward_credential);
        CredentialState::Valid(user.identity())
    }

    /// A credential sent over plaintext is named by its user name when that is a configured user
    /// (never by hashing the password of a request that is refused anyway); an unknown name is
    /// left unidentified.
    fn identify(&self, _source: Option<&str>, cx: &mut Context<'_>) -> Option<Identity> {
        let users = cx.configured.basic_auth?;
        let (value, _) = presented(&users.sources, cx.req).ok()?;
        let up = UserPass::decode(&value).ok()?;
        let user = users.users.iter().find(|u| u.name == up.user)?;
        Some(user.identity())
    }

    /// 401 with `Basic realm="…", charset="UTF-8"`; 403 (a valid user lacking rights) without a
    /// challenge; 429 `too_many_failures` and 503 `basic_auth_busy` with `retry-after`.
    fn denial(&self, realm: &str, reason: Reason, _scopes: &[String]) -> Denial {
        match reason {
            Reason::TooManyFailures => Denial {
                status: 429,
                error: ErrorWord::TooManyRequests,
                reason,
                www_authenticate: None,
                retry_after: Some(LOCKED_RETRY_AFTER_SECONDS),
            },
            Reason::BasicAuthBusy => Denial {
                retry_after: Some(BUSY_RETRY_AFTER_SECONDS),
                ..Denial::unavailable(reason)
            },
            r if r.is_forbidden() => Denial::forbidden(r, None),
            r => Denial::unauthorized(r, format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")),
        }
    }

    /// Nothing besides `headers.subject`.
    fn forward(&self, _: &Identity, _: Configured<'_>, _: &mut Edits<'_>) {}

    fn sources<'a>(&self, configured: Configured<'a>) -> Vec<&'a Source> {
        configured
            .basic_auth
            .map(|b| b.sources.iter().collect())
            .unwrap_or_default()
    }

    fn owned_headers<'a>(&self, _: Configured<'a>) -> Vec<&'a str> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests;
