//! The proxy-wasm adapter: the SDK's callbacks, turned into calls on the [`Plugin`], and the host
//! ports ([`crate::host`]) implemented over `hostcalls`. Nothing else: what to fetch, when to resume
//! and what to answer is decided in the core.
//!
//! Host calls have their errors handled; header maps are read as bytes because the SDK's string
//! getters panic on a non-UTF-8 header value, and a panic traps the VM.

use crate::host::{
    Callout, CalloutResponse, Callouts, Clock, MetricKind, Metrics, SharedData, Stream, Timer,
    WriteError,
};
use crate::plugin::{Flow, Plugin};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> { Box::new(Root::new(context_id)) });
}}

/// Formats log lines only at the level the host will print: a debug line per denied request would
/// otherwise be formatted and handed to Envoy just to be dropped. Re-read at configure and on each tick
/// (so `/logging?wasm=debug` takes effect within a tick when remote resources run the timer).
fn follow_host_log_level() {
    if let Ok(level) = hostcalls::get_log_level() {
        proxy_wasm::set_log_level(level);
    }
}

/// The host, as the core's ports.
struct Proxy;

impl Clock for Proxy {
    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl SharedData for Proxy {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(bytes), Some(cas))) => Some((bytes, cas)),
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), WriteError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|s| match s {
            Status::CasMismatch => WriteError::Conflict,
            _ => WriteError::Failed,
        })
    }
}

impl Callouts for Proxy {
    fn dispatch(&self, call: &Callout) -> Result<u32, String> {
        let headers: Vec<(&str, &str)> = call
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        hostcalls::dispatch_http_call(
            &call.cluster,
            headers,
            call.body.as_deref(),
            vec![],
            Duration::from_millis(call.timeout_ms),
        )
        .map_err(|s| format!("{s:?}"))
    }

    fn response_body(&self, max: usize) -> Option<Vec<u8>> {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, max)
            .ok()
            .flatten()
    }
}

impl Metrics for Proxy {
    fn define(&self, kind: MetricKind, name: &str) -> Option<u32> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        hostcalls::define_metric(kind, name).ok()
    }

    fn add(&self, id: u32, n: u64) {
        let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
    }

    fn record(&self, id: u32, value: u64) {
        let _ = hostcalls::record_metric(id, value);
    }
}

impl Stream for Proxy {
    fn enter(&self, context_id: u32) -> bool {
        hostcalls::set_effective_context(context_id).is_ok()
    }

    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default()
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        hostcalls::get_property(path.to_vec()).ok().flatten()
    }

    fn set_header(&self, name: &str, value: Option<&[u8]>) {
        if let Err(s) = hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, value) {
            log::warn!("edgeguard: cannot edit request header: {s:?}");
        }
    }

    fn send_response(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        if let Err(s) =
            hostcalls::send_http_response(u32::from(status), headers.to_vec(), Some(body))
        {
            log::warn!("edgeguard: cannot send local reply: {s:?}");
        }
    }

    fn resume(&self) {
        let _ = hostcalls::resume_http_request();
    }
}

impl Timer for Proxy {
    fn set_tick_ms(&self, period_ms: u64) {
        let _ = hostcalls::set_tick_period(Duration::from_millis(period_ms));
    }
}

struct Root {
    context_id: u32,
    /// Random id of this VM in shared-data leases.
    vm_token: u64,
    plugin: Option<Rc<Plugin>>,
}

impl Root {
    fn new(context_id: u32) -> Self {
        let mut b = [0u8; 8];
        let vm_token = match getrandom::getrandom(&mut b) {
            Ok(()) => u64::from_le_bytes(b) | 1,
            Err(_) => (Proxy.now_ms() << 16) | u64::from(context_id) | 1,
        };
        Root {
            context_id,
            vm_token,
            plugin: None,
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(plugin) = self.plugin.clone() else {
            return;
        };
        let status = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| {
                std::str::from_utf8(&s)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
            });
        plugin.on_response(&Proxy, token, &CalloutResponse { status, body_size });
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        follow_host_log_level();
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(b) => b.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let plugin = match Plugin::configure(&Proxy, &bytes, self.context_id, self.vm_token) {
            Ok(p) => Rc::new(p),
            Err(e) => {
                log::error!("edgeguard: {e}");
                return false;
            }
        };
        if let Some(old) = self.plugin.replace(plugin.clone()) {
            plugin.take_over(&Proxy, &old);
        }
        true
    }

    fn on_tick(&mut self) {
        follow_host_log_level();
        if let Some(plugin) = self.plugin.clone() {
            plugin.on_tick(&Proxy);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let plugin = self.plugin.clone()?;
        Some(Box::new(Filter { plugin, context_id }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    plugin: Rc<Plugin>,
    context_id: u32,
}

impl Context for Filter {}

/// The SDK drops the context in `proxy_on_delete`, the one end-of-stream callback the built module
/// exports (see `tools/trim_exports.py`): a paused request whose client went away must not be
/// resumed later.
impl Drop for Filter {
    fn drop(&mut self) {
        self.plugin.on_done(self.context_id);
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        match self
            .plugin
            .on_request(&Proxy, self.context_id, end_of_stream)
        {
            Flow::Continue => Action::Continue,
            Flow::Pause => Action::Pause,
        }
    }
}
