//! Safe wrappers of the host calls edgeguard makes. Every buffer the host returns was allocated in
//! this module by `proxy_on_memory_allocate` and is taken back as an owned `Vec<u8>`; every call's
//! status is returned or mapped to `None`, never unwrapped.

use crate::codec::{decode_map, encode_map};

/// `WasmResult` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    NotFound,
    BadArgument,
    CasMismatch,
    Other(u32),
}

impl Status {
    fn from_raw(code: u32) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::NotFound,
            2 => Status::BadArgument,
            8 => Status::CasMismatch,
            c => Status::Other(c),
        }
    }

    fn result(code: u32) -> Result<(), Status> {
        match Status::from_raw(code) {
            Status::Ok => Ok(()),
            s => Err(s),
        }
    }
}

/// `WasmHeaderMapType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    RequestHeaders = 0,
    HttpCallResponseHeaders = 6,
}

/// `WasmBufferType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferType {
    HttpCallResponseBody = 4,
    PluginConfiguration = 7,
}

/// `MetricType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
}

/// Takes back a buffer the host allocated through `proxy_on_memory_allocate` (`None` when empty).
fn owned(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: the host allocated exactly `size` bytes at `data` with `proxy_on_memory_allocate`
    // (a `Vec<u8>` of capacity `size`, align 1) and handed it over: this module owns it now.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Runs a host call that returns a buffer through two out-parameters.
fn buffer(call: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> Result<Option<Vec<u8>>, Status> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    Status::result(call(&mut data, &mut size))?;
    Ok(owned(data, size))
}

pub fn log(level: u32, message: &str) {
    // SAFETY: pointer and length of a live `str`.
    unsafe { proxy_log(level, message.as_ptr(), message.len()) };
}

pub fn log_level() -> Option<u32> {
    let mut level = 0u32;
    // SAFETY: the out-parameter is a live local.
    Status::result(unsafe { proxy_get_log_level(&mut level) }).ok()?;
    Some(level)
}

/// Nanoseconds since the Unix epoch (0 if the host cannot tell).
pub fn now_ns() -> u64 {
    let mut t = 0u64;
    // SAFETY: the out-parameter is a live local.
    match Status::result(unsafe { proxy_get_current_time_nanoseconds(&mut t) }) {
        Ok(()) => t,
        Err(_) => 0,
    }
}

pub fn set_tick_period_ms(period_ms: u32) {
    // SAFETY: no pointers.
    unsafe { proxy_set_tick_period_milliseconds(period_ms) };
}

pub fn get_buffer(kind: BufferType, start: usize, max_size: usize) -> Option<Vec<u8>> {
    // SAFETY: out-parameters are live locals (see `buffer`).
    buffer(|d, s| unsafe { proxy_get_buffer_bytes(kind as u32, start, max_size, d, s) })
        .ok()
        .flatten()
}

/// A header map, values as bytes (names are lowercase ASCII in Envoy; anything else is kept
/// lossily rather than trapping).
pub fn get_map(map: MapType) -> Vec<(String, Vec<u8>)> {
    // SAFETY: out-parameters are live locals (see `buffer`).
    match buffer(|d, s| unsafe { proxy_get_header_map_pairs(map as u32, d, s) }) {
        Ok(Some(bytes)) => decode_map(&bytes),
        _ => Vec::new(),
    }
}

pub fn get_map_value(map: MapType, name: &str) -> Option<Vec<u8>> {
    // SAFETY: key pointer/length of a live `str`; out-parameters are live locals.
    buffer(|d, s| unsafe {
        proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), d, s)
    })
    .ok()
    .flatten()
}

/// Sets header `name` to `value`, or removes it (`None`).
pub fn set_map_value(map: MapType, name: &str, value: Option<&[u8]>) -> Result<(), Status> {
    let code = match value {
        // SAFETY: pointers/lengths of live slices.
        Some(v) => unsafe {
            proxy_replace_header_map_value(
                map as u32,
                name.as_ptr(),
                name.len(),
                v.as_ptr(),
                v.len(),
            )
        },
        // SAFETY: pointer/length of a live `str`.
        None => unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) },
    };
    Status::result(code)
}

/// A property by path (segments joined by NUL, as the host expects).
pub fn get_property(path: &[&str]) -> Option<Vec<u8>> {
    let joined = path.join("\0");
    // SAFETY: pointer/length of a live `String`; out-parameters are live locals.
    buffer(|d, s| unsafe { proxy_get_property(joined.as_ptr(), joined.len(), d, s) })
        .ok()
        .flatten()
}

/// Sets the one-segment property `name` of the current stream (Envoy: the filter state
/// `wasm.<name>`).
pub fn set_property(name: &str, value: &[u8]) -> Result<(), Status> {
    // SAFETY: pointers/lengths of a live `str` and a live slice.
    let code =
        unsafe { proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len()) };
    Status::result(code)
}

/// A shared-data value and its compare-and-swap version (`None` when the key has no value).
pub fn get_shared_data(key: &str) -> Option<(Vec<u8>, u32)> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    let mut cas = 0u32;
    // SAFETY: key pointer/length of a live `str`; out-parameters are live locals.
    let code =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    let value = owned(data, size);
    Status::result(code).ok()?;
    Some((value.unwrap_or_default(), cas))
}

/// Writes a shared-data value; with `cas`, only if the record is still at that version.
pub fn set_shared_data(key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Status> {
    // SAFETY: pointers/lengths of live slices.
    Status::result(unsafe {
        proxy_set_shared_data(
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            cas.unwrap_or(0),
        )
    })
}

/// Starts an HTTP callout to `cluster`; the token names it in `proxy_on_http_call_response`.
pub fn http_call(
    cluster: &str,
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
    timeout_ms: u32,
) -> Result<u32, Status> {
    let map = encode_map(headers);
    let body = body.unwrap_or(&[]);
    let trailers = encode_map(&[]);
    let mut token = 0u32;
    // SAFETY: pointers/lengths of live buffers; the out-parameter is a live local.
    Status::result(unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            map.as_ptr(),
            map.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    Ok(token)
}

pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    // SAFETY: no pointers.
    Status::result(unsafe { proxy_set_effective_context(context_id) })
}

/// Lets the current (paused) request continue.
pub fn resume_request() -> Result<(), Status> {
    // SAFETY: no pointers. Stream type 0: the HTTP request.
    Status::result(unsafe { proxy_continue_stream(0) })
}

/// Answers the current request locally.
pub fn send_local_response(
    status: u16,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<(), Status> {
    let map = encode_map(headers);
    let details = "";
    // SAFETY: pointers/lengths of live buffers. gRPC status -1: none.
    Status::result(unsafe {
        proxy_send_local_response(
            u32::from(status),
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    })
}

pub fn define_metric(kind: MetricType, name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: pointer/length of a live `str`; the out-parameter is a live local.
    Status::result(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })
        .ok()?;
    Some(id)
}

pub fn increment_metric(id: u32, offset: i64) {
    // SAFETY: no pointers.
    unsafe { proxy_increment_metric(id, offset) };
}

pub fn record_metric(id: u32, value: u64) {
    // SAFETY: no pointers.
    unsafe { proxy_record_metric(id, value) };
}
