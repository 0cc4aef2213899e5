//! The proxy-wasm ABI (version 0.2.1) as edgeguard uses it, without the SDK: the exports Envoy calls,
//! and safe wrappers of the host calls edgeguard makes. This crate holds all of edgeguard's `unsafe`
//! (raw pointers across the ABI); the plugin itself forbids it.
//!
//! Why not the SDK: per request it allocates a boxed context, keeps it in a map until the host's
//! `proxy_on_delete`, and needs that extra call into the VM to free it. edgeguard decides on the
//! request head from the plugin alone, so a request here costs two calls into the VM
//! (`proxy_on_context_create`, `proxy_on_request_headers`) and no per-request state.
//!
//! Exports (checked against proxy-wasm-cpp-host, which Envoy embeds; a missing callback is skipped by
//! the host and counts as success): `_initialize` (through [`main!`]), `proxy_abi_version_0_2_1`,
//! `proxy_on_memory_allocate`, `proxy_on_context_create`, `proxy_on_vm_start`, `proxy_on_configure`,
//! `proxy_on_tick`, `proxy_on_http_call_response`, `proxy_on_request_headers`. Not exported:
//! `proxy_on_done`/`proxy_on_log`/`proxy_on_delete` (nothing per request to free) and every response,
//! body, trailer and network callback.
//!
//! Contexts: a context created with parent 0 is a root context (one per plugin configuration in the
//! VM); the others are HTTP streams of a root. With one root (the usual case) streams need no
//! bookkeeping; with several, a stream's root is remembered from its creation to its request
//! headers (bounded).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod codec;
#[cfg(target_arch = "wasm32")]
mod exports;
#[cfg(target_arch = "wasm32")]
pub mod host;
#[cfg(target_arch = "wasm32")]
mod logger;

#[cfg(target_arch = "wasm32")]
pub use exports::set_root_factory;
#[cfg(target_arch = "wasm32")]
pub use logger::follow_host_level;

use std::rc::Rc;

/// What the host does with the stream after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

/// One root context (one plugin configuration in this VM). Callbacks take `&self`: the host may call
/// back into the VM while a callback runs (a local reply can end the stream at once).
pub trait Root {
    /// The plugin configuration arrived (also on an update). False refuses it.
    fn on_configure(&self, configuration: Vec<u8>) -> bool;
    fn on_tick(&self);
    /// A callout answered (or failed).
    fn on_http_call_response(&self, token: u32, num_headers: usize, body_size: usize);
    /// The request headers of stream `context_id` arrived.
    fn on_request_headers(
        &self,
        context_id: u32,
        num_headers: usize,
        end_of_stream: bool,
    ) -> Action;
}

/// Makes a root for a new root context id.
pub type RootFactory = fn(u32) -> Rc<dyn Root>;

/// Defines `_initialize`, which the host calls once when the module is instantiated: it runs the
/// module's constructors and registers the root factory.
#[macro_export]
macro_rules! main {
    ($factory:expr) => {
        extern "C" {
            fn __wasm_call_ctors();
        }

        #[no_mangle]
        pub extern "C" fn _initialize() {
            // SAFETY: the reactor's constructors, run once, before any other export.
            unsafe { __wasm_call_ctors() };
            $crate::set_root_factory($factory);
        }
    };
}
