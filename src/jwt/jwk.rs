//! JSON Web Keys (RFC 7517): parsing a JWKS into keys we can verify with. Unusable keys are skipped and
//! reported (never with key material); a document without a single usable key is rejected.
//!
//! Keys are parsed into verification key objects ([`super::crypto`]'s RSA, ES256, ES512 and EdDSA
//! keys, p384 keys, HMAC secrets) **once**, here (each key family's parameters in `jwk/params.rs`),
//! and shared (`Rc`) by every request.
//!
//! What is accepted:
//! - `kty: "RSA"` (`n`, `e`): RS256/384/512 and PS256/384/512. The modulus must be 2048..=4096 bits and
//!   `e` must be 65537 (jwt-simple's policy; shorter moduli are breakable or close to it).
//! - `kty: "EC"`, `crv: "P-256"` → ES256, `crv: "P-384"` → ES384, `crv: "P-521"` → ES512 (`x`, `y`:
//!   exactly 32, 48 or 66 bytes each, a point of the curve, checked here).
//! - `kty: "OKP"`, `crv: "Ed25519"` → EdDSA (`x`).
//! - `kty: "oct"` (`k`, at least 256 bits) → HS256, and HS384/HS512 only when the secret is at least as
//!   long as the hash output (RFC 7518 §3.2).
//!
//! A key is skipped when: it is not an object; `kid` is not a string; `kty`/`crv` is unknown; `use` is
//! present and not `"sig"`; `key_ops` is present without `"verify"`; `alg` is present and unsupported or
//! does not fit the key type; a parameter is not strict base64url (no padding) or is invalid; an
//! asymmetric key carries private material (`d`: a published private key is a compromised key).
//! Only the first [`MAX_KEYS`] entries of `keys` are considered.

mod params;

use super::crypto::eddsa::Ed25519Key;
use super::crypto::es256::P256Key;
use super::crypto::es512::P521Key;
use super::crypto::rsa::RsaPublicKey;
use p384::ecdsa::VerifyingKey as P384Key;
use serde_json::Value;
use std::fmt;
use std::rc::Rc;

/// At most this many entries of a JWKS `keys` array are looked at; the rest are reported as skipped.
pub const MAX_KEYS: usize = 256;
/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits (jwt-simple's limit).
pub const MAX_RSA_BITS: usize = 4096;
/// Smallest accepted HMAC secret, in bytes.
pub const MIN_HMAC_BYTES: usize = 32;

/// A JWS algorithm we can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
    HS256,
    HS384,
    HS512,
}

impl Alg {
    /// Every supported algorithm (the default `algorithms` of a provider).
    pub const ALL: [Alg; 13] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::ES512,
        Alg::EdDSA,
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
    ];

    /// The JOSE name (`RS256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
            Alg::EdDSA => "EdDSA",
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
        }
    }

    /// Parses a JOSE name, exactly (case-sensitive, as RFC 7515 requires).
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// HMAC algorithms (shared secret).
    pub fn is_symmetric(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The key type of a JWK (with the curve for EC/OKP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    P256,
    P384,
    P521,
    Ed25519,
    Oct,
}

impl KeyType {
    /// The algorithms this key type can verify.
    pub fn algorithms(self) -> &'static [Alg] {
        match self {
            KeyType::Rsa => &[
                Alg::RS256,
                Alg::RS384,
                Alg::RS512,
                Alg::PS256,
                Alg::PS384,
                Alg::PS512,
            ],
            KeyType::P256 => &[Alg::ES256],
            KeyType::P384 => &[Alg::ES384],
            KeyType::P521 => &[Alg::ES512],
            KeyType::Ed25519 => &[Alg::EdDSA],
            KeyType::Oct => &[Alg::HS256, Alg::HS384, Alg::HS512],
        }
    }
}

/// A key object ready to verify one algorithm.
#[derive(Clone)]
pub(crate) enum Verifier {
    /// RS256/384/512 and PS256/384/512 through `crypto::rsa` (32-bit Montgomery arithmetic: about 9×
    /// faster than jwt-simple's RSA under V8); the key is shared by the algorithms it serves.
    Rsa(Alg, Rc<RsaPublicKey>),
    /// ES256 through `crypto::es256` (precomputed tables on `p256`'s arithmetic).
    Es256(Rc<P256Key>),
    /// ES384 through `p384` (as jwt-simple), ES512 through `p521` (`crypto::es512`).
    Es384(Rc<P384Key>),
    Es512(Rc<P521Key>),
    /// EdDSA through `ed25519-dalek` (`crypto::eddsa`).
    EdDsa(Rc<Ed25519Key>),
    /// HMAC (hmac-sha256 / hmac-sha512): the alg and the shared secret.
    Hmac(Alg, Rc<Vec<u8>>),
}

impl Verifier {
    pub(crate) fn alg(&self) -> Alg {
        match self {
            Verifier::Rsa(alg, _) => *alg,
            Verifier::Es256(_) => Alg::ES256,
            Verifier::Es384(_) => Alg::ES384,
            Verifier::Es512(_) => Alg::ES512,
            Verifier::EdDsa(_) => Alg::EdDSA,
            Verifier::Hmac(alg, _) => *alg,
        }
    }
}

/// One usable key of a key set. `Debug` shows the kid, type and algorithms, never key material.
#[derive(Clone)]
pub struct Jwk {
    kid: Option<String>,
    kty: KeyType,
    /// The JWK's own `alg`, if it had one.
    alg: Option<Alg>,
    verifiers: Vec<Verifier>,
}

impl Jwk {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    pub fn key_type(&self) -> KeyType {
        self.kty
    }
    /// The JWK's own `alg` member, if any.
    pub fn alg(&self) -> Option<Alg> {
        self.alg
    }
    /// True if this key may verify `alg`: the algorithm fits the key type (and curve), the JWK's own
    /// `alg` if present, and (for HMAC) the secret's length.
    pub fn supports(&self, alg: Alg) -> bool {
        self.verifiers.iter().any(|v| v.alg() == alg)
    }
    pub(crate) fn verifier(&self, alg: Alg) -> Option<&Verifier> {
        self.verifiers.iter().find(|v| v.alg() == alg)
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("kty", &self.kty)
            .field(
                "algs",
                &self.verifiers.iter().map(Verifier::alg).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A parsed key set. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Rc<Vec<Jwk>>,
    fingerprint: u64,
}

impl KeySet {
    /// Parses a JWKS document (see [`parse_jwks`]).
    pub fn from_json(json: &[u8]) -> Result<(KeySet, Vec<SkippedKey>), JwksError> {
        parse_jwks(json)
    }

    /// Builds a key set from an already-parsed JWKS value (the inline case).
    pub fn from_value(doc: &Value) -> Result<(KeySet, Vec<SkippedKey>), JwksError> {
        parse_jwks_value(doc)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    /// The usable keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }
    /// A stable digest of the usable keys (kids, types, algorithms and public parameters; secrets only
    /// through SHA-256). Equal documents give equal fingerprints: use it to notice key rotation.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
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
    /// Valid JSON, but not an object with a `keys` array.
    NotJwks,
    NoUsableKeys,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::NotJson(e) => write!(f, "not a JWKS JSON document: {e}"),
            JwksError::NotJwks => write!(f, "not a JWKS: expected an object with a \"keys\" array"),
            JwksError::NoUsableKeys => write!(f, "no usable signature keys"),
        }
    }
}

impl std::error::Error for JwksError {}

/// Parses a JWKS document.
pub fn parse_jwks(json: &[u8]) -> Result<(KeySet, Vec<SkippedKey>), JwksError> {
    let doc: Value = serde_json::from_slice(json).map_err(|e| {
        // serde_json's messages quote no input beyond positions and types.
        JwksError::NotJson(e.to_string())
    })?;
    parse_jwks_value(&doc)
}

fn parse_jwks_value(doc: &Value) -> Result<(KeySet, Vec<SkippedKey>), JwksError> {
    let list = doc
        .as_object()
        .and_then(|o| o.get("keys"))
        .and_then(Value::as_array)
        .ok_or(JwksError::NotJwks)?;
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    let mut digest = hmac_sha256::Hash::new();
    for entry in list.iter().take(MAX_KEYS) {
        let kid = entry.get("kid").and_then(Value::as_str).map(str::to_string);
        match parse_jwk(entry) {
            Ok((jwk, params)) => {
                digest_key(&mut digest, &jwk, &params);
                keys.push(jwk);
            }
            Err(why) => skipped.push(SkippedKey {
                kid,
                why: why.to_string(),
            }),
        }
    }
    if list.len() > MAX_KEYS {
        skipped.push(SkippedKey {
            kid: None,
            why: format!(
                "{} keys beyond the first {MAX_KEYS} were ignored",
                list.len() - MAX_KEYS
            ),
        });
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKeys);
    }
    let [a, b, c, d, e, f, g, h, ..] = digest.finalize();
    Ok((
        KeySet {
            keys: Rc::new(keys),
            fingerprint: u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        },
        skipped,
    ))
}

fn digest_key(digest: &mut hmac_sha256::Hash, jwk: &Jwk, params: &[Vec<u8>]) {
    let mut field = |b: &[u8]| {
        digest.update((b.len() as u64).to_be_bytes());
        digest.update(b);
    };
    field(jwk.kid.as_deref().unwrap_or("").as_bytes());
    field(&[u8::from(jwk.kid.is_some())]);
    field(format!("{:?}", jwk.kty).as_bytes());
    for v in &jwk.verifiers {
        field(v.alg().name().as_bytes());
    }
    for p in params {
        if jwk.kty == KeyType::Oct {
            field(&hmac_sha256::Hash::hash(p));
        } else {
            field(p);
        }
    }
}

/// Strict base64url without padding (RFC 7515 §2): only `A-Z a-z 0-9 - _`, canonical trailing bits.
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

fn str_member<'a>(o: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match o.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("\"{name}\" is not a string")),
        None => Err(format!("\"{name}\" is missing")),
    }
}

fn b64_member(o: &serde_json::Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    b64url_decode(str_member(o, name)?)
        .ok_or_else(|| format!("\"{name}\" is not base64url without padding"))
}

/// Parses one JWK; on success also returns its public parameters (for the fingerprint).
fn parse_jwk(entry: &Value) -> Result<(Jwk, Vec<Vec<u8>>), String> {
    let o = entry.as_object().ok_or("not a JSON object")?;
    let kid = match o.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("\"kid\" is not a string".into()),
    };
    match o.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err("\"use\" is not \"sig\"".into()),
    }
    match o.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(_) => return Err("\"key_ops\" does not include \"verify\"".into()),
    }
    let alg = match o.get("alg") {
        None => None,
        Some(Value::String(a)) => {
            Some(Alg::from_name(a).ok_or_else(|| "unsupported \"alg\"".to_string())?)
        }
        Some(_) => return Err("\"alg\" is not a string".into()),
    };
    let kty_name = str_member(o, "kty")?;
    let crv = || str_member(o, "crv");
    let kty = match kty_name {
        "RSA" => KeyType::Rsa,
        "EC" => match crv()? {
            "P-256" => KeyType::P256,
            "P-384" => KeyType::P384,
            "P-521" => KeyType::P521,
            _ => return Err("unsupported EC curve".into()),
        },
        "OKP" => match crv()? {
            "Ed25519" => KeyType::Ed25519,
            _ => return Err("unsupported OKP curve".into()),
        },
        "oct" => KeyType::Oct,
        _ => return Err("unsupported \"kty\"".into()),
    };
    if let Some(a) = alg {
        if !kty.algorithms().contains(&a) {
            return Err(format!("\"alg\" {a} does not fit the key type"));
        }
    }
    if kty != KeyType::Oct && o.contains_key("d") {
        return Err("the key publishes private material (\"d\")".into());
    }
    let wanted: Vec<Alg> = match alg {
        Some(a) => vec![a],
        None => kty.algorithms().to_vec(),
    };
    let (verifiers, params) = params::parse(kty, o, &wanted)?;
    Ok((
        Jwk {
            kid,
            kty,
            alg,
            verifiers,
        },
        params,
    ))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256KeyPair, Ed25519KeyPair};
    use serde_json::json;

    fn b64(b: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn oct(kid: &str) -> Value {
        json!({"kty": "oct", "kid": kid, "k": b64(&[3u8; 32])})
    }

    fn ec(kid: &str) -> Value {
        let p = ES256KeyPair::generate()
            .public_key()
            .public_key()
            .to_bytes_uncompressed();
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&p[1..33]), "y": b64(&p[33..])})
    }

    /// A P-521 JWK (a fixed test key; the scalar is below 2^520, so valid).
    fn ec521(kid: &str) -> Value {
        let mut secret = [0u8; 66];
        secret[1..65].copy_from_slice(&hmac_sha512::Hash::hash(kid.as_bytes()));
        let sk = p521::ecdsa::SigningKey::from_slice(&secret).unwrap();
        let p = sk.verifying_key().to_sec1_point(false);
        let p = p.as_bytes();
        json!({"kty": "EC", "crv": "P-521", "kid": kid, "x": b64(&p[1..67]), "y": b64(&p[67..])})
    }

    fn parse(keys: Vec<Value>) -> Result<(KeySet, Vec<SkippedKey>), JwksError> {
        parse_jwks(json!({ "keys": keys }).to_string().as_bytes())
    }

    fn skipped_why(key: Value) -> String {
        let (set, skipped) = parse(vec![oct("good"), key]).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        skipped[0].why.clone()
    }

    #[test]
    fn bad_keys_are_skipped_good_ones_kept() {
        let mut enc = oct("e");
        enc["use"] = json!("enc");
        assert!(skipped_why(enc).contains("use"));
        let mut ops = oct("o");
        ops["key_ops"] = json!(["encrypt"]);
        assert!(skipped_why(ops).contains("key_ops"));
        let mut ok_ops = oct("o2");
        ok_ops["key_ops"] = json!(["sign", "verify"]);
        ok_ops["use"] = json!("sig");
        assert_eq!(parse(vec![ok_ops]).unwrap().0.len(), 1);
        assert!(skipped_why(json!({"kty": "XYZ", "kid": "x"})).contains("kty"));
        assert!(
            skipped_why(json!({"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"}))
                .contains("curve")
        );
        assert!(
            skipped_why(json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}))
                .contains("curve")
        );
        assert!(skipped_why(json!({"kty": "OKP", "crv": "X25519", "x": "AA"})).contains("curve"));
        assert!(skipped_why(json!("a string")).contains("object"));
        assert!(skipped_why(json!({"kid": "no kty"})).contains("kty"));
        let mut alg = oct("a");
        alg["alg"] = json!("RS1");
        assert!(skipped_why(alg).contains("alg"));
        let mut alg = oct("a");
        alg["alg"] = json!("RS256");
        assert!(skipped_why(alg).contains("does not fit"));
        let mut kid = oct("k");
        kid["kid"] = json!(7);
        assert!(skipped_why(kid).contains("kid"));
    }

    #[test]
    fn malformed_parameters_are_skipped_without_key_material() {
        let secret = b64(&[3u8; 32]);
        for k in [
            format!("{secret}="),
            format!("{secret}+"),
            format!(" {secret}"),
            "!!".into(),
        ] {
            let why = skipped_why(json!({"kty": "oct", "k": k}));
            assert!(why.contains("base64url"), "{why}");
            assert!(!why.contains(&secret));
        }
        let why = skipped_why(json!({"kty": "oct", "k": b64(&[3u8; 16])}));
        assert!(why.contains("shorter"), "{why}");
        let mut e = ec("e");
        e["x"] = json!(b64(&[1u8; 32]));
        assert!(skipped_why(e).contains("invalid EC"));
        let mut e = ec("e");
        e["d"] = json!(b64(&[1u8; 32]));
        assert!(skipped_why(e).contains("private"));
        let why = skipped_why(json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[1u8; 31])}));
        assert!(why.contains("length"));
    }

    #[test]
    fn p521_keys_are_checked_strictly() {
        let (set, skipped) = parse(vec![ec521("p")]).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let key = &set.keys()[0];
        assert_eq!(key.key_type(), KeyType::P521);
        assert!(key.supports(Alg::ES512));
        assert!(!key.supports(Alg::ES384) && !key.supports(Alg::ES256));
        let mut k = ec521("p");
        k["alg"] = json!("ES512");
        assert_eq!(parse(vec![k]).unwrap().0.keys()[0].alg(), Some(Alg::ES512));
        // coordinates of the wrong length: 65 bytes (a leading zero dropped), 67, or P-384's 48
        let good = ec521("p");
        let x = b64url_decode(good["x"].as_str().unwrap()).unwrap();
        let y = b64url_decode(good["y"].as_str().unwrap()).unwrap();
        for (x, y) in [
            (x[1..].to_vec(), y.clone()),
            (x.clone(), [y.as_slice(), &[0]].concat()),
            (x[18..].to_vec(), y[18..].to_vec()),
        ] {
            let mut k = good.clone();
            k["x"] = json!(b64(&x));
            k["y"] = json!(b64(&y));
            assert!(skipped_why(k).contains("length"));
        }
        // not on the curve; a coordinate not below p = 2^521 - 1; the identity's encoding
        let mut k = good.clone();
        let mut off = y.clone();
        off[65] ^= 1;
        k["y"] = json!(b64(&off));
        assert!(skipped_why(k).contains("invalid EC"));
        let mut k = good.clone();
        let mut p = vec![0xffu8; 66];
        p[0] = 0x01;
        k["x"] = json!(b64(&p));
        assert!(skipped_why(k).contains("invalid EC"));
        let mut k = good.clone();
        k["x"] = json!(b64(&[0u8; 66]));
        k["y"] = json!(b64(&[0u8; 66]));
        assert!(skipped_why(k).contains("invalid EC"));
        // private material, or an alg of another curve
        let mut k = good.clone();
        k["d"] = json!(b64(&[1u8; 66]));
        assert!(skipped_why(k).contains("private"));
        let mut k = good.clone();
        k["alg"] = json!("ES384");
        assert!(skipped_why(k).contains("does not fit"));
        let mut k = ec("e");
        k["alg"] = json!("ES512");
        assert!(skipped_why(k).contains("does not fit"));
        // a P-521 key's coordinates under another curve name are refused
        let mut k = good.clone();
        k["crv"] = json!("P-384");
        assert!(skipped_why(k).contains("length"));
        // the fingerprint covers the new key type
        let fp = |keys: Vec<Value>| parse(keys).unwrap().0.fingerprint();
        assert_eq!(fp(vec![ec521("p")]), fp(vec![ec521("p")]));
        let mut renamed = ec521("q");
        renamed["kid"] = json!("p");
        assert_ne!(fp(vec![ec521("p")]), fp(vec![renamed]));
    }

    #[test]
    fn short_rsa_modulus_is_skipped() {
        let mut n = vec![0xffu8; 128]; // 1024 bits
        n[127] = 0xfd;
        let why = skipped_why(json!({"kty": "RSA", "n": b64(&n), "e": "AQAB"}));
        assert!(why.contains("2048"), "{why}");
        let n = vec![0xffu8; 256];
        let why = skipped_why(json!({"kty": "RSA", "n": b64(&n), "e": "Aw"}));
        assert!(why.contains("RSA"), "{why}");
    }

    #[test]
    fn algorithms_follow_key_type_and_jwk_alg() {
        let mut k = oct("h");
        k["k"] = json!(b64(&[3u8; 48]));
        let (set, _) = parse(vec![k]).unwrap();
        let key = &set.keys()[0];
        assert!(key.supports(Alg::HS256) && key.supports(Alg::HS384) && !key.supports(Alg::HS512));
        assert!(!key.supports(Alg::RS256));
        let mut k = oct("h");
        k["alg"] = json!("HS512");
        assert!(skipped_why(k).contains("shorter"));
        let (set, _) = parse(vec![ec("e")]).unwrap();
        assert!(set.keys()[0].supports(Alg::ES256) && !set.keys()[0].supports(Alg::ES384));
        let x = Ed25519KeyPair::generate().public_key().to_bytes();
        let (set, _) = parse(vec![
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x), "alg": "EdDSA"}),
        ])
        .unwrap();
        assert_eq!(set.keys()[0].alg(), Some(Alg::EdDSA));
        assert!(set.keys()[0].supports(Alg::EdDSA));
        assert_eq!(set.keys()[0].kid(), None);
    }

    #[test]
    fn whole_document_errors() {
        assert!(matches!(parse_jwks(b"nope"), Err(JwksError::NotJson(_))));
        assert_eq!(parse_jwks(b"[]").unwrap_err(), JwksError::NotJwks);
        assert_eq!(
            parse_jwks(br#"{"keys": {}}"#).unwrap_err(),
            JwksError::NotJwks
        );
        assert_eq!(
            parse_jwks(br#"{"keys": []}"#).unwrap_err(),
            JwksError::NoUsableKeys
        );
        let mut enc = oct("e");
        enc["use"] = json!("enc");
        assert_eq!(parse(vec![enc]).unwrap_err(), JwksError::NoUsableKeys);
    }

    #[test]
    fn thousand_keys_are_capped() {
        let keys: Vec<Value> = (0..1000).map(|i| oct(&format!("k{i}"))).collect();
        let (set, skipped) = parse(keys).unwrap();
        assert_eq!(set.len(), MAX_KEYS);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].why.contains("744"));
    }

    #[test]
    fn fingerprint_is_stable_and_tracks_changes() {
        let a = ec("a");
        let fp = |keys: Vec<Value>| parse(keys).unwrap().0.fingerprint();
        assert_eq!(fp(vec![a.clone(), oct("h")]), fp(vec![a.clone(), oct("h")]));
        assert_ne!(
            fp(vec![a.clone(), oct("h")]),
            fp(vec![a.clone(), oct("h2")])
        );
        assert_ne!(fp(vec![a.clone()]), fp(vec![ec("a")]));
        let mut other = oct("h");
        other["k"] = json!(b64(&[4u8; 32]));
        assert_ne!(fp(vec![oct("h")]), fp(vec![other]));
        // cheap clone shares the keys
        let (set, _) = parse(vec![a]).unwrap();
        let clone = set.clone();
        assert!(std::ptr::eq(set.keys().as_ptr(), clone.keys().as_ptr()));
        assert!(!format!("{set:?}").contains(&b64(&[3u8; 32])));
    }

    #[test]
    fn alg_names() {
        for a in Alg::ALL {
            assert_eq!(Alg::from_name(a.name()), Some(a));
        }
        assert_eq!(Alg::from_name("none"), None);
        assert_eq!(Alg::from_name("rs256"), None);
    }
}
