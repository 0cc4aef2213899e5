//! Token introspection driven through the mock host: the call and its form, coalescing in one VM and
//! across VMs (the lease in the shared slot), the cache (active, negative, expiry), failures (503,
//! never 401), the in-flight bound, and the identity sent upstream.

use super::*;
use crate::stats;
use crate::testing::MockHost;
use base64::Engine as _;

const T0: u64 = 1_700_000_000_000;

fn config(extra_introspection: &str) -> String {
    format!(
        r#"{{"providers": {{"as": {{"issuer": "https://as.test", "audiences": ["api"],
            "introspection": {{"cluster": "as", "authority": "as.test", "path": "/introspect",
                "client_id": "edge:1", "client_secret": "p%s w", "timeout_ms": 1000,
                "cache": {{"max_ttl_seconds": 60, "negative_ttl_seconds": 5, "max_entries": 64}}
                {extra_introspection}}}}}}},
            "rules": [{{"match": {{"path_prefix": "/admin"}}, "require": {{"token": "as", "scopes": ["admin"]}}}},
                      {{"match": {{"path_prefix": "/"}}, "require": {{"jwt": "as", "scopes": ["read"]}}}}]}}"#
    )
}

fn plugin(host: &MockHost, vm: u64, extra: &str) -> Plugin {
    match Plugin::configure(host, config(extra).as_bytes(), 0, vm) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    }
}

fn get(host: &MockHost, id: u32, path: &str, token: &str) {
    let auth = format!("Bearer {token}");
    host.open(
        id,
        &[
            (":method", "GET"),
            (":path", path),
            (":authority", "api.test"),
            ("authorization", &auth),
            ("x-edgeguard-client-id", "spoofed"),
        ],
    );
}

fn status(host: &MockHost, id: u32) -> Option<u16> {
    host.reply(id).map(|r| r.status)
}

fn header(host: &MockHost, id: u32, name: &str) -> Option<String> {
    host.headers(id)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
}

fn active(now_ms: u64) -> Vec<u8> {
    format!(
        r#"{{"active": true, "scope": "read write", "client_id": "app-1", "sub": "alice",
            "aud": "api", "iss": "https://as.test", "exp": {}}}"#,
        now_ms / 1000 + 3600
    )
    .into_bytes()
}

/// Answers every introspection in flight on `host` with `status` and `body`.
fn answer_all(host: &MockHost, p: &Plugin, status: Option<u16>, body: &[u8]) -> usize {
    let calls = host.pending_calls();
    for (tok, _) in &calls {
        host.answer(*tok, body);
        p.on_response(
            host,
            *tok,
            &CalloutResponse {
                status,
                body_size: body.len(),
            },
        );
    }
    calls.len()
}

#[test]
fn concurrent_requests_for_a_new_token_make_one_call_and_are_resumed_by_it() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1, "");
    for id in 1..=5 {
        get(&host, id, "/orders", "opaque-1");
        assert_eq!(p.on_request(&host, id, true), Flow::Pause);
    }
    assert!(host.pending_calls().is_empty(), "calls start on the timer");
    p.on_tick(&host);
    let calls = host.pending_calls();
    assert_eq!(calls.len(), 1, "one call for five requests");
    let Some((_, call)) = calls.first().cloned() else {
        unreachable!()
    };
    assert_eq!(call.cluster, "as");
    assert!(call.headers.contains(&(":method".into(), "POST".into())));
    assert!(call
        .headers
        .contains(&(":path".into(), "/introspect".into())));
    let basic = call
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.trim_start_matches("Basic ").to_string())
        .unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic)
        .unwrap_or_default();
    assert_eq!(decoded, b"edge%3A1:p%25s+w", "RFC 6749 2.3.1 form-encoding");
    assert_eq!(
        call.body.as_deref(),
        Some(&b"token=opaque-1&token_type_hint=access_token"[..])
    );
    host.advance(20);
    assert_eq!(answer_all(&host, &p, Some(200), &active(T0)), 1);
    for id in 1..=5 {
        assert!(host.resumed(id), "request {id} resumed");
        assert_eq!(
            header(&host, id, "x-edgeguard-subject").as_deref(),
            Some("alice")
        );
        assert_eq!(
            header(&host, id, "x-edgeguard-client-id").as_deref(),
            Some("app-1")
        );
        assert_eq!(header(&host, id, "authorization"), None, "token stripped");
    }
    // The next request is answered from the cache, without waiting.
    get(&host, 6, "/orders", "opaque-1");
    assert_eq!(p.on_request(&host, 6, true), Flow::Continue);
    // A missing scope is re-checked on every hit: 403.
    get(&host, 7, "/admin", "opaque-1");
    assert_eq!(p.on_request(&host, 7, true), Flow::Pause);
    assert_eq!(status(&host, 7), Some(403));
    p.on_tick(&host);
    assert!(host.pending_calls().is_empty());
    let m = |n: &str| host.metric(&stats::introspection("as", n));
    assert_eq!(m("active"), Some(1));
    assert_eq!(m("coalesced"), Some(4));
    assert_eq!(m("cache_hit"), Some(2));
    assert_eq!(host.metric(&stats::allowed()), Some(6));
    assert!(
        host.shared_keys().iter().all(|k| !k.contains("opaque")),
        "no token in shared-data keys"
    );
    assert_eq!(
        host.shared_keys()
            .iter()
            .filter(|k| k.starts_with("edgeguard.introspection.as."))
            .count(),
        16,
        "64 entries in pre-created slots of 4"
    );
}

#[test]
fn inactive_tokens_are_401_and_cached_for_the_negative_ttl() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1, "");
    get(&host, 1, "/orders", "revoked");
    p.on_request(&host, 1, true);
    p.on_tick(&host);
    answer_all(&host, &p, Some(200), br#"{"active": false}"#);
    let Some(reply) = host.reply(1) else {
        unreachable!("answered")
    };
    assert_eq!(reply.status, 401);
    assert!(String::from_utf8_lossy(&reply.body).contains("inactive_token"));
    assert!(reply
        .headers
        .iter()
        .any(|(n, v)| n == "www-authenticate" && v.contains("error=\"invalid_token\"")));
    get(&host, 2, "/orders", "revoked");
    p.on_request(&host, 2, true);
    assert_eq!(status(&host, 2), Some(401), "from the negative cache");
    p.on_tick(&host);
    assert!(host.pending_calls().is_empty());
    host.advance(5_001);
    get(&host, 3, "/orders", "revoked");
    assert_eq!(
        p.on_request(&host, 3, true),
        Flow::Pause,
        "negative entry expired"
    );
    p.on_tick(&host);
    assert_eq!(host.pending_calls().len(), 1);
}

#[test]
fn an_active_answer_expires_at_max_ttl_and_exp_is_checked_on_hits() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1, "");
    get(&host, 1, "/orders", "t");
    p.on_request(&host, 1, true);
    p.on_tick(&host);
    let body = format!(
        r#"{{"active": true, "scope": "read", "aud": ["api"], "exp": {}}}"#,
        T0 / 1000 + 100
    );
    answer_all(&host, &p, Some(200), body.as_bytes());
    assert!(host.resumed(1));
    host.advance(59_000);
    get(&host, 2, "/orders", "t");
    assert_eq!(p.on_request(&host, 2, true), Flow::Continue);
    host.advance(2_000);
    get(&host, 3, "/orders", "t");
    assert_eq!(
        p.on_request(&host, 3, true),
        Flow::Pause,
        "max_ttl (60 s) passed"
    );
    p.on_tick(&host);
    // The server still says active, but exp (plus 60 s skew) is past by the next hit.
    answer_all(&host, &p, Some(200), body.as_bytes());
    assert!(host.resumed(3));
    host.advance(100_000);
    get(&host, 4, "/orders", "t");
    p.on_request(&host, 4, true);
    p.on_tick(&host);
    answer_all(&host, &p, Some(200), body.as_bytes());
    assert_eq!(status(&host, 4), Some(401), "expired");
}

#[test]
fn server_failures_are_503_with_retry_after_never_401() {
    let big = format!(r#"{{"active": true, "x": "{}"}}"#, "a".repeat(17 * 1024));
    for (i, (code, body)) in [
        (None, &b""[..]),
        (Some(500), br#"{"active": false}"#),
        (Some(200), b"<html>"),
        (Some(200), br#"{"active": "yes"}"#),
        (Some(200), big.as_bytes()),
    ]
    .into_iter()
    .enumerate()
    {
        let host = MockHost::new(T0);
        let p = plugin(&host, 1, "");
        get(&host, 1, "/orders", "t");
        p.on_request(&host, 1, true);
        p.on_tick(&host);
        assert_eq!(answer_all(&host, &p, code, body), 1);
        let Some(reply) = host.reply(1) else {
            unreachable!("case {i}: answered")
        };
        assert_eq!(reply.status, 503, "case {i}");
        assert!(String::from_utf8_lossy(&reply.body).contains("introspection_unavailable"));
        assert!(reply.headers.iter().any(|(n, _)| n == "retry-after"));
        p.on_tick(&host);
        assert_eq!(host.metric(&stats::introspection("as", "error")), Some(1));
        // Held for a second, then asked again.
        host.advance(1_001);
        get(&host, 2, "/orders", "t");
        assert_eq!(p.on_request(&host, 2, true), Flow::Pause, "case {i}");
    }
    // No answer at all within the wait: the last attempt is a 503.
    let host = MockHost::new(T0);
    let p = plugin(&host, 1, "");
    host.fail_next_dispatch(1);
    get(&host, 1, "/orders", "t");
    p.on_request(&host, 1, true);
    p.on_tick(&host);
    assert_eq!(status(&host, 1), Some(503), "dispatch failed");
    get(&host, 2, "/orders", "u");
    p.on_request(&host, 2, true);
    p.on_tick(&host);
    host.advance(3_100);
    p.on_tick(&host);
    assert_eq!(status(&host, 2), Some(503), "waited past timeout_ms + 2 s");
}

#[test]
fn beyond_max_in_flight_new_tokens_are_503_at_once() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1, r#", "max_in_flight": 2"#);
    for (id, t) in [(1, "a"), (2, "b"), (3, "c")] {
        get(&host, id, "/orders", t);
        p.on_request(&host, id, true);
    }
    assert_eq!(status(&host, 3), Some(503));
    // The same token as one in flight still waits for it.
    get(&host, 4, "/orders", "a");
    assert_eq!(p.on_request(&host, 4, true), Flow::Pause);
    p.on_tick(&host);
    assert_eq!(host.pending_calls().len(), 2);
    assert_eq!(
        host.metric(&stats::introspection("as", "overloaded")),
        Some(1)
    );
}

#[test]
fn across_vms_the_lease_in_the_slot_makes_one_call_per_proxy() {
    let a = MockHost::new(T0);
    let b = a.sibling();
    let pa = plugin(&a, 1, "");
    let pb = plugin(&b, 2, "");
    get(&a, 1, "/orders", "shared-token");
    pa.on_request(&a, 1, true);
    get(&b, 1, "/orders", "shared-token");
    pb.on_request(&b, 1, true);
    pa.on_tick(&a);
    pb.on_tick(&b);
    assert_eq!(a.pending_calls().len(), 1, "VM a won the lease");
    assert!(b.pending_calls().is_empty(), "VM b waits for a's answer");
    answer_all(&a, &pa, Some(200), &active(T0));
    assert!(a.resumed(1));
    assert!(!b.resumed(1), "b learns of it on its tick");
    b.advance(100);
    pb.on_tick(&b);
    assert!(b.resumed(1) && b.pending_calls().is_empty());
    assert_eq!(
        header(&b, 1, "x-edgeguard-subject").as_deref(),
        Some("alice")
    );
    // A new request on b is a cache hit from the shared slot.
    get(&b, 2, "/orders", "shared-token");
    assert_eq!(pb.on_request(&b, 2, true), Flow::Continue);
}

#[test]
fn a_failed_call_releases_the_lease_for_the_other_vms() {
    let a = MockHost::new(T0);
    let b = a.sibling();
    let pa = plugin(&a, 1, "");
    let pb = plugin(&b, 2, "");
    get(&a, 1, "/orders", "t");
    pa.on_request(&a, 1, true);
    pa.on_tick(&a);
    get(&b, 1, "/orders", "t");
    pb.on_request(&b, 1, true);
    pb.on_tick(&b);
    assert!(b.pending_calls().is_empty());
    answer_all(&a, &pa, Some(502), b"");
    assert_eq!(status(&a, 1), Some(503));
    b.advance(100);
    pb.on_tick(&b);
    assert_eq!(
        b.pending_calls().len(),
        1,
        "b asks itself once a's lease is gone"
    );
}

#[test]
fn a_provider_with_a_key_set_introspects_only_non_jwts_and_post_auth_sends_the_secret_in_the_body()
{
    let host = MockHost::new(T0);
    let doc = config(r#", "client_auth": "client_secret_post""#).replace(
        r#""introspection""#,
        r#""jwks": {"inline": {"keys": [{"kty": "oct", "kid": "h", "k": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}}, "introspection""#,
    );
    let p = match Plugin::configure(&host, doc.as_bytes(), 0, 1) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    get(&host, 1, "/orders", "aaa.bbb.ccc");
    p.on_request(&host, 1, true);
    assert_eq!(status(&host, 1), Some(401), "a JWT is verified locally");
    p.on_tick(&host);
    assert!(host.pending_calls().is_empty());
    get(&host, 2, "/orders", "opaque");
    assert_eq!(p.on_request(&host, 2, true), Flow::Pause);
    p.on_tick(&host);
    let calls = host.pending_calls();
    let Some((_, call)) = calls.first() else {
        unreachable!("introspected")
    };
    assert!(!call.headers.iter().any(|(n, _)| n == "authorization"));
    assert_eq!(
        call.body.as_deref(),
        Some(
            &b"token=opaque&token_type_hint=access_token&client_id=edge%3A1&client_secret=p%25s+w"
                [..]
        )
    );
}
