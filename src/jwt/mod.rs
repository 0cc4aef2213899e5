//! JWT verification: strict compact-form parsing, header checks, claims, key selection, signature.
//!
//! # Check order
//! Cheap, key-independent checks come first (as Envoy's `jwt_authn` does); the signature is checked
//! last. The first failure is reported:
//!
//! 1. **Size**: longer than the rules' `max_token_bytes` → `TokenTooLarge`, before any parsing.
//! 2. **Compact form**: exactly three `.`-separated, non-empty segments of strict base64url without
//!    padding (no `=`, `+`, `/`, whitespace; canonical trailing bits). Header and payload must be JSON
//!    objects in UTF-8, without duplicate member names at any depth → else `Malformed`.
//! 3. **Header**: `alg` must be a string (`Malformed`), never `none` in any case, a supported name and
//!    in the rules' `algorithms` (`AlgNotAllowed`); `crit` naming anything, or `b64` other than
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
//! 5. **Key selection**: only keys from the key set passed in, never from the token. With a `kid`: the
//!    keys with that kid that can verify `alg` (none → `AlgNotAllowed`); if no key has that kid, the
//!    keys *without* a kid that can verify `alg` (as Envoy's `jwt_authn`; none → `UnknownKid`) — a
//!    key with another kid is never tried. Without a `kid`: every key that can verify `alg` (none →
//!    `AlgNotAllowed`). A key can verify `alg` when the
//!    algorithm fits its type and curve (RSA → RS*/PS*, P-256 → ES256, P-384 → ES384, P-521 → ES512,
//!    Ed25519 → EdDSA, oct → HS*) and its own `alg` if it has one — so an HS256 token can never be
//!    checked against an RSA key's public bytes. At most [`MAX_CANDIDATE_KEYS`] candidates are tried,
//!    in key-set order.
//! 6. **Signature** → `BadSignature` if no candidate verifies. RSA (RS*/PS*) goes through
//!    [`crypto::rsa`] (encode-and-compare, differential-tested against jwt-simple and Wycheproof);
//!    ES256 through [`crypto::es256`], ES512 through [`crypto::es512`] (the `p521` crate; jwt-simple
//!    has no ES512), EdDSA through [`crypto::eddsa`]; ES384 and HMAC through the primitives
//!    jwt-simple uses (see below).
//!
//! Signatures are checked on the signing input and signature bytes directly (p256, p384, p521,
//! ed25519-dalek, hmac-sha256/512; RSA through [`crypto::rsa`]), so a token is parsed once, by the strict
//! parser above; `signature_layer_agrees_with_jwt_simple` checks the verdicts against jwt-simple's own
//! on random keys and mutations (for every algorithm jwt-simple has, that is all but ES512, which is
//! run against Wycheproof's P-521 vectors instead). Header members whose shape jwt-simple
//! would refuse (`jwk`, `jku`, `x5u`, `x5t`, `x5t#S256`, `cty` not strings, `x5c` not an array of
//! strings, and jwt-simple's `salt` extension) are still refused as `Malformed`: an embedded `jwk`
//! *object* is refused, never trusted.
//!
//! Errors carry a short static description for logs, never the token.

pub mod cache;
mod claims;
pub mod crypto;
mod header;
pub mod jwk;

pub use claims::{check_claims, Claims};

use crate::reason::Reason;
use crypto::rsa::Hash;
use header::check_header;
use jwk::{b64url_decode, Alg, KeySet, Verifier};
use serde_json::{Map, Value};
use std::fmt;

/// What a token must satisfy besides its signature: one provider's verification policy, everything
/// [`verify`] and [`check_claims`] read. `provider::ProviderConfig::validate` builds it from the
/// configuration (with these defaults); this module knows nothing of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The expected `iss` (exact, case-sensitive).
    pub issuer: String,
    /// Accepted `aud` values (any-of). Empty: `aud` is not checked.
    pub audiences: Vec<String>,
    /// Tolerance, in seconds, for `exp`, `nbf` and the maximum lifetime.
    pub clock_skew_seconds: u64,
    /// A token without `exp` is refused (`MissingClaim`).
    pub require_exp: bool,
    /// At most this many seconds from `now` (and from `iat`) to `exp`, plus the skew; makes `exp`
    /// required.
    pub max_lifetime_seconds: Option<u64>,
    /// Algorithms a token may use (never `none`).
    pub algorithms: Vec<Alg>,
    /// Tokens longer than this are refused before any parsing.
    pub max_token_bytes: usize,
}

/// Default [`Rules::clock_skew_seconds`].
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// Default [`Rules::max_token_bytes`].
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

impl Rules {
    /// The defaults for `issuer`: no audience check, 60 s of clock skew, `exp` required, no maximum
    /// lifetime, every supported algorithm, tokens up to 8192 bytes.
    pub fn new(issuer: &str) -> Rules {
        Rules {
            issuer: issuer.to_string(),
            audiences: Vec::new(),
            clock_skew_seconds: DEFAULT_CLOCK_SKEW_SECONDS,
            require_exp: true,
            max_lifetime_seconds: None,
            algorithms: Alg::ALL.to_vec(),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

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
    /// No key in the key set has the token's `kid`, and no kid-less key can verify its `alg` (or the
    /// key set is empty).
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

/// Verifies `token` against `rules` with `keys` at `now` (seconds since the epoch, from the host).
pub fn verify(token: &str, rules: &Rules, keys: &KeySet, now: u64) -> Result<Claims, JwtError> {
    // 1. size
    if token.len() > rules.max_token_bytes {
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
    let (alg, kid) = check_header(&header, rules)?;
    // 4. claims
    check_claims(&claims, rules, now)?;
    // 5. keys
    let candidates = select_keys(keys, alg, kid)?;
    // 6. signature
    for key in candidates.into_iter().take(MAX_CANDIDATE_KEYS) {
        if check_signature(key, token) {
            return Ok(claims);
        }
    }
    Err(JwtError::BadSignature)
}

/// Checks the JWS signature of `token` (whose form was checked already) with one candidate key:
/// [`crypto`] for RSA, ES256, ES512 and EdDSA, the crates jwt-simple uses (p384, hmac-sha256/512)
/// for ES384 and HMAC; on the signing input and signature bytes directly, so the token is not parsed
/// a second time.
fn check_signature(key: &Verifier, token: &str) -> bool {
    // The JWS signing input is everything before the last '.', the signature what follows.
    let Some((input, sig64)) = token.rsplit_once('.') else {
        return false;
    };
    let Some(sig) = b64url_decode(sig64) else {
        return false;
    };
    let input = input.as_bytes();
    match key {
        Verifier::Rsa(alg, k) => match alg {
            Alg::RS256 => k.verify_pkcs1v15(Hash::Sha256, input, &sig),
            Alg::RS384 => k.verify_pkcs1v15(Hash::Sha384, input, &sig),
            Alg::RS512 => k.verify_pkcs1v15(Hash::Sha512, input, &sig),
            Alg::PS256 => k.verify_pss(Hash::Sha256, input, &sig),
            Alg::PS384 => k.verify_pss(Hash::Sha384, input, &sig),
            Alg::PS512 => k.verify_pss(Hash::Sha512, input, &sig),
            _ => false,
        },
        // JWS ECDSA signatures are the raw r || s (64, 96 or 132 bytes; never DER).
        Verifier::Es256(k) => k.verify(input, &sig),
        Verifier::Es384(k) => {
            use p384::ecdsa::signature::DigestVerifier as _;
            let Ok(s) = p384::ecdsa::Signature::try_from(sig.as_slice()) else {
                return false;
            };
            k.verify_digest(
                |d: &mut hmac_sha512::sha384::Hash| {
                    d.update(input);
                    Ok(())
                },
                &s,
            )
            .is_ok()
        }
        Verifier::Es512(k) => k.verify(input, &sig),
        Verifier::EdDsa(k) => k.verify(input, &sig),
        Verifier::Hmac(alg, secret) => {
            let tag: Vec<u8> = match alg {
                Alg::HS256 => hmac_sha256::HMAC::mac(input, secret.as_slice()).to_vec(),
                Alg::HS384 => hmac_sha512::sha384::HMAC::mac(input, secret.as_slice()).to_vec(),
                Alg::HS512 => hmac_sha512::HMAC::mac(input, secret.as_slice()).to_vec(),
                _ => return false,
            };
            // Constant time: the tag must not leak through timing.
            tag.len() == sig.len()
                && bool::from(subtle::ConstantTimeEq::ct_eq(
                    tag.as_slice(),
                    sig.as_slice(),
                ))
        }
    }
}

/// Step 5: the keys a token may be checked against, in key-set order (the caller tries at most
/// [`MAX_CANDIDATE_KEYS`] of them).
///
/// - `kid` present and carried by some key: those keys that can verify `alg`; if none can,
///   `AlgNotAllowed`. Keys without a kid, or with another kid, are not tried.
/// - `kid` present and carried by no key: the keys **without** a kid that can verify `alg` (as
///   Envoy's `jwt_authn` does: a kid-less key is not bound to any kid); if there are none,
///   `UnknownKid` (which lets the caller refetch a remote key set). A key with another kid is never
///   tried.
/// - no `kid`: every key that can verify `alg`; if none can, `AlgNotAllowed` (`UnknownKid` for an
///   empty key set).
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
                let kidless: Vec<_> = keys
                    .keys()
                    .iter()
                    .filter(|k| k.kid().is_none())
                    .filter_map(|k| k.verifier(alg))
                    .collect();
                if kidless.is_empty() {
                    return Err(JwtError::UnknownKid);
                }
                return Ok(kidless);
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
    match crate::json::parse_strict(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("segment is not a JSON object"),
        Err(e) if e.duplicate => Err("duplicate JSON member name"),
        Err(_) => Err("segment is not valid JSON"),
    }
}

#[cfg(test)]
mod wycheproof;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::Claims;
    use super::*;
    use jwt_simple::prelude::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;
    const ISS: &str = "https://idp.example";
    const SECRET: [u8; 64] = [7u8; 64];
    /// A test-only key (generated with `openssl genpkey`); never use it anywhere else.
    const RSA_PEM: &str = include_str!("../../tests/fixtures/test-rsa-2048.pem");

    fn b64(b: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn raw_token(header: &str, payload: &str, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(payload.as_bytes()),
            b64(sig)
        )
    }

    /// A token with any header/payload text, HMAC-SHA256-signed with `secret`.
    fn hs_raw(header: &str, payload: &str, secret: &[u8]) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let mac = hmac_sha256::HMAC::mac(input.as_bytes(), secret);
        format!("{input}.{}", b64(&mac))
    }

    fn hs(header: Value, payload: Value) -> String {
        hs_raw(&header.to_string(), &payload.to_string(), &SECRET)
    }

    fn good_claims() -> Value {
        json!({"iss": ISS, "aud": "api", "sub": "alice", "iat": NOW, "exp": NOW + 300})
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v[key] = val;
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    fn hs_keys() -> KeySet {
        let doc = json!({"keys": [{"kty": "oct", "kid": "hk", "k": b64(&SECRET)}]});
        KeySet::from_value(&doc).unwrap().0
    }

    fn rules() -> Rules {
        let mut r = Rules::new(ISS);
        r.audiences = vec!["api".into(), "other".into()];
        r
    }

    fn check(token: &str) -> Result<Claims, JwtError> {
        let keys = hs_keys();
        verify(token, &rules(), &keys, NOW)
    }

    fn hs_header() -> Value {
        json!({"alg": "HS256", "kid": "hk", "typ": "JWT"})
    }

    fn rsa_pair() -> RS256KeyPair {
        RS256KeyPair::from_pem(RSA_PEM).unwrap()
    }

    fn rsa_jwk(kid: &str, alg: Option<&str>) -> Value {
        let c = rsa_pair().public_key().to_components();
        let mut j = json!({"kty": "RSA", "kid": kid, "n": b64(&c.n), "e": b64(&c.e)});
        if let Some(a) = alg {
            j["alg"] = json!(a);
        }
        j
    }

    fn jwt_claims() -> JWTClaims<Map<String, Value>> {
        let mut extra = Map::new();
        extra.insert("scope".into(), json!("read write"));
        let mut c =
            jwt_simple::prelude::Claims::with_custom_claims(extra, Duration::from_secs(300))
                .with_issuer(ISS)
                .with_audience("api")
                .with_subject("alice");
        c.issued_at = Some(UnixTimeStamp::from_secs(NOW));
        c.expires_at = Some(UnixTimeStamp::from_secs(NOW + 300));
        c.invalid_before = Some(UnixTimeStamp::from_secs(NOW));
        c
    }

    fn verify_with(jwks: Value, token: &str) -> Result<Claims, JwtError> {
        let (keys, skipped) = KeySet::from_value(&json!({ "keys": jwks })).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        verify(token, &rules(), &keys, NOW)
    }

    #[test]
    fn every_supported_algorithm_verifies() {
        let der = rsa_pair().to_der().unwrap();
        let rsa = json!([rsa_jwk("r", None)]);
        let t = rsa_pair().with_key_id("r").sign(jwt_claims()).unwrap();
        assert_eq!(verify_with(rsa.clone(), &t).unwrap()["sub"], "alice");
        let t = RS384KeyPair::from_der(&der)
            .unwrap()
            .with_key_id("r")
            .sign(jwt_claims())
            .unwrap();
        verify_with(rsa.clone(), &t).unwrap();
        let t = RS512KeyPair::from_der(&der)
            .unwrap()
            .sign(jwt_claims())
            .unwrap();
        verify_with(rsa.clone(), &t).unwrap();
        let t = PS256KeyPair::from_der(&der)
            .unwrap()
            .sign(jwt_claims())
            .unwrap();
        verify_with(rsa.clone(), &t).unwrap();
        let t = PS384KeyPair::from_der(&der)
            .unwrap()
            .sign(jwt_claims())
            .unwrap();
        verify_with(rsa.clone(), &t).unwrap();
        let t = PS512KeyPair::from_der(&der)
            .unwrap()
            .with_key_id("r")
            .sign(jwt_claims())
            .unwrap();
        verify_with(rsa, &t).unwrap();

        let k = ES256KeyPair::generate().with_key_id("e");
        let p = k.public_key().public_key().to_bytes_uncompressed();
        let jwk = json!([{"kty": "EC", "crv": "P-256", "kid": "e", "x": b64(&p[1..33]), "y": b64(&p[33..])}]);
        verify_with(jwk, &k.sign(jwt_claims()).unwrap()).unwrap();

        let k = ES384KeyPair::generate().with_key_id("e");
        let p = k.public_key().public_key().to_bytes_uncompressed();
        let jwk = json!([{"kty": "EC", "crv": "P-384", "kid": "e", "x": b64(&p[1..49]), "y": b64(&p[49..])}]);
        verify_with(jwk, &k.sign(jwt_claims()).unwrap()).unwrap();

        let k = Ed25519KeyPair::generate().with_key_id("o");
        let jwk = json!([{"kty": "OKP", "crv": "Ed25519", "kid": "o", "x": b64(&k.public_key().to_bytes())}]);
        let claims = verify_with(jwk, &k.sign(jwt_claims()).unwrap()).unwrap();
        assert_eq!(claims["scope"], "read write");

        let oct = json!([{"kty": "oct", "kid": "h", "k": b64(&SECRET)}]);
        for t in [
            HS256Key::from_bytes(&SECRET)
                .with_key_id("h")
                .authenticate(jwt_claims())
                .unwrap(),
            HS384Key::from_bytes(&SECRET)
                .authenticate(jwt_claims())
                .unwrap(),
            HS512Key::from_bytes(&SECRET)
                .with_key_id("h")
                .authenticate(jwt_claims())
                .unwrap(),
        ] {
            verify_with(oct.clone(), &t).unwrap();
        }
    }

    /// A P-521 test key (jwt-simple has no ES512): the scalar is derived from `seed` and below 2^520.
    fn p521_key(seed: u8) -> p521::ecdsa::SigningKey {
        let mut secret = [0u8; 66];
        secret[1..65].copy_from_slice(&hmac_sha512::Hash::hash([seed]));
        p521::ecdsa::SigningKey::from_slice(&secret).unwrap()
    }

    fn p521_jwk(key: &p521::ecdsa::SigningKey, kid: &str) -> Value {
        let p = key.verifying_key().to_sec1_point(false);
        let p = p.as_bytes();
        json!({"kty": "EC", "crv": "P-521", "kid": kid, "x": b64(&p[1..67]), "y": b64(&p[67..])})
    }

    /// A JWS signed with `key` (ES512: SHA-512, raw 132-byte `r || s`) whatever `header` says.
    fn es512_token(key: &p521::ecdsa::SigningKey, header: Value, payload: Value) -> String {
        use p521::ecdsa::signature::Signer as _;
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let sig: p521::ecdsa::Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }

    #[test]
    fn es512_verifies_end_to_end() {
        let key = p521_key(1);
        let jwks = json!([p521_jwk(&key, "p")]);
        let t = es512_token(&key, json!({"alg": "ES512", "kid": "p"}), good_claims());
        assert_eq!(verify_with(jwks.clone(), &t).unwrap()["sub"], "alice");
        // without kid, and against a JWK whose own alg is ES512
        let t = es512_token(&key, json!({"alg": "ES512", "typ": "JWT"}), good_claims());
        verify_with(jwks.clone(), &t).unwrap();
        let mut with_alg = p521_jwk(&key, "p");
        with_alg["alg"] = json!("ES512");
        verify_with(json!([with_alg]), &t).unwrap();
        // high-s form of the same signature (n − s): valid ECDSA, accepted as for ES256/ES384
        let (input, sig64) = t.rsplit_once('.').unwrap();
        let sig = p521::ecdsa::Signature::from_slice(&b64url_decode(sig64).unwrap()).unwrap();
        let (r, s) = sig.split_scalars();
        let flipped = p521::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        verify_with(jwks, &format!("{input}.{}", b64(&flipped.to_bytes()))).unwrap();
    }

    #[test]
    fn es512_signed_by_another_key_or_tampered_is_a_bad_signature() {
        let (key, other) = (p521_key(1), p521_key(2));
        let jwks = json!([p521_jwk(&key, "p")]);
        let forged = es512_token(&other, json!({"alg": "ES512", "kid": "p"}), good_claims());
        assert_eq!(
            verify_with(jwks.clone(), &forged),
            Err(JwtError::BadSignature)
        );
        let forged = es512_token(&other, json!({"alg": "ES512"}), good_claims());
        assert_eq!(
            verify_with(jwks.clone(), &forged),
            Err(JwtError::BadSignature)
        );
        let good = es512_token(&key, json!({"alg": "ES512", "kid": "p"}), good_claims());
        let (input, sig64) = good.rsplit_once('.').unwrap();
        let sig = b64url_decode(sig64).unwrap();
        let (h, _) = input.split_once('.').unwrap();
        let tampered = with(good_claims(), "sub", json!("root"));
        let mut mutants = vec![format!(
            "{h}.{}.{sig64}",
            b64(tampered.to_string().as_bytes())
        )];
        for i in [0usize, 33, 65, 66, 100, 131] {
            let mut m = sig.clone();
            m[i] ^= 0x10;
            mutants.push(format!("{input}.{}", b64(&m)));
        }
        // truncated, extended, DER-length, empty-ish, and ES384-sized signatures
        for m in [
            sig[..131].to_vec(),
            [sig.as_slice(), &[0]].concat(),
            vec![0u8; 132],
            vec![0u8; 1],
            sig[..96].to_vec(),
        ] {
            mutants.push(format!("{input}.{}", b64(&m)));
        }
        for m in &mutants {
            assert_eq!(verify_with(jwks.clone(), m), Err(JwtError::BadSignature));
        }
    }

    #[test]
    fn es512_alg_must_fit_the_key() {
        let key = p521_key(1);
        let p521 = json!([p521_jwk(&key, "p")]);
        // ES384 / ES256 headers against the P-521 key (signed with it anyway)
        for alg in ["ES384", "ES256", "RS512", "HS512"] {
            let t = es512_token(&key, json!({"alg": alg, "kid": "p"}), good_claims());
            let e = verify_with(p521.clone(), &t).unwrap_err();
            assert_eq!(e.reason(), Reason::AlgNotAllowed, "{alg}");
        }
        // an ES512 header against P-384, P-256 and oct keys of that kid
        let p = ES384KeyPair::generate()
            .public_key()
            .public_key()
            .to_bytes_uncompressed();
        let p384 = json!({"kty": "EC", "crv": "P-384", "kid": "p", "x": b64(&p[1..49]), "y": b64(&p[49..])});
        let p = ES256KeyPair::generate()
            .public_key()
            .public_key()
            .to_bytes_uncompressed();
        let p256 = json!({"kty": "EC", "crv": "P-256", "kid": "p", "x": b64(&p[1..33]), "y": b64(&p[33..])});
        let oct = json!({"kty": "oct", "kid": "p", "k": b64(&SECRET)});
        let t = es512_token(&key, json!({"alg": "ES512", "kid": "p"}), good_claims());
        for jwk in [p384, p256, oct] {
            assert_eq!(
                verify_with(json!([jwk]), &t).unwrap_err().reason(),
                Reason::AlgNotAllowed,
                "{jwk}"
            );
        }
        // ES512 left out of the provider's algorithms, then the only one allowed
        let (keys, _) = KeySet::from_value(&json!({ "keys": p521 })).unwrap();
        let mut p = rules();
        p.algorithms = vec![Alg::ES256, Alg::ES384];
        assert_eq!(
            verify(&t, &p, &keys, NOW).unwrap_err().reason(),
            Reason::AlgNotAllowed
        );
        p.algorithms = vec![Alg::ES512];
        verify(&t, &p, &keys, NOW).unwrap();
    }

    #[test]
    fn hand_built_token_verifies() {
        let claims = check(&hs(hs_header(), good_claims())).unwrap();
        assert_eq!(claims["sub"], "alice");
    }

    #[test]
    fn reason_token_too_large() {
        let big = with(good_claims(), "pad", json!("x".repeat(9000)));
        let e = check(&hs(hs_header(), big)).unwrap_err();
        assert_eq!(e, JwtError::TokenTooLarge);
        assert_eq!(e.reason(), Reason::TokenTooLarge);
        // before any parsing: garbage of that size is also "too large"
        assert_eq!(check(&"!".repeat(9000)), Err(JwtError::TokenTooLarge));
    }

    #[test]
    fn reason_malformed_segments() {
        let good = hs(hs_header(), good_claims());
        let parts: Vec<&str> = good.split('.').collect();
        let (h, p, s) = (parts[0], parts[1], parts[2]);
        for bad in [
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}..{s}"),
            format!(".{p}.{s}"),
            format!("{h}.{p}."),
            format!("{h}=.{p}.{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}.{p}+.{s}"),
            format!("{h}.{p}/.{s}"),
            format!("{h}.{p}.{s} "),
            format!("{h}.{p} .{s}"),
            format!("{h}.\t{p}.{s}"),
            "...".to_string(),
            String::new(),
        ] {
            let e = check(&bad).unwrap_err();
            assert!(matches!(e, JwtError::Malformed(_)), "{bad:?}: {e:?}");
            assert_eq!(e.reason(), Reason::Malformed);
        }
        // base64 with non-canonical trailing bits
        let noncanon = format!("{h}.{p}.{}", &s[..s.len() - 1]);
        assert!(check(&noncanon).is_err());
    }

    #[test]
    fn reason_malformed_json() {
        let sig = b"sig";
        for (h, p) in [
            ("not json", r#"{"iss":"x"}"#),
            (r#"{"alg":"HS256"}"#, "[1,2]"),
            (r#"["alg"]"#, r#"{}"#),
            (r#"{"alg":"HS256"}"#, "\"s\""),
            (r#"{"alg":"HS256","alg":"HS256"}"#, r#"{}"#),
            (r#"{"alg":"HS256"}"#, r#"{"sub":"a","sub":"b"}"#),
            (r#"{"alg":"HS256"}"#, r#"{"x":{"a":1,"a":2}}"#),
            (r#"{"alg":5}"#, r#"{}"#),
            (r#"{"typ":"JWT"}"#, r#"{}"#),
            (r#"{"alg":"HS256","kid":5}"#, r#"{}"#),
            (r#"{"alg":"HS256","kid":null}"#, r#"{}"#),
        ] {
            let e = check(&raw_token(h, p, sig)).unwrap_err();
            assert!(matches!(e, JwtError::Malformed(_)), "{h} {p}: {e:?}");
        }
        // invalid UTF-8 in the payload
        let t = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"HS256"}"#),
            b64(b"{\"a\":\"\xff\"}"),
            b64(sig)
        );
        assert!(matches!(check(&t), Err(JwtError::Malformed(_))));
        // duplicate members are refused even when correctly signed
        let t = hs_raw(
            r#"{"alg":"HS256","kid":"hk"}"#,
            &format!(
                r#"{{"iss":"evil","iss":"{ISS}","aud":"api","exp":{}}}"#,
                NOW + 60
            ),
            &SECRET,
        );
        assert_eq!(
            check(&t),
            Err(JwtError::Malformed("duplicate JSON member name"))
        );
    }

    #[test]
    fn reason_alg_not_allowed_none() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let t = raw_token(
                &json!({"alg": alg}).to_string(),
                &good_claims().to_string(),
                b"x",
            );
            assert_eq!(
                check(&t).unwrap_err().reason(),
                Reason::AlgNotAllowed,
                "{alg}"
            );
        }
        // unknown alg, and one not in the provider's list
        let t = hs(json!({"alg": "HS999"}), good_claims());
        assert_eq!(check(&t).unwrap_err().reason(), Reason::AlgNotAllowed);
        let keys = hs_keys();
        let mut p = rules();
        p.algorithms = vec![Alg::RS256];
        let e = verify(&hs(hs_header(), good_claims()), &p, &keys, NOW).unwrap_err();
        assert_eq!(e.reason(), Reason::AlgNotAllowed);
        // case matters
        let t = hs(json!({"alg": "hs256", "kid": "hk"}), good_claims());
        assert_eq!(check(&t).unwrap_err().reason(), Reason::AlgNotAllowed);
    }

    #[test]
    fn attack_hs256_with_rsa_public_key_bytes() {
        let pk = rsa_pair().public_key();
        let doc = json!({"keys": [rsa_jwk("r", None)]});
        let (keys, _) = KeySet::from_value(&doc).unwrap();
        let p = rules();
        for secret in [pk.to_pem().unwrap().into_bytes(), pk.to_der().unwrap()] {
            for header in [json!({"alg": "HS256", "kid": "r"}), json!({"alg": "HS256"})] {
                let t = hs_raw(&header.to_string(), &good_claims().to_string(), &secret);
                let e = verify(&t, &p, &keys, NOW).unwrap_err();
                assert_eq!(e.reason(), Reason::AlgNotAllowed, "{header}");
            }
        }
    }

    #[test]
    fn attack_token_alg_differs_from_jwk_alg() {
        let der = rsa_pair().to_der().unwrap();
        let jwks = json!([rsa_jwk("r", Some("RS256"))]);
        let t = PS256KeyPair::from_der(&der)
            .unwrap()
            .with_key_id("r")
            .sign(jwt_claims())
            .unwrap();
        assert_eq!(
            verify_with(jwks.clone(), &t).unwrap_err().reason(),
            Reason::AlgNotAllowed
        );
        let t = RS512KeyPair::from_der(&der)
            .unwrap()
            .sign(jwt_claims())
            .unwrap();
        assert_eq!(
            verify_with(jwks.clone(), &t).unwrap_err().reason(),
            Reason::AlgNotAllowed
        );
        let t = rsa_pair().with_key_id("r").sign(jwt_claims()).unwrap();
        verify_with(jwks, &t).unwrap();
    }

    #[test]
    fn attack_embedded_jwk_is_never_trusted() {
        let attacker = [9u8; 32];
        let header = json!({"alg": "HS256", "kid": "hk",
            "jwk": {"kty": "oct", "k": b64(&attacker)}});
        let t = hs_raw(&header.to_string(), &good_claims().to_string(), &attacker);
        assert!(matches!(check(&t), Err(JwtError::Malformed(_))));
        // as strings / URLs they are ignored: the provider's key still decides
        let header = json!({"alg": "HS256", "kid": "hk", "jwk": b64(&attacker),
            "jku": "https://evil.example/jwks", "x5u": "https://evil.example/c", "x5c": ["AAAA"]});
        let t = hs_raw(&header.to_string(), &good_claims().to_string(), &attacker);
        assert_eq!(check(&t), Err(JwtError::BadSignature));
        let t = hs_raw(&header.to_string(), &good_claims().to_string(), &SECRET);
        check(&t).unwrap();
    }

    #[test]
    fn reason_unsupported_crit() {
        for h in [
            json!({"alg": "HS256", "kid": "hk", "crit": ["exp"]}),
            json!({"alg": "HS256", "kid": "hk", "crit": ["b64"], "b64": false}),
            json!({"alg": "HS256", "kid": "hk", "b64": false}),
        ] {
            let e = check(&hs(h.clone(), good_claims())).unwrap_err();
            assert_eq!(e, JwtError::UnsupportedCrit, "{h}");
            assert_eq!(e.reason(), Reason::UnsupportedCrit);
        }
        let e = check(&hs(json!({"alg": "HS256", "crit": []}), good_claims())).unwrap_err();
        assert!(matches!(e, JwtError::Malformed(_)));
    }

    #[test]
    fn reason_unknown_kid() {
        let t = hs(json!({"alg": "HS256", "kid": "nope"}), good_claims());
        let e = check(&t).unwrap_err();
        assert_eq!(e, JwtError::UnknownKid);
        assert_eq!(e.reason(), Reason::UnknownKid);
        // an empty key set
        let keys = KeySet::default();
        let t = hs(json!({"alg": "HS256"}), good_claims());
        assert_eq!(verify(&t, &rules(), &keys, NOW), Err(JwtError::UnknownKid));
    }

    #[test]
    fn kidless_token_tries_compatible_keys() {
        let other = [1u8; 32];
        let doc = json!({"keys": [
            {"kty": "oct", "kid": "a", "k": b64(&other)},
            {"kty": "oct", "kid": "b", "k": b64(&SECRET)}]});
        let (keys, _) = KeySet::from_value(&doc).unwrap();
        let t = hs(json!({"alg": "HS256"}), good_claims());
        verify(&t, &rules(), &keys, NOW).unwrap();
        let t = hs(json!({"alg": "HS256", "kid": "a"}), good_claims());
        assert_eq!(
            verify(&t, &rules(), &keys, NOW),
            Err(JwtError::BadSignature)
        );
    }

    /// An `oct` JWK with secret `[byte; 64]`, with or without a kid.
    fn oct_jwk(kid: Option<&str>, byte: u8) -> Value {
        let mut k = json!({"kty": "oct", "k": b64(&[byte; 64])});
        if let Some(kid) = kid {
            k["kid"] = json!(kid);
        }
        k
    }

    /// An HS256 token with header kid `kid`, MACed with the secret `[byte; 64]`.
    fn hs_with(kid: &str, byte: u8) -> String {
        hs_raw(
            &json!({"alg": "HS256", "kid": kid}).to_string(),
            &good_claims().to_string(),
            &[byte; 64],
        )
    }

    #[test]
    fn unknown_kid_falls_back_to_kidless_keys() {
        // kid "x" against a kid-less key: tried, verifies
        verify_with(json!([oct_jwk(None, 1)]), &hs_with("x", 1)).unwrap();
        // kid "x" against a key with kid "y": never tried, even though it would verify
        assert_eq!(
            verify_with(json!([oct_jwk(Some("y"), 1)]), &hs_with("x", 1)),
            Err(JwtError::UnknownKid)
        );
        // kid "x" against ["y", kid-less]: the kid-less key verifies; the "y" key is not tried
        let mixed = json!([oct_jwk(Some("y"), 2), oct_jwk(None, 1)]);
        verify_with(mixed.clone(), &hs_with("x", 1)).unwrap();
        assert_eq!(
            verify_with(mixed.clone(), &hs_with("x", 2)),
            Err(JwtError::BadSignature)
        );
        // a forged token is still a bad signature
        assert_eq!(
            verify_with(json!([oct_jwk(None, 1)]), &hs_with("x", 9)),
            Err(JwtError::BadSignature)
        );
        assert_eq!(
            verify_with(mixed, &hs_with("x", 9)),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn kid_fallback_needs_a_kidless_key_that_fits_alg() {
        // kid-less keys that cannot verify HS256 (RSA; an ES512-only P-521 key) are no candidates:
        // UnknownKid, so a remote key set is refetched
        let p521 = {
            let mut k = p521_jwk(&p521_key(3), "z");
            k.as_object_mut().unwrap().remove("kid");
            k
        };
        let mut rsa = rsa_jwk("r", None);
        rsa.as_object_mut().unwrap().remove("kid");
        let jwks = json!([rsa, p521, oct_jwk(Some("y"), 1)]);
        assert_eq!(
            verify_with(jwks.clone(), &hs_with("x", 1)),
            Err(JwtError::UnknownKid)
        );
        // the same kid-less keys do serve their own algorithms under an unknown kid
        let key = p521_key(3);
        let t = es512_token(&key, json!({"alg": "ES512", "kid": "x"}), good_claims());
        verify_with(jwks.clone(), &t).unwrap();
        let t = rsa_pair().with_key_id("x").sign(jwt_claims()).unwrap();
        verify_with(jwks, &t).unwrap();
        // an HS256-only oct key (32 bytes) is no candidate for HS512
        let short = json!([{"kty": "oct", "k": b64(&[1u8; 32])}]);
        let t = hs_raw(
            &json!({"alg": "HS512", "kid": "x"}).to_string(),
            &good_claims().to_string(),
            &[1u8; 32],
        );
        assert_eq!(verify_with(short, &t), Err(JwtError::UnknownKid));
    }

    #[test]
    fn known_kid_does_not_fall_back() {
        // a key has the token's kid: only it is tried, never the kid-less key that signed the token
        let jwks = json!([oct_jwk(Some("x"), 2), oct_jwk(None, 1)]);
        assert_eq!(
            verify_with(jwks.clone(), &hs_with("x", 1)),
            Err(JwtError::BadSignature)
        );
        verify_with(jwks, &hs_with("x", 2)).unwrap();
        // ... and if that key cannot verify alg, the answer is AlgNotAllowed, not the kid-less key
        let jwks = json!([rsa_jwk("x", None), oct_jwk(None, 1)]);
        assert_eq!(
            verify_with(jwks, &hs_with("x", 1)).unwrap_err().reason(),
            Reason::AlgNotAllowed
        );
    }

    #[test]
    fn kid_fallback_is_bounded_like_kidless_tokens() {
        // a key with another kid, then six kid-less keys: a token with an unknown kid tries the first
        // MAX_CANDIDATE_KEYS kid-less ones; a token without kid the first MAX_CANDIDATE_KEYS keys of
        // all, the "y" one included
        let mut keys = vec![oct_jwk(Some("y"), 100)];
        keys.extend((1..=6).map(|b| oct_jwk(None, b)));
        let jwks = Value::Array(keys);
        for byte in 1..=6u8 {
            let fallback = verify_with(jwks.clone(), &hs_with("x", byte));
            if usize::from(byte) <= MAX_CANDIDATE_KEYS {
                fallback.unwrap();
            } else {
                assert_eq!(fallback, Err(JwtError::BadSignature), "key {byte}");
            }
            let t = hs_raw(
                &json!({"alg": "HS256"}).to_string(),
                &good_claims().to_string(),
                &[byte; 64],
            );
            let kidless = verify_with(jwks.clone(), &t);
            if usize::from(byte) < MAX_CANDIDATE_KEYS {
                kidless.unwrap();
            } else {
                assert_eq!(kidless, Err(JwtError::BadSignature), "key {byte}");
            }
        }
    }

    #[test]
    fn reason_bad_signature() {
        let t = hs_raw(
            &hs_header().to_string(),
            &good_claims().to_string(),
            &[8u8; 32],
        );
        let e = check(&t).unwrap_err();
        assert_eq!(e, JwtError::BadSignature);
        assert_eq!(e.reason(), Reason::BadSignature);
        // tampered payload
        let good = hs(hs_header(), good_claims());
        let parts: Vec<&str> = good.split('.').collect();
        let forged = with(good_claims(), "sub", json!("root"));
        let t = format!(
            "{}.{}.{}",
            parts[0],
            b64(forged.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(check(&t), Err(JwtError::BadSignature));
        // RSA with a short signature: an error, not a panic
        let doc = json!({"keys": [rsa_jwk("r", None)]});
        let (keys, _) = KeySet::from_value(&doc).unwrap();
        let t = raw_token(
            r#"{"alg":"RS256","kid":"r"}"#,
            &good_claims().to_string(),
            b"x",
        );
        assert_eq!(
            verify(&t, &rules(), &keys, NOW),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn reason_expired_and_skew() {
        let c = with(good_claims(), "exp", json!(NOW - 61));
        assert_eq!(check(&hs(hs_header(), c)), Err(JwtError::Expired));
        assert_eq!(JwtError::Expired.reason(), Reason::Expired);
        let c = with(good_claims(), "exp", json!(NOW - 60));
        check(&hs(hs_header(), c)).unwrap();
        let c = with(good_claims(), "exp", json!(NOW as f64 - 59.5));
        check(&hs(hs_header(), c)).unwrap();
    }

    #[test]
    fn reason_not_yet_valid() {
        let c = with(good_claims(), "nbf", json!(NOW + 61));
        let e = check(&hs(hs_header(), c)).unwrap_err();
        assert_eq!(e, JwtError::NotYetValid);
        assert_eq!(e.reason(), Reason::NotYetValid);
        let c = with(good_claims(), "nbf", json!(NOW + 60));
        check(&hs(hs_header(), c)).unwrap();
    }

    #[test]
    fn reason_lifetime_too_long() {
        let keys = hs_keys();
        let mut p = rules();
        p.max_lifetime_seconds = Some(3600);
        let c = with(good_claims(), "exp", json!(NOW + 3661));
        let e = verify(&hs(hs_header(), c), &p, &keys, NOW).unwrap_err();
        assert_eq!(e, JwtError::LifetimeTooLong);
        assert_eq!(e.reason(), Reason::LifetimeTooLong);
        // issued long ago with a long lifetime: exp - iat too long
        let c = with(good_claims(), "iat", json!(NOW - 7200));
        let c = with(c, "exp", json!(NOW + 600));
        assert_eq!(
            verify(&hs(hs_header(), c), &p, &keys, NOW),
            Err(JwtError::LifetimeTooLong)
        );
        let c = with(good_claims(), "exp", json!(NOW + 3600));
        verify(&hs(hs_header(), c), &p, &keys, NOW).unwrap();
        // with a maximum lifetime, exp is required even if require_exp is off
        p.require_exp = false;
        let c = without(good_claims(), "exp");
        assert_eq!(
            verify(&hs(hs_header(), c), &p, &keys, NOW),
            Err(JwtError::MissingClaim("exp"))
        );
    }

    #[test]
    fn reason_missing_claim() {
        let e = check(&hs(hs_header(), without(good_claims(), "exp"))).unwrap_err();
        assert_eq!(e, JwtError::MissingClaim("exp"));
        assert_eq!(e.reason(), Reason::MissingClaim);
        let e = check(&hs(hs_header(), without(good_claims(), "iss"))).unwrap_err();
        assert_eq!(e, JwtError::MissingClaim("iss"));
        // exp optional when configured so
        let keys = hs_keys();
        let mut p = rules();
        p.require_exp = false;
        verify(
            &hs(hs_header(), without(good_claims(), "exp")),
            &p,
            &keys,
            NOW,
        )
        .unwrap();
    }

    fn claim_name(k: &str) -> &'static str {
        ["exp", "nbf", "iat", "aud", "iss", "sub", "jti"]
            .into_iter()
            .find(|n| *n == k)
            .unwrap()
    }

    #[test]
    fn reason_invalid_claim() {
        for (k, v) in [
            ("exp", json!("1700000300")),
            ("exp", json!(-1)),
            ("exp", json!(1e300)),
            ("exp", json!(-0.5)),
            ("exp", json!(18446744073709551615u64)),
            ("exp", json!(null)),
            ("exp", json!(true)),
            ("nbf", json!([1])),
            ("iat", json!({"a": 1})),
            ("aud", json!(5)),
            ("aud", json!(["api", 5])),
            ("iss", json!(5)),
            ("sub", json!(5)),
            ("jti", json!(false)),
        ] {
            let e = check(&hs(hs_header(), with(good_claims(), k, v.clone()))).unwrap_err();
            assert_eq!(e, JwtError::InvalidClaim(claim_name(k)), "{k}={v}");
            assert_eq!(e.reason(), Reason::InvalidClaim);
        }
        // aud as a number is refused even when the provider checks no audience
        let keys = hs_keys();
        let mut p = rules();
        p.audiences.clear();
        let c = with(good_claims(), "aud", json!(5));
        assert_eq!(
            verify(&hs(hs_header(), c), &p, &keys, NOW),
            Err(JwtError::InvalidClaim("aud"))
        );
    }

    #[test]
    fn reason_wrong_issuer() {
        for iss in [
            "https://evil.example",
            "https://IDP.example",
            "https://idp.example/",
            "",
        ] {
            let e = check(&hs(hs_header(), with(good_claims(), "iss", json!(iss)))).unwrap_err();
            assert_eq!(e, JwtError::WrongIssuer, "{iss}");
            assert_eq!(e.reason(), Reason::WrongIssuer);
        }
    }

    #[test]
    fn reason_wrong_audience() {
        for aud in [json!("nope"), json!([]), json!(["x", "y"]), json!("API")] {
            let e = check(&hs(hs_header(), with(good_claims(), "aud", aud.clone()))).unwrap_err();
            assert_eq!(e, JwtError::WrongAudience, "{aud}");
            assert_eq!(e.reason(), Reason::WrongAudience);
        }
        let e = check(&hs(hs_header(), without(good_claims(), "aud"))).unwrap_err();
        assert_eq!(e, JwtError::WrongAudience);
        check(&hs(
            hs_header(),
            with(good_claims(), "aud", json!(["x", "other"])),
        ))
        .unwrap();
        // no audiences configured: aud not checked
        let keys = hs_keys();
        let mut p = rules();
        p.audiences.clear();
        verify(
            &hs(hs_header(), without(good_claims(), "aud")),
            &p,
            &keys,
            NOW,
        )
        .unwrap();
    }

    #[test]
    fn typ_and_other_header_members() {
        for typ in ["JWT", "jwt", "at+jwt", "application/at+JWT"] {
            check(&hs(with(hs_header(), "typ", json!(typ)), good_claims())).unwrap();
        }
        for typ in [json!("JOSE"), json!(1), json!("+jwt")] {
            let e = check(&hs(with(hs_header(), "typ", typ), good_claims())).unwrap_err();
            assert!(matches!(e, JwtError::Malformed(_)));
        }
        let e = check(&hs(with(hs_header(), "salt", json!("AAAA")), good_claims())).unwrap_err();
        assert!(matches!(e, JwtError::Malformed(_)));
        // unknown header members are fine
        check(&hs(
            with(hs_header(), "foo", json!({"bar": 1})),
            good_claims(),
        ))
        .unwrap();
    }

    #[test]
    fn huge_now_does_not_panic() {
        let t = hs(hs_header(), without(good_claims(), "exp"));
        let keys = hs_keys();
        let mut p = rules();
        p.require_exp = false;
        let _ = verify(&t, &p, &keys, u64::MAX);
        let c = with(good_claims(), "exp", json!(i64::MAX));
        let _ = verify(&hs(hs_header(), c), &p, &keys, u64::MAX);
        let c = with(good_claims(), "exp", json!(i64::MAX));
        verify(&hs(hs_header(), c), &p, &keys, NOW).unwrap();
    }

    #[test]
    fn every_error_maps_to_its_reason_and_never_shows_the_token() {
        let all = [
            JwtError::TokenTooLarge,
            JwtError::Malformed("m"),
            JwtError::AlgNotAllowed("a"),
            JwtError::UnsupportedCrit,
            JwtError::UnknownKid,
            JwtError::MissingClaim("exp"),
            JwtError::InvalidClaim("exp"),
            JwtError::Expired,
            JwtError::NotYetValid,
            JwtError::LifetimeTooLong,
            JwtError::WrongIssuer,
            JwtError::WrongAudience,
            JwtError::BadSignature,
        ];
        let reasons: std::collections::HashSet<_> = all.iter().map(JwtError::reason).collect();
        assert_eq!(reasons.len(), all.len());
        for e in all {
            assert!(e.to_string().starts_with(e.reason().code()));
        }
    }

    type Verdict = Box<dyn Fn(&str) -> bool>;

    /// Our signature layer against jwt-simple's on many random keys: every valid token verifies with
    /// both, and every mutation (signature bit flips, truncation, extension, tampered payload, swapped
    /// keys) is refused by both. Verdicts must agree case by case.
    #[test]
    fn signature_layer_agrees_with_jwt_simple() {
        let opts = || {
            Some(VerificationOptions {
                artificial_time: Some(UnixTimeStamp::from_secs(NOW)),
                time_tolerance: Some(Duration::from_secs(3600)),
                ..VerificationOptions::default()
            })
        };
        let mut cases = 0;
        for round in 0..6u8 {
            // (token, our JWKS entry, jwt-simple's verdict function)
            let mut subjects: Vec<(String, Value, Verdict)> = Vec::new();
            let es = ES256KeyPair::generate();
            let p = es.public_key().public_key().to_bytes_uncompressed();
            let pk = es.public_key();
            subjects.push((
                es.sign(jwt_claims()).unwrap(),
                json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])}),
                Box::new(move |t: &str| pk.verify_token::<Map<String, Value>>(t, opts()).is_ok()),
            ));
            let es = ES384KeyPair::generate();
            let p = es.public_key().public_key().to_bytes_uncompressed();
            let pk = es.public_key();
            subjects.push((
                es.sign(jwt_claims()).unwrap(),
                json!({"kty": "EC", "crv": "P-384", "x": b64(&p[1..49]), "y": b64(&p[49..])}),
                Box::new(move |t: &str| pk.verify_token::<Map<String, Value>>(t, opts()).is_ok()),
            ));
            let ed = Ed25519KeyPair::generate();
            let pk = ed.public_key();
            subjects.push((
                ed.sign(jwt_claims()).unwrap(),
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&pk.to_bytes())}),
                Box::new(move |t: &str| pk.verify_token::<Map<String, Value>>(t, opts()).is_ok()),
            ));
            let secret: Vec<u8> = (0..64u8)
                .map(|i| i.wrapping_mul(31).wrapping_add(round))
                .collect();
            let (k256, k384, k512) = (
                HS256Key::from_bytes(&secret),
                HS384Key::from_bytes(&secret),
                HS512Key::from_bytes(&secret),
            );
            let oct = json!({"kty": "oct", "k": b64(&secret)});
            subjects.push((
                k256.authenticate(jwt_claims()).unwrap(),
                oct.clone(),
                Box::new(move |t: &str| k256.verify_token::<Map<String, Value>>(t, opts()).is_ok()),
            ));
            subjects.push((
                k384.authenticate(jwt_claims()).unwrap(),
                oct.clone(),
                Box::new(move |t: &str| k384.verify_token::<Map<String, Value>>(t, opts()).is_ok()),
            ));
            subjects.push((
                k512.authenticate(jwt_claims()).unwrap(),
                oct,
                Box::new(move |t: &str| k512.verify_token::<Map<String, Value>>(t, opts()).is_ok()),
            ));
            for (token, jwk, theirs) in &subjects {
                let (keys, _) = KeySet::from_value(&json!({ "keys": [jwk] })).unwrap();
                let ours = |t: &str| verify(t, &rules(), &keys, NOW).is_ok();
                assert!(ours(token) && theirs(token), "valid token refused: {jwk}");
                let (input, sig64) = token.rsplit_once('.').unwrap();
                let sig = b64url_decode(sig64).unwrap();
                let mut mutants = Vec::new();
                for i in (0..sig.len()).step_by(7) {
                    let mut m = sig.clone();
                    m[i] ^= 1 << (i % 8);
                    mutants.push(format!("{input}.{}", b64(&m)));
                }
                mutants.push(format!("{input}.{}", b64(&sig[..sig.len() - 1])));
                mutants.push(format!("{input}.{}", b64(&[sig.as_slice(), &[0]].concat())));
                mutants.push(format!("{input}.{}", b64(&vec![0u8; sig.len()])));
                let (h, p) = input.split_once('.').unwrap();
                let payload = b64(&serde_json::to_vec(&with(
                    serde_json::from_slice(&b64url_decode(p).unwrap()).unwrap(),
                    "sub",
                    json!("mallory"),
                ))
                .unwrap());
                mutants.push(format!("{h}.{payload}.{sig64}"));
                for (other, _, _) in &subjects {
                    if other != token {
                        let (_, other_sig) = other.rsplit_once('.').unwrap();
                        mutants.push(format!("{input}.{other_sig}"));
                    }
                }
                for m in &mutants {
                    cases += 1;
                    assert_eq!(
                        ours(m),
                        theirs(m),
                        "verdicts differ for a mutant of a {jwk} token"
                    );
                    assert!(!ours(m), "mutant accepted");
                }
            }
        }
        assert!(cases > 250, "{cases}");
    }
}
