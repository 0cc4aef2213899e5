//! An in-memory proxy-wasm host for native tests of everything behind the host ports: shared data
//! with Envoy's compare-and-swap semantics (including the unchecked first write), HTTP callouts that
//! the test answers, metrics, request streams, a clock the test moves — and a count of every host
//! call, by kind, so the cost of a request path can be asserted.
//!
//! Failure injection: [`MockHost::fail_next_cas`] makes guarded writes lose, [`MockHost::fail_next_dispatch`]
//! makes dispatches fail. [`MockHost::sibling`] is another VM of the same proxy (same shared data and
//! clock; its own callouts, metrics and streams).

use crate::host::{
    Callout, Callouts, Clock, MetricKind, Metrics, SharedData, Stream, Timer, WriteError,
};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// A local reply a request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Default)]
struct MockStream {
    headers: Vec<(String, Vec<u8>)>,
    properties: HashMap<Vec<String>, Vec<u8>>,
    /// What the plugin published ([`Stream::publish`]), in order.
    published: Vec<(String, Vec<u8>)>,
    reply: Option<Reply>,
    resumed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    /// key → (value, version)
    data: HashMap<String, (Vec<u8>, u32)>,
    next_version: u32,
    /// Guarded writes that will lose, whatever their version.
    cas_failures: u32,
}

/// See the module doc.
#[derive(Debug)]
pub struct MockHost {
    now: Rc<Cell<u64>>,
    shared: Rc<RefCell<Shared>>,
    dispatch_failures: Cell<u32>,
    next_token: Cell<u32>,
    /// Callouts dispatched and not yet answered, by token.
    pending: RefCell<BTreeMap<u32, Callout>>,
    /// The body of the response being delivered.
    delivering: RefCell<Option<Vec<u8>>>,
    /// Metric name, kind and value; the id is the index.
    metrics: RefCell<Vec<(String, MetricKind, u64)>>,
    streams: RefCell<BTreeMap<u32, MockStream>>,
    current: Cell<u32>,
    tick_ms: Cell<u64>,
    calls: RefCell<BTreeMap<&'static str, u32>>,
}

impl MockHost {
    /// A host whose clock reads `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        MockHost {
            now: Rc::new(Cell::new(now_ms)),
            shared: Rc::new(RefCell::new(Shared::default())),
            dispatch_failures: Cell::new(0),
            next_token: Cell::new(1),
            pending: RefCell::new(BTreeMap::new()),
            delivering: RefCell::new(None),
            metrics: RefCell::new(Vec::new()),
            streams: RefCell::new(BTreeMap::new()),
            current: Cell::new(0),
            tick_ms: Cell::new(0),
            calls: RefCell::new(BTreeMap::new()),
        }
    }

    /// Another VM of the same proxy: same shared data and clock.
    pub fn sibling(&self) -> Self {
        let mut other = MockHost::new(0);
        other.now = self.now.clone();
        other.shared = self.shared.clone();
        other
    }

    fn count(&self, call: &'static str) {
        *self.calls.borrow_mut().entry(call).or_insert(0) += 1;
    }

    /// Host calls made so far, by kind (`get_headers`, `set_header`, `metric_add`, ...).
    pub fn host_calls(&self) -> BTreeMap<&'static str, u32> {
        self.calls.borrow().clone()
    }

    /// Total host calls made so far.
    pub fn host_call_total(&self) -> u32 {
        self.calls.borrow().values().sum()
    }

    pub fn reset_host_calls(&self) {
        self.calls.borrow_mut().clear();
    }

    /// The timer period last set (0: no timer).
    pub fn tick_ms(&self) -> u64 {
        self.tick_ms.get()
    }

    pub fn set_now(&self, now_ms: u64) {
        self.now.set(now_ms);
    }

    pub fn advance(&self, ms: u64) {
        self.now.set(self.now.get().saturating_add(ms));
    }

    /// The next `n` compare-and-swap-guarded writes lose (as if another VM wrote first).
    pub fn fail_next_cas(&self, n: u32) {
        self.shared.borrow_mut().cas_failures = n;
    }

    /// The next `n` dispatches fail (no such cluster).
    pub fn fail_next_dispatch(&self, n: u32) {
        self.dispatch_failures.set(n);
    }

    /// Callouts in flight, by token.
    pub fn pending_calls(&self) -> Vec<(u32, Callout)> {
        self.pending
            .borrow()
            .iter()
            .map(|(t, c)| (*t, c.clone()))
            .collect()
    }

    /// Takes the callout `token` out of the pending set and stages `body` as its response body; the
    /// test then calls the plugin's response handler.
    pub fn answer(&self, token: u32, body: &[u8]) -> Option<Callout> {
        *self.delivering.borrow_mut() = Some(body.to_vec());
        self.pending.borrow_mut().remove(&token)
    }

    /// A shared-data value, for assertions.
    pub fn shared_value(&self, key: &str) -> Option<Vec<u8>> {
        self.shared.borrow().data.get(key).map(|(v, _)| v.clone())
    }

    /// Shared-data keys, for assertions.
    pub fn shared_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.shared.borrow().data.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// A metric's value by name.
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.metrics
            .borrow()
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
    }

    /// Opens request stream `context_id` with these headers and makes it current.
    pub fn open(&self, context_id: u32, headers: &[(&str, &str)]) {
        let stream = MockStream {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            ..MockStream::default()
        };
        self.streams.borrow_mut().insert(context_id, stream);
        self.current.set(context_id);
    }

    /// Sets a stream property (route metadata, connection facts).
    pub fn set_property(&self, context_id: u32, path: &[&str], value: &[u8]) {
        if let Some(s) = self.streams.borrow_mut().get_mut(&context_id) {
            s.properties
                .insert(path.iter().map(|p| p.to_string()).collect(), value.to_vec());
        }
    }

    /// Closes a stream (the client went away).
    pub fn close(&self, context_id: u32) {
        self.streams.borrow_mut().remove(&context_id);
    }

    /// The local reply stream `context_id` got, if any.
    pub fn reply(&self, context_id: u32) -> Option<Reply> {
        self.streams
            .borrow()
            .get(&context_id)
            .and_then(|s| s.reply.clone())
    }

    /// Whether a paused stream was resumed.
    pub fn resumed(&self, context_id: u32) -> bool {
        self.streams
            .borrow()
            .get(&context_id)
            .is_some_and(|s| s.resumed)
    }

    /// The request headers of stream `context_id` as they are now (after the plugin's edits).
    /// The properties the plugin published on a stream, as text, by name.
    pub fn published(&self, context_id: u32) -> BTreeMap<String, String> {
        self.streams
            .borrow()
            .get(&context_id)
            .map(|s| {
                s.published
                    .iter()
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn headers(&self, context_id: u32) -> Vec<(String, Vec<u8>)> {
        self.streams
            .borrow()
            .get(&context_id)
            .map(|s| s.headers.clone())
            .unwrap_or_default()
    }

    fn with_current<T>(&self, f: impl FnOnce(&mut MockStream) -> T) -> Option<T> {
        self.streams
            .borrow_mut()
            .get_mut(&self.current.get())
            .map(f)
    }
}

impl Clock for MockHost {
    fn now_ms(&self) -> u64 {
        self.count("clock");
        self.now.get()
    }
}

impl SharedData for MockHost {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.count("shared_get");
        self.shared.borrow().data.get(key).cloned()
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), WriteError> {
        self.count("shared_set");
        let mut shared = self.shared.borrow_mut();
        let exists = shared.data.get(key).map(|(_, v)| *v);
        if let (Some(version), Some(cas)) = (exists, cas) {
            // Envoy checks the version only for an existing key, and only when one is given.
            if shared.cas_failures > 0 {
                shared.cas_failures -= 1;
                return Err(WriteError::Conflict);
            }
            if cas != 0 && cas != version {
                return Err(WriteError::Conflict);
            }
        }
        shared.next_version = shared.next_version.wrapping_add(1).max(1);
        let version = shared.next_version;
        shared
            .data
            .insert(key.to_string(), (value.to_vec(), version));
        Ok(())
    }
}

impl Callouts for MockHost {
    fn dispatch(&self, call: &Callout) -> Result<u32, String> {
        self.count("dispatch");
        if self.dispatch_failures.get() > 0 {
            self.dispatch_failures.set(self.dispatch_failures.get() - 1);
            return Err("BadArgument".into());
        }
        let token = self.next_token.get();
        self.next_token.set(token.wrapping_add(1));
        self.pending.borrow_mut().insert(token, call.clone());
        Ok(token)
    }

    fn response_body(&self, max: usize) -> Option<Vec<u8>> {
        self.count("response_body");
        self.delivering.borrow_mut().take().map(|mut b| {
            b.truncate(max);
            b
        })
    }
}

impl Metrics for MockHost {
    fn define(&self, kind: MetricKind, name: &str) -> Option<u32> {
        self.count("metric_define");
        let mut m = self.metrics.borrow_mut();
        if let Some(i) = m.iter().position(|(n, _, _)| n == name) {
            return u32::try_from(i).ok();
        }
        m.push((name.to_string(), kind, 0));
        u32::try_from(m.len() - 1).ok()
    }

    fn add(&self, id: u32, n: u64) {
        self.count("metric_add");
        if let Some(m) = self.metrics.borrow_mut().get_mut(id as usize) {
            m.2 += n;
        }
    }

    fn record(&self, id: u32, value: u64) {
        self.count("metric_record");
        if let Some(m) = self.metrics.borrow_mut().get_mut(id as usize) {
            m.2 = value;
        }
    }
}

impl Stream for MockHost {
    fn enter(&self, context_id: u32) -> bool {
        self.count("enter");
        self.current.set(context_id);
        context_id == 0 || self.streams.borrow().contains_key(&context_id)
    }

    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        self.count("get_headers");
        self.with_current(|s| s.headers.clone()).unwrap_or_default()
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.count("get_property");
        let key: Vec<String> = path.iter().map(|p| p.to_string()).collect();
        self.with_current(|s| s.properties.get(&key).cloned())
            .flatten()
    }

    fn publish(&self, name: &str, value: &[u8]) {
        self.count("set_property");
        self.with_current(|s| s.published.push((name.to_string(), value.to_vec())));
    }

    fn set_header(&self, name: &str, value: Option<&[u8]>) {
        self.count(if value.is_some() {
            "set_header"
        } else {
            "remove_header"
        });
        self.with_current(|s| {
            s.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            if let Some(v) = value {
                s.headers.push((name.to_string(), v.to_vec()));
            }
        });
    }

    fn send_response(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        self.count("send_response");
        self.with_current(|s| {
            s.reply = Some(Reply {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body: body.to_vec(),
            });
        });
    }

    fn resume(&self) {
        self.count("resume");
        self.with_current(|s| s.resumed = true);
    }
}

impl Timer for MockHost {
    fn set_tick_ms(&self, period_ms: u64) {
        self.count("set_tick");
        self.tick_ms.set(period_ms);
    }
}
