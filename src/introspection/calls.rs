//! Per VM: the introspection cache lookups, the tokens waiting to be asked about, the calls in flight
//! and their answers, against the host ports. See [`super`] for the cache and coalescing contract.
//!
//! - [`Introspections::lookup`] (during a check): the VM's own answers, then the shared slot; a token
//!   known to neither is queued (one entry per token, however many requests wait for it) unless the
//!   VM already has `max_in_flight` tokens queued or in flight (then `Unavailable`: 503).
//! - [`Introspections::tick`] (root context, on the timer): for each queued token, an answer another
//!   VM wrote is taken; a live lease of another VM is waited for; otherwise this VM writes its lease by
//!   compare-and-swap and, if it won, dispatches the call.
//! - [`Introspections::response`]: the answer is written to the slot (replacing the lease) and kept
//!   locally; a failure releases the lease and is remembered for [`FAILED_HOLD_MS`], so the waiting
//!   requests (and new ones for that token in that time) get 503.

use super::answer::{self, Answer, Cached, Entry, MAX_RESPONSE_BYTES};
use super::config::{Endpoint, Introspection, Secret};
use super::request;
use crate::config::Config;
use crate::counters::Counters;
use crate::host::{CalloutResponse, Callouts, MetricKind, Metrics, SharedData};
use crate::need::{Need, TokenDigest};
use crate::resources::{Introspected, KeyAvailability, Resources};
use crate::slots::Slots;
use crate::stats;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

/// Entries per shared slot (`max_entries` / this = slot keys).
pub const PER_SLOT: usize = 4;

/// How long a failed introspection answers its token with 503 before it is asked again.
pub const FAILED_HOLD_MS: u64 = 1000;

/// A lease outlives the call's timeout by this much (then another VM may call).
const LEASE_MARGIN_MS: u64 = 1000;

/// A request may wait this long beyond the call's timeout (another VM's lease, the next tick).
const WAIT_MARGIN_MS: u64 = 2000;

/// Counter ids of one provider (`edgeguard_introspection_{calls,lookups}_total{provider=<name>}`).
#[derive(Debug, Default)]
struct Ids {
    active: Option<u32>,
    inactive: Option<u32>,
    error: Option<u32>,
    cache_hit: Option<u32>,
    coalesced: Option<u32>,
    overloaded: Option<u32>,
}

/// A token waiting to be asked about.
#[derive(Debug)]
struct Queued {
    token: Secret,
    since_ms: u64,
}

/// One provider's introspection state in this VM.
#[derive(Debug)]
struct ProviderCalls {
    config: Introspection,
    slots: Slots,
    ids: Ids,
    /// Answers this VM holds, by token digest (at most `max_entries`).
    local: RefCell<HashMap<TokenDigest, Cached>>,
    /// Tokens whose last call failed, until when they answer 503.
    failed: RefCell<HashMap<TokenDigest, u64>>,
    queued: RefCell<BTreeMap<TokenDigest, Queued>>,
    /// Calls in flight: callout token → token digest.
    in_flight: RefCell<HashMap<u32, TokenDigest>>,
}

/// Every introspecting provider of one VM.
#[derive(Debug)]
pub struct Introspections {
    vm: u64,
    providers: BTreeMap<String, ProviderCalls>,
}

fn slot_prefix(name: &str, issuer: &str, i: &Introspection) -> String {
    let source = match &i.endpoint {
        Some(e) => format!("{}\n{}\n{}\n{issuer}", e.cluster, e.authority, e.path),
        None => format!("discovered\n{issuer}"),
    };
    let digest = hmac_sha256::Hash::hash(source.as_bytes());
    let id: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("edgeguard.introspection.{name}.{id}")
}

impl ProviderCalls {
    fn keep(&self, d: TokenDigest, cached: Cached, now_ms: u64) {
        let Ok(mut local) = self.local.try_borrow_mut() else {
            return;
        };
        if local.len() >= self.config.max_entries && !local.contains_key(&d) {
            local.retain(|_, c| c.until_ms > now_ms);
            if local.len() >= self.config.max_entries {
                if let Some(k) = local.keys().next().copied() {
                    local.remove(&k);
                }
            }
        }
        local.insert(d, cached);
    }

    /// A usable answer for `d`: this VM's, else the shared slot's (then kept here too).
    fn answer(&self, shared: &dyn SharedData, d: TokenDigest, now_ms: u64) -> Option<Answer> {
        if let Some(c) = self.local.borrow().get(&d) {
            if c.until_ms > now_ms {
                return Some(c.answer.clone());
            }
        }
        match self.slots.get(shared, &d.0).and_then(|b| Entry::decode(&b)) {
            Some(Entry::Answer(c)) if c.until_ms > now_ms => {
                let answer = c.answer.clone();
                self.keep(d, c, now_ms);
                Some(answer)
            }
            _ => None,
        }
    }

    fn busy(&self) -> usize {
        self.queued.borrow().len() + self.in_flight.borrow().len()
    }

    /// Removes this VM's lease on `d` (after a failed or undispatched call).
    fn release(&self, shared: &dyn SharedData, vm: u64, d: TokenDigest) {
        let _ = self
            .slots
            .update(shared, &d.0, |cur| match cur.and_then(Entry::decode) {
                Some(Entry::Lease { vm: holder, .. }) if holder == vm => None,
                _ => cur.map(<[u8]>::to_vec),
            });
    }
}

impl Introspections {
    /// The introspecting providers of `config`, their counters defined (`vm`: this VM's lease id).
    pub fn new(config: &Config, metrics: &dyn Metrics, vm: u64) -> Self {
        let providers = config
            .providers
            .iter()
            .filter_map(|(name, p)| {
                let i = p.introspection.clone()?;
                let count = u32::try_from(i.max_entries.div_ceil(PER_SLOT)).unwrap_or(u32::MAX);
                let slots = Slots::new(&slot_prefix(name, &p.rules.issuer, &i), count, PER_SLOT);
                let c = |what: &str| {
                    metrics.define(MetricKind::Counter, &stats::introspection(name, what))
                };
                let ids = Ids {
                    active: c("active"),
                    inactive: c("inactive"),
                    error: c("error"),
                    cache_hit: c("cache_hit"),
                    coalesced: c("coalesced"),
                    overloaded: c("overloaded"),
                };
                Some((
                    name.clone(),
                    ProviderCalls {
                        config: i,
                        slots,
                        ids,
                        local: RefCell::new(HashMap::new()),
                        failed: RefCell::new(HashMap::new()),
                        queued: RefCell::new(BTreeMap::new()),
                        in_flight: RefCell::new(HashMap::new()),
                    },
                ))
            })
            .collect();
        Introspections { vm, providers }
    }

    /// Creates every shared slot (at configure, so compare-and-swap guards them).
    pub fn create_records(&self, shared: &dyn SharedData) {
        for p in self.providers.values() {
            p.slots.create(shared);
        }
    }

    /// Longest a request may wait for an introspection before it gets 503 (0: none configured).
    pub fn max_wait_ms(&self) -> u64 {
        self.providers
            .values()
            .map(|p| p.config.timeout_ms.saturating_add(WAIT_MARGIN_MS))
            .max()
            .unwrap_or(0)
    }

    /// What is known of `token` for `provider` at `now_ms` (see the module doc). `resumed`: the
    /// request was paused before (its hit or wait is not counted again); `last`: it may not wait.
    pub fn lookup(
        &self,
        shared: &dyn SharedData,
        counters: &Counters,
        provider: &str,
        token: &str,
        (now_ms, resumed, last): (u64, bool, bool),
    ) -> Introspected {
        let Some(p) = self.providers.get(provider) else {
            return Introspected::Unavailable;
        };
        let d = TokenDigest::of(token);
        if let Some(answer) = p.answer(shared, d, now_ms) {
            if !resumed {
                counters.count(p.ids.cache_hit, 1);
            }
            return match answer {
                Answer::Active(claims) => Introspected::Active(claims),
                Answer::Inactive => Introspected::Inactive,
            };
        }
        if last || p.failed.borrow().get(&d).is_some_and(|&t| t > now_ms) {
            return Introspected::Unavailable;
        }
        let waiting =
            p.queued.borrow().contains_key(&d) || p.in_flight.borrow().values().any(|x| *x == d);
        if waiting {
            if !resumed {
                counters.count(p.ids.coalesced, 1);
            }
            return Introspected::Pending;
        }
        if p.busy() >= p.config.max_in_flight {
            counters.count(p.ids.overloaded, 1);
            log::warn!(
                "edgeguard: provider {provider}: {} introspections in flight or queued: 503",
                p.config.max_in_flight
            );
            return Introspected::Unavailable;
        }
        if let Ok(mut q) = p.queued.try_borrow_mut() {
            q.insert(
                d,
                Queued {
                    token: Secret::new(token.to_string()),
                    since_ms: now_ms,
                },
            );
        }
        Introspected::Pending
    }

    /// The timer pass (root context): answers other VMs wrote, leases, dispatches. Returns the
    /// needs whose state changed.
    /// `discovered` gives the endpoint of a provider configured without one (its discovery
    /// document's `introspection_endpoint`); until it does, that provider's tokens stay queued (and
    /// their requests get 503 when their wait is over).
    pub fn tick<H: SharedData + Callouts>(
        &self,
        host: &H,
        counters: &Counters,
        now_ms: u64,
        discovered: &dyn Fn(&str) -> Option<Endpoint>,
    ) -> Vec<Need> {
        let mut changed = Vec::new();
        for (name, p) in &self.providers {
            let endpoint = p.config.endpoint.clone().or_else(|| discovered(name));
            p.failed.borrow_mut().retain(|_, t| *t > now_ms);
            p.local.borrow_mut().retain(|_, c| c.until_ms > now_ms);
            let need = |d: TokenDigest| Need::Introspection {
                provider: name.clone(),
                token: d,
            };
            let digests: Vec<TokenDigest> = p.queued.borrow().keys().copied().collect();
            for d in digests {
                let stale = p
                    .queued
                    .borrow()
                    .get(&d)
                    .is_some_and(|q| now_ms.saturating_sub(q.since_ms) > self.max_wait_ms());
                if stale {
                    // Every request that waited for it has had its 503.
                    p.queued.borrow_mut().remove(&d);
                    continue;
                }
                if p.answer(host, d, now_ms).is_some() {
                    p.queued.borrow_mut().remove(&d);
                    changed.push(need(d));
                    continue;
                }
                let Some(endpoint) = &endpoint else {
                    continue; // no endpoint yet: the discovery document is not in
                };
                if !self.take_lease(p, host, d, now_ms) {
                    continue; // another VM is asking; its answer arrives through the slot
                }
                let Some(q) = p.queued.borrow_mut().remove(&d) else {
                    continue;
                };
                let call = request::callout(&p.config, endpoint, q.token.expose());
                match host.dispatch(&call) {
                    Ok(token) => {
                        log::debug!(
                            "edgeguard: provider {name}: introspecting token {}",
                            d.short()
                        );
                        p.in_flight.borrow_mut().insert(token, d);
                    }
                    Err(status) => {
                        log::warn!(
                            "edgeguard: provider {name}: cannot dispatch introspection to cluster {:?}: {status}",
                            call.cluster
                        );
                        self.failed(p, host, counters, d, now_ms);
                        changed.push(need(d));
                    }
                }
            }
        }
        changed
    }

    /// Writes this VM's lease on `d` unless an answer or another VM's live lease is there. True
    /// when this VM may call.
    fn take_lease(
        &self,
        p: &ProviderCalls,
        shared: &dyn SharedData,
        d: TokenDigest,
        now_ms: u64,
    ) -> bool {
        let won = Cell::new(false);
        let lease = Entry::Lease {
            vm: self.vm,
            until_ms: now_ms.saturating_add(p.config.timeout_ms.saturating_add(LEASE_MARGIN_MS)),
        };
        let written = p.slots.update(shared, &d.0, |cur| {
            let taken = match cur.and_then(Entry::decode) {
                Some(Entry::Answer(c)) => c.until_ms > now_ms,
                Some(Entry::Lease { vm, until_ms }) => vm != self.vm && until_ms > now_ms,
                None => false,
            };
            won.set(!taken);
            if taken {
                cur.map(<[u8]>::to_vec)
            } else {
                Some(lease.encode())
            }
        });
        written.is_ok() && won.get()
    }

    fn failed(
        &self,
        p: &ProviderCalls,
        shared: &dyn SharedData,
        counters: &Counters,
        d: TokenDigest,
        now_ms: u64,
    ) {
        counters.count(p.ids.error, 1);
        p.failed
            .borrow_mut()
            .insert(d, now_ms.saturating_add(FAILED_HOLD_MS));
        p.release(shared, self.vm, d);
    }

    /// A callout answered. `None` when the callout is not an introspection of this VM.
    pub fn response<H: SharedData + Callouts>(
        &self,
        host: &H,
        counters: &Counters,
        token: u32,
        response: &CalloutResponse,
        now_ms: u64,
    ) -> Option<Vec<Need>> {
        let (name, p, d) = self.providers.iter().find_map(|(name, p)| {
            let d = p.in_flight.borrow_mut().remove(&token)?;
            Some((name, p, d))
        })?;
        let result = match response.status {
            None => Err("no response (timeout or connection failure)".to_string()),
            Some(200) if response.body_size > MAX_RESPONSE_BYTES => Err(format!(
                "response of {} bytes exceeds {MAX_RESPONSE_BYTES}",
                response.body_size
            )),
            Some(200) => match host.response_body(response.body_size) {
                Some(body) => answer::parse(&body),
                None => Err("empty response body".to_string()),
            },
            Some(code) => Err(format!("HTTP status {code}")),
        };
        match result {
            Ok(answer) => {
                let active = matches!(answer, Answer::Active(_));
                counters.count(if active { p.ids.active } else { p.ids.inactive }, 1);
                log::debug!(
                    "edgeguard: provider {name}: token {} is {}",
                    d.short(),
                    if active { "active" } else { "inactive" }
                );
                let cached = Cached {
                    until_ms: answer::cache_until(&answer, now_ms, &p.config),
                    answer,
                };
                let bytes = Entry::Answer(cached.clone()).encode();
                if p.slots.update(host, &d.0, |_| Some(bytes.clone())).is_err() {
                    log::warn!("edgeguard: provider {name}: introspection answer not shared (shared data refused it)");
                }
                p.keep(d, cached, now_ms);
            }
            Err(why) => {
                log::warn!("edgeguard: provider {name}: introspection failed: {why}");
                self.failed(p, host, counters, d, now_ms);
            }
        }
        Some(vec![Need::Introspection {
            provider: name.clone(),
            token: d,
        }])
    }
}

/// The engine's resource port with introspection added to another one (the remote key sets).
pub struct View<'a> {
    pub inner: &'a dyn Resources,
    pub calls: &'a Introspections,
    pub shared: &'a dyn SharedData,
    pub counters: &'a Counters,
    pub now_ms: u64,
    /// The request was paused before.
    pub resumed: bool,
    /// The request's last attempt: nothing more is waited for.
    pub last: bool,
}

impl Resources for View<'_> {
    fn key_set(&self, provider: &str) -> KeyAvailability {
        self.inner.key_set(provider)
    }

    fn refetch_key_set(&self, provider: &str) -> bool {
        self.inner.refetch_key_set(provider)
    }

    fn api_key_set(&self) -> crate::resources::Loaded<std::rc::Rc<crate::api_key_set::ApiKeySet>> {
        self.inner.api_key_set()
    }

    fn introspect(&self, provider: &str, token: &str) -> Introspected {
        self.calls.lookup(
            self.shared,
            self.counters,
            provider,
            token,
            (self.now_ms, self.resumed, self.last),
        )
    }
}
