//! The remote API-key set driven through the mock host: waiting for the first fetch, inline keys
//! answering without it, one fetch per proxy, revocation on every VM within one refresh, validity
//! windows, back-off, the stale window and the 503 after it, oversized bodies, metrics.

use super::*;
use crate::api_key_set::sha256_hex;
use crate::host::Clock;
use crate::stats;
use crate::testing::MockHost;
use serde_json::json;

const T0: u64 = 1_700_000_000_000;
const NOW_S: u64 = T0 / 1000;

fn config() -> String {
    json!({"api_keys": {
        "keys": [{"id": "inline-app", "sha256": sha256_hex(b"inline-key"), "scopes": ["orders:read"]}],
        "remote": {"cluster": "keys", "authority": "keys.internal", "path": "/edge-keys",
                   "refresh_seconds": 30, "timeout_ms": 1000, "max_stale_seconds": 60,
                   "max_bytes": 2048}},
        "rules": [{"match": {"path_prefix": "/"}, "require": {"api_key": {"scopes": ["orders:read"]}}}]})
    .to_string()
}

fn plugin(host: &MockHost, vm: u64) -> Plugin {
    match Plugin::configure(host, config().as_bytes(), 0, vm) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    }
}

/// A key-set document: (id, key, extra members).
fn doc(keys: &[(&str, &str, serde_json::Value)]) -> Vec<u8> {
    let keys: Vec<_> = keys
        .iter()
        .map(|(id, key, extra)| {
            let mut e =
                json!({"id": id, "sha256": sha256_hex(key.as_bytes()), "scopes": ["orders:read"]});
            if let (Some(e), Some(x)) = (e.as_object_mut(), extra.as_object()) {
                e.extend(x.clone());
            }
            e
        })
        .collect();
    json!({"keys": keys}).to_string().into_bytes()
}

fn none() -> serde_json::Value {
    json!({})
}

/// Sends a request with `key` as stream `id`; returns the flow and the reply's status and reason.
fn send(host: &MockHost, p: &Plugin, id: u32, key: &str) -> (Flow, Option<(u16, String)>) {
    host.open(
        id,
        &[
            (":method", "GET"),
            (":path", "/orders"),
            (":authority", "api.test"),
            ("x-api-key", key),
        ],
    );
    let flow = p.on_request(host, id, true);
    (flow, reply(host, id))
}

fn reply(host: &MockHost, id: u32) -> Option<(u16, String)> {
    host.reply(id).map(|r| {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        (
            r.status,
            body["reason"].as_str().unwrap_or_default().to_string(),
        )
    })
}

/// Answers every callout in flight to cluster `keys`; returns how many there were.
fn answer(host: &MockHost, p: &Plugin, status: Option<u16>, body: &[u8]) -> usize {
    let calls = host.pending_calls();
    for (tok, call) in &calls {
        assert_eq!(call.cluster, "keys");
        assert!(call
            .headers
            .contains(&(":path".into(), "/edge-keys".into())));
        host.answer(*tok, body);
        let r = CalloutResponse {
            status,
            body_size: body.len(),
        };
        p.on_response(host, *tok, &r);
    }
    calls.len()
}

#[test]
fn a_remote_key_waits_for_the_first_fetch_and_an_inline_key_does_not() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    assert_eq!(send(&host, &p, 1, "inline-key"), (Flow::Continue, None));
    assert_eq!(send(&host, &p, 2, "remote-key").0, Flow::Pause);
    assert_eq!(host.tick_ms(), KICK_MS);
    host.advance(1);
    p.on_tick(&host);
    let d = doc(&[("remote-app", "remote-key", none())]);
    assert_eq!(answer(&host, &p, Some(200), &d), 1);
    assert!(host.resumed(2), "{:?}", reply(&host, 2));
    let forwarded = host.headers(2);
    assert!(forwarded.contains(&("x-edgeguard-key-id".into(), b"remote-app".to_vec())));
    assert!(!forwarded.iter().any(|(k, _)| k == "x-api-key"));
    assert_eq!(send(&host, &p, 3, "remote-key"), (Flow::Continue, None));
    assert_eq!(
        send(&host, &p, 4, "other-key").1,
        Some((401, "unknown_key".into()))
    );
    p.on_tick(&host);
    assert_eq!(host.metric(&stats::key_set_fetch(true)), Some(1));
    assert_eq!(host.metric(&stats::key_set_keys()), Some(1));
    assert_eq!(host.metric(&stats::key_allowed("remote-app")), Some(2));
    assert_eq!(host.metric(&stats::key_allowed("inline-app")), Some(1));
}

#[test]
fn one_vm_fetches_for_all_and_a_revocation_reaches_every_vm_within_one_refresh() {
    let a = MockHost::new(T0);
    let b = a.sibling();
    let (pa, pb) = (plugin(&a, 1), plugin(&b, 2));
    pa.on_tick(&a);
    pb.on_tick(&b);
    assert_eq!(a.pending_calls().len() + b.pending_calls().len(), 1);
    let both = doc(&[("k1", "key-1", none()), ("k2", "key-2", none())]);
    assert_eq!(answer(&a, &pa, Some(200), &both), 1);
    a.advance(100);
    pb.on_tick(&b);
    assert!(b.pending_calls().is_empty(), "b read a's record");
    for (h, p) in [(&a, &pa), (&b, &pb)] {
        assert_eq!(send(h, p, 1, "key-1").0, Flow::Continue);
        assert_eq!(send(h, p, 2, "key-2").0, Flow::Continue);
    }
    // The store removes key-1 and disables key-2; the next refresh (30 s) fetches once.
    a.advance(30_000);
    pa.on_tick(&a);
    pb.on_tick(&b);
    let revoked = doc(&[("k2", "key-2", json!({"disabled": true}))]);
    assert_eq!(answer(&a, &pa, Some(200), &revoked), 1);
    assert!(
        b.pending_calls().is_empty(),
        "one fetch per refresh per proxy"
    );
    a.advance(100);
    pb.on_tick(&b);
    for (h, p) in [(&a, &pa), (&b, &pb)] {
        assert_eq!(send(h, p, 3, "key-1").1, Some((401, "unknown_key".into())));
        assert_eq!(send(h, p, 4, "key-2").1, Some((401, "disabled_key".into())));
        assert_eq!(send(h, p, 5, "inline-key").0, Flow::Continue);
    }
}

#[test]
fn expired_and_not_yet_valid_keys_inline_and_remote() {
    let host = MockHost::new(T0);
    let cfg = json!({"api_keys": {
        "keys": [{"id": "old", "sha256": sha256_hex(b"old-inline"), "scopes": ["orders:read"], "expires_at": NOW_S - 1},
                 {"id": "soon", "sha256": sha256_hex(b"soon-inline"), "scopes": ["orders:read"], "not_before": NOW_S + 60}],
        "remote": {"cluster": "keys", "authority": "keys.internal", "path": "/edge-keys"}}})
    .to_string();
    let p = match Plugin::configure(&host, cfg.as_bytes(), 0, 1) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    p.on_tick(&host);
    let d = doc(&[
        ("r-old", "old-remote", json!({"expires_at": NOW_S})),
        (
            "r-soon",
            "soon-remote",
            json!({"not_before": NOW_S + 5, "expires_at": NOW_S + 10}),
        ),
    ]);
    answer(&host, &p, Some(200), &d);
    for (i, key, want) in [
        (1, "old-inline", "expired_key"),
        (2, "soon-inline", "key_not_yet_valid"),
        (3, "old-remote", "expired_key"),
        (4, "soon-remote", "key_not_yet_valid"),
    ] {
        assert_eq!(send(&host, &p, i, key).1, Some((401, want.into())), "{key}");
    }
    host.advance(5000);
    assert_eq!(send(&host, &p, 5, "soon-remote"), (Flow::Continue, None));
    host.advance(5000);
    assert_eq!(
        send(&host, &p, 6, "soon-remote").1,
        Some((401, "expired_key".into()))
    );
}

#[test]
fn down_at_start_is_503_for_remote_keys_but_inline_keys_pass() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    assert_eq!(send(&host, &p, 1, "remote-key").0, Flow::Pause);
    p.on_tick(&host);
    assert_eq!(answer(&host, &p, None, b""), 1);
    assert_eq!(reply(&host, 1), Some((503, "key_set_unavailable".into())));
    let r = host.reply(1).map(|r| r.headers).unwrap_or_default();
    assert!(r.iter().any(|(k, _)| k == "retry-after"), "{r:?}");
    // In back-off: refused at once, not held.
    assert_eq!(
        send(&host, &p, 2, "remote-key").1,
        Some((503, "key_set_unavailable".into()))
    );
    assert_eq!(send(&host, &p, 3, "inline-key"), (Flow::Continue, None));
    p.on_tick(&host);
    assert_eq!(host.metric(&stats::key_set_fetch(false)), Some(1));
    assert_eq!(
        host.metric(&stats::name(
            stats::REQUESTS,
            &[("decision", "denied"), ("reason", "key_set_unavailable")]
        )),
        Some(2)
    );
}

#[test]
fn the_last_good_set_serves_until_max_stale_then_503_and_oversized_bodies_fail() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    p.on_tick(&host);
    answer(&host, &p, Some(200), &doc(&[("r", "remote-key", none())]));
    // Refresh at 30 s: a body over max_bytes (2048) is a failed fetch; the set still serves.
    host.advance(30_000);
    p.on_tick(&host);
    let big = doc(&(0..40)
        .map(|i| ("x", "k", json!({"plan": format!("p{i}")})))
        .collect::<Vec<_>>());
    assert!(big.len() > 2048);
    assert_eq!(answer(&host, &p, Some(200), &big), 1);
    p.on_tick(&host);
    assert_eq!(host.metric(&stats::key_set_fetch(false)), Some(1));
    assert_eq!(send(&host, &p, 1, "remote-key"), (Flow::Continue, None));
    // Retries keep failing (garbage, server errors); past max_stale (60 s) the set is gone: 503.
    for body in [&b"<html>"[..], b"{}", b""] {
        host.advance(10_000);
        p.on_tick(&host);
        let status = if body.is_empty() {
            Some(500)
        } else {
            Some(200)
        };
        assert_eq!(answer(&host, &p, status, body), 1);
        assert_eq!(send(&host, &p, 2, "remote-key"), (Flow::Continue, None));
    }
    host.advance(20_001);
    p.on_tick(&host);
    answer(&host, &p, None, b"");
    assert_eq!(
        send(&host, &p, 3, "remote-key").1,
        Some((503, "key_set_unavailable".into()))
    );
    assert_eq!(send(&host, &p, 4, "inline-key"), (Flow::Continue, None));
    // The store is back: the next retry loads the set again.
    host.advance(30_000);
    p.on_tick(&host);
    answer(&host, &p, Some(200), &doc(&[("r", "remote-key", none())]));
    assert_eq!(send(&host, &p, 5, "remote-key"), (Flow::Continue, None));
    assert!(host.now_ms() > T0);
}

#[test]
fn refetching_the_same_document_renews_it_on_every_vm() {
    let a = MockHost::new(T0);
    let b = a.sibling();
    let (pa, pb) = (plugin(&a, 1), plugin(&b, 2));
    let d = doc(&[("r", "remote-key", none())]);
    pa.on_tick(&a);
    answer(&a, &pa, Some(200), &d);
    pb.on_tick(&b);
    // Every refresh (30 s) answers the same bytes: the set is renewed, not rebuilt, and stays
    // usable beyond max_stale (60 s) after the first fetch.
    for _ in 0..3 {
        a.advance(30_000);
        pa.on_tick(&a);
        assert_eq!(answer(&a, &pa, Some(200), &d), 1);
        a.advance(100);
        pb.on_tick(&b);
    }
    assert!(a.now_ms() > T0 + 60_000);
    for (h, p) in [(&a, &pa), (&b, &pb)] {
        assert_eq!(send(h, p, 1, "remote-key"), (Flow::Continue, None));
    }
    pa.on_tick(&a);
    assert_eq!(a.metric(&stats::key_set_fetch(true)), Some(4));
    assert_eq!(a.metric(&stats::key_set_age()), Some(0));
}
