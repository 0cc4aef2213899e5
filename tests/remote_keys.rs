//! Remote API-key sets (issue 11) through a real Envoy running the built `target/edgeguard.wasm`,
//! with the key set served by the harness' own controllable HTTP server: keys from the set accepted,
//! revoked (removed, then disabled) mid-run at `--concurrency 2` and refused on every worker within
//! one refresh, one fetch per refresh per proxy, the store down at start (503 `key_set_unavailable`,
//! inline keys still pass), dying later (the last good set serves until `max_stale_seconds`), an
//! oversized body, expired and not-yet-valid keys (inline and remote), a remote duplicate of an
//! inline id, and the metrics read back from `/stats`.

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use common::{
    cluster, http_raw, request_bytes, validate_plugin, wait_until, Envoy, HttpServer, Options,
    Reply, Response,
};
use edgeguard::credential::api_key::sha256_hex;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const INLINE_KEY: &str = "inline-key-0123456789abcdef";
/// Bound for a change to reach every worker: one refresh (1 s), the 100 ms tick, and slack for a
/// loaded machine.
const WITHIN_REFRESH: Duration = Duration::from_secs(6);

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One entry of a key-set document (`extra` members merged in).
fn entry(id: &str, key: &str, extra: Value) -> Value {
    let mut e = json!({"id": id, "sha256": sha256_hex(key.as_bytes()), "scopes": ["orders:read"]});
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    e
}

fn doc(entries: &[Value]) -> String {
    json!({"version": 1, "keys": entries}).to_string()
}

/// Envoy (`--concurrency 2`) with the inline key `inline-app` (plus `inline`), and the remote set
/// on `server` (refresh 1 s, timeout 500 ms).
fn start(server: &HttpServer, max_stale: u64, max_bytes: u64, inline: &[Value]) -> Envoy {
    let mut keys = vec![entry("inline-app", INLINE_KEY, json!({}))];
    keys.extend_from_slice(inline);
    let plugin = json!({"api_keys": {
        "keys": keys,
        "remote": {"cluster": "keys", "authority": "keys.internal", "path": server.path(),
                   "refresh_seconds": 1, "timeout_ms": 500, "max_stale_seconds": max_stale,
                   "max_bytes": max_bytes}},
        // An inline key's plan must be one of these (remote ones fall back when not).
        "plans": {"names": ["default", "gold", "silver"]}})
    .to_string();
    Envoy::start_with(
        &plugin,
        Options {
            concurrency: 2,
            clusters: vec![cluster("keys", server.port())],
            ..Options::default()
        },
    )
}

/// One request on its own connection, read up to the end of the body (a local reply's delayed
/// close costs nothing).
fn get(envoy: &Envoy, key: &str) -> Response {
    let raw = request_bytes("GET", "/orders", &[("x-api-key", key)], "");
    http_raw(envoy.addr(), &raw).unwrap_or_else(|e| panic!("GET through Envoy: {e}"))
}

fn reason(r: &Response) -> String {
    serde_json::from_str::<Value>(&r.body)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The key id the upstream was told, for a 200 (the echo of what reached it).
fn upstream_key_id(r: &Response) -> String {
    assert_eq!(r.status, 200, "{r:?}");
    let saw = r.json();
    assert!(
        saw["headers"].get("x-api-key").is_none(),
        "the key reached the upstream: {saw}"
    );
    saw["headers"]["x-edgeguard-key-id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits (bounded) until `n` requests in a row with `key` (each on its own connection, so both
/// workers answer) get `status` and `want_reason`; returns the last response.
fn wait_steady(
    envoy: &Envoy,
    key: &str,
    status: u16,
    want_reason: &str,
    n: usize,
    within: Duration,
) -> Response {
    let deadline = Instant::now() + within;
    let mut streak = 0;
    loop {
        let r = get(envoy, key);
        if r.status == status && reason(&r) == want_reason {
            streak += 1;
            if streak >= n {
                return r;
            }
        } else {
            streak = 0;
            assert!(
                Instant::now() < deadline,
                "no {n} answers {status} {want_reason:?} in a row within {within:?}: last {r:?}\n{}",
                envoy.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn remote_keys_pass_and_revocations_reach_every_worker_within_one_refresh() {
    let (k1, k2) = ("remote-key-one-0123456789", "remote-key-two-0123456789");
    let server = HttpServer::start(
        "/edge-keys",
        Reply::json(&doc(&[
            entry("k1", k1, json!({})),
            entry("k2", k2, json!({})),
        ])),
    );
    let envoy = start(&server, 3600, 65536, &[]);
    // The first request waits for the first fetch rather than being refused.
    assert_eq!(upstream_key_id(&get(&envoy, k1)), "k1");
    wait_steady(&envoy, k1, 200, "", 20, WITHIN_REFRESH);
    assert_eq!(upstream_key_id(&get(&envoy, k2)), "k2");
    assert_eq!(upstream_key_id(&get(&envoy, INLINE_KEY)), "inline-app");
    let r = get(&envoy, "not-a-key-0123456789");
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (401, "unknown_key"),
        "{r:?}"
    );

    // Revoke mid-run: k1 removed from the set, then k2 disabled.
    server.reset_hits();
    let measured = Instant::now();
    server.set(Reply::json(&doc(&[entry("k2", k2, json!({}))])));
    wait_steady(&envoy, k1, 401, "unknown_key", 30, WITHIN_REFRESH);
    assert_eq!(get(&envoy, k2).status, 200);
    server.set(Reply::json(&doc(&[entry(
        "k2",
        k2,
        json!({"disabled": true}),
    )])));
    wait_steady(&envoy, k2, 401, "disabled_key", 30, WITHIN_REFRESH);
    wait_steady(&envoy, INLINE_KEY, 200, "", 10, WITHIN_REFRESH);
    // Metrics (counters reach Envoy on the 100 ms tick): fetches, and the keys of the set in use
    // (k2, disabled, is still loaded).
    let counted = || {
        envoy.stat(&format!("wasmcustom.{}", stats::key_set_keys())) == Some(1)
            && envoy.edgeguard_count(&stats::key_allowed("k1")) >= 20
            && envoy.edgeguard_count(&stats::name(
                stats::REQUESTS,
                &[("decision", "denied"), ("reason", "unknown_key")],
            )) >= 30
            && envoy.edgeguard_count(&stats::name(
                stats::REQUESTS,
                &[("decision", "denied"), ("reason", "disabled_key")],
            )) >= 30
    };
    assert!(
        wait_until(Duration::from_secs(5), counted),
        "{:?}",
        envoy.stats_matching("edgeguard")
    );
    assert!(envoy.edgeguard_count(&stats::key_set_fetch(true)) >= 2);
    assert_eq!(envoy.edgeguard_count(&stats::key_set_fetch(false)), 0);
    // Once per refresh (1 s) per proxy, over a window of at least 4 s: three VMs (two workers and
    // the main thread) fetching on their own would be three times that.
    std::thread::sleep(Duration::from_secs(4).saturating_sub(measured.elapsed()));
    let elapsed = measured.elapsed().as_secs();
    let hits = server.hits();
    assert!(
        (1..=elapsed + 2).contains(&hits),
        "{hits} fetches in {elapsed} s with refresh_seconds 1"
    );
    assert!(
        envoy
            .stat(&format!("wasmcustom.{}", stats::key_set_age()))
            .is_some(),
        "{:?}",
        envoy.stats_matching("api_key_set")
    );
}

#[test]
fn store_down_at_start_then_back_then_dying_serves_the_last_good_set_until_max_stale() {
    let key = "remote-key-stale-0123456789";
    let mut server = HttpServer::start(
        "/edge-keys",
        Reply::json(&doc(&[entry("r", key, json!({}))])),
    );
    server.stop();
    let envoy = start(&server, 3, 65536, &[]);
    // Down at start: a remote key is 503 with retry-after (never 401); an inline key passes.
    let r = get(&envoy, key);
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (503, "key_set_unavailable"),
        "{r:?}"
    );
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert_eq!(upstream_key_id(&get(&envoy, INLINE_KEY)), "inline-app");
    assert!(wait_until(Duration::from_secs(3), || {
        envoy.edgeguard_count(&stats::key_set_fetch(false)) >= 1
    }));
    // The store comes back: the retry (back-off at most refresh_seconds) loads the set.
    server.restart();
    wait_steady(&envoy, key, 200, "", 10, WITHIN_REFRESH);
    // It dies: the last good set still serves (stale window 3 s from the last good fetch) ...
    server.stop();
    let r = get(&envoy, key);
    assert_eq!(r.status, 200, "{r:?}");
    // ... and once it is too old, a remote key fails closed: 503, never 401. Inline keys pass.
    let r = wait_steady(
        &envoy,
        key,
        503,
        "key_set_unavailable",
        10,
        Duration::from_secs(15),
    );
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert_eq!(upstream_key_id(&get(&envoy, INLINE_KEY)), "inline-app");
}

#[test]
fn validity_windows_inline_duplicates_and_oversized_sets() {
    let now = now_s();
    let keys = [
        ("inline-old-0123456789", "remote-old-0123456789"),
        ("inline-soon-0123456789", "remote-soon-0123456789"),
    ];
    let inline = [
        entry("inline-old", keys[0].0, json!({"expires_at": now - 10})),
        entry(
            "inline-soon",
            keys[1].0,
            json!({"not_before": now + 3600, "plan": "gold"}),
        ),
    ];
    let thief = "remote-duplicate-of-inline-0123456789";
    let good = "remote-good-0123456789";
    let set = doc(&[
        entry("inline-app", thief, json!({"scopes": ["admin"]})),
        entry("r-old", keys[0].1, json!({"expires_at": now - 10})),
        entry(
            "r-soon",
            keys[1].1,
            json!({"not_before": now + 3600, "expires_at": now + 7200}),
        ),
        entry(
            "r-good",
            good,
            json!({"expires_at": now + 3600, "plan": "silver"}),
        ),
    ]);
    let server = HttpServer::start("/edge-keys", Reply::json(&set));
    let envoy = start(&server, 3600, 2048, &inline);
    let r = wait_steady(&envoy, good, 200, "", 5, WITHIN_REFRESH);
    assert_eq!(upstream_key_id(&r), "r-good");
    // The inline id wins; the remote duplicate is skipped (logged by id only).
    assert_eq!(upstream_key_id(&get(&envoy, INLINE_KEY)), "inline-app");
    let r = get(&envoy, thief);
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (401, "unknown_key"),
        "{r:?}"
    );
    // (Envoy writes its log file periodically.)
    let logged = |line: &str| wait_until(Duration::from_secs(15), || envoy.log().contains(line));
    assert!(
        logged("skipped keys[0] id=inline-app: duplicate key id"),
        "{}",
        envoy.log_tail(30)
    );
    assert!(
        logged("key set loaded, 3 remote key(s)"),
        "{}",
        envoy.log_tail(30)
    );
    let log = envoy.log();
    for (inline_key, remote_key) in keys {
        assert!(!log.contains(&sha256_hex(inline_key.as_bytes())));
        assert!(!log.contains(&sha256_hex(remote_key.as_bytes())));
    }
    assert!(!log.contains(&sha256_hex(thief.as_bytes())) && !log.contains(thief));
    // Expired and not-yet-valid keys, inline and remote: 401 with their own reasons.
    for (key, want) in [
        (keys[0].0, "expired_key"),
        (keys[1].0, "key_not_yet_valid"),
        (keys[0].1, "expired_key"),
        (keys[1].1, "key_not_yet_valid"),
    ] {
        let r = get(&envoy, key);
        assert_eq!((r.status, reason(&r).as_str()), (401, want), "{key}: {r:?}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|c| c.contains("invalid_key")),
            "{r:?}"
        );
    }
    // A set over max_bytes (2048) is a failed fetch: its new key is unknown, the last good set stays.
    let fresh = "remote-fresh-0123456789";
    let mut big = vec![
        entry("r-good", good, json!({})),
        entry("r-fresh", fresh, json!({})),
    ];
    big.extend((0..20).map(|i| entry(&format!("pad-{i}"), &format!("pad-key-{i}"), json!({}))));
    let big = doc(&big);
    assert!(big.len() > 2048);
    server.set(Reply::json(&big));
    assert!(
        wait_until(WITHIN_REFRESH, || envoy
            .edgeguard_count(&stats::key_set_fetch(false))
            >= 1),
        "{:?}",
        envoy.stats_matching("api_key_set")
    );
    let r = get(&envoy, fresh);
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (401, "unknown_key"),
        "{r:?}"
    );
    assert_eq!(upstream_key_id(&get(&envoy, good)), "r-good");
    assert!(logged("exceeds max_bytes 2048"), "{}", envoy.log_tail(30));
}

#[test]
fn envoy_rejects_bad_remote_key_set_configs_naming_the_field() {
    for (api_keys, field) in [
        (
            json!({"remote": {"cluster": "keys", "authority": "k", "path": "/k", "refresh_seconds": 0}}),
            "api_keys.remote.refresh_seconds",
        ),
        (
            json!({"keys": [{"id": "a", "sha256": sha256_hex(b"a"), "expires_at": 1_700_000_000_000u64}]}),
            "api_keys.keys[0].expires_at",
        ),
    ] {
        let (ok, out) = validate_plugin(&json!({"api_keys": api_keys}).to_string());
        assert!(!ok, "accepted: {api_keys}");
        assert!(out.contains(field), "{field} not named in:\n{out}");
    }
}
