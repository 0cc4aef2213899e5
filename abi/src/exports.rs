//! The exports the host calls (see the crate doc for the list and why).

use crate::{host, Action, Root, RootFactory};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Streams remembered per root when there are several roots; beyond this the oldest are dropped
/// (a stream that never got its headers).
const MAX_PENDING_STREAMS: usize = 65_536;

#[derive(Default)]
struct Registry {
    factory: Option<RootFactory>,
    roots: Vec<(u32, Rc<dyn Root>)>,
    /// With several roots: stream → its root, from creation until its request headers.
    streams: HashMap<u32, u32>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Sets the factory of root contexts (call it from [`main!`]).
pub fn set_root_factory(factory: RootFactory) {
    REGISTRY.with(|r| r.borrow_mut().factory = Some(factory));
}

fn root(context_id: u32) -> Option<Rc<dyn Root>> {
    REGISTRY.with(|r| {
        let r = r.borrow();
        r.roots
            .iter()
            .find(|(id, _)| *id == context_id)
            .map(|(_, root)| root.clone())
    })
}

/// The root of a stream: the only root, or the one it was created under.
fn root_of_stream(context_id: u32) -> Option<Rc<dyn Root>> {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        if let [(_, only)] = r.roots.as_slice() {
            return Some(only.clone());
        }
        let parent = r.streams.remove(&context_id)?;
        r.roots
            .iter()
            .find(|(id, _)| *id == parent)
            .map(|(_, root)| root.clone())
    })
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host's allocator into the VM: buffers the host hands over (header maps, bodies, shared data)
/// are allocated here and taken back as `Vec<u8>` by [`host`] (same layout: align 1, capacity =
/// length = `size`).
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut v: Vec<u8> = Vec::with_capacity(size);
    let ptr = v.as_mut_ptr();
    std::mem::forget(v);
    ptr
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_id: u32) {
    REGISTRY.with(|r| {
        let Ok(mut r) = r.try_borrow_mut() else {
            return;
        };
        if parent_id == 0 {
            if let Some(factory) = r.factory {
                let root = factory(context_id);
                r.roots.push((context_id, root));
            }
        } else if r.roots.len() > 1 {
            if r.streams.len() >= MAX_PENDING_STREAMS {
                r.streams.clear();
            }
            r.streams.insert(context_id, parent_id);
        }
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_context_id: u32, _vm_configuration_size: usize) -> bool {
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(context_id: u32, configuration_size: usize) -> bool {
    let Some(root) = root(context_id) else {
        return false;
    };
    let configuration =
        host::get_buffer(host::BufferType::PluginConfiguration, 0, configuration_size)
            .unwrap_or_default();
    root.on_configure(configuration)
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    if let Some(root) = root(context_id) {
        root.on_tick();
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    context_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    if let Some(root) = root(context_id) {
        root.on_http_call_response(token, num_headers, body_size);
    }
}

/// `FilterHeadersStatus`: 0 Continue, 1 StopIteration (the SDK's `Action::Pause`).
#[no_mangle]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    num_headers: usize,
    end_of_stream: bool,
) -> u32 {
    let Some(root) = root_of_stream(context_id) else {
        // No configured root: nothing may pass unchecked.
        let _ = host::send_local_response(500, &[], b"edgeguard is not configured");
        return 1;
    };
    match root.on_request_headers(context_id, num_headers, end_of_stream) {
        Action::Continue => 0,
        Action::Pause => 1,
    }
}
