//! OIDC discovery driven through the mock host: the document, then the key set it names, one
//! request resumed across both; a refused document is a 503 that names discovery.

use super::*;
use crate::host::Callout;
use crate::stats;
use crate::testing::MockHost;
use base64::Engine as _;
use jwt_simple::prelude::{Duration as JDuration, Ed25519KeyPair, EdDSAKeyPairLike, UnixTimeStamp};
use serde_json::json;

const T0: u64 = 1_700_000_000_000;
const ISSUER: &str = "https://as.test/tenant";

fn plugin(host: &MockHost) -> Plugin {
    let config = json!({
        "providers": {"as": {"issuer": ISSUER, "audiences": ["api"],
            "jwks": {"discovery": {"cluster": "as", "authority": "as.test", "timeout_ms": 1000,
                                   "clusters": {"keys.test:443": "keys"}}}}},
        "rules": [{"match": {"path_prefix": "/"}, "require": {"jwt": "as"}}]
    });
    match Plugin::configure(host, config.to_string().as_bytes(), 0, 1) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    }
}

fn token(k: &Ed25519KeyPair, kid: &str) -> String {
    let mut c = jwt_simple::prelude::Claims::with_custom_claims(json!({}), JDuration::from_secs(1))
        .with_issuer(ISSUER)
        .with_audience("api")
        .with_subject("alice");
    c.issued_at = Some(UnixTimeStamp::from_secs(T0 / 1000));
    c.expires_at = Some(UnixTimeStamp::from_secs(T0 / 1000 + 3600));
    c.invalid_before = Some(UnixTimeStamp::from_secs(T0 / 1000));
    format!(
        "Bearer {}",
        k.clone().with_key_id(kid).sign(c).unwrap_or_default()
    )
}

fn jwks(k: &Ed25519KeyPair, kid: &str) -> Vec<u8> {
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.public_key().to_bytes());
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": x}]})
        .to_string()
        .into_bytes()
}

/// Answers the one callout in flight, whose path must be `path`.
fn answer(host: &MockHost, p: &Plugin, path: &str, status: u16, body: &[u8]) -> Callout {
    let calls = host.pending_calls();
    let Some((tok, call)) = calls.first().cloned() else {
        unreachable!("no callout in flight, expected one to {path}")
    };
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        call.headers.contains(&(":path".into(), path.into())),
        "{call:?}"
    );
    host.answer(tok, body);
    p.on_response(
        host,
        tok,
        &CalloutResponse {
            status: Some(status),
            body_size: body.len(),
        },
    );
    call
}

#[test]
fn discovery_then_its_key_set_then_the_waiting_request_passes() {
    let host = MockHost::new(T0);
    let p = plugin(&host);
    let k = Ed25519KeyPair::generate();
    host.open(
        7,
        &[
            (":method", "GET"),
            (":path", "/x"),
            (":authority", "api"),
            ("authorization", &token(&k, "a")),
        ],
    );
    assert_eq!(p.on_request(&host, 7, true), Flow::Pause);
    host.advance(1);
    p.on_tick(&host);
    let doc = json!({"issuer": ISSUER, "jwks_uri": "https://keys.test/tenant/jwks"});
    let call = answer(
        &host,
        &p,
        "/tenant/.well-known/openid-configuration",
        200,
        doc.to_string().as_bytes(),
    );
    assert_eq!(call.cluster, "as");
    assert!(
        host.reply(7).is_none(),
        "still waiting, for the key set now"
    );
    // The key set's fetch started with the document's answer, through the listed cluster.
    let call = answer(&host, &p, "/tenant/jwks", 200, &jwks(&k, "a"));
    assert_eq!(call.cluster, "keys");
    assert!(call
        .headers
        .contains(&(":authority".into(), "keys.test".into())));
    assert!(host.resumed(7), "{:?}", host.reply(7));
    assert!(host.reply(7).is_none());
    p.on_tick(&host);
    assert_eq!(host.metric(&stats::discovery_fetch("as", true)), Some(1));
    assert_eq!(host.metric(&stats::jwks_fetch("as", true)), Some(1));
}

#[test]
fn a_document_for_another_issuer_or_an_unlisted_host_is_a_503_naming_discovery() {
    for doc in [
        json!({"issuer": "https://as.test/other", "jwks_uri": "https://keys.test/jwks"}),
        json!({"issuer": ISSUER, "jwks_uri": "https://elsewhere.test/jwks"}),
    ] {
        let host = MockHost::new(T0);
        let p = plugin(&host);
        let k = Ed25519KeyPair::generate();
        host.open(
            7,
            &[
                (":method", "GET"),
                (":path", "/x"),
                (":authority", "api"),
                ("authorization", &token(&k, "a")),
            ],
        );
        assert_eq!(p.on_request(&host, 7, true), Flow::Pause);
        host.advance(1);
        p.on_tick(&host);
        answer(
            &host,
            &p,
            "/tenant/.well-known/openid-configuration",
            200,
            doc.to_string().as_bytes(),
        );
        assert!(host.pending_calls().is_empty(), "no key set is fetched");
        let reply = host.reply(7);
        assert_eq!(reply.as_ref().map(|r| r.status), Some(503), "{doc}");
        let body = reply.map(|r| String::from_utf8_lossy(&r.body).into_owned());
        assert!(
            body.as_deref()
                .is_some_and(|b| b.contains("discovery_unavailable")),
            "{body:?}"
        );
        p.on_tick(&host);
        assert_eq!(host.metric(&stats::discovery_fetch("as", false)), Some(1));
    }
}
