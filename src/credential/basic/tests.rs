//! The Basic kind through the engine: answers, the cache, the budget, the lockout port, the
//! requirement leaf and configuration errors.

use crate::config::Config;
use crate::decision::{Decision, Denial, HeaderOp};
use crate::engine::{Check, Engine, Outcome};
use crate::password::format_bcrypt;
use crate::reason::Reason;
use crate::request::Request;
use crate::resources::{KeyAvailability, Loaded, Resources};
use crate::testing::FixedResources;
use base64::Engine as _;
use std::cell::Cell;
use std::rc::Rc;

const NOW: u64 = 1_700_000_000;

/// `{SHA}` of `pw` (fast: most tests need no slow hash).
fn sha1(pw: &str) -> String {
    format!(
        "{{SHA}}{}",
        base64::engine::general_purpose::STANDARD
            .encode(hmac_sha1_compact::Hash::hash(pw.as_bytes()))
    )
}

fn engine(users: &str, extra: &str) -> Engine {
    let json = format!(
        r#"{{"realm": "ops", "basic_auth": {{"allow_sha1": true, "users": [{users}] {extra}}},
            "plans": {{"names": ["default", "internal"]}},
            "rules": [
              {{"match": {{"path_prefix": "/deploy"}}, "require": {{"basic": {{"users": ["ci-bot"], "scopes": ["deploy"]}}}}}},
              {{"match": {{"path_prefix": "/"}}, "require": {{"basic": {{}}}}}}
            ]}}"#
    );
    match Config::parse(json.as_bytes()) {
        Ok(c) => Engine::new(c),
        Err(e) => unreachable!("{e}"),
    }
}

fn users() -> String {
    format!(
        r#"{{"name": "ci-bot", "hash": "{}", "scopes": ["deploy"], "plan": "internal"}},
           {{"name": "alice", "hash": "{}"}},
           {{"name": "off", "hash": "{}", "disabled": true}},
           {{"name": "old", "hash": "{}", "expires_at": {NOW}}}"#,
        sha1("s3cr:et"),
        sha1("alice-pw"),
        sha1("off-pw"),
        sha1("old-pw")
    )
}

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

fn req(path: &str, authorization: &str) -> Request {
    Request::from_headers(vec![
        (":method".into(), "GET".into()),
        (":path".into(), path.into()),
        (":authority".into(), "api.test".into()),
        ("authorization".into(), authorization.into()),
    ])
}

/// A resource port whose Basic failure count is fixed, counting how often it is asked.
struct Failures {
    inner: FixedResources,
    count: u32,
    asked: Cell<u32>,
}

impl Resources for Failures {
    fn key_set(&self, p: &str) -> KeyAvailability {
        self.inner.key_set(p)
    }
    fn refetch_key_set(&self, p: &str) -> bool {
        self.inner.refetch_key_set(p)
    }
    fn api_key_set(&self) -> Loaded<Rc<crate::api_key_set::ApiKeySet>> {
        self.inner.api_key_set()
    }
    fn basic_failures(&self, _: &str) -> u32 {
        self.asked.set(self.asked.get() + 1);
        self.count
    }
}

fn check_with(e: &Engine, r: &Request, failures: u32) -> Check {
    let res = Failures {
        inner: FixedResources::none(),
        count: failures,
        asked: Cell::new(0),
    };
    e.check(
        r,
        NOW,
        &res,
        None,
        &crate::testing::FixedConnection::default(),
    )
}

fn check(e: &Engine, r: &Request) -> Check {
    check_with(e, r, 0)
}

fn denial(c: &Check) -> Denial {
    match &c.outcome {
        Outcome::Decided(Decision::Deny(d)) => d.clone(),
        other => unreachable!("not a denial: {other:?}"),
    }
}

fn ops(c: &Check) -> Vec<HeaderOp> {
    match &c.outcome {
        Outcome::Decided(Decision::Allow { ops }) => ops.clone(),
        other => unreachable!("not allowed: {other:?}"),
    }
}

#[test]
fn a_valid_user_is_forwarded_without_the_credential_and_cached() {
    let e = engine(&users(), "");
    let c = check(&e, &req("/deploy/x", &basic("ci-bot", "s3cr:et")));
    let ops = ops(&c);
    assert!(
        ops.contains(&HeaderOp::Set(
            "x-edgeguard-subject".into(),
            "ci-bot".into()
        )),
        "{ops:?}"
    );
    assert!(
        ops.contains(&HeaderOp::Remove("authorization".into())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&HeaderOp::Set("x-edgeguard-plan".into(), "internal".into())),
        "{ops:?}"
    );
    let p = c.events.published.clone().unwrap_or_else(|| unreachable!());
    assert_eq!(
        (p.method.as_str(), p.principal.as_str()),
        ("basic", "basic:ci-bot")
    );
    assert_eq!((c.events.basic.verified, c.events.basic.cache_hits), (1, 0));
    let again = check(&e, &req("/deploy/x", &basic("ci-bot", "s3cr:et")));
    assert_eq!(
        (again.events.basic.verified, again.events.basic.cache_hits),
        (0, 1)
    );
    let wrong = check(&e, &req("/deploy/x", &basic("ci-bot", "s3cr:eT")));
    assert_eq!(
        denial(&wrong).reason,
        Reason::BadCredentials,
        "the cache holds only that password"
    );
}

#[test]
fn forward_credential_keeps_the_header() {
    let e = engine(&users(), r#", "forward_credential": true"#);
    let ops = ops(&check(&e, &req("/", &basic("alice", "alice-pw"))));
    assert!(
        !ops.contains(&HeaderOp::Remove("authorization".into())),
        "{ops:?}"
    );
}

#[test]
fn an_unknown_user_answers_exactly_like_a_wrong_password() {
    let e = engine(&users(), "");
    let wrong = check(&e, &req("/", &basic("alice", "nope")));
    let unknown = check(&e, &req("/", &basic("mallory", "nope")));
    let (w, u) = (denial(&wrong), denial(&unknown));
    assert_eq!(w, u);
    assert_eq!((w.status, w.reason), (401, Reason::BadCredentials));
    assert_eq!(
        w.www_authenticate.as_deref(),
        Some(r#"Basic realm="ops", charset="UTF-8""#)
    );
    assert_eq!((w.body(), w.headers()), (u.body(), u.headers()));
    assert_eq!(wrong.events.basic.failed, 1);
    assert_eq!(unknown.events.basic.failed, 1, "the dummy was verified");
    assert_eq!(wrong.events.basic.failed_user.as_deref(), Some("alice"));
    assert_eq!(unknown.events.basic.failed_user.as_deref(), Some("mallory"));
}

#[test]
fn disabled_and_expired_only_after_the_password_verified() {
    let e = engine(&users(), "");
    let reason = |u: &str, pw: &str| denial(&check(&e, &req("/", &basic(u, pw)))).reason;
    assert_eq!(reason("off", "off-pw"), Reason::DisabledUser);
    assert_eq!(reason("old", "old-pw"), Reason::ExpiredUser);
    assert_eq!(reason("off", "wrong"), Reason::BadCredentials);
    assert_eq!(reason("old", "wrong"), Reason::BadCredentials);
    assert_eq!(
        reason("off", "off-pw"),
        Reason::DisabledUser,
        "also from the cache"
    );
}

#[test]
fn users_and_scopes_of_the_requirement_are_403() {
    let e = engine(&users(), "");
    let d = denial(&check(&e, &req("/deploy/x", &basic("alice", "alice-pw"))));
    assert_eq!(
        (d.status, d.reason, d.www_authenticate),
        (403, Reason::UserNotAllowed, None)
    );
    let scoped = format!(
        r#"{{"name": "ci-bot", "hash": "{}"}}, {{"name": "x", "hash": "{}"}}"#,
        sha1("pw"),
        sha1("pw")
    );
    let e = engine(&scoped, "");
    let d = denial(&check(&e, &req("/deploy/x", &basic("ci-bot", "pw"))));
    assert_eq!((d.status, d.reason), (403, Reason::InsufficientScope));
    let d = denial(&check(&e, &req("/deploy/x", "Bearer abc")));
    assert_eq!((d.status, d.reason), (401, Reason::Missing));
    assert_eq!(
        d.www_authenticate.as_deref(),
        Some(r#"Basic realm="ops", charset="UTF-8""#)
    );
}

#[test]
fn a_malformed_credential_is_401_malformed() {
    let e = engine(&users(), "");
    for bad in [
        "Basic !!!".to_string(),
        basic("ci-bot\u{0}", "x"),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("nocolon")
        ),
        format!("Basic {}", "A".repeat(super::MAX_ENCODED_BYTES + 4)),
    ] {
        let c = check(&e, &req("/", &bad));
        assert_eq!(denial(&c).reason, Reason::Malformed, "{bad}");
        assert_eq!(
            c.events.basic,
            Default::default(),
            "nothing verified: {bad}"
        );
    }
    let ok = check(
        &e,
        &req(
            "/",
            &basic("ci-bot", "s3cr:et").replacen("Basic", "basic", 1),
        ),
    );
    assert!(
        matches!(ok.outcome, Outcome::Decided(Decision::Allow { .. })),
        "the scheme is case-insensitive"
    );
}

#[test]
fn a_locked_name_is_429_before_any_hash() {
    let e = engine(
        &users(),
        r#", "limits": {"failures_per_user_per_minute": 3}"#,
    );
    let c = check_with(&e, &req("/", &basic("alice", "alice-pw")), 3);
    let d = denial(&c);
    assert_eq!(
        (d.status, d.reason, d.retry_after),
        (429, Reason::TooManyFailures, Some(60))
    );
    assert_eq!(
        (
            c.events.basic.verified,
            c.events.basic.failed,
            c.events.basic.locked
        ),
        (0, 0, 1)
    );
    let unknown = denial(&check_with(&e, &req("/", &basic("mallory", "x")), 3));
    assert_eq!(unknown, d, "unknown names lock the same way");
    let below = check_with(&e, &req("/", &basic("alice", "alice-pw")), 2);
    assert!(matches!(
        below.outcome,
        Outcome::Decided(Decision::Allow { .. })
    ));
    let cached = check_with(&e, &req("/", &basic("alice", "alice-pw")), 3);
    assert!(
        matches!(cached.outcome, Outcome::Decided(Decision::Allow { .. })),
        "a password verified before the lockout is no guess"
    );
}

#[test]
fn the_slow_hash_budget_answers_503_beyond_it() {
    let mut users: Vec<String> = (0..3)
        .map(|i| {
            format!(
                r#"{{"name": "u{i}", "hash": "{}"}}"#,
                format_bcrypt(b"pw", 4, [i; 16])
            )
        })
        .collect();
    users.push(format!(r#"{{"name": "ci-bot", "hash": "{}"}}"#, sha1("x")));
    let e = engine(
        &users.join(","),
        r#", "limits": {"slow_verifies_per_second": 2}"#,
    );
    let at = |now: u64, u: &str, pw: &str| {
        e.check(
            &req("/", &basic(u, pw)),
            now,
            &FixedResources::none(),
            None,
            &crate::testing::FixedConnection::default(),
        )
    };
    assert_eq!(denial(&at(NOW, "u0", "bad")).reason, Reason::BadCredentials);
    assert!(matches!(
        at(NOW, "u1", "pw").outcome,
        Outcome::Decided(Decision::Allow { .. })
    ));
    let busy = at(NOW, "u2", "pw");
    let d = denial(&busy);
    assert_eq!(
        (d.status, d.reason, d.retry_after),
        (503, Reason::BasicAuthBusy, Some(1))
    );
    assert_eq!((busy.events.basic.busy, busy.events.basic.verified), (1, 0));
    assert!(
        matches!(
            at(NOW, "u1", "pw").outcome,
            Outcome::Decided(Decision::Allow { .. })
        ),
        "a cached credential needs no budget"
    );
    assert!(matches!(
        at(NOW + 1, "u2", "pw").outcome,
        Outcome::Decided(Decision::Allow { .. })
    ));
}

#[test]
fn each_family_verifies_through_the_engine() {
    let hashes = [
        format_bcrypt(b"pw", 4, [1; 16]),
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4".to_string(),
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1".to_string(),
        sha1("pw"),
    ];
    let pws = ["pw", "password", "Hello world!", "pw"];
    let mut users: Vec<String> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| format!(r#"{{"name": "u{i}", "hash": "{h}"}}"#))
        .collect();
    users.push(format!(r#"{{"name": "ci-bot", "hash": "{}"}}"#, sha1("x")));
    let e = engine(
        &users.join(","),
        r#", "limits": {"slow_verifies_per_second": 100}"#,
    );
    for (i, pw) in pws.iter().enumerate() {
        let ok = check(&e, &req("/", &basic(&format!("u{i}"), pw)));
        assert!(
            matches!(ok.outcome, Outcome::Decided(Decision::Allow { .. })),
            "{}",
            hashes[i]
        );
        let bad = check(&e, &req("/", &basic(&format!("u{i}"), "nope")));
        assert_eq!(denial(&bad).reason, Reason::BadCredentials, "{}", hashes[i]);
    }
}

#[test]
fn configuration_errors_name_the_field() {
    let bcrypt13 = "$2b$13$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    let three = |third: &str| {
        format!(
            r#"{{"basic_auth": {{"users": [{{"name": "a", "hash": "{0}"}}, {{"name": "b", "hash": "{0}"}}, {third}]}}}}"#,
            format_bcrypt(b"x", 4, [0; 16])
        )
    };
    for (doc, field, words) in [
        (three(&format!(r#"{{"name": "c", "hash": "{bcrypt13}"}}"#)), "basic_auth.users[2].hash", "max_bcrypt_cost"),
        (three(r#"{"name": "c", "hash": "plaintext"}"#), "basic_auth.users[2].hash", "not a supported"),
        (three(&format!(r#"{{"name": "c", "hash": "{}"}}"#, sha1("x"))), "basic_auth.users[2].hash", "allow_sha1"),
        (three(r#"{"name": "a", "hash": "{SHA}x"}"#), "basic_auth.users[2].name", "twice"),
        (three(r#"{"name": "c:d", "hash": "{SHA}x"}"#), "basic_auth.users[2].name", "letters"),
        (
            three(&format!(r#"{{"name": "c", "hash": "{}", "plan": "gold"}}"#, format_bcrypt(b"x", 4, [0; 16]))),
            "basic_auth.users[2].plan",
            "plans.names",
        ),
        (r#"{"basic_auth": {"users": []}}"#.to_string(), "basic_auth.users", "at least one"),
        (
            r#"{"basic_auth": {"users": [{"name": "a", "hash": "{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00="}], "allow_sha1": true, "limits": {"max_bcrypt_cost": 17}}}"#.to_string(),
            "basic_auth.limits.max_bcrypt_cost",
            "between",
        ),
        (
            r#"{"basic_auth": {"users": [{"name": "a", "hash": "{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00="}], "allow_sha1": true},
                "rules": [{"match": {"path_prefix": "/"}, "require": {"basic": {"users": ["zed"]}}}]}"#.to_string(),
            "rules[0].require.basic.users[0]",
            "zed",
        ),
        (
            r#"{"api_keys": {"keys": []}, "rules": [{"match": {"path_prefix": "/"}, "require": {"basic": {}}}]}"#.to_string(),
            "rules[0].require.basic",
            "basic_auth",
        ),
    ] {
        let e = Config::parse(doc.as_bytes()).unwrap_err();
        assert_eq!(e.field, field, "{doc}: {e}");
        assert!(e.to_string().contains(words), "{doc}: {e}");
    }
    let weak_ok = format!(
        r#"{{"basic_auth": {{"allow_sha1": true, "users": [{{"name": "a", "hash": "{}"}}]}}}}"#,
        sha1("x")
    );
    assert!(
        Config::parse(weak_ok.as_bytes()).is_ok(),
        "basic_auth alone is a credential kind"
    );
}
