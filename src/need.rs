//! What a paused request waits for: the host fetches it, and resumes exactly the requests that
//! need what changed. A need that cannot be met is a 503 whose reason names it.

use crate::reason::Reason;
use std::fmt;

/// One thing a check may wait for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// The key set of the remote JWT provider of that name.
    KeySet(String),
    /// The OpenID Connect discovery document of the provider of that name (its key set's location).
    Discovery(String),
    /// The introspection answer for one token of a provider (the token named by its digest only).
    Introspection {
        provider: String,
        token: TokenDigest,
    },
    /// The remote API-key set (`api_keys.remote`).
    ApiKeySet,
}

impl Need {
    /// The reason of the 503 when this need cannot be met.
    pub fn unavailable_reason(&self) -> Reason {
        match self {
            Need::KeySet(_) => Reason::JwksUnavailable,
            Need::Discovery(_) => Reason::DiscoveryUnavailable,
            Need::Introspection { .. } => Reason::IntrospectionUnavailable,
            Need::ApiKeySet => Reason::KeySetUnavailable,
        }
    }

    /// The provider the need is about (`None`: the API-key set).
    pub fn provider(&self) -> Option<&str> {
        match self {
            Need::KeySet(p) | Need::Discovery(p) | Need::Introspection { provider: p, .. } => {
                Some(p)
            }
            Need::ApiKeySet => None,
        }
    }
}

/// SHA-256 of a token: how a token is named in needs, cache keys and logs (never the token).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> Self {
        TokenDigest(hmac_sha256::Hash::hash(token.as_bytes()))
    }

    /// The first 4 bytes in hex, for log lines.
    pub fn short(&self) -> String {
        self.0.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}…", self.short())
    }
}
