//! Timing for the micro-benchmarks in `examples/` (included with `#[path]`; not an example itself).

/// CPU time of the calling thread in µs, so that other processes on a busy machine do not inflate
/// the figures (wall-clock time would). Under WASI this is `clock_time_get(thread_cputime_id)`,
/// which node implements with `CLOCK_THREAD_CPUTIME_ID`; natively it falls back to wall time.
pub fn now_us() -> f64 {
    #[cfg(target_os = "wasi")]
    {
        #[link(wasm_import_module = "wasi_snapshot_preview1")]
        extern "C" {
            fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
        }
        const THREAD_CPUTIME_ID: u32 = 3;
        let mut ns = 0u64;
        // SAFETY: `ns` is a valid, writable u64 for the duration of the call.
        let errno = unsafe { clock_time_get(THREAD_CPUTIME_ID, 1, &mut ns) };
        assert_eq!(errno, 0, "clock_time_get failed");
        ns as f64 / 1e3
    }
    #[cfg(not(target_os = "wasi"))]
    {
        use std::{sync::OnceLock, time::Instant};
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e6
    }
}

/// Median µs per call of `f` over `batches` batches of `iters` calls, after a warm-up.
pub fn bench(iters: u32, batches: usize, mut f: impl FnMut() -> bool) -> f64 {
    for _ in 0..iters * 2 {
        assert!(f());
    }
    let mut times: Vec<f64> = (0..batches)
        .map(|_| {
            let start = now_us();
            for _ in 0..iters {
                assert!(f());
            }
            (now_us() - start) / f64::from(iters)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[batches / 2]
}
