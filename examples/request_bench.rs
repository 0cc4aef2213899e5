//! Micro-benchmark of the request path: `jwt::verify` per algorithm (parse + claims + signature) and
//! `Engine::check` for an API-key request and a token request (verified-token cache off), so a change
//! to the build (optimization levels, post-processing) can be checked for speed under V8.
//!
//! ```sh
//! cargo build --release --target wasm32-wasip1 --example request_bench
//! node --no-warnings examples/run_wasi.mjs target/wasm32-wasip1/release/examples/request_bench.wasm
//! ```
//!
//! Figures are thread CPU µs per call, the median of several batches after warm-up (see verify_bench).

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)] // a benchmark

use base64::Engine as _;
use edgeguard::config::Config;
use edgeguard::engine::{Engine, Outcome};
use edgeguard::request::Request;
use edgeguard::resources::{KeyAvailability, Resources};
use edgeguard::transport::Connection;

/// A plaintext connection (no configuration here requires TLS: never asked).
struct Plain;

impl Connection for Plain {
    fn is_tls(&self) -> bool {
        false
    }
    fn source_address(&self) -> Option<String> {
        None
    }
    fn peer_uri_san(&self) -> Option<String> {
        None
    }
    fn filter_chain(&self) -> Option<String> {
        None
    }
}
use jwt_simple::prelude::*;
use serde_json::json;

const KEY_2048: &str = include_str!("../tests/rsa_keys/rsa2048_1.pem");
const ISSUER: &str = "https://idp.bench";
const API_KEY: &str = "eg-bench-key-0123456789";

#[path = "support/timing.rs"]
mod timing;
use timing::bench;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

struct NoRemote;
impl Resources for NoRemote {
    fn key_set(&self, _: &str) -> KeyAvailability {
        KeyAvailability::Unavailable(edgeguard::resources::KeyDocument::KeySet)
    }
    fn refetch_key_set(&self, _: &str) -> bool {
        false
    }
    fn api_key_set(
        &self,
    ) -> edgeguard::resources::Loaded<std::rc::Rc<edgeguard::api_key_set::ApiKeySet>> {
        edgeguard::resources::Loaded::Unavailable
    }
}

fn main() {
    let rs = RS256KeyPair::from_pem(KEY_2048).unwrap().with_key_id("rs");
    let es = ES256KeyPair::generate().with_key_id("es");
    let ed = Ed25519KeyPair::generate().with_key_id("ed");
    let rsc = rs.public_key().to_components();
    let ec = es.public_key().public_key().to_bytes_uncompressed();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rs", "alg": "RS256", "n": b64(&rsc.n), "e": b64(&rsc.e)},
        {"kty": "EC", "kid": "es", "alg": "ES256", "crv": "P-256", "x": b64(&ec[1..33]), "y": b64(&ec[33..65])},
        {"kty": "OKP", "kid": "ed", "alg": "EdDSA", "crv": "Ed25519", "x": b64(&ed.public_key().to_bytes())},
    ]});
    let config = json!({
        "api_keys": {"keys": [{"id": "bench", "sha256": edgeguard::credential::api_key::sha256_hex(API_KEY.as_bytes()),
                               "scopes": ["orders:read"]}]},
        "providers": {"idp": {"issuer": ISSUER, "audiences": ["api"], "jwks": {"inline": jwks}}},
        "token_cache": {"max_entries": 0},
        "rules": [{"match": {"path_prefix": "/orders"}, "require": {"any": [
            {"api_key": {"scopes": ["orders:read"]}}, {"jwt": "idp", "scopes": ["orders:read"]}]}}]
    });
    let engine = Engine::new(Config::parse(config.to_string().as_bytes()).unwrap());
    let claims = || {
        Claims::with_custom_claims(json!({"scope": "orders:read"}), Duration::from_hours(1))
            .with_issuer(ISSUER)
            .with_audience("api")
            .with_subject("bench")
    };
    let now = jwt_simple::prelude::Clock::now_since_epoch().as_secs();
    let provider = &engine.config().providers["idp"];
    let keys = match &provider.jwks {
        edgeguard::provider::JwksSource::Inline(k) => k,
        _ => unreachable!(),
    };
    let batches = 9;
    for (name, token, iters) in [
        ("RS256", rs.sign(claims()).unwrap(), 200),
        ("ES256", es.sign(claims()).unwrap(), 60),
        ("EdDSA", ed.sign(claims()).unwrap(), 200),
    ] {
        let t = bench(iters, batches, || {
            edgeguard::jwt::verify(&token, &provider.rules, keys, now).is_ok()
        });
        println!("jwt::verify {name}: {t:.1} µs");
    }
    let req = |h: (&str, String)| {
        Request::from_headers(vec![
            (":method".into(), "GET".into()),
            (":path".into(), "/orders/17?page=2".into()),
            (":authority".into(), "api.example".into()),
            ("user-agent".into(), "bench".into()),
            (h.0.into(), h.1),
        ])
    };
    let allowed = |r: &Request| {
        matches!(
            engine.check(r, now, &NoRemote, None, &Plain).outcome,
            Outcome::Decided(edgeguard::decision::Decision::Allow { .. })
        )
    };
    let key_req = req(("x-api-key", API_KEY.into()));
    let t = bench(5000, batches, || allowed(&key_req));
    println!("Engine::check API key: {t:.2} µs");
    let ed_req = req((
        "authorization",
        format!("Bearer {}", ed.sign(claims()).unwrap()),
    ));
    let t = bench(200, batches, || allowed(&ed_req));
    println!("Engine::check EdDSA token (no cache): {t:.1} µs");
}
