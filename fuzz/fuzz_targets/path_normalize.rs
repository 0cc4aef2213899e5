//! The path canonicalizer: never panics; its output is canonical (canonicalizing it again changes
//! nothing and borrows), starts with `/`, has no empty (but a trailing), `.` or `..` segment, no `;`,
//! `\`, raw character that must be escaped, lowercase escape or escape of a byte that may appear raw;
//! and a reference RFC 3986 normalization (what Envoy's `normalize_path` + `merge_slashes` do) leaves
//! it unchanged, so Envoy's router and the rules read the same path.
#![no_main]

use edgeguard::path::{canonicalize, is_canonical, is_raw_allowed};
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(n) = canonicalize(s) else { return };
    let n = n.into_owned();
    assert!(n.starts_with('/'), "{s:?} -> {n:?}");
    assert!(matches!(canonicalize(&n), Ok(Cow::Borrowed(_))), "{s:?} -> {n:?}");
    assert!(is_canonical(&n));
    let inner = n.trim_end_matches('/');
    if let Some(rest) = inner.get(1..) {
        if !inner.is_empty() {
            for seg in rest.split('/') {
                assert!(!seg.is_empty() && seg != "." && seg != "..", "{s:?} -> {n:?}");
            }
        }
    }
    assert!(n.is_ascii() && !n.contains(['\\', ';', ' ', '#']), "{s:?} -> {n:?}");
    let b = n.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = b.get(i + 1).copied();
            let lo = b.get(i + 2).copied();
            let (Some(h), Some(l)) = (hi.and_then(hex), lo.and_then(hex)) else {
                panic!("bad escape in {n:?}")
            };
            assert!(
                hi.is_some_and(|x| !x.is_ascii_lowercase()) && lo.is_some_and(|x| !x.is_ascii_lowercase()),
                "lowercase escape in {n:?}"
            );
            let d = (h << 4) | l;
            assert!(!is_raw_allowed(d) && d != b'/', "needless escape in {n:?}");
            i += 3;
        } else {
            assert!(c == b'/' || is_raw_allowed(c), "raw {c:#x} in {n:?}");
            i += 1;
        }
    }
});
