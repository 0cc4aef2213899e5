//! Claim paths: one meaning for a dotted name, wherever it is used (rule `claims`, `claims_to_headers`).
//!
//! `org.id` walks nested objects: the member `id` of the object `org`. A member name that contains a
//! dot is written with the dot escaped: `https://example\.com/roles` is the one top-level claim
//! `https://example.com/roles` (in JSON: `"https://example\\.com/roles"`); `\\` is a backslash.
//! There is no fallback from one reading to the other: the value a rule authorized is the value that
//! is forwarded.

use crate::jwt::Claims;
use serde_json::Value;

/// A parsed claim path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    /// As configured (for messages).
    text: String,
    /// Member names, unescaped.
    names: Vec<String>,
}

impl ClaimPath {
    /// Parses a configured path. Empty names and dangling or unknown escapes are refused.
    pub fn parse(text: &str) -> Result<ClaimPath, &'static str> {
        let mut names = Vec::new();
        let mut cur = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('.' | '\\')) => cur.push(e),
                    _ => return Err("'\\' escapes only '.' or '\\'"),
                },
                '.' => {
                    if cur.is_empty() {
                        return Err("a claim path is one or more non-empty names separated by '.'");
                    }
                    names.push(std::mem::take(&mut cur));
                }
                c => cur.push(c),
            }
        }
        if cur.is_empty() {
            return Err("a claim path is one or more non-empty names separated by '.'");
        }
        names.push(cur);
        Ok(ClaimPath {
            text: text.to_string(),
            names,
        })
    }

    /// The path as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path, if every step is an object member.
    pub fn lookup<'a>(&self, claims: &'a Claims) -> Option<&'a Value> {
        let mut names = self.names.iter();
        let mut v = claims.get(names.next()?)?;
        for n in names {
            v = v.as_object()?.get(n)?;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: Value) -> Claims {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn one_meaning() {
        let c = claims(
            serde_json::json!({"org.id": "top", "org": {"id": "nested"}, "a\\b": 1, "x": {"y.z": 2}}),
        );
        let at = |p: &str| ClaimPath::parse(p).ok().and_then(|p| p.lookup(&c).cloned());
        assert_eq!(at("org.id"), Some(Value::from("nested")));
        assert_eq!(at("org\\.id"), Some(Value::from("top")));
        assert_eq!(at("a\\\\b"), Some(Value::from(1)));
        assert_eq!(at("x.y\\.z"), Some(Value::from(2)));
        assert_eq!(at("x.y.z"), None);
        for bad in ["", ".", "a.", ".a", "a..b", "a\\", "a\\x"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
