//! What edgeguard publishes as filter state, read back through a real Envoy running the built
//! `target/edgeguard.wasm` (run with `make test`): the route adds request headers from
//! `%FILTER_STATE(wasm.edgeguard_*:PLAIN)%` — evaluated by Envoy's router after the filter chain —
//! and the echo upstream shows them. Each method (anonymous, API key, JWT, introspection), `all`,
//! plans (own, by method, default, unknown claim value), rule names and costs, report mode; and a
//! rule's cost spent by `local_ratelimit` through `hits_addend`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use common::{b64, cluster, wait_until, Envoy, HttpServer, Options, Reply, Response};
use edgeguard::credential::api_key::sha256_hex;
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &[u8] = b"publish-test-hs256-secret-32-bytes!";
const ISS: &str = "https://idp.test";
const NAMES: [&str; 5] = ["method", "principal", "plan", "rule", "cost"];

/// An HS256 token of provider `idp` with these claims added.
fn token(claims: Value) -> String {
    common::hs256_token(SECRET, ISS, claims)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// The catch-all route, with a request header per published value (`x-fs-method`, ...).
fn reading_route() -> Value {
    let add: Vec<Value> = [
        ("method", "auth_method"),
        ("principal", "principal"),
        ("plan", "plan"),
        ("rule", "rule"),
        ("cost", "cost"),
    ]
    .iter()
    .map(|(h, fs)| {
        json!({"header": {"key": format!("x-fs-{h}"),
                          "value": format!("%FILTER_STATE(wasm.edgeguard_{fs}:PLAIN)%")},
               "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"})
    })
    .collect();
    json!({"match": {"prefix": "/"}, "route": {"cluster": "upstream"},
           "request_headers_to_add": add})
}

fn plugin(mode: &str) -> Value {
    json!({
        "mode": mode,
        "api_keys": {"keys": [
            {"id": "gold-app", "sha256": sha256_hex(b"gold-key"), "plan": "gold"},
            {"id": "app", "sha256": sha256_hex(b"app-key")}
        ]},
        "providers": {
            "idp": {"issuer": ISS, "plan_claim": "tier",
                    "jwks": {"inline": {"keys": [{"kty": "oct", "kid": "h", "k": b64(SECRET)}]}}},
            "as": {"issuer": "https://as.test",
                   "introspection": {"cluster": "as", "authority": "as.test", "path": "/introspect",
                                     "client_id": "edge", "client_secret": "s", "timeout_ms": 3000}}
        },
        "plans": {"default": "standard",
                  "by_method": {"anonymous": "anonymous", "api_key": "partner", "jwt": "user",
                                "introspection": "service"},
                  "names": ["anonymous", "standard", "partner", "user", "service", "gold"]},
        "rules": [
            {"name": "public", "cost": 3, "match": {"path_prefix": "/public"}, "allow": "anonymous"},
            {"name": "both", "match": {"path_prefix": "/both"},
             "require": {"all": [{"api_key": {}}, {"jwt": "idp"}]}},
            {"match": {"path_prefix": "/opaque"}, "require": {"token": "as"}},
            {"name": "orders", "match": {"path_prefix": "/"},
             "require": {"any": [{"api_key": {}}, {"jwt": "idp"}]}}
        ]
    })
}

fn start(mode: &str, introspect: &HttpServer) -> Envoy {
    Envoy::start_with(
        &plugin(mode).to_string(),
        Options {
            clusters: vec![cluster("as", introspect.port())],
            routes: vec![reading_route()],
            ..Options::default()
        },
    )
}

/// The published values the upstream received, in `NAMES` order ("" when a header is absent).
fn published(r: &Response) -> Vec<String> {
    assert_eq!(r.status, 200, "{r:?}");
    let headers = &r.json()["headers"];
    NAMES
        .iter()
        .map(|n| {
            headers[format!("x-fs-{n}")]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn expect(r: &Response, want: [&str; 5]) {
    assert_eq!(published(r), want.map(str::to_string), "{r:?}");
}

#[test]
fn every_method_publishes_its_identity_plan_rule_and_cost() {
    let introspect = HttpServer::start(
        "/introspect",
        Reply::json(
            r#"{"active": true, "sub": "svc-7", "client_id": "c1", "scope": "orders:read"}"#,
        ),
    );
    let envoy = start("enforce", &introspect);

    // anonymous, on a named rule with a cost
    let r = envoy.get("/public/x", &[("x-fs-plan", "gold")]);
    expect(&r, ["anonymous", "anonymous", "anonymous", "public", "3"]);
    // a key's own plan, then by_method; every rule without a cost counts one hit
    let r = envoy.get("/orders", &[("x-api-key", "gold-key")]);
    expect(&r, ["api_key", "api_key:gold-app", "gold", "orders", "1"]);
    let r = envoy.get("/orders", &[("x-api-key", "app-key")]);
    expect(&r, ["api_key", "api_key:app", "partner", "orders", "1"]);
    // a JWT: its plan claim when it names a plan, else by_method (and counted)
    let r = envoy.get(
        "/orders",
        &[("authorization", &bearer(&token(json!({"tier": "gold"}))))],
    );
    expect(&r, ["jwt", "jwt:idp:alice", "gold", "orders", "1"]);
    let r = envoy.get(
        "/orders",
        &[(
            "authorization",
            &bearer(&token(json!({"tier": "platinum"}))),
        )],
    );
    expect(&r, ["jwt", "jwt:idp:alice", "user", "orders", "1"]);
    // `all`: methods and principals joined in a fixed order, the first own plan
    let r = envoy.get(
        "/both",
        &[
            ("authorization", &bearer(&token(json!({"sub": "bob"})))),
            ("x-api-key", "gold-key"),
        ],
    );
    expect(
        &r,
        [
            "api_key+jwt",
            "api_key:gold-app+jwt:idp:bob",
            "gold",
            "both",
            "1",
        ],
    );
    // an opaque token its authorization server vouched for
    let r = envoy.get("/opaque", &[("authorization", "Bearer opaque-token-1")]);
    expect(
        &r,
        [
            "introspection",
            "introspection:as:svc-7",
            "service",
            "",
            "1",
        ],
    );
    assert_eq!(introspect.hits(), 1);
    // a denial is answered by edgeguard: nothing reaches the upstream
    let r = envoy.get("/orders", &[("x-api-key", "wrong")]);
    assert_eq!(r.status, 401, "{r:?}");

    assert!(
        wait_until(Duration::from_secs(5), || envoy
            .edgeguard_count(&stats::plan_unknown())
            == 1),
        "the unknown plan claim value is counted: {:?}",
        envoy.stats_matching("plan")
    );
}

#[test]
fn report_mode_publishes_the_would_be_denial_as_anonymous() {
    let introspect = HttpServer::start("/introspect", Reply::json(r#"{"active": false}"#));
    let envoy = start("report", &introspect);
    let r = envoy.get("/orders", &[("x-api-key", "wrong")]);
    expect(&r, ["anonymous", "anonymous", "anonymous", "orders", "1"]);
    assert!(
        r.json()["headers"]["x-edgeguard-decision"]
            .as_str()
            .unwrap_or_default()
            .starts_with("deny; reason="),
        "{r:?}"
    );
    // what is allowed is published as in enforce mode
    let r = envoy.get("/orders", &[("x-api-key", "gold-key")]);
    expect(&r, ["api_key", "api_key:gold-app", "gold", "orders", "1"]);
}

/// A rule's `cost` is what Envoy's `local_ratelimit` takes from the bucket, through a descriptor's
/// `hits_addend: {format: "%FILTER_STATE(wasm.edgeguard_cost:PLAIN)%"}` (the README's recipe).
#[test]
fn a_rule_cost_is_spent_by_the_rate_limiter() {
    let plugin = json!({
        "api_keys": {"keys": [{"id": "app", "sha256": sha256_hex(b"app-key")}]},
        "rules": [
            {"match": {"path_prefix": "/export"}, "cost": 4, "require": {"api_key": {}}},
            {"match": {"path_prefix": "/"}, "require": {"api_key": {}}}
        ]
    });
    let bucket = json!({"max_tokens": 10, "tokens_per_fill": 10, "fill_interval": "3600s"});
    let limiter = json!({
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "by_principal",
            "token_bucket": bucket,
            "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            "filter_enforced": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            "rate_limits": [{
                "actions": [{"extension": {
                    "name": "principal",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.rate_limit_descriptors.expr.v3.Descriptor",
                        "descriptor_key": "principal",
                        "text": "filter_state['wasm.edgeguard_principal']"}}}],
                "hits_addend": {"format": "%FILTER_STATE(wasm.edgeguard_cost:PLAIN)%"}
            }],
            "descriptors": [{"entries": [{"key": "principal"}], "token_bucket": bucket}],
            "max_dynamic_descriptors": 100
        }
    });
    let envoy = Envoy::start_with(
        &plugin.to_string(),
        Options {
            filters_after: vec![limiter],
            ..Options::default()
        },
    );
    let key = [("x-api-key", "app-key")];
    // 10 tokens: two exports (4 each) and two plain requests (1 each) fit; a third export does not
    let statuses: Vec<u16> = ["/export", "/export", "/orders", "/orders", "/export"]
        .iter()
        .map(|p| envoy.get(p, &key).status)
        .collect();
    assert_eq!(statuses, vec![200, 200, 200, 200, 429]);
}
