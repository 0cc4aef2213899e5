//! API keys through a real Envoy running the built `target/edgeguard.wasm` (run with `make test`).

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use common::{envoy_validate_file, repo, validate_plugin, Envoy, Response};
use edgeguard::credential::api_key::sha256_hex;
use serde_json::{json, Value};

const IOS_KEY: &str = "test-key-ios-0123456789";
const OLD_KEY: &str = "test-key-old-0123456789";

/// Keys: `ios-app` (valid, from IOS_KEY), `old-app` (disabled, from OLD_KEY); header `x-api-key` and
/// query `api_key`.
fn plugin(forward_credential: bool) -> String {
    json!({
        "api_keys": {
            "from": [{"header": "x-api-key"}, {"query": "api_key"}],
            "keys": [
                {"id": "ios-app", "sha256": sha256_hex(IOS_KEY.as_bytes()), "scopes": ["orders:read"], "disabled": false},
                {"id": "old-app", "sha256": sha256_hex(OLD_KEY.as_bytes()), "scopes": ["orders:read"], "disabled": true}
            ],
            "forward_credential": forward_credential
        }
    })
    .to_string()
}

/// What the echo upstream says it received (panics with the response if it was not a 200 echo).
fn upstream_saw(r: &Response) -> Value {
    assert_eq!(r.status, 200, "expected the upstream's echo, got {r:?}");
    r.json()
}

fn assert_denied(envoy: &Envoy, r: &Response, reason: &str) {
    assert_eq!(r.status, 401, "{r:?}");
    let challenge = r.header("www-authenticate").unwrap_or_else(|| {
        panic!("401 without www-authenticate: {r:?}");
    });
    assert!(!challenge.is_empty(), "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{r:?}"
    );
    let body = r.json();
    assert_eq!(body["error"], "unauthorized", "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        envoy.echo.as_ref().map(|e| e.hits()),
        Some(0),
        "a denied request reached the upstream"
    );
}

#[test]
fn valid_key_in_header_is_forwarded_with_key_id_and_stripped() {
    let envoy = Envoy::start(&plugin(false));
    let r = envoy.get(
        "/orders?page=2",
        &[
            ("x-api-key", IOS_KEY),
            ("x-edgeguard-key-id", "spoofed-admin"),
            ("x-other", "kept"),
        ],
    );
    let seen = upstream_saw(&r);
    let h = &seen["headers"];
    assert_eq!(h["x-edgeguard-key-id"], "ios-app", "{seen}");
    assert!(h.get("x-api-key").is_none(), "key not stripped: {seen}");
    assert_eq!(h["x-other"], "kept", "{seen}");
    assert_eq!(seen["path"], "/orders?page=2", "{seen}");
    assert_eq!(seen["method"], "GET", "{seen}");
    // Metrics (Envoy prefixes wasm metrics with `wasmcustom.`).
    let usage = common::wait_until(std::time::Duration::from_secs(5), || {
        envoy.stat(&format!("wasmcustom.{}", stats::key_allowed("ios-app"))) == Some(1)
            && envoy.stat(&format!("wasmcustom.{}", stats::allowed())) == Some(1)
    });
    assert!(usage, "{:?}", envoy.stats_matching("edgeguard"));
    assert_eq!(
        envoy.stat(&format!("wasmcustom.{}", stats::allowed())),
        Some(1)
    );
}

#[test]
fn valid_key_in_query_is_stripped_and_other_params_kept() {
    let envoy = Envoy::start(&plugin(false));
    let r = envoy.get(&format!("/orders?page=2&api_key={IOS_KEY}&sort=asc"), &[]);
    let seen = upstream_saw(&r);
    assert_eq!(seen["headers"]["x-edgeguard-key-id"], "ios-app", "{seen}");
    assert_eq!(seen["path"], "/orders?page=2&sort=asc", "{seen}");

    // The key as the only parameter: the path goes up without a query.
    let r = envoy.get(&format!("/orders?api_key={IOS_KEY}"), &[]);
    let seen = upstream_saw(&r);
    assert_eq!(seen["headers"]["x-edgeguard-key-id"], "ios-app", "{seen}");
    let path = seen["path"].as_str().unwrap_or_default();
    assert!(path == "/orders" || path == "/orders?", "{seen}");
}

#[test]
fn spoofed_key_id_is_replaced_and_never_reaches_upstream_twice() {
    let envoy = Envoy::start(&plugin(false));
    // Several client copies of the identity header, in a different case.
    let r = envoy.get(
        "/",
        &[
            ("X-Edgeguard-Key-Id", "root"),
            ("x-edgeguard-key-id", "admin"),
            ("x-api-key", IOS_KEY),
        ],
    );
    let seen = upstream_saw(&r);
    assert_eq!(seen["headers"]["x-edgeguard-key-id"], "ios-app", "{seen}");
    let received = envoy.echo.as_ref().unwrap().received();
    let copies = received[0]
        .headers
        .iter()
        .filter(|(n, _)| n == "x-edgeguard-key-id")
        .count();
    assert_eq!(copies, 1, "{:?}", received[0].headers);
}

#[test]
fn forward_credential_keeps_the_key() {
    let envoy = Envoy::start(&plugin(true));
    let r = envoy.get(&format!("/a?api_key={IOS_KEY}"), &[("x-api-key", IOS_KEY)]);
    let seen = upstream_saw(&r);
    assert_eq!(seen["headers"]["x-edgeguard-key-id"], "ios-app", "{seen}");
    assert_eq!(seen["headers"]["x-api-key"], IOS_KEY, "{seen}");
    assert_eq!(seen["path"], format!("/a?api_key={IOS_KEY}"), "{seen}");
}

#[test]
fn missing_unknown_and_disabled_keys_get_401_with_reason() {
    // One Envoy, one request per case; the upstream must see none of them.
    let envoy = Envoy::start(&plugin(false));
    let r = envoy.get("/orders", &[]);
    assert_denied(&envoy, &r, "missing");
    let r = envoy.get("/orders", &[("x-api-key", "not-a-configured-key")]);
    assert_denied(&envoy, &r, "unknown_key");
    let r = envoy.get(&format!("/orders?api_key={OLD_KEY}"), &[]);
    assert_denied(&envoy, &r, "disabled_key");
    let r = envoy.get("/orders", &[("x-api-key", OLD_KEY)]);
    assert_denied(&envoy, &r, "disabled_key");
    // A spoofed identity header does not help.
    let r = envoy.get("/orders", &[("x-edgeguard-key-id", "ios-app")]);
    assert_denied(&envoy, &r, "missing");
    // Metrics by reason (Envoy prefixes wasm metrics with `wasmcustom.`).
    // Each worker's VM flushes its counts on its own timer: wait until every VM's are in.
    let reasons = [("missing", 2), ("unknown_key", 1), ("disabled_key", 2)];
    let denied = |reason: &str| {
        stats::name(
            stats::REQUESTS,
            &[("decision", "denied"), ("reason", reason)],
        )
    };
    let counted = common::wait_until(std::time::Duration::from_secs(5), || {
        Some(envoy.edgeguard_sum(stats::REQUESTS, &[("decision", "denied")])) == Some(5)
            && reasons
                .iter()
                .all(|(reason, n)| envoy.edgeguard_count(&denied(reason)) == *n)
    });
    assert!(counted, "{:?}", envoy.stats_matching("edgeguard"));
    for (reason, n) in reasons {
        assert_eq!(envoy.edgeguard_count(&denied(reason)), n, "{reason}");
    }
}

#[test]
fn envoy_rejects_malformed_plugin_configs_naming_the_field() {
    // Each validation loads the ~1 MB module into V8: keep the list short (the parser's unit tests
    // cover every rule; here we prove Envoy refuses the filter and shows the field).
    let (ok, out) = validate_plugin(&plugin(false));
    assert!(ok, "the valid config must pass validation:\n{out}");

    let digest = sha256_hex(IOS_KEY.as_bytes());
    let other = sha256_hex(OLD_KEY.as_bytes());
    let cases = [
        (
            "duplicate key ids",
            json!({"api_keys": {"keys": [{"id": "a", "sha256": digest}, {"id": "a", "sha256": other}]}}),
            "api_keys.keys[1].id",
        ),
        (
            "plaintext instead of a digest",
            json!({"api_keys": {"keys": [{"id": "a", "sha256": IOS_KEY}]}}),
            "api_keys.keys[0].sha256",
        ),
        (
            "unknown field",
            json!({"api_keys": {"keys": [{"id": "a", "sha256": digest, "scope": ["x"]}]}}),
            "scope",
        ),
    ];
    for (what, cfg, field) in cases {
        let (ok, out) = validate_plugin(&cfg.to_string());
        assert!(!ok, "{what}: Envoy accepted {cfg}\n{out}");
        assert!(
            out.contains(field),
            "{what}: the output does not name {field:?}:\n{out}"
        );
    }
}

#[test]
fn demo_configs_are_valid() {
    for file in ["envoy/demo.yaml", "envoy/demo.docker.yaml"] {
        let (ok, out) = envoy_validate_file(&repo().join(file));
        assert!(ok, "{file} is rejected by envoy --mode validate:\n{out}");
    }
    // The Docker variant is the demo with a 0.0.0.0 ingress listener; nothing else may drift.
    let strip = |s: String| -> String {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let demo = strip(std::fs::read_to_string(repo().join("envoy/demo.yaml")).unwrap());
    let docker = strip(std::fs::read_to_string(repo().join("envoy/demo.docker.yaml")).unwrap());
    let expected = demo.replace(
        "{address: 127.0.0.1, port_value: 10000}",
        "{address: 0.0.0.0, port_value: 10000}",
    );
    assert_ne!(
        demo, expected,
        "demo.yaml no longer has the 127.0.0.1:10000 listener"
    );
    assert_eq!(
        docker, expected,
        "envoy/demo.docker.yaml drifted from envoy/demo.yaml"
    );
}

/// The plaintext demo key `make run` prints, read from the Makefile.
/// A token like those `make run` mints with `edgeguard sign-token` and the demo signing key.
fn demo_token(sub: &str, scope: &str, role: Option<&str>) -> String {
    use jwt_simple::prelude::{Claims, Duration, Ed25519KeyPair, EdDSAKeyPairLike};
    let pem = std::fs::read_to_string(repo().join("envoy/demo-signing-key.pem")).unwrap();
    let key = Ed25519KeyPair::from_pem(&pem)
        .unwrap()
        .with_key_id("demo-2026");
    let mut extra = json!({"scope": scope});
    if let Some(role) = role {
        extra["role"] = json!(role);
    }
    let claims = Claims::with_custom_claims(extra, Duration::from_secs(600))
        .with_issuer("https://idp.edgeguard.demo")
        .with_audience("orders-api")
        .with_subject(sub);
    key.sign(claims).unwrap()
}

fn makefile_var(name: &str) -> String {
    let makefile = std::fs::read_to_string(repo().join("Makefile")).unwrap();
    makefile
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(":=")?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{name} not in the Makefile"))
}

#[test]
fn demo_works_end_to_end_with_the_printed_key() {
    let key = makefile_var("DEMO_KEY");
    let revoked = makefile_var("DEMO_REVOKED_KEY");
    let demo = std::fs::read_to_string(repo().join("envoy/demo.yaml")).unwrap();
    assert!(demo.contains(&sha256_hex(key.as_bytes())));
    assert!(
        !demo.contains(&key),
        "the demo config must hold only the digest"
    );
    // Same config on free ports: ingress and admin on 0, the Lua echo listener on a port picked now.
    let echo_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = demo
        .replace("port_value: 9901", "port_value: 0")
        .replace("port_value: 10000", "port_value: 0")
        .replace("port_value: 10001", &format!("port_value: {echo_port}"));
    let dir = common::temp_dir("demo");
    let path = dir.join("demo.yaml");
    std::fs::write(&path, cfg).unwrap();
    let envoy = Envoy::start_config_file(&path);

    let r = envoy.get(
        "/orders?api_key=x",
        &[("x-api-key", &key), ("x-edgeguard-key-id", "spoof")],
    );
    assert_eq!(r.status, 401, "two different keys presented: {r:?}");
    let r = envoy.get(&format!("/orders?page=2&api_key={key}"), &[]);
    let seen = upstream_saw(&r);
    assert_eq!(seen["headers"]["x-edgeguard-key-id"], "demo-app", "{seen}");
    assert_eq!(seen["path"], "/orders?page=2", "{seen}");
    let r = envoy.get("/orders", &[("x-api-key", &key)]);
    let seen = upstream_saw(&r);
    assert_eq!(seen["headers"]["x-edgeguard-key-id"], "demo-app", "{seen}");
    assert!(seen["headers"].get("x-api-key").is_none(), "{seen}");

    let r = envoy.get("/orders", &[]);
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json()["reason"], "missing");
    let r = envoy.get("/orders", &[("x-api-key", &revoked)]);
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json()["reason"], "disabled_key");

    // The policy `make run` describes, with tokens signed by the demo key as `make run` mints them.
    let reader = demo_token("alice", "orders:read", None);
    let writer = demo_token("bob", "orders:read orders:write", None);
    let admin = demo_token("carol", "admin", Some("admin"));
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(envoy.get("/health", &[]).status, 200);
    let seen = upstream_saw(&envoy.get("/orders", &[("authorization", &bearer(&reader))]));
    assert_eq!(seen["headers"]["x-edgeguard-subject"], "alice", "{seen}");
    assert_eq!(seen["headers"]["x-user-id"], "alice", "{seen}");
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");
    let both = [
        ("x-api-key", key.as_str()),
        ("authorization", &bearer(&writer)),
    ];
    let seen = upstream_saw(&envoy.request("POST", "/orders", &both, ""));
    assert_eq!(
        (
            seen["headers"]["x-edgeguard-key-id"].as_str(),
            seen["headers"]["x-edgeguard-subject"].as_str()
        ),
        (Some("demo-app"), Some("bob")),
        "{seen}"
    );
    let r = envoy.request("POST", "/orders", &[("x-api-key", &key)], "");
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (401, Some("missing")),
        "{r:?}"
    );
    let r = envoy.request(
        "POST",
        "/orders",
        &[("x-api-key", &key), ("authorization", &bearer(&reader))],
        "",
    );
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (403, Some("insufficient_scope")),
        "{r:?}"
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            "Bearer realm=\"edgeguard-demo\", error=\"insufficient_scope\", scope=\"orders:write\""
        )
    );
    assert_eq!(
        envoy
            .get("/admin/users", &[("authorization", &bearer(&admin))])
            .status,
        200
    );
    assert_eq!(
        envoy
            .get("/admin/users", &[("authorization", &bearer(&writer))])
            .status,
        403
    );
    let r = envoy.get("/other", &[("x-api-key", &key)]);
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (403, Some("no_matching_rule")),
        "{r:?}"
    );

    // `make run`'s variables file (make demo-env): tokens minted now, usable as printed.
    let env_file = dir.join("demo.env");
    let made = std::process::Command::new("make")
        .current_dir(repo())
        .args(["-s", "demo-env"])
        .arg(format!("CLI={}", env!("CARGO_BIN_EXE_edgeguard")))
        .arg(format!("DEMO_ENV={}", env_file.display()))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let vars: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(vars["EG_KEY"], key);
    let seen = upstream_saw(&envoy.get("/orders", &[("authorization", &bearer(&vars["READER"]))]));
    assert_eq!(seen["headers"]["x-edgeguard-subject"], "alice", "{seen}");
    assert_eq!(
        envoy
            .get(
                "/admin/users",
                &[("authorization", &bearer(&vars["ADMIN"]))]
            )
            .status,
        200
    );

    // /stats/prometheus, read by the reference Prometheus text parser: one family per concept with
    // bounded labels (envoy/stats-tags.yaml, which the demo uses), nothing secret in a name.
    let prom = common::http_get(envoy.admin, "/stats/prometheus")
        .unwrap()
        .body;
    assert!(!prom.contains(&key), "the demo key in a metric");
    let samples = prometheus_samples(&prom);
    let sample = |family: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == family
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
    };
    let counted = |family: &str, labels: &[(&str, &str)], want: f64| {
        common::wait_until(std::time::Duration::from_secs(5), || {
            let p = common::http_get(envoy.admin, "/stats/prometheus")
                .unwrap()
                .body;
            prometheus_samples(&p).iter().any(|(n, l, v)| {
                n == family
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, x)| l.get(*k).map(String::as_str) == Some(*x))
                    && *v >= want
            })
        })
    };
    assert!(
        counted(
            "edgeguard_requests_total",
            &[("decision", "denied"), ("reason", "no_matching_rule")],
            1.0
        ),
        "{prom}"
    );
    assert!(
        counted(
            "edgeguard_api_key_requests_total",
            &[("key_id", "demo-app")],
            3.0
        ),
        "{prom}"
    );
    assert!(
        counted(
            "edgeguard_tokens_verified_total",
            &[("provider", "demo-idp")],
            3.0
        ),
        "{prom}"
    );
    assert!(
        sample("edgeguard_requests_total", &[("decision", "allowed")]).is_some(),
        "{prom}"
    );
    assert!(
        sample("edgeguard_plan_unknown_total", &[]).is_some(),
        "{prom}"
    );
    for (name, labels, _) in &samples {
        if name.starts_with("edgeguard_") {
            assert!(
                labels.keys().all(|k| stats::LABELS.contains(&k.as_str())),
                "{name} {labels:?}"
            );
            assert!(
                !name.contains("=") && !name.contains(';'),
                "{name}: labels left in the name"
            );
        }
    }

    // The access log (stdout) shows each decision from edgeguard's filter state, and never a key
    // sent in the query.
    let bad_query_key = "edgeguard-demo-key-typo-in-query";
    assert_eq!(
        envoy
            .get(&format!("/orders?api_key={bad_query_key}"), &[])
            .status,
        401
    );
    let stdout = envoy.dir.join("stdout.txt");
    let log = || std::fs::read_to_string(&stdout).unwrap_or_default();
    let want = [
        "\"GET /orders\" 200 decision=allow reason=- principal=api_key:demo-app plan=default rule=\n",
        "\"GET /orders\" 401 decision=deny reason=missing principal=- plan=-",
        "\"GET /orders\" 401 decision=deny reason=disabled_key",
        "\"GET /health\" 200 decision=allow reason=- principal=anonymous plan=default",
        "\"POST /orders\" 200 decision=allow reason=- principal=api_key:demo-app+jwt:demo-idp:bob",
        "\"GET /orders\" 200 decision=allow reason=- principal=jwt:demo-idp:alice",
        "\"POST /orders\" 403 decision=deny reason=insufficient_scope",
        "\"GET /other\" 403 decision=deny reason=no_matching_rule",
        "\"GET /orders\" 401 decision=deny reason=unknown_key",
    ];
    let complete = common::wait_until(std::time::Duration::from_secs(10), || {
        let l = log();
        want.iter().all(|w| l.contains(w))
    });
    let l = log();
    assert!(
        complete,
        "access log lacks {:?}:\n{l}",
        want.iter().find(|w| !l.contains(*w))
    );
    assert!(!l.contains(bad_query_key), "a query key in the log:\n{l}");
    assert!(!l.contains(&key), "the demo key in the log:\n{l}");
    drop(envoy);
    let _ = std::fs::remove_dir_all(dir);
}

/// The samples of a Prometheus text exposition, parsed by the reference parser (PyPI
/// `prometheus-client` in the project's `.venv`, installed by `make prometheus-parser`, part of
/// `make test`): (family name, labels, value).
fn prometheus_samples(
    text: &str,
) -> Vec<(String, std::collections::BTreeMap<String, String>, f64)> {
    let python = repo().join(".venv/bin/python");
    let mut child = std::process::Command::new(&python)
        .args([
            "-c",
            "import json, sys\n\
             from prometheus_client.parser import text_string_to_metric_families as parse\n\
             print(json.dumps([[s.name, s.labels, s.value] for f in parse(sys.stdin.read()) for s in f.samples]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} — run `make prometheus-parser` (or `make test`)", python.display()));
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /stats/prometheus (or is missing: run `make prometheus-parser`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
