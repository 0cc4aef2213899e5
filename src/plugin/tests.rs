//! The plugin driven through the mock host: the remote-resource lifecycle across VMs (lease, back-off,
//! stale window), waiter resumption, and the host calls each request path costs.

use super::*;
use crate::host::Clock;
use crate::stats;
use crate::testing::MockHost;
use base64::Engine as _;
use jwt_simple::prelude::{Duration as JDuration, Ed25519KeyPair, EdDSAKeyPairLike, UnixTimeStamp};
use serde_json::json;

const T0: u64 = 1_700_000_000_000;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn jwks(k: &Ed25519KeyPair, kid: &str) -> Vec<u8> {
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&k.public_key().to_bytes())}]})
        .to_string()
        .into_bytes()
}

fn token(k: &Ed25519KeyPair, kid: &str, now_ms: u64) -> String {
    let mut c = jwt_simple::prelude::Claims::with_custom_claims(
        json!({"scope": "orders:read"}),
        JDuration::from_secs(1),
    )
    .with_issuer("https://idp.test")
    .with_audience("api")
    .with_subject("alice");
    c.issued_at = Some(UnixTimeStamp::from_secs(now_ms / 1000));
    c.expires_at = Some(UnixTimeStamp::from_secs(now_ms / 1000 + 3600));
    c.invalid_before = Some(UnixTimeStamp::from_secs(now_ms / 1000));
    k.clone().with_key_id(kid).sign(c).unwrap_or_default()
}

fn config(extra: &str) -> String {
    format!(
        r#"{{"providers": {{"idp": {{"issuer": "https://idp.test", "audiences": ["api"],
            "jwks": {{"remote": {{"cluster": "idp", "authority": "idp.test", "path": "/jwks",
                                 "refresh_seconds": 60, "timeout_ms": 1000, "max_stale_seconds": 120}}}}}}}},
            "api_keys": {{"keys": [{{"id": "app", "sha256": "{}"}}]}},
            "rules": [{{"match": {{"path_prefix": "/public"}}, "allow": "anonymous"}},
                      {{"match": {{"path_prefix": "/keyed"}}, "require": {{"api_key": {{}}}}}},
                      {{"match": {{"path_prefix": "/"}}, "require": {{"jwt": "idp"}}}}] {extra}}}"#,
        hmac_sha256::Hash::hash(b"the-key")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn plugin(host: &MockHost, vm: u64) -> Plugin {
    match Plugin::configure(host, config("").as_bytes(), 0, vm) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    }
}

/// Opens request `id` (a GET of `path` on `api.test`, with `extra` headers).
pub(super) fn get(host: &MockHost, id: u32, path: &str, extra: &[(&str, &str)]) {
    let mut h = vec![
        (":method", "GET"),
        (":path", path),
        (":authority", "api.test"),
    ];
    h.extend_from_slice(extra);
    host.open(id, &h);
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn status(host: &MockHost, id: u32) -> Option<u16> {
    host.reply(id).map(|r| r.status)
}

/// Answers the first callout in flight (the test expects one: `what`) with `status` and `body`.
fn answer_first(host: &MockHost, p: &Plugin, status: Option<u16>, body: &[u8], what: &str) {
    let Some((tok, _)) = host.pending_calls().first().cloned() else {
        unreachable!("{what}")
    };
    host.answer(tok, body);
    let body_size = body.len();
    p.on_response(host, tok, &CalloutResponse { status, body_size });
}

#[test]
fn a_request_starts_the_first_fetch_and_is_resumed_by_its_answer() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    let k = Ed25519KeyPair::generate();
    let t = bearer(&token(&k, "a", T0));
    get(&host, 7, "/orders", &[("authorization", &t)]);
    // The request asks for the timer at once; that tick (in the root context) dispatches the fetch.
    assert_eq!(host.tick_ms(), TICK_MS);
    assert_eq!(p.on_request(&host, 7, true), Flow::Pause);
    assert_eq!(host.tick_ms(), KICK_MS);
    assert!(host.pending_calls().is_empty());
    host.advance(1);
    p.on_tick(&host);
    assert_eq!(host.tick_ms(), TICK_MS, "the regular period is back");
    let calls = host.pending_calls();
    assert_eq!(calls.len(), 1);
    let Some((token_id, call)) = calls.first().cloned() else {
        unreachable!()
    };
    assert_eq!(call.cluster, "idp");
    assert!(call.headers.contains(&(":path".into(), "/jwks".into())));
    // A second request for the same keys waits without a second fetch.
    get(&host, 8, "/orders", &[("authorization", &t)]);
    assert_eq!(p.on_request(&host, 8, true), Flow::Pause);
    assert_eq!(host.pending_calls().len(), 1);
    // The answer resumes both.
    host.advance(50);
    host.answer(token_id, &jwks(&k, "a"));
    p.on_response(
        &host,
        token_id,
        &CalloutResponse {
            status: Some(200),
            body_size: 4096,
        },
    );
    assert!(host.resumed(7) && host.resumed(8));
    // Counters reach the host on the tick.
    assert_eq!(host.metric(&stats::allowed()), Some(0));
    p.on_tick(&host);
    assert_eq!(host.metric(&stats::jwks_fetch("idp", true)), Some(1));
    assert_eq!(host.metric(&stats::allowed()), Some(2));
}

#[test]
fn only_the_requests_waiting_for_what_changed_are_rechecked() {
    let host = MockHost::new(T0);
    let doc = config("").replace(
        r#""providers": {"idp""#,
        r#""providers": {"other": {"issuer": "https://idp.test", "audiences": ["api"],
            "jwks": {"remote": {"cluster": "other", "authority": "o", "path": "/o"}}}, "idp""#,
    );
    let doc = doc.replace(
        r#"{"match": {"path_prefix": "/"}, "require": {"jwt": "idp"}}"#,
        r#"{"match": {"path_prefix": "/other"}, "require": {"jwt": "other"}}, {"match": {"path_prefix": "/"}, "require": {"jwt": "idp"}}"#,
    );
    let p = match Plugin::configure(&host, doc.as_bytes(), 0, 1) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    let k = Ed25519KeyPair::generate();
    let t = bearer(&token(&k, "a", T0));
    get(&host, 1, "/orders", &[("authorization", &t)]);
    p.on_request(&host, 1, true);
    get(&host, 2, "/other", &[("authorization", &t)]);
    p.on_request(&host, 2, true);
    p.on_tick(&host);
    let calls = host.pending_calls();
    let idp = calls
        .iter()
        .find(|(_, c)| c.cluster == "idp")
        .map(|(t, _)| *t);
    let Some(idp) = idp else { unreachable!() };
    host.answer(idp, &jwks(&k, "a"));
    host.reset_host_calls();
    p.on_response(
        &host,
        idp,
        &CalloutResponse {
            status: Some(200),
            body_size: 4096,
        },
    );
    assert!(host.resumed(1));
    assert!(
        !host.resumed(2) && host.reply(2).is_none(),
        "request 2 needs the other provider: {:?}",
        host.reply(2)
    );
    // One request re-read (its headers), not two.
    assert_eq!(host.host_calls().get("get_headers"), Some(&1));
}

#[test]
fn one_vm_fetches_for_all_and_the_others_read_its_record() {
    let a = MockHost::new(T0);
    let b = a.sibling();
    let pa = plugin(&a, 1);
    let pb = plugin(&b, 2);
    let k = Ed25519KeyPair::generate();
    pa.on_tick(&a);
    pb.on_tick(&b);
    assert_eq!(
        a.pending_calls().len() + b.pending_calls().len(),
        1,
        "one lease, one fetch"
    );
    let Some((tok, _)) = a.pending_calls().first().cloned() else {
        unreachable!("the first VM to tick wins the lease")
    };
    a.answer(tok, &jwks(&k, "a"));
    pa.on_response(
        &a,
        tok,
        &CalloutResponse {
            status: Some(200),
            body_size: 4096,
        },
    );
    // VM b has no keys until it syncs on its tick; then its request passes without a fetch.
    a.advance(100);
    pb.on_tick(&b);
    let t = bearer(&token(&k, "a", T0));
    get(&b, 3, "/orders", &[("authorization", &t)]);
    assert_eq!(pb.on_request(&b, 3, true), Flow::Continue);
    assert!(b.pending_calls().is_empty());
}

#[test]
fn failures_back_off_stale_keys_serve_then_fail_closed_with_503() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    let k = Ed25519KeyPair::generate();
    p.on_tick(&host);
    answer_first(&host, &p, Some(200), &jwks(&k, "a"), "a callout in flight");
    // Past refresh (60 s) the refresh fails: the stale keys keep serving.
    host.advance(60_000);
    p.on_tick(&host);
    answer_first(&host, &p, Some(500), b"", "refresh due");
    // Back-off: no new fetch within a second of the failure.
    host.advance(500);
    p.on_tick(&host);
    assert!(host.pending_calls().is_empty(), "in back-off");
    assert_eq!(host.metric(&stats::jwks_fetch("idp", false)), Some(1));
    let t = bearer(&token(&k, "a", host.now_ms()));
    get(&host, 1, "/orders", &[("authorization", &t)]);
    assert_eq!(
        p.on_request(&host, 1, true),
        Flow::Continue,
        "stale keys serve"
    );
    host.advance(600);
    p.on_tick(&host);
    assert_eq!(host.pending_calls().len(), 1, "retried after back-off");
    // Past max_stale (120 s), with the retry failing too: 503, never 401.
    for (tok, _) in host.pending_calls() {
        host.answer(tok, b"");
        p.on_response(
            &host,
            tok,
            &CalloutResponse {
                status: None,
                body_size: 0,
            },
        );
    }
    host.advance(60_000);
    let t = bearer(&token(&k, "a", host.now_ms()));
    get(&host, 2, "/orders", &[("authorization", &t)]);
    // The retry is due: the request waits for it (the kicked tick starts it); it fails too.
    assert_eq!(p.on_request(&host, 2, true), Flow::Pause);
    assert_eq!(status(&host, 2), None);
    p.on_tick(&host);
    answer_first(&host, &p, None, b"", "retry");
    assert_eq!(status(&host, 2), Some(503));
}

#[test]
fn a_dispatch_that_fails_is_a_503_at_once_not_a_wait() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    host.fail_next_dispatch(1);
    let k = Ed25519KeyPair::generate();
    let t = bearer(&token(&k, "a", T0));
    get(&host, 1, "/orders", &[("authorization", &t)]);
    assert_eq!(p.on_request(&host, 1, true), Flow::Pause);
    host.advance(1);
    p.on_tick(&host);
    assert_eq!(status(&host, 1), Some(503));
    let body = host
        .reply(1)
        .map(|r| String::from_utf8_lossy(&r.body).into_owned());
    assert!(body.unwrap_or_default().contains("jwks_unavailable"));
}

#[test]
fn a_request_that_waits_too_long_gets_503_and_a_gone_one_nothing() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    let k = Ed25519KeyPair::generate();
    let t = bearer(&token(&k, "a", T0));
    get(&host, 1, "/orders", &[("authorization", &t)]);
    p.on_request(&host, 1, true);
    get(&host, 2, "/orders", &[("authorization", &t)]);
    p.on_request(&host, 2, true);
    // The client of request 2 left: its stream cannot be entered any more, so it is never resumed.
    host.close(2);
    host.advance(3001); // timeout 1000 ms + 2 s
    p.on_tick(&host);
    assert_eq!(status(&host, 1), Some(503));
    assert_eq!(
        host.metric(&stats::denied(crate::reason::Reason::JwksUnavailable, true)),
        Some(1)
    );
}

#[test]
fn an_unknown_kid_refetches_at_once_and_the_rotated_key_passes() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    let old = Ed25519KeyPair::generate();
    let new = Ed25519KeyPair::generate();
    p.on_tick(&host);
    answer_first(
        &host,
        &p,
        Some(200),
        &jwks(&old, "old"),
        "a callout in flight",
    );
    host.advance(1000);
    let t = bearer(&token(&new, "new", host.now_ms()));
    get(&host, 1, "/orders", &[("authorization", &t)]);
    assert_eq!(p.on_request(&host, 1, true), Flow::Pause);
    assert_eq!(host.tick_ms(), KICK_MS);
    host.advance(1);
    p.on_tick(&host);
    answer_first(
        &host,
        &p,
        Some(200),
        &jwks(&new, "new"),
        "the kicked tick started the refetch",
    );
    assert!(host.resumed(1));
    // Rate limit: another unknown kid soon after is refused without a fetch.
    let t = bearer(&token(&new, "other", host.now_ms()));
    get(&host, 2, "/orders", &[("authorization", &t)]);
    assert_eq!(p.on_request(&host, 2, true), Flow::Pause);
    assert_eq!(status(&host, 2), Some(401));
    assert!(host.pending_calls().is_empty());
}

/// The host calls of each request path (the README's table quotes these).
#[test]
fn host_calls_per_request_path() {
    let host = MockHost::new(T0);
    let p = plugin(&host, 1);
    let k = Ed25519KeyPair::generate();
    p.on_tick(&host);
    answer_first(&host, &p, Some(200), &jwks(&k, "a"), "a callout in flight");
    let t = bearer(&token(&k, "a", T0));
    let mut costs = Vec::new();
    for (name, path, headers) in [
        ("anonymous", "/public", vec![]),
        ("api_key", "/keyed", vec![("x-api-key", "the-key")]),
        (
            "token (first)",
            "/orders",
            vec![("authorization", t.as_str())],
        ),
        (
            "token (cached)",
            "/orders",
            vec![("authorization", t.as_str())],
        ),
        ("denied", "/orders", vec![]),
    ] {
        get(&host, 9, path, &headers);
        host.reset_host_calls();
        p.on_request(&host, 9, true);
        costs.push((name, host.host_call_total(), host.host_calls()));
    }
    for (name, total, calls) in &costs {
        eprintln!("{name}: {total} {calls:?}");
    }
    let total = |n: &str| costs.iter().find(|c| c.0 == n).map(|c| c.1);
    // headers + clock + the 5 published properties (identity and decision; counters are flushed
    // by the timer, not per request)
    assert_eq!(total("anonymous"), Some(7));
    // headers + clock + 5 properties + key removed + key id set
    assert_eq!(total("api_key"), Some(9));
    // headers + clock + 5 properties + token removed + provider and subject set
    assert_eq!(total("token (cached)"), Some(10));
    // headers + clock + decision and reason + local reply
    assert_eq!(total("denied"), Some(5));
    assert_eq!(total("token (cached)"), total("token (first)"));
}

#[test]
fn allowed_requests_publish_who_the_caller_is_and_report_mode_too() {
    let host = MockHost::new(T0);
    let cfg = config(
        r#", "plans": {"default": "standard", "by_method": {"api_key": "partner"},
                       "names": ["standard", "partner"]}"#,
    );
    let p = match Plugin::configure(&host, cfg.as_bytes(), 0, 1) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    get(&host, 9, "/keyed", &[("x-api-key", "the-key")]);
    assert_eq!(p.on_request(&host, 9, true), Flow::Continue);
    let published = host.published(9);
    let value = |k: &str| published.get(k).map(String::as_str);
    assert_eq!(value("edgeguard_auth_method"), Some("api_key"));
    assert_eq!(value("edgeguard_principal"), Some("api_key:app"));
    assert_eq!(value("edgeguard_plan"), Some("partner"));
    assert_eq!(value("edgeguard_rule"), Some(""));
    let plan_header = host
        .headers(9)
        .into_iter()
        .find(|(k, _)| k == "x-edgeguard-plan")
        .map(|(_, v)| v);
    assert_eq!(plan_header.as_deref(), Some(&b"partner"[..]));
    // anonymous
    get(&host, 10, "/public", &[("x-edgeguard-plan", "gold")]);
    assert_eq!(p.on_request(&host, 10, true), Flow::Continue);
    assert_eq!(
        host.published(10)
            .get("edgeguard_principal")
            .map(String::as_str),
        Some("anonymous")
    );
    let sent: Vec<_> = host
        .headers(10)
        .into_iter()
        .filter(|(k, _)| k == "x-edgeguard-plan")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        sent,
        vec![b"standard".to_vec()],
        "the client's copy is replaced"
    );
    assert_eq!(value("edgeguard_decision"), Some("allow"));
    assert_eq!(value("edgeguard_reason"), None);
    // a denial publishes only the decision and its reason; in report mode the would-be denial goes
    // upstream as anonymous
    get(&host, 11, "/keyed", &[]);
    p.on_request(&host, 11, true);
    let denied = host.published(11);
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert_eq!(
        denied.get("edgeguard_decision").map(String::as_str),
        Some("deny")
    );
    assert_eq!(
        denied.get("edgeguard_reason").map(String::as_str),
        Some("missing")
    );
    let report = config(r#", "mode": "report""#);
    let r = match Plugin::configure(&host, report.as_bytes(), 0, 1) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    get(&host, 12, "/keyed", &[]);
    assert_eq!(r.on_request(&host, 12, true), Flow::Continue);
    assert_eq!(
        host.published(12).get("edgeguard_plan").map(String::as_str),
        Some("default")
    );
    assert_eq!(
        host.published(12)
            .get("edgeguard_decision")
            .map(String::as_str),
        Some("would_deny")
    );
    assert_eq!(
        host.published(12)
            .get("edgeguard_reason")
            .map(String::as_str),
        Some("missing")
    );
}

#[test]
fn a_rule_cost_is_published_for_every_allowed_request_once_some_rule_has_one() {
    let host = MockHost::new(T0);
    let cfg = config("").replace(
        r#""allow": "anonymous"}"#,
        r#""allow": "anonymous", "cost": 5}"#,
    );
    let p = match Plugin::configure(&host, cfg.as_bytes(), 0, 1) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    get(&host, 9, "/public", &[]);
    assert_eq!(p.on_request(&host, 9, true), Flow::Continue);
    assert_eq!(
        host.published(9).get("edgeguard_cost").map(String::as_str),
        Some("5")
    );
    get(&host, 10, "/keyed", &[("x-api-key", "the-key")]);
    assert_eq!(p.on_request(&host, 10, true), Flow::Continue);
    assert_eq!(
        host.published(10).get("edgeguard_cost").map(String::as_str),
        Some("1"),
        "a rule without a cost counts one hit"
    );
    // without any cost in the configuration: nothing (no host call spent)
    let q = plugin(&host, 2);
    get(&host, 11, "/public", &[]);
    q.on_request(&host, 11, true);
    assert_eq!(host.published(11).get("edgeguard_cost"), None);
    assert_eq!(host.published(11).len(), 5, "4 of identity, the decision");
    // publishing off: nothing at all, for an allow or a denial
    let off = config(r#", "publish_identity": false"#);
    let r = match Plugin::configure(&host, off.as_bytes(), 0, 3) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    };
    get(&host, 12, "/public", &[]);
    assert_eq!(r.on_request(&host, 12, true), Flow::Continue);
    assert!(host.published(12).is_empty());
    get(&host, 13, "/keyed", &[]);
    r.on_request(&host, 13, true);
    assert!(host.published(13).is_empty());
}
