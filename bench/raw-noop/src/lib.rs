//! A no-op proxy-wasm HTTP filter on the raw ABI (no SDK): the bench's floor (`wasm_noop_raw`).
//!
//! Exports, and why each (checked against proxy-wasm-cpp-host, which Envoy embeds):
//! - `proxy_abi_version_0_2_1`: the host reads the ABI version from a *function* export of this
//!   name (0_1_0, 0_2_0 and 0_2_1 are known; the module is refused without one). The Rust SDK
//!   exports the same marker.
//! - `proxy_on_memory_allocate(size) -> ptr`: the host's allocator into the VM; it looks for
//!   `malloc` first, then this name, and refuses a module with neither.
//! - `proxy_on_context_create(context_id, parent_id)`: called once per context (the root context
//!   at start, then one per HTTP stream).
//! - `proxy_on_request_headers(context_id, num_headers, end_of_stream) -> action`: reads the
//!   request header map once (`proxy_get_header_map_pairs`, map type 0 = request headers; the host
//!   allocates the serialized map in this module through the allocator above), frees it and
//!   returns 0 (Continue).
//!
//! Not exported, because the host treats a missing callback as success and skips the call:
//! `proxy_on_vm_start` and `proxy_on_configure` (missing = true), `proxy_on_done` (missing = true),
//! `proxy_on_log` and `proxy_on_delete` (nothing to free: this filter keeps no per-context state).
//! Besides these the module exports only `memory`; its one import is `proxy_get_header_map_pairs`.
//!
//! All values are i32 on wasm32 (the host checks each export's signature: `Word` = i32).

use std::alloc::{alloc, dealloc, Layout};

/// `WasmHeaderMapType::RequestHeaders`.
const MAP_REQUEST_HEADERS: u32 = 0;
/// `FilterHeadersStatus::Continue` (the SDK's `Action::Continue`).
const CONTINUE: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    /// Writes the address and size of the serialized map (allocated in this module through
    /// `proxy_on_memory_allocate`; address 0 and size 0 for an empty map). Returns a `WasmResult`
    /// (0 = Ok).
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
}

/// Byte buffers for the host, align 1 (the SDK's allocator hands out `u8` boxes too). A zero-size
/// request gets one byte so the pointer is real; `layout` is shared with the free below.
fn layout(size: usize) -> Layout {
    // Align 1 and a size below isize::MAX on wasm32 for any size the host can ask for.
    match Layout::from_size_align(size.max(1), 1) {
        Ok(l) => l,
        Err(_) => std::process::abort(),
    }
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    // SAFETY: `layout` never has size 0. A null return tells the host the allocation failed.
    unsafe { alloc(layout(size)) }
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context_id: u32, _parent_context_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    _context_id: u32,
    _num_headers: u32,
    _end_of_stream: u32,
) -> u32 {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: both out-pointers are valid locals; the host writes one address and one size.
    let status = unsafe { proxy_get_header_map_pairs(MAP_REQUEST_HEADERS, &mut data, &mut size) };
    if status == 0 && !data.is_null() {
        // SAFETY: a non-null `data` was allocated by `proxy_on_memory_allocate(size)` for this
        // call and is owned by this module now.
        unsafe { dealloc(data, layout(size)) };
    }
    CONTINUE
}
