//! Benchmark fixtures for `bench/run.sh` (a dev tool, not part of the plugin).
//!
//! `cargo run --release --example bench_fixtures -- OUT_DIR [POOL_SIZE]` writes into OUT_DIR:
//! - `jwks.json`: the public keys (RSA-2048 `kid=rs`, P-256 `kid=es`, Ed25519 `kid=ed`);
//! - `{rs256,es256,eddsa}.token`: one long-lived valid token per algorithm (the "repeated" scenarios);
//! - `{rs256,es256,eddsa}.pool`: POOL_SIZE (default 8192) distinct valid tokens per algorithm, one per
//!   line, distinct `jti` (the "cold" scenarios: no verified-token cache can help);
//! - `{rs256,es256,eddsa}.invalid`: 5000 distinct tokens per algorithm with the right `kid`, issuer and
//!   audience but signed by another key (bad signature);
//! - `warm.tokens`: a few tokens of every algorithm (not in any pool) for warming Envoy up;
//! - `apikey.txt`, `apikey.sha256`, `apikey.invalid`: the API key, its digest, 5000 unknown keys;
//! - `basic.txt`, `basic.users.json`: an HTTP Basic credential (the base64 of `bench:<password>`) and
//!   `basic_auth.users` entries with bcrypt cost-10 hashes: `bench`, and `first1`..`first5` (same
//!   password) whose first verification the bench times;
//! - `meta.json`: issuer, audience, sizes.
//!
//! Tokens expire one year after generation; `bench/run.sh` regenerates fixtures older than 30 days.

use base64::Engine as _;
use jwt_simple::prelude::*;
use serde_json::json;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const ISSUER: &str = "https://idp.bench.edgeguard.example";
const AUDIENCE: &str = "bench-api";
const INVALID: usize = 5000;
const WARM: usize = 50;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn claims(jti: &str) -> JWTClaims<NoCustomClaims> {
    Claims::create(Duration::from_days(365))
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_subject("bench-user")
        .with_jwt_id(jti)
}

fn write_lines(path: &Path, lines: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let mut f = std::io::BufWriter::new(fs::File::create(path)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()?;
    Ok(())
}

fn gen<F: Fn(&str) -> Result<String, jwt_simple::Error>>(
    n: usize,
    tag: &str,
    sign: F,
) -> Result<Vec<String>, jwt_simple::Error> {
    (0..n).map(|i| sign(&format!("{tag}-{i:06}"))).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: bench_fixtures OUT_DIR [POOL_SIZE]")?,
    );
    let pool: usize = match args.next() {
        Some(s) => s.parse()?,
        None => 8192,
    };
    fs::create_dir_all(&out)?;

    let rs = RS256KeyPair::generate(2048)?.with_key_id("rs");
    let rs_bad = RS256KeyPair::generate(2048)?.with_key_id("rs");
    let es = ES256KeyPair::generate().with_key_id("es");
    let es_bad = ES256KeyPair::generate().with_key_id("es");
    let ed = Ed25519KeyPair::generate().with_key_id("ed");
    let ed_bad = Ed25519KeyPair::generate().with_key_id("ed");

    let rsc = rs.public_key().to_components();
    let ec = es.public_key().public_key().to_bytes_uncompressed();
    let (ex, ey) = (
        ec.get(1..33).ok_or("P-256 x")?,
        ec.get(33..65).ok_or("P-256 y")?,
    );
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rs", "alg": "RS256", "use": "sig", "n": b64(&rsc.n), "e": b64(&rsc.e)},
        {"kty": "EC", "kid": "es", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(ex), "y": b64(ey)},
        {"kty": "OKP", "kid": "ed", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64(&ed.public_key().to_bytes())},
    ]});
    fs::write(out.join("jwks.json"), serde_json::to_string(&jwks)?)?;

    let mut warm = Vec::new();
    for (name, sign, sign_bad) in [
        (
            "rs256",
            Box::new(|j: &str| rs.sign(claims(j))) as Box<dyn Fn(&str) -> Result<String, _>>,
            Box::new(|j: &str| rs_bad.sign(claims(j))) as Box<dyn Fn(&str) -> Result<String, _>>,
        ),
        (
            "es256",
            Box::new(|j: &str| es.sign(claims(j))),
            Box::new(|j: &str| es_bad.sign(claims(j))),
        ),
        (
            "eddsa",
            Box::new(|j: &str| ed.sign(claims(j))),
            Box::new(|j: &str| ed_bad.sign(claims(j))),
        ),
    ] {
        write_lines(
            &out.join(format!("{name}.token")),
            &[sign(&format!("{name}-repeated"))?],
        )?;
        write_lines(
            &out.join(format!("{name}.pool")),
            &gen(pool, &format!("{name}-pool"), &sign)?,
        )?;
        write_lines(
            &out.join(format!("{name}.invalid")),
            &gen(INVALID, &format!("{name}-bad"), &sign_bad)?,
        )?;
        warm.extend(gen(WARM, &format!("{name}-warm"), &sign)?);
        eprintln!("bench_fixtures: {name}: 1 repeated, {pool} pool, {INVALID} invalid tokens");
    }
    write_lines(&out.join("warm.tokens"), &warm)?;

    let mut seed = [0u8; 24];
    getrandom::getrandom(&mut seed)?;
    let key = format!("eg-bench-{}", b64(&seed));
    write_lines(&out.join("apikey.txt"), std::slice::from_ref(&key))?;
    write_lines(
        &out.join("apikey.sha256"),
        &[edgeguard::credential::api_key::sha256_hex(key.as_bytes())],
    )?;
    let invalid_keys: Vec<String> = (0..INVALID)
        .map(|i| format!("eg-bench-unknown-{i:06}-{}", b64(&seed[..8])))
        .collect();
    write_lines(&out.join("apikey.invalid"), &invalid_keys)?;

    let password = format!("pw:{}", b64(&seed[8..]));
    let credential = base64::engine::general_purpose::STANDARD.encode(format!("bench:{password}"));
    write_lines(&out.join("basic.txt"), &[credential])?;
    let mut users = Vec::new();
    for name in ["bench", "first1", "first2", "first3", "first4", "first5"] {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt)?;
        let hash = edgeguard::password::format_bcrypt(password.as_bytes(), 10, salt);
        users.push(json!({"name": name, "hash": hash}));
    }
    fs::write(
        out.join("basic.users.json"),
        serde_json::to_string_pretty(&users)?,
    )?;
    fs::write(out.join("basic.password"), &password)?;

    let meta =
        json!({"issuer": ISSUER, "audience": AUDIENCE, "pool_size": pool, "invalid": INVALID});
    fs::write(out.join("meta.json"), serde_json::to_string_pretty(&meta)?)?;
    eprintln!("bench_fixtures: wrote {}", out.display());
    Ok(())
}
