//! A rule's `match`: which requests it applies to, by path, method and host. Its JSON form, its
//! validation and the matching itself; which rule wins is [`crate::matcher`]'s.
//!
//! # JSON form
//!
//! `{"path_prefix": "/orders", "methods": ["GET"], "hosts": ["api.example.com"]}`: every member is
//! optional (`{}` matches every request), and at most one path matcher is given:
//! - `path_prefix`: segment-aware. `"/orders"` matches `/orders`, `/orders/` and `/orders/1`, but
//!   **not** `/ordersadmin`. A trailing slash in the prefix changes nothing (`"/orders/"` also matches
//!   `/orders`), so a protected directory cannot be reached through its slash-less spelling. `"/"`
//!   matches every path.
//! - `path_exact`: the whole path; a trailing slash is ignored on both sides (`"/orders"` matches
//!   `/orders` and `/orders/`).
//! - `path_glob`: segment-wise. `*` matches any characters within one segment (`/orders/*` matches
//!   `/orders/1` but not `/orders/1/items` nor `/orders`; `/files/*.json` matches `/files/a.json`);
//!   `**`, which must be a whole segment, matches zero or more segments (`/orders/**` matches
//!   `/orders`, `/orders/1` and `/orders/1/items`; `/**/secret` matches `/secret` and `/a/b/secret`).
//!   A trailing slash of the request path is ignored.
//! - none: any path.
//!
//! Configured paths must already be canonical (the error names the canonical spelling); they are
//! compared with the request's canonical path ([`crate::path`]), as given or ASCII-lowercased (the
//! case readings are the rule table's).
//!
//! `methods` (optional, non-empty): the request method must be one of them, case-insensitively.
//! `hosts` (optional, non-empty): the request's `:authority` must be one of them, case-insensitively,
//! ignoring its port and a trailing dot (`API.example.com.:8443` matches `api.example.com`). A host
//! `*.example.com` matches any name ending in `.example.com` (any depth), but not `example.com`.

use crate::config_error::ConfigError;
use crate::path;

/// JSON form of a rule's `match`.
#[derive(Debug, Default)]
pub struct MatchConfig {
    path_prefix: Option<String>,
    path_exact: Option<String>,
    path_glob: Option<String>,
    methods: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
}

from_json_struct!(MatchConfig {
    path_prefix,
    path_exact,
    path_glob,
    methods,
    hosts,
});

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathMatch {
    Any,
    /// Without a trailing slash (`""` for the root).
    Prefix(String),
    /// Without a trailing slash (`""` for the root).
    Exact(String),
    /// Segments; `None` is `**`.
    Glob(Vec<Option<String>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.example.com` stored as `.example.com`.
    Suffix(String),
}

/// A validated `match`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMatch {
    path: PathMatch,
    /// `path` with its patterns in ASCII lowercase, for case-insensitive matching.
    folded: PathMatch,
    /// Uppercase; empty = any.
    methods: Vec<String>,
    /// Empty = any.
    hosts: Vec<HostMatch>,
}

impl RuleMatch {
    /// Matches every request.
    pub fn any() -> Self {
        RuleMatch {
            path: PathMatch::Any,
            folded: PathMatch::Any,
            methods: Vec::new(),
            hosts: Vec::new(),
        }
    }

    /// Whether a path pattern has an uppercase letter (so that folding it changes it).
    pub fn has_uppercase(&self) -> bool {
        self.path != self.folded
    }

    /// Whether the request matches. `host` is [`request_host`] of its `:authority`; with `folded`,
    /// `path` is the ASCII-lowercased canonical path and is compared with the lowercased patterns.
    pub fn matches(&self, method: &str, folded: bool, path: &str, host: &str) -> bool {
        let paths = if folded { &self.folded } else { &self.path };
        (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
            && (self.hosts.is_empty() || self.hosts.iter().any(|h| h.matches(host)))
            && paths.matches(path)
    }
}

impl MatchConfig {
    /// Validates the `match` found at `field` (e.g. `rules[2].match`).
    pub fn validate(self, field: &str) -> Result<RuleMatch, ConfigError> {
        let (m, f) = (self, field);
        let path = match (m.path_prefix, m.path_exact, m.path_glob) {
            (None, None, None) => PathMatch::Any,
            (Some(p), None, None) => {
                let p = config_path(&p, &format!("{f}.path_prefix"))?;
                PathMatch::Prefix(p.trim_end_matches('/').to_string())
            }
            (None, Some(p), None) => {
                let p = config_path(&p, &format!("{f}.path_exact"))?;
                PathMatch::Exact(p.trim_end_matches('/').to_string())
            }
            (None, None, Some(p)) => PathMatch::Glob(glob(&p, &format!("{f}.path_glob"))?),
            _ => {
                return Err(ConfigError::new(
                    f,
                    "use at most one of \"path_prefix\", \"path_exact\", \"path_glob\"",
                ))
            }
        };
        let methods = match m.methods {
            None => Vec::new(),
            Some(list) => methods(list, &format!("{f}.methods"))?,
        };
        let hosts = match m.hosts {
            None => Vec::new(),
            Some(list) => hosts(list, &format!("{f}.hosts"))?,
        };
        let folded = path.folded();
        Ok(RuleMatch {
            path,
            folded,
            methods,
            hosts,
        })
    }
}

/// A configured path: must be canonical, so that it can match anything at all.
fn config_path(p: &str, field: &str) -> Result<String, ConfigError> {
    match path::canonicalize(p) {
        Ok(n) if n == p => Ok(n.into_owned()),
        Ok(n) => Err(ConfigError::new(
            field,
            format!("must be a canonical path: use \"{n}\""),
        )),
        Err(e) => Err(ConfigError::new(
            field,
            format!("must be a canonical path starting with '/': {e}"),
        )),
    }
}

fn glob(p: &str, field: &str) -> Result<Vec<Option<String>>, ConfigError> {
    let p = config_path(p, field)?;
    let mut segments = Vec::new();
    for s in p.trim_end_matches('/').split('/').skip(1) {
        if s == "**" {
            // Consecutive `**` mean the same as one.
            if segments.last() != Some(&None) {
                segments.push(None);
            }
        } else if s.contains("**") {
            return Err(ConfigError::new(
                field,
                "'**' must be a whole segment (e.g. \"/a/**/b\")",
            ));
        } else {
            segments.push(Some(s.to_string()));
        }
    }
    Ok(segments)
}

fn methods(list: Vec<String>, field: &str) -> Result<Vec<String>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::new(
            field,
            "must list at least one method (omit it to match any)",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, m) in list.into_iter().enumerate() {
        if m.is_empty()
            || !m
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(
                &format!("{field}[{i}]"),
                "an HTTP method name such as \"GET\"",
            ));
        }
        let m = m.to_ascii_uppercase();
        if !out.contains(&m) {
            out.push(m);
        }
    }
    Ok(out)
}

fn hosts(list: Vec<String>, field: &str) -> Result<Vec<HostMatch>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::new(
            field,
            "must list at least one host (omit it to match any)",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, h) in list.into_iter().enumerate() {
        let f = format!("{field}[{i}]");
        let h = h.to_ascii_lowercase();
        let h = h.strip_suffix('.').unwrap_or(&h);
        let (wildcard, name) = match h.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, h),
        };
        let valid = !name.is_empty()
            && name.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(ConfigError::new(
                &f,
                "a host name without port (e.g. \"api.example.com\" or \"*.example.com\")",
            ));
        }
        out.push(if wildcard {
            HostMatch::Suffix(format!(".{name}"))
        } else {
            HostMatch::Exact(name.to_string())
        });
    }
    Ok(out)
}

/// The request's `:authority` for matching: lowercase, without port or trailing dot.
pub fn request_host(authority: &str) -> String {
    let host = match authority.rsplit_once(':') {
        Some((h, port))
            if port.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']')) =>
        {
            h
        }
        _ => authority,
    };
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

impl HostMatch {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => h == host,
            HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

impl PathMatch {
    /// The same patterns in ASCII lowercase.
    fn folded(&self) -> PathMatch {
        match self {
            PathMatch::Any => PathMatch::Any,
            PathMatch::Prefix(p) => PathMatch::Prefix(p.to_ascii_lowercase()),
            PathMatch::Exact(p) => PathMatch::Exact(p.to_ascii_lowercase()),
            PathMatch::Glob(g) => PathMatch::Glob(
                g.iter()
                    .map(|s| s.as_ref().map(|s| s.to_ascii_lowercase()))
                    .collect(),
            ),
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Prefix(p) => match path.strip_prefix(p.as_str()) {
                Some(rest) => rest.is_empty() || rest.starts_with('/'),
                None => false,
            },
            PathMatch::Exact(p) => path.trim_end_matches('/') == p,
            PathMatch::Glob(pattern) => {
                let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
                wildcard(pattern, &segments, Option::is_none, |p, s| {
                    p.as_deref().is_some_and(|p| segment_matches(p, s))
                })
            }
        }
    }
}

/// `*` within one segment: any run of characters.
fn segment_matches(pattern: &str, segment: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = segment.chars().collect();
    wildcard(&p, &s, |c| *c == '*', |a, b| a == b)
}

/// Wildcard matching with a single backtracking point (linear in practice, no recursion):
/// `is_star` items match any run of `text` items, others match one item if `eq`.
fn wildcard<P, T>(
    pattern: &[P],
    text: &[T],
    is_star: impl Fn(&P) -> bool,
    eq: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(item) = text.get(t) {
        match pattern.get(p) {
            Some(pi) if is_star(pi) => {
                star = Some((p, t));
                p += 1;
            }
            Some(pi) if eq(pi, item) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    while pattern.get(p).is_some_and(&is_star) {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_host_forms() {
        for (raw, want) in [
            ("api.example.com", "api.example.com"),
            ("API.example.com:8443", "api.example.com"),
            ("api.example.com.", "api.example.com"),
            ("api.example.com:", "api.example.com"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("", ""),
        ] {
            assert_eq!(request_host(raw), want, "{raw}");
        }
    }

    #[test]
    fn wildcard_algorithm() {
        let m = |p: &str, s: &str| segment_matches(p, s);
        assert!(m("*", "abc") && m("a*c", "abc") && m("a*c", "ac") && m("*b*", "abc"));
        assert!(m("*.tar.*", "x.tar.gz") && !m("*.tar.*", "x.tgz") && !m("a*", "ba"));
        assert!(m("abc", "abc") && !m("abc", "abcd") && m("**", "x") && m("", ""));
        // pathological patterns stay fast
        let long = "a".repeat(2000);
        assert!(!m(&format!("{}b", "*a".repeat(50)), &long));
    }
}
