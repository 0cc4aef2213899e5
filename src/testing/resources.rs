//! Doubles of the engine's resource port ([`crate::resources::Resources`]).

use crate::resources::{KeyAvailability, KeyDocument, Resources};
use std::cell::Cell;

/// Remote resources in a state the test sets: every provider's key set is `state`; the first
/// `refetch` question is answered `refetch`, later ones `false` (the rate limit).
#[derive(Debug)]
pub struct FixedResources {
    pub state: KeyAvailability,
    pub refetch: Cell<bool>,
}

impl FixedResources {
    /// No remote resource is available (every configuration without remote key sets).
    pub fn none() -> Self {
        FixedResources {
            state: KeyAvailability::Unavailable(KeyDocument::KeySet),
            refetch: Cell::new(false),
        }
    }

    pub fn new(state: KeyAvailability, refetch: bool) -> Self {
        FixedResources {
            state,
            refetch: Cell::new(refetch),
        }
    }
}

impl Resources for FixedResources {
    fn key_set(&self, _: &str) -> KeyAvailability {
        self.state.clone()
    }

    fn refetch_key_set(&self, _: &str) -> bool {
        self.refetch.replace(false)
    }
}
