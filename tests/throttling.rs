//! Throttling by plan and principal on Envoy's own rate limiter, through a real Envoy running the
//! built `target/edgeguard.wasm` (run with `make test`): the recipe `envoy/throttling-local.yaml`
//! (edgeguard → local_ratelimit reading the published filter state → router) at `--concurrency 2`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{repo, Envoy};
use edgeguard::credential::api_key::sha256_hex;

/// The recipe on free ports. Its buckets refill every 60 s; the test sets 3600 s so that no refill
/// can fall inside the test, however slow the machine: "exactly the bucket size" then holds.
fn start_recipe() -> Envoy {
    let recipe = std::fs::read_to_string(repo().join("envoy/throttling-local.yaml")).unwrap();
    for key in ["partner-key-1", "partner-key-2", "gold-key-1"] {
        assert!(recipe.contains(&sha256_hex(key.as_bytes())), "{key}");
    }
    let echo_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_eq!(recipe.matches("fill_interval: 60s").count(), 3);
    let cfg = recipe
        .replace("port_value: 9901", "port_value: 0")
        .replace("port_value: 10000", "port_value: 0")
        .replace("port_value: 10001", &format!("port_value: {echo_port}"))
        .replace("fill_interval: 60s", "fill_interval: 3600s");
    let dir = common::temp_dir("throttling");
    let path = dir.join("throttling-local.yaml");
    std::fs::write(&path, cfg).unwrap();
    Envoy::start_config_file(&path)
}

/// Sends `n` requests; returns how many were let through (200) and the last 429.
fn send(
    envoy: &Envoy,
    n: usize,
    path: &str,
    headers: &[(&str, &str)],
) -> (usize, Option<common::Response>) {
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

#[test]
fn plans_and_principals_get_their_own_buckets_across_workers() {
    let envoy = start_recipe();

    // The plan goes upstream too; a client's own copy never does.
    let r = envoy.get(
        "/orders",
        &[("x-api-key", "partner-key-1"), ("x-edgeguard-plan", "gold")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["headers"]["x-edgeguard-plan"], "partner", "{r:?}");

    // partner: 60 per principal, shared by both workers' VMs (one request went above).
    let (ok, limited) = send(&envoy, 70, "/orders", &[("x-api-key", "partner-key-1")]);
    assert_eq!(ok, 59, "exactly the bucket: 60 in all for partner-1");
    let limited = limited.expect("a 429");
    assert_eq!(
        limited.header("x-ratelimit-limit"),
        Some("60"),
        "{limited:?}"
    );
    assert_eq!(
        limited.header("x-ratelimit-remaining"),
        Some("0"),
        "{limited:?}"
    );
    // another principal on the same plan has its own bucket
    let (ok, _) = send(&envoy, 5, "/orders", &[("x-api-key", "partner-key-2")]);
    assert_eq!(ok, 5, "partner-2 is not throttled by partner-1's use");

    // a key's own plan comes first: gold's bucket is 600
    let r = envoy.get("/orders", &[("x-api-key", "gold-key-1")]);
    assert_eq!(r.json()["headers"]["x-edgeguard-plan"], "gold", "{r:?}");
    let (ok, _) = send(&envoy, 70, "/orders", &[("x-api-key", "gold-key-1")]);
    assert_eq!(ok, 70, "gold is not held to partner's 60");

    // anonymous: 10 per client address
    let (ok, limited) = send(&envoy, 15, "/public/page", &[]);
    assert_eq!(ok, 10);
    assert_eq!(
        limited.expect("a 429").header("x-ratelimit-limit"),
        Some("10")
    );

    // a denial is edgeguard's own answer and uses no bucket
    let r = envoy.get("/orders", &[("x-api-key", "wrong")]);
    assert_eq!(r.status, 401, "{r:?}");
}
