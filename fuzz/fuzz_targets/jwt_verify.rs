//! Token parse + verify: raw strings; fuzz-chosen header/payload bytes with a valid MAC; and
//! fuzz-chosen signature bytes under RS256, PS512 (jwt::crypto::rsa), ES256 and ES512.
#![no_main]

mod common;

use common::{config_json, signed_token, NOW};
use edgeguard::config::Config;
use edgeguard::provider::JwksSource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static CONFIG: Config = Config::parse(config_json().as_bytes()).expect("fixture config");
    }
    CONFIG.with(|cfg| {
        let p = &cfg.providers["idp"];
        let JwksSource::Inline(keys) = &p.jwks else {
            return;
        };
        let now = NOW;
        // 1. The input as a token.
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = edgeguard::jwt::verify(s, &p.rules, keys, now);
        }
        // 2. Header and payload bytes separated by 0xff, correctly MACed.
        let mut parts = data.splitn(2, |b| *b == 0xff);
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        let t = signed_token(header, payload);
        // 3. Arbitrary signature bytes on a well-formed token, for each asymmetric algorithm.
        let body = common::b64(br#"{"iss":"https://idp.example","aud":"api","exp":1700000300}"#);
        for (alg, kid) in [
            ("RS256", "rsa"),
            ("PS512", "rsa"),
            ("ES256", "ec"),
            ("ES512", "ec521"),
        ] {
            let h = common::b64(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#).as_bytes());
            let forged = format!("{h}.{body}.{}", common::b64(data));
            let r = edgeguard::jwt::verify(&forged, &p.rules, keys, now);
            assert!(r.is_err(), "a fuzzed {alg} signature verified");
        }
        if let Ok(claims) = edgeguard::jwt::verify(&t, &p.rules, keys, now) {
            // Anything accepted must pass the claim checks on their own, and carry the issuer.
            assert!(edgeguard::jwt::check_claims(&claims, &p.rules, now).is_ok());
            assert_eq!(
                claims.get("iss").and_then(|v| v.as_str()),
                Some(common::ISS)
            );
        }
    });
});
