//! `edgeguard`: the host-side companion CLI.
//!
//! - `edgeguard --version`: the version (the plugin logs it when it is configured).
//! - `edgeguard new-key [--id ID] [--scope SCOPE]... [--expires-in N(s|m|h|d)]`: a random 256-bit
//!   key, printed once, and the config (or key-set) entry that stores only its digest, with
//!   `expires_at` (Unix seconds) that far from now.
//! - `edgeguard hash-key [KEY]`: the SHA-256 digest of a key (read from stdin when KEY is omitted,
//!   which keeps it out of shell history).
//! - `edgeguard hash-password [--cost N]`: the bcrypt hash (`$2b$`, cost 10 by default, 4–16) of
//!   the password read from stdin (one line; kept out of shell history), for `basic_auth.users[].hash`.
//! - `edgeguard check-config FILE`: validates a plugin configuration with the filter's own parser.
//! - `edgeguard schema [--kong]`: the JSON Schema (draft 2020-12) of the plugin configuration, the
//!   checked-in `schema/edgeguard.schema.json`; with `--kong`, Kong's `edgeguard.meta.json`
//!   (`{"config_schema": ...}` in Draft 4) generated from it (see `kong.rs`).
//! - `edgeguard new-signing-key --kid KID --out FILE`: an Ed25519 signing key (PEM) for trying edgeguard
//!   without an identity provider; prints the public JWKS to put in a provider's `jwks.inline`.
//! - `edgeguard sign-token --key FILE [--kid KID] [--iss I] [--aud A] [--sub S] [--scope "a b"]
//!   [--ttl SECONDS] [--claim NAME=VALUE]...`: a signed EdDSA token, for tests and demos.

use base64::Engine as _;
use edgeguard::config::Config;
use edgeguard::credential::api_key::sha256_hex;
use std::io::Read;
use std::process::ExitCode;

// Not `src/bin/kong.rs`: cargo would take that for a binary of its own.
#[path = "edgeguard/kong.rs"]
mod kong;

/// The configuration's JSON Schema (draft 2020-12), kept true by `tests/schema.rs`.
const SCHEMA: &str = include_str!("../../schema/edgeguard.schema.json");

const USAGE: &str = "usage:
  edgeguard --version                               the version (also in the plugin's configure log line)
  edgeguard new-key [--id ID] [--scope SCOPE]... [--expires-in 90d]
                                                    generate an API key and its config entry
                                                    (expiry in s, m, h or d from now)
  edgeguard hash-key [KEY]                          SHA-256 digest of KEY (or of stdin)
  edgeguard hash-password [--cost N]                bcrypt hash of the password on stdin (cost 10)
  edgeguard check-config FILE                       validate a plugin configuration (JSON)
  edgeguard schema [--kong]                         the configuration's JSON Schema (2020-12); --kong:
                                                    Kong's edgeguard.meta.json (Draft 4) from it
  edgeguard new-signing-key --kid KID --out FILE    Ed25519 test signing key; prints its public JWKS
  edgeguard sign-token --key FILE [--kid KID] [--iss I] [--aud A] [--sub S] [--scope \"a b\"]
                       [--ttl SECONDS] [--claim NAME=VALUE]...   a signed EdDSA token (tests, demos)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("new-key") => new_key(args.get(1..).unwrap_or_default()),
        Some("hash-key") => hash_key(args.get(1..).unwrap_or_default()),
        Some("hash-password") => hash_password(args.get(1..).unwrap_or_default()),
        Some("check-config") => check_config(args.get(1..).unwrap_or_default()),
        Some("schema") => schema(args.get(1..).unwrap_or_default()),
        Some("new-signing-key") => new_signing_key(args.get(1..).unwrap_or_default()),
        Some("sign-token") => sign_token(args.get(1..).unwrap_or_default()),
        Some("-V" | "--version" | "version") => {
            println!("edgeguard {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn new_key(args: &[String]) -> Result<(), String> {
    let mut id = String::from("my-app");
    let mut scopes = Vec::new();
    let mut expires_in = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--id" => id = it.next().ok_or("--id needs a value")?.clone(),
            "--scope" => scopes.push(it.next().ok_or("--scope needs a value")?.clone()),
            "--expires-in" => {
                let v = it
                    .next()
                    .ok_or("--expires-in needs a value (90d, 12h, 30m, 45s)")?;
                expires_in = Some(duration_seconds(v)?);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
    let key = format!(
        "eg_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let mut entry = serde_json::json!({"id": id, "sha256": sha256_hex(key.as_bytes()), "scopes": scopes, "disabled": false});
    if let (Some(secs), Some(e)) = (expires_in, entry.as_object_mut()) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| format!("the clock is before 1970: {e}"))?
            .as_secs();
        let at = now
            .checked_add(secs)
            .filter(|t| *t <= edgeguard::api_key_set::MAX_TIME_SECONDS)
            .ok_or("--expires-in is too far in the future")?;
        e.insert("expires_at".into(), at.into());
    }
    println!("API key (shown once; give it to the client, store it nowhere else):\n  {key}\n");
    println!("Config entry for \"api_keys\".\"keys\":\n  {entry}");
    Ok(())
}

/// `90d`, `12h`, `30m`, `45s` → seconds (a positive number and one unit).
fn duration_seconds(v: &str) -> Result<u64, String> {
    let bad =
        || format!("--expires-in {v:?}: expected a positive number and a unit s, m, h or d (90d)");
    let (digits, unit) = v.split_at(v.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match n.checked_mul(scale) {
        Some(s) if s > 0 => Ok(s),
        _ => Err(bad()),
    }
}

fn hash_key(args: &[String]) -> Result<(), String> {
    let key = match args {
        [k] => k.clone(),
        [] => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            s.trim_end_matches(['\r', '\n']).to_string()
        }
        _ => return Err(USAGE.to_string()),
    };
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    println!("{}", sha256_hex(key.as_bytes()));
    Ok(())
}

/// The bcrypt cost `hash-password` uses by default (≈ 72 ms per first verification in Envoy).
const DEFAULT_BCRYPT_COST: u32 = 10;

fn hash_password(args: &[String]) -> Result<(), String> {
    let cost = match args {
        [] => DEFAULT_BCRYPT_COST,
        [flag, n] if flag == "--cost" => n
            .parse::<u32>()
            .ok()
            .filter(|c| (4..=16).contains(c))
            .ok_or("--cost is 4-16 (basic_auth.limits.max_bcrypt_cost is 12 by default)")?,
        _ => return Err(USAGE.to_string()),
    };
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let password = s.strip_suffix('\n').unwrap_or(&s);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    if password.chars().any(char::is_control) {
        return Err("the password has a control character (HTTP Basic refuses them)".into());
    }
    if password.len() > 72 {
        return Err("bcrypt reads only the first 72 bytes of a password; use a shorter one".into());
    }
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| format!("no randomness available: {e}"))?;
    println!(
        "{}",
        edgeguard::password::format_bcrypt(password.as_bytes(), cost, salt)
    );
    Ok(())
}

fn check_config(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err(USAGE.to_string());
    };
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let config = Config::parse(&bytes).map_err(|e| format!("{path}: {e}"))?;
    println!(
        "{path}: valid (mode {:?}, {} API key(s), {} provider(s), {} Basic user(s))",
        config.mode,
        config.api_keys.as_ref().map_or(0, |k| k.keys().len()),
        config.providers.len(),
        config.basic_auth.as_ref().map_or(0, |b| b.users.len())
    );
    if let Some(basic) = &config.basic_auth {
        for (i, u) in basic.users.iter().enumerate() {
            if !u.hash.is_slow() {
                eprintln!("warning: basic_auth.users[{i}] ({}): {{SHA}} is unsalted SHA-1, weak; replace it (edgeguard hash-password)", u.name);
            }
        }
    }
    Ok(())
}

fn schema(args: &[String]) -> Result<(), String> {
    match args {
        [] => print!("{SCHEMA}"),
        [k] if k == "--kong" => {
            let schema: serde_json::Value = serde_json::from_str(SCHEMA)
                .map_err(|e| format!("the built-in schema is not JSON: {e}"))?;
            let meta = kong::meta(&schema)?;
            let text = serde_json::to_string_pretty(&meta)
                .map_err(|e| format!("cannot print the Kong schema: {e}"))?;
            println!("{text}");
        }
        _ => return Err(USAGE.to_string()),
    }
    Ok(())
}

/// `--name value` pairs; repeated names keep every value.
fn flags(args: &[String], allowed: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a
            .strip_prefix("--")
            .filter(|n| allowed.contains(n))
            .ok_or_else(|| format!("unknown argument {a:?}\n{USAGE}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        out.push((name.to_string(), value.clone()));
    }
    Ok(out)
}

fn flag<'a>(flags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn new_signing_key(args: &[String]) -> Result<(), String> {
    use jwt_simple::prelude::Ed25519KeyPair;
    let f = flags(args, &["kid", "out"])?;
    let kid = flag(&f, "kid").ok_or("--kid is required")?;
    let out = flag(&f, "out").ok_or("--out is required")?;
    let key = Ed25519KeyPair::generate().with_key_id(kid);
    std::fs::write(out, key.to_pem()).map_err(|e| format!("cannot write {out}: {e}"))?;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public_key().to_bytes());
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x}]});
    println!("{jwks}");
    Ok(())
}

fn sign_token(args: &[String]) -> Result<(), String> {
    use jwt_simple::prelude::{Claims, Duration, Ed25519KeyPair, EdDSAKeyPairLike};
    let f = flags(
        args,
        &["key", "kid", "iss", "aud", "sub", "scope", "ttl", "claim"],
    )?;
    let path = flag(&f, "key").ok_or("--key is required")?;
    let pem = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut key = Ed25519KeyPair::from_pem(&pem)
        .map_err(|e| format!("{path}: not an Ed25519 private key: {e}"))?;
    if let Some(kid) = flag(&f, "kid") {
        key = key.with_key_id(kid);
    }
    let ttl: u64 = flag(&f, "ttl")
        .unwrap_or("3600")
        .parse()
        .map_err(|_| "--ttl takes seconds")?;
    let mut extra = serde_json::Map::new();
    if let Some(scope) = flag(&f, "scope") {
        extra.insert("scope".into(), scope.into());
    }
    for (_, kv) in f.iter().filter(|(n, _)| n == "claim") {
        let (k, v) = kv.split_once('=').ok_or("--claim takes NAME=VALUE")?;
        let v =
            serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        extra.insert(k.to_string(), v);
    }
    let mut claims = Claims::with_custom_claims(extra, Duration::from_secs(ttl))
        .with_jwt_id(format!("{:016x}", rand_u64()?));
    if let Some(iss) = flag(&f, "iss") {
        claims = claims.with_issuer(iss);
    }
    if let Some(aud) = flag(&f, "aud") {
        claims = claims.with_audience(aud);
    }
    if let Some(sub) = flag(&f, "sub") {
        claims = claims.with_subject(sub);
    }
    println!(
        "{}",
        key.sign(claims).map_err(|e| format!("cannot sign: {e}"))?
    );
    Ok(())
}

fn rand_u64() -> Result<u64, String> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(|e| format!("no randomness available: {e}"))?;
    Ok(u64::from_le_bytes(b))
}
