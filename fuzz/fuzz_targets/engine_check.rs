//! The whole engine check on an arbitrary request head: `METHOD PATH` on the first line, then
//! `name: value` lines; a byte of the input picks the key-store state and the route rule set.
#![no_main]

mod common;

use common::{config_json, NOW};
use edgeguard::config::Config;
use edgeguard::decision::{Decision, HeaderOp};
use edgeguard::engine::{Engine, Outcome};
use edgeguard::resources::{KeyAvailability, KeyDocument, Resources};
use edgeguard::request::Request;
use libfuzzer_sys::fuzz_target;

/// A plaintext connection from a peer no configuration trusts.
struct Plain;

impl edgeguard::transport::Connection for Plain {
    fn is_tls(&self) -> bool {
        false
    }
    fn source_address(&self) -> Option<String> {
        Some("192.0.2.1:4000".into())
    }
    fn peer_uri_san(&self) -> Option<String> {
        None
    }
}

struct Store(u8);

impl Resources for Store {
    fn key_set(&self, _provider: &str) -> KeyAvailability {
        let doc = if self.0 & 8 != 0 {
            KeyDocument::Discovery
        } else {
            KeyDocument::KeySet
        };
        match self.0 % 3 {
            0 => KeyAvailability::Loading(doc),
            1 => KeyAvailability::Unavailable(doc),
            _ => KeyAvailability::Ready(edgeguard::jwt::jwk::KeySet::default()),
        }
    }
    fn refetch_key_set(&self, _provider: &str) -> bool {
        self.0 & 4 != 0
    }
    fn api_key_set(
        &self,
    ) -> edgeguard::resources::Loaded<std::rc::Rc<edgeguard::api_key_set::ApiKeySet>> {
        use edgeguard::resources::Loaded;
        match (self.0 >> 3) % 3 {
            0 => Loaded::Loading,
            1 => Loaded::Unavailable,
            _ => Loaded::Ready(std::rc::Rc::default()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static ENGINE: Engine = Engine::new(Config::parse(config_json().as_bytes()).expect("fixture"));
    }
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or((first, "/"));
    let mut headers = vec![
        (":method".to_string(), method.to_string()),
        (":path".to_string(), path.to_string()),
        (":authority".to_string(), "api.example.com".to_string()),
    ];
    for l in lines.take(64) {
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let req = Request::from_headers(headers);
    let rule_set = match knob >> 6 {
        0 => None,
        1 => Some("admin"),
        _ => Some("nope"),
    };
    // The fixture leaves `bypass_cors_preflight` at its default (off): no request bypasses rules.
    let preflight = false;
    ENGINE.with(|engine| {
        let check = engine.check(
            &req,
            NOW,
            &Store(knob),
            rule_set,
            &Plain,
        );
        if let Outcome::Decided(Decision::Allow { ops }) = &check.outcome {
            // Enforce mode: an allowed request went through no denial ...
            assert!(check.events.denied.is_none());
            // ... and client copies of identity headers are always removed, in every spelling (a
            // header the request does not carry needs no removal).
            for h in [
                "x-edgeguard-key-id",
                "x-edgeguard-provider",
                "x-edgeguard-subject",
                "x-edgeguard-decision",
                "x-user-email",
                "x-org",
            ] {
                for (name, _) in &req.headers {
                    if edgeguard::spelling::same_header(name, h) {
                        assert!(
                            ops.iter().any(|op| matches!(op, HeaderOp::Remove(n) if n == name)),
                            "{name} not removed: {ops:?}"
                        );
                    }
                }
            }
            // ... and the path that goes upstream is the canonical one the rules were matched on.
            let forwarded = ops
                .iter()
                .find_map(|op| match op {
                    HeaderOp::Set(n, v) if n == ":path" => Some(v.as_str()),
                    _ => None,
                })
                .unwrap_or(req.path.as_str());
            let fwd_path = forwarded.split_once('?').map_or(forwarded, |(p, _)| p);
            assert!(edgeguard::path::is_canonical(fwd_path), "{forwarded:?}");
            // An unknown route rule set fails closed (only CORS preflights bypass the rules).
            assert!(rule_set != Some("nope") || preflight, "{req:?}");
            // No key set is ever usable here: a JWT alone never grants access.
            assert!(
                preflight
                    || check.events.key_id.is_some()
                    || req.path_only().starts_with("/health")
                    || fwd_path == "/health"
                    || fwd_path.starts_with("/health/"),
                "allowed without a credential: {req:?}"
            );
        }
    });
});
