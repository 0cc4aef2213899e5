//! Path normalization before rule matching. (STUB: to be completed by the policy work.)

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub &'static str);

/// Normalizes a request path (query already removed) for matching.
pub fn normalize(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError("path must start with '/'"));
    }
    Ok(path.to_string())
}
