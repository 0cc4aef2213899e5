//! Profiling aid (not a benchmark): runs the core's check on one request many times, e.g. under
//! `valgrind --tool=callgrind`, to see where the per-request instructions go.
//!   cargo run --release --example check_cost -- apikey|jwt N   (fixtures: bench/out, from `make bench`)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a profiling aid, not an input path
use edgeguard::config::Config;
use edgeguard::engine::{Engine, KeyAvailability, KeyStore};
use edgeguard::request::Request;

struct NoRemote;
impl KeyStore for NoRemote {
    fn keys(&self, _: &str) -> KeyAvailability {
        KeyAvailability::Unavailable
    }
    fn refetch_unknown_kid(&self, _: &str) -> bool {
        false
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map_or("apikey", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let out = "bench/out";
    let read = |f: &str| std::fs::read_to_string(format!("{out}/{f}")).unwrap();
    let first = |f: &str| read(f).lines().next().unwrap().trim().to_string();
    let meta: serde_json::Value = serde_json::from_str(&read("meta.json")).unwrap();
    let pool: Vec<String> = if kind.ends_with("cold") {
        let alg = kind.trim_end_matches("-cold");
        read(&format!("{alg}.pool"))
            .lines()
            .map(|l| format!("Bearer {}", l.trim()))
            .collect()
    } else {
        Vec::new()
    };
    let (config, header, value) = match kind {
        "apikey" => (
            serde_json::json!({"api_keys": {"keys": [{"id": "bench", "sha256": first("apikey.sha256")}]}}),
            "x-api-key",
            first("apikey.txt"),
        ),
        _ => (
            serde_json::json!({"providers": {"idp": {"issuer": meta["issuer"], "audiences": [meta["audience"]],
                "jwks": {"inline": serde_json::from_str::<serde_json::Value>(&read("jwks.json")).unwrap()}}}}),
            "authorization",
            format!("Bearer {}", first("es256.token")),
        ),
    };
    let engine = Engine::new(Config::parse(config.to_string().as_bytes()).unwrap());
    let headers = vec![
        (":authority".to_string(), "127.0.0.1:10000".to_string()),
        (":path".to_string(), "/".to_string()),
        (":method".to_string(), "GET".to_string()),
        (":scheme".to_string(), "http".to_string()),
        (header.to_string(), value),
        ("x-forwarded-proto".to_string(), "http".to_string()),
        (
            "x-request-id".to_string(),
            "6f1d5c2e-1b7a-4b7e-9f1e-2c3d4e5f6a7b".to_string(),
        ),
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut allowed = 0;
    for i in 0..n {
        let mut headers = headers.clone();
        if let Some(t) = pool.get(i % pool.len().max(1)) {
            headers[4].1 = t.clone();
        }
        let req = Request::from_headers(headers);
        let c = engine.check(&req, now, &NoRemote, None);
        if matches!(
            c.outcome,
            edgeguard::engine::Outcome::Decided(edgeguard::decision::Decision::Allow { .. })
        ) {
            allowed += 1;
        }
    }
    println!("{kind}: {allowed}/{n} allowed");
}
