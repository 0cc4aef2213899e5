//! Step 4 of the check order (see [`super`]): the registered claims, checked before key selection
//! and again on every request whose signature the verified-token cache answered.
//!
//! Contract: [`check_claims`] refuses, in this order, registered claims of the wrong type or range
//! (`exp`/`nbf`/`iat` non-negative finite numbers within the `i64` range, fractions truncated;
//! `iss`/`sub`/`jti`/`nonce` strings; `aud` a string or an array of strings → `InvalidClaim`), a
//! missing `exp` when the rules require one or set a maximum lifetime (`MissingClaim`), an expired
//! or not yet valid token (`Expired`, `NotYetValid`, both with the clock skew), a lifetime beyond the
//! maximum from `now` or from `iat` (`LifetimeTooLong`), a missing or different `iss` (exact,
//! case-sensitive: `MissingClaim`, `WrongIssuer`) and, when audiences are set, an `aud` matching
//! none of them (`WrongAudience`). Arithmetic is on `u128`: no input or clock overflows it.

use super::{JwtError, Rules};
use serde_json::{Map, Value};

/// Verified claims (the JWT payload object).
pub type Claims = Map<String, Value>;

/// A NumericDate claim: absent, or a non-negative finite number within the i64 range (truncated).
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, JwtError> {
    let invalid = JwtError::InvalidClaim(name);
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = v else {
        return Err(invalid);
    };
    if let Some(u) = n.as_u64() {
        return if i64::try_from(u).is_ok() {
            Ok(Some(u))
        } else {
            Err(invalid)
        };
    }
    if n.is_i64() {
        return Err(invalid); // negative integer
    }
    match n.as_f64() {
        // i64::MAX as f64 rounds up to 2^63, hence the strict comparison.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(f) if (0.0..9_223_372_036_854_775_807.0).contains(&f) => Ok(Some(f as u64)),
        _ => Err(invalid),
    }
}

/// The claim checks of step 4 alone: for a token whose signature was verified earlier (cached), time,
/// issuer and audience are still evaluated on every request.
pub fn check_claims(claims: &Map<String, Value>, rules: &Rules, now: u64) -> Result<(), JwtError> {
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    for name in ["iss", "sub", "jti", "nonce"] {
        if claims.get(name).is_some_and(|v| !v.is_string()) {
            return Err(JwtError::InvalidClaim(name));
        }
    }
    let aud: Option<Vec<&str>> = match claims.get("aud") {
        None => None,
        Some(Value::String(s)) => Some(vec![s.as_str()]),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<_>>>()
                .ok_or(JwtError::InvalidClaim("aud"))?,
        ),
        Some(_) => return Err(JwtError::InvalidClaim("aud")),
    };
    // u128 arithmetic: no overflow for any u64 inputs.
    let now = u128::from(now);
    let skew = u128::from(rules.clock_skew_seconds);
    if exp.is_none() && (rules.require_exp || rules.max_lifetime_seconds.is_some()) {
        return Err(JwtError::MissingClaim("exp"));
    }
    if let Some(exp) = exp.map(u128::from) {
        if now > exp + skew {
            return Err(JwtError::Expired);
        }
    }
    if let Some(nbf) = nbf.map(u128::from) {
        if nbf > now + skew {
            return Err(JwtError::NotYetValid);
        }
    }
    if let (Some(max), Some(exp)) = (rules.max_lifetime_seconds, exp) {
        let (max, exp) = (u128::from(max), u128::from(exp));
        if exp > now + max + skew {
            return Err(JwtError::LifetimeTooLong);
        }
        if let Some(iat) = iat.map(u128::from) {
            if exp > iat + max + skew {
                return Err(JwtError::LifetimeTooLong);
            }
        }
    }
    match claims.get("iss").and_then(Value::as_str) {
        None => return Err(JwtError::MissingClaim("iss")),
        Some(iss) if iss != rules.issuer => return Err(JwtError::WrongIssuer),
        Some(_) => {}
    }
    if !rules.audiences.is_empty() {
        let ok =
            aud.is_some_and(|list| list.iter().any(|a| rules.audiences.iter().any(|p| p == a)));
        if !ok {
            return Err(JwtError::WrongAudience);
        }
    }
    Ok(())
}
