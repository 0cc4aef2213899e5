//! No secret in the logs (issue #6): Envoy at `-l trace` runs edgeguard with API keys, an inline HMAC
//! provider and a remote JWKS (HMAC key fetched through a callout); valid, invalid and unknown
//! credentials go through it. No token, API key, API key digest (sha256 hex) or HMAC secret (raw,
//! base64url, base64) may appear in what **edgeguard** logs — every `wasm log` line, including its
//! lines about the JWKS callouts (fetching, loaded, failed, skipped keys).
//!
//! What Envoy core itself logs at debug/trace level is outside the plugin's control and is NOT
//! asserted on: at debug it dumps its whole configuration, including the plugin JSON (API key digests,
//! inline HMAC secrets); at trace its HTTP codec dumps request headers (`authorization`, `x-api-key`,
//! `:path` with query keys) and callout traffic. The test prints how many core lines carry a secret, so
//! this stays visible. Run Envoy at `info` or above in production.

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use common::{cluster, Envoy, HttpServer, Options, Reply};
use edgeguard::credential::api_key::sha256_hex;
use serde_json::json;

const ISS: &str = "https://idp.example";
/// Printable, so a raw leak would be found as text.
const HMAC_SECRET: &str = "hmac-secret-Zq8vN3kP0rT6wX2yB5mC9dF4gH7jL1sA";
const REMOTE_SECRET: &str = "remote-hmac-secret-Uu7Yy3Ee9Rr1Tt5Ww2Qq8Ii4Oo6Pp0";
const API_KEY: &str = "apikey-live-7f3a9c1e5b2d8f4a6c0e";
const DISABLED_KEY: &str = "apikey-revoked-1b5d9f3a7c2e6b0d";
const UNKNOWN_KEY: &str = "apikey-unknown-4c8e2a6f0b3d7a1e";

/// A request sent: path, headers, expected status.
type Sent = (String, Vec<(&'static str, String)>, u16);

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn b64std(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn hs256(kid: &str, claims: &serde_json::Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64url(
            json!({"alg": "HS256", "kid": kid, "typ": "JWT"})
                .to_string()
                .as_bytes()
        ),
        b64url(claims.to_string().as_bytes())
    );
    let mac = hmac_sha256::HMAC::mac(input.as_bytes(), secret);
    format!("{input}.{}", b64url(&mac))
}

#[test]
fn no_secret_in_edgeguard_logs_at_trace_level() {
    let remote_jwks =
        json!({"keys": [{"kty": "oct", "kid": "remote", "k": b64url(REMOTE_SECRET.as_bytes())}]});
    let server = HttpServer::start("/jwks.json", Reply::json(&remote_jwks.to_string()));
    let plugin = json!({
        "api_keys": {"from": [{"header": "x-api-key"}, {"query": "api_key"}], "keys": [
            {"id": "live", "sha256": sha256_hex(API_KEY.as_bytes())},
            {"id": "old", "sha256": sha256_hex(DISABLED_KEY.as_bytes()), "disabled": true}
        ]},
        "providers": {
            "hmac": {"issuer": ISS, "jwks": {"inline": {"keys": [
                {"kty": "oct", "kid": "inline", "k": b64url(HMAC_SECRET.as_bytes())}]}}},
            "remote": {"issuer": ISS, "jwks": {"remote": {"cluster": "jwks", "authority": "idp.example",
                "path": "/jwks.json"}}}
        },
        "rules": [
            {"match": {"path_prefix": "/key"}, "require": {"api_key": {}}},
            {"match": {"path_prefix": "/remote"}, "require": {"jwt": "remote"}},
            {"match": {}, "require": {"jwt": "hmac"}}
        ]
    })
    .to_string();
    let envoy = Envoy::start_with(
        &plugin,
        Options {
            log_level: "trace".into(),
            clusters: vec![cluster("jwks", server.port())],
            ..Options::default()
        },
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": ISS, "sub": "alice", "exp": now + 300});
    let valid = hs256("inline", &claims, HMAC_SECRET.as_bytes());
    let valid_remote = hs256("remote", &claims, REMOTE_SECRET.as_bytes());
    let forged = hs256("inline", &claims, b"not-the-secret-not-the-secret-xx");
    let expired = hs256(
        "inline",
        &json!({"iss": ISS, "exp": now - 3600}),
        HMAC_SECRET.as_bytes(),
    );
    let unknown_kid = hs256("nope", &claims, HMAC_SECRET.as_bytes());
    let garbage = "eyJhbGciOiJIUzI1NiJ9.garbage-token-value.c2lnbmF0dXJl";

    let bearer = |t: &str| format!("Bearer {t}");
    let sent: Vec<Sent> = vec![
        ("/a".into(), vec![("authorization", bearer(&valid))], 200),
        (
            "/remote/a".into(),
            vec![("authorization", bearer(&valid_remote))],
            200,
        ),
        ("/a".into(), vec![("authorization", bearer(&forged))], 401),
        (
            "/remote/a".into(),
            vec![("authorization", bearer(&forged))],
            401,
        ),
        ("/a".into(), vec![("authorization", bearer(&expired))], 401),
        (
            "/a".into(),
            vec![("authorization", bearer(&unknown_kid))],
            401,
        ),
        ("/a".into(), vec![("authorization", bearer(garbage))], 401),
        ("/key".into(), vec![("x-api-key", API_KEY.to_string())], 200),
        (format!("/key?api_key={API_KEY}"), vec![], 200),
        (
            "/key".into(),
            vec![("x-api-key", DISABLED_KEY.to_string())],
            401,
        ),
        (
            "/key".into(),
            vec![("x-api-key", UNKNOWN_KEY.to_string())],
            401,
        ),
        (format!("/key?api_key={UNKNOWN_KEY}"), vec![], 401),
        (
            "/key".into(),
            vec![
                ("x-api-key", API_KEY.to_string()),
                ("x-api-key", UNKNOWN_KEY.to_string()),
            ],
            401,
        ),
    ];
    for (path, headers, status) in &sent {
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = envoy.get(path, &h);
        assert_eq!(r.status, *status, "{path} {headers:?}: {r:?}");
    }
    // Let the log flush (Envoy flushes its log file periodically).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let log = envoy.log();

    let mut secrets: Vec<(String, String)> = Vec::new();
    for (name, t) in [
        ("valid token", &valid),
        ("valid remote token", &valid_remote),
        ("forged token", &forged),
        ("expired token", &expired),
        ("unknown-kid token", &unknown_kid),
    ] {
        secrets.push((name.into(), t.clone()));
        // The signature alone is as unique as the token (header and payload are not secret-free
        // either, but the signature is what a partial leak would show).
        secrets.push((
            format!("{name} signature"),
            t.rsplit('.').next().unwrap().to_string(),
        ));
    }
    secrets.push(("garbage token".into(), garbage.into()));
    for (name, k) in [
        ("API key", API_KEY),
        ("disabled API key", DISABLED_KEY),
        ("unknown API key", UNKNOWN_KEY),
    ] {
        secrets.push((name.into(), k.into()));
        secrets.push((format!("{name} sha256"), sha256_hex(k.as_bytes())));
        secrets.push((
            format!("{name} SHA256"),
            sha256_hex(k.as_bytes()).to_uppercase(),
        ));
    }
    for (name, s) in [
        ("HMAC secret", HMAC_SECRET),
        ("remote HMAC secret", REMOTE_SECRET),
    ] {
        secrets.push((format!("{name} raw"), s.into()));
        secrets.push((format!("{name} base64url"), b64url(s.as_bytes())));
        secrets.push((format!("{name} base64"), b64std(s.as_bytes())));
    }

    let wasm_lines: Vec<&str> = log.lines().filter(|l| l.contains("wasm log")).collect();
    // edgeguard's lines about its JWKS callouts (fetching, loaded, failed, skipped keys).
    let callout_lines: Vec<&str> = wasm_lines
        .iter()
        .copied()
        .filter(|l| l.contains("JWKS") || l.contains("JWK "))
        .collect();
    assert!(
        wasm_lines.iter().any(|l| l.contains("edgeguard: deny")),
        "edgeguard's debug lines are missing at trace level: {} wasm lines",
        wasm_lines.len()
    );
    assert!(!callout_lines.is_empty(), "no callout lines in the log");
    let mut leaks = Vec::new();
    for (name, secret) in &secrets {
        for l in wasm_lines.iter().chain(&callout_lines) {
            if l.contains(secret.as_str()) {
                leaks.push(format!("{name} in: {l}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in edgeguard's log lines:\n{}",
        leaks.join("\n")
    );

    // Envoy core (not asserted on): report what it wrote.
    let core: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("wasm log") && secrets.iter().any(|(_, s)| l.contains(s.as_str())))
        .collect();
    eprintln!(
        "edgeguard: {} wasm lines and {} callout lines, no secret. Envoy core at trace level wrote {} \
         line(s) with a credential (request header dumps / callout body), e.g.: {:?}",
        wasm_lines.len(),
        callout_lines.len(),
        core.len(),
        core.first().map(|l| l.chars().take(160).collect::<String>())
    );
}
