//! What a paused request waits for: the host fetches it, and resumes exactly the requests that
//! need what changed. A need that cannot be met is a 503 whose reason names it.

use crate::reason::Reason;

/// One thing a check may wait for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// The key set of the remote JWT provider of that name.
    KeySet(String),
    /// The remote API-key set (`api_keys.remote`).
    ApiKeySet,
}

impl Need {
    /// The reason of the 503 when this need cannot be met.
    pub fn unavailable_reason(&self) -> Reason {
        match self {
            Need::KeySet(_) => Reason::JwksUnavailable,
            Need::ApiKeySet => Reason::KeySetUnavailable,
        }
    }

    /// The provider a key-set need is about.
    pub fn provider(&self) -> Option<&str> {
        match self {
            Need::KeySet(p) => Some(p),
            Need::ApiKeySet => None,
        }
    }
}
