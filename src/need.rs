//! What a paused request waits for: the host fetches it, and resumes exactly the requests that
//! need what changed. A need that cannot be met is a 503 whose reason names it.

use crate::reason::Reason;

/// One thing a check may wait for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// The key set of the remote JWT provider of that name.
    KeySet(String),
    /// The OpenID Connect discovery document of the provider of that name (its key set's location).
    Discovery(String),
}

impl Need {
    /// The reason of the 503 when this need cannot be met.
    pub fn unavailable_reason(&self) -> Reason {
        match self {
            Need::KeySet(_) => Reason::JwksUnavailable,
            Need::Discovery(_) => Reason::DiscoveryUnavailable,
        }
    }

    /// The provider the need is about.
    pub fn provider(&self) -> &str {
        match self {
            Need::KeySet(p) | Need::Discovery(p) => p,
        }
    }
}
