//! The plugin as a proxy-wasm host drives it, written against the host ports ([`crate::host`]): one
//! configuration per VM, each request's check, the timer, callout responses, and the requests paused
//! in between. The adapter only turns proxy-wasm callbacks into these calls.
//!
//! A request's check is pure and can be re-run: when it must wait ([`Outcome::Wait`]), the request is
//! parked with its needs and asks for the timer at once ([`KICK_MS`]), so what it needs is fetched
//! now rather than on the next regular tick; it is checked again when one of its needs changes — or,
//! past the longest wait, a last time, in which anything still loading is unavailable (503).
//!
//! Callouts start only from the timer, in the root context: Envoy delivers a callout's answer to the
//! context that started it and cancels a stream's callouts when the stream ends — a fetch started by
//! a request would be lost with that request's client.

use crate::config::{Config, ConfigError};
use crate::counters::Counters;
use crate::decision::{Decision, Denial, HeaderOp};
use crate::engine::{Check, Engine, Outcome};
use crate::host::{CalloutResponse, Host};
use crate::introspection::{self, Introspections};
use crate::lockout::{self, Lockout};
use crate::need::Need;
use crate::publish;
use crate::reason::Reason;
use crate::remote::Remotes;
use crate::request::Request;
use crate::transport::{
    Connection, FILTER_CHAIN_PROPERTY, PEER_URI_SAN_PROPERTY, SOURCE_ADDRESS_PROPERTY,
    TLS_VERSION_PROPERTY,
};
use crate::waiters::{Attempt, Waiter, Waiters};
use std::cell::{Cell, RefCell};

/// Route metadata path naming the rule set for a route (see README, "Route-level rule sets").
pub const RULE_SET_PROPERTY: [&str; 5] = [
    "xds",
    "route_metadata",
    "filter_metadata",
    "edgeguard",
    "rule_set",
];

/// Timer period: how often counters reach the host, how fast a VM notices what another VM fetched,
/// and when refreshes and overdue waits are handled.
pub const TICK_MS: u64 = 100;

/// The timer period a waiting request asks for, so its fetch starts at once; the next tick restores
/// [`TICK_MS`].
pub const KICK_MS: u64 = 1;

/// What the host does with the request after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Paused: waiting, or answered locally.
    Pause,
}

/// One VM's plugin under one configuration.
#[derive(Debug)]
pub struct Plugin {
    engine: Engine,
    remotes: RefCell<Remotes>,
    /// Token introspection: cache lookups, queued tokens, calls in flight.
    introspections: Introspections,
    /// HTTP Basic's per-user failure counters (shared by the VMs), when `basic_auth` is configured.
    lockout: Option<Lockout>,
    waiters: RefCell<Waiters>,
    counters: Counters,
    /// Whether route metadata must be read (only when rule sets are configured).
    reads_route_metadata: bool,
    /// The root context, made current again after resuming paused requests.
    root_context: u32,
    /// A waiting request asked for the timer at [`KICK_MS`].
    kicked: Cell<bool>,
}

impl Plugin {
    /// Parses `bytes` and sets up the VM: metric ids, remote resources and their shared records.
    /// `vm` is this VM's random nonzero id in shared-data leases.
    pub fn configure<H: Host>(
        host: &H,
        bytes: &[u8],
        root_context: u32,
        vm: u64,
    ) -> Result<Plugin, ConfigError> {
        let config = Config::parse(bytes)?;
        log::info!(
            "edgeguard {}: configured: mode={:?}, {} API key(s), {} provider(s), {} Basic user(s)",
            env!("CARGO_PKG_VERSION"),
            config.mode,
            config.api_keys.as_ref().map_or(0, |k| k.keys().len()),
            config.providers.len(),
            config.basic_auth.as_ref().map_or(0, |b| b.users.len())
        );
        if config
            .providers
            .values()
            .any(|p| p.rules.algorithms.contains(&crate::jwt::jwk::Alg::ES256))
        {
            // Once per VM, at start-up rather than in the first ES256 request.
            crate::jwt::crypto::es256::prepare();
        }
        let remotes = Remotes::new(&config, vm);
        remotes.create_records(host);
        let introspections = Introspections::new(&config, host, vm);
        introspections.create_records(host);
        let lockout = config.basic_auth.as_ref().map(Lockout::new);
        if let Some(l) = &lockout {
            l.create(host);
        }
        if let Some(basic) = &config.basic_auth {
            for (i, u) in basic.users.iter().enumerate() {
                if !u.hash.is_slow() {
                    log::warn!("edgeguard: basic_auth.users[{i}] ({}): a {{SHA}} hash (unsalted SHA-1) is weak; replace it (edgeguard hash-password)", u.name);
                }
            }
        }
        let max_wait_ms = remotes.max_wait_ms().max(introspections.max_wait_ms());
        // The timer flushes the counters, and drives remote resources.
        host.set_tick_ms(TICK_MS);
        Ok(Plugin {
            counters: Counters::define(&config, host),
            reads_route_metadata: config.rules.uses_rule_sets(),
            waiters: RefCell::new(Waiters::new(max_wait_ms)),
            remotes: RefCell::new(remotes),
            introspections,
            lockout,
            engine: Engine::new(config),
            root_context,
            kicked: Cell::new(false),
        })
    }

    /// A configuration update: `old`'s pending counts reach the host, and requests paused under it
    /// are re-checked under this one.
    pub fn take_over<H: Host>(&self, host: &H, old: &Plugin) {
        old.counters.flush(host);
        if let (Ok(mut new), Ok(mut old)) =
            (self.waiters.try_borrow_mut(), old.waiters.try_borrow_mut())
        {
            new.adopt(&mut old);
        }
    }

    /// The request headers arrived.
    pub fn on_request<H: Host>(&self, host: &H, context_id: u32, end_of_stream: bool) -> Flow {
        self.process(host, context_id, end_of_stream, Attempt::First)
    }

    /// The timer: share and fetch remote resources, re-check the requests they concern and those
    /// that waited too long.
    pub fn on_tick<H: Host>(&self, host: &H) {
        let now = host.now_ms();
        if self.kicked.replace(false) {
            host.set_tick_ms(TICK_MS);
        }
        let mut changed = self.remotes.borrow_mut().tick(host, &self.counters, now);
        let discovered = {
            let remotes = self.remotes.borrow();
            move |provider: &str| remotes.introspection_endpoint(provider, now)
        };
        changed.extend(
            self.introspections
                .tick(host, &self.counters, now, &discovered),
        );
        let due = {
            let w = self.waiters.borrow();
            !w.is_empty() && (!changed.is_empty() || w.any_overdue(now))
        };
        if due {
            self.resume_waiters(host, now, &changed);
        }
        self.counters.flush(host);
    }

    /// A callout answered (or failed: `status` is `None`).
    pub fn on_response<H: Host>(&self, host: &H, token: u32, response: &CalloutResponse) {
        let now = host.now_ms();
        let mut changed =
            self.remotes
                .borrow_mut()
                .response(host, &self.counters, token, response, now);
        if changed.is_empty() {
            changed = self
                .introspections
                .response(host, &self.counters, token, response, now)
                .unwrap_or_default();
        }
        if !changed.is_empty() {
            self.resume_waiters(host, now, &changed);
        }
    }

    /// Re-checks the paused requests that need something in `changed`, and the overdue ones.
    fn resume_waiters<H: Host>(&self, host: &H, now: u64, changed: &[Need]) {
        let due = self.waiters.borrow_mut().take_due(now, changed);
        if due.is_empty() {
            return;
        }
        for (w, attempt) in due {
            if host.enter(w.context_id) {
                self.process(host, w.context_id, w.end_of_stream, attempt);
            }
        }
        host.enter(self.root_context);
    }

    /// Checks the current request and applies the decision.
    fn process<H: Host>(
        &self,
        host: &H,
        context_id: u32,
        end_of_stream: bool,
        attempt: Attempt,
    ) -> Flow {
        let req = Request::from_host(host.request_headers(), end_of_stream);
        let rule_set = if self.reads_route_metadata {
            host.property(&RULE_SET_PROPERTY)
                .and_then(|b| String::from_utf8(b).ok())
        } else {
            None
        };
        let now = host.now_ms();
        let Check { outcome, events } = {
            let remotes = self.remotes.borrow();
            let keys = remotes.view(now, attempt.is_last());
            let view = introspection::View {
                inner: &keys,
                calls: &self.introspections,
                shared: host,
                counters: &self.counters,
                now_ms: now,
                resumed: attempt.paused_since().is_some(),
                last: attempt.is_last(),
            };
            let view = lockout::View {
                inner: &view,
                lockout: self.lockout.as_ref(),
                shared: host,
                now: now / 1000,
            };
            let conn = StreamConnection(host);
            self.engine
                .check(&req, now / 1000, &view, rule_set.as_deref(), &conn)
        };
        let c = &self.counters;
        for p in &events.verified {
            c.count(c.provider(p), 1);
        }
        c.count(c.cache_hit, events.cache_hits);
        c.count(c.cache_miss, events.cache_misses);
        if matches!(outcome, Outcome::Decided(_)) {
            for e in &events.exposed {
                log::warn!(
                    "edgeguard: {} credential sent without TLS: {} {} ({}); consider it leaked and rotate it",
                    e.kind.name(),
                    req.method,
                    req.path_only(),
                    match (&e.source, &e.id) {
                        (Some(p), Some(id)) => format!("provider {p}, subject {id}"),
                        (None, Some(id)) => format!("id {id}"),
                        _ => "not identified".to_string(),
                    }
                );
                c.count(c.plaintext_credential(e.kind), 1);
            }
        }
        let b = &events.basic;
        c.count(c.basic.verified, b.verified);
        c.count(c.basic.failed, b.failed);
        c.count(c.basic.cache_hit, b.cache_hits);
        c.count(c.basic.busy, b.busy);
        c.count(c.basic.locked, b.locked);
        if let (Some(name), Some(l)) = (&b.failed_user, &self.lockout) {
            if l.record(host, name, now / 1000).is_err() {
                log::warn!("edgeguard: basic_auth: the failure of user {name} was not counted (shared data refused it)");
            }
        }
        match outcome {
            Outcome::Wait(needs) => {
                log::debug!("edgeguard: waiting for {needs:?}");
                if !self.kicked.replace(true) {
                    host.set_tick_ms(KICK_MS);
                }
                self.waiters.borrow_mut().park(Waiter {
                    context_id,
                    end_of_stream,
                    since_ms: attempt.paused_since().unwrap_or(now),
                    needs,
                });
                Flow::Pause
            }
            Outcome::Decided(Decision::Allow { ops }) => {
                if let Some(reason) = events.denied {
                    log::info!(
                        "edgeguard: report-only: would deny {} {}: {}",
                        req.method,
                        req.path_only(),
                        reason.code()
                    );
                    c.count(c.would_deny(reason), 1);
                }
                c.count(c.allowed, 1);
                if let Some(id) = &events.key_id {
                    c.key_allowed(host, id);
                }
                if let Some(p) = &events.published {
                    for (name, value) in p.properties() {
                        host.publish(name, value.as_bytes());
                    }
                    if let Some((name, value)) = p.cost_property() {
                        host.publish(name, value.as_bytes());
                    }
                    publish_verdict(host, events.denied, false);
                }
                if events.unknown_plan {
                    c.count(c.unknown_plan, 1);
                }
                for op in &ops {
                    match op {
                        HeaderOp::Remove(n) => host.set_header(n, None),
                        HeaderOp::Set(n, v) => host.set_header(n, Some(v.as_bytes())),
                        HeaderOp::SetBytes(n, v) => host.set_header(n, Some(v)),
                    }
                }
                if attempt.paused_since().is_some() {
                    host.resume();
                }
                Flow::Continue
            }
            Outcome::Decided(Decision::Deny(denial)) => {
                log::debug!(
                    "edgeguard: deny {} {}: {} (key={}, sub={})",
                    req.method,
                    req.path_only(),
                    denial.reason.code(),
                    events.key_id.as_deref().unwrap_or("-"),
                    events.subject.as_deref().unwrap_or("-")
                );
                c.count(c.denied(denial.reason), 1);
                if self.engine.config().publish_identity {
                    publish_verdict(host, Some(denial.reason), true);
                }
                send(host, &denial);
                Flow::Pause
            }
        }
    }
}

/// `edgeguard_decision` and `edgeguard_reason` (for access logs).
fn publish_verdict<H: Host>(host: &H, denied: Option<Reason>, enforced: bool) {
    let (decision, reason) = publish::verdict(denied, enforced);
    host.publish(publish::DECISION, decision.as_bytes());
    if let Some(r) = reason {
        host.publish(publish::REASON, r.as_bytes());
    }
}

/// The downstream connection's facts, each read from the host only when the transport check asks.
struct StreamConnection<'a, H>(&'a H);

impl<H: Host> Connection for StreamConnection<'_, H> {
    fn is_tls(&self) -> bool {
        // Envoy: `TLSv1.3` on TLS, NotFound on plaintext; an empty value is not TLS (fail closed).
        self.0
            .property(&TLS_VERSION_PROPERTY)
            .is_some_and(|v| !v.is_empty())
    }

    fn source_address(&self) -> Option<String> {
        self.0
            .property(&SOURCE_ADDRESS_PROPERTY)
            .and_then(|b| String::from_utf8(b).ok())
    }

    fn peer_uri_san(&self) -> Option<String> {
        self.0
            .property(&PEER_URI_SAN_PROPERTY)
            .and_then(|b| String::from_utf8(b).ok())
    }

    fn filter_chain(&self) -> Option<String> {
        self.0
            .property(&FILTER_CHAIN_PROPERTY)
            .and_then(|b| String::from_utf8(b).ok())
    }
}

fn send<H: Host>(host: &H, denial: &Denial) {
    let headers = denial.headers();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    host.send_response(denial.status, &headers, denial.body().as_bytes());
}

#[cfg(test)]
mod discovery_tests;
#[cfg(test)]
mod introspection_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod basic_tests;
#[cfg(test)]
mod key_set_tests;

#[cfg(test)]
mod transport_tests;
