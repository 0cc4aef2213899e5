//! The plugin's metrics, by id: the per-request counters are defined once at configure (the request
//! path formats no names), the rest (per resource) on first use and then by id.
//!
//! Per-request counts are not host calls: they add up in VM memory ([`Counters::count`]) and reach
//! the host in one call per changed counter when the timer flushes them ([`Counters::flush`], every
//! tick), so `/stats` lags by at most a tick.

use crate::config::Config;
use crate::host::{MetricKind, Metrics};
use crate::reason::Reason;
use crate::stats;
use std::cell::RefCell;
use std::collections::HashMap;

/// Metric ids of one VM.
#[derive(Debug, Default)]
pub struct Counters {
    pub allowed: Option<u32>,
    pub denied: Option<u32>,
    pub would_deny: Option<u32>,
    /// A credential named a plan not in `plans.names` (it fell back).
    pub unknown_plan: Option<u32>,
    pub cache_hit: Option<u32>,
    pub cache_miss: Option<u32>,
    /// HTTP Basic (defined only when `basic_auth` is configured).
    pub basic: BasicCounters,
    /// Indexed like `Reason::ALL`.
    by_reason: Vec<Option<u32>>,
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
            allowed: counter(stats::ALLOWED),
            denied: counter(stats::DENIED),
            would_deny: counter(stats::WOULD_DENY),
            unknown_plan: counter(stats::UNKNOWN_PLAN),
            cache_hit: counter(stats::CACHE_HIT),
            cache_miss: counter(stats::CACHE_MISS),
            basic: if config.basic_auth.is_some() {
                BasicCounters {
                    verified: counter(stats::BASIC_VERIFIED),
                    failed: counter(stats::BASIC_FAILED),
                    cache_hit: counter(stats::BASIC_CACHE_HIT),
                    busy: counter(stats::BASIC_BUSY),
                    locked: counter(stats::BASIC_LOCKED),
                }
            } else {
                BasicCounters::default()
            },
            by_reason: Reason::ALL
                .iter()
                .map(|r| counter(&stats::denied_by(*r)))
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

    pub fn reason(&self, reason: Reason) -> Option<u32> {
        let i = Reason::ALL.iter().position(|r| *r == reason)?;
        self.by_reason.get(i).copied().flatten()
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
            let k = metrics.define(MetricKind::Counter, &stats::key_allowed(id))?;
            self.remote_keys.borrow_mut().insert(id.to_string(), k);
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
