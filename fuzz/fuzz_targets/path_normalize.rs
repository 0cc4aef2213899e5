//! Path normalization: never panics; a normalized path is canonical (normalizing it again changes
//! nothing), starts with `/`, and has no empty, `.` or `..` segments nor raw characters that must be
//! escaped.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = edgeguard::path::normalize(s) {
        assert!(n.starts_with('/'), "{s:?} -> {n:?}");
        assert_eq!(
            edgeguard::path::normalize(&n).as_deref(),
            Ok(n.as_str()),
            "{s:?} -> {n:?}"
        );
        let inner = n.trim_end_matches('/');
        if !inner.is_empty() {
            for seg in inner[1..].split('/') {
                assert!(
                    !seg.is_empty() && seg != "." && seg != "..",
                    "{s:?} -> {n:?}"
                );
            }
        }
        assert!(
            !n.contains(['\\', ';', ' ', '#']) && n.is_ascii(),
            "{s:?} -> {n:?}"
        );
    }
});
