//! The transport check in the engine: credentials over plaintext where TLS is required.

use super::*;
use crate::credential::api_key::sha256_hex;
use crate::decision::HeaderOp;
use crate::testing::{FixedConnection, FixedResources};
use base64::Engine as _;
use jwt_simple::prelude::{Duration as JDuration, Ed25519KeyPair, EdDSAKeyPairLike, UnixTimeStamp};
use serde_json::json;

const NOW: u64 = 1_700_000_000;

fn key_pair() -> Ed25519KeyPair {
    Ed25519KeyPair::from_bytes(&[7u8; 64]).unwrap_or_else(|_| Ed25519KeyPair::generate())
}

fn token(k: &Ed25519KeyPair) -> String {
    let mut c =
        jwt_simple::prelude::Claims::with_custom_claims(json!({}), JDuration::from_secs(600))
            .with_issuer("https://idp.test")
            .with_subject("alice");
    c.issued_at = Some(UnixTimeStamp::from_secs(NOW));
    c.invalid_before = Some(UnixTimeStamp::from_secs(NOW));
    c.expires_at = Some(UnixTimeStamp::from_secs(NOW + 600));
    k.clone().with_key_id("k1").sign(c).unwrap_or_default()
}

/// API keys in a header, a query parameter and a cookie, an inline-key provider `idp`, and
/// `extra` top-level members (rules, transport).
fn engine(k: &Ed25519KeyPair, extra: &str) -> Engine {
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.public_key().to_bytes());
    let doc = format!(
        r#"{{"api_keys": {{"from": [{{"header": "x-api-key"}}, {{"query": "api_key"}}, {{"cookie": "ak"}}],
              "keys": [{{"id": "ios", "sha256": "{}"}}]}},
            "providers": {{"idp": {{"issuer": "https://idp.test", "jwks": {{"inline": {{"keys": [
              {{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": "{x}"}}]}}}}}}}} {extra}}}"#,
        sha256_hex(b"k1")
    );
    match Config::parse(doc.as_bytes()) {
        Ok(c) => Engine::new(c),
        Err(e) => unreachable!("{e}"),
    }
}

const RULES: &str = r#", "rules": [
    {"match": {"path_prefix": "/public"}, "allow": "anonymous"},
    {"match": {"path_prefix": "/legacy"}, "require_tls": false, "require": {"api_key": {}}},
    {"match": {"path_prefix": "/"}, "require": {"any": [{"api_key": {}}, {"jwt": "idp"}]}}]"#;

fn req(path: &str, headers: &[(&str, &str)]) -> Request {
    let mut h = vec![
        (":method".to_string(), "GET".to_string()),
        (":path".to_string(), path.to_string()),
        (":authority".to_string(), "api.test".to_string()),
    ];
    h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Request::from_headers(h)
}

fn run(e: &Engine, r: &Request, conn: &FixedConnection) -> Check {
    e.check(r, NOW, &FixedResources::none(), None, conn)
}

fn decided(c: &Check) -> &Decision {
    match &c.outcome {
        Outcome::Decided(d) => d,
        Outcome::Wait(n) => unreachable!("waits for {n:?}"),
    }
}

fn denial(c: &Check) -> &Denial {
    match decided(c) {
        Decision::Deny(d) => d,
        Decision::Allow { ops } => unreachable!("allowed: {ops:?}"),
    }
}

fn allowed(c: &Check) -> &[HeaderOp] {
    match decided(c) {
        Decision::Allow { ops } => ops,
        Decision::Deny(d) => unreachable!("denied: {d:?}"),
    }
}

#[test]
fn every_kind_over_plaintext_is_refused_and_identified_and_accepted_over_tls() {
    let k = key_pair();
    let e = engine(&k, &format!(r#", "transport": {{}} {RULES}"#));
    let bearer = format!("Bearer {}", token(&k));
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Kind, Option<&'a str>);
    let cases: [Case<'_>; 5] = [
        ("/o", vec![("x-api-key", "k1")], Kind::ApiKey, Some("ios")),
        ("/o?api_key=k1", vec![], Kind::ApiKey, Some("ios")),
        ("/o", vec![("cookie", "ak=k1")], Kind::ApiKey, Some("ios")),
        (
            "/o",
            vec![("authorization", &bearer)],
            Kind::Jwt,
            Some("alice"),
        ),
        // An unknown key is refused the same way (the answer never depends on the credential).
        ("/o", vec![("x-api-key", "nope")], Kind::ApiKey, None),
    ];
    for (path, headers, kind, id) in cases {
        let r = req(path, &headers);
        let c = run(&e, &r, &FixedConnection::plaintext());
        let d = denial(&c);
        assert_eq!(
            (d.status, d.reason),
            (403, Reason::InsecureTransport),
            "{path} {headers:?}"
        );
        assert_eq!(
            d.www_authenticate, None,
            "no challenge: retrying over TLS is the fix"
        );
        assert_eq!(c.events.exposed.len(), 1, "{:?}", c.events.exposed);
        let x = &c.events.exposed[0];
        assert_eq!((x.kind, x.id.as_deref()), (kind, id), "{path} {headers:?}");
        assert_eq!(c.events.denied, Some(Reason::InsecureTransport));
        if id.is_some() {
            let ok = run(&e, &r, &FixedConnection::tls());
            assert!(!allowed(&ok).is_empty(), "allowed over TLS, with its edits");
            assert!(ok.events.exposed.is_empty());
        }
    }
    assert_eq!(
        run(
            &e,
            &req("/o", &[("authorization", &bearer)]),
            &FixedConnection::plaintext()
        )
        .events
        .exposed[0]
            .source
            .as_deref(),
        Some("idp")
    );
}

#[test]
fn requests_without_credentials_need_tls_only_where_credentials_are_required() {
    let k = key_pair();
    let e = engine(&k, &format!(r#", "transport": {{}} {RULES}"#));
    let conn = FixedConnection::plaintext();
    let c = run(&e, &req("/public/x", &[]), &conn);
    assert!(allowed(&c).is_empty() || c.events.denied.is_none());
    assert_eq!(c.events.denied, None);
    assert_eq!(
        conn.reads.get(),
        0,
        "a public request without credentials reads no connection fact"
    );
    // A rule that needs a credential: learn TLS before sending one.
    let c = run(&e, &req("/o", &[]), &FixedConnection::plaintext());
    assert_eq!(denial(&c).reason, Reason::InsecureTransport);
    assert!(c.events.exposed.is_empty());
    // Over TLS the same request is a plain 401.
    let c = run(&e, &req("/o", &[]), &FixedConnection::tls());
    assert_eq!(denial(&c).reason, Reason::Missing);
    // A credential on a public rule was still sent in clear: refused, counted.
    let c = run(
        &e,
        &req("/public/x", &[("x-api-key", "k1")]),
        &FixedConnection::plaintext(),
    );
    assert_eq!(denial(&c).reason, Reason::InsecureTransport);
    assert_eq!(c.events.exposed[0].id.as_deref(), Some("ios"));
}

#[test]
fn rules_override_the_section_default() {
    let k = key_pair();
    let e = engine(&k, &format!(r#", "transport": {{}} {RULES}"#));
    let conn = FixedConnection::plaintext();
    let c = run(&e, &req("/legacy", &[("x-api-key", "k1")]), &conn);
    assert!(allowed(&c).contains(&HeaderOp::Set("x-edgeguard-key-id".into(), "ios".into())));
    assert_eq!(conn.reads.get(), 0);
    // Without a section only rules saying `require_tls: true` require it.
    let e = engine(
        &k,
        r#", "rules": [{"match": {"path_prefix": "/secure"}, "require_tls": true, "require": {"api_key": {}}},
                        {"require": {"api_key": {}}}]"#,
    );
    let c = run(
        &e,
        &req("/secure", &[("x-api-key", "k1")]),
        &FixedConnection::plaintext(),
    );
    assert_eq!(denial(&c).reason, Reason::InsecureTransport);
    let conn = FixedConnection::plaintext();
    let c = run(&e, &req("/other", &[("x-api-key", "k1")]), &conn);
    assert!(!allowed(&c).is_empty());
    assert_eq!(
        conn.reads.get(),
        0,
        "no transport configured for this rule: nothing read"
    );
}

#[test]
fn report_mode_lets_the_request_through_and_reports_it() {
    let k = key_pair();
    let e = engine(
        &k,
        &format!(r#", "transport": {{"mode": "report"}} {RULES}"#),
    );
    let c = run(
        &e,
        &req("/o", &[("x-api-key", "k1")]),
        &FixedConnection::plaintext(),
    );
    let ops = allowed(&c);
    assert!(
        ops.contains(&HeaderOp::Set("x-edgeguard-key-id".into(), "ios".into())),
        "{ops:?}"
    );
    assert!(ops.contains(&HeaderOp::Set(
        "x-edgeguard-decision".into(),
        "deny; reason=insecure_transport".into()
    )));
    assert_eq!(c.events.denied, Some(Reason::InsecureTransport));
    assert_eq!(c.events.exposed[0].id.as_deref(), Some("ios"));
    // A request the policy denies is still denied, for its own reason.
    let c = run(
        &e,
        &req("/o", &[("x-api-key", "nope")]),
        &FixedConnection::plaintext(),
    );
    assert_eq!(denial(&c).reason, Reason::UnknownKey);
    assert_eq!(c.events.exposed.len(), 1, "still counted as sent in clear");
    // The policy's report mode makes the transport check report-only too, and it comes first.
    let e = engine(
        &k,
        &format!(r#", "mode": "report", "transport": {{}} {RULES}"#),
    );
    let c = run(
        &e,
        &req("/o", &[("x-api-key", "nope")]),
        &FixedConnection::plaintext(),
    );
    assert!(allowed(&c).contains(&HeaderOp::Set(
        "x-edgeguard-decision".into(),
        "deny; reason=insecure_transport".into()
    )));
}

#[test]
fn a_trusted_proxys_forwarded_proto_counts_and_nobody_elses() {
    let k = key_pair();
    let e = engine(
        &k,
        &format!(
            r#", "transport": {{"trust_forwarded_proto": {{"source_cidrs": ["127.0.0.3/32"]}}}} {RULES}"#
        ),
    );
    let r = req("/o", &[("x-api-key", "k1"), ("x-forwarded-proto", "https")]);
    let front = FixedConnection::from_peer(false, "127.0.0.3:5000", None);
    assert!(!allowed(&run(&e, &r, &front)).is_empty());
    let other = FixedConnection::from_peer(false, "127.0.0.2:5000", None);
    assert_eq!(
        denial(&run(&e, &r, &other)).reason,
        Reason::InsecureTransport
    );
    // Envoy's x-forwarded-for-derived remote address (port 0) is not the peer.
    let derived = FixedConnection::from_peer(false, "127.0.0.3:0", None);
    assert_eq!(
        denial(&run(&e, &r, &derived)).reason,
        Reason::InsecureTransport
    );
}

#[test]
fn identification_never_waits_for_a_remote_key_set() {
    let doc = format!(
        r#"{{"api_keys": {{"keys": [{{"id": "ios", "sha256": "{}"}}],
              "remote": {{"cluster": "keys", "authority": "keys", "path": "/k"}}}},
            "transport": {{}}}}"#,
        sha256_hex(b"k1")
    );
    let e = match Config::parse(doc.as_bytes()) {
        Ok(c) => Engine::new(c),
        Err(err) => unreachable!("{err}"),
    };
    let loading = FixedResources::none().with_api_keys(crate::resources::Loaded::Loading);
    for (key, id) in [("k1", Some("ios")), ("remote-only", None)] {
        let r = req("/o", &[("x-api-key", key)]);
        let c = e.check(&r, NOW, &loading, None, &FixedConnection::plaintext());
        assert_eq!(denial(&c).reason, Reason::InsecureTransport, "{key}");
        assert_eq!(c.events.exposed[0].id.as_deref(), id, "{key}");
        // Over TLS the remote-only key waits for the set, as always.
        let c = e.check(&r, NOW, &loading, None, &FixedConnection::tls());
        assert_eq!(matches!(c.outcome, Outcome::Wait(_)), id.is_none(), "{key}");
    }
}

#[test]
fn a_cors_preflight_without_credentials_needs_no_tls_one_with_a_key_does() {
    let k = key_pair();
    let e = engine(
        &k,
        &format!(r#", "bypass_cors_preflight": true, "transport": {{}} {RULES}"#),
    );
    let preflight = |extra: &[(&str, &str)]| {
        let mut h = vec![
            (":method".to_string(), "OPTIONS".to_string()),
            (":path".to_string(), "/o".to_string()),
            (":authority".to_string(), "api.test".to_string()),
            ("origin".to_string(), "https://app.test".to_string()),
            (
                "access-control-request-method".to_string(),
                "GET".to_string(),
            ),
        ];
        h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Request::from_headers(h)
    };
    let conn = FixedConnection::plaintext();
    let c = run(&e, &preflight(&[]), &conn);
    assert_eq!(c.events.denied, None);
    assert!(matches!(decided(&c), Decision::Allow { .. }));
    assert_eq!(conn.reads.get(), 0);
    let c = run(
        &e,
        &preflight(&[("x-api-key", "k1")]),
        &FixedConnection::plaintext(),
    );
    assert_eq!(denial(&c).reason, Reason::InsecureTransport);
}

#[test]
fn two_case_readings_require_tls_if_either_rule_does() {
    let k = key_pair();
    let e = engine(
        &k,
        r#", "rules": [{"match": {"path_prefix": "/admin"}, "require_tls": true, "require": {"api_key": {}}},
                        {"match": {"path_prefix": "/Admin"}, "require": {"api_key": {}}}]"#,
    );
    // `/Admin` matches the second rule case-sensitively and the first case-folded: both apply.
    let c = run(
        &e,
        &req("/Admin", &[("x-api-key", "k1")]),
        &FixedConnection::plaintext(),
    );
    assert_eq!(denial(&c).reason, Reason::InsecureTransport);
    let c = run(
        &e,
        &req("/Admin", &[("x-api-key", "k1")]),
        &FixedConnection::tls(),
    );
    assert!(matches!(decided(&c), Decision::Allow { .. }));
}
