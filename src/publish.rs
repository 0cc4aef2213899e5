//! Who the caller is, published after every allow (report mode too) for what runs after edgeguard
//! in Envoy: rate-limit descriptors (`envoy.rate_limit_descriptors.expr` reading
//! `filter_state['wasm.edgeguard_plan']`), access logs (`%FILTER_STATE(wasm.edgeguard_plan:PLAIN)%`).
//!
//! After an allow, six values (seven with rule costs), after a denial the decision and reason; each written with the host's `set_property([name], value)`, which Envoy stores as
//! the filter state `wasm.<name>` of the request:
//!
//! | name | value |
//! |---|---|
//! | `edgeguard_auth_method` | `anonymous`, `api_key`, `jwt`, `introspection`, `basic`; for several credentials (`all`) their methods joined with `+` in a fixed order (`api_key+jwt`) |
//! | `edgeguard_principal` | `anonymous`, `api_key:<id>`, `jwt:<provider>:<sub>`, `introspection:<provider>:<sub>`, `basic:<user name>`; for several, joined with `+` in the same order |
//! | `edgeguard_plan` | the caller's plan ([`crate::plan`]) |
//! | `edgeguard_rule` | the `name` of the rule that allowed the request; empty when it has none |
//! | `edgeguard_decision` | `allow`, `deny`, `would_deny` (report mode) — set on denials too, with the reason ([`verdict`]) |
//! | `edgeguard_reason` | the reason code of a denial or would-be denial; unset on an allow |
//! | `edgeguard_cost` | the request's cost in rate-limit hits: the rule's `cost`, else `1`; set only when some rule has a `cost` (for a descriptor's `hits_addend: {format: "%FILTER_STATE(wasm.edgeguard_cost:PLAIN)%"}`) |
//!
//! Values are bounded and hold ids and subjects only, never a credential. A subject is used as is
//! when it is 1–256 printable ASCII characters without `+` and not starting with `~`; any other
//! subject (too long, control characters, non-ASCII) becomes `~` and 16 hex digits of its SHA-256
//! (one bucket per subject still, nothing unbounded or unprintable in a descriptor); a token without
//! `sub` is `~`.

use crate::credential::{Identity, Kind};
use crate::plan::Plans;
use crate::reason::Reason;

/// Filter-state names (single segments: the host path of one property).
pub const AUTH_METHOD: &str = "edgeguard_auth_method";
pub const PRINCIPAL: &str = "edgeguard_principal";
pub const PLAN: &str = "edgeguard_plan";
pub const RULE: &str = "edgeguard_rule";
pub const COST: &str = "edgeguard_cost";
/// `allow`, `deny`, or `would_deny` (report mode); set on every request edgeguard decides.
pub const DECISION: &str = "edgeguard_decision";
/// The reason code of a denial or would-be denial ([`crate::reason`]); unset on an allow.
pub const REASON: &str = "edgeguard_reason";

/// The `edgeguard_decision` and `edgeguard_reason` values of a decided request: `denied` is the
/// reason it was (or, with `enforced` false, would have been) denied for.
pub fn verdict(denied: Option<Reason>, enforced: bool) -> (&'static str, Option<&'static str>) {
    match (denied, enforced) {
        (None, _) => ("allow", None),
        (Some(r), true) => ("deny", Some(r.code())),
        (Some(r), false) => ("would_deny", Some(r.code())),
    }
}

/// Longest subject used as is in a principal.
pub const MAX_SUBJECT_BYTES: usize = 256;

/// What an allowed request publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub method: String,
    pub principal: String,
    pub plan: String,
    pub rule: String,
    /// The request's cost in rate-limit hits (its rule's `cost`, else 1), published only when some
    /// rule of the configuration has a `cost`: what a descriptor's `hits_addend` format reads.
    pub cost: Option<u32>,
}

impl Published {
    /// What a request allowed with `identities` (none: anonymous) by the rule named `rule`
    /// publishes.
    pub fn of(identities: &[Identity], plans: &Plans, rule: Option<&str>) -> Published {
        let rule = rule.unwrap_or_default().to_string();
        if identities.is_empty() {
            return Published {
                method: "anonymous".into(),
                principal: "anonymous".into(),
                plan: plans.resolve(None, "anonymous").to_string(),
                rule,
                cost: None,
            };
        }
        // A fixed order (kind, then source), by insertion: there are a handful at most, and a
        // library sort would add ≈ 9 KB of wasm for this element type.
        let mut ids: Vec<&Identity> = Vec::with_capacity(identities.len());
        for id in identities {
            let key = (id.kind, &id.source);
            let at = ids
                .iter()
                .position(|o| (o.kind, &o.source) > key)
                .unwrap_or(ids.len());
            ids.insert(at, id);
        }
        let methods: Vec<&str> = ids.iter().map(|i| i.method.name()).collect();
        let principal: Vec<String> = ids.iter().map(|i| principal(i)).collect();
        let own: Vec<(Option<&str>, &str)> = ids
            .iter()
            .zip(&methods)
            .map(|(i, m)| (i.plan.as_deref(), *m))
            .collect();
        Published {
            method: methods.join("+"),
            principal: principal.join("+"),
            plan: plans.resolve_all(&own).to_string(),
            rule,
            cost: None,
        }
    }

    /// The `(filter-state name, value)` pairs to set.
    pub fn properties(&self) -> [(&'static str, &str); 4] {
        [
            (AUTH_METHOD, self.method.as_str()),
            (PRINCIPAL, self.principal.as_str()),
            (PLAN, self.plan.as_str()),
            (RULE, self.rule.as_str()),
        ]
    }

    /// The `edgeguard_cost` value to set, if any.
    pub fn cost_property(&self) -> Option<(&'static str, String)> {
        self.cost.map(|c| (COST, c.to_string()))
    }
}

fn principal(id: &Identity) -> String {
    match id.kind {
        Kind::ApiKey => format!("api_key:{}", id.key_id.as_deref().unwrap_or("~")),
        Kind::Basic => format!("basic:{}", subject_part(id.subject.as_deref())),
        Kind::Jwt => format!(
            "{}:{}:{}",
            id.method.name(),
            id.source.as_deref().unwrap_or("~"),
            subject_part(id.subject.as_deref())
        ),
    }
}

/// A subject as it may appear in a principal (see the module documentation).
fn subject_part(sub: Option<&str>) -> String {
    let Some(sub) = sub else {
        return "~".into();
    };
    let verbatim = (1..=MAX_SUBJECT_BYTES).contains(&sub.len())
        && !sub.starts_with('~')
        && sub.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'+');
    if verbatim {
        return sub.to_string();
    }
    let digest = hmac_sha256::Hash::hash(sub.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("~{hex}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config_json::{At, FromJson};
    use crate::plan::PlansConfig;
    use serde_json::json;

    fn plans() -> Plans {
        let v = json!({"default": "standard",
            "by_method": {"anonymous": "anonymous", "api_key": "partner", "jwt": "user"},
            "names": ["anonymous", "standard", "partner", "user", "gold"]});
        PlansConfig::from_json(&v, &At::Root)
            .unwrap()
            .validate("plans")
            .unwrap()
    }

    fn key(id: &str, plan: Option<&str>) -> Identity {
        Identity {
            kind: Kind::ApiKey,
            method: crate::credential::Method::ApiKey,
            source: None,
            subject: None,
            key_id: Some(id.into()),
            client_id: None,
            scopes: vec![],
            claims: None,
            plan: plan.map(Box::from),
        }
    }

    fn jwt(provider: &str, sub: Option<&str>, plan: Option<&str>) -> Identity {
        Identity {
            kind: Kind::Jwt,
            method: crate::credential::Method::Jwt,
            source: Some(provider.into()),
            subject: sub.map(str::to_string),
            key_id: None,
            client_id: None,
            scopes: vec![],
            claims: None,
            plan: plan.map(Box::from),
        }
    }

    #[test]
    fn each_method_and_all() {
        let p = plans();
        let anon = Published::of(&[], &p, Some("public"));
        assert_eq!(
            (
                anon.method.as_str(),
                anon.principal.as_str(),
                anon.plan.as_str(),
                anon.rule.as_str()
            ),
            ("anonymous", "anonymous", "anonymous", "public")
        );
        let k = Published::of(&[key("ios-app", None)], &p, None);
        assert_eq!(
            (k.principal.as_str(), k.plan.as_str(), k.rule.as_str()),
            ("api_key:ios-app", "partner", "")
        );
        let g = Published::of(&[key("ios-app", Some("gold"))], &p, None);
        assert_eq!(g.plan, "gold");
        let j = Published::of(&[jwt("idp", Some("alice"), None)], &p, None);
        assert_eq!(
            (j.method.as_str(), j.principal.as_str(), j.plan.as_str()),
            ("jwt", "jwt:idp:alice", "user")
        );
        // `all`: a fixed order whatever the order of the identities; the first own plan wins
        let both = Published::of(
            &[
                jwt("idp", Some("alice"), Some("gold")),
                key("ios-app", None),
            ],
            &p,
            None,
        );
        assert_eq!(both.method, "api_key+jwt");
        assert_eq!(both.principal, "api_key:ios-app+jwt:idp:alice");
        assert_eq!(both.plan, "gold");
        let neither = Published::of(&[jwt("idp", Some("a"), None), key("k", None)], &p, None);
        assert_eq!(neither.plan, "partner", "the first method with a plan");
        // a provider's opaque token, vouched for by its authorization server
        let mut opaque = jwt("as", Some("svc-7"), None);
        opaque.method = crate::credential::Method::Introspection;
        let i = Published::of(&[opaque], &p, None);
        assert_eq!(
            (i.method.as_str(), i.principal.as_str(), i.plan.as_str()),
            ("introspection", "introspection:as:svc-7", "standard"),
            "no by_method entry for introspection: the default"
        );
    }

    #[test]
    fn odd_subjects_become_bounded_digests() {
        let p = plans();
        let principal =
            |sub: Option<&str>| Published::of(&[jwt("idp", sub, None)], &p, None).principal;
        assert_eq!(principal(Some("auth0|123:x")), "jwt:idp:auth0|123:x");
        for odd in ["a\nb", "a b", "é", "a+b", "~abc", ""] {
            let got = principal(Some(odd));
            assert!(
                got.starts_with("jwt:idp:~") && got.len() == "jwt:idp:~".len() + 16,
                "{odd:?}: {got}"
            );
        }
        let long = "x".repeat(MAX_SUBJECT_BYTES + 1);
        assert_eq!(principal(Some(&long)).len(), "jwt:idp:~".len() + 16);
        assert_ne!(
            principal(Some("a b")),
            principal(Some("a  b")),
            "one bucket per subject"
        );
        assert_eq!(principal(None), "jwt:idp:~");
    }
}
