//! Host ports: the few things the core needs from a proxy-wasm host, as small traits.
//!
//! The adapter implements them over `hostcalls`; [`crate::testing::MockHost`] implements them in memory
//! for native tests. Nothing here knows proxy-wasm types.
//!
//! Shared data has two traps every user of [`SharedData`] must design for (both are Envoy facts):
//! - compare-and-swap is **ignored for a key that does not exist yet**: two writers racing to create a
//!   key both succeed. Create a record first ([`SharedData::create`]), and take leases on it after.
//! - keys can **never be deleted** and cannot be listed: anything per token or per identity must live
//!   in a fixed set of pre-created slot keys with bounded entries, never in a key per value.

/// Milliseconds since the Unix epoch, as the host tells them.
pub trait Clock {
    fn now_ms(&self) -> u64;
}

/// A shared-data write that lost: the record changed since it was read (another VM wrote it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// The compare-and-swap version did not match.
    Conflict,
    /// The host refused the write for another reason.
    Failed,
}

/// Key/value data shared by every VM of the plugin in one proxy (one per Envoy worker).
pub trait SharedData {
    /// The value and its compare-and-swap version; `None` when the key was never written (or on a
    /// host error, which the callers treat the same way).
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Writes `value`. With `cas`, only if the record is still at that version — a check the host
    /// skips when the key does not exist yet (see the module doc).
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), WriteError>;
    /// Writes `initial` if the key has no value yet. Every VM calls this at configure for the records
    /// it leases later, so that compare-and-swap guards them.
    fn create(&self, key: &str, initial: &[u8]) {
        if self.get(key).is_none() {
            let _ = self.set(key, initial, None);
        }
    }
}

/// One outgoing HTTP request to an Envoy cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    pub cluster: String,
    /// Pseudo-headers first (`:method`, `:path`, `:authority`), then the others.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: u64,
}

/// The answer to a [`Callout`], as the host delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalloutResponse {
    /// `None` when the host got no response (timeout, reset, no healthy upstream).
    pub status: Option<u16>,
    /// Size of the body the host holds.
    pub body_size: usize,
}

/// HTTP callouts: dispatch, then read the response body when the host reports it.
pub trait Callouts {
    /// Starts the call; the token names it in the response. `Err` carries the host's reason.
    fn dispatch(&self, call: &Callout) -> Result<u32, String>;
    /// The body of the response being delivered (only during that delivery), at most `max` bytes.
    fn response_body(&self, max: usize) -> Option<Vec<u8>>;
}

/// Kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// Host metrics, by id. Defining is slow (a name lookup in the host): do it once per name.
pub trait Metrics {
    fn define(&self, kind: MetricKind, name: &str) -> Option<u32>;
    fn add(&self, id: u32, n: u64);
    fn record(&self, id: u32, value: u64);
}

/// The request stream the host is delivering (the "effective context").
pub trait Stream {
    /// Makes the paused request `context_id` the current one; false when it is gone.
    fn enter(&self, context_id: u32) -> bool;
    /// The request headers, values as bytes (a value need not be UTF-8).
    fn request_headers(&self) -> Vec<(String, Vec<u8>)>;
    /// A property of the stream (route metadata, connection facts), by path.
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
    /// Sets a request header (`None` removes it).
    fn set_header(&self, name: &str, value: Option<&[u8]>);
    /// Sets the stream's one-segment property `name` (Envoy: the filter state `wasm.<name>`, which
    /// rate-limit descriptors and access logs read).
    fn publish(&self, name: &str, value: &[u8]);
    /// Answers the request locally.
    fn send_response(&self, status: u16, headers: &[(&str, &str)], body: &[u8]);
    /// Lets a paused request continue.
    fn resume(&self);
}

/// The VM's timer (`on_tick`).
pub trait Timer {
    /// Ticks every `period_ms` from now on (0 stops the timer). Called from a request, it sets the
    /// timer of the request's root context.
    fn set_tick_ms(&self, period_ms: u64);
}

/// Everything the core asks of a host.
pub trait Host: Clock + SharedData + Callouts + Metrics + Stream + Timer {}

impl<T: Clock + SharedData + Callouts + Metrics + Stream + Timer> Host for T {}
