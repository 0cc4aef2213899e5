//! OAuth2 token introspection (RFC 7662) through a real Envoy running the built plugin:
//! - against a real authorization server (django-oauth-toolkit, `tests/oauth_server/`):
//!   client-credentials and password-grant tokens, an unknown token, a missing scope, a token revoked
//!   at the server refused once its cache entry expired, `client_secret_basic` with a secret that
//!   needs form-encoding read from the VM's environment (`client_secret_env`), `client_secret_post`,
//!   and the metrics read back from `/stats`;
//! - against the harness' own servers: down, slower than `timeout_ms`, garbage, non-200 and
//!   oversized answers (503 `introspection_unavailable`, never 401), and a burst of concurrent
//!   requests with a new token making one call for the whole proxy (two workers).

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use common::oauth_server::{Client, OAuthServer};
use common::{
    cluster, temp_dir, validate_plugin, wait_until, wasm_path, EchoUpstream, Envoy, HttpServer,
    Options, Reply, Response,
};
use serde_json::{json, Value};
use std::time::Duration;

/// Envoy (two workers) with the plugin's VM environment set (`vm_config.environment_variables`),
/// in front of `echo`.
fn envoy_with_env(plugin: &Value, clusters: Vec<Value>, env: Value, echo: &EchoUpstream) -> Envoy {
    let opts = Options {
        clusters,
        ..Options::default()
    };
    let mut cfg = common::config(&plugin.to_string(), &wasm_path(), echo.port(), &opts);
    let filters = &mut cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"];
    let Some(list) = filters.as_array_mut() else {
        panic!("no http_filters in the generated bootstrap")
    };
    for f in list {
        if f["name"] == "envoy.filters.http.wasm" {
            f["typed_config"]["config"]["vm_config"]["environment_variables"] =
                json!({"key_values": env.clone()});
        }
    }
    let path = temp_dir("introspection").join("envoy.json");
    std::fs::write(&path, cfg.to_string()).unwrap_or_else(|e| panic!("write config: {e}"));
    Envoy::start_config_file(&path)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn reason(r: &Response) -> String {
    serde_json::from_str::<Value>(&r.body)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The headers the echo upstream received, from its JSON answer.
fn upstream(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["headers"].clone()
}

#[test]
fn tokens_of_a_real_authorization_server_are_introspected() {
    // A secret that only survives RFC 6749 §2.3.1 form-encoding: ':' splits, '%' and '+' decode.
    let edge = Client::new("edge-basic", "edge:s3%t + x", "client-credentials");
    let edge_post = Client::new("edge-post", "post secret&=", "client-credentials");
    let svc = Client::new("orders-service", "svc-secret", "client-credentials");
    let app = Client::new("alice-app", "alice-app-secret", "password");
    let server = OAuthServer::start(
        &[edge.clone(), edge_post.clone(), svc.clone(), app.clone()],
        &[("alice", "alice-password")],
    );
    let authority = format!("127.0.0.1:{}", server.port());
    let plugin = json!({
        "providers": {
            "as": {"issuer": "http://as.test",
                   "introspection": {"cluster": "as", "authority": authority, "path": "/o/introspect/",
                                     "client_id": edge.id, "client_secret_env": "EG_AS_SECRET",
                                     "timeout_ms": 3000}},
            "as_post": {"issuer": "http://as.test", "from": [{"header": "x-post-token"}],
                        "introspection": {"cluster": "as", "authority": authority, "path": "/o/introspect/",
                                          "client_id": edge_post.id, "client_secret": edge_post.secret,
                                          "client_auth": "client_secret_post", "timeout_ms": 3000,
                                          "cache": {"max_ttl_seconds": 1, "negative_ttl_seconds": 1}}}
        },
        "rules": [
            {"match": {"path_prefix": "/orders"}, "require": {"token": "as", "scopes": ["read"]}},
            {"match": {"path_prefix": "/write"}, "require": {"jwt": "as", "scopes": ["write"]}},
            {"match": {"path_prefix": "/post"}, "require": {"token": "as_post", "scopes": ["read"]}}
        ]
    });
    let echo = EchoUpstream::start();
    let envoy = envoy_with_env(
        &plugin,
        vec![cluster("as", server.port())],
        json!({"EG_AS_SECRET": edge.secret}),
        &echo,
    );

    // A client-credentials token: allowed, the client id upstream, the token stripped.
    let svc_token = server.client_token(&svc, "read");
    let auth = bearer(&svc_token);
    let r = envoy.get(
        "/orders",
        &[
            ("authorization", &auth),
            ("x-edgeguard-client-id", "spoofed"),
        ],
    );
    let h = upstream(&r);
    assert_eq!(h["x-edgeguard-client-id"], "orders-service", "{h}");
    assert_eq!(h["x-edgeguard-provider"], "as", "{h}");
    assert!(h.get("authorization").is_none(), "token stripped: {h}");
    assert!(h.get("x-edgeguard-subject").is_none(), "no user: {h}");
    // Again: answered from the cache.
    assert_eq!(
        envoy.get("/orders", &[("authorization", &auth)]).status,
        200
    );
    // A scope it does not have: 403 with the scope challenge.
    let r = envoy.get("/write", &[("authorization", &auth)]);
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (403, "insufficient_scope"),
        "{}",
        r.body
    );
    assert!(r
        .header("www-authenticate")
        .is_some_and(|c| c.contains("error=\"insufficient_scope\"")));

    // A user's token (password grant): the user is the subject.
    let alice = server.user_token(&app, "alice", "alice-password", "read write");
    let h = upstream(&envoy.get("/write", &[("authorization", &bearer(&alice))]));
    assert_eq!(h["x-edgeguard-subject"], "alice", "{h}");
    assert_eq!(h["x-edgeguard-client-id"], "alice-app", "{h}");

    // A token the server never issued: inactive.
    let r = envoy.get(
        "/orders",
        &[("authorization", "Bearer never-issued-0123456789")],
    );
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (401, "inactive_token"),
        "{}",
        r.body
    );
    assert!(r
        .header("www-authenticate")
        .is_some_and(|c| c.starts_with("Bearer") && c.contains("error=\"invalid_token\"")));

    // client_secret_post, and a token revoked at the server: refused once its entry (1 s) expired.
    let revocable = server.client_token(&svc, "read");
    let r = envoy.get("/post", &[("x-post-token", &revocable)]);
    assert_eq!(r.status, 200, "{}", r.body);
    server.revoke(&svc, &revocable);
    let mut last = (0, String::new());
    let refused = wait_until(Duration::from_secs(20), || {
        let r = envoy.get("/post", &[("x-post-token", &revocable)]);
        assert!(matches!(r.status, 200 | 401), "{} {}", r.status, r.body);
        last = (r.status, reason(&r));
        r.status == 401
    });
    assert!(refused, "the revoked token was never refused: {last:?}");
    assert_eq!(last.1, "inactive_token");

    // The metrics, per provider.
    let metrics_ok = wait_until(Duration::from_secs(5), || {
        envoy.edgeguard_count(&stats::introspection("as", "active")) >= 2
            && envoy.edgeguard_count(&stats::introspection("as", "inactive")) >= 1
            && envoy.edgeguard_count(&stats::introspection("as", "cache_hit")) >= 1
            && envoy.edgeguard_count(&stats::introspection("as_post", "active")) >= 1
            && envoy.edgeguard_count(&stats::introspection("as_post", "inactive")) >= 1
    });
    assert!(
        metrics_ok,
        "introspection metrics: {:?}",
        envoy.stats_matching("introspection")
    );
    assert_eq!(
        envoy.edgeguard_count(&stats::introspection("as", "error")),
        0
    );
    let log = envoy.log();
    for secret in [
        svc_token.as_str(),
        &alice,
        &revocable,
        &edge.secret,
        &edge_post.secret,
    ] {
        assert!(!log.contains(secret), "a secret in Envoy's log");
    }
}

#[test]
fn server_failures_are_503_and_a_burst_of_one_new_token_makes_one_call() {
    let active = r#"{"active": true, "scope": "read", "sub": "bob", "client_id": "c1"}"#;
    let big = format!(
        r#"{{"active": true, "sub": "bob", "pad": "{}"}}"#,
        "x".repeat(17 * 1024)
    );
    let mut down = HttpServer::start("/introspect", Reply::json(active));
    down.stop();
    let servers = [
        (
            "garbage",
            HttpServer::start("/introspect", Reply::json("<html>oops</html>")),
        ),
        (
            "status",
            HttpServer::start("/introspect", Reply::status(500, active)),
        ),
        ("big", HttpServer::start("/introspect", Reply::json(&big))),
        (
            "slow",
            HttpServer::start(
                "/introspect",
                Reply::json(active).delayed(Duration::from_secs(3)),
            ),
        ),
        (
            "burst",
            HttpServer::start(
                "/introspect",
                Reply::json(active).delayed(Duration::from_millis(300)),
            ),
        ),
        ("down", down),
    ];
    let mut providers = serde_json::Map::new();
    let mut rules = Vec::new();
    let mut clusters = Vec::new();
    for (name, s) in &servers {
        providers.insert(
            (*name).to_string(),
            json!({"issuer": "https://as.test",
                   "introspection": {"cluster": name, "authority": "as.test", "path": "/introspect",
                                     "client_id": "edge", "client_secret": "s",
                                     "timeout_ms": if *name == "slow" { 500 } else { 3000 }}}),
        );
        rules.push(
            json!({"match": {"path_prefix": format!("/{name}")}, "require": {"token": name}}),
        );
        clusters.push(cluster(name, s.port()));
    }
    let plugin = json!({"providers": providers, "rules": rules});
    let echo = EchoUpstream::start();
    let envoy = envoy_with_env(&plugin, clusters, json!({}), &echo);

    for (name, s) in &servers {
        if *name == "burst" {
            continue;
        }
        let auth = bearer(&format!("token-for-{name}"));
        let r = envoy.get(&format!("/{name}"), &[("authorization", &auth)]);
        assert_eq!(
            (r.status, reason(&r).as_str()),
            (503, "introspection_unavailable"),
            "{name}: {}",
            r.body
        );
        assert!(r.header("retry-after").is_some(), "{name}");
        if *name != "down" {
            assert!(s.hits() >= 1, "{name}: the server was asked");
        }
    }

    // 20 concurrent requests with one new token: one call for the whole proxy (2 workers + main).
    let burst = &servers[4].1;
    let addr = envoy.addr();
    let threads: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                common::http_request(
                    addr,
                    "GET",
                    "/burst",
                    &[("authorization", "Bearer a-brand-new-token")],
                    "",
                )
                .map(|r| (r.status, r.body))
            })
        })
        .collect();
    for t in threads {
        match t.join() {
            Ok(Ok((status, body))) => assert_eq!(status, 200, "{body}"),
            other => panic!("burst request: {other:?}"),
        }
    }
    assert_eq!(burst.hits(), 1, "one introspection call for 20 requests");
    let counted = wait_until(Duration::from_secs(5), || {
        envoy.edgeguard_count(&stats::introspection("burst", "active")) == 1
            && envoy.edgeguard_count(&stats::introspection("burst", "coalesced"))
                + envoy.edgeguard_count(&stats::introspection("burst", "cache_hit"))
                >= 18
    });
    assert!(counted, "{:?}", envoy.stats_matching("introspection.burst"));
    let errors = wait_until(Duration::from_secs(5), || {
        ["garbage", "status", "big", "slow", "down"]
            .iter()
            .all(|n| envoy.edgeguard_count(&stats::introspection(n, "error")) >= 1)
    });
    assert!(errors, "{:?}", envoy.stats_matching(".error"));
}

#[test]
fn an_unset_secret_variable_is_a_configuration_error_naming_the_field() {
    let plugin = json!({"providers": {"as": {"issuer": "https://as.test",
        "introspection": {"cluster": "as", "authority": "as.test", "path": "/introspect",
                          "client_id": "edge", "client_secret_env": "EG_SURELY_UNSET_SECRET"}}}});
    let (ok, out) = validate_plugin(&plugin.to_string());
    assert!(!ok, "accepted: {out}");
    assert!(
        out.contains("providers.as.introspection.client_secret_env"),
        "{out}"
    );
}
