//! OAuth2 token introspection (RFC 7662) for providers with an `introspection` section: opaque
//! tokens (and, for a provider that also has `jwks`, every token that is not a JWT) are checked by
//! asking the authorization server, and its answers are cached for every VM of the proxy.
//!
//! - [`config`]: the section's JSON form and validation, the client secret (literal or from the VM's
//!   environment).
//! - [`request`]: the `POST` form and client authentication (`client_secret_basic` with RFC 6749
//!   §2.3.1 form-encoding, or `client_secret_post`).
//! - [`answer`]: the response read strictly (16 KiB at most), its cache lifetime, its shared-data form,
//!   and the checks run on every use (`exp`, `nbf`, `iss` when present, audiences).
//! - [`calls`]: per VM, the cache lookups, the queue of tokens to ask about, the calls in flight and
//!   their answers; [`View`] adds them to the engine's resource port.
//!
//! Cache and coalescing: an answer lives in a bounded table of pre-created shared-data slots
//! ([`crate::slots::Slots`], keyed by the token's SHA-256, never the token) and in the VM's own map.
//! Within a VM, concurrent requests for one token make one call (the others wait for it: counted
//! as `coalesced`). Across VMs, the VM that calls first writes a lease into the token's slot entry by
//! compare-and-swap; the others see it on their next tick and wait for the answer it writes there, so
//! a new token costs one call per proxy (unless the lease expires: `timeout_ms` + 1 s).
//!
//! Secrets: the token goes only into the callout's body; logs and metrics name a token by the first
//! 4 bytes of its digest at most, and the client secret never leaves the request.

pub mod answer;
pub mod calls;
pub mod config;
pub mod request;

pub use calls::{Introspections, View};
pub use config::{Endpoint, Introspection, IntrospectionConfig};

/// A token of exactly three non-empty `.`-separated segments is a JWT (verified locally when the
/// provider has a key set); anything else is opaque and introspected.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let three = (parts.next(), parts.next(), parts.next(), parts.next());
    matches!(three, (Some(a), Some(b), Some(c), None) if !a.is_empty() && !b.is_empty() && !c.is_empty())
}
