//! JWT verification: strict compact-form parsing, header checks, claims, key selection, signature.
//!
//! # Check order
//! Cheap, key-independent checks come first (as Envoy's `jwt_authn` does); the signature is checked
//! last. The first failure is reported:
//!
//! 1. **Size**: longer than the provider's `max_token_bytes` → `TokenTooLarge`, before any parsing.
//! 2. **Compact form**: exactly three `.`-separated, non-empty segments of strict base64url without
//!    padding (no `=`, `+`, `/`, whitespace; canonical trailing bits). Header and payload must be JSON
//!    objects in UTF-8, without duplicate member names at any depth → else `Malformed`.
//! 3. **Header**: `alg` must be a string (`Malformed`), never `none` in any case, a supported name and
//!    in the provider's `algorithms` (`AlgNotAllowed`); `crit` naming anything, or `b64` other than
//!    `true` → `UnsupportedCrit` (we implement no extensions); `kid` must be a string; `typ`, if present,
//!    `JWT` or `…+jwt`; `jwk`, `jku`, `x5u`, `x5c` are never used to find a key (see note below).
//! 4. **Claims** (before key selection, so an expired token signed by a rotated-out key does not trigger
//!    a key refetch): `exp`/`nbf`/`iat` must be non-negative finite numbers within the `i64` range
//!    (fractions are truncated), `iss`/`sub`/`jti`/`nonce` strings, `aud` a string or an array of strings
//!    → else `InvalidClaim`. Then: `exp` absent while `require_exp` (or `max_lifetime_seconds`) is set →
//!    `MissingClaim`; `now > exp + skew` → `Expired`; `nbf > now + skew` → `NotYetValid`;
//!    `exp − now > max_lifetime + skew`, or (with `iat`) `exp − iat > max_lifetime + skew` →
//!    `LifetimeTooLong`; `iss` absent → `MissingClaim`, different (exact, case-sensitive) →
//!    `WrongIssuer`; when audiences are configured, `aud` absent or matching none → `WrongAudience`.
//! 5. **Key selection**: only keys from the provider's key set, never from the token. With a `kid`: the
//!    keys with that kid (none → `UnknownKid`) that can verify `alg` (none → `AlgNotAllowed`). Without a
//!    `kid`: every key that can verify `alg` (none → `AlgNotAllowed`). A key can verify `alg` when the
//!    algorithm fits its type and curve (RSA → RS*/PS*, P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA,
//!    oct → HS*) and its own `alg` if it has one — so an HS256 token can never be checked against an RSA
//!    key's public bytes. At most [`MAX_CANDIDATE_KEYS`] candidates are tried, in key-set order.
//! 6. **Signature** with jwt-simple → `BadSignature` if no candidate verifies.
//!
//! jwt-simple re-checks some things after us; its options are set so its claim checks cannot disagree
//! with ours (`artificial_time = now`, `accept_future`, a time tolerance that makes its `exp` check
//! vacuous). It deserializes the header strictly: header members it knows (`jwk`, `jku`, `x5u`, `x5t`,
//! `x5t#S256`, `cty`, `salt`) must be strings and `x5c` an array of strings, so we refuse other shapes
//! as `Malformed` up front (an embedded `jwk` *object* is therefore refused, never trusted); `salt` (a
//! jwt-simple extension) is refused.
//!
//! Errors carry a short static description for logs, never the token.

use crate::jwk::{b64url_decode, Alg, KeySet, Verifier};
use crate::provider::Provider;
use crate::reason::Reason;
use jwt_simple::prelude::{
    Duration, ECDSAP256PublicKeyLike, ECDSAP384PublicKeyLike, EdDSAPublicKeyLike, MACLike,
    NoCustomClaims, RSAPublicKeyLike, UnixTimeStamp, VerificationOptions,
};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Verified claims (the JWT payload object).
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// Signature checks tried per token at most (several keys may share a kid, or a token may have none).
pub const MAX_CANDIDATE_KEYS: usize = 4;

/// Why a token was refused. The `&'static str` is a short description for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Longer than `max_token_bytes`.
    TokenTooLarge,
    /// Not a well-formed compact JWS / JSON.
    Malformed(&'static str),
    /// `alg` is `none`, not allowed for the provider, or does not fit the key.
    AlgNotAllowed(&'static str),
    /// `crit` (or `b64`) names an extension we do not implement.
    UnsupportedCrit,
    /// No key in the key set has the token's `kid`.
    UnknownKid,
    /// A required claim is absent (the claim's name).
    MissingClaim(&'static str),
    /// A registered claim has the wrong type or range (the claim's name).
    InvalidClaim(&'static str),
    Expired,
    NotYetValid,
    LifetimeTooLong,
    WrongIssuer,
    WrongAudience,
    BadSignature,
}

impl JwtError {
    pub fn reason(&self) -> Reason {
        match self {
            JwtError::TokenTooLarge => Reason::TokenTooLarge,
            JwtError::Malformed(_) => Reason::Malformed,
            JwtError::AlgNotAllowed(_) => Reason::AlgNotAllowed,
            JwtError::UnsupportedCrit => Reason::UnsupportedCrit,
            JwtError::UnknownKid => Reason::UnknownKid,
            JwtError::MissingClaim(_) => Reason::MissingClaim,
            JwtError::InvalidClaim(_) => Reason::InvalidClaim,
            JwtError::Expired => Reason::Expired,
            JwtError::NotYetValid => Reason::NotYetValid,
            JwtError::LifetimeTooLong => Reason::LifetimeTooLong,
            JwtError::WrongIssuer => Reason::WrongIssuer,
            JwtError::WrongAudience => Reason::WrongAudience,
            JwtError::BadSignature => Reason::BadSignature,
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.reason().code();
        match self {
            JwtError::Malformed(d) | JwtError::AlgNotAllowed(d) => write!(f, "{code}: {d}"),
            JwtError::MissingClaim(c) | JwtError::InvalidClaim(c) => write!(f, "{code}: {c}"),
            _ => f.write_str(code),
        }
    }
}

impl std::error::Error for JwtError {}

/// Verifies `token` for `provider` with `keys` at `now` (seconds since the epoch, from the host).
pub fn verify(
    token: &str,
    provider: &Provider,
    keys: &KeySet,
    now: u64,
) -> Result<Claims, JwtError> {
    // 1. size
    if token.len() > provider.max_token_bytes {
        return Err(JwtError::TokenTooLarge);
    }
    // 2. compact form
    let mut parts = token.split('.');
    let (h64, p64, s64) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => {
            return Err(JwtError::Malformed(
                "a JWT has exactly three dot-separated segments",
            ))
        }
    };
    if h64.is_empty() || p64.is_empty() || s64.is_empty() {
        return Err(JwtError::Malformed("empty segment"));
    }
    let not_b64 = JwtError::Malformed("segment is not base64url without padding");
    let header_bytes = b64url_decode(h64).ok_or_else(|| not_b64.clone())?;
    let payload_bytes = b64url_decode(p64).ok_or_else(|| not_b64.clone())?;
    if b64url_decode(s64).is_none() {
        return Err(not_b64);
    }
    let header = parse_object(&header_bytes).map_err(JwtError::Malformed)?;
    let claims = parse_object(&payload_bytes).map_err(JwtError::Malformed)?;
    // 3. header
    let (alg, kid) = check_header(&header, provider)?;
    // 4. claims
    check_claims(&claims, provider, now)?;
    // 5. keys
    let candidates = select_keys(keys, alg, kid)?;
    // 6. signature
    let options = VerificationOptions {
        accept_future: true,
        artificial_time: Some(UnixTimeStamp::from_secs(now)),
        time_tolerance: Some(Duration::from_secs(now)),
        max_token_length: Some(provider.max_token_bytes),
        max_header_length: Some(provider.max_token_bytes),
        ..VerificationOptions::default()
    };
    for key in candidates.into_iter().take(MAX_CANDIDATE_KEYS) {
        if check_signature(key, token, &options) {
            return Ok(claims);
        }
    }
    Err(JwtError::BadSignature)
}

fn check_signature(key: &Verifier, token: &str, options: &VerificationOptions) -> bool {
    let o = || Some(options.clone());
    match key {
        Verifier::Rs256(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Rs384(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Rs512(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Ps256(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Ps384(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Ps512(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Es256(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Es384(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::EdDsa(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Hs256(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Hs384(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
        Verifier::Hs512(k) => k.verify_token::<NoCustomClaims>(token, o()).is_ok(),
    }
}

fn check_header<'a>(
    header: &'a Map<String, Value>,
    provider: &Provider,
) -> Result<(Alg, Option<&'a str>), JwtError> {
    let alg_name = match header.get("alg") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(JwtError::Malformed("alg is not a string")),
        None => return Err(JwtError::Malformed("alg is missing")),
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNotAllowed("alg none is never accepted"));
    }
    let alg = Alg::from_name(alg_name)
        .filter(|a| provider.algorithms.contains(a))
        .ok_or(JwtError::AlgNotAllowed(
            "alg is not allowed for this provider",
        ))?;
    match header.get("crit") {
        None => {}
        Some(Value::Array(names)) if !names.is_empty() && names.iter().all(Value::is_string) => {
            return Err(JwtError::UnsupportedCrit)
        }
        Some(_) => {
            return Err(JwtError::Malformed(
                "crit is not a non-empty array of names",
            ))
        }
    }
    match header.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(_) => return Err(JwtError::UnsupportedCrit),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(JwtError::Malformed("kid is not a string")),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(t))
            if t.eq_ignore_ascii_case("JWT")
                || t.len() > 4
                    && t.get(t.len() - 4..)
                        .is_some_and(|s| s.eq_ignore_ascii_case("+jwt")) => {}
        Some(_) => return Err(JwtError::Malformed("typ is not a JWT type")),
    }
    if header.contains_key("salt") {
        return Err(JwtError::Malformed("salt header is not supported"));
    }
    for name in ["cty", "jku", "jwk", "x5u", "x5t", "x5t#S256"] {
        if header.get(name).is_some_and(|v| !v.is_string()) {
            return Err(JwtError::Malformed(
                "header member has an unsupported type (e.g. an embedded jwk object)",
            ));
        }
    }
    if let Some(x5c) = header.get("x5c") {
        if !x5c
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err(JwtError::Malformed("x5c is not an array of strings"));
        }
    }
    Ok((alg, kid))
}

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
        Some(f) if f.is_finite() && f >= 0.0 && f < 9_223_372_036_854_775_807.0 => {
            Ok(Some(f as u64))
        }
        _ => Err(invalid),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    provider: &Provider,
    now: u64,
) -> Result<(), JwtError> {
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
    let skew = u128::from(provider.clock_skew_seconds);
    if exp.is_none() && (provider.require_exp || provider.max_lifetime_seconds.is_some()) {
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
    if let (Some(max), Some(exp)) = (provider.max_lifetime_seconds, exp) {
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
        Some(iss) if iss != provider.issuer => return Err(JwtError::WrongIssuer),
        Some(_) => {}
    }
    if !provider.audiences.is_empty() {
        let ok = aud.is_some_and(|list| {
            list.iter()
                .any(|a| provider.audiences.iter().any(|p| p == a))
        });
        if !ok {
            return Err(JwtError::WrongAudience);
        }
    }
    Ok(())
}

fn select_keys<'k>(
    keys: &'k KeySet,
    alg: Alg,
    kid: Option<&str>,
) -> Result<Vec<&'k Verifier>, JwtError> {
    let candidates: Vec<&Verifier> = match kid {
        Some(kid) => {
            let mut with_kid = keys
                .keys()
                .iter()
                .filter(|k| k.kid() == Some(kid))
                .peekable();
            if with_kid.peek().is_none() {
                return Err(JwtError::UnknownKid);
            }
            let found: Vec<_> = with_kid.filter_map(|k| k.verifier(alg)).collect();
            if found.is_empty() {
                return Err(JwtError::AlgNotAllowed(
                    "the key for this kid does not fit alg",
                ));
            }
            found
        }
        None => {
            if keys.is_empty() {
                return Err(JwtError::UnknownKid);
            }
            let found: Vec<_> = keys.keys().iter().filter_map(|k| k.verifier(alg)).collect();
            if found.is_empty() {
                return Err(JwtError::AlgNotAllowed("no key fits alg"));
            }
            found
        }
    };
    Ok(candidates)
}

/// Parses a JSON object (UTF-8), refusing duplicate member names at any depth.
fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, &'static str> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(m))) => Ok(m),
        Ok(_) => Err("segment is not a JSON object"),
        Err(e) if e.to_string().starts_with(DUPLICATE) => Err("duplicate JSON member name"),
        Err(_) => Err("segment is not valid JSON"),
    }
}

const DUPLICATE: &str = "duplicate member";

/// A JSON value whose objects have no duplicate member names (serde_json's `Map` keeps the last one).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let Strict(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}
