//! Rules and requirements through a real Envoy running the built `target/edgeguard.wasm` (run with
//! `make test`): rule kinds and order, default deny/allow, 401 vs 403 and their challenges, `any`/`all`,
//! rule sets selected by Envoy route metadata, report mode, CORS preflight bypass, metrics, and path
//! normalization bypass attempts.

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use common::{b64, validate_plugin, wait_until, Envoy, Options, Response};
use edgeguard::credential::api_key::sha256_hex;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ISS: &str = "https://corp.test";
const SECRET: &[u8; 32] = b"edgeguard-policy-test-hs256-key!";
const OPS_KEY: &str = "policy-test-key-ops-000000";
const IOS_KEY: &str = "policy-test-key-ios-000000";
const READER_KEY: &str = "policy-test-key-reader-000";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token for provider `corp` with `sub` and `scope`, valid for 5 minutes (`exp_offset`
/// seconds from now may make it expired).
fn token_exp(sub: &str, scope: &str, exp_offset: i64) -> String {
    let t = now();
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "h"});
    let exp = (t as i64 + exp_offset) as u64;
    let claims = json!({"iss": ISS, "sub": sub, "scope": scope, "iat": t.min(exp), "exp": exp});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mac = hmac_sha256::HMAC::mac(input.as_bytes(), SECRET);
    format!("{input}.{}", b64(&mac))
}

fn token(sub: &str, scope: &str) -> String {
    token_exp(sub, scope, 300)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// API keys `ops` (scope `admin`), `ios` (`orders:read`), `reader` (no scopes); provider `corp`
/// (inline HS256); the rules of the tests below; `extra` is merged at the top level.
fn plugin(extra: Value) -> String {
    let mut cfg = json!({
        "api_keys": {"keys": [
            {"id": "ops", "sha256": sha256_hex(OPS_KEY.as_bytes()), "scopes": ["admin"]},
            {"id": "ios", "sha256": sha256_hex(IOS_KEY.as_bytes()), "scopes": ["orders:read"]},
            {"id": "reader", "sha256": sha256_hex(READER_KEY.as_bytes())}
        ]},
        "providers": {"corp": {
            "issuer": ISS,
            "jwks": {"inline": {"keys": [{"kty": "oct", "kid": "h", "k": b64(SECRET)}]}}
        }},
        "rules": [
            {"match": {"path_exact": "/health"}, "allow": "anonymous"},
            {"match": {"path_prefix": "/public"}, "allow": "anonymous"},
            {"match": {"path_prefix": "/admin"}, "require": {"api_key": {"ids": ["ops"]}}},
            {"match": {"path_glob": "/orders/*/items", "methods": ["POST", "PUT"]},
             "require": {"jwt": "corp", "scopes": ["orders:write"]}},
            {"match": {"path_prefix": "/orders"},
             "require": {"any": [{"jwt": "corp", "scopes": ["orders:read"]},
                                 {"api_key": {"scopes": ["orders:read"]}}]}},
            {"match": {"path_prefix": "/both"}, "require": {"all": [{"api_key": {}}, {"jwt": "corp"}]}},
            {"match": {"path_prefix": "/status", "hosts": ["status.example.com"]}, "allow": "anonymous"},
            {"match": {"path_prefix": "/first"}, "allow": "anonymous"},
            {"match": {"path_prefix": "/first"}, "require": {"api_key": {}}},
            {"match": {"path_prefix": "/internal-api"}, "require": {"api_key": {}}}
        ],
        "rule_sets": {
            "internal": [{"match": {"path_prefix": "/internal-api/status"}, "allow": "anonymous"}]
        }
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        // `null` removes a member (e.g. `rule_sets`, which `rewrite` cannot be combined with).
        if v.is_null() {
            cfg.as_object_mut().map(|o| o.remove(&k));
        } else {
            cfg[k] = v;
        }
    }
    cfg.to_string()
}

/// Envoy routes: requests with `x-route: internal` go through a route whose metadata names rule set
/// `internal`; with `x-route: bogus`, one that names a rule set that is not configured.
fn routes_with_rule_sets() -> Vec<Value> {
    let route = |header: &str, set: &str| {
        json!({
            "match": {"prefix": "/", "headers": [{"name": "x-route", "string_match": {"exact": header}}]},
            "route": {"cluster": "upstream"},
            "metadata": {"filter_metadata": {"edgeguard": {"rule_set": set}}}
        })
    };
    vec![route("internal", "internal"), route("bogus", "no-such-set")]
}

fn start(extra: Value) -> Envoy {
    Envoy::start_with(
        &plugin(extra),
        Options {
            routes: routes_with_rule_sets(),
            ..Options::default()
        },
    )
}

fn upstream_saw(r: &Response) -> Value {
    assert_eq!(r.status, 200, "expected the upstream's echo, got {r:?}");
    r.json()
}

/// A denial with the status, JSON reason and (if given) exact `WWW-Authenticate`.
fn assert_denied(r: &Response, status: u16, reason: &str, challenge: Option<&str>) {
    assert_eq!(r.status, status, "{reason}: {r:?}");
    assert_eq!(r.json()["reason"], reason, "{r:?}");
    assert_eq!(r.header("www-authenticate"), challenge, "{reason}: {r:?}");
}

const API_KEY_REALM: &str = "ApiKey realm=\"edgeguard\"";
const BEARER_REALM: &str = "Bearer realm=\"edgeguard\"";

#[test]
fn rule_kinds_first_match_and_default_deny() {
    let envoy = start(json!({}));
    let get = |path: &str| envoy.get(path, &[]);

    // path_exact (a trailing slash is ignored), but nothing below it.
    assert_eq!(get("/health").status, 200);
    assert_eq!(get("/health/").status, 200);
    assert_denied(&get("/health/deep"), 403, "no_matching_rule", None);
    // path_prefix is segment-aware.
    assert_eq!(get("/public").status, 200);
    assert_eq!(get("/public/css/site.css").status, 200);
    assert_denied(&get("/publicity"), 403, "no_matching_rule", None);
    assert_denied(&get("/admin"), 401, "missing", Some(API_KEY_REALM));
    assert_denied(&get("/admin/users"), 401, "missing", Some(API_KEY_REALM));
    assert_denied(&get("/administrator"), 403, "no_matching_rule", None);
    // path_glob + methods: POST /orders/1/items needs orders:write; GET falls through to /orders.
    let reader = token("alice", "orders:read");
    let writer = token("bob", "orders:read orders:write");
    let r = envoy.request(
        "POST",
        "/orders/1/items",
        &[("authorization", &bearer(&writer))],
        "{}",
    );
    assert_eq!(upstream_saw(&r)["headers"]["x-edgeguard-subject"], "bob");
    let r = envoy.request(
        "POST",
        "/orders/1/items",
        &[("authorization", &bearer(&reader))],
        "{}",
    );
    assert_denied(
        &r,
        403,
        "insufficient_scope",
        Some("Bearer realm=\"edgeguard\", error=\"insufficient_scope\", scope=\"orders:write\""),
    );
    let r = envoy.get("/orders/1/items", &[("authorization", &bearer(&reader))]);
    assert_eq!(r.status, 200, "GET is not covered by the glob rule: {r:?}");
    // `*` is one segment: /orders/1/2/items is not the glob, so /orders (reader may read) applies.
    let r = envoy.request(
        "POST",
        "/orders/1/2/items",
        &[("authorization", &bearer(&reader))],
        "{}",
    );
    assert_eq!(r.status, 200, "{r:?}");
    // hosts (case-insensitive, port ignored).
    let r = envoy.get("/status", &[("host", "Status.Example.com:8080")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_denied(&get("/status"), 403, "no_matching_rule", None);
    // First match wins: the anonymous /first rule shadows the later api_key one.
    assert_eq!(get("/first/x").status, 200);
    // Default deny.
    assert_denied(&get("/nothing-here"), 403, "no_matching_rule", None);
    assert_denied(
        &envoy.get("/", &[("x-api-key", OPS_KEY)]),
        403,
        "no_matching_rule",
        None,
    );
}

#[test]
fn default_allow_and_cors_preflight_bypass_off_by_default() {
    let envoy = start(json!({"default": "allow"}));
    // No rule matches: anonymous access, and no identity is invented.
    let r = envoy.get("/nothing-here", &[("x-edgeguard-key-id", "spoof")]);
    let seen = upstream_saw(&r);
    assert!(
        seen["headers"].get("x-edgeguard-key-id").is_none(),
        "{seen}"
    );
    // Rules still apply where they match.
    assert_denied(
        &envoy.get("/admin", &[]),
        401,
        "missing",
        Some(API_KEY_REALM),
    );
    // Without the bypass, a CORS preflight to a protected path is checked like any request.
    let preflight = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "DELETE"),
    ];
    let r = envoy.request("OPTIONS", "/admin/users", &preflight, "");
    assert_denied(&r, 401, "missing", Some(API_KEY_REALM));
}

#[test]
fn cors_preflight_bypass_when_enabled_passes_only_real_preflights() {
    let envoy = start(json!({"bypass_cors_preflight": true}));
    let preflight = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "DELETE"),
        ("x-api-key", "forged"),
        ("x_edgeguard_key_id", "root"),
    ];
    let r = envoy.request("OPTIONS", "/admin/users", &preflight, "");
    let seen = upstream_saw(&r);
    assert_eq!(seen["method"], "OPTIONS");
    // Nothing unverified rides along with a preflight.
    assert!(seen["headers"].get("x-api-key").is_none(), "{seen}");
    assert!(
        seen["headers"].get("x_edgeguard_key_id").is_none(),
        "{seen}"
    );
    // Only a real preflight is let through: OPTIONS without the CORS headers, with an empty
    // Origin, with a body, or on a path no rule covers is checked like any request.
    let r = envoy.request(
        "OPTIONS",
        "/admin/users",
        &[("origin", "https://app.example.com")],
        "",
    );
    assert_denied(&r, 401, "missing", Some(API_KEY_REALM));
    let r = envoy.request(
        "OPTIONS",
        "/admin/users",
        &[("origin", ""), ("access-control-request-method", "GET")],
        "",
    );
    assert_denied(&r, 401, "missing", Some(API_KEY_REALM));
    let r = envoy.request("OPTIONS", "/admin/users", &preflight[..2], "body");
    assert_denied(&r, 401, "missing", Some(API_KEY_REALM));
    let r = envoy.request("OPTIONS", "/nothing-here", &preflight[..2], "");
    assert_denied(&r, 403, "no_matching_rule", None);
    // And the bypass is for OPTIONS only.
    let r = envoy.request("DELETE", "/admin/users", &preflight[..2], "");
    assert_denied(&r, 401, "missing", Some(API_KEY_REALM));
}

#[test]
fn challenges_and_any_all_precedence() {
    let envoy = start(json!({}));
    // Right key kind, wrong id: 403 key_not_allowed with an API key challenge.
    let r = envoy.get("/admin", &[("x-api-key", IOS_KEY)]);
    assert_denied(
        &r,
        403,
        "key_not_allowed",
        Some("ApiKey realm=\"edgeguard\", error=\"insufficient_scope\""),
    );
    let r = envoy.get("/admin", &[("x-api-key", OPS_KEY)]);
    assert_eq!(upstream_saw(&r)["headers"]["x-edgeguard-key-id"], "ops");
    // An invalid key: 401 invalid_key.
    let r = envoy.get("/admin", &[("x-api-key", "nope")]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["reason"], "unknown_key");
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .starts_with("ApiKey realm=\"edgeguard\", error=\"invalid_key\""));

    // /orders: any of [jwt corp with orders:read, api_key with orders:read].
    // Nothing: 401 missing; the tie goes to the first child (Bearer).
    assert_denied(
        &envoy.get("/orders", &[]),
        401,
        "missing",
        Some(BEARER_REALM),
    );
    // A valid key lacking the scope beats the missing token: 403.
    let r = envoy.get("/orders", &[("x-api-key", READER_KEY)]);
    assert_denied(
        &r,
        403,
        "insufficient_scope",
        Some("ApiKey realm=\"edgeguard\", error=\"insufficient_scope\", scope=\"orders:read\""),
    );
    // A valid token lacking the scope, with an unknown key: 403 beats the invalid key's 401.
    let r = envoy.get(
        "/orders",
        &[
            ("authorization", &bearer(&token("carol", "profile"))),
            ("x-api-key", "unknown"),
        ],
    );
    assert_denied(
        &r,
        403,
        "insufficient_scope",
        Some("Bearer realm=\"edgeguard\", error=\"insufficient_scope\", scope=\"orders:read\""),
    );
    // Invalid beats missing: an unknown key and no token is unknown_key, not missing.
    let r = envoy.get("/orders", &[("x-api-key", "unknown")]);
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (401, json!("unknown_key"))
    );
    // An expired token and no key: expired.
    let r = envoy.get(
        "/orders",
        &[(
            "authorization",
            &bearer(&token_exp("a", "orders:read", -3600)),
        )],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json()["reason"], "expired");
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer realm=\"edgeguard\", error=\"invalid_token\""));
    // Either credential is enough.
    assert_eq!(envoy.get("/orders", &[("x-api-key", IOS_KEY)]).status, 200);
    let r = envoy.get(
        "/orders",
        &[("authorization", &bearer(&token("dave", "orders:read")))],
    );
    assert_eq!(upstream_saw(&r)["headers"]["x-edgeguard-subject"], "dave");

    // /both: all of [api_key, jwt corp] — both identities forwarded, both credentials stripped.
    let t = token("erin", "");
    let r = envoy.get(
        "/both",
        &[("x-api-key", IOS_KEY), ("authorization", &bearer(&t))],
    );
    let seen = upstream_saw(&r);
    assert_eq!(seen["headers"]["x-edgeguard-key-id"], "ios", "{seen}");
    assert_eq!(seen["headers"]["x-edgeguard-subject"], "erin", "{seen}");
    assert_eq!(seen["headers"]["x-edgeguard-provider"], "corp", "{seen}");
    assert!(seen["headers"].get("x-api-key").is_none(), "{seen}");
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");
    // One of the two is not enough.
    assert_denied(
        &envoy.get("/both", &[("x-api-key", IOS_KEY)]),
        401,
        "missing",
        Some(BEARER_REALM),
    );
    let r = envoy.get("/both", &[("authorization", &bearer(&t))]);
    assert_denied(&r, 401, "missing", Some(API_KEY_REALM));
}

#[test]
fn route_metadata_selects_a_rule_set() {
    let envoy = start(json!({}));
    // Without the route metadata, the top-level rule for /internal-api applies.
    assert_denied(
        &envoy.get("/internal-api/status", &[]),
        401,
        "missing",
        Some(API_KEY_REALM),
    );
    // The route naming rule set `internal`: its rules come first.
    let r = envoy.get("/internal-api/status", &[("x-route", "internal")]);
    assert_eq!(upstream_saw(&r)["path"], "/internal-api/status");
    // ... then the top-level rules.
    let r = envoy.get("/internal-api/other", &[("x-route", "internal")]);
    assert_denied(&r, 401, "missing", Some(API_KEY_REALM));
    assert_eq!(
        envoy.get("/public/x", &[("x-route", "internal")]).status,
        200
    );
    // A route naming a rule set that is not configured denies everything (fail closed).
    let r = envoy.get("/public/x", &[("x-route", "bogus")]);
    assert_denied(&r, 403, "no_matching_rule", None);
    let r = envoy.get("/admin", &[("x-route", "bogus"), ("x-api-key", OPS_KEY)]);
    assert_denied(&r, 403, "no_matching_rule", None);
}

#[test]
fn report_mode_denies_nothing_and_reports() {
    let envoy = start(json!({"mode": "report"}));
    let r = envoy.get("/admin", &[("x-edgeguard-decision", "allow")]);
    let seen = upstream_saw(&r);
    assert_eq!(
        seen["headers"]["x-edgeguard-decision"], "deny; reason=missing",
        "{seen}"
    );
    let r = envoy.get("/nothing-here", &[]);
    let seen = upstream_saw(&r);
    assert_eq!(
        seen["headers"]["x-edgeguard-decision"],
        "deny; reason=no_matching_rule"
    );
    // Allowed requests carry no decision header.
    let r = envoy.get("/admin", &[("x-api-key", OPS_KEY)]);
    let seen = upstream_saw(&r);
    assert!(
        seen["headers"].get("x-edgeguard-decision").is_none(),
        "{seen}"
    );
    assert_eq!(seen["headers"]["x-edgeguard-key-id"], "ops");
    // A would-be denial with a credential: the credential is still stripped (forward_credential is
    // false), only the identity is not forwarded.
    let r = envoy.get(
        "/admin?page=1",
        &[
            ("x-api-key", IOS_KEY),
            ("authorization", &bearer(&token("a", "x"))),
        ],
    );
    let seen = upstream_saw(&r);
    assert_eq!(
        seen["headers"]["x-edgeguard-decision"], "deny; reason=key_not_allowed",
        "{seen}"
    );
    assert!(
        seen["headers"].get("x-api-key").is_none(),
        "API key leaked upstream: {seen}"
    );
    assert!(
        seen["headers"].get("x-edgeguard-key-id").is_none(),
        "{seen}"
    );
    // The token is no credential of this rule and was never verified: it does not go upstream
    // either (nothing unverified is forwarded, in report mode as in enforce mode).
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");
    // Each worker's VM flushes its counts on its own timer: wait until every VM's are in.
    let counted = wait_until(Duration::from_secs(5), || {
        envoy.edgeguard_sum(stats::REQUESTS, &[("decision", "would_deny")]) == 3
            && envoy.edgeguard_count(&stats::allowed()) == 4
    });
    assert!(counted, "{:?}", envoy.stats_matching("edgeguard"));
    assert_eq!(
        envoy.edgeguard_sum(stats::REQUESTS, &[("decision", "denied")]),
        0
    );
    assert_eq!(envoy.edgeguard_count(&stats::allowed()), 4);
    assert_eq!(
        envoy.edgeguard_count(&stats::name(
            stats::REQUESTS,
            &[("decision", "would_deny"), ("reason", "key_not_allowed")]
        )),
        1
    );
    assert_eq!(
        envoy.edgeguard_count(&stats::name(
            stats::REQUESTS,
            &[("decision", "would_deny"), ("reason", "missing")]
        )),
        1
    );
    assert_eq!(
        envoy.edgeguard_count(&stats::name(
            stats::REQUESTS,
            &[("decision", "would_deny"), ("reason", "no_matching_rule")]
        )),
        1
    );
}

#[test]
fn metrics_after_known_traffic() {
    // One worker: the verified-token cache is per VM, so hits are predictable.
    let envoy = Envoy::start_with(
        &plugin(json!({})),
        Options {
            concurrency: 1,
            ..Options::default()
        },
    );
    let t = token("alice", "orders:read");
    for _ in 0..3 {
        assert_eq!(
            envoy
                .get("/orders", &[("authorization", &bearer(&t))])
                .status,
            200
        );
    }
    assert_eq!(envoy.get("/orders", &[("x-api-key", IOS_KEY)]).status, 200);
    assert_eq!(envoy.get("/admin", &[("x-api-key", OPS_KEY)]).status, 200);
    assert_eq!(envoy.get("/admin", &[("x-api-key", OPS_KEY)]).status, 200);
    assert_eq!(envoy.get("/health", &[]).status, 200);
    assert_eq!(envoy.get("/admin", &[]).status, 401);
    assert_eq!(
        envoy.get("/orders", &[("x-api-key", READER_KEY)]).status,
        403
    );
    assert_eq!(envoy.get("/nowhere", &[]).status, 403);
    assert_eq!(envoy.get("/nowhere/again", &[]).status, 403);

    let denied = |reason: &str| {
        stats::name(
            stats::REQUESTS,
            &[("decision", "denied"), ("reason", reason)],
        )
    };
    let expected = [
        (stats::allowed(), 7),
        (denied("missing"), 1),
        (denied("insufficient_scope"), 1),
        (denied("no_matching_rule"), 2),
        (stats::key_allowed("ios"), 1),
        (stats::key_allowed("ops"), 2),
        (stats::provider_verified("corp"), 3),
        (stats::token_cache(false), 1),
        (stats::token_cache(true), 2),
    ];
    let all = wait_until(Duration::from_secs(5), || {
        expected.iter().all(|(n, v)| envoy.edgeguard_count(n) == *v)
            && envoy.edgeguard_sum(stats::REQUESTS, &[("decision", "denied")]) == 4
    });
    let got: Vec<(&str, u64)> = expected
        .iter()
        .map(|(n, _)| (n.as_str(), envoy.edgeguard_count(n)))
        .collect();
    assert!(
        all,
        "expected {expected:?}\ngot {got:?}\n{:?}",
        envoy.stats_matching("edgeguard")
    );
}

#[test]
fn path_spellings_are_refused_or_rewritten() {
    // Default (`non_canonical: reject`): any spelling of a path that is not its canonical form is
    // refused before any rule, so no reading of it can pick a weaker rule.
    let envoy = start(json!({}));
    for path in [
        "//admin",
        "/%61dmin",
        "/public/..;/admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin/users",
        "/public/./../admin",
        "/admin;jsessionid=1",
        "/admin/../orders",
        "/public/%2fadmin",
        "/public/%2Fadmin",
        "/public/..%5cadmin",
        "/../admin",
        "/public/caf%c3%a9",
    ] {
        for headers in [&[][..], &[("x-api-key", OPS_KEY)][..]] {
            let r = envoy.get(path, headers);
            assert_eq!(
                (r.status, r.json()["reason"].clone()),
                (400, json!("bad_path")),
                "{path}: {r:?}"
            );
        }
    }
    // The canonical spelling of the same resource works.
    assert_eq!(envoy.get("/public/caf%C3%A9", &[]).status, 200);
    let received = envoy.echo.as_ref().unwrap().received();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/public/caf%C3%A9"], "{paths:?}");

    // `rewrite`: the request goes on under its canonical path, matched by the rule of that path.
    // (Route rule sets cannot be combined with `rewrite`: the rewritten path may take another route.)
    let (ok, msg) = validate_plugin(&plugin(json!({"path": {"non_canonical": "rewrite"}})));
    assert!(!ok && msg.contains("path.non_canonical"), "{msg}");
    let envoy = start(json!({"path": {"non_canonical": "rewrite"}, "rule_sets": null}));
    for path in [
        "//admin",
        "/%61dmin",
        "/public/%2e%2e/admin",
        "/public/./../admin/",
    ] {
        assert_denied(&envoy.get(path, &[]), 401, "missing", Some(API_KEY_REALM));
        let r = envoy.get(path, &[("x-api-key", IOS_KEY)]);
        assert_eq!(
            (r.status, r.json()["reason"].clone()),
            (403, json!("key_not_allowed")),
            "{path}"
        );
    }
    // /admin/../orders is /orders (an orders:read key is fine), and that is what goes upstream.
    assert_denied(
        &envoy.get("/admin/../orders?page=2", &[]),
        401,
        "missing",
        Some(BEARER_REALM),
    );
    let r = envoy.get("/admin/../orders?page=2", &[("x-api-key", IOS_KEY)]);
    assert_eq!(upstream_saw(&r)["path"], "/orders?page=2", "{r:?}");
    // `;`, encoded slashes and backslashes are refused in rewrite mode too.
    for path in [
        "/public/..;/admin",
        "/admin;x=1",
        "/public/%2fadmin",
        "/public/..%5cadmin",
    ] {
        let r = envoy.get(path, &[("x-api-key", OPS_KEY)]);
        assert_eq!(r.json()["reason"], "bad_path", "{path}: {r:?}");
    }
}
