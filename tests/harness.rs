//! Self-tests of the integration harness (tests/common): the servers, the client, and a plain Envoy
//! (no edgeguard) in front of them. They keep the harness honest independently of the plugin.

// A test harness fails by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{http_get, http_request, EchoUpstream, Envoy, HttpServer, Options, Reply};
use std::time::{Duration, Instant};

#[test]
fn echo_upstream_reports_what_it_received() {
    let echo = EchoUpstream::start();
    let addr = ([127, 0, 0, 1], echo.port()).into();
    let r = http_request(
        addr,
        "POST",
        "/a/b?x=1",
        &[("x-dup", "1"), ("X-Dup", "2")],
        "hello",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/a/b?x=1");
    assert_eq!(v["headers"]["x-dup"], "1, 2");
    assert_eq!(v["body"], "hello");
    assert_eq!(echo.hits(), 1);
    assert_eq!(echo.received()[0].path, "/a/b?x=1");
}

#[test]
fn http_server_switches_counts_delays_stops_and_restarts() {
    let mut s = HttpServer::start("/jwks.json", Reply::json(r#"{"keys":[]}"#));
    let r = http_get(s.addr(), "/jwks.json").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"keys":[]}"#));
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(http_get(s.addr(), "/other").unwrap().status, 404);

    s.set(Reply::status(503, "down"));
    assert_eq!(http_get(s.addr(), "/jwks.json").unwrap().status, 503);

    s.set(Reply::json("{}").delayed(Duration::from_millis(300)));
    let t = Instant::now();
    assert_eq!(http_get(s.addr(), "/jwks.json").unwrap().status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(s.hits(), 4);

    let port = s.port();
    s.stop();
    assert!(!s.is_running());
    let e = http_get(s.addr(), "/jwks.json").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    s.restart();
    assert_eq!(s.port(), port);
    assert_eq!(http_get(s.addr(), "/jwks.json").unwrap().status, 200);
    assert_eq!(s.hits(), 5);
    assert!(s.wait_hits(5, Duration::from_millis(10)));
}

#[test]
fn plain_envoy_in_front_of_the_servers() {
    // A burst of connections must not be dropped by a short listen backlog.
    let mut jwks = HttpServer::start("/jwks.json", Reply::json("{}"));
    let envoy = Envoy::start_with(
        "",
        Options {
            edgeguard: false,
            upstream_port: Some(jwks.port()),
            concurrency: 1,
            ..Options::default()
        },
    );
    assert!(envoy.port != 0 && envoy.admin.port() != 0);
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let addr = envoy.addr();
            std::thread::spawn(move || http_get(addr, "/jwks.json").map(|r| r.status))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), 200);
    }
    assert_eq!(jwks.hits(), 32);
    assert_eq!(envoy.stat("cluster.upstream.upstream_rq_200"), Some(32));
    assert_eq!(envoy.stat("no.such.stat"), None);

    jwks.stop();
    let r = envoy.get("/jwks.json", &[]);
    assert_eq!(r.status, 503, "{r:?}");
    jwks.restart();
    let r = envoy.get("/jwks.json", &[]);
    assert_eq!(r.status, 200, "{r:?}\n{}", envoy.log_tail(20));
}
