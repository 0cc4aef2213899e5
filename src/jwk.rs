//! JSON Web Keys: parsing a JWKS into keys we can verify with; unusable keys are skipped and reported.
//! (STUB: to be completed by the JWT work.)

use std::fmt;

/// A parsed key set. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: std::rc::Rc<Vec<()>>,
}

impl KeySet {
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A key that was skipped, and why (logged; never contains key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    pub kid: Option<String>,
    pub why: String,
}

/// Why a whole JWKS document was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    NotJson(String),
    NoUsableKeys,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::NotJson(e) => write!(f, "not a JWKS JSON document: {e}"),
            JwksError::NoUsableKeys => write!(f, "no usable signature keys"),
        }
    }
}

/// Parses a JWKS document.
pub fn parse_jwks(_json: &[u8]) -> Result<(KeySet, Vec<SkippedKey>), JwksError> {
    Err(JwksError::NoUsableKeys)
}
