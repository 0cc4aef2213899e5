//! JWT verification: strict compact-form parsing, header checks, key selection, signature, claims.
//! (STUB: to be completed by the JWT work.)

use crate::jwk::KeySet;
use crate::provider::Provider;
use crate::reason::Reason;

/// Verified claims (the JWT payload object).
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    Malformed(&'static str),
    UnknownKid,
}

impl JwtError {
    pub fn reason(&self) -> Reason {
        match self {
            JwtError::Malformed(_) => Reason::Malformed,
            JwtError::UnknownKid => Reason::UnknownKid,
        }
    }
}

/// Verifies `token` for `provider` with `keys` at `now` (seconds since the epoch, from the host).
pub fn verify(
    _token: &str,
    _provider: &Provider,
    _keys: &KeySet,
    _now: u64,
) -> Result<Claims, JwtError> {
    Err(JwtError::Malformed("not implemented"))
}
