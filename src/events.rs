//! Side facts of one request's check, for the host to act on: metrics, refetches, logs. Filled by
//! the credential kinds and the engine; never part of the decision.

use crate::credential::Exposed;
use crate::publish::Published;
use crate::reason::Reason;

/// Side facts of a check, for the host to act on (metrics, refetches, logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Events {
    /// Id of the valid API key presented (usage counts).
    pub key_id: Option<String>,
    /// Providers that saw a token with an unknown `kid` (the host may refetch, rate-limited).
    pub unknown_kid: Vec<String>,
    /// Providers that verified a token.
    pub verified: Vec<String>,
    /// Signature checks answered by the verified-token cache, and those that were not.
    pub cache_hits: u32,
    pub cache_misses: u32,
    /// The denial reason (also set in report mode, where the request is let through).
    pub denied: Option<Reason>,
    /// `sub`/`jti` of the token for logs (never the token).
    pub subject: Option<String>,
    /// Who the caller is, for the host to publish as filter state (every allow, report mode too).
    pub published: Option<Published>,
    /// A credential named a plan that is not in `plans.names` (it fell back).
    pub unknown_plan: bool,
    /// Credentials presented over plaintext on a rule that requires TLS (to be considered leaked:
    /// logged by id and counted by kind, in both transport modes).
    pub exposed: Vec<Exposed>,
    /// What the HTTP Basic check did.
    pub basic: BasicFacts,
}

/// What the HTTP Basic check did (metric `edgeguard_basic_checks_total{result}`, the shared failure counter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasicFacts {
    /// Slow password verifications that succeeded / failed (an unknown name's dummy included).
    pub verified: u32,
    pub failed: u32,
    /// Answered from the verified-credential cache.
    pub cache_hits: u32,
    /// Refused for the VM's slow-hash budget (503) / for the name's failures (429).
    pub busy: u32,
    pub locked: u32,
    /// The name whose password failed: the host counts it in the shared failure counters.
    pub failed_user: Option<String>,
}
