//! Attack suite (issue #6): every case is refused with the expected reason code — by the core verifier
//! (`edgeguard::jwt::verify` with the rules of the plugin configuration's providers) AND end to end,
//! through a real Envoy running `target/edgeguard.wasm`. Wycheproof's JWS vectors run as a unit test
//! (`src/jwt/wycheproof.rs`).

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use base64::Engine as _;
use common::{b64, cluster, validate_plugin, Envoy, HttpServer, Options, Reply, Response};
use edgeguard::config::Config;
use edgeguard::credential::api_key::sha256_hex;
use edgeguard::jwt::jwk::KeySet;
use edgeguard::jwt::verify;
use edgeguard::provider::JwksSource;
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};
use std::time::Instant;

type StdDuration = std::time::Duration;

const ISS: &str = "https://idp.example";
const SECRET: [u8; 32] = [0x5a; 32];
const ATTACKER_SECRET: [u8; 32] = [0x66; 32];
const RSA_PEM: &str = include_str!("fixtures/test-rsa-2048.pem");
/// Order of P-256, big-endian.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
/// Order of Ed25519's group, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `b64(header).b64(payload).b64(sig)` from raw bytes.
fn raw(header: &[u8], payload: &[u8], sig: &[u8]) -> String {
    format!("{}.{}.{}", b64(header), b64(payload), b64(sig))
}

/// HS256 over any header/payload bytes.
fn hs_bytes(header: &[u8], payload: &[u8], secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let mac = hmac_sha256::HMAC::mac(input.as_bytes(), secret);
    format!("{input}.{}", b64(&mac))
}

fn hs(header: &Value, payload: &Value, secret: &[u8]) -> String {
    hs_bytes(
        header.to_string().as_bytes(),
        payload.to_string().as_bytes(),
        secret,
    )
}

fn split(t: &str) -> (String, String, String) {
    let p: Vec<&str> = t.split('.').collect();
    (p[0].to_string(), p[1].to_string(), p[2].to_string())
}

/// Replaces a token's signature with `sig`.
fn with_sig(t: &str, sig: &[u8]) -> String {
    let (h, p, _) = split(t);
    format!("{h}.{p}.{}", b64(sig))
}

struct Keys {
    rsa: RS256KeyPair,
    ec: ES256KeyPair,
    ec384: ES384KeyPair,
    ed: Ed25519KeyPair,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            rsa: RS256KeyPair::from_pem(RSA_PEM).unwrap().with_key_id("rsa"),
            ec: ES256KeyPair::generate().with_key_id("ec"),
            ec384: ES384KeyPair::generate().with_key_id("ec"),
            ed: Ed25519KeyPair::generate().with_key_id("ed"),
        }
    }

    fn rsa_jwk(&self) -> Value {
        let c = self.rsa.public_key().to_components();
        json!({"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": b64(&c.n), "e": b64(&c.e)})
    }

    fn ec_point(&self) -> Vec<u8> {
        self.ec.public_key().public_key().to_bytes_uncompressed()
    }

    fn ec_jwk(&self) -> Value {
        let p = self.ec_point();
        json!({"kty": "EC", "crv": "P-256", "kid": "ec", "x": b64(&p[1..33]), "y": b64(&p[33..])})
    }

    fn ed_jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(&self.ed.public_key().to_bytes())})
    }

    /// `idp`: RSA, EC, Ed25519 and an HMAC key; `asym`: the asymmetric keys only.
    fn plugin(&self, extra: Value) -> String {
        let asym = json!([self.rsa_jwk(), self.ec_jwk(), self.ed_jwk()]);
        let mut all = asym.clone();
        all.as_array_mut()
            .unwrap()
            .push(json!({"kty": "oct", "kid": "hs", "k": b64(&SECRET)}));
        let mut cfg = json!({
            "providers": {
                "idp": {
                    "issuer": ISS, "audiences": ["api"],
                    "jwks": {"inline": {"keys": all}},
                    "from": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}],
                    "claims_to_headers": [{"claim": "email", "header": "x-user-email"}]
                },
                "asym": {"issuer": ISS, "audiences": ["api"], "jwks": {"inline": {"keys": asym}}}
            },
            "rules": [
                {"match": {"path_prefix": "/asym"}, "require": {"jwt": "asym"}},
                {"match": {"path_prefix": "/admin"}, "require": {"jwt": "idp", "scopes": ["admin:read"]}},
                {"match": {"path_prefix": "/orders"}, "require": {"jwt": "idp", "scopes": ["orders:read"]}},
                {"match": {}, "require": {"jwt": "idp"}}
            ]
        });
        if let (Some(c), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        cfg.to_string()
    }
}

fn claims_json(now: u64) -> Value {
    json!({"iss": ISS, "aud": "api", "sub": "alice", "iat": now, "exp": now + 300,
           "scope": "orders:read", "email": "alice@example.com"})
}

fn jwt_claims(extra: &[(&str, Value)]) -> JWTClaims<Map<String, Value>> {
    let mut custom = Map::new();
    custom.insert("scope".into(), json!("orders:read"));
    for (k, v) in extra {
        custom.insert((*k).to_string(), v.clone());
    }
    jwt_simple::prelude::Claims::with_custom_claims(custom, Duration::from_secs(300))
        .with_issuer(ISS)
        .with_audience("api")
        .with_subject("alice")
}

/// One attack: request path, token, expected reason code.
struct Case {
    name: String,
    path: &'static str,
    token: String,
    reason: &'static str,
}

fn case(name: impl Into<String>, path: &'static str, token: String, reason: &'static str) -> Case {
    Case {
        name: name.into(),
        path,
        token,
        reason,
    }
}

/// The attack table. Tokens are fresh (claims relative to now) and signed by the configured keys
/// unless the case is about the signature.
fn attack_cases(k: &Keys) -> Vec<Case> {
    let now = now();
    let good = claims_json(now);
    let good_b = good.to_string().into_bytes();
    let mut v = Vec::new();

    // --- alg -----------------------------------------------------------------------------------------
    for alg in ["none", "None", "NONE"] {
        let h = json!({"alg": alg, "typ": "JWT"}).to_string();
        v.push(case(
            format!("alg {alg}, empty signature"),
            "/",
            format!("{}.{}.", b64(h.as_bytes()), b64(&good_b)),
            "malformed",
        ));
        for sig in [&b"\0"[..], b"null", b"\0\0\0\0"] {
            v.push(case(
                format!("alg {alg}, null-ish signature {sig:?}"),
                "/",
                raw(h.as_bytes(), &good_b, sig),
                "alg_not_allowed",
            ));
        }
        let h = json!({"alg": alg, "kid": "rsa"}).to_string();
        v.push(case(
            format!("alg {alg} with the RSA kid"),
            "/asym",
            raw(h.as_bytes(), &good_b, b"x"),
            "alg_not_allowed",
        ));
    }
    // HS256 "signed" with the public key bytes of the RSA / EC key, in every usual form.
    let rsa_pk = k.rsa.public_key();
    let ec_pk = k.ec.public_key();
    let forms: Vec<(&str, &str, Vec<u8>)> = vec![
        ("rsa", "RSA PEM", rsa_pk.to_pem().unwrap().into_bytes()),
        ("rsa", "RSA DER", rsa_pk.to_der().unwrap()),
        ("rsa", "RSA JWK JSON", k.rsa_jwk().to_string().into_bytes()),
        ("ec", "EC PEM", ec_pk.to_pem().unwrap().into_bytes()),
        ("ec", "EC DER", ec_pk.to_der().unwrap()),
        ("ec", "EC JWK JSON", k.ec_jwk().to_string().into_bytes()),
        ("ec", "EC raw point", k.ec_point()),
    ];
    for (kid, form, secret) in &forms {
        let t = hs(&json!({"alg": "HS256", "kid": kid}), &good, secret);
        v.push(case(
            format!("HS256 with {form}, kid {kid}"),
            "/",
            t,
            "alg_not_allowed",
        ));
        // Without a kid: no asymmetric key can verify HS256 ...
        let t = hs(&json!({"alg": "HS256"}), &good, secret);
        v.push(case(
            format!("HS256 with {form}, no kid"),
            "/asym",
            t.clone(),
            "alg_not_allowed",
        ));
        // ... and where an HMAC key exists, only it is tried (and the MAC does not verify).
        v.push(case(
            format!("HS256 with {form}, no kid, HMAC provider"),
            "/",
            t,
            "bad_signature",
        ));
    }
    // alg not matching the JWK's alg / kty / crv.
    let ps = PS256KeyPair::from_pem(RSA_PEM).unwrap().with_key_id("rsa");
    v.push(case(
        "PS256 against a JWK with alg RS256",
        "/",
        ps.sign(jwt_claims(&[])).unwrap(),
        "alg_not_allowed",
    ));
    let rs512 = RS512KeyPair::from_pem(RSA_PEM).unwrap().with_key_id("rsa");
    v.push(case(
        "RS512 against a JWK with alg RS256",
        "/",
        rs512.sign(jwt_claims(&[])).unwrap(),
        "alg_not_allowed",
    ));
    v.push(case(
        "ES384 against a P-256 key",
        "/",
        k.ec384.sign(jwt_claims(&[])).unwrap(),
        "alg_not_allowed",
    ));
    for (alg, kid) in [
        ("RS256", "ec"),
        ("ES256", "rsa"),
        ("EdDSA", "rsa"),
        ("ES256", "ed"),
        ("HS256", "ed"),
        ("RS256", "hs"),
    ] {
        let t = raw(
            json!({"alg": alg, "kid": kid}).to_string().as_bytes(),
            &good_b,
            &[1u8; 64],
        );
        v.push(case(
            format!("{alg} against the {kid} key"),
            "/",
            t,
            "alg_not_allowed",
        ));
    }
    v.push(case(
        "ES512 against a P-256 key",
        "/",
        raw(br#"{"alg":"ES512","kid":"ec"}"#, &good_b, &[1u8; 132]),
        "alg_not_allowed",
    ));
    v.push(case(
        "unknown alg",
        "/",
        raw(br#"{"alg":"ES256K","kid":"ec"}"#, &good_b, &[1u8; 64]),
        "alg_not_allowed",
    ));

    // --- header key injection ------------------------------------------------------------------------
    let attacker = ES256KeyPair::generate();
    let ap = attacker.public_key().public_key().to_bytes_uncompressed();
    let attacker_jwk = json!({"kty": "EC", "crv": "P-256", "kid": "ec", "x": b64(&ap[1..33]), "y": b64(&ap[33..])});
    let h = json!({"alg": "HS256", "kid": "hs", "jwk": {"kty": "oct", "k": b64(&ATTACKER_SECRET)}});
    v.push(case(
        "embedded jwk object (HMAC)",
        "/",
        hs(&h, &good, &ATTACKER_SECRET),
        "malformed",
    ));
    let h = json!({"alg": "ES256", "kid": "ec", "jwk": attacker_jwk});
    v.push(case(
        "embedded jwk object (EC)",
        "/",
        raw(h.to_string().as_bytes(), &good_b, &[1u8; 64]),
        "malformed",
    ));
    for (name, meta) in [
        (
            "jwk as a string",
            KeyMetadata::default().with_public_key(attacker_jwk.to_string()),
        ),
        (
            "jku",
            KeyMetadata::default().with_key_set_url("https://evil.example/jwks.json"),
        ),
        (
            "x5u",
            KeyMetadata::default().with_certificate_url("https://evil.example/cert.pem"),
        ),
    ] {
        let mut a = ES256KeyPair::from_bytes(&attacker.to_bytes())
            .unwrap()
            .with_key_id("ec");
        a.attach_metadata(meta).unwrap();
        v.push(case(
            format!("{name}, attacker-signed, our kid"),
            "/",
            a.sign(jwt_claims(&[])).unwrap(),
            "bad_signature",
        ));
        let mut a = ES256KeyPair::from_bytes(&attacker.to_bytes())
            .unwrap()
            .with_key_id("attacker");
        let meta = KeyMetadata::default().with_key_set_url("https://evil.example/jwks.json");
        a.attach_metadata(meta).unwrap();
        v.push(case(
            format!("{name}, attacker kid"),
            "/",
            a.sign(jwt_claims(&[])).unwrap(),
            "unknown_kid",
        ));
    }
    let h =
        json!({"alg": "HS256", "kid": "hs", "x5c": [b64(&ap)], "jku": "https://evil.example/k"});
    v.push(case(
        "x5c + jku, attacker MAC",
        "/",
        hs(&h, &good, &ATTACKER_SECRET),
        "bad_signature",
    ));
    for kid in [
        "../../../../etc/passwd",
        "hs/../hs",
        "..%2f..%2fetc",
        "",
        "nope",
        "HS",
        "hs\u{0}",
    ] {
        let t = hs(&json!({"alg": "HS256", "kid": kid}), &good, &SECRET);
        v.push(case(format!("kid {kid:?}"), "/", t, "unknown_kid"));
    }
    let t = hs(
        &json!({"alg": "HS256", "kid": "k".repeat(4000)}),
        &good,
        &SECRET,
    );
    v.push(case("kid of 4000 bytes", "/", t, "unknown_kid"));
    for kid in [
        json!(1),
        json!(null),
        json!(["hs"]),
        json!({"kid": "hs"}),
        json!(true),
    ] {
        let t = hs(&json!({"alg": "HS256", "kid": kid}), &good, &SECRET);
        v.push(case(format!("kid {kid}"), "/", t, "malformed"));
    }

    // --- signatures ----------------------------------------------------------------------------------
    let es = k.ec.sign(jwt_claims(&[])).unwrap();
    let n = hex(P256_N);
    let mut n_minus_1 = n.clone();
    n_minus_1[31] -= 1;
    let mut one = vec![0u8; 32];
    one[31] = 1;
    let zero = vec![0u8; 32];
    for (name, r, s) in [
        ("r=s=0", &zero, &zero),
        ("r=0,s=1", &zero, &one),
        ("r=n,s=1", &n, &one),
        ("r=1,s=n", &one, &n),
        ("r=n,s=n", &n, &n),
        ("r=n-1,s=n-1", &n_minus_1, &n_minus_1),
    ] {
        let sig = [r.as_slice(), s.as_slice()].concat();
        v.push(case(
            format!("ES256 {name}"),
            "/",
            with_sig(&es, &sig),
            "bad_signature",
        ));
    }
    let good_sig = unb64(&split(&es).2);
    for len in [63usize, 65, 32, 1] {
        let mut s = good_sig.clone();
        s.resize(len, 0);
        v.push(case(
            format!("ES256 signature of {len} bytes"),
            "/",
            with_sig(&es, &s),
            "bad_signature",
        ));
    }
    v.push(case(
        "ES256 signature in DER",
        "/",
        with_sig(&es, &der_ecdsa(&good_sig)),
        "bad_signature",
    ));
    let es384 = k.ec384.sign(jwt_claims(&[])).unwrap();
    v.push(case(
        "P-384 signature on ES256",
        "/",
        with_sig(&es, &unb64(&split(&es384).2)),
        "bad_signature",
    ));
    let rs = k.rsa.sign(jwt_claims(&[])).unwrap();
    let modulus = k.rsa.public_key().to_components().n;
    let mut rsa_one = vec![0u8; 256];
    rsa_one[255] = 1;
    for (name, sig) in [
        ("0", vec![0u8; 256]),
        ("1", rsa_one),
        ("n", modulus.clone()),
        ("n+garbage", [modulus.as_slice(), &[0]].concat()),
        ("255 bytes", vec![7u8; 255]),
        ("257 bytes", vec![7u8; 257]),
        ("512 bytes", vec![7u8; 512]),
    ] {
        v.push(case(
            format!("RS256 signature {name}"),
            "/",
            with_sig(&rs, &sig),
            "bad_signature",
        ));
    }
    let ed = k.ed.sign(jwt_claims(&[])).unwrap();
    let ed_sig = unb64(&split(&ed).2);
    v.push(case(
        "Ed25519 non-canonical S (S+L)",
        "/",
        with_sig(&ed, &noncanonical(&ed_sig)),
        "bad_signature",
    ));
    let mut ff = ed_sig.clone();
    ff[32..].fill(0xff);
    v.push(case(
        "Ed25519 S = 2^256-1",
        "/",
        with_sig(&ed, &ff),
        "bad_signature",
    ));
    v.push(case(
        "Ed25519 all-zero signature",
        "/",
        with_sig(&ed, &[0u8; 64]),
        "bad_signature",
    ));
    for (name, t) in [("RS256", &rs), ("ES256", &es), ("EdDSA", &ed)] {
        let sig = unb64(&split(t).2);
        v.push(case(
            format!("{name} truncated signature"),
            "/",
            with_sig(t, &sig[..sig.len() - 3]),
            "bad_signature",
        ));
        let mut tampered = sig.clone();
        tampered[5] ^= 1;
        v.push(case(
            format!("{name} tampered signature"),
            "/",
            with_sig(t, &tampered),
            "bad_signature",
        ));
        let (h, p, s) = split(t);
        let mut payload: Value = serde_json::from_slice(&unb64(&p)).unwrap();
        payload["sub"] = json!("root");
        v.push(case(
            format!("{name} tampered payload"),
            "/",
            format!("{h}.{}.{s}", b64(payload.to_string().as_bytes())),
            "bad_signature",
        ));
        let mut header: Value = serde_json::from_slice(&unb64(&h)).unwrap();
        header["typ"] = json!("at+jwt");
        v.push(case(
            format!("{name} tampered header"),
            "/",
            format!("{}.{p}.{s}", b64(header.to_string().as_bytes())),
            "bad_signature",
        ));
    }

    // --- claims (correctly MACed, so the claim check is what refuses) -------------------------------
    let hh = json!({"alg": "HS256", "kid": "hs"});
    let set = |k: &str, val: Value| {
        let mut c = good.clone();
        c[k] = val;
        c
    };
    let unset = |k: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    for (name, claims, reason) in [
        ("expired", set("exp", json!(now - 3600)), "expired"),
        (
            "nbf beyond skew",
            set("nbf", json!(now + 3600)),
            "not_yet_valid",
        ),
        ("exp missing", unset("exp"), "missing_claim"),
        (
            "exp as a string",
            set("exp", json!((now + 300).to_string())),
            "invalid_claim",
        ),
        ("exp negative", set("exp", json!(-1)), "invalid_claim"),
        (
            "exp = 2^63",
            set("exp", json!(9_223_372_036_854_775_808u64)),
            "invalid_claim",
        ),
        ("exp = 2^64-1", set("exp", json!(u64::MAX)), "invalid_claim"),
        ("exp = 1e30", set("exp", json!(1e30)), "invalid_claim"),
        (
            "iss wrong",
            set("iss", json!("https://evil.example")),
            "wrong_issuer",
        ),
        (
            "iss with a trailing slash",
            set("iss", json!(format!("{ISS}/"))),
            "wrong_issuer",
        ),
        ("iss missing", unset("iss"), "missing_claim"),
        (
            "aud wrong",
            set("aud", json!("other-api")),
            "wrong_audience",
        ),
        ("aud missing", unset("aud"), "wrong_audience"),
        ("aud as a number", set("aud", json!(5)), "invalid_claim"),
        (
            "aud array with a number",
            set("aud", json!(["api", 5])),
            "invalid_claim",
        ),
    ] {
        v.push(case(name, "/", hs(&hh, &claims, &SECRET), reason));
    }
    // exp above 2^64: serde_json reads it as a float; refused, never wrapped.
    let big = good.to_string().replace(
        &format!("\"exp\":{}", now + 300),
        "\"exp\":18446744073709551616",
    );
    v.push(case(
        "exp = 2^64",
        "/",
        hs_bytes(hh.to_string().as_bytes(), big.as_bytes(), &SECRET),
        "invalid_claim",
    ));
    for (name, h, reason) in [
        (
            "crit present",
            json!({"alg": "HS256", "kid": "hs", "crit": ["exp"]}),
            "unsupported_crit",
        ),
        (
            "b64 false",
            json!({"alg": "HS256", "kid": "hs", "b64": false, "crit": ["b64"]}),
            "unsupported_crit",
        ),
        (
            "b64 false without crit",
            json!({"alg": "HS256", "kid": "hs", "b64": false}),
            "unsupported_crit",
        ),
    ] {
        v.push(case(name, "/", hs(&h, &good, &SECRET), reason));
    }
    let dup_payload = format!(
        r#"{{"iss":"https://evil.example","iss":"{ISS}","aud":"api","exp":{}}}"#,
        now + 300
    );
    v.push(case(
        "duplicate member in payload",
        "/",
        hs_bytes(hh.to_string().as_bytes(), dup_payload.as_bytes(), &SECRET),
        "malformed",
    ));
    v.push(case(
        "duplicate member in header",
        "/",
        hs_bytes(
            br#"{"alg":"none","alg":"HS256","kid":"hs"}"#,
            &good_b,
            &SECRET,
        ),
        "malformed",
    ));
    let mut bad_utf8 = format!(
        r#"{{"iss":"{ISS}","aud":"api","exp":{},"sub":"aZ"}}"#,
        now + 300
    )
    .into_bytes();
    let z = bad_utf8.iter().position(|b| *b == b'Z').unwrap();
    bad_utf8[z] = 0xff;
    v.push(case(
        "invalid UTF-8 in payload",
        "/",
        hs_bytes(hh.to_string().as_bytes(), &bad_utf8, &SECRET),
        "malformed",
    ));
    v.push(case(
        "invalid UTF-8 in header",
        "/",
        hs_bytes(b"{\"alg\":\"HS256\",\"kid\":\"h\xffs\"}", &good_b, &SECRET),
        "malformed",
    ));

    // --- encoding ------------------------------------------------------------------------------------
    let t = hs(&hh, &good, &SECRET);
    let (h, p, s) = split(&t);
    let std_b64 = |x: &str| x.replace('-', "+").replace('_', "/");
    for (name, tok) in [
        ("padding on the signature", format!("{h}.{p}.{s}=")),
        ("padding on the header", format!("{h}=.{p}.{s}")),
        ("space inside", format!("{h}.{} {}.{s}", &p[..10], &p[10..])),
        (
            "'+' instead of '-'",
            format!(
                "{h}.{p}.{}",
                std_b64(&s).replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1)
            ),
        ),
        (
            "'/' instead of '_'",
            format!(
                "{}.{p}.{s}",
                h.replacen(|c: char| c.is_ascii_alphanumeric(), "/", 1)
            ),
        ),
        ("2 segments", format!("{h}.{p}")),
        ("4 segments", format!("{h}.{p}.{s}.{s}")),
        ("5 segments", format!("{h}.{p}.{s}.{s}.{s}")),
        ("empty header", format!(".{p}.{s}")),
        ("empty payload", format!("{h}..{s}")),
        ("empty signature", format!("{h}.{p}.")),
        ("only dots", "..".to_string()),
        (
            "non-canonical trailing bits",
            format!("{h}.{p}.{}", flip_trailing_bits(&s)),
        ),
    ] {
        v.push(case(name, "/", tok, "malformed"));
    }
    let big = set("pad", json!("x".repeat(9000)));
    v.push(case(
        "oversized token (> 8192 bytes)",
        "/",
        hs(&hh, &big, &SECRET),
        "token_too_large",
    ));
    v
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` from raw r‖s (32 bytes each).
fn der_ecdsa(rs: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let mut x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if x.first().is_some_and(|b| b & 0x80 != 0) {
            x.insert(0, 0);
        }
        let mut out = vec![0x02, x.len() as u8];
        out.extend(x);
        out
    };
    let body = [int(&rs[..32]), int(&rs[32..])].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// An Ed25519 signature with S replaced by S + L (same value mod L, not canonical).
fn noncanonical(sig: &[u8]) -> Vec<u8> {
    let mut out = sig.to_vec();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(sig[32 + i]) + u16::from(ED25519_L[i]) + carry;
        out[32 + i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L overflowed 256 bits");
    out
}

/// The same bytes with non-zero unused trailing bits in the last base64url character.
fn flip_trailing_bits(s: &str) -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = s.as_bytes()[s.len() - 1];
    let idx = ALPHA.iter().position(|c| *c == last).unwrap();
    // A 32-byte MAC is 43 characters: the last one carries 4 data bits and 2 unused (zero) ones.
    assert_eq!(idx & 3, 0);
    let flipped = ALPHA[idx | 1];
    format!("{}{}", &s[..s.len() - 1], flipped as char)
}

fn provider_for<'c>(cfg: &'c Config, path: &str) -> &'c edgeguard::provider::Provider {
    let name = if path.starts_with("/asym") {
        "asym"
    } else {
        "idp"
    };
    &cfg.providers[name]
}

fn inline_keys(p: &edgeguard::provider::Provider) -> KeySet {
    match &p.jwks {
        JwksSource::Inline(k) => k.clone(),
        JwksSource::Remote(_) | JwksSource::Discovered(_) | JwksSource::Absent => {
            panic!("inline expected")
        }
    }
}

fn reason_of(r: &Response) -> String {
    serde_json::from_str::<Value>(&r.body)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("<status {} body {:?}>", r.status, r.body))
}

#[test]
fn attack_table_is_refused_by_the_core_verifier() {
    let k = Keys::new();
    let cfg = Config::parse(k.plugin(json!({})).as_bytes()).unwrap();
    let cases = attack_cases(&k);
    assert!(cases.len() > 120, "{}", cases.len());
    let now = now();
    let mut wrong = Vec::new();
    for c in &cases {
        let p = provider_for(&cfg, c.path);
        let got = match verify(&c.token, &p.rules, &inline_keys(p), now) {
            Ok(_) => "ACCEPTED".to_string(),
            Err(e) => e.reason().code().to_string(),
        };
        if got != c.reason {
            wrong.push(format!("{}: expected {}, got {got}", c.name, c.reason));
        }
    }
    // Sanity: the keys and providers do accept good tokens.
    for t in [
        k.rsa.sign(jwt_claims(&[])).unwrap(),
        k.ec.sign(jwt_claims(&[])).unwrap(),
        k.ed.sign(jwt_claims(&[])).unwrap(),
    ] {
        let p = &cfg.providers["asym"];
        verify(&t, &p.rules, &inline_keys(p), now).unwrap();
    }
    let p = &cfg.providers["idp"];
    verify(
        &hs(
            &json!({"alg": "HS256", "kid": "hs"}),
            &claims_json(now),
            &SECRET,
        ),
        &p.rules,
        &inline_keys(p),
        now,
    )
    .unwrap();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn attack_table_is_refused_through_envoy() {
    let k = Keys::new();
    let envoy = Envoy::start(&k.plugin(json!({})));
    let cases = attack_cases(&k);
    let mut wrong = Vec::new();
    for c in &cases {
        let auth = format!("Bearer {}", c.token);
        let r = envoy.get(c.path, &[("authorization", auth.as_str())]);
        let reason = reason_of(&r);
        let status_ok = match c.reason {
            "token_too_large" | "malformed" | "alg_not_allowed" | "bad_signature"
            | "unknown_kid" | "expired" | "not_yet_valid" | "missing_claim" | "invalid_claim"
            | "wrong_issuer" | "wrong_audience" | "unsupported_crit" => r.status == 401,
            _ => false,
        };
        if reason != c.reason || !status_ok {
            wrong.push(format!(
                "{}: expected 401 {}, got {} {reason}",
                c.name, c.reason, r.status
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n{}",
        wrong.join("\n"),
        envoy.log_tail(20)
    );
    assert_eq!(
        envoy.echo.as_ref().unwrap().hits(),
        0,
        "an attack reached the upstream"
    );
    // ... while a good token of each kind gets through.
    for t in [
        k.rsa.sign(jwt_claims(&[])).unwrap(),
        k.ec.sign(jwt_claims(&[])).unwrap(),
        k.ed.sign(jwt_claims(&[])).unwrap(),
    ] {
        let r = envoy.get("/asym/x", &[("authorization", &format!("Bearer {t}"))]);
        assert_eq!(r.status, 200, "{r:?}");
    }
    // Counters reach Envoy on the plugin's timer (100 ms).
    common::wait_until(std::time::Duration::from_secs(5), || {
        Some(envoy.edgeguard_sum(stats::REQUESTS, &[("decision", "denied")]))
            == Some(cases.len() as u64)
    });
    let denied = Some(envoy.edgeguard_sum(stats::REQUESTS, &[("decision", "denied")]));
    assert_eq!(
        denied,
        Some(cases.len() as u64),
        "{:?}",
        envoy.stats_matching("edgeguard")
    );
}

#[test]
fn two_tokens_one_invalid_is_ambiguous() {
    let k = Keys::new();
    let envoy = Envoy::start(&k.plugin(json!({})));
    let good = k.ec.sign(jwt_claims(&[])).unwrap();
    let bad = with_sig(&good, &[0u8; 64]);
    for (header, query) in [(&good, &bad), (&bad, &good)] {
        let r = envoy.get(
            &format!("/x?access_token={query}"),
            &[("authorization", &format!("Bearer {header}"))],
        );
        assert_eq!(
            (r.status, reason_of(&r).as_str()),
            (401, "ambiguous_credential"),
            "{r:?}"
        );
    }
    // Two different valid tokens are just as ambiguous.
    let other = k.ed.sign(jwt_claims(&[])).unwrap();
    let r = envoy.get(
        &format!("/x?access_token={other}"),
        &[("authorization", &format!("Bearer {good}"))],
    );
    assert_eq!(reason_of(&r), "ambiguous_credential", "{r:?}");
    // Two Authorization headers with different tokens.
    let r = envoy.get(
        "/x",
        &[
            ("authorization", &format!("Bearer {good}")),
            ("authorization", &format!("Bearer {bad}")),
        ],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(envoy.echo.as_ref().unwrap().hits(), 0);
    // The same token in both places is one credential.
    let r = envoy.get(
        &format!("/x?access_token={good}"),
        &[("authorization", &format!("Bearer {good}"))],
    );
    assert_eq!(r.status, 200, "{r:?}");
}

const SPOOFED: [(&str, &str); 6] = [
    ("x-edgeguard-key-id", "root"),
    ("x-edgeguard-provider", "idp"),
    ("x-edgeguard-subject", "admin"),
    ("x-edgeguard-decision", "allow"),
    ("X-User-Email", "ceo@example.com"),
    ("x-user-email", "ceo@example.com"),
];

#[test]
fn client_identity_headers_are_removed_when_allowed() {
    let k = Keys::new();
    let envoy = Envoy::start(&k.plugin(json!({})));
    let t =
        k.ec.sign(jwt_claims(&[("email", json!("alice@example.com"))]))
            .unwrap();
    let auth = format!("Bearer {t}");
    let mut headers: Vec<(&str, &str)> = SPOOFED.to_vec();
    headers.push(("authorization", &auth));
    let r = envoy.get("/orders", &headers);
    assert_eq!(r.status, 200, "{r:?}");
    let got = &envoy.echo.as_ref().unwrap().received()[0];
    let values = |n: &str| -> Vec<&str> {
        got.headers
            .iter()
            .filter(|(h, _)| h == n)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(values("x-edgeguard-provider"), ["idp"]);
    assert_eq!(values("x-edgeguard-subject"), ["alice"]);
    assert_eq!(values("x-user-email"), ["alice@example.com"]);
    assert!(values("x-edgeguard-key-id").is_empty(), "{got:?}");
    assert!(values("x-edgeguard-decision").is_empty(), "{got:?}");
    assert!(
        values("authorization").is_empty(),
        "token forwarded: {got:?}"
    );
    // Denied: nothing reaches the upstream at all.
    let r = envoy.get("/orders", &SPOOFED);
    assert_eq!(r.status, 401);
    assert_eq!(envoy.echo.as_ref().unwrap().hits(), 1);
}

#[test]
fn client_identity_headers_are_removed_in_report_mode() {
    let k = Keys::new();
    let envoy = Envoy::start(&k.plugin(json!({"mode": "report"})));
    let good = k.ec.sign(jwt_claims(&[])).unwrap();
    let cases = [
        (
            Some(with_sig(&good, &[0u8; 64])),
            "deny; reason=bad_signature",
        ),
        (None, "deny; reason=missing"),
        (Some("not-a-jwt".to_string()), "deny; reason=malformed"),
    ];
    for (i, (token, decision)) in cases.iter().enumerate() {
        let auth = token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = SPOOFED.to_vec();
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let r = envoy.get("/orders", &headers);
        assert_eq!(r.status, 200, "report mode lets requests through: {r:?}");
        let got = &envoy.echo.as_ref().unwrap().received()[i];
        let values = |n: &str| -> Vec<&str> {
            got.headers
                .iter()
                .filter(|(h, _)| h == n)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(values("x-edgeguard-decision"), [*decision], "{got:?}");
        for h in [
            "x-edgeguard-key-id",
            "x-edgeguard-provider",
            "x-edgeguard-subject",
            "x-user-email",
        ] {
            assert!(values(h).is_empty(), "{h} survived in report mode: {got:?}");
        }
    }
}

#[test]
fn scope_prefix_tricks_are_refused() {
    let k = Keys::new();
    let envoy = Envoy::start(&k.plugin(json!({})));
    let cases: Vec<(&str, Value, u16)> = vec![
        ("/admin", json!("admin"), 403),
        ("/admin", json!("admin:rea"), 403),
        ("/admin", json!("admin:readx"), 403),
        ("/admin", json!("admin:read:extra"), 403),
        ("/admin", json!("Admin:read"), 403),
        ("/admin", json!("admin:*"), 403),
        ("/admin", json!(["admin", "read"]), 403),
        ("/admin", json!(["admin:read "]), 403),
        ("/admin", json!([" admin:read"]), 403),
        ("/admin", json!("admin:read"), 200),
        ("/orders", json!("orders:read,admin"), 403),
        ("/orders", json!(["orders:read admin"]), 403),
        ("/orders", json!(["orders:read\t"]), 403),
        ("/orders", json!("orders:readonly"), 403),
        // A space-delimited `scope` string (RFC 6749 §3.3): surrounding whitespace separates tokens.
        ("/orders", json!("orders:read "), 200),
        ("/orders", json!("  orders:read  admin"), 200),
    ];
    for (path, scope, status) in cases {
        let t = k.ec.sign(jwt_claims(&[("scope", scope.clone())])).unwrap();
        let r = envoy.get(path, &[("authorization", &format!("Bearer {t}"))]);
        assert_eq!(r.status, status, "{path} scope={scope}: {r:?}");
        if status == 403 {
            assert_eq!(reason_of(&r), "insufficient_scope");
        }
    }
}

const KEY: &str = "attack-suite-key-0123456789";
const REVOKED: &str = "attack-suite-revoked-0123456789";

#[test]
fn api_key_attacks() {
    let plugin = json!({"api_keys": {"from": [{"header": "x-api-key"}], "keys": [
        {"id": "app", "sha256": sha256_hex(KEY.as_bytes())},
        {"id": "old", "sha256": sha256_hex(REVOKED.as_bytes()), "disabled": true}
    ]}})
    .to_string();
    let envoy = Envoy::start(&plugin);
    let expect = |r: &Response, reason: &str| {
        assert_eq!((r.status, reason_of(r).as_str()), (401, reason), "{r:?}");
    };
    expect(&envoy.get("/", &[("x-api-key", REVOKED)]), "disabled_key");
    expect(
        &envoy.get("/", &[("x-api-key", "attack-suite-key-012345678")]),
        "unknown_key",
    );
    expect(
        &envoy.get("/", &[("x-api-key", &sha256_hex(KEY.as_bytes()))]),
        "unknown_key",
    );
    // Only the header is configured: the key in the query (or a cookie) is not a credential.
    expect(
        &envoy.get(&format!("/?x-api-key={KEY}&api_key={KEY}"), &[]),
        "missing",
    );
    expect(
        &envoy.get("/", &[("cookie", &format!("x-api-key={KEY}"))]),
        "missing",
    );
    expect(
        &envoy.get("/", &[("x-api-key", KEY), ("x-api-key", REVOKED)]),
        "ambiguous_credential",
    );
    assert_eq!(envoy.echo.as_ref().unwrap().hits(), 0);
    assert_eq!(envoy.get("/", &[("x-api-key", KEY)]).status, 200);

    // Duplicates in the configuration are refused (by Envoy, through the plugin's on_configure).
    let d = sha256_hex(KEY.as_bytes());
    for keys in [
        json!([{"id": "a", "sha256": d}, {"id": "b", "sha256": d}]),
        json!([{"id": "a", "sha256": d}, {"id": "b", "sha256": d.to_uppercase()}]),
        json!([{"id": "a", "sha256": d}, {"id": "a", "sha256": sha256_hex(b"other")}]),
    ] {
        let p = json!({"api_keys": {"keys": keys}}).to_string();
        assert!(Config::parse(p.as_bytes()).is_err(), "{p}");
        let (ok, out) = validate_plugin(&p);
        assert!(!ok, "Envoy accepted duplicate keys {p}: {out}");
    }
}

/// A remote JWKS: an unknown `kid` causes at most one (rate-limited) refetch however often it is sent,
/// and a JWKS of 1,000 keys is handled (the first 256 are used).
#[test]
fn unknown_kid_refetch_is_rate_limited_and_big_jwks_is_bounded() {
    let k = Keys::new();
    let p = k.ec_point();
    let mut keys: Vec<Value> = (0..1000)
        .map(|i| json!({"kty": "EC", "crv": "P-256", "kid": format!("k{i}"), "x": b64(&p[1..33]), "y": b64(&p[33..])}))
        .collect();
    keys[0]["kid"] = json!("ec");
    let jwks = json!({ "keys": keys }).to_string();
    assert!(jwks.len() > 100_000);
    let started = Instant::now();
    let (set, skipped) = KeySet::from_json(jwks.as_bytes()).unwrap();
    assert_eq!(set.len(), edgeguard::jwt::jwk::MAX_KEYS);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].why.contains("744 keys beyond"), "{skipped:?}");
    assert!(started.elapsed() < StdDuration::from_secs(20));

    let server = HttpServer::start("/jwks.json", Reply::json(&jwks));
    let plugin = json!({"providers": {"idp": {"issuer": ISS, "audiences": ["api"],
        "jwks": {"remote": {"cluster": "jwks", "authority": "idp.example", "path": "/jwks.json"}}}}})
    .to_string();
    let envoy = Envoy::start_with(
        &plugin,
        Options {
            clusters: vec![cluster("jwks", server.port())],
            ..Options::default()
        },
    );
    let sign = |kid: &str| {
        ES256KeyPair::from_bytes(&k.ec.to_bytes())
            .unwrap()
            .with_key_id(kid)
            .sign(jwt_claims(&[]))
            .unwrap()
    };
    let get = |t: &str| envoy.get("/", &[("authorization", &format!("Bearer {t}"))]);
    assert_eq!(get(&sign("ec")).status, 200);
    assert_eq!(get(&sign("k255")).status, 200);
    // VMs racing at start-up may each fetch once: wait until no fetch arrives for a second, then count.
    let settle = Instant::now() + StdDuration::from_secs(20);
    loop {
        server.reset_hits();
        std::thread::sleep(StdDuration::from_secs(1));
        if server.hits() == 0 || Instant::now() > settle {
            break;
        }
    }
    server.reset_hits();
    let mut kids: Vec<String> = (0..15).map(|i| format!("unknown-{i}")).collect();
    kids.extend([
        "k256".into(),
        "k999".into(),
        "../../jwks.json".into(),
        String::new(),
    ]);
    for kid in &kids {
        let r = get(&sign(kid));
        assert_eq!(
            (r.status, reason_of(&r).as_str()),
            (401, "unknown_kid"),
            "kid {kid:?}"
        );
    }
    assert!(
        server.hits() <= 1,
        "{} JWKS fetches for {} unknown kids",
        server.hits(),
        kids.len()
    );
    assert_eq!(get(&sign("ec")).status, 200);
}
