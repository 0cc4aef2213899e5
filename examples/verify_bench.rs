//! Micro-benchmark of signature checks: `edgeguard::jwt::crypto::rsa` vs jwt-simple's RS256/PS256, and
//! `edgeguard::jwt::crypto::es256` (precomputed tables) vs the `p256` crate alone for ES256, and ed25519-dalek
//! (`edgeguard::jwt::crypto::eddsa`) vs jwt-simple's ed25519-compact for EdDSA.
//!
//! Meant to be run as a wasm32-wasip1 program under V8 (the engine Envoy embeds); figures are
//! thread CPU time:
//!
//! ```sh
//! cargo build --release --target wasm32-wasip1 --example verify_bench
//! node --no-warnings examples/run_wasi.mjs target/wasm32-wasip1/release/examples/verify_bench.wasm
//! ```
//!
//! (`cargo run --release --example verify_bench` gives native figures.) Each figure is the median of
//! several batches, after warm-up so V8 has tiered the hot code up to its optimizing compiler. Keys
//! are parsed once outside the timed loops, as in the filter (once per JWKS fetch). jwt-simple's
//! figure includes its token parsing and claim checks (a few µs); ours is the signature check alone.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // a benchmark, not an input path

use base64::Engine as _;
use edgeguard::jwt::crypto::eddsa::Ed25519Key;
use edgeguard::jwt::crypto::es256::P256Key;
use edgeguard::jwt::crypto::rsa::{Hash, RsaPublicKey};
use jwt_simple::prelude::*;

const KEY_2048: &str = include_str!("../tests/rsa_keys/rsa2048_1.pem");
const KEY_4096: &str = include_str!("../tests/rsa_keys/rsa4096_1.pem");

#[path = "support/timing.rs"]
mod timing;
use timing::{bench, now_us};

fn split(token: &str) -> (String, Vec<u8>) {
    let (msg, sig) = token.rsplit_once('.').unwrap();
    (
        msg.to_string(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap(),
    )
}

fn run(bits: usize, pem: &str, iters: u32) {
    let rs = RS256KeyPair::from_pem(pem).unwrap();
    let ps = PS256KeyPair::from_pem(pem).unwrap();
    let claims = || Claims::create(Duration::from_hours(1)).with_subject("bench");
    let rs_token = rs.sign(claims()).unwrap();
    let ps_token = ps.sign(claims()).unwrap();
    let rs_pk = rs.public_key();
    let ps_pk = ps.public_key();
    let c = rs_pk.to_components();

    let start = now_us();
    let key = RsaPublicKey::from_components(&c.n, &c.e).unwrap();
    let setup = now_us() - start;

    let (rs_msg, rs_sig) = split(&rs_token);
    let (ps_msg, ps_sig) = split(&ps_token);
    let batches = 7;
    let ours_rs = bench(iters, batches, || {
        key.verify_pkcs1v15(Hash::Sha256, rs_msg.as_bytes(), &rs_sig)
    });
    let ours_ps = bench(iters, batches, || {
        key.verify_pss(Hash::Sha256, ps_msg.as_bytes(), &ps_sig)
    });
    let js_rs = bench(iters / 4 + 1, batches, || {
        rs_pk
            .verify_token::<NoCustomClaims>(&rs_token, None)
            .is_ok()
    });
    let js_ps = bench(iters / 4 + 1, batches, || {
        ps_pk
            .verify_token::<NoCustomClaims>(&ps_token, None)
            .is_ok()
    });
    println!("RSA-{bits}: key setup (once) {setup:.0} µs");
    println!("RSA-{bits}: RS256 crypto::rsa {ours_rs:.1} µs/verify, jwt-simple {js_rs:.1} µs/verify ({:.1}x)", js_rs / ours_rs);
    println!("RSA-{bits}: PS256 crypto::rsa {ours_ps:.1} µs/verify, jwt-simple {js_ps:.1} µs/verify ({:.1}x)", js_ps / ours_ps);
}

fn run_es256(iters: u32) {
    let kp = ES256KeyPair::generate();
    let token = kp
        .sign(Claims::create(Duration::from_hours(1)).with_subject("bench"))
        .unwrap();
    let (msg, sig) = split(&token);
    let point = kp.public_key().public_key().to_bytes_uncompressed();
    let key = P256Key::from_sec1_bytes(&point).unwrap();
    let parsed = p256::ecdsa::Signature::try_from(sig.as_slice()).unwrap();
    let start = now_us();
    assert!(key.verify(msg.as_bytes(), &sig)); // builds the generator's and the key's tables
    let setup = now_us() - start;
    let batches = 7;
    let ours = bench(iters, batches, || key.verify(msg.as_bytes(), &sig));
    let crate_only = bench(iters / 2 + 1, batches, || {
        key.verify_p256_crate(msg.as_bytes(), &parsed)
    });
    println!("ES256: first verification (builds the tables) {setup:.0} µs");
    println!(
        "ES256: es256 tables {ours:.1} µs/verify, p256 crate {crate_only:.1} µs/verify ({:.1}x)",
        crate_only / ours
    );
}

fn run_eddsa(iters: u32) {
    let kp = ed25519_compact::KeyPair::generate();
    let msg = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJiZW5jaCIsImV4cCI6MTcwMDAwMDAwMH0";
    let sig = kp.sk.sign(msg, None);
    let key = Ed25519Key::from_bytes(kp.pk.as_ref()).unwrap();
    let batches = 7;
    let ours = bench(iters, batches, || key.verify(msg, sig.as_ref()));
    let compact = bench(iters, batches, || kp.pk.verify(msg, &sig).is_ok());
    println!(
        "EdDSA: ed25519-dalek {ours:.1} µs/verify, ed25519-compact {compact:.1} µs/verify ({:.1}x)",
        compact / ours
    );
}

fn main() {
    run(2048, KEY_2048, 200);
    run(4096, KEY_4096, 50);
    run_es256(200);
    run_eddsa(200);
}
