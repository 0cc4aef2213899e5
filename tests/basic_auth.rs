//! HTTP Basic through a real Envoy running the built `target/edgeguard.wasm` (run with `make test`).
//! Password hashes are made by the test with PyPI's `bcrypt`, `argon2-cffi` and `passlib` in
//! `.venv` (`make password-fixtures`), never by edgeguard's own code.

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use edgeguard::stats;

use common::{validate_plugin, wait_until, Envoy, Options, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHALLENGE: &str = r#"Basic realm="edgeguard-test", charset="UTF-8""#;

/// Makes the hashes with the reference implementations in `.venv` (fails, saying how to get them,
/// when they are missing).
const FIXTURES_PY: &str = r#"
import json, sys
try:
    import bcrypt, argon2
    from passlib.hash import sha512_crypt, sha256_crypt, ldap_sha1
except ImportError as e:
    sys.exit(f"missing Python package {e.name}: run `make password-fixtures` (or `make test`)")
kind, pw, cost = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "bcrypt":
    h = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=cost)).decode()
elif kind == "argon2id":
    h = argon2.PasswordHasher(time_cost=cost, memory_cost=1024, parallelism=1).hash(pw)
elif kind == "sha512-crypt":
    h = sha512_crypt.using(rounds=cost).hash(pw)
elif kind == "sha256-crypt":
    h = sha256_crypt.using(rounds=cost).hash(pw)
elif kind == "sha1":
    h = ldap_sha1.hash(pw)
print(h)
"#;

fn python() -> PathBuf {
    let path = match std::env::var_os("EDGEGUARD_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => common::repo().join(".venv/bin/python"),
    };
    assert!(
        path.is_file(),
        "Python not found at {} — run `make password-fixtures` (or `make test`), or set EDGEGUARD_PYTHON",
        path.display()
    );
    path
}

/// A hash of `password` by the reference implementation of `kind` (`cost`: bcrypt cost, argon2
/// passes, SHA-crypt rounds).
fn hash(kind: &str, password: &str, cost: u32) -> String {
    let out = Command::new(python())
        .args(["-c", FIXTURES_PY, kind, password, &cost.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run the fixture script");
    assert!(
        out.status.success(),
        "password fixtures: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

/// The `basic_auth` section of `users` (+ `extra` members); `/deploy` needs user `ci-bot` or
/// `carol` with scope `deploy` when both are configured, anything else any valid user.
fn plugin(users: Vec<Value>, extra: Value) -> String {
    let named = |n: &str| users.iter().any(|u| u["name"] == n);
    let mut rules = vec![json!({"match": {"path_prefix": "/"}, "require": {"basic": {}}})];
    if named("ci-bot") && named("carol") {
        rules.insert(
            0,
            json!({"match": {"path_prefix": "/deploy"},
            "require": {"basic": {"users": ["ci-bot", "carol"], "scopes": ["deploy"]}}}),
        );
    }
    let mut section = json!({"users": users, "allow_sha1": true});
    if let (Some(s), Some(e)) = (section.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({
        "realm": "edgeguard-test",
        "basic_auth": section,
        "plans": {"names": ["default", "internal"]},
        "rules": rules
    })
    .to_string()
}

fn start(plugin_json: &str, concurrency: u32) -> Envoy {
    Envoy::start_with(
        plugin_json,
        Options {
            concurrency,
            ..Options::default()
        },
    )
}

/// The upstream's echo of the request (panics with the response if it was not one).
fn upstream_saw(r: &Response) -> Value {
    assert_eq!(r.status, 200, "expected the upstream's echo, got {r:?}");
    r.json()
}

fn assert_refused(r: &Response, status: u16, reason: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.json()["reason"], reason, "{r:?}");
}

/// The name of the denials counter for `reason`.
fn denied(reason: &str) -> String {
    stats::name(
        stats::REQUESTS,
        &[("decision", "denied"), ("reason", reason)],
    )
}

/// Waits until every named edgeguard counter has its value (each worker flushes on its own timer).
fn wait_counts(envoy: &Envoy, want: &[(String, u64)]) {
    let ok = wait_until(Duration::from_secs(10), || {
        want.iter().all(|(n, v)| envoy.edgeguard_count(n) == *v)
    });
    let got: BTreeMap<&str, u64> = want
        .iter()
        .map(|(n, _)| (n.as_str(), envoy.edgeguard_count(n)))
        .collect();
    assert!(
        ok,
        "wanted {want:?}, got {got:?}\n{:?}",
        envoy.stats_matching("edgeguard")
    );
}

#[test]
fn each_hash_family_verifies_and_the_credential_never_goes_upstream() {
    // Passwords with colons: the credential is split at the first one.
    let cases = [
        ("bc-2b", hash("bcrypt", "pa:ss:1", 5)),
        (
            "bc-2a",
            hash("bcrypt", "pa:ss:2", 4).replacen("$2b$", "$2a$", 1),
        ),
        (
            "bc-2y",
            hash("bcrypt", "pa:ss:3", 4).replacen("$2b$", "$2y$", 1),
        ),
        ("argon", hash("argon2id", "pa:ss:4", 2)),
        ("sha512", hash("sha512-crypt", "pa:ss:5", 5000)),
        ("sha256", hash("sha256-crypt", "pa:ss:6", 6000)),
        ("sha1", hash("sha1", "pa:ss:7", 0)),
    ];
    let users = cases
        .iter()
        .map(|(name, h)| json!({"name": name, "hash": h}))
        .collect();
    let envoy = start(
        &plugin(users, json!({"limits": {"slow_verifies_per_second": 100}})),
        2,
    );
    for (i, (name, h)) in cases.iter().enumerate() {
        let pw = format!("pa:ss:{}", i + 1);
        let r = envoy.get(
            "/orders",
            &[
                ("authorization", &basic(name, &pw)),
                ("x-edgeguard-subject", "spoofed"),
            ],
        );
        let seen = upstream_saw(&r);
        let headers = &seen["headers"];
        assert_eq!(headers["x-edgeguard-subject"], *name, "{h}: {seen}");
        assert!(
            headers.get("authorization").is_none(),
            "{h}: credential upstream: {seen}"
        );
        let wrong = envoy.get("/orders", &[("authorization", &basic(name, "pa:ss"))]);
        assert_refused(&wrong, 401, "bad_credentials");
        assert_eq!(
            wrong.header("www-authenticate"),
            Some(CHALLENGE),
            "{wrong:?}"
        );
    }
    // One slow verification each (the `{SHA}` user's counts too), right and wrong.
    wait_counts(
        &envoy,
        &[
            (stats::basic("verified"), 7),
            (stats::basic("failed"), 7),
            (denied("bad_credentials"), 7),
        ],
    );
}

#[test]
fn a_repeat_is_a_cache_hit_not_a_second_verification() {
    let users = vec![
        json!({"name": "ci-bot", "hash": hash("bcrypt", "s3cret", 6), "scopes": ["deploy"], "plan": "internal"}),
    ];
    // One worker: the second request meets the first one's VM (the cache is per VM).
    let envoy = start(&plugin(users, json!({})), 1);
    let auth = basic("ci-bot", "s3cret");
    let first = upstream_saw(&envoy.get("/deploy", &[("authorization", &auth)]));
    assert_eq!(first["headers"]["x-edgeguard-plan"], "internal", "{first}");
    wait_counts(
        &envoy,
        &[
            (stats::basic("verified"), 1),
            (stats::basic("cache_hit"), 0),
        ],
    );
    upstream_saw(&envoy.get("/deploy", &[("authorization", &auth)]));
    wait_counts(
        &envoy,
        &[
            (stats::basic("verified"), 1),
            (stats::basic("cache_hit"), 1),
        ],
    );
    // A wrong password is never a cache hit.
    assert_refused(
        &envoy.get("/deploy", &[("authorization", &basic("ci-bot", "s3creT"))]),
        401,
        "bad_credentials",
    );
    wait_counts(
        &envoy,
        &[
            (stats::basic("verified"), 1),
            (stats::basic("cache_hit"), 1),
            (stats::basic("failed"), 1),
        ],
    );
}

/// Waits (if needed) until a new minute of the clock leaves room for a test of the per-minute
/// failure counters (a window that closed in the middle would reset them).
fn at_start_of_a_minute() {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if secs % 60 > 40 {
        std::thread::sleep(Duration::from_secs(61 - secs % 60));
    }
}

#[test]
fn after_n_failures_the_name_is_locked_without_spending_a_hash() {
    let users = vec![json!({"name": "alice", "hash": hash("bcrypt", "right", 5)})];
    let envoy = start(
        &plugin(
            users,
            json!({"limits": {"failures_per_user_per_minute": 3, "slow_verifies_per_second": 1000}}),
        ),
        2,
    );
    at_start_of_a_minute();
    for _ in 0..3 {
        assert_refused(
            &envoy.get("/", &[("authorization", &basic("alice", "guess"))]),
            401,
            "bad_credentials",
        );
    }
    wait_counts(
        &envoy,
        &[(stats::basic("failed"), 3), (stats::basic("verified"), 0)],
    );
    // Locked on every worker (the counter is in shared data), even with the right password.
    for _ in 0..4 {
        let r = envoy.get("/", &[("authorization", &basic("alice", "right"))]);
        assert_refused(&r, 429, "too_many_failures");
        assert_eq!(r.header("retry-after"), Some("60"), "{r:?}");
    }
    // Unknown names lock the same way.
    for _ in 0..3 {
        assert_refused(
            &envoy.get("/", &[("authorization", &basic("mallory", "x"))]),
            401,
            "bad_credentials",
        );
    }
    assert_refused(
        &envoy.get("/", &[("authorization", &basic("mallory", "x"))]),
        429,
        "too_many_failures",
    );
    wait_counts(
        &envoy,
        &[
            (stats::basic("failed"), 6),
            (stats::basic("verified"), 0),
            (stats::basic("locked"), 5),
            (denied("too_many_failures"), 5),
        ],
    );
}

#[test]
fn parallel_wrong_passwords_beyond_the_budget_get_503_busy() {
    let n = 8;
    let users: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("u{i}"), "hash": hash("bcrypt", "right", 8)}))
        .collect();
    // One worker, one slow verification per second: distinct names, so no lockout fires first.
    let envoy = start(
        &plugin(users, json!({"limits": {"slow_verifies_per_second": 1}})),
        1,
    );
    let responses: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let envoy = &envoy;
                s.spawn(move || {
                    envoy.get("/", &[("authorization", &basic(&format!("u{i}"), "wrong"))])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let busy: Vec<&Response> = responses.iter().filter(|r| r.status == 503).collect();
    let failed = responses.iter().filter(|r| r.status == 401).count();
    assert!(!busy.is_empty(), "no 503 among {responses:?}");
    assert_eq!(busy.len() + failed, n, "{responses:?}");
    for r in &busy {
        assert_refused(r, 503, "basic_auth_busy");
        assert_eq!(r.header("retry-after"), Some("1"), "{r:?}");
    }
    wait_counts(
        &envoy,
        &[
            (stats::basic("busy"), busy.len() as u64),
            (stats::basic("failed"), failed as u64),
            (denied("basic_auth_busy"), busy.len() as u64),
        ],
    );
}

#[test]
fn unknown_users_disabled_expired_and_requirement_restrictions() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let h = |pw: &str| hash("bcrypt", pw, 4);
    let users = vec![
        json!({"name": "ci-bot", "hash": h("ci"), "scopes": ["deploy"]}),
        json!({"name": "carol", "hash": h("carol")}),
        json!({"name": "alice", "hash": h("alice"), "scopes": ["deploy"]}),
        json!({"name": "off", "hash": h("off"), "disabled": true}),
        json!({"name": "old", "hash": h("old"), "expires_at": now - 10}),
    ];
    let envoy = start(
        &plugin(users, json!({"limits": {"slow_verifies_per_second": 100}})),
        2,
    );
    let get =
        |path: &str, user: &str, pw: &str| envoy.get(path, &[("authorization", &basic(user, pw))]);

    // An unknown name answers exactly as a wrong password does (a dummy hash is verified).
    let wrong = get("/", "alice", "nope");
    let unknown = get("/", "nobody", "nope");
    assert_refused(&wrong, 401, "bad_credentials");
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    for name in [
        "www-authenticate",
        "content-type",
        "cache-control",
        "retry-after",
    ] {
        assert_eq!(
            wrong.header(name),
            unknown.header(name),
            "{name}: {wrong:?} vs {unknown:?}"
        );
    }
    assert_eq!(wrong.header("www-authenticate"), Some(CHALLENGE));

    // Disabled and expired only once the password verified.
    assert_refused(&get("/", "off", "off"), 401, "disabled_user");
    assert_refused(&get("/", "old", "old"), 401, "expired_user");
    assert_refused(&get("/", "off", "nope"), 401, "bad_credentials");
    assert_refused(&get("/", "old", "nope"), 401, "bad_credentials");

    // The requirement's users and scopes: 403 for a valid user lacking them.
    assert_eq!(
        upstream_saw(&get("/deploy", "ci-bot", "ci"))["headers"]["x-edgeguard-subject"],
        "ci-bot"
    );
    assert_refused(&get("/deploy", "alice", "alice"), 403, "user_not_allowed");
    assert_refused(&get("/deploy", "carol", "carol"), 403, "insufficient_scope");
    let missing = envoy.get("/deploy", &[]);
    assert_refused(&missing, 401, "missing");
    assert_eq!(missing.header("www-authenticate"), Some(CHALLENGE));
    assert_refused(
        &envoy.get("/", &[("authorization", "Basic bm9jb2xvbg==")]),
        401,
        "malformed",
    );

    wait_counts(
        &envoy,
        &[
            (stats::basic("failed"), 4),
            (stats::basic("verified"), 5),
            (denied("bad_credentials"), 4),
            (denied("disabled_user"), 1),
            (denied("expired_user"), 1),
            (denied("user_not_allowed"), 1),
            (denied("insufficient_scope"), 1),
        ],
    );
}

#[test]
fn forward_credential_keeps_the_authorization_header() {
    let users = vec![json!({"name": "ci-bot", "hash": hash("sha1", "pw", 0)})];
    let envoy = start(&plugin(users, json!({"forward_credential": true})), 1);
    let auth = basic("ci-bot", "pw");
    let seen = upstream_saw(&envoy.get("/", &[("authorization", &auth)]));
    assert_eq!(seen["headers"]["authorization"], auth.as_str(), "{seen}");
    assert_eq!(seen["headers"]["x-edgeguard-subject"], "ci-bot", "{seen}");
}

#[test]
fn envoy_refuses_hashes_above_the_caps_naming_the_field() {
    let ok = vec![json!({"name": "a", "hash": hash("bcrypt", "x", 4)})];
    let (valid, out) = validate_plugin(&plugin(ok.clone(), json!({})));
    assert!(valid, "the valid config must pass validation:\n{out}");
    let mut over = ok.clone();
    over.push(json!({"name": "b", "hash": hash("bcrypt", "x", 4)}));
    over.push(json!({"name": "c", "hash": hash("bcrypt", "x", 11)}));
    for (what, cfg, words) in [
        (
            "bcrypt above max_bcrypt_cost",
            plugin(over, json!({"limits": {"max_bcrypt_cost": 10}})),
            "basic_auth.users[2].hash",
        ),
        (
            "argon2id above max_argon2_memory_kib",
            plugin(
                vec![json!({"name": "a", "hash": hash("argon2id", "x", 1)})],
                json!({"limits": {"max_argon2_memory_kib": 512}}),
            ),
            "max_argon2_memory_kib",
        ),
        (
            "{SHA} without allow_sha1",
            plugin(
                vec![json!({"name": "a", "hash": hash("sha1", "x", 0)})],
                json!({"allow_sha1": false}),
            ),
            "allow_sha1",
        ),
    ] {
        let (valid, out) = validate_plugin(&cfg);
        assert!(!valid, "{what}: Envoy accepted it:\n{out}");
        assert!(
            out.contains(words),
            "{what}: the output does not name {words:?}:\n{out}"
        );
    }
}

#[test]
fn hash_password_writes_a_bcrypt_hash_the_reference_implementation_accepts() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeguard"))
        .args(["hash-password", "--cost", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run edgeguard hash-password");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"pa:ss word\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$2b$05$") && hash.len() == 60, "{hash}");
    let check = |pw: &str| {
        Command::new(python())
            .args(["-c", "import bcrypt, sys; sys.exit(0 if bcrypt.checkpw(sys.argv[1].encode(), sys.argv[2].encode()) else 3)", pw, &hash])
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(check("pa:ss word"), Some(0), "PyPI bcrypt refuses {hash}");
    assert_eq!(
        check("pa:ss word\n"),
        Some(3),
        "the newline is not part of the password"
    );
}
