//! Micro-benchmark of the whole plugin per request path — `Plugin::on_request` through the mock host
//! (header map copy, reading, rules, credential, edits, counters) — under V8, where CPU time is
//! steadier than Envoy on a shared machine. What it leaves out is the host's side of each host
//! call (Envoy's header map work and the V8 boundary): `plugin::tests::host_calls_per_request_path`
//! counts those calls.
//!
//! ```sh
//! cargo build --release --target wasm32-wasip1 --example plugin_bench --features testing
//! node --no-warnings examples/run_wasi.mjs target/wasm32-wasip1/release/examples/plugin_bench.wasm
//! ```

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)] // a benchmark

use edgeguard::plugin::Plugin;
use edgeguard::testing::MockHost;
use serde_json::json;

#[path = "support/timing.rs"]
mod timing;
use timing::bench;

const API_KEY: &str = "eg-bench-key-0123456789";
const SECRET: &[u8] = b"an HS256 secret of thirty-two by";

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn main() {
    let now = 1_700_000_000u64;
    let config = json!({
        "api_keys": {"keys": [{"id": "bench", "sha256": edgeguard::credential::api_key::sha256_hex(API_KEY.as_bytes())}]},
        "providers": {"idp": {"issuer": "https://idp.bench", "audiences": ["api"],
                              "jwks": {"inline": {"keys": [{"kty": "oct", "kid": "h", "alg": "HS256", "k": b64(SECRET)}]}}}},
        "rules": [{"match": {"path_prefix": "/public"}, "allow": "anonymous"},
                  {"match": {"path_prefix": "/keyed"}, "require": {"api_key": {}}},
                  {"match": {"path_prefix": "/"}, "require": {"jwt": "idp"}}]
    });
    let header = b64(br#"{"alg":"HS256","typ":"JWT","kid":"h"}"#);
    let claims = b64(
        json!({"iss": "https://idp.bench", "aud": "api", "sub": "bench",
                            "iat": now, "exp": now + 3600})
        .to_string()
        .as_bytes(),
    );
    let input = format!("{header}.{claims}");
    let token = format!(
        "{input}.{}",
        b64(&hmac_sha256::HMAC::mac(input.as_bytes(), SECRET))
    );
    let bearer = format!("Bearer {token}");
    let host = MockHost::new(now * 1000);
    let plugin = Plugin::configure(&host, config.to_string().as_bytes(), 0, 1).unwrap();
    let base = [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "api.bench"),
        ("user-agent", "wrk"),
        ("accept", "*/*"),
    ];
    for (name, path, extra, status) in [
        ("anonymous allow", "/public/1", None, None),
        (
            "API key allow",
            "/keyed/1",
            Some(("x-api-key", API_KEY)),
            None,
        ),
        (
            "cached token allow",
            "/orders/1",
            Some(("authorization", bearer.as_str())),
            None,
        ),
        ("denied (no credential)", "/orders/1", None, Some(401)),
    ] {
        let mut headers: Vec<(&str, &str)> = base.to_vec();
        headers.push((":path", path));
        headers.extend(extra);
        let mut id = 1u32;
        let us = bench(2000, 9, || {
            id = id.wrapping_add(1);
            host.open(id, &headers);
            plugin.on_request(&host, id, true);
            let reply = host.reply(id).map(|r| r.status);
            host.close(id);
            reply == status
        });
        println!("{name:24} {us:6.2} µs per request (plugin work, mock host)");
    }
}
