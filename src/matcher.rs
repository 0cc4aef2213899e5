//! Rules: which requirement applies to a request (path, method, host; route metadata rule sets).
//! (STUB: to be completed by the policy work.)

use crate::config::{ConfigError, Known};
use crate::policy::{Requirement, RequirementConfig};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What happens when no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    #[default]
    Deny,
    Allow,
}

/// JSON form of a rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(rename = "match")]
    matches: MatchConfig,
    require: Option<RequirementConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchConfig {
    path_prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    prefix: String,
    requirement: Requirement,
}

/// The validated rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    rules: Vec<Rule>,
    default: DefaultAction,
}

/// What a request must satisfy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    Require(&'a Requirement),
    Anonymous,
    /// No rule matched and the default is deny.
    Deny,
}

impl Policy {
    pub fn validate(
        rules: Option<Vec<RuleConfig>>,
        _rule_sets: Option<BTreeMap<String, Vec<RuleConfig>>>,
        default: Option<DefaultAction>,
        known: Known<'_>,
    ) -> Result<Policy, ConfigError> {
        let rules = match rules {
            None => {
                let mut any = Vec::new();
                if known.api_keys {
                    any.push(Requirement::ApiKey {
                        scopes: vec![],
                        ids: vec![],
                    });
                }
                any.extend(known.providers.keys().map(|p| Requirement::Jwt {
                    provider: p.clone(),
                    scopes: vec![],
                    claims: vec![],
                }));
                vec![Rule {
                    prefix: "/".into(),
                    requirement: Requirement::Any(any),
                }]
            }
            Some(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let f = format!("rules[{i}]");
                    let requirement = r
                        .require
                        .ok_or_else(|| ConfigError::new(&f, "needs \"require\""))?
                        .validate(&format!("{f}.require"), known)?;
                    Ok(Rule {
                        prefix: r.matches.path_prefix.unwrap_or_else(|| "/".into()),
                        requirement,
                    })
                })
                .collect::<Result<_, ConfigError>>()?,
        };
        Ok(Policy {
            rules,
            default: default.unwrap_or_default(),
        })
    }

    /// Selects the action for a request (`path` already normalized).
    pub fn select(
        &self,
        _method: &str,
        path: &str,
        _host: &str,
        _rule_set: Option<&str>,
    ) -> Action<'_> {
        match self.rules.iter().find(|r| path.starts_with(&r.prefix)) {
            Some(r) => Action::Require(&r.requirement),
            None if self.default == DefaultAction::Allow => Action::Anonymous,
            None => Action::Deny,
        }
    }
}
