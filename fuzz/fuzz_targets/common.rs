//! Shared fixtures: one configuration with API keys, an inline HMAC + EC provider and rules.
#![allow(dead_code)]

use base64::Engine as _;

pub const NOW: u64 = 1_700_000_000;
pub const SECRET: [u8; 32] = [7u8; 32];
pub const ISS: &str = "https://idp.example";

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A fixed P-256 public key (the generator point G: a valid point, no private key needed).
const P256_GX: &str = "a2s6j9W7Ldj6d4s2zJWgxVj0Vx7xDBf4YRSGcHcBwpY";
const P256_GY: &str = "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
/// A fixed P-521 public key (its generator point G), so ES512 tokens reach the `p521` verifier.
const P521_GX: &str =
    "AMaFjga3BATpzZ4-y2YjlbRCnGSBOQU_tSH4KK9ga009uqFLXnfv51ko_h3BJ6L_qN4zSLPBhWpCm_l-fjHC5b1m";
const P521_GY: &str =
    "ARg5KWp4mjvABFyKX7QsfRvZmPVESVebRGgXr70XJz5mLJfucple9CZAxVC5AT-tB2E1PHCGonLCQIi-lHaf0WZQ";
/// A fixed Ed25519 public key (the base point B: a valid point of large order).
const ED25519_B: &str = "WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY";
/// The modulus of `tests/fixtures/test-rsa-2048.pem` (e = 65537).
const RSA_N: &str = "0D06XrVMOLFUkfJViYbr-X_IJb-DhNhLi2ckz0NgqEhvrj6-gKSS8iJ7m67j0uEFpU5d3KZ19PAW44ZuLa8t0U1wakbnqOhBwGeqlbDPfRB5rEkNNFyY0x57FYe4gk7ZOyiECV7TGJ8p2mgMV9ymx9fYeAgSvxqQgn3p1WfnfDQ5uklULTKt4pnlxR0TOZTXp2c-JP7Ee3NZBWwMNX0G64GlkBCkttnaAfqa14n2JOee3cVq3gTE2N-pZqO0fYAPr-IrzXYjmi51XvMHYD8bBFXXP5DTmqQ-xSdH4HykW1mlLyN63zzWNSneV5vHRbC8kYxrj4GgUhSbydP2j1NYrQ";

pub fn config_json() -> String {
    serde_json::json!({
        "api_keys": {"from": [{"header": "x-api-key"}, {"query": "api_key"}, {"cookie": "k"}],
            "keys": [
                {"id": "app", "sha256": "0f2ba3bfbc6a7a4ec6b5a0a42f2d6a9a4e8bbd8bfa9b5d8ee4b6bb3fcc5c3a11", "scopes": ["orders:read"]},
                {"id": "off", "sha256": "1f2ba3bfbc6a7a4ec6b5a0a42f2d6a9a4e8bbd8bfa9b5d8ee4b6bb3fcc5c3a11", "disabled": true}
            ],
            "remote": {"cluster": "keys", "authority": "keys.internal", "path": "/edge-keys"}},
        "providers": {
            "idp": {"issuer": ISS, "audiences": ["api"],
                "from": [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}, {"cookie": "at"}],
                "claims_to_headers": [{"claim": "email", "header": "x-user-email"}, {"claim": "org.id", "header": "x-org"}],
                "jwks": {"inline": {"keys": [
                    {"kty": "oct", "kid": "hs", "k": b64(&SECRET)},
                    {"kty": "EC", "crv": "P-256", "kid": "ec", "x": P256_GX, "y": P256_GY},
                    {"kty": "EC", "crv": "P-521", "kid": "ec521", "x": P521_GX, "y": P521_GY},
                    {"kty": "RSA", "kid": "rsa", "n": RSA_N, "e": "AQAB"},
                    {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": ED25519_B}]}}},
            "remote": {"issuer": ISS, "jwks": {"remote": {"cluster": "c", "authority": "a", "path": "/j"}}}
        },
        "rule_sets": {"admin": [{"match": {"path_glob": "/admin/**"}, "require": {"api_key": {"ids": ["app"]}}}]},
        "rules": [
            {"match": {"path_prefix": "/health", "methods": ["GET"]}, "allow": "anonymous"},
            {"match": {"path_glob": "/orders/*", "hosts": ["*.example.com"]},
             "require": {"any": [{"jwt": "idp", "scopes": ["orders:read"]}, {"api_key": {"scopes": ["orders:read"]}}]}},
            {"match": {"path_prefix": "/remote"}, "require": {"jwt": "remote"}},
            {"match": {"path_exact": "/both"}, "require": {"all": [{"jwt": "idp"}, {"api_key": {}}]}},
            {"match": {}, "require": {"jwt": "idp", "claims": {"org.id": [1, "x"]}}}
        ],
        "default": "deny"
    })
    .to_string()
}

/// A token from three fuzz-chosen byte strings, HS256-MACed with the configured secret, so the fuzzer
/// reaches the JSON, header and claim checks (and the signature path) instead of stopping at base64.
pub fn signed_token(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let mac = hmac_sha256::HMAC::mac(input.as_bytes(), SECRET);
    format!("{input}.{}", b64(&mac))
}
