//! Rules: which requirement applies to a request (path, method, host; route metadata rule sets).
//!
//! # JSON form
//!
//! ```json
//! {
//!   "rules": [
//!     {"match": {"path_prefix": "/health", "methods": ["GET"]}, "allow": "anonymous"},
//!     {"match": {"path_glob": "/orders/*", "hosts": ["api.example.com"]},
//!      "require": {"jwt": "corp", "scopes": ["orders:read"]}}
//!   ],
//!   "rule_sets": {"admin": [{"match": {}, "require": {"api_key": {"ids": ["ops"]}}}]},
//!   "default": "deny"
//! }
//! ```
//!
//! A rule has a `match` (optional: missing or `{}` matches every request; path, method and host,
//! see [`crate::rule_match`]) and exactly one of `require` (a requirement, see [`crate::policy`]) or
//! `"allow": "anonymous"`, and optionally `"require_tls": true|false` (overriding
//! `transport.require_tls`, see [`crate::transport`]). A rule may also carry post-authentication checks ([`crate::check`]),
//! run on what its requirement granted; no JSON member names one yet.
//!
//! # Matching
//! Rules are tried in order; the **first match wins**. Paths are compared in their canonical form
//! ([`crate::path`]), which is also the form that goes upstream; case per `"path": {"case": ...}`
//! ([`crate::reading::CaseMatch`]: by default a request must satisfy both the rule its path matches
//! case-sensitively and the one it matches ASCII-case-insensitively, and both rules' checks run).
//!
//! # Rule sets and default
//! `rule_sets` are named rule lists selected by the Envoy route's metadata. With a rule set name, its
//! rules are tried first, then the top-level `rules`. A name that is not configured **denies** the
//! request (fail closed: a typo in route metadata must not open routes).
//! When no rule matches, `default` decides: `"deny"` (the default, 403 `no_matching_rule`) or
//! `"allow"` (anonymous access).
//! Without `rules`, a single implicit rule requires any configured credential (a valid API key if
//! `api_keys` is configured, or a valid token from any provider) on every path.

use crate::check::{Checks, RuleCheck};
use crate::config_error::ConfigError;
use crate::config_json::{At, FromJson};
use crate::credential::Configured;
use crate::policy::{self, Requirement, RequirementConfig};
use crate::reading::CaseMatch;
use crate::rule_match::{request_host, MatchConfig, RuleMatch};
use serde_json::Value;
use std::collections::BTreeMap;

/// What happens when no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultAction {
    #[default]
    Deny,
    Allow,
}

impl FromJson for DefaultAction {
    fn from_json(v: &Value, at: &At<'_>) -> Result<Self, ConfigError> {
        Ok(
            match crate::config_json::variant(v, at, &["deny", "allow"])? {
                0 => DefaultAction::Deny,
                _ => DefaultAction::Allow,
            },
        )
    }
}

/// JSON form of a rule.
#[derive(Debug)]
pub struct RuleConfig {
    name: Option<String>,
    cost: Option<u64>,
    matches: MatchConfig,
    require: Option<RequirementConfig>,
    allow: Option<String>,
    require_tls: Option<bool>,
}

from_json_struct!(RuleConfig {
    name,
    cost,
    matches as "match" = default,
    require,
    allow,
    require_tls,
});
#[derive(Debug, Clone, PartialEq)]
enum RuleAction {
    Require(Requirement),
    Anonymous,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    /// Published as `edgeguard_rule` (see [`crate::publish`]).
    name: Option<String>,
    /// Published as Envoy's `envoy.ratelimit.hits_addend` (see [`crate::publish`]).
    cost: Option<u32>,
    pattern: RuleMatch,
    action: RuleAction,
    /// Run, in order, once the action's requirement is met (see [`crate::check`]).
    checks: Checks,
    /// Overrides `transport.require_tls` (see [`crate::transport`]).
    require_tls: Option<bool>,
}

/// The validated rules.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTable {
    rules: Vec<Rule>,
    rule_sets: BTreeMap<String, Vec<Rule>>,
    default: DefaultAction,
    case: CaseMatch,
    /// Some configured path pattern has an uppercase letter (else an all-lowercase request path
    /// needs no second, case-folded match).
    upper_patterns: bool,
    /// Some rule has a `cost` (then every allowed request publishes one, see [`crate::publish`]).
    costs: bool,
}

/// What a request must satisfy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    Require(&'a Requirement),
    /// Two readings of the path (case-sensitive and case-folded) matched different rules: both
    /// requirements must hold.
    RequireBoth(&'a Requirement, &'a Requirement),
    Anonymous,
    /// No rule matched and the default is deny (or the route names an unknown rule set).
    Deny,
}

/// What a request must satisfy, and the checks it must pass once it does.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    pub action: Action<'a>,
    /// The checks of the rule that chose `action`, in order; of both rules, the case-sensitive
    /// reading's first, when the two readings of the path chose different rules. None for `Deny`.
    pub checks: Vec<&'a dyn RuleCheck>,
    /// The `name` and `cost` of the rule that chose `action`.
    pub rule: RuleTag<'a>,
    /// The rules' own `require_tls` (of both rules: `true` if either says so), overriding
    /// `transport.require_tls`; `None` when they do not say (or no rule matched).
    pub require_tls: Option<bool>,
}

/// What a rule adds to the published identity (see [`crate::publish`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleTag<'a> {
    /// The rule's `name` (the case-sensitive reading's, when the two readings of the path chose
    /// different rules).
    pub name: Option<&'a str>,
    /// The rule's `cost`, in rate-limit hits (the higher one, when the two readings chose
    /// different rules).
    pub cost: Option<u32>,
}

/// The largest `cost` of a rule (Envoy's `hits_addend` is a 32-bit count; a bucket is far smaller).
pub const MAX_COST: u32 = 1_000_000;

impl RuleTable {
    pub fn validate(
        rules: Option<Vec<RuleConfig>>,
        rule_sets: Option<BTreeMap<String, Vec<RuleConfig>>>,
        default: Option<DefaultAction>,
        known: Configured<'_>,
        case: CaseMatch,
    ) -> Result<RuleTable, ConfigError> {
        let rules = match rules {
            None => vec![implicit_rule(known)],
            Some(list) => validate_rules(list, "rules", known)?,
        };
        let mut sets = BTreeMap::new();
        for (name, list) in rule_sets.unwrap_or_default() {
            let field = format!("rule_sets.{name}");
            if name.is_empty() {
                return Err(ConfigError::new(
                    &field,
                    "a rule set name must not be empty",
                ));
            }
            sets.insert(name, validate_rules(list, &field, known)?);
        }
        let upper_patterns = rules
            .iter()
            .chain(sets.values().flatten())
            .any(|r| r.pattern.has_uppercase());
        let costs = rules
            .iter()
            .chain(sets.values().flatten())
            .any(|r| r.cost.is_some());
        Ok(RuleTable {
            rules,
            rule_sets: sets,
            default: default.unwrap_or_default(),
            case,
            upper_patterns,
            costs,
        })
    }

    /// Whether some rule has a `cost` (then every allowed request publishes one).
    pub fn has_costs(&self) -> bool {
        self.costs
    }

    /// Whether a rule set of that name is configured.
    /// True when any rule set is configured: only then is the route's metadata worth reading.
    pub fn uses_rule_sets(&self) -> bool {
        !self.rule_sets.is_empty()
    }

    pub fn has_rule_set(&self, name: &str) -> bool {
        self.rule_sets.contains_key(name)
    }

    /// Selects the action for a request (`path` canonical; `host` is the `:authority`).
    pub fn select(
        &self,
        method: &str,
        path: &str,
        host: &str,
        rule_set: Option<&str>,
    ) -> Action<'_> {
        self.selection(method, path, host, rule_set).action
    }

    /// Selects the action for a request and the checks that go with it (see [`Self::select`]).
    pub fn selection(
        &self,
        method: &str,
        path: &str,
        host: &str,
        rule_set: Option<&str>,
    ) -> Selection<'_> {
        self.select_in(method, path, host, rule_set, self.default)
    }

    fn select_in<'a>(
        &'a self,
        method: &str,
        path: &str,
        host: &str,
        rule_set: Option<&str>,
        default: DefaultAction,
    ) -> Selection<'a> {
        let first: &[Rule] = match rule_set {
            None => &[],
            Some(name) => match self.rule_sets.get(name) {
                Some(rules) => rules,
                None => return selection(Action::Deny, [None, None]),
            },
        };
        let host = request_host(host);
        let exact = || {
            first
                .iter()
                .chain(&self.rules)
                .find(|r| r.pattern.matches(method, false, path, &host))
        };
        let folded = || {
            let lower = path.to_ascii_lowercase();
            first
                .iter()
                .chain(&self.rules)
                .find(|r| r.pattern.matches(method, true, &lower, &host))
        };
        let one = |rule: Option<&'a Rule>| selection(action(rule, default), [rule, None]);
        match self.case {
            CaseMatch::Sensitive => one(exact()),
            CaseMatch::Insensitive => one(folded()),
            CaseMatch::Strict => {
                let a = exact();
                if !self.upper_patterns && !path.bytes().any(|b| b.is_ascii_uppercase()) {
                    return one(a);
                }
                let b = folded();
                match (a, b) {
                    (Some(x), Some(y)) if std::ptr::eq(x, y) => one(a),
                    _ => {
                        let both = match (action(a, default), action(b, default)) {
                            (Action::Deny, _) | (_, Action::Deny) => Action::Deny,
                            (Action::Anonymous, other) | (other, Action::Anonymous) => other,
                            (Action::Require(x), Action::Require(y)) if x == y => {
                                Action::Require(x)
                            }
                            (Action::Require(x), Action::Require(y)) => Action::RequireBoth(x, y),
                            // `action` never returns `RequireBoth`.
                            _ => Action::Deny,
                        };
                        selection(both, [a, b])
                    }
                }
            }
        }
    }

    /// Whether explicit rules (not the default) decide the request in every case reading.
    pub fn has_rule(&self, method: &str, path: &str, host: &str, rule_set: Option<&str>) -> bool {
        !matches!(
            self.select_in(method, path, host, rule_set, DefaultAction::Deny)
                .action,
            Action::Deny
        )
    }
}

/// What a matched rule (or, without one, the default) asks for.
fn action(rule: Option<&Rule>, default: DefaultAction) -> Action<'_> {
    match rule.map(|r| &r.action) {
        Some(RuleAction::Require(req)) => Action::Require(req),
        Some(RuleAction::Anonymous) => Action::Anonymous,
        None if default == DefaultAction::Allow => Action::Anonymous,
        None => Action::Deny,
    }
}

/// `action` with the checks of the rules that chose it (none for `Deny`).
fn selection<'a>(action: Action<'a>, rules: [Option<&'a Rule>; 2]) -> Selection<'a> {
    let checks = match action {
        Action::Deny => Vec::new(),
        _ => rules
            .into_iter()
            .flatten()
            .flat_map(|r| r.checks.iter())
            .collect(),
    };
    let rule = RuleTag {
        name: rules.into_iter().flatten().find_map(|r| r.name.as_deref()),
        cost: rules.into_iter().flatten().filter_map(|r| r.cost).max(),
    };
    let require_tls = rules
        .into_iter()
        .flatten()
        .filter_map(|r| r.require_tls)
        .reduce(|a, b| a || b);
    Selection {
        action,
        checks,
        rule,
        require_tls,
    }
}

/// Without `rules`: any configured credential, on every request.
fn implicit_rule(known: Configured<'_>) -> Rule {
    Rule {
        name: None,
        cost: None,
        pattern: RuleMatch::any(),
        action: RuleAction::Require(policy::any_configured(known)),
        checks: Checks::default(),
        require_tls: None,
    }
}

fn validate_rules(
    list: Vec<RuleConfig>,
    field: &str,
    known: Configured<'_>,
) -> Result<Vec<Rule>, ConfigError> {
    list.into_iter()
        .enumerate()
        .map(|(i, r)| r.validate(&format!("{field}[{i}]"), known))
        .collect()
}

impl RuleConfig {
    fn validate(self, field: &str, known: Configured<'_>) -> Result<Rule, ConfigError> {
        let action = match (self.require, self.allow) {
            (Some(req), None) => {
                RuleAction::Require(req.validate(&format!("{field}.require"), known)?)
            }
            (None, Some(a)) if a == "anonymous" => RuleAction::Anonymous,
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    &format!("{field}.allow"),
                    "the only accepted value is \"anonymous\"",
                ))
            }
            _ => {
                return Err(ConfigError::new(
                    field,
                    "needs exactly one of \"require\" or \"allow\"",
                ))
            }
        };
        if let Some(n) = &self.name {
            if !crate::plan::is_plan_name(n) {
                return Err(ConfigError::new(
                    &format!("{field}.name"),
                    "rule names use 1-64 letters, digits, '.', '_', ':' and '-'",
                ));
            }
        }
        let cost = match self.cost {
            None => None,
            Some(c) => match u32::try_from(c) {
                Ok(c) if (1..=MAX_COST).contains(&c) => Some(c),
                _ => {
                    return Err(ConfigError::new(
                        &format!("{field}.cost"),
                        format!("a whole number of rate-limit hits, 1 to {MAX_COST}"),
                    ))
                }
            },
        };
        Ok(Rule {
            name: self.name,
            cost,
            pattern: self.matches.validate(&format!("{field}.match"))?,
            action,
            checks: Checks::default(),
            require_tls: self.require_tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::api_key::{ApiKeys, ApiKeysConfig};
    use crate::credential::requirement::CredentialRequirement;
    use crate::credential::Kind;
    use crate::jwt::jwk::KeySet;
    use crate::path;
    use crate::provider::{JwksSource, Provider};
    use serde_json::{json, Value};

    impl RuleTable {
        /// Appends a check to the top-level rule at `index`: no JSON member names a check yet.
        pub(crate) fn add_check(&mut self, index: usize, check: std::rc::Rc<dyn RuleCheck>) {
            if let Some(rule) = self.rules.get_mut(index) {
                rule.checks.push(check);
            }
        }
    }

    fn providers() -> BTreeMap<String, Provider> {
        ["a", "b"]
            .into_iter()
            .map(|n| {
                let p = Provider::new(
                    n,
                    &format!("https://{n}.example"),
                    JwksSource::Inline(KeySet::default()),
                );
                (n.to_string(), p)
            })
            .collect()
    }

    fn build(v: Value, api_keys: bool) -> Result<RuleTable, ConfigError> {
        let p = providers();
        let keys: ApiKeys =
            crate::config_json::parse::<ApiKeysConfig>(br#"{"keys": []}"#)?.validate("api_keys")?;
        let known = Configured {
            providers: &p,
            api_keys: api_keys.then_some(&keys),
            basic_auth: None,
        };
        let at = At::Root;
        let rules = match v.get("rules") {
            Some(r) => Some(FromJson::from_json(r, &at.key("rules"))?),
            None => None,
        };
        let sets = match v.get("rule_sets") {
            Some(r) => Some(FromJson::from_json(r, &at.key("rule_sets"))?),
            None => None,
        };
        let default = match v.get("default") {
            Some(r) => Some(FromJson::from_json(r, &at.key("default"))?),
            None => None,
        };
        let case = match v.get("case") {
            Some(c) => FromJson::from_json(c, &at.key("case"))?,
            None => CaseMatch::default(),
        };
        RuleTable::validate(rules, sets, default, known, case)
    }

    fn policy(v: Value) -> RuleTable {
        match build(v.clone(), true) {
            Ok(p) => p,
            Err(e) => unreachable!("{v}: {e}"),
        }
    }

    /// A rule that requires a token of provider `a` with scope `tag`, to recognise which rule matched.
    fn tagged(m: Value, tag: &str) -> Value {
        json!({"match": m, "require": {"jwt": "a", "scopes": [tag]}})
    }

    /// `"anonymous"`, `"deny"` or the tag of the matched rule.
    fn describe(a: Action<'_>) -> String {
        match a {
            Action::Anonymous => "anonymous".into(),
            Action::Deny => "deny".into(),
            Action::Require(Requirement::Credential(CredentialRequirement {
                kind: Kind::Jwt,
                scopes,
                ..
            })) => scopes.first().cloned().unwrap_or_default(),
            Action::Require(r) => format!("{r:?}"),
            Action::RequireBoth(a, b) => format!(
                "{} + {}",
                describe(Action::Require(a)),
                describe(Action::Require(b))
            ),
        }
    }

    /// Canonicalizes like the engine in rewrite mode, then selects.
    fn sel(p: &RuleTable, method: &str, raw_path: &str, host: &str, set: Option<&str>) -> String {
        match path::canonicalize(raw_path) {
            Ok(n) => describe(p.select(method, &n, host, set)),
            Err(_) => "bad_path".into(),
        }
    }

    #[test]
    fn path_matchers() {
        let p = policy(json!({"rules": [
            tagged(json!({"path_exact": "/orders/export"}), "exact"),
            tagged(json!({"path_glob": "/orders/*/items"}), "glob1"),
            tagged(json!({"path_glob": "/files/*.json"}), "json"),
            tagged(json!({"path_glob": "/docs/**/secret"}), "glob2"),
            tagged(json!({"path_glob": "/reports/**"}), "reports"),
            tagged(json!({"path_prefix": "/orders"}), "orders"),
            tagged(json!({"path_prefix": "/admin/"}), "admin"),
            tagged(json!({"path_glob": "/users/*"}), "user"),
            {"match": {"path_prefix": "/public"}, "allow": "anonymous"},
            {"match": {"path_exact": "/"}, "allow": "anonymous"},
        ]}));
        let cases = [
            ("/orders/export", "exact"),
            ("/orders/export/", "exact"),
            ("/orders/export/1", "orders"),
            ("/orders/1/items", "glob1"),
            ("/orders/1/items/", "glob1"),
            ("/orders/1/items/2", "orders"),
            ("/orders", "orders"),
            ("/orders/", "orders"),
            ("/orders/1", "orders"),
            ("/ordersadmin", "deny"),
            ("/orders-x", "deny"),
            ("/admin", "admin"),
            ("/admin/", "admin"),
            ("/admin/users", "admin"),
            ("/administrator", "deny"),
            ("/files/a.json", "json"),
            ("/files/.json", "json"),
            ("/files/a.json.bak", "deny"),
            ("/files/a/b.json", "deny"),
            ("/docs/secret", "glob2"),
            ("/docs/a/b/c/secret", "glob2"),
            ("/docs/a/secret/x", "deny"),
            ("/reports", "reports"),
            ("/reports/2024/q1", "reports"),
            ("/users/1", "user"),
            ("/users", "deny"),
            ("/users/1/keys", "deny"),
            ("/public", "anonymous"),
            ("/public/x", "anonymous"),
            ("/", "anonymous"),
            ("/nothing", "deny"),
            // bypass attempts are refused or canonical before matching
            ("/public/../admin", "admin"),
            ("/public/..;/admin", "bad_path"),
            ("/public/%2e%2e/admin", "admin"),
            ("//admin", "admin"),
            ("/./admin", "admin"),
            ("/%61dmin", "admin"),
            ("/admin;x=1", "bad_path"),
            ("/public%2f..%2fadmin", "bad_path"),
            ("/public/../../admin", "bad_path"),
            ("/public\\..\\admin", "bad_path"),
            // case-sensitive
            ("/ADMIN", "deny"),
            ("/Public", "deny"),
        ];
        for (path, want) in cases {
            assert_eq!(sel(&p, "GET", path, "h", None), want, "{path}");
        }
    }

    #[test]
    fn case_readings() {
        let rules = json!([
            tagged(json!({"path_prefix": "/admin"}), "admin"),
            tagged(json!({"path_prefix": "/Reports"}), "reports"),
            {"match": {"path_prefix": "/public"}, "allow": "anonymous"},
            tagged(json!({}), "rest"),
        ]);
        let strict = policy(json!({"rules": rules, "default": "allow"}));
        let insensitive = policy(json!({"rules": rules, "case": "insensitive"}));
        let sensitive = policy(json!({"rules": rules, "case": "sensitive"}));
        for (path, s, i, c) in [
            ("/admin/x", "admin", "admin", "admin"),
            ("/ADMIN/users", "rest + admin", "admin", "rest"),
            ("/Admin", "rest + admin", "admin", "rest"),
            ("/public/x", "anonymous", "anonymous", "anonymous"),
            // a case-sensitive reader sends /PUBLIC to whatever serves the rest
            ("/PUBLIC/x", "rest", "anonymous", "rest"),
            ("/Reports/q1", "reports", "reports", "reports"),
            ("/reports/q1", "rest + reports", "reports", "rest"),
        ] {
            assert_eq!(sel(&strict, "GET", path, "h", None), s, "strict {path}");
            assert_eq!(
                sel(&insensitive, "GET", path, "h", None),
                i,
                "insensitive {path}"
            );
            assert_eq!(
                sel(&sensitive, "GET", path, "h", None),
                c,
                "sensitive {path}"
            );
        }
        let deny_default = policy(json!({"rules": [
            {"match": {"path_prefix": "/public"}, "allow": "anonymous"}
        ]}));
        assert_eq!(sel(&deny_default, "GET", "/Public", "h", None), "deny");
        assert!(deny_default.has_rule("GET", "/public/a", "h", None));
        assert!(!deny_default.has_rule("GET", "/other", "h", None));
    }

    #[test]
    fn methods_hosts_and_order() {
        let p = policy(json!({"rules": [
            tagged(json!({"path_prefix": "/orders", "methods": ["post", "Delete"]}), "write"),
            tagged(json!({"path_prefix": "/orders", "hosts": ["api.example.com"]}), "api"),
            tagged(json!({"hosts": ["*.internal.example"]}), "internal"),
            tagged(json!({"path_prefix": "/orders"}), "read"),
            tagged(json!({}), "catch-all"),
            tagged(json!({"path_prefix": "/never"}), "shadowed"),
        ]}));
        let cases = [
            ("POST", "/orders", "x", "write"),
            ("post", "/orders", "x", "write"),
            ("DELETE", "/orders/1", "api.example.com", "write"),
            ("GET", "/orders", "api.example.com", "api"),
            ("GET", "/orders", "API.Example.COM", "api"),
            ("GET", "/orders", "api.example.com:8443", "api"),
            ("GET", "/orders", "api.example.com.", "api"),
            ("GET", "/orders", "api.example.com.:443", "api"),
            ("GET", "/orders", "api.example.com.evil", "read"),
            ("GET", "/orders", "xapi.example.com", "read"),
            ("GET", "/x", "svc.internal.example", "internal"),
            ("GET", "/x", "a.b.internal.example:80", "internal"),
            ("GET", "/x", "internal.example", "catch-all"),
            ("GET", "/x", "evilinternal.example", "catch-all"),
            ("GET", "/orders", "[::1]:8080", "read"),
            ("PATCH", "/orders", "x", "read"),
            ("GET", "/never", "x", "catch-all"),
        ];
        for (m, path, host, want) in cases {
            assert_eq!(sel(&p, m, path, host, None), want, "{m} {path} {host}");
        }
    }

    #[test]
    fn rule_sets_and_default() {
        let v = json!({
            "rules": [
                tagged(json!({"path_prefix": "/orders"}), "top"),
                {"match": {"path_prefix": "/health"}, "allow": "anonymous"},
            ],
            "rule_sets": {
                "admin": [tagged(json!({"path_prefix": "/orders"}), "admin-orders")],
                "open": [{"match": {"path_prefix": "/orders", "methods": ["GET"]}, "allow": "anonymous"}],
                "empty": [],
            },
        });
        let p = policy(v.clone());
        let cases = [
            (None, "/orders", "top"),
            (Some("admin"), "/orders", "admin-orders"),
            (Some("admin"), "/health", "anonymous"),
            (Some("admin"), "/other", "deny"),
            (Some("open"), "/orders", "anonymous"),
            (Some("empty"), "/orders", "top"),
            // unknown rule set: fail closed
            (Some("nope"), "/health", "deny"),
            (Some(""), "/health", "deny"),
            (None, "/other", "deny"),
        ];
        for (set, path, want) in cases {
            assert_eq!(sel(&p, "GET", path, "h", set), want, "{set:?} {path}");
        }
        assert!(p.has_rule_set("admin") && !p.has_rule_set("nope"));
        let mut allow = v;
        if let Some(o) = allow.as_object_mut() {
            o.insert("default".into(), json!("allow"));
        }
        let p = policy(allow);
        assert_eq!(sel(&p, "GET", "/other", "h", None), "anonymous");
        assert_eq!(sel(&p, "GET", "/other", "h", Some("admin")), "anonymous");
        assert_eq!(sel(&p, "GET", "/other", "h", Some("nope")), "deny");
        let p = policy(json!({"rules": [], "default": "deny"}));
        assert_eq!(sel(&p, "GET", "/", "h", None), "deny");
    }

    #[test]
    fn implicit_rule_requires_any_credential() {
        let leaf = |kind, source: Option<&str>| {
            Requirement::Credential(CredentialRequirement::any(kind, source.map(str::to_string)))
        };
        let want_all = Requirement::Any(vec![
            leaf(Kind::ApiKey, None),
            leaf(Kind::Jwt, Some("a")),
            leaf(Kind::Jwt, Some("b")),
        ]);
        let p = policy(json!({"default": "allow"}));
        for path in ["/", "/x/y"] {
            assert_eq!(p.select("GET", path, "h", None), Action::Require(&want_all));
        }
        let p = build(json!({}), false);
        let want_jwt =
            Requirement::Any(vec![leaf(Kind::Jwt, Some("a")), leaf(Kind::Jwt, Some("b"))]);
        assert_eq!(
            p.map(|p| p.select("GET", "/", "h", None) == Action::Require(&want_jwt)),
            Ok(true)
        );
        // rule sets still go first
        let p = policy(json!({"rule_sets": {"s": [{"allow": "anonymous"}]}}));
        assert_eq!(p.select("GET", "/", "h", Some("s")), Action::Anonymous);
    }

    #[test]
    fn config_errors_name_the_field() {
        let a = json!({"jwt": "a"});
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!({"rules": [{"match": {}}]}), "rules[0]", "exactly one"),
            (
                json!({"rules": [{"allow": "anonymous", "cost": 0}]}),
                "rules[0].cost",
                "1 to 1000000",
            ),
            (
                json!({"rules": [{"allow": "anonymous", "cost": 1000001}]}),
                "rules[0].cost",
                "1 to 1000000",
            ),
            (
                json!({"rules": [{"match": {}, "require": a, "allow": "anonymous"}]}),
                "rules[0]",
                "exactly one",
            ),
            (
                json!({"rules": [{"allow": "everyone"}]}),
                "rules[0].allow",
                "anonymous",
            ),
            (
                json!({"rules": [{"allow": "anonymous"}, {"match": {"path_prefix": "/a", "path_exact": "/a"}, "require": a}]}),
                "rules[1].match",
                "at most one",
            ),
            (
                json!({"rules": [{"match": {"path_prefix": "orders"}, "require": a}]}),
                "rules[0].match.path_prefix",
                "'/'",
            ),
            (
                json!({"rules": [{"match": {"path_prefix": "/a/../b"}, "require": a}]}),
                "rules[0].match.path_prefix",
                "\"/b\"",
            ),
            (
                json!({"rules": [{"match": {"path_exact": "//a"}, "require": a}]}),
                "rules[0].match.path_exact",
                "\"/a\"",
            ),
            (
                json!({"rules": [{"match": {"path_exact": "/a%2fb"}, "require": a}]}),
                "rules[0].match.path_exact",
                "canonical",
            ),
            (
                json!({"rules": [{"match": {"path_glob": "/a/**b"}, "require": a}]}),
                "rules[0].match.path_glob",
                "whole segment",
            ),
            (
                json!({"rules": [{"match": {"path_glob": "/a;x/*"}, "require": a}]}),
                "rules[0].match.path_glob",
                "canonical",
            ),
            (
                json!({"rules": [{"match": {"methods": []}, "require": a}]}),
                "rules[0].match.methods",
                "at least one",
            ),
            (
                json!({"rules": [{"match": {"methods": ["GET", "G T"]}, "require": a}]}),
                "rules[0].match.methods[1]",
                "method",
            ),
            (
                json!({"rules": [{"match": {"hosts": []}, "require": a}]}),
                "rules[0].match.hosts",
                "at least one",
            ),
            (
                json!({"rules": [{"match": {"hosts": ["api.example.com:443"]}, "require": a}]}),
                "rules[0].match.hosts[0]",
                "port",
            ),
            (
                json!({"rules": [{"match": {"hosts": ["a.*.com"]}, "require": a}]}),
                "rules[0].match.hosts[0]",
                "host",
            ),
            (
                json!({"rules": [{"match": {"hosts": ["*"]}, "require": a}]}),
                "rules[0].match.hosts[0]",
                "host",
            ),
            (
                json!({"rules": [{"allow": "anonymous"}, {"allow": "anonymous"}, {"require": {"all": [a, {"jwt": "zz"}]}}]}),
                "rules[2].require.all[1].jwt",
                "unknown provider",
            ),
            (
                json!({"rule_sets": {"admin": [{"allow": "anonymous"}, {"require": {"api_key": {"ids": []}}}]}}),
                "rule_sets.admin[1].require.api_key.ids",
                "at least one",
            ),
            (json!({"rule_sets": {"": []}}), "rule_sets.", "empty"),
        ];
        for (v, field, problem) in cases {
            match build(v.clone(), true) {
                Ok(p) => unreachable!("{v} accepted as {p:?}"),
                Err(e) => {
                    assert_eq!(e.field, field, "{v}: {e}");
                    assert!(e.problem.contains(problem), "{v}: {e}");
                }
            }
        }
        // api_key requirements need an api_keys section
        let e = build(json!({"rules": [{"require": {"api_key": {}}}]}), false).err();
        assert_eq!(
            e.map(|e| e.field),
            Some("rules[0].require.api_key".to_string())
        );
        // unknown fields are refused by serde
        assert!(build(
            json!({"rules": [{"match": {"path": "/a"}, "require": a}]}),
            true
        )
        .is_err());
        assert!(build(json!({"default": "maybe"}), true).is_err());
    }

    #[test]
    fn errors_through_the_config_parser() {
        let parse = |rules: Value| {
            let remote = json!({"remote": {"cluster": "c", "authority": "a", "path": "/j"}});
            let doc = json!({"providers": {"a": {"issuer": "https://a.example", "jwks": remote}}, "rules": rules});
            crate::config::Config::parse(doc.to_string().as_bytes())
                .err()
                .map(|e| e.field)
        };
        let a = json!({"jwt": "a"});
        assert_eq!(
            parse(json!([{"require": a}, {"require": {"any": [a, {"jwt": "b"}]}}])),
            Some("rules[1].require.any[1].jwt".into())
        );
        assert_eq!(
            parse(json!([{"match": {"path": "/x"}, "require": a}])),
            Some("rules[0].match.path".into())
        );
        assert_eq!(
            parse(json!([{"require": {"jwt": "a", "scope": ["x"]}}])),
            Some("rules[0].require.scope".into())
        );
        assert_eq!(
            parse(json!([{"match": {"path_glob": "/a/*"}, "require": a}])),
            None
        );
    }
}
