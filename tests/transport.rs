//! Credentials only over TLS, through real Envoys running the built `target/edgeguard.wasm` (run
//! with `make test`): one Envoy with a plaintext and a TLS listener; a TLS front Envoy setting
//! `x-forwarded-proto` for a back Envoy that trusts it by source address; mutual TLS trusted by the
//! peer certificate's URI SAN. Certificates come from the `openssl` CLI, requests from `curl`
//! (TLS, client certificates, bound source addresses on 127.0.0.0/8, h2c).

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::credential::Kind;
use edgeguard::reason::Reason;
use edgeguard::stats;

use common::tls::{curl, make_certs, Certs, Client};
use common::{config, temp_dir, wait_until, wasm_path, EchoUpstream, Envoy, Options, Response};
use edgeguard::credential::api_key::sha256_hex;
use jwt_simple::prelude::{Claims, Duration, Ed25519KeyPair, EdDSAKeyPairLike};
use serde_json::{json, Value};
use std::time::Duration as StdDuration;

const KEY: &str = "transport-test-key-0123456789";
const GATEWAY: &str = "spiffe://cluster.local/ns/edge/sa/gateway";
/// The front Envoy's source address towards the back one; untrusted clients bind 127.0.0.2.
const FRONT_SOURCE: &str = "127.0.0.3";
const CLIENT_SOURCE: &str = "127.0.0.2";

/// API keys in a header, a query parameter and a cookie; provider `idp` with an inline Ed25519
/// key; `/public` anonymous, `/legacy` a key without TLS (`require_tls: false`), the rest a key or
/// a token; `transport` as given.
fn plugin(signer: &Ed25519KeyPair, transport: Value) -> String {
    let x = common::b64(&signer.public_key().to_bytes());
    json!({
        "api_keys": {
            "from": [{"header": "x-api-key"}, {"query": "api_key"}, {"cookie": "ak"}],
            "keys": [{"id": "ios-app", "sha256": sha256_hex(KEY.as_bytes())}]
        },
        "providers": {"idp": {"issuer": "https://idp.test",
            "jwks": {"inline": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": x}]}}}},
        "rules": [
            {"match": {"path_prefix": "/public"}, "allow": "anonymous"},
            {"match": {"path_prefix": "/legacy"}, "require_tls": false, "require": {"api_key": {}}},
            {"require": {"any": [{"api_key": {}}, {"jwt": "idp"}]}}
        ],
        "transport": transport
    })
    .to_string()
}

fn token(signer: &Ed25519KeyPair) -> String {
    let claims = Claims::with_custom_claims(json!({}), Duration::from_secs(600))
        .with_issuer("https://idp.test")
        .with_subject("alice");
    signer.clone().with_key_id("k1").sign(claims).unwrap()
}

/// An Envoy (edgeguard configured by `plugin_json`, unless `None`) whose listener `main` is
/// plaintext and, with `tls`, a second listener `tls` of the same chain with that transport
/// socket. `hcm` is merged into both connection managers; `upstream` is the port of cluster
/// `upstream` (`None`: a fresh echo upstream), bound to `bind` when given.
fn start(
    plugin_json: Option<&str>,
    tls: Option<Value>,
    hcm: Value,
    upstream: Option<u16>,
    bind: Option<&str>,
) -> Envoy {
    let echo = upstream.is_none().then(EchoUpstream::start);
    let port = upstream.unwrap_or_else(|| echo.as_ref().map_or(0, EchoUpstream::port));
    let opts = Options {
        edgeguard: plugin_json.is_some(),
        hcm,
        ..Options::default()
    };
    let mut cfg = config(plugin_json.unwrap_or("{}"), &wasm_path(), port, &opts);
    if let Some(src) = bind {
        cfg["static_resources"]["clusters"][0]["upstream_bind_config"] =
            json!({"source_address": {"address": src, "port_value": 0}});
    }
    if let Some(socket) = tls {
        let mut second = cfg["static_resources"]["listeners"][0].clone();
        second["name"] = json!("tls");
        second["filter_chains"][0]["transport_socket"] = socket;
        cfg["static_resources"]["listeners"]
            .as_array_mut()
            .unwrap()
            .push(second);
    }
    let dir = temp_dir("transport");
    let path = dir.join("envoy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let mut envoy = Envoy::start_config_file(&path);
    envoy.echo = echo;
    envoy
}

fn plain() -> Client<'static> {
    Client {
        source: Some(CLIENT_SOURCE),
        ..Client::default()
    }
}

fn over_tls(certs: &Certs) -> Client<'static> {
    Client {
        ca: Some(certs.ca()),
        source: Some(CLIENT_SOURCE),
        ..Client::default()
    }
}

fn assert_insecure(r: &Response, what: &str) {
    assert_eq!(r.status, 403, "{what}: {r:?}");
    assert_eq!(r.json()["reason"], "insecure_transport", "{what}: {r:?}");
    assert_eq!(r.json()["error"], "forbidden", "{what}: {r:?}");
    assert!(
        r.header("www-authenticate").is_none(),
        "{what}: no challenge: {r:?}"
    );
    assert!(!r.body.contains(KEY), "{what}: {r:?}");
}

/// The headers the echo upstream saw (the response must be its 200 echo).
fn upstream_headers(r: &Response, what: &str) -> Value {
    assert_eq!(
        r.status, 200,
        "{what}: expected the upstream's echo, got {r:?}"
    );
    r.json()["headers"].clone()
}

/// Waits until every `(counter, value)` is reached (each worker VM flushes on its own timer).
fn wait_counts(envoy: &Envoy, expected: &[(String, u64)]) {
    let ok = wait_until(StdDuration::from_secs(10), || {
        expected
            .iter()
            .all(|(name, n)| envoy.edgeguard_count(name) == *n)
    });
    assert!(
        ok,
        "expected {expected:?}: {:#?}",
        envoy.stats_matching("edgeguard")
    );
}

#[test]
fn every_credential_kind_is_refused_over_plaintext_and_accepted_over_tls() {
    let signer = Ed25519KeyPair::generate();
    let certs = make_certs(&temp_dir("certs"), GATEWAY);
    let envoy = start(
        Some(&plugin(&signer, json!({}))),
        Some(certs.downstream_tls(false)),
        json!({}),
        None,
        None,
    );
    let (plain_port, tls_port) = (envoy.port, envoy.listener_port("tls"));
    let bearer = format!("Bearer {}", token(&signer));
    let cookie = format!("ak={KEY}; theme=dark");
    let query = format!("/orders?api_key={KEY}&page=2");
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: [Case<'_>; 4] = [
        ("header key", "/orders", vec![("x-api-key", KEY)]),
        ("query key", &query, vec![]),
        ("cookie key", "/orders", vec![("cookie", &cookie)]),
        ("token", "/orders", vec![("authorization", &bearer)]),
    ];
    for (what, path, headers) in &cases {
        let hits = envoy.echo.as_ref().unwrap().hits();
        assert_insecure(&curl(&plain(), plain_port, path, headers), what);
        assert_eq!(
            envoy.echo.as_ref().unwrap().hits(),
            hits,
            "{what}: nothing reached the upstream"
        );
        let seen = upstream_headers(&curl(&over_tls(&certs), tls_port, path, headers), what);
        let text = seen.to_string();
        assert!(!text.contains(KEY), "{what}: credential forwarded: {text}");
        assert!(
            seen["x-edgeguard-key-id"] == "ios-app" || seen["x-edgeguard-subject"] == "alice",
            "{what}: {text}"
        );
    }
    // HTTP/2 over cleartext claiming `:scheme: https` is still plaintext.
    let h2c = Client {
        h2c: true,
        ..plain()
    };
    assert_insecure(
        &curl(
            &h2c,
            plain_port,
            "/orders",
            &[(":scheme", "https"), ("x-api-key", KEY)],
        ),
        "h2c :scheme https",
    );
    // No credential: a rule that needs one answers insecure_transport (use TLS before sending
    // secrets); a public rule needs no TLS; `require_tls: false` overrides the section.
    assert_insecure(&curl(&plain(), plain_port, "/orders", &[]), "no credential");
    let r = curl(&over_tls(&certs), tls_port, "/orders", &[]);
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (401, json!("missing")),
        "{r:?}"
    );
    upstream_headers(&curl(&plain(), plain_port, "/public/x", &[]), "public");
    let seen = upstream_headers(
        &curl(&plain(), plain_port, "/legacy", &[("x-api-key", KEY)]),
        "legacy",
    );
    assert_eq!(seen["x-edgeguard-key-id"], "ios-app", "{seen}");
    wait_counts(
        &envoy,
        &[
            (stats::plaintext_credential(Kind::ApiKey), 4),
            (stats::plaintext_credential(Kind::Jwt), 1),
            (stats::denied(Reason::InsecureTransport, true), 6),
        ],
    );
    // The leaked credentials are named by id (never the credential) at warn.
    let logged = wait_until(StdDuration::from_secs(5), || {
        let log = envoy.log();
        log.contains("id ios-app") && log.contains("provider idp, subject alice")
    });
    let log = envoy.log();
    assert!(logged, "{}", envoy.log_tail(40));
    assert!(log.contains("[warning]"), "{}", envoy.log_tail(40));
    assert!(!log.contains(KEY), "the key reached the log");
}

#[test]
fn report_mode_lets_plaintext_credentials_through_and_reports_them() {
    let signer = Ed25519KeyPair::generate();
    let envoy = start(
        Some(&plugin(&signer, json!({"mode": "report"}))),
        None,
        json!({}),
        None,
        None,
    );
    let seen = upstream_headers(
        &curl(&plain(), envoy.port, "/orders", &[("x-api-key", KEY)]),
        "report",
    );
    assert_eq!(
        seen["x-edgeguard-decision"], "deny; reason=insecure_transport",
        "{seen}"
    );
    assert_eq!(seen["x-edgeguard-key-id"], "ios-app", "{seen}");
    assert!(!seen.to_string().contains(KEY), "{seen}");
    wait_counts(
        &envoy,
        &[
            (stats::plaintext_credential(Kind::ApiKey), 1),
            (stats::denied(Reason::InsecureTransport, false), 1),
            (stats::allowed(), 1),
        ],
    );
}

/// A back Envoy (edgeguard trusting `x-forwarded-proto` from 127.0.0.3, deriving its remote
/// address from `x-forwarded-for` with one trusted hop) behind a TLS front Envoy that reaches it
/// from 127.0.0.3.
#[test]
fn a_trusted_front_proxys_forwarded_proto_is_believed_and_nobody_elses() {
    let signer = Ed25519KeyPair::generate();
    let certs = make_certs(&temp_dir("certs"), GATEWAY);
    let transport = json!({"trust_forwarded_proto": {"source_cidrs": [format!("{FRONT_SOURCE}/32"), "fd00::/8"]}});
    let back = start(
        Some(&plugin(&signer, transport)),
        None,
        json!({"use_remote_address": false, "xff_num_trusted_hops": 1}),
        None,
        None,
    );
    // An edge proxy: it appends the client's address to x-forwarded-for and sets
    // x-forwarded-proto from its own TLS state.
    let front = start(
        None,
        Some(certs.downstream_tls(false)),
        json!({"use_remote_address": true}),
        Some(back.port),
        Some(FRONT_SOURCE),
    );
    let key = [("x-api-key", KEY)];
    let via_front = curl(
        &over_tls(&certs),
        front.listener_port("tls"),
        "/orders",
        &key,
    );
    let seen = upstream_headers(&via_front, "through the TLS front");
    assert_eq!(seen["x-forwarded-proto"], "https", "{seen}");
    assert_eq!(seen["x-forwarded-for"], CLIENT_SOURCE, "{seen}");
    assert_eq!(seen["x-edgeguard-key-id"], "ios-app", "{seen}");
    // A client's own x-forwarded-for entry, forwarded by the front, becomes the back's remote
    // address (one trusted hop): not the TCP peer, so not trusted (fail closed).
    assert_insecure(
        &curl(
            &over_tls(&certs),
            front.listener_port("tls"),
            "/orders",
            &[("x-forwarded-for", FRONT_SOURCE), key[0]],
        ),
        "client x-forwarded-for through the front",
    );
    // The same header straight from an untrusted client.
    let https = ("x-forwarded-proto", "https");
    let direct = |source: &'static str, headers: &[(&str, &str)]| {
        let client = Client {
            source: Some(source),
            ..Client::default()
        };
        curl(&client, back.port, "/orders", headers)
    };
    assert_insecure(&direct(CLIENT_SOURCE, &[https, key[0]]), "untrusted client");
    // ... also when it names the front in x-forwarded-for, which this back Envoy derives its
    // remote address from.
    for xff in [FRONT_SOURCE, "127.0.0.3, 127.0.0.2", "127.0.0.3, 127.0.0.3"] {
        assert_insecure(
            &direct(CLIENT_SOURCE, &[https, ("x-forwarded-for", xff), key[0]]),
            &format!("spoofed x-forwarded-for {xff}"),
        );
    }
    // The trusted address itself: one `https` is believed, two values are not.
    upstream_headers(&direct(FRONT_SOURCE, &[https, key[0]]), "trusted peer");
    assert_insecure(
        &direct(FRONT_SOURCE, &[https, https, key[0]]),
        "two x-forwarded-proto headers",
    );
    assert_insecure(
        &direct(
            FRONT_SOURCE,
            &[("x-forwarded-proto", "https, https"), key[0]],
        ),
        "an x-forwarded-proto list",
    );
    assert_insecure(
        &direct(FRONT_SOURCE, &[("x-forwarded-proto", "http"), key[0]]),
        "the front says http",
    );
    wait_counts(
        &back,
        &[
            (stats::plaintext_credential(Kind::ApiKey), 8),
            (stats::denied(Reason::InsecureTransport, true), 8),
            (stats::allowed(), 2),
        ],
    );
}

/// Mutual TLS from a gateway whose certificate's URI SAN is trusted: its `x-forwarded-proto`
/// decides, even though its own hop is TLS.
#[test]
fn a_peer_trusted_by_its_certificates_uri_san_speaks_for_the_client() {
    let signer = Ed25519KeyPair::generate();
    let certs = make_certs(&temp_dir("certs"), GATEWAY);
    let transport = json!({"trust_forwarded_proto": {"peer_uri_sans": [GATEWAY]}});
    let envoy = start(
        Some(&plugin(&signer, transport)),
        Some(certs.downstream_tls(true)),
        json!({"xff_num_trusted_hops": 1}),
        None,
        None,
    );
    let gateway = Client {
        ca: Some(certs.ca()),
        cert: Some((certs.client_cert(), certs.client_key())),
        source: Some(CLIENT_SOURCE),
        h2c: false,
    };
    let port = envoy.listener_port("tls");
    let key = ("x-api-key", KEY);
    let seen = upstream_headers(
        &curl(
            &gateway,
            port,
            "/orders",
            &[("x-forwarded-proto", "https"), key],
        ),
        "gateway says https",
    );
    assert_eq!(seen["x-edgeguard-key-id"], "ios-app", "{seen}");
    assert_insecure(
        &curl(
            &gateway,
            port,
            "/orders",
            &[("x-forwarded-proto", "http"), key],
        ),
        "gateway says its client used http",
    );
    // On the plaintext listener there is no certificate: the header is nobody's word.
    assert_insecure(
        &curl(
            &plain(),
            envoy.port,
            "/orders",
            &[("x-forwarded-proto", "https"), key],
        ),
        "plaintext, no certificate",
    );
    wait_counts(
        &envoy,
        &[
            (stats::plaintext_credential(Kind::ApiKey), 2),
            (stats::denied(Reason::InsecureTransport, true), 2),
        ],
    );
}

#[test]
fn a_bad_cidr_is_a_configuration_error_naming_it() {
    let signer = Ed25519KeyPair::generate();
    let cfg = plugin(
        &signer,
        json!({"trust_forwarded_proto": {"source_cidrs": ["10.0.0.0/8", "10.0.0.1/8"]}}),
    );
    let (ok, out) = common::validate_plugin(&cfg);
    assert!(!ok, "accepted: {out}");
    assert!(
        out.contains("transport.trust_forwarded_proto.source_cidrs[1]"),
        "{out}"
    );
}

/// The robust way to trust a front proxy by address: the back's listener matches the front's TCP
/// address with `filter_chain_match.direct_source_prefix_ranges` into a filter chain named
/// `from-gateway`, and edgeguard trusts that chain (`xds.filter_chain_name`). This holds with
/// Envoy's default forwarding settings, where `source.address` is the client's address from
/// `x-forwarded-for` and `source_cidrs` could never match the front.
#[test]
fn a_front_proxy_is_trusted_by_the_filter_chain_its_address_was_matched_to() {
    let signer = Ed25519KeyPair::generate();
    let certs = make_certs(&temp_dir("certs"), GATEWAY);
    let transport = json!({"trust_forwarded_proto": {"filter_chains": ["from-gateway"]}});
    let plugin_json = plugin(&signer, transport);
    let echo = EchoUpstream::start();
    let mut cfg = config(&plugin_json, &wasm_path(), echo.port(), &Options::default());
    let chain = cfg["static_resources"]["listeners"][0]["filter_chains"][0].clone();
    let mut gateway = chain.clone();
    gateway["name"] = json!("from-gateway");
    gateway["filter_chain_match"] = json!({"direct_source_prefix_ranges": [{"address_prefix": FRONT_SOURCE, "prefix_len": 32}]});
    let mut others = chain;
    others["name"] = json!("others");
    cfg["static_resources"]["listeners"][0]["filter_chains"] = json!([gateway, others]);
    let dir = temp_dir("transport");
    let path = dir.join("envoy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let mut back = Envoy::start_config_file(&path);
    back.echo = Some(echo);
    let front = start(
        None,
        Some(certs.downstream_tls(false)),
        json!({"use_remote_address": true}),
        Some(back.port),
        Some(FRONT_SOURCE),
    );
    let key = [("x-api-key", KEY)];
    let seen = upstream_headers(
        &curl(
            &over_tls(&certs),
            front.listener_port("tls"),
            "/orders",
            &key,
        ),
        "through the TLS front",
    );
    assert_eq!(seen["x-forwarded-proto"], "https", "{seen}");
    assert_eq!(seen["x-edgeguard-key-id"], "ios-app", "{seen}");
    // Straight from a client: another filter chain, whatever it claims.
    let direct = |headers: &[(&str, &str)]| {
        let client = Client {
            source: Some(CLIENT_SOURCE),
            ..Client::default()
        };
        curl(&client, back.port, "/orders", headers)
    };
    let https = ("x-forwarded-proto", "https");
    assert_insecure(&direct(&[https, key[0]]), "untrusted client");
    assert_insecure(
        &direct(&[https, ("x-forwarded-for", FRONT_SOURCE), key[0]]),
        "x-forwarded-for naming the front",
    );
    // The front over plaintext says http: refused.
    assert_insecure(
        &curl(&plain(), front.port, "/orders", &key),
        "the front's plaintext listener",
    );
}
