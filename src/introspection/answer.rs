//! An introspection answer (RFC 7662 §2.2): the response body read strictly, how long it may be
//! cached, its shared-data form, and the checks run on it for every request that uses it.
//!
//! - A body over [`MAX_RESPONSE_BYTES`], not a JSON object (duplicate members refused), or without a
//!   boolean `active` is an error (the server failed: 503), never an inactive token.
//! - Cached: an active answer until min(`exp`, fetch + `max_ttl_seconds`), at least 1 s (`exp` is
//!   checked again on every use); an inactive one for `negative_ttl_seconds`.
//! - On every use ([`check`]): `exp`/`nbf` with the provider's clock skew (`expired`,
//!   `not_yet_valid`), `iss` when present equal to the provider's issuer (`wrong_issuer`), and with
//!   configured audiences an `aud` (string or array) naming one (`wrong_audience`). Scopes and rule
//!   claims are the requirement's, matched by the policy like a JWT's.

use super::config::Introspection;
use crate::jwt::{Claims, Rules};
use crate::reason::Reason;
use serde_json::Value;
use std::rc::Rc;

/// Larger answers are refused (the server is treated as failing).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// Shortest time an answer is kept, so a request resumed by it finds it.
const MIN_CACHE_MS: u64 = 1000;

/// What the authorization server said about a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `active: true`, with the whole response as claims.
    Active(Rc<Claims>),
    /// `active: false`.
    Inactive,
}

/// An answer and until when it may be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub answer: Answer,
    pub until_ms: u64,
}

/// One entry of the shared cache: an answer, or a VM's claim to be introspecting the token now.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Answer(Cached),
    Lease { vm: u64, until_ms: u64 },
}

/// Reads a response body.
pub fn parse(body: &[u8]) -> Result<Answer, String> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(format!(
            "response of {} bytes exceeds {MAX_RESPONSE_BYTES}",
            body.len()
        ));
    }
    let value = crate::json::parse_strict(body).map_err(|e| format!("not JSON: {}", e.message))?;
    let Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    match map.get("active") {
        Some(Value::Bool(true)) => Ok(Answer::Active(Rc::new(map))),
        Some(Value::Bool(false)) => Ok(Answer::Inactive),
        _ => Err("\"active\" is missing or not a boolean".into()),
    }
}

/// A NumericDate member in seconds (fractions truncated); `Err` when present but not a
/// non-negative number.
fn seconds(claims: &Claims, name: &str) -> Result<Option<u64>, ()> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (None, Some(f)) if (0.0..1.8e19).contains(&f) => Ok(Some(f as u64)),
            _ => Err(()),
        },
        Some(_) => Err(()),
    }
}

/// Until when an answer fetched at `now_ms` may be used.
pub fn cache_until(answer: &Answer, now_ms: u64, i: &Introspection) -> u64 {
    match answer {
        Answer::Inactive => now_ms.saturating_add(i.negative_ttl_seconds.saturating_mul(1000)),
        Answer::Active(claims) => {
            let cap = now_ms.saturating_add(i.max_ttl_seconds.saturating_mul(1000));
            let exp = seconds(claims, "exp")
                .ok()
                .flatten()
                .map_or(cap, |s| s.saturating_mul(1000));
            cap.min(exp).max(now_ms.saturating_add(MIN_CACHE_MS))
        }
    }
}

/// The checks on an active answer at `now` (seconds), with the provider's rules.
pub fn check(claims: &Claims, rules: &Rules, now: u64) -> Result<(), Reason> {
    let skew = rules.clock_skew_seconds;
    let exp = seconds(claims, "exp").map_err(|()| Reason::InvalidClaim)?;
    let nbf = seconds(claims, "nbf").map_err(|()| Reason::InvalidClaim)?;
    if exp.is_some_and(|exp| now > exp.saturating_add(skew)) {
        return Err(Reason::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
        return Err(Reason::NotYetValid);
    }
    match claims.get("iss") {
        None => {}
        Some(Value::String(iss)) if *iss == rules.issuer => {}
        Some(Value::String(_)) => return Err(Reason::WrongIssuer),
        Some(_) => return Err(Reason::InvalidClaim),
    }
    if !rules.audiences.is_empty() {
        let one = |a: &Value| {
            a.as_str()
                .is_some_and(|a| rules.audiences.iter().any(|p| p == a))
        };
        let ok = match claims.get("aud") {
            Some(Value::Array(items)) => items.iter().any(one),
            Some(a) => one(a),
            None => false,
        };
        if !ok {
            return Err(Reason::WrongAudience);
        }
    }
    Ok(())
}

impl Entry {
    /// `A|I|L`, `until_ms` (8 bytes, little-endian), then the claims (compact JSON) or the VM id.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, until, rest) = match self {
            Entry::Answer(Cached {
                answer: Answer::Active(claims),
                until_ms,
            }) => (
                b'A',
                *until_ms,
                serde_json::to_vec(claims.as_ref()).unwrap_or_default(),
            ),
            Entry::Answer(Cached {
                answer: Answer::Inactive,
                until_ms,
            }) => (b'I', *until_ms, Vec::new()),
            Entry::Lease { vm, until_ms } => (b'L', *until_ms, vm.to_le_bytes().to_vec()),
        };
        let mut out = vec![tag];
        out.extend_from_slice(&until.to_le_bytes());
        out.extend_from_slice(&rest);
        out
    }

    /// Decodes an entry; anything unreadable is `None` (treated as absent).
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        let (&tag, rest) = bytes.split_first()?;
        let until_ms = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let rest = rest.get(8..)?;
        match tag {
            b'A' => match crate::json::parse_strict(rest).ok()? {
                Value::Object(map) => Some(Entry::Answer(Cached {
                    answer: Answer::Active(Rc::new(map)),
                    until_ms,
                })),
                _ => None,
            },
            b'I' => Some(Entry::Answer(Cached {
                answer: Answer::Inactive,
                until_ms,
            })),
            b'L' => Some(Entry::Lease {
                vm: u64::from_le_bytes(rest.get(..8)?.try_into().ok()?),
                until_ms,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Claims {
        match v {
            Value::Object(m) => m,
            _ => Claims::new(),
        }
    }

    #[test]
    fn bodies_are_read_strictly() {
        assert_eq!(parse(br#"{"active": false}"#), Ok(Answer::Inactive));
        assert!(matches!(
            parse(br#"{"active": true, "sub": "a"}"#),
            Ok(Answer::Active(_))
        ));
        for bad in [
            &br#"{"active": "true"}"#[..],
            br#"{"scope": "a"}"#,
            br#"[true]"#,
            b"<html>",
            br#"{"active": true, "active": false}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let big = format!(
            r#"{{"active": true, "x": "{}"}}"#,
            "a".repeat(MAX_RESPONSE_BYTES)
        );
        assert!(parse(big.as_bytes()).is_err());
    }

    #[test]
    fn checks_on_every_use() {
        let mut rules = Rules::new("https://as");
        rules.audiences = vec!["api".into()];
        let ok =
            claims(json!({"active": true, "exp": 2000, "aud": ["x", "api"], "iss": "https://as"}));
        assert_eq!(check(&ok, &rules, 1000), Ok(()));
        assert_eq!(check(&ok, &rules, 2100), Err(Reason::Expired));
        let no_iss = claims(json!({"active": true, "aud": "api"}));
        assert_eq!(
            check(&no_iss, &rules, 1000),
            Ok(()),
            "iss only when present"
        );
        let other = claims(json!({"active": true, "aud": "api", "iss": "https://evil"}));
        assert_eq!(check(&other, &rules, 1000), Err(Reason::WrongIssuer));
        let no_aud = claims(json!({"active": true}));
        assert_eq!(check(&no_aud, &rules, 1000), Err(Reason::WrongAudience));
        let bad_exp = claims(json!({"active": true, "exp": "soon", "aud": "api"}));
        assert_eq!(check(&bad_exp, &rules, 1000), Err(Reason::InvalidClaim));
    }

    #[test]
    fn entries_round_trip() {
        let c = Rc::new(claims(json!({"active": true, "sub": "alice"})));
        for e in [
            Entry::Answer(Cached {
                answer: Answer::Active(c),
                until_ms: 5,
            }),
            Entry::Answer(Cached {
                answer: Answer::Inactive,
                until_ms: 6,
            }),
            Entry::Lease { vm: 9, until_ms: 7 },
        ] {
            assert_eq!(Entry::decode(&e.encode()), Some(e));
        }
        assert_eq!(Entry::decode(b"X12345678"), None);
        assert_eq!(Entry::decode(b"A1"), None);
    }
}
