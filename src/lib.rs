//! edgeguard: an API-security policy plugin for proxy-wasm hosts.
//!
//! The crate has two halves:
//! - a pure, host-independent **core** (every module below except `adapter`): configuration, credential
//!   extraction, API keys, JWT/JWKS, rules and the final [`decision::Decision`]. It never calls the host;
//!   time, key sets and request data are passed in, so it is unit-tested with plain `cargo test`.
//! - a thin **adapter** (`adapter`, wasm32 only) that moves bytes between the proxy-wasm host and the core.

#![forbid(unsafe_code)]

#[macro_use]
mod config_json;

pub mod api_key_set;
pub mod authority;
pub mod check;
pub mod cidr;
pub mod claim_path;
pub mod config;
pub mod config_error;
pub mod counters;
pub mod credential;
pub mod decision;
pub mod engine;
pub mod events;
pub mod extractor;
pub mod host;
pub mod introspection;
pub mod json;
pub mod jwt;
pub mod lockout;
pub mod matcher;
pub mod need;
pub mod password;
pub mod path;
pub mod plan;
pub mod plugin;
pub mod policy;
pub mod provider;
pub mod publish;
pub mod reading;
pub mod reason;
pub mod remote;
pub mod request;
pub mod resources;
pub mod rule_match;
pub mod slots;
pub mod spelling;
pub mod stats;
#[cfg(test)]
mod test_support;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transport;
pub mod waiters;

#[cfg(target_arch = "wasm32")]
mod adapter;
