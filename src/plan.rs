//! Plans: the name of the throttling tier a caller is on, resolved after authentication and
//! published for Envoy's rate limiters (see [`crate::publish`]).
//!
//! ```json
//! "plans": {"default": "standard",
//!           "by_method": {"anonymous": "anonymous", "api_key": "partner", "jwt": "user"},
//!           "names": ["anonymous", "standard", "partner", "user", "gold"]}
//! ```
//! Resolution: the credential's own plan (an API key's `plan`, a JWT provider's `plan_claim`) →
//! `by_method` of the request's method → `default`. Every plan named anywhere must be in `names`;
//! names use the charset of key ids. Without a `plans` section every caller is on plan `default`.

use crate::config_error::ConfigError;
use crate::credential::Method;
use std::collections::BTreeMap;

/// The plan of every caller when no `plans` section is configured.
pub const DEFAULT_PLAN: &str = "default";

/// The methods `by_method` may name: `anonymous` and each credential [`Method`]'s name.
pub fn is_method(name: &str) -> bool {
    name == "anonymous" || Method::ALL.iter().any(|m| m.name() == name)
}

/// JSON form of `plans`.
#[derive(Debug)]
pub struct PlansConfig {
    default: Option<String>,
    by_method: Option<BTreeMap<String, String>>,
    names: Vec<String>,
}

from_json_struct!(PlansConfig {
    default,
    by_method,
    names
});

/// The validated `plans`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans {
    default: String,
    by_method: BTreeMap<String, String>,
    names: Vec<String>,
}

impl Default for Plans {
    fn default() -> Self {
        Plans {
            default: DEFAULT_PLAN.to_string(),
            by_method: BTreeMap::new(),
            names: vec![DEFAULT_PLAN.to_string()],
        }
    }
}

/// A plan (or rule) name: 1–64 of `A–Z a–z 0–9 . _ : -` (the charset of key ids).
pub fn is_plan_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl PlansConfig {
    pub fn validate(self, field: &str) -> Result<Plans, ConfigError> {
        let f = |sub: &str| format!("{field}.{sub}");
        if self.names.is_empty() {
            return Err(ConfigError::new(&f("names"), "must list at least one plan"));
        }
        for (i, n) in self.names.iter().enumerate() {
            if !is_plan_name(n) {
                return Err(ConfigError::new(
                    &f(&format!("names[{i}]")),
                    "plan names use 1-64 letters, digits, '.', '_', ':' and '-'",
                ));
            }
            if self
                .names
                .get(..i)
                .is_some_and(|earlier| earlier.contains(n))
            {
                return Err(ConfigError::new(
                    &f(&format!("names[{i}]")),
                    format!("duplicate plan {n:?}"),
                ));
            }
        }
        let known = |plan: &str, at: &str| {
            if self.names.iter().any(|n| n == plan) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    at,
                    format!("plan {plan:?} is not in {}", f("names")),
                ))
            }
        };
        let default = self.default.unwrap_or_else(|| DEFAULT_PLAN.to_string());
        known(&default, &f("default"))?;
        let by_method = self.by_method.unwrap_or_default();
        for (method, plan) in &by_method {
            let at = f(&format!("by_method.{method}"));
            if !is_method(method) {
                let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                return Err(ConfigError::new(
                    &at,
                    format!("unknown method; expected anonymous, {}", names.join(", ")),
                ));
            }
            known(plan, &at)?;
        }
        Ok(Plans {
            default,
            by_method,
            names: self.names,
        })
    }
}

impl Plans {
    /// Whether `plan` is one of `names` (a credential's own plan must be).
    pub fn contains(&self, plan: &str) -> bool {
        self.names.iter().any(|n| n == plan)
    }

    /// Refuses a plan not in `names` (for the sections that name plans: keys, providers).
    pub fn check(&self, plan: &str, field: &str) -> Result<(), ConfigError> {
        if self.contains(plan) {
            Ok(())
        } else {
            Err(ConfigError::new(
                field,
                format!("plan {plan:?} is not in plans.names"),
            ))
        }
    }

    /// The plan of a caller: its credential's own plan, else the plan of its `method`, else the
    /// default.
    pub fn resolve<'a>(&'a self, own: Option<&'a str>, method: &str) -> &'a str {
        self.resolve_all(&[(own, method)])
    }

    /// The plan of a caller that presented several credentials (an `all` requirement), given as
    /// `(own plan, method)` in a fixed order: the first own plan, else the first method with a
    /// plan, else the default.
    pub fn resolve_all<'a>(&'a self, credentials: &[(Option<&'a str>, &str)]) -> &'a str {
        credentials
            .iter()
            .find_map(|(own, _)| own.filter(|p| self.contains(p)))
            .or_else(|| {
                credentials
                    .iter()
                    .find_map(|(_, m)| self.by_method.get(*m).map(String::as_str))
            })
            .unwrap_or(&self.default)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config_json::{At, FromJson};
    use serde_json::json;

    fn plans(v: serde_json::Value) -> Result<Plans, ConfigError> {
        PlansConfig::from_json(&v, &At::Root)?.validate("plans")
    }

    #[test]
    fn own_plan_then_method_then_default() {
        let p = plans(json!({"default": "standard",
            "by_method": {"anonymous": "anonymous", "api_key": "partner"},
            "names": ["anonymous", "standard", "partner", "gold"]}))
        .unwrap();
        assert_eq!(p.resolve(Some("gold"), "api_key"), "gold");
        assert_eq!(p.resolve(None, "api_key"), "partner");
        assert_eq!(p.resolve(None, "anonymous"), "anonymous");
        assert_eq!(p.resolve(None, "jwt"), "standard");
        // an own plan that is not a known name falls back
        assert_eq!(p.resolve(Some("platinum"), "jwt"), "standard");
        assert_eq!(Plans::default().resolve(None, "jwt"), "default");
    }

    #[test]
    fn unknown_plans_methods_and_bad_names_are_refused_naming_the_field() {
        for (v, field) in [
            (
                json!({"default": "gold", "names": ["standard"]}),
                "plans.default",
            ),
            (
                json!({"by_method": {"jwt": "gold"}, "names": ["default"]}),
                "plans.by_method.jwt",
            ),
            (
                json!({"by_method": {"mtls": "default"}, "names": ["default"]}),
                "plans.by_method.mtls",
            ),
            (json!({"names": ["default", "a b"]}), "plans.names[1]"),
            (json!({"names": ["default", "default"]}), "plans.names[1]"),
            (json!({"names": []}), "plans.names"),
        ] {
            let e = plans(v.clone()).unwrap_err().to_string();
            assert!(e.contains(&format!("{field}: ")), "{v}: {e}");
        }
    }
}
