//! The configuration's one error type: which field, and what is wrong with it. A leaf module: every
//! section's parser (`api_key`, `provider`, `matcher`, `policy`, `reading`, ...) returns it, and
//! nothing here depends on them.

use std::fmt;

/// A configuration problem: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path to the field, e.g. `api_keys.keys[1].sha256` (empty for the document itself).
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        ConfigError {
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid edgeguard config: {}", self.problem)
        } else {
            write!(
                f,
                "invalid edgeguard config: {}: {}",
                self.field, self.problem
            )
        }
    }
}

impl std::error::Error for ConfigError {}
