//! JWKS documents.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((set, _skipped)) = edgeguard::jwt::jwk::KeySet::from_json(data) {
        assert!(!set.is_empty());
        assert!(set.len() <= edgeguard::jwt::jwk::MAX_KEYS);
        // Equal documents give equal fingerprints.
        let (again, _) = edgeguard::jwt::jwk::KeySet::from_json(data).expect("parsed once");
        assert_eq!(set.fingerprint(), again.fingerprint());
    }
});
