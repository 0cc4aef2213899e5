//! The engine's port to remote resources: what one check may read of them at one instant. One method
//! per resource family (a provider's key set, the remote API-key set); a new family adds a method
//! here and a [`crate::need::Need`] variant, never a parameter of `Engine::check`.
//! [`crate::remote::View`] implements it over the VM's remote resources; [`crate::testing`] has
//! doubles.

use crate::api_key_set::ApiKeySet;
use crate::jwt::jwk::KeySet;
use std::rc::Rc;

/// The state of a remote resource, as the host side knows it.
#[derive(Debug, Clone)]
pub enum Loaded<T> {
    Ready(T),
    /// Not loaded yet; a fetch is under way.
    Loading,
    /// Not loaded (or stale beyond `max_stale_seconds`) and the last fetch failed.
    Unavailable,
}

/// The state of a remote provider's key set.
pub type KeyAvailability = Loaded<KeySet>;

/// Remote resources as a check sees them.
pub trait Resources {
    /// The key set of remote provider `provider`.
    fn key_set(&self, provider: &str) -> KeyAvailability;
    /// A token named a `kid` the key set lacks: the resources may refetch it (rate-limited). True
    /// when they will, and the request should wait for the new key set instead of failing now.
    fn refetch_key_set(&self, provider: &str) -> bool;
    /// The remote API-key set merged with the inline keys (only asked when `api_keys.remote` is
    /// configured).
    fn api_key_set(&self) -> Loaded<Rc<ApiKeySet>>;
}
