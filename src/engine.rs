//! The core's entry point: one request in, one [`Check`] out. Host-independent: time and key sets are
//! passed in, and what the host must do besides answering (refetch a key set, count a metric) comes
//! back as [`Events`].
//!
//! A request goes through, in order: the one reading of the request ([`crate::reading`]), the rule
//! that applies ([`crate::matcher`]), its requirement against the request's credentials
//! ([`crate::policy`], [`crate::credential`]), the rule's post-authentication checks
//! ([`crate::check`]), then the decision: allowed with the identities asserted upstream, denied
//! with the failing credential kind's challenge, or paused until what it needs is there.

use crate::check::{self, Stage};
use crate::config::{Config, Mode};
use crate::credential::{
    self, is_header_exact, Authenticators, Configured, Context, Exposed, Identity, Kind,
    RequestCredentials,
};
use crate::decision::{Decision, Denial, Edits};
use crate::events::Events;
use crate::extractor::Source;
use crate::matcher::{Action, RuleTag};
use crate::need::Need;
use crate::plan::Plans;
use crate::policy::{self, Evaluation, Requirement};
use crate::publish::Published;
use crate::reading::{self, Reading};
use crate::reason::Reason;
use crate::request::Request;
use crate::resources::Resources;
use crate::spelling::header_key;
use crate::transport::{Channel, Connection};

/// What the core decided, or that it must wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Decided(Decision),
    /// Pause the request until these needs are met (or failed), then check again.
    Wait(Vec<Need>),
}

/// The result of checking one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub outcome: Outcome,
    pub events: Events,
}

/// The policy engine for one configuration.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    /// Folded names of every header edgeguard sets upstream and of those it never lets through:
    /// client copies in any spelling are removed from every request.
    owned_headers: Vec<String>,
    /// Every place any configured credential is read from: each is stripped from every request
    /// (unless it held a verified credential whose forwarding is configured).
    credential_sources: Vec<Source>,
    /// Each credential kind's places, for telling which kinds a request presents.
    kind_places: Vec<(Kind, Vec<Source>)>,
    /// The credential kinds, with what they keep across requests.
    authenticators: Authenticators,
    /// The plans when none are configured (built once, not per request).
    default_plans: Plans,
}

impl Engine {
    pub fn new(config: Config) -> Self {
        let h = &config.headers;
        let authenticators = Authenticators::new(
            config.token_cache,
            config.basic_auth.as_ref().map(|b| &b.limits),
        );
        let configured = config.credentials();
        let kinds = Kind::ALL.map(|k| authenticators.of(k));
        // Every header edgeguard sets, and those no request may carry upstream, folded once here.
        let mut owned: Vec<String> = [
            &h.key_id,
            &h.provider,
            &h.subject,
            &h.client_id,
            &h.decision,
            &h.plan,
        ]
        .into_iter()
        .map(String::as_str)
        .chain(kinds.iter().flat_map(|a| a.owned_headers(configured)))
        .map(header_key)
        .chain(
            reading::always_removed(&config.reading)
                .iter()
                .map(|n| header_key(n)),
        )
        .collect();
        owned.sort();
        owned.dedup();
        let credential_sources = kinds
            .iter()
            .flat_map(|a| a.sources(configured))
            .cloned()
            .collect();
        let kind_places = Kind::ALL
            .iter()
            .map(|k| (*k, authenticators.of(*k).sources(configured)))
            .filter(|(_, places)| !places.is_empty())
            .map(|(k, places)| (k, places.into_iter().cloned().collect()))
            .collect();
        Engine {
            config,
            owned_headers: owned,
            credential_sources,
            kind_places,
            authenticators,
            default_plans: Plans::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks a request at `now` (seconds since the epoch, from the host). `rule_set` is the name
    /// carried by the matched Envoy route's metadata, if any; `conn` is asked about the downstream
    /// connection only when the rule requires TLS.
    ///
    /// Whatever the outcome, the request that goes upstream (allowed, or let through in report mode)
    /// carries no client copy of an edgeguard header in any spelling, and no credential from any
    /// configured place unless that credential was verified and its forwarding is configured.
    pub fn check(
        &self,
        req: &Request,
        now: u64,
        keys: &dyn Resources,
        rule_set: Option<&str>,
        conn: &dyn Connection,
    ) -> Check {
        let mut edits = Edits::removing(&self.owned_headers);
        let configured = self.config.credentials();
        let mut creds = RequestCredentials::new(
            &self.authenticators,
            Context::new(configured, req, now, keys),
        );
        let mut rule = RuleTag::default();
        let mut transport = TransportFinding::default();
        let verdict = match reading::read(req, &self.config.reading, &mut edits) {
            Err(reason) => Verdict::Deny(Denial::bad_request(reason)),
            Ok(reading) => {
                let at = Site {
                    req,
                    now,
                    reading: &reading,
                    rule_set,
                    conn,
                    keys,
                };
                self.evaluate(&at, &mut creds, &mut rule, &mut transport)
            }
        };
        let (mut events, forwarded) = creds.finish();
        events.exposed = transport.exposed;
        // Report-only transport: the would-be denial is reported in place of an allow (identities
        // still asserted: only TLS is missing), and first of all in policy report mode.
        let reported = transport.reported;
        let verdict = match verdict {
            Verdict::Wait(needs) => {
                return Check {
                    outcome: Outcome::Wait(needs),
                    events,
                }
            }
            Verdict::Allow(identities) => Ok(identities),
            Verdict::Deny(denial) => Err(denial),
        };
        // Every credential place, in every spelling; one that held a verified credential whose
        // forwarding is configured keeps its exact spelling.
        for source in &self.credential_sources {
            edits.strip(source, forwarded.contains(source));
        }
        let outcome = match verdict {
            Ok(identities) => {
                self.forward_identities(&identities, configured, &mut edits);
                self.publish(&identities, rule, &mut edits, &mut events);
                if let Some(reason) = reported {
                    events.denied = Some(reason);
                    edits.set(
                        &self.config.headers.decision,
                        format!("deny; reason={}", reason.code()),
                    );
                }
                Decision::Allow {
                    ops: edits.finish(req),
                }
            }
            Err(denial) => {
                let denial = match (self.config.mode, reported) {
                    (Mode::Report, Some(reason)) => Denial::forbidden(reason, None),
                    _ => denial,
                };
                events.denied = Some(denial.reason);
                match self.config.mode {
                    Mode::Enforce => Decision::Deny(denial),
                    Mode::Report => {
                        // The request goes upstream stripped exactly as an allowed one, only no
                        // identity is asserted.
                        edits.set(
                            &self.config.headers.decision,
                            format!("deny; reason={}", denial.reason.code()),
                        );
                        self.publish(&[], rule, &mut edits, &mut events);
                        Decision::Allow {
                            ops: edits.finish(req),
                        }
                    }
                }
            }
        };
        Check {
            outcome: Outcome::Decided(outcome),
            events,
        }
    }

    /// The rule, the transport check, its requirement, then its checks.
    fn evaluate<'s>(
        &'s self,
        at: &Site<'_>,
        creds: &mut RequestCredentials<'_>,
        rule: &mut RuleTag<'s>,
        transport: &mut TransportFinding,
    ) -> Verdict {
        let (req, now, reading, rule_set) = (at.req, at.now, at.reading, at.rule_set);
        let rules = &self.config.rules;
        let selection = rules.selection(reading.method, &reading.path, &reading.host, rule_set);
        let preflight = self.config.bypass_cors_preflight
            && is_cors_preflight(req)
            && rules.has_rule(reading.method, &reading.path, &reading.host, rule_set);
        if let Some(denial) = self.transport_check(at, &selection, preflight, transport) {
            return Verdict::Deny(denial);
        }
        if preflight {
            return Verdict::Allow(Vec::new());
        }
        *rule = selection.rule;
        let both;
        let requirement = match selection.action {
            Action::Anonymous => None,
            Action::Deny => return Verdict::Deny(Denial::forbidden(Reason::NoMatchingRule, None)),
            Action::Require(r) => Some(r),
            Action::RequireBoth(a, b) => {
                both = Requirement::All(vec![a.clone(), b.clone()]);
                Some(&both)
            }
        };
        let identities = match requirement.map(|r| policy::evaluate(r, creds)) {
            None => Vec::new(),
            Some(Evaluation::Granted(identities)) => identities,
            Some(Evaluation::Pending(needs)) => return Verdict::Wait(needs),
            Some(Evaluation::Unavailable(need)) => {
                return Verdict::Deny(Denial::unavailable(need.unavailable_reason()))
            }
            Some(Evaluation::Denied {
                reason,
                kind,
                scopes,
            }) => return Verdict::Deny(self.denial(reason, kind, &scopes)),
        };
        let input = check::Input {
            identities: &identities,
            request: req,
            now,
        };
        match check::run(selection.checks, &input) {
            Stage::Pass => Verdict::Allow(identities),
            Stage::Deny(denial) => Verdict::Deny(denial),
            Stage::Wait(needs) => Verdict::Wait(needs),
        }
    }

    /// On a rule that requires TLS, over plaintext: a request presenting a credential (any kind, in
    /// any configured place; valid or not) or needing one is refused `insecure_transport` — or,
    /// report-only, noted in `finding` and let on. The presented credentials are identified for the
    /// log at once and locally ([`credential::exposed`]); the answer never depends on them. A public
    /// rule (or a CORS preflight that bypasses its rule) without a credential, a TLS channel, or a
    /// rule that does not require TLS: nothing, and no connection fact is read.
    fn transport_check(
        &self,
        at: &Site<'_>,
        selection: &crate::matcher::Selection<'_>,
        preflight: bool,
        finding: &mut TransportFinding,
    ) -> Option<Denial> {
        let t = &self.config.transport;
        if !selection.require_tls.unwrap_or(t.require_tls) {
            return None;
        }
        let presents = self.kind_places.iter().any(|(_, places)| {
            !matches!(
                crate::extractor::extract(places, at.req),
                crate::extractor::Extraction::Absent
            )
        });
        let needs = !preflight
            && matches!(
                selection.action,
                Action::Require(_) | Action::RequireBoth(..)
            );
        if !(presents || needs) || t.channel(at.req, at.conn) != Channel::Clear {
            return None;
        }
        finding.exposed = if presents {
            credential::exposed(
                &self.authenticators,
                self.config.credentials(),
                &self.kind_places,
                at.req,
                at.now,
                at.keys,
            )
        } else {
            Vec::new()
        };
        match (t.mode, self.config.mode) {
            (Mode::Enforce, Mode::Enforce) => {
                Some(Denial::forbidden(Reason::InsecureTransport, None))
            }
            _ => {
                finding.reported = Some(Reason::InsecureTransport);
                None
            }
        }
    }

    /// The denial of a failed requirement: the failing kind's challenge; without one (a requirement
    /// naming no credential), a 403 like a request no rule allows.
    fn denial(&self, reason: Reason, kind: Option<Kind>, scopes: &[String]) -> Denial {
        match kind {
            Some(kind) => self
                .authenticators
                .of(kind)
                .denial(&self.config.realm, reason, scopes),
            None => Denial::forbidden(reason, None),
        }
    }

    /// Who the caller is, for the host to publish (see [`crate::publish`]); the plan also goes
    /// upstream when plans are configured.
    fn publish(
        &self,
        identities: &[Identity],
        rule: RuleTag<'_>,
        edits: &mut Edits<'_>,
        events: &mut Events,
    ) {
        let plans = self.config.plans.as_ref().unwrap_or(&self.default_plans);
        let mut published = Published::of(identities, plans, rule.name);
        published.cost = rule
            .cost
            .or_else(|| self.config.rules.has_costs().then_some(1));
        events.unknown_plan = identities
            .iter()
            .any(|i| i.plan.as_deref().is_some_and(|p| !plans.contains(p)));
        if self.config.plans.is_some() {
            edits.set(&self.config.headers.plan, published.plan.clone());
        }
        if self.config.publish_identity {
            events.published = Some(published);
        }
    }

    /// The common identity headers of each identity, then the headers its kind adds.
    fn forward_identities(
        &self,
        identities: &[Identity],
        configured: Configured<'_>,
        edits: &mut Edits<'_>,
    ) {
        let h = &self.config.headers;
        for id in identities {
            if let Some(key_id) = &id.key_id {
                edits.set(&h.key_id, key_id.clone());
            }
            if let Some(source) = &id.source {
                edits.set(&h.provider, source.clone());
            }
            if let Some(sub) = id.subject.as_deref().filter(|s| is_header_exact(s)) {
                edits.set(&h.subject, sub.to_string());
            }
            if let Some(client) = id.client_id.as_deref().filter(|c| is_header_exact(c)) {
                edits.set(&h.client_id, client.to_string());
            }
            self.authenticators
                .of(id.kind)
                .forward(id, configured, edits);
        }
    }
}

/// What one check reads: the request, its reading, the route's rule set, the connection and the
/// remote resources.
struct Site<'a> {
    req: &'a Request,
    now: u64,
    reading: &'a Reading<'a>,
    rule_set: Option<&'a str>,
    conn: &'a dyn Connection,
    keys: &'a dyn Resources,
}

/// What the transport check found besides a denial: the credentials sent over plaintext, and the
/// would-be denial when it only reports.
#[derive(Default)]
struct TransportFinding {
    exposed: Vec<Exposed>,
    reported: Option<Reason>,
}

enum Verdict {
    Allow(Vec<Identity>),
    Deny(Denial),
    Wait(Vec<Need>),
}

/// A real CORS preflight: `OPTIONS`, a non-empty `Origin`, a method token in
/// `Access-Control-Request-Method`, and no body (none announced, none following the headers).
fn is_cors_preflight(req: &Request) -> bool {
    req.method == "OPTIONS"
        && req.header("origin").is_some_and(|o| !o.trim().is_empty())
        && req
            .header("access-control-request-method")
            .is_some_and(is_token)
        && !req.has_body
        && req.header("transfer-encoding").is_none()
        && req.header_values("content-length").all(|v| v.trim() == "0")
}

/// An RFC 9110 token (a method name).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::api_key::sha256_hex;
    use crate::decision::HeaderOp;

    use crate::testing::FixedResources;

    fn engine(extra: &str) -> Engine {
        let json = format!(
            r#"{{"api_keys": {{"from": [{{"header": "x-api-key"}}, {{"query": "api_key"}}],
                "keys": [{{"id": "ios", "sha256": "{}", "scopes": ["orders:read"]}},
                         {{"id": "old", "sha256": "{}", "disabled": true}}]}} {extra}}}"#,
            sha256_hex(b"k1"),
            sha256_hex(b"k2")
        );
        match Config::parse(json.as_bytes()) {
            Ok(c) => Engine::new(c),
            Err(e) => unreachable!("{e}"),
        }
    }

    pub(super) fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut h = vec![
            (":method".to_string(), method.to_string()),
            (":path".to_string(), path.to_string()),
            (":authority".to_string(), "api.test".to_string()),
        ];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Request::from_headers(h)
    }

    pub(super) fn decide(e: &Engine, r: &Request) -> Decision {
        match e
            .check(
                r,
                1_700_000_000,
                &FixedResources::none(),
                None,
                &crate::testing::FixedConnection::default(),
            )
            .outcome
        {
            Outcome::Decided(d) => d,
            Outcome::Wait(p) => unreachable!("unexpected wait for {p:?}"),
        }
    }

    fn denial(d: Decision) -> Denial {
        match d {
            Decision::Deny(d) => d,
            Decision::Allow { ops } => unreachable!("allowed: {ops:?}"),
        }
    }

    #[test]
    fn valid_key_sets_identity_and_strips_credential() {
        let e = engine("");
        let d = decide(
            &e,
            &req(
                "GET",
                "/o?api_key=k1&x=1",
                &[("x-edgeguard-key-id", "spoofed")],
            ),
        );
        let Decision::Allow { ops } = d else {
            unreachable!("{d:?}")
        };
        assert!(
            ops.contains(&HeaderOp::Set(":path".into(), "/o?x=1".into())),
            "{ops:?}"
        );
        let remove = ops
            .iter()
            .position(|o| o == &HeaderOp::Remove("x-edgeguard-key-id".into()));
        let set = ops
            .iter()
            .position(|o| o == &HeaderOp::Set("x-edgeguard-key-id".into(), "ios".into()));
        assert!(remove.is_some() && set.is_some() && remove < set, "{ops:?}");
        let d = decide(&e, &req("GET", "/o", &[("x-api-key", "k1")]));
        assert!(
            matches!(d, Decision::Allow { ops } if ops.contains(&HeaderOp::Remove("x-api-key".into())))
        );
    }

    #[test]
    fn missing_unknown_disabled_ambiguous() {
        let e = engine("");
        let d = denial(decide(&e, &req("GET", "/", &[])));
        assert_eq!((d.status, d.reason), (401, Reason::Missing));
        assert_eq!(
            d.www_authenticate.as_deref(),
            Some("ApiKey realm=\"edgeguard\"")
        );
        let d = denial(decide(&e, &req("GET", "/", &[("x-api-key", "nope")])));
        assert_eq!((d.status, d.reason), (401, Reason::UnknownKey));
        assert!(d
            .www_authenticate
            .unwrap_or_default()
            .contains("error=\"invalid_key\""));
        let d = denial(decide(&e, &req("GET", "/", &[("x-api-key", "k2")])));
        assert_eq!(d.reason, Reason::DisabledKey);
        let d = denial(decide(
            &e,
            &req("GET", "/?api_key=k1", &[("x-api-key", "other")]),
        ));
        assert_eq!(d.reason, Reason::AmbiguousCredential);
    }

    #[test]
    fn scopes_give_403_with_challenge() {
        let e = engine(
            r#", "rules": [{"match": {"path_prefix": "/w"}, "require": {"api_key": {"scopes": ["orders:write"]}}}]"#,
        );
        let d = denial(decide(&e, &req("POST", "/w", &[("x-api-key", "k1")])));
        assert_eq!((d.status, d.reason), (403, Reason::InsufficientScope));
        assert_eq!(
            d.www_authenticate.as_deref(),
            Some(
                "ApiKey realm=\"edgeguard\", error=\"insufficient_scope\", scope=\"orders:write\""
            )
        );
        let d = denial(decide(&e, &req("GET", "/other", &[("x-api-key", "k1")])));
        assert_eq!((d.status, d.reason), (403, Reason::NoMatchingRule));
    }

    #[test]
    fn report_mode_lets_through_and_says_why() {
        let e = engine(r#", "mode": "report""#);
        let d = decide(&e, &req("GET", "/", &[("x-edgeguard-decision", "allow")]));
        let Decision::Allow { ops } = d else {
            unreachable!()
        };
        assert_eq!(
            ops.last(),
            Some(&HeaderOp::Set(
                "x-edgeguard-decision".into(),
                "deny; reason=missing".into()
            ))
        );
        assert!(ops.contains(&HeaderOp::Remove("x-edgeguard-decision".into())));
    }

    #[test]
    fn report_mode_still_strips_credentials_of_a_would_be_denial() {
        let e = engine(
            r#", "mode": "report", "rules": [{"match": {}, "require": {"api_key": {"scopes": ["admin"]}}}]"#,
        );
        // A valid key lacking the scope (403) and a disabled key (401): neither may reach upstream.
        for r in [
            req("GET", "/a", &[("x-api-key", "k1")]),
            req("GET", "/a?api_key=k2&x=1", &[]),
        ] {
            let Decision::Allow { ops } = decide(&e, &r) else {
                unreachable!()
            };
            let stripped = ops.contains(&HeaderOp::Remove("x-api-key".into()))
                || ops.contains(&HeaderOp::Set(":path".into(), "/a?x=1".into()));
            assert!(stripped, "{ops:?}");
            assert!(
                !ops.iter()
                    .any(|o| matches!(o, HeaderOp::Set(n, _) if n == "x-edgeguard-key-id")),
                "{ops:?}"
            );
        }
    }

    #[test]
    fn cors_preflight_and_bad_paths() {
        let pre = |path: &str, extra: &[(&str, &str)]| {
            let mut h = vec![
                ("origin", "https://a"),
                ("access-control-request-method", "POST"),
                ("x-api-key", "forged"),
                ("x_edgeguard_key_id", "root"),
            ];
            h.extend_from_slice(extra);
            req("OPTIONS", path, &h)
        };
        // off by default: a preflight is checked like any request
        let e = engine("");
        let d = denial(decide(&e, &pre("/o", &[])));
        assert_eq!(d.reason, Reason::UnknownKey);
        let e = engine(
            r#", "bypass_cors_preflight": true,
               "rules": [{"match": {"path_prefix": "/o"}, "require": {"api_key": {}}}]"#,
        );
        let Decision::Allow { ops } = decide(&e, &pre("/o", &[])) else {
            unreachable!()
        };
        assert!(
            ops.contains(&HeaderOp::Remove("x-api-key".into())),
            "{ops:?}"
        );
        assert!(
            ops.contains(&HeaderOp::Remove("x_edgeguard_key_id".into())),
            "{ops:?}"
        );
        assert!(
            !ops.iter().any(|o| matches!(o, HeaderOp::Set(..))),
            "{ops:?}"
        );
        // not a real preflight, or not on a rule's path: checked like any request
        let mut with_body = pre("/o", &[]);
        with_body.has_body = true;
        for r in [
            with_body,
            pre("/o", &[("content-length", "3")]),
            pre("/o", &[("transfer-encoding", "chunked")]),
            req(
                "OPTIONS",
                "/o",
                &[("origin", ""), ("access-control-request-method", "GET")],
            ),
            req(
                "OPTIONS",
                "/o",
                &[
                    ("origin", "https://a"),
                    ("access-control-request-method", "GET PUT"),
                ],
            ),
            req("OPTIONS", "/o", &[("origin", "https://a")]),
            pre("/elsewhere", &[]),
        ] {
            assert!(matches!(decide(&e, &r), Decision::Deny(_)), "{r:?}");
        }
        assert_eq!(
            denial(decide(&e, &pre("/o/../o", &[]))).reason,
            Reason::BadPath
        );
        let d = denial(decide(
            &e,
            &req("GET", "/a/../../etc", &[("x-api-key", "k1")]),
        ));
        assert_eq!((d.status, d.reason), (400, Reason::BadPath));
    }

    #[test]
    fn unverified_credentials_never_go_upstream() {
        let e = engine(
            r#", "rules": [{"match": {"path_prefix": "/pub"}, "allow": "anonymous"},
                            {"match": {}, "require": {"any": [{"api_key": {}}]}}]"#,
        );
        let Decision::Allow { ops } = decide(
            &e,
            &req(
                "GET",
                "/pub?api.key=forged&API_KEY=x&y=1",
                &[("x-api-key", "forged"), ("x_api_key", "z")],
            ),
        ) else {
            unreachable!()
        };
        assert_eq!(
            ops,
            vec![
                HeaderOp::Set(":path".into(), "/pub?y=1".into()),
                HeaderOp::Remove("x-api-key".into()),
                HeaderOp::Remove("x_api_key".into()),
            ]
        );
        // report mode: an ambiguous pair is stripped too
        let e = engine(r#", "mode": "report""#);
        let Decision::Allow { ops } =
            decide(&e, &req("GET", "/?api_key=k1", &[("x-api-key", "k2")]))
        else {
            unreachable!()
        };
        assert!(
            ops.contains(&HeaderOp::Set(":path".into(), "/".into())),
            "{ops:?}"
        );
        assert!(
            ops.contains(&HeaderOp::Remove("x-api-key".into())),
            "{ops:?}"
        );
    }

    #[test]
    fn forwarded_credential_keeps_only_its_exact_place() {
        let json = format!(
            r#"{{"api_keys": {{"forward_credential": true, "keys": [{{"id": "ios", "sha256": "{}"}}]}}}}"#,
            sha256_hex(b"k1")
        );
        let e = match Config::parse(json.as_bytes()) {
            Ok(c) => Engine::new(c),
            Err(e) => unreachable!("{e}"),
        };
        let Decision::Allow { ops } = decide(
            &e,
            &req("GET", "/", &[("x-api-key", "k1"), ("x_api_key", "other")]),
        ) else {
            unreachable!()
        };
        assert!(
            !ops.contains(&HeaderOp::Remove("x-api-key".into())),
            "{ops:?}"
        );
        assert!(
            ops.contains(&HeaderOp::Remove("x_api_key".into())),
            "{ops:?}"
        );
    }
}

#[cfg(test)]
mod jwt_tests {
    use super::*;
    use crate::decision::HeaderOp;
    use base64::Engine as _;
    use jwt_simple::prelude::{
        Duration as JDuration, Ed25519KeyPair, EdDSAKeyPairLike, UnixTimeStamp,
    };
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    use crate::jwt::jwk::KeySet;
    use crate::resources::KeyAvailability;
    /// Remote key sets in a state the test controls.
    type Store = crate::testing::FixedResources;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn jwk(k: &Ed25519KeyPair, kid: &str) -> serde_json::Value {
        json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&k.public_key().to_bytes())})
    }

    fn token(k: &Ed25519KeyPair, kid: &str, scope: &str, exp: u64) -> String {
        let mut c = jwt_simple::prelude::Claims::with_custom_claims(
            json!({"scope": scope, "org": {"id": 7}}),
            JDuration::from_secs(1),
        )
        .with_issuer("https://idp.test")
        .with_audience("api")
        .with_subject("alice");
        c.issued_at = Some(UnixTimeStamp::from_secs(NOW));
        c.expires_at = Some(UnixTimeStamp::from_secs(exp));
        c.invalid_before = Some(UnixTimeStamp::from_secs(NOW));
        let k = k.clone().with_key_id(kid);
        k.sign(c).unwrap_or_default()
    }

    fn engine(jwks: serde_json::Value, rules: &str) -> Engine {
        let doc = format!(
            r#"{{"providers": {{"idp": {{"issuer": "https://idp.test", "audiences": ["api"], "jwks": {jwks},
                "claims_to_headers": [{{"claim": "org.id", "header": "x-org"}}]}}}} {rules}}}"#
        );
        match Config::parse(doc.as_bytes()) {
            Ok(c) => Engine::new(c),
            Err(e) => unreachable!("{e}"),
        }
    }

    fn bearer(t: &str) -> Request {
        Request::from_headers(vec![
            (":method".into(), "GET".into()),
            (":path".into(), "/orders".into()),
            (":authority".into(), "api.test".into()),
            ("authorization".into(), format!("Bearer {t}")),
            ("x-org".into(), "spoofed".into()),
        ])
    }

    fn check(e: &Engine, r: &Request, now: u64, store: &Store) -> Check {
        e.check(
            r,
            now,
            store,
            None,
            &crate::testing::FixedConnection::default(),
        )
    }

    fn ready() -> Store {
        Store::new(
            KeyAvailability::Unavailable(crate::resources::KeyDocument::KeySet),
            false,
        )
    }

    #[test]
    fn verified_token_forwards_identity_and_uses_the_cache() {
        let k = Ed25519KeyPair::generate();
        let e = engine(json!({"inline": {"keys": [jwk(&k, "a")]}}), "");
        let t = token(&k, "a", "orders:read", NOW + 600);
        let c = check(&e, &bearer(&t), NOW, &ready());
        let Outcome::Decided(Decision::Allow { ops }) = c.outcome else {
            unreachable!("{c:?}")
        };
        for op in [
            HeaderOp::Remove("authorization".into()),
            HeaderOp::Remove("x-org".into()),
            HeaderOp::Set("x-edgeguard-provider".into(), "idp".into()),
            HeaderOp::Set("x-edgeguard-subject".into(), "alice".into()),
            HeaderOp::Set("x-org".into(), "7".into()),
        ] {
            assert!(ops.contains(&op), "{op:?} not in {ops:?}");
        }
        assert_eq!((c.events.cache_hits, c.events.cache_misses), (0, 1));
        let c = check(&e, &bearer(&t), NOW + 1, &ready());
        assert!(matches!(
            c.outcome,
            Outcome::Decided(Decision::Allow { .. })
        ));
        assert_eq!((c.events.cache_hits, c.events.cache_misses), (1, 0));
        // time is still checked on a cache hit
        let c = check(&e, &bearer(&t), NOW + 600 + 61, &ready());
        let Outcome::Decided(Decision::Deny(d)) = c.outcome else {
            unreachable!()
        };
        assert_eq!(
            (d.status, d.reason, c.events.cache_hits),
            (401, Reason::Expired, 1)
        );
        assert!(d
            .www_authenticate
            .unwrap_or_default()
            .starts_with("Bearer realm=\"edgeguard\", error=\"invalid_token\""));
    }

    #[test]
    fn forged_token_is_cached_as_bad_signature() {
        let k = Ed25519KeyPair::generate();
        let other = Ed25519KeyPair::generate();
        let e = engine(json!({"inline": {"keys": [jwk(&k, "a")]}}), "");
        let forged = token(&other, "a", "", NOW + 600);
        for hits in [0, 1] {
            let c = check(&e, &bearer(&forged), NOW, &ready());
            let Outcome::Decided(Decision::Deny(d)) = c.outcome else {
                unreachable!()
            };
            assert_eq!(
                (d.reason, c.events.cache_hits),
                (Reason::BadSignature, hits)
            );
        }
    }

    #[test]
    fn scopes_and_missing_token() {
        let k = Ed25519KeyPair::generate();
        let rules = r#", "rules": [{"match": {"path_prefix": "/"}, "require": {"jwt": "idp", "scopes": ["orders:write"]}}]"#;
        let e = engine(json!({"inline": {"keys": [jwk(&k, "a")]}}), rules);
        let c = check(
            &e,
            &bearer(&token(&k, "a", "orders:read", NOW + 60)),
            NOW,
            &ready(),
        );
        let Outcome::Decided(Decision::Deny(d)) = c.outcome else {
            unreachable!()
        };
        assert_eq!((d.status, d.reason), (403, Reason::InsufficientScope));
        assert_eq!(
            d.www_authenticate.as_deref(),
            Some(
                "Bearer realm=\"edgeguard\", error=\"insufficient_scope\", scope=\"orders:write\""
            )
        );
        let none = Request::from_headers(vec![
            (":method".into(), "GET".into()),
            (":path".into(), "/".into()),
            (":authority".into(), "api.test".into()),
        ]);
        let Outcome::Decided(Decision::Deny(d)) = check(&e, &none, NOW, &ready()).outcome else {
            unreachable!()
        };
        assert_eq!(
            (d.status, d.www_authenticate.as_deref()),
            (401, Some("Bearer realm=\"edgeguard\""))
        );
    }

    #[test]
    fn remote_keys_loading_unavailable_and_unknown_kid() {
        let k = Ed25519KeyPair::generate();
        let e = engine(
            json!({"remote": {"cluster": "jwks", "authority": "idp.test", "path": "/jwks"}}),
            "",
        );
        let t = token(&k, "new", "", NOW + 60);
        let loading = Store::new(
            KeyAvailability::Loading(crate::resources::KeyDocument::KeySet),
            false,
        );
        assert_eq!(
            check(&e, &bearer(&t), NOW, &loading).outcome,
            Outcome::Wait(vec![Need::KeySet("idp".into())])
        );
        let down = Store::new(
            KeyAvailability::Unavailable(crate::resources::KeyDocument::KeySet),
            false,
        );
        let Outcome::Decided(Decision::Deny(d)) = check(&e, &bearer(&t), NOW, &down).outcome else {
            unreachable!()
        };
        assert_eq!((d.status, d.reason), (503, Reason::JwksUnavailable));
        // an unknown kid waits for one refetch, then fails
        let (set, _) = match KeySet::from_value(&json!({"keys": [jwk(&k, "old")]})) {
            Ok(s) => s,
            Err(e) => unreachable!("{e}"),
        };
        let store = Store::new(KeyAvailability::Ready(set), true);
        let c = check(&e, &bearer(&t), NOW, &store);
        assert_eq!(
            (c.outcome, c.events.unknown_kid),
            (
                Outcome::Wait(vec![Need::KeySet("idp".into())]),
                vec!["idp".to_string()]
            )
        );
        let Outcome::Decided(Decision::Deny(d)) = check(&e, &bearer(&t), NOW, &store).outcome
        else {
            unreachable!()
        };
        assert_eq!(d.reason, Reason::UnknownKid);
    }
}

/// The post-authentication stage through the engine: a rule's checks run, in order, on what its
/// requirement granted, and their answer is the request's.
#[cfg(test)]
mod check_stage {
    use super::tests::req;
    use super::*;
    use crate::check::tests::{too_many, Fixed};
    use crate::check::{Input, RuleCheck};
    use crate::credential::api_key::sha256_hex;
    use crate::decision::{ErrorWord, HeaderOp};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Records the key ids of the identities it is shown, then passes.
    #[derive(Debug, Default)]
    struct Seen(RefCell<Vec<Vec<Option<String>>>>);
    impl RuleCheck for Seen {
        fn apply(&self, input: &Input<'_>) -> Stage {
            let ids = input.identities.iter().map(|i| i.key_id.clone()).collect();
            self.0.borrow_mut().push(ids);
            Stage::Pass
        }
    }

    /// Rule 0 requires a key on `/k`, rule 1 lets `/open` through; `checks` go on both, in order.
    fn engine(mode: &str, checks: Vec<Rc<dyn RuleCheck>>) -> Engine {
        let json = format!(
            r#"{{"mode": "{mode}", "api_keys": {{"keys": [{{"id": "ios", "sha256": "{}"}}]}},
                "rules": [{{"match": {{"path_prefix": "/k"}}, "require": {{"api_key": {{}}}}}},
                          {{"match": {{"path_prefix": "/open"}}, "allow": "anonymous"}}]}}"#,
            sha256_hex(b"k1")
        );
        let mut config = match Config::parse(json.as_bytes()) {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        };
        for rule in [0, 1] {
            for c in &checks {
                config.rules.add_check(rule, Rc::clone(c));
            }
        }
        Engine::new(config)
    }

    fn check(e: &Engine, r: &Request) -> Check {
        e.check(
            r,
            1_700_000_000,
            &crate::testing::FixedResources::none(),
            None,
            &crate::testing::FixedConnection::default(),
        )
    }

    #[test]
    fn a_denying_check_answers_with_its_denial() {
        let deny = Fixed::new(Stage::Deny(too_many()));
        let e = engine("enforce", vec![deny.clone()]);
        let c = check(&e, &req("GET", "/k", &[("x-api-key", "k1")]));
        let Outcome::Decided(Decision::Deny(d)) = c.outcome else {
            unreachable!("{c:?}")
        };
        assert_eq!(d, too_many());
        assert_eq!(
            (d.status, d.error, d.retry_after),
            (429, ErrorWord::TooManyRequests, Some(7))
        );
        assert!(d.headers().contains(&("retry-after".into(), "7".into())));
        assert_eq!(c.events.denied, Some(d.reason));
        // a check never runs for a request its requirement denied
        let c = check(&e, &req("GET", "/k", &[]));
        let Outcome::Decided(Decision::Deny(d)) = c.outcome else {
            unreachable!("{c:?}")
        };
        assert_eq!((d.status, d.reason), (401, Reason::Missing));
        assert_eq!(deny.runs.get(), 1);
        // report mode: let through, stripped, saying why
        let e = engine("report", vec![deny.clone()]);
        let Outcome::Decided(Decision::Allow { ops }) =
            check(&e, &req("GET", "/k", &[("x-api-key", "k1")])).outcome
        else {
            unreachable!()
        };
        assert!(
            ops.contains(&HeaderOp::Remove("x-api-key".into())),
            "{ops:?}"
        );
        assert!(
            ops.contains(&HeaderOp::Set(
                "x-edgeguard-decision".into(),
                format!("deny; reason={}", too_many().reason.code())
            )),
            "{ops:?}"
        );
        assert!(
            !ops.iter()
                .any(|o| matches!(o, HeaderOp::Set(n, _) if n == "x-edgeguard-key-id")),
            "{ops:?}"
        );
    }

    #[test]
    fn a_waiting_check_pauses_the_request() {
        let need = Need::KeySet("idp".into());
        let e = engine("enforce", vec![Fixed::new(Stage::Wait(vec![need.clone()]))]);
        for r in [
            req("GET", "/k", &[("x-api-key", "k1")]),
            req("GET", "/open", &[]),
        ] {
            assert_eq!(check(&e, &r).outcome, Outcome::Wait(vec![need.clone()]));
        }
    }

    #[test]
    fn passing_checks_allow_and_see_the_identities() {
        let seen = Rc::new(Seen::default());
        let pass = Fixed::new(Stage::Pass);
        let e = engine("enforce", vec![pass.clone(), seen.clone()]);
        let Outcome::Decided(Decision::Allow { ops }) =
            check(&e, &req("GET", "/k", &[("x-api-key", "k1")])).outcome
        else {
            unreachable!()
        };
        assert!(ops.contains(&HeaderOp::Set("x-edgeguard-key-id".into(), "ios".into())));
        assert!(matches!(
            check(&e, &req("GET", "/open", &[])).outcome,
            Outcome::Decided(Decision::Allow { .. })
        ));
        assert_eq!(
            *seen.0.borrow(),
            vec![vec![Some("ios".to_string())], vec![]],
            "the granted key, then an anonymous request with none"
        );
        assert_eq!(pass.runs.get(), 2);
        // no rule: denied before any check
        let Outcome::Decided(Decision::Deny(d)) = check(&e, &req("GET", "/x", &[])).outcome else {
            unreachable!()
        };
        assert_eq!(d.reason, Reason::NoMatchingRule);
        assert_eq!(pass.runs.get(), 2);
    }
}

/// The rule a request is decided by is the rule for the path the upstream receives: for random
/// paths through a rule table with anonymous and protected prefixes (both modes, any case), an
/// allowed request's forwarded path, checked again as a new request, is decided the same way and
/// forwarded unchanged — and Envoy's own normalization would not change it either.
#[cfg(test)]
mod reading_properties {
    use super::tests::{decide as decide_request, req};
    use super::*;
    use crate::credential::api_key::sha256_hex;
    use crate::decision::HeaderOp;
    use crate::test_support::Rng;

    fn engine(mode: &str) -> Engine {
        let json = format!(
            r#"{{"api_keys": {{"keys": [{{"id": "ops", "sha256": "{}"}}]}},
                "path": {{"non_canonical": "{mode}"}},
                "rules": [{{"match": {{"path_prefix": "/public"}}, "allow": "anonymous"}},
                          {{"match": {{"path_prefix": "/admin"}}, "require": {{"api_key": {{}}}}}}],
                "default": "allow"}}"#,
            sha256_hex(b"k")
        );
        match Config::parse(json.as_bytes()) {
            Ok(c) => Engine::new(c),
            Err(e) => unreachable!("{e}"),
        }
    }

    fn decide(e: &Engine, path: &str) -> Decision {
        decide_request(e, &req("GET", path, &[]))
    }

    const PIECES: &[&str] = &[
        "/", "/", "admin", "ADMIN", "Admin", "public", "x", ".", "..", "%2e", "%2E", ";", "%3b",
        "%2f", "%5c", "%61", "%41", "%25", "%7e", "~", " ", "é", "//", "?q=1", "&", "=",
    ];

    #[test]
    fn the_forwarded_path_is_decided_by_the_same_rule() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for mode in ["reject", "rewrite"] {
            let e = engine(mode);
            let mut allowed = 0;
            for _ in 0..20_000 {
                let mut p = String::from("/");
                for _ in 0..(1 + rng.below(6)) {
                    p.push_str(rng.pick(PIECES));
                }
                let Decision::Allow { ops } = decide(&e, &p) else {
                    continue;
                };
                allowed += 1;
                let fwd = ops
                    .iter()
                    .find_map(|o| match o {
                        HeaderOp::Set(n, v) if n == ":path" => Some(v.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| p.clone());
                let fwd_path = fwd.split_once('?').map_or(fwd.as_str(), |(a, _)| a);
                // Nothing under /admin (any case) went through without the key.
                let lower = fwd_path.to_ascii_lowercase();
                assert!(
                    lower != "/admin" && !lower.starts_with("/admin/"),
                    "{mode}: {p:?} forwarded as {fwd:?} without a key"
                );
                // The upstream's path, checked as a new request: the same answer, unchanged.
                match decide(&e, &fwd) {
                    Decision::Allow { ops } => assert!(
                        !ops.iter()
                            .any(|o| matches!(o, HeaderOp::Set(n, _) if n == ":path")),
                        "{mode}: {fwd:?} rewritten again: {ops:?}"
                    ),
                    d => unreachable!("{mode}: {p:?} allowed, its forwarded {fwd:?} not: {d:?}"),
                }
            }
            assert!(
                allowed > 500,
                "{mode}: the generator should reach allowed paths"
            );
        }
    }
}

#[cfg(test)]
mod transport_tests;
