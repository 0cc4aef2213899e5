//! The proxy-wasm adapter: moves bytes between the host and the core, nothing else.
//!
//! - `Root` (one per VM): parses the configuration, drives the JWKS lifecycle on a timer and through
//!   HTTP callouts, shares key sets with the other VMs through shared data, and resumes requests that
//!   waited for keys.
//! - `Filter` (one per request): hands the request head to the [`Engine`] and applies its decision.
//!
//! Host calls go through `hostcalls` with their errors handled; header maps are read as bytes because
//! the SDK's string getters panic on a non-UTF-8 header value, and a panic traps the VM.

use crate::config::Config;
use crate::decision::{Decision, HeaderOp};
use crate::engine::{Check, Engine, Outcome};
use crate::jwk::parse_jwks;
use crate::jwks_cache::{FetchReason, JwksCache, KeysRecord, ProviderKeys, SharedState};
use crate::need::Need;
use crate::provider::JwksSource;
use crate::reason::Reason;
use crate::request::Request;
use crate::stats;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> { Box::new(Root::new(context_id)) });
}}

/// Route metadata path naming the rule set for a route (see README, "Route-level rule sets").
const RULE_SET_PROPERTY: [&str; 5] = [
    "xds",
    "route_metadata",
    "filter_metadata",
    "edgeguard",
    "rule_set",
];
/// Timer period while remote key sets exist: how fast VMs notice keys fetched by another VM.
const TICK: Duration = Duration::from_millis(100);

/// Formats log lines only at the level the host will print: a debug line per denied request would
/// otherwise be formatted and handed to Envoy just to be dropped. Re-read at configure and on each tick
/// (so `/logging?wasm=debug` takes effect within a tick when remote key sets run the timer).
fn follow_host_log_level() {
    if let Ok(level) = hostcalls::get_log_level() {
        proxy_wasm::set_log_level(level);
    }
}

fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes an empty lease/status record if none exists yet. The host's compare-and-swap only guards a
/// key that exists, so without this two VMs racing for the first lease would both win it and fetch.
/// The first lease is taken on the first tick, long after every VM's configure has passed here.
fn create_state_record(key: &str) {
    if let Ok((None, _)) = hostcalls::get_shared_data(key) {
        let _ = hostcalls::set_shared_data(key, Some(&SharedState::default().encode()), None);
    }
}

/// A request paused until what it needs (a provider's key set) is loaded or has failed.
struct Waiter {
    context_id: u32,
    /// The request's headers ended its stream (no body): a resumed check must see the same.
    end_of_stream: bool,
    since_ms: u64,
    /// What the request waits for: it is re-checked when one of these changes (or it is overdue).
    needs: Vec<Need>,
}

/// State of one VM shared by its root and request contexts.
struct Vm {
    engine: Engine,
    jwks: RefCell<JwksCache>,
    waiters: RefCell<Vec<Waiter>>,
    /// Longest a request may wait for keys before it gets 503.
    max_wait_ms: u64,
    metrics: RefCell<HashMap<String, u32>>,
    /// Per-request counters, defined once at configuration so the request path formats no names.
    hot: HotMetrics,
    /// Whether route metadata must be read (only when rule sets are configured).
    reads_route_metadata: bool,
}

/// Ids of the counters touched on every request.
struct HotMetrics {
    allowed: Option<u32>,
    denied: Option<u32>,
    would_deny: Option<u32>,
    cache_hit: Option<u32>,
    cache_miss: Option<u32>,
    /// Indexed like `Reason::ALL`.
    by_reason: Vec<Option<u32>>,
    by_key: HashMap<String, u32>,
    by_provider: HashMap<String, u32>,
}

impl HotMetrics {
    fn define(config: &Config) -> Self {
        let counter = |name: &str| hostcalls::define_metric(MetricType::Counter, name).ok();
        let named = |names: Vec<String>, f: fn(&str) -> String| {
            names
                .into_iter()
                .filter_map(|n| counter(&f(&n)).map(|id| (n, id)))
                .collect::<HashMap<_, _>>()
        };
        HotMetrics {
            allowed: counter(stats::ALLOWED),
            denied: counter(stats::DENIED),
            would_deny: counter(stats::WOULD_DENY),
            cache_hit: counter(stats::CACHE_HIT),
            cache_miss: counter(stats::CACHE_MISS),
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
            by_provider: named(
                config.providers.keys().cloned().collect(),
                stats::provider_verified,
            ),
        }
    }

    fn reason(&self, reason: Reason) -> Option<u32> {
        let i = Reason::ALL.iter().position(|r| *r == reason)?;
        self.by_reason.get(i).copied().flatten()
    }
}

fn bump(id: Option<u32>, n: u32) {
    if let (Some(id), true) = (id, n > 0) {
        let _ = hostcalls::increment_metric(id, i64::from(n));
    }
}

impl Vm {
    fn metric(&self, kind: MetricType, name: &str) -> Option<u32> {
        if let Some(id) = self.metrics.borrow().get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, name).ok()?;
        self.metrics.borrow_mut().insert(name.to_string(), id);
        Some(id)
    }

    fn count(&self, name: &str) {
        self.add(name, 1);
    }

    fn add(&self, name: &str, n: u32) {
        if n == 0 {
            return;
        }
        if let Some(id) = self.metric(MetricType::Counter, name) {
            let _ = hostcalls::increment_metric(id, i64::from(n));
        }
    }

    fn gauge(&self, name: &str, value: u64) {
        if let Some(id) = self.metric(MetricType::Gauge, name) {
            let _ = hostcalls::record_metric(id, value);
        }
    }
}

struct Root {
    context_id: u32,
    /// Random id of this VM in shared-data leases.
    vm_token: u64,
    vm: Option<Rc<Vm>>,
    /// Callouts in flight: token → provider.
    calls: HashMap<u32, String>,
}

impl Root {
    fn new(context_id: u32) -> Self {
        let mut b = [0u8; 8];
        let vm_token = match getrandom::getrandom(&mut b) {
            Ok(()) => u64::from_le_bytes(b) | 1,
            Err(_) => (now_ms() << 16) | u64::from(context_id) | 1,
        };
        Root {
            context_id,
            vm_token,
            vm: None,
            calls: HashMap::new(),
        }
    }

    /// Reads the shared lease/status and key records; installs a newer key set. True if anything
    /// changed that waiting requests should see.
    fn sync(&self, vm: &Vm, name: &str, now: u64) -> bool {
        let mut cache = vm.jwks.borrow_mut();
        let Some(p) = cache.providers.get_mut(name) else {
            return false;
        };
        let state = match hostcalls::get_shared_data(&p.state_key) {
            Ok((Some(bytes), _)) => SharedState::decode(&bytes),
            _ => SharedState::default(),
        };
        let mut changed = p.observe(state, now);
        if state.last_ok_ms > 0
            && p.age_ms(now)
                .is_none_or(|age| now.saturating_sub(age) < state.last_ok_ms)
        {
            if let Ok((Some(bytes), version)) = hostcalls::get_shared_data(&p.keys_key) {
                if version != p.keys_version {
                    if let Some(record) = KeysRecord::decode(&bytes) {
                        match parse_jwks(&record.body) {
                            Ok((set, _)) => {
                                p.install(set, record.fetched_at_ms, version);
                                changed = true;
                            }
                            Err(e) => log::warn!(
                                "edgeguard: provider {name}: shared key set unreadable: {e}"
                            ),
                        }
                    }
                }
            }
        }
        if let Some(age) = p.age_ms(now) {
            vm.gauge(&stats::jwks_age(name), age / 1000);
        }
        changed
    }

    /// Starts a fetch for `name` if one is due and this VM wins the lease. True when waiting
    /// requests should be checked again (a wanted refetch turned out to be done already).
    fn maybe_fetch(&mut self, vm: &Vm, name: &str, now: u64) -> bool {
        let (remote, reason, key) = {
            let cache = vm.jwks.borrow();
            let Some(p) = cache.providers.get(name) else {
                return false;
            };
            let Some(reason) = p.fetch_due(now) else {
                return false;
            };
            (p.remote.clone(), reason, p.state_key.clone())
        };
        let (current, cas) = match hostcalls::get_shared_data(&key) {
            Ok((bytes, cas)) => (
                bytes.map(|b| SharedState::decode(&b)).unwrap_or_default(),
                cas,
            ),
            Err(_) => return false,
        };
        if current.leased(now) {
            return false;
        }
        if reason == FetchReason::UnknownKid && current.forced_recently(now) {
            // Another VM refetched since this VM last looked: its result answers the request.
            if let Some(p) = vm.jwks.borrow_mut().providers.get_mut(name) {
                p.observe(current, now);
            }
            return true;
        }
        let mut next = current;
        next.holder = self.vm_token;
        next.lease_until_ms = now.saturating_add(remote.timeout_ms).saturating_add(1000);
        if reason == FetchReason::UnknownKid {
            next.forced_ms = now;
        }
        if hostcalls::set_shared_data(&key, Some(&next.encode()), cas).is_err() {
            return false; // another VM took the lease first
        }
        if let Some(p) = vm.jwks.borrow_mut().providers.get_mut(name) {
            p.state = next;
            p.clear_refetch();
        }
        let headers = vec![
            (":method", "GET"),
            (":path", remote.path.as_str()),
            (":authority", remote.authority.as_str()),
            ("accept", "application/json"),
        ];
        match hostcalls::dispatch_http_call(
            &remote.cluster,
            headers,
            None,
            vec![],
            Duration::from_millis(remote.timeout_ms),
        ) {
            Ok(token) => {
                log::debug!(
                    "edgeguard: provider {name}: fetching JWKS ({})",
                    reason.as_str()
                );
                self.calls.insert(token, name.to_string());
                false
            }
            Err(status) => {
                self.fetch_done(
                    vm,
                    name,
                    now,
                    Err(format!(
                        "cannot dispatch to cluster {:?}: {status:?}",
                        remote.cluster
                    )),
                );
                true
            }
        }
    }

    /// Records a fetch outcome in shared data and locally.
    fn fetch_done(
        &self,
        vm: &Vm,
        name: &str,
        now: u64,
        result: Result<(Vec<u8>, crate::jwk::KeySet), String>,
    ) {
        let ok = result.is_ok();
        vm.count(&stats::jwks_fetch(name, ok));
        let Some((key, keys_key)) = vm
            .jwks
            .borrow()
            .providers
            .get(name)
            .map(|p| (p.state_key.clone(), p.keys_key.clone()))
        else {
            return;
        };
        for _ in 0..8 {
            let (mut state, cas) = match hostcalls::get_shared_data(&key) {
                Ok((bytes, cas)) => (
                    bytes.map(|b| SharedState::decode(&b)).unwrap_or_default(),
                    cas,
                ),
                Err(_) => (SharedState::default(), None),
            };
            if state.holder == self.vm_token {
                state.holder = 0;
                state.lease_until_ms = 0;
            }
            match &result {
                Ok((body, _)) => {
                    let record = KeysRecord {
                        fetched_at_ms: now,
                        body: body.clone(),
                    };
                    let _ = hostcalls::set_shared_data(&keys_key, Some(&record.encode()), None);
                    state.last_ok_ms = now;
                    state.failures = 0;
                }
                Err(_) => {
                    state.last_fail_ms = now;
                    state.failures = state.failures.saturating_add(1);
                }
            }
            if hostcalls::set_shared_data(&key, Some(&state.encode()), cas).is_ok() {
                break;
            }
        }
        match result {
            Ok((_, set)) => {
                log::info!("edgeguard: provider {name}: JWKS loaded, {} usable key(s)", set.len());
                let version = hostcalls::get_shared_data(&keys_key).ok().and_then(|(_, v)| v);
                if let Some(p) = vm.jwks.borrow_mut().providers.get_mut(name) {
                    p.install(set, now, version);
                }
            }
            Err(why) => log::warn!("edgeguard: provider {name}: JWKS fetch failed: {why}; keeping the last good key set if any"),
        }
        self.sync(vm, name, now);
    }

    /// Re-checks the paused requests that need a provider in `changed`, and those waiting past
    /// `max_wait_ms` (which get 503 if still not decided); the others keep waiting.
    fn resume_waiters(&self, vm: &Rc<Vm>, now: u64, changed: &[&str]) {
        let all = std::mem::take(&mut *vm.waiters.borrow_mut());
        let (due, waiting): (Vec<Waiter>, Vec<Waiter>) = all.into_iter().partition(|w| {
            now.saturating_sub(w.since_ms) > vm.max_wait_ms
                || w.needs.iter().any(|n| changed.contains(&n.provider()))
        });
        vm.waiters.borrow_mut().extend(waiting);
        for w in due {
            if hostcalls::set_effective_context(w.context_id).is_err() {
                continue; // the stream is gone
            }
            let attempt = if now.saturating_sub(w.since_ms) > vm.max_wait_ms {
                Attempt::Last {
                    since_ms: w.since_ms,
                }
            } else {
                Attempt::Resumed {
                    since_ms: w.since_ms,
                }
            };
            process(vm, w.context_id, w.end_of_stream, attempt);
        }
        let _ = hostcalls::set_effective_context(self.context_id);
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(name) = self.calls.remove(&token_id) else {
            return;
        };
        let Some(vm) = self.vm.clone() else { return };
        let now = now_ms();
        let max_bytes = vm
            .jwks
            .borrow()
            .providers
            .get(&name)
            .map_or(0, |p| p.remote.max_bytes);
        let status = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten();
        let status = status
            .as_deref()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u16>().ok());
        let result = match status {
            None => Err("no response (timeout or connection failure)".to_string()),
            Some(200) if body_size > max_bytes => Err(format!(
                "response of {body_size} bytes exceeds max_bytes {max_bytes}"
            )),
            Some(200) => {
                match hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size) {
                    Ok(Some(body)) => match parse_jwks(&body) {
                        Ok((set, skipped)) => {
                            for s in skipped {
                                log::warn!(
                                    "edgeguard: provider {name}: skipped JWK kid={:?}: {}",
                                    s.kid.as_deref().unwrap_or("-"),
                                    s.why
                                );
                            }
                            Ok((body, set))
                        }
                        Err(e) => Err(format!("unusable JWKS: {e}")),
                    },
                    _ => Err("empty response body".to_string()),
                }
            }
            Some(code) => Err(format!("HTTP status {code}")),
        };
        self.fetch_done(&vm, &name, now, result);
        self.resume_waiters(&vm, now, &[name.as_str()]);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        follow_host_log_level();
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(b) => b.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let config = match Config::parse(&bytes) {
            Ok(c) => c,
            Err(e) => {
                log::error!("edgeguard: {e}");
                return false;
            }
        };
        let mut jwks = JwksCache::default();
        let mut max_wait_ms = 0;
        for (name, p) in &config.providers {
            if let JwksSource::Remote(r) = &p.jwks {
                max_wait_ms = max_wait_ms.max(r.timeout_ms.saturating_add(2000));
                jwks.providers
                    .insert(name.clone(), ProviderKeys::new(name, r.clone()));
            }
        }
        let remote = !jwks.providers.is_empty();
        log::info!(
            "edgeguard: configured: mode={:?}, {} API key(s), {} provider(s)",
            config.mode,
            config.api_keys.as_ref().map_or(0, |k| k.keys().len()),
            config.providers.len()
        );
        if config
            .providers
            .values()
            .any(|p| p.algorithms.contains(&crate::jwk::Alg::ES256))
        {
            // Once per VM, at start-up rather than in the first ES256 request.
            crate::es256::prepare();
        }
        let hot = HotMetrics::define(&config);
        let reads_route_metadata = config.rules.uses_rule_sets();
        let vm = Rc::new(Vm {
            hot,
            reads_route_metadata,
            engine: Engine::new(config),
            jwks: RefCell::new(jwks),
            waiters: RefCell::new(Vec::new()),
            max_wait_ms,
            metrics: RefCell::new(HashMap::new()),
        });
        if let Some(old) = self.vm.replace(vm.clone()) {
            // A configuration update: requests paused under the old one are re-checked under the new.
            vm.waiters
                .borrow_mut()
                .extend(old.waiters.borrow_mut().drain(..));
        }
        if remote {
            for p in vm.jwks.borrow().providers.values() {
                create_state_record(&p.state_key);
            }
            let _ = hostcalls::set_tick_period(TICK);
        }
        true
    }

    fn on_tick(&mut self) {
        follow_host_log_level();
        let Some(vm) = self.vm.clone() else { return };
        let now = now_ms();
        let names: Vec<String> = vm.jwks.borrow().providers.keys().cloned().collect();
        let mut changed: Vec<&str> = Vec::new();
        for name in &names {
            // Both run: a sync and a fetch decision are each worth a re-check.
            let synced = self.sync(&vm, name, now);
            if self.maybe_fetch(&vm, name, now) || synced {
                changed.push(name);
            }
        }
        let overdue = vm
            .waiters
            .borrow()
            .iter()
            .any(|w| now.saturating_sub(w.since_ms) > vm.max_wait_ms);
        if (!changed.is_empty() || overdue) && !vm.waiters.borrow().is_empty() {
            self.resume_waiters(&vm, now, &changed);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let vm = self.vm.clone()?;
        Some(Box::new(Filter { vm, context_id }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    vm: Rc<Vm>,
    context_id: u32,
}

impl Context for Filter {}

/// The SDK drops the context in `proxy_on_delete`, the one end-of-stream callback the built module
/// exports (see `tools/trim_exports.py`): a paused request whose client went away must not be
/// resumed later.
impl Drop for Filter {
    fn drop(&mut self) {
        if let Ok(mut waiters) = self.vm.waiters.try_borrow_mut() {
            waiters.retain(|w| w.context_id != self.context_id);
        }
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        process(&self.vm, self.context_id, end_of_stream, Attempt::First)
    }
}

/// Which check of a request this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// On the request headers: the request is not paused yet.
    First,
    /// A paused request re-checked (paused at `since_ms`): it must be resumed or answered.
    Resumed { since_ms: u64 },
    /// A paused request that may wait no longer: keys still loading count as unavailable (503).
    Last { since_ms: u64 },
}

impl Attempt {
    /// When the request was first paused, if it was.
    fn paused_since(self) -> Option<u64> {
        match self {
            Attempt::First => None,
            Attempt::Resumed { since_ms } | Attempt::Last { since_ms } => Some(since_ms),
        }
    }
}

/// Checks the current request (the effective context) and applies the decision.
fn process(vm: &Rc<Vm>, context_id: u32, end_of_stream: bool, attempt: Attempt) -> Action {
    let headers = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default();
    let req = Request::from_host(headers, end_of_stream);
    let rule_set = if vm.reads_route_metadata {
        hostcalls::get_property(RULE_SET_PROPERTY.to_vec())
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
    } else {
        None
    };
    let now = now_ms();
    let check = {
        let cache = vm.jwks.borrow();
        let keys = if matches!(attempt, Attempt::Last { .. }) {
            cache.at_final(now)
        } else {
            cache.at(now)
        };
        vm.engine
            .check(&req, now / 1000, &keys, rule_set.as_deref())
    };
    let Check { outcome, events } = check;
    for p in &events.verified {
        bump(vm.hot.by_provider.get(p).copied(), 1);
    }
    bump(vm.hot.cache_hit, events.cache_hits);
    bump(vm.hot.cache_miss, events.cache_misses);
    match outcome {
        Outcome::Wait(needs) => {
            log::debug!("edgeguard: waiting for {needs:?}");
            vm.waiters.borrow_mut().push(Waiter {
                context_id,
                end_of_stream,
                since_ms: attempt.paused_since().unwrap_or(now),
                needs,
            });
            Action::Pause
        }
        Outcome::Decided(Decision::Allow { ops }) => {
            if let Some(reason) = events.denied {
                log::info!(
                    "edgeguard: report-only: would deny {} {}: {}",
                    req.method,
                    req.path_only(),
                    reason.code()
                );
                bump(vm.hot.would_deny, 1);
                bump(vm.hot.reason(reason), 1);
            }
            bump(vm.hot.allowed, 1);
            if let Some(id) = &events.key_id {
                bump(vm.hot.by_key.get(id).copied(), 1);
            }
            for op in ops {
                let r = match &op {
                    HeaderOp::Remove(n) => {
                        hostcalls::set_map_value(MapType::HttpRequestHeaders, n, None)
                    }
                    HeaderOp::Set(n, v) => {
                        hostcalls::set_map_value(MapType::HttpRequestHeaders, n, Some(v))
                    }
                    HeaderOp::SetBytes(n, v) => {
                        hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, n, Some(v))
                    }
                };
                if let Err(s) = r {
                    log::warn!("edgeguard: cannot edit request header: {s:?}");
                }
            }
            if attempt.paused_since().is_some() {
                let _ = hostcalls::resume_http_request();
            }
            Action::Continue
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
            bump(vm.hot.denied, 1);
            bump(vm.hot.reason(denial.reason), 1);
            send(&denial);
            Action::Pause
        }
    }
}

fn send(denial: &crate::decision::Denial) {
    let headers = denial.headers();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Err(s) = hostcalls::send_http_response(
        u32::from(denial.status),
        headers,
        Some(denial.body().as_bytes()),
    ) {
        log::warn!("edgeguard: cannot send local reply: {s:?}");
    }
}
