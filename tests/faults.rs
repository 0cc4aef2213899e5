//! Fault injection (issue #6) through a real Envoy: the JWKS server down at start, dying later,
//! hanging past `timeout_ms`, answering garbage; key rotation under load; a slow upstream.
//!
//! Expected (README, "Failure behaviour"): the last good keys are used for `max_stale_seconds`, then
//! requests fail closed with 503 `jwks_unavailable`; no request waits longer than `timeout_ms` + 2 s
//! for keys; Envoy stays up and the wasm VMs are never restarted or failed (admin `wasm.*` stats are
//! compared before and after every scenario).

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use common::{b64, cluster, Envoy, HttpServer, Options, Reply, Response};
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

type StdDuration = std::time::Duration;

const ISS: &str = "https://idp.example";
/// Longest a request may wait for keys: the provider's `timeout_ms` + 2 s (see adapter), plus slack
/// for a loaded machine.
const SLACK: StdDuration = StdDuration::from_secs(4);

fn new_key(kid: &str) -> ES256KeyPair {
    ES256KeyPair::generate().with_key_id(kid)
}

fn jwk(k: &ES256KeyPair) -> Value {
    let p = k.public_key().public_key().to_bytes_uncompressed();
    json!({"kty": "EC", "crv": "P-256", "kid": k.key_id().clone().unwrap(),
           "x": b64(&p[1..33]), "y": b64(&p[33..])})
}

fn jwks(keys: &[&ES256KeyPair]) -> String {
    json!({"keys": keys.iter().map(|k| jwk(k)).collect::<Vec<_>>()}).to_string()
}

fn token(k: &ES256KeyPair) -> String {
    let c = jwt_simple::prelude::Claims::with_custom_claims(Map::new(), Duration::from_secs(600))
        .with_issuer(ISS)
        .with_audience("api")
        .with_subject("alice");
    k.sign(c).unwrap()
}

/// One remote provider per entry of `providers` (name, server port, timeout_ms, max_stale_seconds);
/// requests to `/<name>/...` require that provider.
fn plugin(providers: &[(&str, u16, u64, u64)]) -> (String, Vec<Value>) {
    let mut p = Map::new();
    let mut rules = Vec::new();
    let mut clusters = Vec::new();
    for (name, port, timeout_ms, max_stale) in providers {
        p.insert(
            (*name).to_string(),
            json!({"issuer": ISS, "audiences": ["api"], "jwks": {"remote": {
                "cluster": format!("jwks_{name}"), "authority": "idp.example", "path": "/jwks.json",
                "refresh_seconds": 1, "timeout_ms": timeout_ms, "max_stale_seconds": max_stale,
                "max_bytes": 65536}}}),
        );
        rules.push(json!({"match": {"path_prefix": format!("/{name}")}, "require": {"jwt": name}}));
        clusters.push(cluster(&format!("jwks_{name}"), *port));
    }
    (
        json!({"providers": p, "rules": rules}).to_string(),
        clusters,
    )
}

/// Envoy with one remote provider per entry (see [`plugin`]), and its wasm VM stats at start for
/// [`assert_vms_unchanged`].
fn start(providers: &[(&str, u16, u64, u64)], upstream_port: Option<u16>) -> (Envoy, Vec<String>) {
    let (p, clusters) = plugin(providers);
    let envoy = Envoy::start_with(
        &p,
        Options {
            clusters,
            upstream_port,
            ..Options::default()
        },
    );
    let before = vm_stats(&envoy);
    (envoy, before)
}

fn get(envoy: &Envoy, path: &str, t: &str) -> Response {
    envoy.get(path, &[("authorization", &format!("Bearer {t}"))])
}

fn reason(r: &Response) -> String {
    serde_json::from_str::<Value>(&r.body)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The wasm VM lifecycle stats (`wasm.*` minus remote-load caches): creations, active VMs, reloads.
fn vm_stats(envoy: &Envoy) -> Vec<String> {
    let s: Vec<String> = envoy
        .stats()
        .lines()
        .filter(|l| l.starts_with("wasm.") && !l.contains("remote_load"))
        .map(str::to_string)
        .collect();
    assert!(
        s.iter()
            .any(|l| l.starts_with("wasm.envoy.wasm.runtime.v8.created")),
        "no wasm runtime stats: {s:?}"
    );
    s
}

/// Envoy is alive, and no VM was created, lost or reloaded since `before`.
fn assert_vms_unchanged(envoy: &Envoy, before: &[String]) {
    let after = vm_stats(envoy);
    assert_eq!(before, after, "wasm VM stats changed");
    for l in &after {
        if l.contains("vm_reload") || l.contains("fail") {
            assert!(l.ends_with(": 0"), "{l}");
        }
    }
    assert_eq!(
        common::http_get(envoy.admin, "/ready").unwrap().body.trim(),
        "LIVE"
    );
}

/// Polls until `path` answers `status` (bounded); returns the last response.
fn wait_status(envoy: &Envoy, path: &str, t: &str, status: u16, within: StdDuration) -> Response {
    let deadline = Instant::now() + within;
    loop {
        let r = get(envoy, path, t);
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        thread::sleep(StdDuration::from_millis(100));
    }
}

#[test]
fn jwks_down_at_start_fails_closed_then_recovers() {
    let key = new_key("a");
    let mut server = HttpServer::start("/jwks.json", Reply::json(&jwks(&[&key])));
    server.stop();
    let (envoy, before) = start(&[("down", server.port(), 500, 60)], None);
    let t = token(&key);
    for _ in 0..3 {
        let started = Instant::now();
        let r = get(&envoy, "/down/x", &t);
        assert_eq!(
            (r.status, reason(&r).as_str()),
            (503, "jwks_unavailable"),
            "{r:?}"
        );
        assert!(r.header("retry-after").is_some(), "{r:?}");
        assert!(
            started.elapsed() < StdDuration::from_millis(500) + SLACK,
            "{:?}",
            started.elapsed()
        );
    }
    server.restart();
    let r = wait_status(&envoy, "/down/x", &t, 200, StdDuration::from_secs(20));
    assert_eq!(
        r.status, 200,
        "no recovery after the JWKS server came back: {r:?}"
    );
    assert_eq!(envoy.echo.as_ref().unwrap().hits(), 1);
    assert_vms_unchanged(&envoy, &before);
}

#[test]
fn jwks_dies_later_stale_keys_then_fail_closed() {
    let key = new_key("a");
    let mut server = HttpServer::start("/jwks.json", Reply::json(&jwks(&[&key])));
    // Stale keys usable for 4 s after the last successful fetch.
    let (envoy, before) = start(&[("dies", server.port(), 500, 4)], None);
    let t = token(&key);
    assert_eq!(
        wait_status(&envoy, "/dies/x", &t, 200, StdDuration::from_secs(10)).status,
        200
    );
    server.stop();
    let stopped = Instant::now();
    // Within the stale window the last good keys still decide (and a bad token is still refused).
    let r = get(&envoy, "/dies/x", &t);
    assert_eq!(r.status, 200, "{r:?}");
    let bad = token(&new_key("a"));
    assert_eq!(reason(&get(&envoy, "/dies/x", &bad)), "bad_signature");
    // Beyond it: fail closed.
    let r = wait_status(&envoy, "/dies/x", &t, 503, StdDuration::from_secs(20));
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (503, "jwks_unavailable"),
        "{r:?}"
    );
    let after = stopped.elapsed();
    // The last fetch happened at most ~1 s (refresh) before the stop.
    assert!(
        after >= StdDuration::from_secs(2),
        "failed closed after {after:?}, before the stale window"
    );
    // And it recovers.
    server.restart();
    assert_eq!(
        wait_status(&envoy, "/dies/x", &t, 200, StdDuration::from_secs(20)).status,
        200
    );
    assert_vms_unchanged(&envoy, &before);
}

#[test]
fn jwks_hanging_past_timeout_never_holds_requests() {
    let key = new_key("a");
    let server = HttpServer::start(
        "/jwks.json",
        Reply::json(&jwks(&[&key])).delayed(StdDuration::from_secs(30)),
    );
    let (envoy, before) = start(&[("hang", server.port(), 300, 60)], None);
    let t = token(&key);
    // Keys never arrive: every request is answered 503 within timeout + 2 s (+ slack).
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (addr, auth) = (envoy.addr(), format!("Bearer {t}"));
            thread::spawn(move || {
                let started = Instant::now();
                let r =
                    common::http_request(addr, "GET", "/hang/x", &[("authorization", &auth)], "")
                        .unwrap();
                (r.status, started.elapsed())
            })
        })
        .collect();
    for h in handles {
        let (status, took) = h.join().unwrap();
        assert_eq!(status, 503);
        assert!(took < StdDuration::from_millis(2300) + SLACK, "{took:?}");
    }
    // Then it answers promptly: keys load, and while a refresh hangs the loaded keys keep serving.
    server.set(Reply::json(&jwks(&[&key])));
    assert_eq!(
        wait_status(&envoy, "/hang/x", &t, 200, StdDuration::from_secs(20)).status,
        200
    );
    server.set(Reply::json(&jwks(&[&key])).delayed(StdDuration::from_secs(30)));
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(get(&envoy, "/hang/x", &t).status, 200);
        thread::sleep(StdDuration::from_millis(100));
    }
    assert!(started.elapsed() < StdDuration::from_secs(20));
    assert_vms_unchanged(&envoy, &before);
}

#[test]
fn garbage_jwks_responses_keep_last_good_keys() {
    let key = new_key("a");
    let other = new_key("z");
    let good = jwks(&[&key]);
    let ten_mib = format!(
        r#"{{"keys":[{}],"pad":"{}"}}"#,
        jwk(&key),
        "x".repeat(10 << 20)
    );
    let mut with_unknown: Value = serde_json::from_str(&jwks(&[&key])).unwrap();
    let keys = with_unknown["keys"].as_array_mut().unwrap();
    keys.insert(0, json!({"kty": "PQC", "kid": "q", "pub": "AAAA"}));
    keys.insert(
        0,
        json!({"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"}),
    );
    keys.push(json!({"kty": "RSA", "kid": "short", "n": b64(&[0xc3; 64]), "e": "AQAB"}));
    let bad_replies: Vec<(&str, Reply)> = vec![
        ("s500", Reply::status(500, &good)),
        ("s404", Reply::status(404, "not found")),
        (
            "html",
            Reply {
                content_type: "text/html".into(),
                ..Reply::json("<html><body>login</body></html>")
            },
        ),
        ("trunc", Reply::json(&good[..good.len() / 2])),
        ("big", Reply::json(&ten_mib)),
        ("nokeys", Reply::json(r#"{"keys":[]}"#)),
        ("other", Reply::json(&jwks(&[&other]))),
    ];
    let mut servers: Vec<(&str, HttpServer)> = bad_replies
        .iter()
        .map(|(n, r)| (*n, HttpServer::start("/jwks.json", r.clone())))
        .collect();
    servers.push((
        "mixed",
        HttpServer::start("/jwks.json", Reply::json(&with_unknown.to_string())),
    ));
    let spec: Vec<(&str, u16, u64, u64)> = servers
        .iter()
        .map(|(n, s)| (*n, s.port(), 1000, 3600))
        .collect();
    let (envoy, before) = start(&spec, None);
    let t = token(&key);
    // At start: no usable key set → 503 (the "other" set loads but lacks the kid → 401).
    for (name, _) in &bad_replies {
        let r = get(&envoy, &format!("/{name}/x"), &t);
        let expect = if *name == "other" {
            (401, "unknown_kid")
        } else {
            (503, "jwks_unavailable")
        };
        assert_eq!((r.status, reason(&r).as_str()), expect, "{name}: {r:?}");
    }
    // Unknown key types (and unusable keys) among good ones are skipped: the good key works.
    let r = wait_status(&envoy, "/mixed/x", &t, 200, StdDuration::from_secs(10));
    assert_eq!(r.status, 200, "{r:?}");
    // Serve good keys everywhere: every provider loads them ...
    for (_, s) in &servers {
        s.set(Reply::json(&good));
    }
    for (name, _) in &bad_replies {
        let r = wait_status(
            &envoy,
            &format!("/{name}/x"),
            &t,
            200,
            StdDuration::from_secs(40),
        );
        assert_eq!(r.status, 200, "{name}: {r:?}");
    }
    // ... then garbage again: the last good keys stay in use (refresh is 1 s; wait several).
    for ((_, s), (_, reply)) in servers.iter().zip(&bad_replies) {
        s.reset_hits();
        s.set(reply.clone());
    }
    for (_, s) in &servers[..bad_replies.len()] {
        assert!(
            s.wait_hits(2, StdDuration::from_secs(20)),
            "no refetch attempts"
        );
    }
    for (name, _) in &bad_replies {
        let r = get(&envoy, &format!("/{name}/x"), &t);
        // "other" is a *valid* key set without our key: it replaces the old one (rotation).
        let expect = if *name == "other" { 401 } else { 200 };
        assert_eq!(r.status, expect, "{name}: {r:?}");
    }
    // Counters reach Envoy on the plugin's timer (100 ms).
    common::wait_until(StdDuration::from_secs(5), || {
        envoy
            .stat(&format!("wasmcustom.{}", stats::jwks_fetch("big", false)))
            .unwrap_or(0)
            >= 2
    });
    let failed = envoy
        .stat(&format!("wasmcustom.{}", stats::jwks_fetch("big", false)))
        .unwrap_or(0);
    assert!(failed >= 2, "{:?}", envoy.stats_matching("jwks.big"));
    assert_vms_unchanged(&envoy, &before);
}

#[test]
fn key_rotation_under_load() {
    let a = new_key("a");
    let b = new_key("b");
    let server = HttpServer::start("/jwks.json", Reply::json(&jwks(&[&a])));
    let (envoy, before) = start(&[("rot", server.port(), 1000, 3600)], None);
    let (ta, tb) = (token(&a), token(&b));
    assert_eq!(
        wait_status(&envoy, "/rot/x", &ta, 200, StdDuration::from_secs(10)).status,
        200
    );
    let stop = Arc::new(AtomicBool::new(false));
    let bad_status = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..3)
        .map(|i| {
            let (stop, bad_status, sent) = (stop.clone(), bad_status.clone(), sent.clone());
            let addr = envoy.addr();
            let auth = format!("Bearer {}", if i % 2 == 0 { &ta } else { &tb });
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let r = common::http_request(
                        addr,
                        "GET",
                        "/rot/x",
                        &[("authorization", &auth)],
                        "",
                    )
                    .unwrap();
                    sent.fetch_add(1, Ordering::SeqCst);
                    if r.status != 200 && r.status != 401 {
                        bad_status.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    // a → a+b → b → b+a → a, a couple of seconds each.
    for set in [vec![&a, &b], vec![&b], vec![&a, &b], vec![&a]] {
        server.set(Reply::json(&jwks(&set)));
        thread::sleep(StdDuration::from_millis(2500));
    }
    // Both tokens work while both keys are published.
    server.set(Reply::json(&jwks(&[&a, &b])));
    assert_eq!(
        wait_status(&envoy, "/rot/x", &tb, 200, StdDuration::from_secs(10)).status,
        200
    );
    assert_eq!(get(&envoy, "/rot/x", &ta).status, 200);
    // After b is withdrawn, its token is refused once the refresh lands.
    server.set(Reply::json(&jwks(&[&a])));
    let r = wait_status(&envoy, "/rot/x", &tb, 401, StdDuration::from_secs(10));
    assert_eq!(reason(&r), "unknown_kid", "{r:?}");
    stop.store(true, Ordering::SeqCst);
    for h in load {
        h.join().unwrap();
    }
    assert!(sent.load(Ordering::SeqCst) > 20);
    assert_eq!(
        bad_status.load(Ordering::SeqCst),
        0,
        "5xx (or other) answers during rotation"
    );
    assert_vms_unchanged(&envoy, &before);
}

#[test]
fn slow_upstream_does_not_block_other_requests() {
    let key = new_key("a");
    let jwks_server = HttpServer::start("/jwks.json", Reply::json(&jwks(&[&key])));
    let upstream = HttpServer::start(
        "/slow/x",
        Reply::json("{}").delayed(StdDuration::from_secs(3)),
    );
    let (envoy, before) = start(
        &[("slow", jwks_server.port(), 1000, 3600)],
        Some(upstream.port()),
    );
    let t = token(&key);
    // Warm up the key set (answer 200 after the upstream's 3 s).
    assert_eq!(get(&envoy, "/slow/x", &t).status, 200);
    let started = Instant::now();
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let (addr, auth) = (envoy.addr(), format!("Bearer {t}"));
            thread::spawn(move || {
                common::http_request(addr, "GET", "/slow/x", &[("authorization", &auth)], "")
                    .unwrap()
                    .status
            })
        })
        .collect();
    thread::sleep(StdDuration::from_millis(300));
    // While 8 requests sit in the slow upstream, denials are immediate.
    for _ in 0..10 {
        let t0 = Instant::now();
        let r = get(&envoy, "/slow/x", "garbage");
        assert_eq!(r.status, 401);
        assert!(
            t0.elapsed() < StdDuration::from_secs(2),
            "{:?}",
            t0.elapsed()
        );
    }
    for h in slow {
        assert_eq!(h.join().unwrap(), 200);
    }
    // Concurrent, not serialized: 8 × 3 s would be 24 s.
    assert!(
        started.elapsed() < StdDuration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_vms_unchanged(&envoy, &before);
}

/// Clients that give up while their request waits for keys: the paused requests are forgotten (the
/// plugin keeps no callback for a stream's end but its deletion), never resumed into the upstream,
/// and nothing breaks when the keys arrive.
#[test]
fn clients_leaving_while_waiting_for_keys_are_forgotten() {
    use std::io::Write as _;
    let key = new_key("a");
    let server = HttpServer::start(
        "/jwks.json",
        Reply::json(&jwks(&[&key])).delayed(StdDuration::from_millis(2500)),
    );
    let (envoy, before) = start(&[("gone", server.port(), 5000, 3600)], None);
    let t = token(&key);
    // Eight requests start waiting for the first key set; their clients hang up after 300 ms.
    let request =
        format!("GET /gone/x HTTP/1.1\r\nhost: api.example\r\nauthorization: Bearer {t}\r\n\r\n");
    let clients: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(envoy.addr()).unwrap();
            c.write_all(request.as_bytes()).unwrap();
            c
        })
        .collect();
    thread::sleep(StdDuration::from_millis(300));
    drop(clients);
    // The keys arrive; a new request is served; none of the abandoned ones reached the upstream.
    let r = wait_status(&envoy, "/gone/x", &t, 200, StdDuration::from_secs(15));
    assert_eq!(r.status, 200, "{r:?}");
    thread::sleep(StdDuration::from_millis(500));
    assert_eq!(envoy.echo.as_ref().unwrap().hits(), 1);
    assert_vms_unchanged(&envoy, &before);
}
