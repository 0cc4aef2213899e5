//! The plugin's metrics, by id: the per-request counters are defined once at configure (the request
//! path formats no names), the rest (per resource) on first use and then by id.
//!
//! Per-request counts are not host calls: they add up in VM memory ([`Counters::count`]) and reach
//! the host in one call per changed counter when the timer flushes them ([`Counters::flush`], every
//! tick), so `/stats` lags by at most a tick.

use crate::config::{Config, Mode};
use crate::credential::Kind;
use crate::host::{MetricKind, Metrics};
use crate::reason::Reason;
use crate::stats;
use std::cell::RefCell;
use std::collections::HashMap;

/// Remote keys with a usage series of their own (per VM); the others count as [`OTHER_KEYS`].
pub const MAX_REMOTE_KEY_METRICS: usize = 1000;

/// The `key_id` of the usage series shared by remote keys past [`MAX_REMOTE_KEY_METRICS`].
pub const OTHER_KEYS: &str = "~other";

/// Metric ids of one VM.
#[derive(Debug, Default)]
pub struct Counters {
    pub allowed: Option<u32>,
    /// A credential named a plan not in `plans.names` (it fell back).
    pub unknown_plan: Option<u32>,
    pub cache_hit: Option<u32>,
    pub cache_miss: Option<u32>,
    /// Denials by reason, indexed like `Reason::ALL`.
    denied: Vec<Option<u32>>,
    /// Report mode's would-be denials by reason, indexed like `Reason::ALL` (defined only in
    /// report mode).
    would_deny: Vec<Option<u32>>,
    /// Credentials sent over plaintext where TLS is required, indexed like `Kind::ALL`.
    plaintext: Vec<Option<u32>>,
    /// HTTP Basic (defined only when `basic_auth` is configured).
    pub basic: BasicCounters,
    by_key: HashMap<String, u32>,
    /// Keys of the remote set, by id, defined on first use.
    remote_keys: RefCell<HashMap<String, u32>>,
    by_provider: HashMap<String, u32>,
    /// Metrics defined on first use, by name.
    named: RefCell<HashMap<String, u32>>,
    /// Counts not yet handed to the host, by metric id.
    pending: RefCell<HashMap<u32, u64>>,
}

/// Metric ids of the HTTP Basic counters.
#[derive(Debug, Default)]
pub struct BasicCounters {
    pub verified: Option<u32>,
    pub failed: Option<u32>,
    pub cache_hit: Option<u32>,
    pub busy: Option<u32>,
    pub locked: Option<u32>,
}

impl Counters {
    /// Defines the per-request counters of `config`.
    pub fn define(config: &Config, metrics: &dyn Metrics) -> Self {
        let counter = |name: &str| metrics.define(MetricKind::Counter, name);
        let named = |names: Vec<String>, f: fn(&str) -> String| {
            names
                .into_iter()
                .filter_map(|n| counter(&f(&n)).map(|id| (n, id)))
                .collect::<HashMap<_, _>>()
        };
        Counters {
            allowed: counter(&stats::allowed()),
            unknown_plan: counter(&stats::plan_unknown()),
            cache_hit: counter(&stats::token_cache(true)),
            cache_miss: counter(&stats::token_cache(false)),
            basic: if config.basic_auth.is_some() {
                BasicCounters {
                    verified: counter(&stats::basic("verified")),
                    failed: counter(&stats::basic("failed")),
                    cache_hit: counter(&stats::basic("cache_hit")),
                    busy: counter(&stats::basic("busy")),
                    locked: counter(&stats::basic("locked")),
                }
            } else {
                BasicCounters::default()
            },
            denied: Reason::ALL
                .iter()
                .map(|r| counter(&stats::denied(*r, true)))
                .collect(),
            // Only a configuration that can report (top-level or transport `mode: report`).
            would_deny: if config.mode == Mode::Report || config.transport.mode == Mode::Report {
                Reason::ALL
                    .iter()
                    .map(|r| counter(&stats::denied(*r, false)))
                    .collect()
            } else {
                Vec::new()
            },
            plaintext: Kind::ALL
                .iter()
                .map(|k| counter(&stats::plaintext_credential(*k)))
                .collect(),
            by_key: named(
                config
                    .api_keys
                    .as_ref()
                    .map(|k| k.keys().iter().map(|k| k.id.clone()).collect())
                    .unwrap_or_default(),
                stats::key_allowed,
            ),
            remote_keys: RefCell::new(HashMap::new()),
            by_provider: named(
                config.providers.keys().cloned().collect(),
                stats::provider_verified,
            ),
            named: RefCell::new(HashMap::new()),
            pending: RefCell::new(HashMap::new()),
        }
    }

    /// The counter of denials for `reason`.
    pub fn denied(&self, reason: Reason) -> Option<u32> {
        let i = Reason::ALL.iter().position(|r| *r == reason)?;
        self.denied.get(i).copied().flatten()
    }

    /// The counter of report mode's would-be denials for `reason`.
    pub fn would_deny(&self, reason: Reason) -> Option<u32> {
        let i = Reason::ALL.iter().position(|r| *r == reason)?;
        self.would_deny.get(i).copied().flatten()
    }

    /// The counter of credentials of `kind` sent over plaintext where TLS is required.
    pub fn plaintext_credential(&self, kind: Kind) -> Option<u32> {
        let i = Kind::ALL.iter().position(|k| *k == kind)?;
        self.plaintext.get(i).copied().flatten()
    }

    pub fn key(&self, id: &str) -> Option<u32> {
        self.by_key.get(id).copied()
    }

    /// Counts a request allowed with key `id`: an inline key's counter was defined at configure, a
    /// remote key's is defined on its first use (then found by id, with no name formatted).
    pub fn key_allowed<M: Metrics>(&self, metrics: &M, id: &str) {
        if let Some(k) = self.key(id) {
            return self.count(Some(k), 1);
        }
        let known = self.remote_keys.borrow().get(id).copied();
        let k = known.or_else(|| {
            // Metrics are never deleted: past the bound, keys share one series.
            let full = self.remote_keys.borrow().len() >= MAX_REMOTE_KEY_METRICS;
            let (label, name) = if full {
                (OTHER_KEYS, stats::key_allowed(OTHER_KEYS))
            } else {
                (id, stats::key_allowed(id))
            };
            if let Some(k) = self.remote_keys.borrow().get(label) {
                return Some(*k);
            }
            let k = metrics.define(MetricKind::Counter, &name)?;
            self.remote_keys.borrow_mut().insert(label.to_string(), k);
            Some(k)
        });
        self.count(k, 1);
    }

    pub fn provider(&self, name: &str) -> Option<u32> {
        self.by_provider.get(name).copied()
    }

    /// Adds `n` to a counter by id, in VM memory until the next [`Counters::flush`] (nothing for 0
    /// or an undefined counter).
    pub fn count(&self, id: Option<u32>, n: u32) {
        if let (Some(id), true) = (id, n > 0) {
            if let Ok(mut pending) = self.pending.try_borrow_mut() {
                *pending.entry(id).or_insert(0) += u64::from(n);
            }
        }
    }

    /// Hands the pending counts to the host: one call per counter that changed.
    pub fn flush<M: Metrics>(&self, metrics: &M) {
        let Ok(mut pending) = self.pending.try_borrow_mut() else {
            return;
        };
        for (id, n) in pending.drain() {
            metrics.add(id, n);
        }
    }

    fn id<M: Metrics>(&self, metrics: &M, kind: MetricKind, name: &str) -> Option<u32> {
        if let Some(id) = self.named.borrow().get(name) {
            return Some(*id);
        }
        let id = metrics.define(kind, name)?;
        self.named.borrow_mut().insert(name.to_string(), id);
        Some(id)
    }

    /// Adds `n` to the counter `name` (defined on first use), pending like [`Counters::count`].
    pub fn add_named<M: Metrics>(&self, metrics: &M, name: &str, n: u32) {
        if n > 0 {
            self.count(self.id(metrics, MetricKind::Counter, name), n);
        }
    }

    /// Sets the gauge `name`, defining it on first use.
    pub fn gauge<M: Metrics>(&self, metrics: &M, name: &str, value: u64) {
        if let Some(id) = self.id(metrics, MetricKind::Gauge, name) {
            metrics.record(id, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    #[test]
    fn remote_keys_get_a_bounded_number_of_usage_series() {
        let host = MockHost::new(0);
        let config = Config::parse(
            br#"{"api_keys": {"remote": {"cluster": "k", "authority": "k", "path": "/k"}}}"#,
        )
        .unwrap();
        let c = Counters::define(&config, &host);
        for i in 0..MAX_REMOTE_KEY_METRICS + 5 {
            c.key_allowed(&host, &format!("key-{i}"));
        }
        c.key_allowed(&host, "key-0");
        c.flush(&host);
        assert_eq!(host.metric(&stats::key_allowed("key-0")), Some(2));
        let last = format!("key-{}", MAX_REMOTE_KEY_METRICS - 1);
        assert_eq!(host.metric(&stats::key_allowed(&last)), Some(1));
        assert_eq!(host.metric(&stats::key_allowed(OTHER_KEYS)), Some(5));
        let past = format!("key-{MAX_REMOTE_KEY_METRICS}");
        assert_eq!(host.metric(&stats::key_allowed(&past)), None);
    }
}
