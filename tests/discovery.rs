//! OIDC discovery through a real Envoy running the built `target/edgeguard.wasm` (run with `make
//! test`): the issuer's discovery document and the key set it names, served by the harness' own
//! HTTP servers; a `jwks_uri` on another host through the cluster `clusters` lists for it; the
//! refusals (an issuer mismatch, a `jwks_uri` on an unlisted host) as 503 `discovery_unavailable`;
//! the last good document and key set kept through an outage; and django-oauth-toolkit's own
//! discovery document and RSA key verifying the ID tokens it signs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use common::oauth_server::{Client, OAuthServer};
use common::{b64, cluster, Envoy, HttpServer, Options, Reply, Response};
use jwt_simple::prelude::*;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const ISS: &str = "https://as.test/tenant";
const WELL_KNOWN: &str = "/tenant/.well-known/openid-configuration";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(k: &Ed25519KeyPair, kid: &str) -> String {
    let mut c = Claims::create(Duration::from_secs(600))
        .with_issuer(ISS)
        .with_audience("orders-api")
        .with_subject("alice");
    c.issued_at = Some(UnixTimeStamp::from_secs(now() - 5));
    c.invalid_before = Some(UnixTimeStamp::from_secs(now() - 5));
    format!("Bearer {}", k.clone().with_key_id(kid).sign(c).unwrap())
}

fn jwks(k: &Ed25519KeyPair, kid: &str) -> String {
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&k.public_key().to_bytes())}]})
        .to_string()
}

fn document(issuer: &str, jwks_uri: &str) -> Reply {
    Reply::json(
        &json!({"issuer": issuer, "jwks_uri": jwks_uri, "response_types_supported": ["code"]})
            .to_string(),
    )
}

/// Provider `as` discovered through cluster `as` (authority `as.test`), keys on `keys.test:443`
/// through cluster `keys`.
fn plugin(max_stale_seconds: u64) -> String {
    json!({
        "providers": {"as": {
            "issuer": ISS, "audiences": ["orders-api"],
            "jwks": {"discovery": {"cluster": "as", "authority": "as.test", "timeout_ms": 1000,
                                   "refresh_seconds": 1, "max_stale_seconds": max_stale_seconds,
                                   "clusters": {"keys.test:443": "keys"}}}
        }},
        "rules": [{"match": {"path_prefix": "/"}, "require": {"jwt": "as"}}]
    })
    .to_string()
}

fn start(as_server: &HttpServer, keys_server: &HttpServer, max_stale_seconds: u64) -> Envoy {
    Envoy::start_with(
        &plugin(max_stale_seconds),
        Options {
            concurrency: 2,
            clusters: vec![
                cluster("as", as_server.port()),
                cluster("keys", keys_server.port()),
            ],
            ..Options::default()
        },
    )
}

fn assert_discovery_unavailable(r: &Response) {
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    let body: Value = r.json();
    assert_eq!(body["reason"], "discovery_unavailable", "{body}");
}

#[test]
fn discovered_keys_on_another_host_verify_tokens_and_survive_an_outage() {
    let k = Ed25519KeyPair::generate();
    let mut as_server =
        HttpServer::start(WELL_KNOWN, document(ISS, "https://keys.test/tenant/jwks"));
    let mut keys_server = HttpServer::start("/tenant/jwks", Reply::json(&jwks(&k, "k1")));
    let envoy = start(&as_server, &keys_server, 3600);

    let r = envoy.get("/orders", &[("authorization", &token(&k, "k1"))]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["headers"]["x-edgeguard-subject"], "alice", "{r:?}");
    let r = envoy.get("/orders", &[("authorization", "Bearer not.a.token")]);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(as_server.hits() >= 1 && keys_server.hits() >= 1);

    // Both servers go away: the last good document and key set keep serving (refresh is 1 s, so
    // refreshes fail meanwhile), on every worker.
    as_server.stop();
    keys_server.stop();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    for _ in 0..6 {
        let r = envoy.get("/orders", &[("authorization", &token(&k, "k1"))]);
        assert_eq!(r.status, 200, "the last good key set must serve: {r:?}");
    }
    assert!(
        envoy
            .stat(&format!(
                "wasmcustom.{}",
                stats::discovery_fetch("as", true)
            ))
            .unwrap_or(0)
            >= 1,
        "{}",
        envoy.stats()
    );
    common::wait_until(std::time::Duration::from_secs(10), || {
        envoy
            .stat(&format!(
                "wasmcustom.{}",
                stats::discovery_fetch("as", false)
            ))
            .unwrap_or(0)
            >= 1
    });
    assert!(
        envoy
            .stat(&format!(
                "wasmcustom.{}",
                stats::discovery_fetch("as", false)
            ))
            .unwrap_or(0)
            >= 1,
        "{}",
        envoy.stats()
    );
}

#[test]
fn a_jwks_uri_on_the_issuer_host_uses_the_discovery_cluster() {
    let k = Ed25519KeyPair::generate();
    let as_server = HttpServer::start(WELL_KNOWN, document(ISS, "https://as.test/tenant/jwks"));
    as_server.route("/tenant/jwks", Reply::json(&jwks(&k, "k1")));
    let keys_server = HttpServer::start("/unused", Reply::status(500, ""));
    let envoy = start(&as_server, &keys_server, 3600);
    let r = envoy.get("/orders", &[("authorization", &token(&k, "k1"))]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(keys_server.hits(), 0, "the keys cluster is not used");
}

#[test]
fn an_issuer_mismatch_or_an_unlisted_jwks_host_is_503_discovery_unavailable() {
    let k = Ed25519KeyPair::generate();
    for (doc, logged) in [
        // another tenant's document (Istio's resolver would take its jwks_uri)
        (
            document("https://as.test/other", "https://keys.test/tenant/jwks"),
            "issuer mismatch",
        ),
        // a trailing slash is another issuer, byte for byte
        (
            document("https://as.test/tenant/", "https://keys.test/tenant/jwks"),
            "issuer mismatch",
        ),
        // a jwks_uri on a host no cluster is listed for
        (
            document(ISS, "https://attacker.test/tenant/jwks"),
            "is on host \"attacker.test:443\", which is not the discovery authority",
        ),
    ] {
        let as_server = HttpServer::start(WELL_KNOWN, doc.clone());
        let keys_server = HttpServer::start("/tenant/jwks", Reply::json(&jwks(&k, "k1")));
        let envoy = start(&as_server, &keys_server, 3600);
        let r = envoy.get("/orders", &[("authorization", &token(&k, "k1"))]);
        assert_discovery_unavailable(&r);
        assert_eq!(keys_server.hits(), 0, "no key set is fetched: {doc:?}");
        // Envoy flushes its log file periodically.
        let seen = common::wait_until(std::time::Duration::from_secs(15), || {
            envoy.log().contains(logged)
        });
        assert!(seen, "{logged:?} is logged: {}", envoy.log_tail(20));
    }
}

/// The real authorization server (django-oauth-toolkit with OIDC on, an RSA key generated at its
/// start): its own discovery document and JWKS, found from the issuer alone, verify the ID tokens it
/// signs; a token whose signature is altered is refused.
#[test]
fn a_real_authorization_servers_discovery_and_rsa_key_verify_its_id_tokens() {
    let web = Client::new("web", "web-secret", "password").rs256();
    let issuer = "http://as.test/o";
    let server = OAuthServer::start_with_issuer(
        std::slice::from_ref(&web),
        &[("alice", "alice-pw")],
        Some(issuer),
    );
    let plugin = json!({
        "providers": {"dot": {"issuer": issuer, "audiences": ["web"],
            "jwks": {"discovery": {"cluster": "as", "authority": "as.test", "timeout_ms": 3000}}}},
        "rules": [{"match": {"path_prefix": "/"}, "require": {"jwt": "dot"}}]
    });
    let envoy = Envoy::start_with(
        &plugin.to_string(),
        Options {
            clusters: vec![cluster("as", server.port())],
            ..Options::default()
        },
    );
    let id_token = server.id_token(&web, "alice", "alice-pw");
    let header = id_token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&b64_decode(header)).unwrap();
    assert_eq!(header["alg"], "RS256", "{header}");

    let r = envoy.get(
        "/orders",
        &[("authorization", &format!("Bearer {id_token}"))],
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", envoy.log_tail(20));
    assert_eq!(r.json()["headers"]["x-edgeguard-provider"], "dot", "{r:?}");
    assert!(
        r.json()["headers"]["x-edgeguard-subject"].is_string(),
        "{r:?}"
    );

    let mut forged = id_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let r = envoy.get("/orders", &[("authorization", &format!("Bearer {forged}"))]);
    assert_eq!(r.status, 401, "{r:?}");

    assert!(
        common::wait_until(std::time::Duration::from_secs(5), || {
            envoy.stat(&format!(
                "wasmcustom.{}",
                stats::discovery_fetch("dot", true)
            )) == Some(1)
                && envoy.stat(&format!("wasmcustom.{}", stats::jwks_fetch("dot", true))) == Some(1)
        }),
        "one discovery and one key-set fetch per proxy: {}",
        envoy.stats()
    );
    let log = server.log();
    assert!(log.contains("/o/.well-known/openid-configuration"), "{log}");
    assert!(log.contains("/o/.well-known/jwks.json"), "{log}");
}

fn b64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// An introspecting provider without an endpoint of its own takes the discovery document's
/// `introspection_endpoint`, on a host `clusters` lists; until the document is in, its tokens wait.
#[test]
fn introspection_without_a_path_uses_the_documents_introspection_endpoint() {
    let as_server = HttpServer::start(
        WELL_KNOWN,
        Reply::json(
            &json!({"issuer": ISS, "jwks_uri": "https://as.test/tenant/jwks",
                    "introspection_endpoint": "https://keys.test/tenant/introspect"})
            .to_string(),
        ),
    );
    as_server.route("/tenant/jwks", Reply::json(r#"{"keys": []}"#));
    let introspect = HttpServer::start(
        "/tenant/introspect",
        Reply::json(
            r#"{"active": true, "sub": "svc-7", "client_id": "batch", "scope": "orders:read"}"#,
        ),
    );
    let plugin = json!({
        "providers": {"as": {
            "issuer": ISS,
            "jwks": {"discovery": {"cluster": "as", "authority": "as.test", "timeout_ms": 1000,
                                   "clusters": {"keys.test:443": "keys"}}},
            "introspection": {"client_id": "edge", "client_secret": "s3cret", "timeout_ms": 1000}
        }},
        "rules": [{"match": {"path_prefix": "/"}, "require": {"token": "as", "scopes": ["orders:read"]}}]
    });
    let envoy = Envoy::start_with(
        &plugin.to_string(),
        Options {
            clusters: vec![
                cluster("as", as_server.port()),
                cluster("keys", introspect.port()),
            ],
            ..Options::default()
        },
    );
    let r = envoy.get("/orders", &[("authorization", "Bearer opaque-token-1")]);
    assert_eq!(r.status, 200, "{r:?}\n{}", envoy.log_tail(20));
    assert_eq!(r.json()["headers"]["x-edgeguard-subject"], "svc-7", "{r:?}");
    assert_eq!(
        r.json()["headers"]["x-edgeguard-client-id"],
        "batch",
        "{r:?}"
    );
    assert_eq!(introspect.hits(), 1, "one introspection call");
}
