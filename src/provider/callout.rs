//! What every callout of a configuration names — an Envoy cluster, an `:authority`, a `:path` —
//! checked the same way for remote JWKS, discovery, remote key sets and introspection, and the
//! range check of their numbers.

use crate::config_error::ConfigError;

/// A callout's Envoy cluster name (`field` names it in the error).
pub(crate) fn check_cluster(cluster: &str, field: &str) -> Result<(), ConfigError> {
    if is_plain_text(cluster) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            "must be a non-empty Envoy cluster name",
        ))
    }
}

/// A callout's `:authority`: a host name, optionally with a port.
pub(crate) fn check_authority(authority: &str, field: &str) -> Result<(), ConfigError> {
    if is_plain_text(authority) && !authority.contains(['/', '@']) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            "must be a host name (optionally with a port)",
        ))
    }
}

/// A callout's `:path`.
pub(crate) fn check_path(path: &str, field: &str) -> Result<(), ConfigError> {
    if path.starts_with('/') && is_plain_text(path) && !path.contains('#') {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            "must start with '/' and contain no spaces, control characters or '#'",
        ))
    }
}

pub(crate) fn is_plain_text(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

pub(crate) fn in_range<T: PartialOrd + Copy + std::fmt::Display>(
    v: Option<T>,
    default: T,
    min: T,
    max: T,
    field: &str,
) -> Result<T, ConfigError> {
    let v = v.unwrap_or(default);
    if v < min || v > max {
        return Err(ConfigError::new(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(v)
}
