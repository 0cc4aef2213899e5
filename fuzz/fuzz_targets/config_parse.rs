//! Plugin configuration JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cfg) = edgeguard::config::Config::parse(data) {
        // A valid config always builds an engine.
        let _ = edgeguard::engine::Engine::new(cfg);
    }
});
