//! `edgeguard`: the host-side companion CLI.
//!
//! - `edgeguard new-key [--id ID] [--scope SCOPE]...`: a random 256-bit key, printed once, and the
//!   config entry that stores only its digest.
//! - `edgeguard hash-key [KEY]`: the SHA-256 digest of a key (read from stdin when KEY is omitted,
//!   which keeps it out of shell history).
//! - `edgeguard check-config FILE`: validates a plugin configuration with the filter's own parser.

use base64::Engine as _;
use edgeguard::api_key::sha256_hex;
use edgeguard::config::Config;
use std::io::Read;
use std::process::ExitCode;

const USAGE: &str = "usage:
  edgeguard new-key [--id ID] [--scope SCOPE]...   generate an API key and its config entry
  edgeguard hash-key [KEY]                          SHA-256 digest of KEY (or of stdin)
  edgeguard check-config FILE                       validate a plugin configuration (JSON)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("new-key") => new_key(args.get(1..).unwrap_or_default()),
        Some("hash-key") => hash_key(args.get(1..).unwrap_or_default()),
        Some("check-config") => check_config(args.get(1..).unwrap_or_default()),
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
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--id" => id = it.next().ok_or("--id needs a value")?.clone(),
            "--scope" => scopes.push(it.next().ok_or("--scope needs a value")?.clone()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
    let key = format!(
        "eg_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let entry = serde_json::json!({"id": id, "sha256": sha256_hex(key.as_bytes()), "scopes": scopes, "disabled": false});
    println!("API key (shown once; give it to the client, store it nowhere else):\n  {key}\n");
    println!("Config entry for \"api_keys\".\"keys\":\n  {entry}");
    Ok(())
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

fn check_config(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err(USAGE.to_string());
    };
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let config = Config::parse(&bytes).map_err(|e| format!("{path}: {e}"))?;
    println!(
        "{path}: valid (mode {:?}, {} API key(s), {} provider(s))",
        config.mode,
        config.api_keys.as_ref().map_or(0, |k| k.keys().len()),
        config.providers.len()
    );
    Ok(())
}
