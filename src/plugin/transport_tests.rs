//! The transport check through the mock host: which connection facts are read (each a host call),
//! the local reply, and the plaintext-credential counter.

use super::tests::get;
use super::*;
use crate::stats;
use crate::testing::MockHost;

const T0: u64 = 1_700_000_000_000;

fn plugin(host: &MockHost, transport: &str) -> Plugin {
    let cfg = format!(
        r#"{{"api_keys": {{"keys": [{{"id": "app", "sha256": "{}"}}]}},
            "rules": [{{"match": {{"path_prefix": "/public"}}, "allow": "anonymous"}},
                      {{"require": {{"api_key": {{}}}}}}] {transport}}}"#,
        crate::api_key_set::sha256_hex(b"the-key")
    );
    match Plugin::configure(host, cfg.as_bytes(), 0, 1) {
        Ok(p) => p,
        Err(e) => unreachable!("{e}"),
    }
}

fn property_reads(host: &MockHost) -> u32 {
    host.host_calls().get("get_property").copied().unwrap_or(0)
}

#[test]
fn connection_facts_are_read_only_when_a_rule_requires_tls() {
    let host = MockHost::new(T0);
    let p = plugin(&host, "");
    get(&host, 7, "/o", &[("x-api-key", "the-key")]);
    host.reset_host_calls();
    assert_eq!(p.on_request(&host, 7, true), Flow::Continue);
    assert_eq!(
        property_reads(&host),
        0,
        "no transport section: no property read"
    );

    let host = MockHost::new(T0);
    let p = plugin(&host, r#", "transport": {}"#);
    // TLS: one read (`connection.tls_version`), then the usual allow.
    get(&host, 8, "/o", &[("x-api-key", "the-key")]);
    host.set_property(8, &TLS_VERSION_PROPERTY, b"TLSv1.3");
    host.reset_host_calls();
    assert_eq!(p.on_request(&host, 8, true), Flow::Continue);
    assert_eq!(property_reads(&host), 1);
    // A public request without a credential reads nothing.
    get(&host, 9, "/public", &[]);
    host.reset_host_calls();
    assert_eq!(p.on_request(&host, 9, true), Flow::Continue);
    assert_eq!(property_reads(&host), 0);
}

#[test]
fn a_key_over_plaintext_is_refused_and_counted_by_kind() {
    let host = MockHost::new(T0);
    let p = plugin(&host, r#", "transport": {}"#);
    get(&host, 7, "/o", &[("x-api-key", "the-key")]);
    assert_eq!(p.on_request(&host, 7, true), Flow::Pause);
    let reply = host.reply(7);
    assert_eq!(reply.as_ref().map(|r| r.status), Some(403));
    let body = reply
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .unwrap_or_default();
    assert!(body.contains("\"insecure_transport\""), "{body}");
    assert!(!body.contains("the-key"), "{body}");
    p.on_tick(&host);
    assert_eq!(
        host.metric(&stats::plaintext_credential(
            crate::credential::Kind::ApiKey
        )),
        Some(1)
    );
    assert_eq!(
        host.metric(&stats::denied(
            crate::reason::Reason::InsecureTransport,
            true
        )),
        Some(1)
    );
    assert_eq!(
        host.metric(&stats::plaintext_credential(crate::credential::Kind::Jwt)),
        Some(0)
    );
}

#[test]
fn an_empty_tls_version_is_not_tls() {
    let host = MockHost::new(T0);
    let p = plugin(&host, r#", "transport": {}"#);
    get(&host, 7, "/o", &[("x-api-key", "the-key")]);
    host.set_property(7, &TLS_VERSION_PROPERTY, b"");
    assert_eq!(p.on_request(&host, 7, true), Flow::Pause);
    assert_eq!(host.reply(7).map(|r| r.status), Some(403));
}
