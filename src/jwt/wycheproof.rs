//! Wycheproof JWS vectors (`tests/wycheproof/json_web_signature_test.json`, from C2SP/wycheproof,
//! Apache-2.0, see `tests/wycheproof/LICENSE`) run as a table against edgeguard's verifier.
//!
//! Each test group's JWK becomes a key set through our own JWKS parser (`public`, or
//! `private` for the `oct` groups, which have no public form). Two layers are checked per vector:
//!
//! 1. **Full verification** ([`verify`]): every `invalid` vector must be refused. Wycheproof payloads
//!    are arbitrary bytes (`foo`, empty, zeros), not JWT claim sets, so `valid` vectors are refused
//!    too, at the payload step — that is our stricter rule (we verify JWTs, not arbitrary JWS).
//! 2. **Signature layer**, for every vector that got through compact-form, base64url, header and key
//!    selection and was refused only because its payload is not a JSON object: our key selection
//!    plus the same signature check the verifier uses. `valid` vectors must verify there;
//!    `invalid` ones must not.
//!
//! A `valid` vector that our stricter rules refuse before the signature layer is listed in
//! [`EXCEPTIONS`] with the reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::*;
use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256KeyPair};
use serde_json::json;

const VECTORS: &str = include_str!("../../tests/wycheproof/json_web_signature_test.json");
const NOW: u64 = 1_700_000_000;

/// `valid` vectors edgeguard refuses on purpose before the signature layer, with why.
const EXCEPTIONS: &[(u64, &str)] = &[
    (259, EMPTY_PAYLOAD),
    (264, EMPTY_PAYLOAD),
    (268, EMPTY_PAYLOAD),
    (272, EMPTY_PAYLOAD),
    (320, EMPTY_PAYLOAD),
    (325, EMPTY_PAYLOAD),
    (
        346,
        "token alg PS384 differs from the JWK's own alg PS256: a key with an `alg` verifies only that \
         algorithm (RFC 7517 §4.4 makes it advisory; we make it binding against alg confusion)",
    ),
    (
        347,
        "the P-521 JWK's own alg is \"ES521\", which is no JWS algorithm (the vector's typo for ES512): \
         a JWK with an unsupported alg is skipped, so the key set is unusable; with the alg corrected \
         the signature verifies (`es512_vectors_verify_once_the_jwk_alg_is_corrected`)",
    ),
    (
        350,
        "token alg PS384 differs from the JWK's own alg PS256 (as 346)",
    ),
    (351, "the P-521 JWK's own alg is \"ES521\" (as 347)"),
    (
        372,
        "the header segment contains a character outside the base64url alphabet; we refuse it \
         instead of skipping it as lenient decoders do",
    ),
    (
        373,
        "the payload segment contains a character outside the base64url alphabet (as 372)",
    ),
];

const EMPTY_PAYLOAD: &str =
    "empty payload segment: a JWT always carries a claims set, and we refuse \
     empty segments in the compact form outright";

/// `invalid` vectors whose token is byte-for-byte the token of a `valid` vector in the same file
/// (the test data lost what made them invalid: their comments say "padding", but there is none).
/// No verifier can refuse one and accept the other; we accept the signature of both. The test
/// checks that each is still identical to the named valid vector.
const IDENTICAL_TO_VALID: &[(u64, u64)] = &[(367, 357), (370, 357)];

fn exception(tc: u64) -> Option<&'static str> {
    EXCEPTIONS.iter().find(|(id, _)| *id == tc).map(|(_, w)| *w)
}

/// The production signature check alone (signature-only for every algorithm: edgeguard checks the
/// signing input with the signature primitives directly), whatever the payload.
fn signature_verifies(key: &Verifier, token: &str) -> bool {
    check_signature(key, token)
}

/// Signature layer: header → alg/kid → our key selection → signature.
fn signature_layer(token: &str, keys: &KeySet) -> bool {
    let Some(h64) = token.split('.').next() else {
        return false;
    };
    let Some(header) = b64url_decode(h64).and_then(|b| parse_object(&b).ok()) else {
        return false;
    };
    let Some(alg) = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::from_name)
    else {
        return false;
    };
    let kid = header.get("kid").and_then(Value::as_str);
    match select_keys(keys, alg, kid) {
        Ok(c) => c
            .into_iter()
            .take(MAX_CANDIDATE_KEYS)
            .any(|k| signature_verifies(k, token)),
        Err(_) => false,
    }
}

fn payload_not_a_claims_set(e: &JwtError) -> bool {
    matches!(
        e,
        JwtError::Malformed("segment is not a JSON object" | "segment is not valid JSON")
    )
}

#[test]
fn wycheproof_json_web_signature() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut failures = Vec::new();
    let mut excepted = Vec::new();
    let mut excepted_invalid = 0;
    // Tokens of the valid vectors, by tcId (they precede their twins in the file).
    let mut valid_tokens = std::collections::BTreeMap::<u64, String>::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let jwk = group
            .get("public")
            .or_else(|| group.get("private"))
            .cloned()
            .unwrap();
        let keys = KeySet::from_value(&json!({ "keys": [jwk] }))
            .map(|(k, _)| k)
            .unwrap_or_default();
        let mut rules = Rules::new("https://issuer");
        rules.require_exp = false;
        for t in group["tests"].as_array().unwrap() {
            let tc = t["tcId"].as_u64().unwrap();
            let valid = t["result"] == "valid";
            let comment = t["comment"].as_str().unwrap_or("");
            // JSON-serialized JWS (an object, not a compact string) is not a bearer token at all.
            let token = match &t["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let full = verify(&token, &rules, &keys, NOW);
            let sig = match &full {
                Err(e) if payload_not_a_claims_set(e) => Some(signature_layer(&token, &keys)),
                _ => None,
            };
            if valid {
                valid_tokens.insert(tc, token.clone());
            }
            *counts
                .entry(if valid { "valid" } else { "invalid" })
                .or_default() += 1;
            if !valid {
                if let Some((_, twin)) = IDENTICAL_TO_VALID.iter().find(|(id, _)| *id == tc) {
                    assert_eq!(Some(&token), valid_tokens.get(twin), "tc {tc}");
                    excepted_invalid += 1;
                    continue;
                }
                if full.is_ok() || sig == Some(true) {
                    failures.push(format!("tc {tc} ({comment}): invalid vector accepted"));
                }
                continue;
            }
            match (full, sig) {
                (Ok(_), _) | (Err(_), Some(true)) => {}
                (Err(e), _) => match exception(tc) {
                    Some(why) => excepted.push(format!("tc {tc} ({comment}): {e} — {why}")),
                    None => failures.push(format!(
                        "tc {tc} ({comment}): valid vector refused: {e}, signature layer {sig:?}"
                    )),
                },
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every documented exception is still needed (and none is silently unused).
    assert_eq!(excepted.len(), EXCEPTIONS.len(), "{excepted:#?}");
    assert_eq!(excepted_invalid, IDENTICAL_TO_VALID.len());
    assert_eq!(counts.values().sum::<usize>(), 401, "{counts:?}");
}

/// The signature layer is not vacuous: a vector's valid ES256 signature verifies with our key, and
/// the same bytes under a neighbouring key do not.
#[test]
fn signature_layer_tells_good_from_bad() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let group = doc["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "SpecialCaseEs256")
        .unwrap();
    let (keys, _) = KeySet::from_value(&json!({ "keys": [group["public"]] })).unwrap();
    let valid = group["tests"][0]["jws"].as_str().unwrap();
    assert!(signature_layer(valid, &keys));
    let other = ES256KeyPair::generate();
    let p = other.public_key().public_key().to_bytes_uncompressed();
    let b = |x: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x)
    };
    let (wrong, _) = KeySet::from_value(&json!({"keys": [{"kty": "EC", "crv": "P-256",
        "kid": "kid-ec-sign", "x": b(&p[1..33]), "y": b(&p[33..])}]}))
    .unwrap();
    assert!(!signature_layer(valid, &wrong));
}

/// Vectors 347 and 351 (RFC 7520's ES512 example) are refused only because their JWK says
/// `"alg": "ES521"`: with that corrected to `ES512`, or removed, the signature layer verifies them
/// with edgeguard's P-521 key, and refuses a flipped signature bit or another P-521 key.
#[test]
fn es512_vectors_verify_once_the_jwk_alg_is_corrected() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let another = another_p521_jwk();
    let mut checked = 0;
    for group in doc["testGroups"].as_array().unwrap() {
        for t in group["tests"].as_array().unwrap() {
            if !matches!(t["tcId"].as_u64(), Some(347 | 351)) {
                continue;
            }
            let token = t["jws"].as_str().unwrap();
            let jwk = &group["public"];
            assert_eq!(jwk["alg"], "ES521");
            assert!(KeySet::from_value(&json!({ "keys": [jwk] })).is_err());
            for alg in [Some("ES512"), None] {
                let mut fixed = jwk.clone();
                match alg {
                    Some(a) => fixed["alg"] = json!(a),
                    None => {
                        fixed.as_object_mut().unwrap().remove("alg");
                    }
                }
                let (keys, skipped) = KeySet::from_value(&json!({ "keys": [fixed] })).unwrap();
                assert!(skipped.is_empty(), "{skipped:?}");
                assert!(signature_layer(token, &keys), "tc {}", t["tcId"]);
                let (input, sig64) = token.rsplit_once('.').unwrap();
                let mut sig = b64url_decode(sig64).unwrap();
                assert_eq!(sig.len(), 132);
                sig[100] ^= 4;
                let b = |x: &[u8]| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x)
                };
                assert!(!signature_layer(&format!("{input}.{}", b(&sig)), &keys));
                let mut other = fixed.clone();
                other["x"] = another["x"].clone();
                other["y"] = another["y"].clone();
                let (others, _) = KeySet::from_value(&json!({ "keys": [other] })).unwrap();
                assert!(!signature_layer(token, &others));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4);
}

/// The public JWK of a P-521 key from Wycheproof's ECDSA P-521 file (a valid key, not RFC 7520's).
fn another_p521_jwk() -> Value {
    let doc: Value = serde_json::from_str(include_str!(
        "../../tests/wycheproof/ecdsa_secp521r1_sha512_p1363_test.json"
    ))
    .unwrap();
    doc["testGroups"][0]["publicKeyJwk"].clone()
}
