//! The engine's port to remote resources: what one check may read of them at one instant. One method
//! per resource family (a provider's key set, token introspection, the remote API-key set); a new
//! family adds a method here and a [`crate::need::Need`] variant, never a parameter of
//! `Engine::check`. [`crate::remote::View`] implements it over the VM's remote resources,
//! [`crate::introspection::View`] adds introspection; [`crate::testing`] has doubles.

use crate::api_key_set::ApiKeySet;
use crate::jwt::jwk::KeySet;
use crate::jwt::Claims;
use crate::need::Need;
use std::rc::Rc;

/// The state of a remote provider's key set, as the host side knows it.
#[derive(Debug, Clone)]
pub enum KeyAvailability {
    Ready(KeySet),
    /// Not loaded yet; a fetch of that document is under way.
    Loading(KeyDocument),
    /// Not loaded (or stale beyond `max_stale_seconds`) and the last fetch of that document failed.
    Unavailable(KeyDocument),
}

/// Which document a provider's key set is missing for: the key set itself, or the discovery
/// document that says where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDocument {
    KeySet,
    Discovery,
}

impl KeyDocument {
    /// What a request of `provider` waits for (or names in its 503).
    pub fn need(self, provider: &str) -> Need {
        match self {
            KeyDocument::KeySet => Need::KeySet(provider.to_string()),
            KeyDocument::Discovery => Need::Discovery(provider.to_string()),
        }
    }
}

/// What is known of one token's introspection (RFC 7662).
#[derive(Debug, Clone, PartialEq)]
pub enum Introspected {
    /// `active: true`, with the answer's members (checked by the caller on every use).
    Active(Rc<Claims>),
    /// `active: false`.
    Inactive,
    /// Asked (or queued to be asked): wait for the answer.
    Pending,
    /// The server could not answer, this VM has too many calls in flight, or the wait is over: 503.
    Unavailable,
}

/// The state of a remote resource (the API-key set), as the host side knows it.
#[derive(Debug, Clone)]
pub enum Loaded<T> {
    Ready(T),
    /// Not loaded yet; a fetch is under way.
    Loading,
    /// Not loaded (or stale beyond `max_stale_seconds`) and the last fetch failed.
    Unavailable,
}

/// Remote resources as a check sees them.
pub trait Resources {
    /// The key set of remote provider `provider`.
    fn key_set(&self, provider: &str) -> KeyAvailability;
    /// A token named a `kid` the key set lacks: the resources may refetch it (rate-limited). True
    /// when they will, and the request should wait for the new key set instead of failing now.
    fn refetch_key_set(&self, provider: &str) -> bool;
    /// The introspection of `token` by provider `provider`; an unknown one is asked for (the
    /// answer is then `Pending`). Without an introspection port: `Unavailable` (fail closed).
    fn introspect(&self, _provider: &str, _token: &str) -> Introspected {
        Introspected::Unavailable
    }
    /// The remote API-key set merged with the inline keys (only asked when `api_keys.remote` is
    /// configured).
    fn api_key_set(&self) -> Loaded<Rc<ApiKeySet>>;
    /// Failed password verifications of HTTP Basic user name `user` in the current minute, across
    /// every VM ([`crate::lockout`]); 0 without the failure counters (a port that does not hold
    /// them).
    fn basic_failures(&self, _user: &str) -> u32 {
        0
    }
}

/// `inner` as a check that must not wait sees it: what is ready is used, anything else is
/// unavailable — no fetch, refetch or introspection call is started. For identifying a credential
/// without letting the identification change the answer or delay it (a credential sent over
/// plaintext, see [`crate::credential::exposed`]).
pub struct AtOnce<'a>(pub &'a dyn Resources);

impl Resources for AtOnce<'_> {
    fn key_set(&self, provider: &str) -> KeyAvailability {
        match self.0.key_set(provider) {
            KeyAvailability::Loading(doc) => KeyAvailability::Unavailable(doc),
            other => other,
        }
    }

    fn refetch_key_set(&self, _provider: &str) -> bool {
        false
    }

    fn introspect(&self, _provider: &str, _token: &str) -> Introspected {
        Introspected::Unavailable
    }

    fn api_key_set(&self) -> Loaded<Rc<ApiKeySet>> {
        match self.0.api_key_set() {
            Loaded::Loading => Loaded::Unavailable,
            other => other,
        }
    }
}
