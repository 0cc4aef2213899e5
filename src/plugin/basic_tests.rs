//! HTTP Basic through the mock host: the per-user failure counter in shared data (across VMs),
//! the lockout that spends no hash, the metrics.

use super::*;
use crate::password::format_bcrypt;
use crate::stats;
use crate::testing::MockHost;
use base64::Engine as _;

const T0: u64 = 1_700_000_000_000;

fn config() -> String {
    format!(
        r#"{{"basic_auth": {{"users": [{{"name": "alice", "hash": "{}"}}],
                              "limits": {{"failures_per_user_per_minute": 3, "slow_verifies_per_second": 100}}}}}}"#,
        format_bcrypt(b"right", 4, [3; 16])
    )
}

fn plugin(host: &MockHost, vm: u64) -> Plugin {
    match Plugin::configure(host, config().as_bytes(), 0, vm) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    }
}

fn send(host: &MockHost, p: &Plugin, id: u32, user: &str, pw: &str) -> Option<u16> {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    );
    host.open(
        id,
        &[
            (":method", "GET"),
            (":path", "/"),
            (":authority", "api.test"),
            ("authorization", &auth),
        ],
    );
    p.on_request(host, id, true);
    let status = host.reply(id).map(|r| r.status);
    host.close(id);
    status
}

#[test]
fn failures_are_shared_by_the_vms_and_lock_before_any_hash() {
    let host = MockHost::new(T0);
    let other = host.sibling();
    let (a, b) = (plugin(&host, 1), plugin(&other, 2));
    assert_eq!(send(&host, &a, 1, "alice", "wrong"), Some(401));
    assert_eq!(send(&other, &b, 2, "alice", "wrong"), Some(401));
    assert_eq!(send(&host, &a, 3, "alice", "wrong"), Some(401));
    // Three failures on two VMs: both refuse the name now, even with the right password.
    assert_eq!(send(&other, &b, 4, "alice", "right"), Some(429));
    assert_eq!(send(&host, &a, 5, "alice", "right"), Some(429));
    a.on_tick(&host);
    b.on_tick(&other);
    // Each VM's metrics: the sum is what Envoy shows.
    let m = |n: &str| host.metric(n).unwrap_or(0) + other.metric(n).unwrap_or(0);
    assert_eq!(m(&stats::basic("failed")), 3);
    assert_eq!(m(&stats::basic("locked")), 2);
    assert_eq!(m(&stats::basic("verified")), 0, "no hash once locked");
    assert_eq!(
        m(&stats::denied(crate::reason::Reason::TooManyFailures, true)),
        2
    );
    // Unknown names count and lock the same way; other names are not affected.
    for id in 10..13 {
        assert_eq!(send(&host, &a, id, "mallory", "x"), Some(401));
    }
    assert_eq!(send(&other, &b, 13, "mallory", "x"), Some(429));
    // The next minute starts afresh.
    host.advance(60_000);
    assert_eq!(send(&other, &b, 14, "alice", "right"), None, "allowed");
    b.on_tick(&other);
    assert_eq!(m(&stats::basic("verified")), 1);
    let keys = host.shared_keys().len();
    for id in 20..60 {
        send(&host, &a, id, &format!("spray{id}"), "x");
    }
    assert_eq!(host.shared_keys().len(), keys, "no shared key per name");
}
