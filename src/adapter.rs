//! The proxy-wasm adapter: the host's callbacks (through `edgeguard_abi`, the ABI without the SDK)
//! turned into calls on the [`Plugin`], and the host ports ([`crate::host`]) implemented over the
//! host calls. Nothing else: what to fetch, when to resume and what to answer is decided in the core.
//!
//! A request costs two calls into the VM (context creation, request headers) and no per-request
//! state here: paused requests are the core's waiters, named by context id.

use crate::host::{
    Callout, CalloutResponse, Callouts, Clock, MetricKind, Metrics, SharedData, Stream, Timer,
    WriteError,
};
use crate::plugin::{Flow, Plugin};
use edgeguard_abi::host::{self as abi, BufferType, MapType, MetricType, Status};
use edgeguard_abi::{Action, Root};
use std::cell::RefCell;
use std::rc::Rc;

edgeguard_abi::main!(|context_id| -> Rc<dyn Root> { Rc::new(VmRoot::new(context_id)) });

/// The host, as the core's ports.
struct Proxy;

impl Clock for Proxy {
    fn now_ms(&self) -> u64 {
        abi::now_ns() / 1_000_000
    }
}

impl SharedData for Proxy {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        abi::get_shared_data(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), WriteError> {
        abi::set_shared_data(key, value, cas).map_err(|s| match s {
            Status::CasMismatch => WriteError::Conflict,
            _ => WriteError::Failed,
        })
    }
}

impl Callouts for Proxy {
    fn dispatch(&self, call: &Callout) -> Result<u32, String> {
        let headers: Vec<(&str, &[u8])> = call
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        let timeout = u32::try_from(call.timeout_ms).unwrap_or(u32::MAX);
        abi::http_call(&call.cluster, &headers, call.body.as_deref(), timeout)
            .map_err(|s| format!("{s:?}"))
    }

    fn response_body(&self, max: usize) -> Option<Vec<u8>> {
        abi::get_buffer(BufferType::HttpCallResponseBody, 0, max)
    }
}

impl Metrics for Proxy {
    fn define(&self, kind: MetricKind, name: &str) -> Option<u32> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        abi::define_metric(kind, name)
    }

    fn add(&self, id: u32, n: u64) {
        abi::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
    }

    fn record(&self, id: u32, value: u64) {
        abi::record_metric(id, value);
    }
}

impl Stream for Proxy {
    fn enter(&self, context_id: u32) -> bool {
        abi::set_effective_context(context_id).is_ok()
    }

    fn request_headers(&self) -> Vec<(String, Vec<u8>)> {
        abi::get_map(MapType::RequestHeaders)
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        abi::get_property(path)
    }

    fn set_header(&self, name: &str, value: Option<&[u8]>) {
        if let Err(s) = abi::set_map_value(MapType::RequestHeaders, name, value) {
            log::warn!("edgeguard: cannot edit request header: {s:?}");
        }
    }

    fn publish(&self, name: &str, value: &[u8]) {
        if let Err(s) = abi::set_property(name, value) {
            log::warn!("edgeguard: cannot set property {name}: {s:?}");
        }
    }

    fn send_response(&self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        if let Err(s) = abi::send_local_response(status, &headers, body) {
            log::warn!("edgeguard: cannot send local reply: {s:?}");
        }
    }

    fn resume(&self) {
        let _ = abi::resume_request();
    }
}

impl Timer for Proxy {
    fn set_tick_ms(&self, period_ms: u64) {
        abi::set_tick_period_ms(u32::try_from(period_ms).unwrap_or(u32::MAX));
    }
}

/// One root context: its id in shared-data leases, and the plugin under its current configuration.
struct VmRoot {
    context_id: u32,
    /// Random id of this VM in shared-data leases.
    vm_token: u64,
    plugin: RefCell<Option<Rc<Plugin>>>,
}

impl VmRoot {
    fn new(context_id: u32) -> Self {
        let mut b = [0u8; 8];
        let vm_token = match getrandom::getrandom(&mut b) {
            Ok(()) => u64::from_le_bytes(b) | 1,
            Err(_) => (Proxy.now_ms() << 16) | u64::from(context_id) | 1,
        };
        VmRoot {
            context_id,
            vm_token,
            plugin: RefCell::new(None),
        }
    }

    fn plugin(&self) -> Option<Rc<Plugin>> {
        self.plugin.try_borrow().ok().and_then(|p| p.clone())
    }
}

impl Root for VmRoot {
    fn on_configure(&self, configuration: Vec<u8>) -> bool {
        // Format log lines only at the level the host prints; re-read on every tick too (so
        // `/logging?wasm=debug` takes effect within one).
        edgeguard_abi::follow_host_level();
        let plugin = match Plugin::configure(&Proxy, &configuration, self.context_id, self.vm_token)
        {
            Ok(p) => Rc::new(p),
            Err(e) => {
                log::error!("edgeguard: {e}");
                return false;
            }
        };
        let old = match self.plugin.try_borrow_mut() {
            Ok(mut slot) => slot.replace(plugin.clone()),
            Err(_) => return false,
        };
        if let Some(old) = old {
            plugin.take_over(&Proxy, &old);
        }
        true
    }

    fn on_tick(&self) {
        edgeguard_abi::follow_host_level();
        if let Some(plugin) = self.plugin() {
            plugin.on_tick(&Proxy);
        }
    }

    fn on_http_call_response(&self, token: u32, _num_headers: usize, body_size: usize) {
        let Some(plugin) = self.plugin() else { return };
        let status =
            abi::get_map_value(MapType::HttpCallResponseHeaders, ":status").and_then(|s| {
                std::str::from_utf8(&s)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
            });
        plugin.on_response(&Proxy, token, &CalloutResponse { status, body_size });
    }

    fn on_request_headers(
        &self,
        context_id: u32,
        _num_headers: usize,
        end_of_stream: bool,
    ) -> Action {
        let Some(plugin) = self.plugin() else {
            // Not configured (the host refused the configuration): nothing passes unchecked.
            Proxy.send_response(500, &[], b"edgeguard is not configured");
            return Action::Pause;
        };
        match plugin.on_request(&Proxy, context_id, end_of_stream) {
            Flow::Continue => Action::Continue,
            Flow::Pause => Action::Pause,
        }
    }
}
