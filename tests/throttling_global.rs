//! Fleet-wide throttling by plan and principal through real Envoys running the built
//! `target/edgeguard.wasm` (run with `make test`): the recipe `envoy/throttling-global.yaml`
//! (edgeguard → ratelimit → router) on TWO Envoys at `--concurrency 2`, both talking to one rate-limit
//! service (`tests/ratelimit_server/`, gRPC `envoy.service.ratelimit.v3`) that counts in a real Redis
//! with the limits of `envoy/ratelimit-config.yaml`. Then the failure mode: Redis down, the service
//! down.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::ratelimit::{RateLimitService, Redis};
use common::{repo, Envoy, Response};
use edgeguard::credential::api_key::sha256_hex;
use std::path::{Path, PathBuf};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shipped limits, per hour instead of per minute: the service's window starts at a descriptor's
/// first hit, so no window can end inside the test however slow the machine, and "exactly the limit"
/// holds.
fn limits(dir: &Path) -> PathBuf {
    let cfg = std::fs::read_to_string(repo().join("envoy/ratelimit-config.yaml")).unwrap();
    assert!(cfg.contains("domain: edgeguard"));
    assert_eq!(cfg.matches("unit: minute").count(), 3);
    let path = dir.join("ratelimit-config.yaml");
    std::fs::write(&path, cfg.replace("unit: minute", "unit: hour")).unwrap();
    path
}

/// The recipe on free ports, talking to `rls`; `deny`: with `failure_mode_deny: true` instead of the
/// shipped (recommended) `false`. The service's timeout is raised from 0.1 s to 5 s so that a slow
/// machine cannot turn a late answer into an unthrottled request (which the counts would show).
fn start_recipe(dir: &Path, rls: &RateLimitService, deny: bool) -> Envoy {
    let recipe = std::fs::read_to_string(repo().join("envoy/throttling-global.yaml")).unwrap();
    for key in ["partner-key-1", "partner-key-2", "gold-key-1"] {
        assert!(recipe.contains(&sha256_hex(key.as_bytes())), "{key}");
    }
    for part in [
        "failure_mode_deny: false",
        "timeout: 0.1s",
        "port_value: 8081",
        "domain: edgeguard",
    ] {
        assert_eq!(recipe.matches(part).count(), 1, "{part}");
    }
    let mut cfg = recipe
        .replace("port_value: 9901", "port_value: 0")
        .replace("port_value: 10000", "port_value: 0")
        .replace("port_value: 10001", &format!("port_value: {}", free_port()))
        .replace("port_value: 8081", &format!("port_value: {}", rls.port))
        .replace("timeout: 0.1s", "timeout: 5s");
    if deny {
        cfg = cfg.replace("failure_mode_deny: false", "failure_mode_deny: true");
    }
    let path = dir.join(format!("throttling-global-deny-{deny}.yaml"));
    std::fs::write(&path, cfg).unwrap();
    Envoy::start_config_file(&path)
}

/// Sends `n` requests; returns how many were let through (200) and the last 429.
fn send(
    envoy: &Envoy,
    n: usize,
    path: &str,
    headers: &[(&str, &str)],
) -> (usize, Option<Response>) {
    let mut ok = 0;
    let mut limited = None;
    for _ in 0..n {
        let r = envoy.get(path, headers);
        match r.status {
            200 => ok += 1,
            429 => limited = Some(r),
            other => panic!("unexpected {other}: {r:?}"),
        }
    }
    (ok, limited)
}

fn stat(envoy: &Envoy, name: &str) -> u64 {
    envoy.stat(name).unwrap_or_else(|| {
        panic!(
            "no stat {name}; ratelimit stats: {:?}",
            envoy.stats_matching("ratelimit")
        )
    })
}

#[test]
fn one_limit_across_two_proxies_and_the_failure_mode() {
    let dir = common::temp_dir("throttling-global");
    let mut redis = Redis::start();
    let mut rls = RateLimitService::start(&limits(&dir), &redis);
    // Two proxies of one fleet: the shipped recipe (fails open) and the same with
    // failure_mode_deny: true. While the service answers, the two behave alike.
    let open = start_recipe(&dir, &rls, false);
    let deny = start_recipe(&dir, &rls, true);
    let partner1 = [("x-api-key", "partner-key-1")];

    // The plan goes upstream; a client's own copy never does.
    let r = open.get(
        "/orders",
        &[("x-api-key", "partner-key-1"), ("x-edgeguard-plan", "gold")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["headers"]["x-edgeguard-plan"], "partner", "{r:?}");

    // partner: 60 per principal for the whole fleet — both proxies at once, 40 requests each.
    let ((ok_open, lim_open), (ok_deny, lim_deny)) = std::thread::scope(|s| {
        let a = s.spawn(|| send(&open, 40, "/orders", &partner1));
        let b = s.spawn(|| send(&deny, 40, "/orders", &partner1));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(
        ok_open + ok_deny,
        59,
        "exactly the limit across both proxies: 60 in all for partner-1 (one above), got {ok_open} + {ok_deny}:\n{}",
        rls.log()
    );
    let limited = lim_open.or(lim_deny).expect("a 429");
    let limit = limited.header("x-ratelimit-limit").unwrap_or_default();
    assert!(
        limit.starts_with("60") && limit.contains("w=3600"),
        "{limited:?}"
    );
    assert_eq!(
        limited.header("x-ratelimit-remaining"),
        Some("0"),
        "{limited:?}"
    );
    assert!(limited.header("x-ratelimit-reset").is_some(), "{limited:?}");
    // and now either proxy refuses partner-1
    for envoy in [&open, &deny] {
        let r = envoy.get("/orders", &partner1);
        assert_eq!(r.status, 429, "{r:?}");
    }

    // another principal on the same plan has its own counter, on both proxies
    let (a, _) = send(&open, 5, "/orders", &[("x-api-key", "partner-key-2")]);
    let (b, _) = send(&deny, 5, "/orders", &[("x-api-key", "partner-key-2")]);
    assert_eq!(a + b, 10, "partner-2 is not throttled by partner-1's use");

    // a key's own plan comes first: gold's limit is 600
    let r = deny.get("/orders", &[("x-api-key", "gold-key-1")]);
    assert_eq!(r.json()["headers"]["x-edgeguard-plan"], "gold", "{r:?}");
    let (a, _) = send(&open, 35, "/orders", &[("x-api-key", "gold-key-1")]);
    let (b, _) = send(&deny, 35, "/orders", &[("x-api-key", "gold-key-1")]);
    assert_eq!(a + b, 70, "gold is not held to partner's 60");

    // anonymous: 10 per client address, fleet-wide
    let (a, _) = send(&open, 6, "/public/page", &[]);
    let (b, _) = send(&deny, 6, "/public/page", &[]);
    assert_eq!(a + b, 10, "anonymous: 10 across both proxies");

    // a denial is edgeguard's own answer and asks the service nothing
    let asked =
        stat(&open, "cluster.echo.ratelimit.ok") + stat(&open, "cluster.echo.ratelimit.over_limit");
    let r = open.get("/orders", &[("x-api-key", "wrong")]);
    assert_eq!(r.status, 401, "{r:?}");
    let asked_after =
        stat(&open, "cluster.echo.ratelimit.ok") + stat(&open, "cluster.echo.ratelimit.over_limit");
    assert_eq!(asked, asked_after);

    // every answer so far came from the service (no error, nothing let through by the failure mode)
    for envoy in [&open, &deny] {
        assert_eq!(envoy.stat("cluster.echo.ratelimit.error").unwrap_or(0), 0);
        assert_eq!(
            envoy
                .stat("cluster.echo.ratelimit.failure_mode_allowed")
                .unwrap_or(0),
            0
        );
        assert!(stat(envoy, "cluster.echo.ratelimit.over_limit") > 0);
    }
    assert_eq!(
        redis.dbsize(),
        4,
        "counters: partner-1, partner-2, gold-1, 127.0.0.1"
    );

    // Failure mode. Redis down: the service answers UNAVAILABLE. partner-1 is over its limit, so a
    // 200 is a request let through unthrottled.
    redis.stop();
    let r = open.get("/orders", &partner1);
    assert_eq!(
        r.status, 200,
        "failure_mode_deny: false lets it through: {r:?}"
    );
    let r = deny.get("/orders", &partner1);
    assert_eq!(r.status, 500, "failure_mode_deny: true answers 500: {r:?}");
    eprintln!("redis down, failure_mode_deny: true answers {r:?}");
    assert!(rls.log().contains("redis failed"), "{}", rls.log());

    // The service down (connections refused): the same answers.
    rls.stop();
    let r = open.get("/orders", &partner1);
    assert_eq!(
        r.status, 200,
        "failure_mode_deny: false lets it through: {r:?}"
    );
    let r = open.get("/public/page", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let r = deny.get("/orders", &partner1);
    assert_eq!(r.status, 500, "failure_mode_deny: true answers 500: {r:?}");
    eprintln!("service down, failure_mode_deny: true answers {r:?}");
    // edgeguard still decides first
    assert_eq!(deny.get("/orders", &[("x-api-key", "wrong")]).status, 401);

    assert_eq!(
        stat(&open, "cluster.echo.ratelimit.failure_mode_allowed"),
        3
    );
    assert!(stat(&deny, "cluster.echo.ratelimit.error") >= 2);
    let _ = std::fs::remove_dir_all(&dir);
}
