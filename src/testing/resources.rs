//! Doubles of the engine's resource port ([`crate::resources::Resources`]).

use crate::api_key_set::ApiKeySet;
use crate::resources::{KeyAvailability, KeyDocument, Loaded, Resources};
use std::cell::Cell;
use std::rc::Rc;

/// Remote resources in a state the test sets: every provider's key set is `state`; the first
/// `refetch` question is answered `refetch`, later ones `false` (the rate limit); the remote
/// API-key set is `api_keys` (default unavailable).
#[derive(Debug)]
pub struct FixedResources {
    pub state: KeyAvailability,
    pub refetch: Cell<bool>,
    pub api_keys: Loaded<Rc<ApiKeySet>>,
}

impl FixedResources {
    /// No remote resource is available (every configuration without remote key sets).
    pub fn none() -> Self {
        FixedResources {
            state: KeyAvailability::Unavailable(KeyDocument::KeySet),
            refetch: Cell::new(false),
            api_keys: Loaded::Unavailable,
        }
    }

    pub fn new(state: KeyAvailability, refetch: bool) -> Self {
        FixedResources {
            state,
            refetch: Cell::new(refetch),
            api_keys: Loaded::Unavailable,
        }
    }

    /// The same, with the remote API-key set in state `api_keys`.
    pub fn with_api_keys(mut self, api_keys: Loaded<Rc<ApiKeySet>>) -> Self {
        self.api_keys = api_keys;
        self
    }
}

impl Resources for FixedResources {
    fn key_set(&self, _: &str) -> KeyAvailability {
        self.state.clone()
    }

    fn api_key_set(&self) -> Loaded<Rc<ApiKeySet>> {
        self.api_keys.clone()
    }

    fn refetch_key_set(&self, _: &str) -> bool {
        self.refetch.replace(false)
    }
}
