//! Stable reason codes for every denial, in the spirit of jwt_verify_lib's `status.h`.
//!
//! The code string (`Reason::code`) is public contract: it appears in JSON bodies, logs and metric names.
//! Never rename one; add new variants instead.

/// Why a request was denied (or, in report mode, would have been).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    // --- credential presence / shape ---
    /// No credential of the required kind was presented.
    Missing,
    /// The credential was presented but is not well-formed (bad segments, base64, JSON, ...).
    Malformed,
    /// The token exceeds `max_token_bytes`; rejected before any parsing.
    TokenTooLarge,
    /// The same credential kind was presented in several places with different values.
    AmbiguousCredential,
    // --- JWT ---
    /// `exp` is in the past (beyond clock skew).
    Expired,
    /// `nbf` is in the future (beyond clock skew).
    NotYetValid,
    /// `exp` (or `iat`) too far from now: token lives longer than `max_lifetime_seconds`.
    LifetimeTooLong,
    /// A required claim (e.g. `exp`) is absent.
    MissingClaim,
    /// A registered claim has the wrong JSON type (e.g. `exp` as a string).
    InvalidClaim,
    /// Signature does not verify.
    BadSignature,
    /// No key in the provider's key set matches the token's `kid`.
    UnknownKid,
    /// The token's `alg` is `none`, not in the provider's `algorithms`, or does not fit the key.
    AlgNotAllowed,
    /// The token's header names a `crit` extension we do not implement.
    UnsupportedCrit,
    /// `iss` is not the provider's issuer.
    WrongIssuer,
    /// `aud` matches none of the provider's audiences.
    WrongAudience,
    // --- introspection (RFC 7662) ---
    /// The authorization server says the token is not active (`active: false`).
    InactiveToken,
    // --- API keys ---
    /// The presented API key matches no configured key.
    UnknownKey,
    /// The presented API key is configured but switched off.
    DisabledKey,
    /// The presented API key's `expires_at` has passed.
    ExpiredKey,
    /// The presented API key's `not_before` is still ahead.
    KeyNotYetValid,
    // --- HTTP Basic ---
    /// The Basic user name is not configured, or the password is wrong (one answer for both: no
    /// user enumeration).
    BadCredentials,
    /// The Basic user's password verified, but the user is switched off (`disabled`).
    DisabledUser,
    /// The Basic user's password verified, but its `expires_at` has passed.
    ExpiredUser,
    /// The Basic user name had `failures_per_user_per_minute` failed passwords this minute (on any
    /// worker): refused before any password hash. 429 with `retry-after`.
    TooManyFailures,
    /// This worker's budget of slow password verifications (`slow_verifies_per_second`) is spent:
    /// 503 with `retry-after`.
    BasicAuthBusy,
    // --- authorization ---
    /// A valid credential lacks a required scope.
    InsufficientScope,
    /// A valid credential lacks a required claim value.
    ClaimMismatch,
    /// A valid API key is not among the ids a rule allows.
    KeyNotAllowed,
    /// A valid Basic user is not among the `users` a rule allows (403).
    UserNotAllowed,
    /// No rule matched and the default is deny.
    NoMatchingRule,
    /// The request path is refused: a spelling later readers interpret differently (`;`, `\\`,
    /// `%2F`, `%252e`, `..` above the root, control characters), or — with
    /// `"path": {"non_canonical": "reject"}` — any path not in canonical form (see `path`). 400.
    BadPath,
    /// The request's authority is not one strictly valid `host[:port]` (see `host`). 400.
    BadHost,
    /// The method is not an uppercase token (`get`, `Get`): methods are case-sensitive, and
    /// readers disagree on whether `get` is `GET`. 400.
    BadMethod,
    /// The request carries a method override (`X-HTTP-Method-Override`, `X-HTTP-Method`,
    /// `X-Method-Override`, `?_method=`) and `method_override` is `reject`. 400.
    MethodOverride,
    // --- transport ---
    /// The rule requires TLS (`transport`, `rules[].require_tls`) and the request came over
    /// plaintext with a credential (which is then considered leaked: stripped, logged by id and
    /// counted), or without one on a rule that needs one. 403, no challenge.
    InsecureTransport,
    // --- availability ---
    /// The provider's key set has not been loaded (or went stale) and the fetch failed: 503.
    JwksUnavailable,
    /// The provider's OpenID Connect discovery document has not been loaded (or went stale) and
    /// the fetch failed, or the document was refused (issuer mismatch, `jwks_uri` on an unlisted
    /// host): 503.
    DiscoveryUnavailable,
    /// The provider's introspection endpoint could not answer (down, slow beyond `timeout_ms`,
    /// non-200, not JSON, over 16 KiB) or this VM has too many introspections in flight: 503.
    IntrospectionUnavailable,
    /// The remote API-key set has not been loaded (or went stale) and the fetch failed, and the
    /// key is not an inline one: 503.
    KeySetUnavailable,
}

impl Reason {
    /// The stable, snake_case code used in bodies, logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Malformed => "malformed",
            Reason::TokenTooLarge => "token_too_large",
            Reason::AmbiguousCredential => "ambiguous_credential",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::LifetimeTooLong => "lifetime_too_long",
            Reason::MissingClaim => "missing_claim",
            Reason::InvalidClaim => "invalid_claim",
            Reason::BadSignature => "bad_signature",
            Reason::UnknownKid => "unknown_kid",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnsupportedCrit => "unsupported_crit",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::UnknownKey => "unknown_key",
            Reason::DisabledKey => "disabled_key",
            Reason::ExpiredKey => "expired_key",
            Reason::KeyNotYetValid => "key_not_yet_valid",
            Reason::BadCredentials => "bad_credentials",
            Reason::DisabledUser => "disabled_user",
            Reason::ExpiredUser => "expired_user",
            Reason::TooManyFailures => "too_many_failures",
            Reason::BasicAuthBusy => "basic_auth_busy",
            Reason::UserNotAllowed => "user_not_allowed",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::ClaimMismatch => "claim_mismatch",
            Reason::KeyNotAllowed => "key_not_allowed",
            Reason::NoMatchingRule => "no_matching_rule",
            Reason::BadPath => "bad_path",
            Reason::BadHost => "bad_host",
            Reason::BadMethod => "bad_method",
            Reason::MethodOverride => "method_override",
            Reason::InsecureTransport => "insecure_transport",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::DiscoveryUnavailable => "discovery_unavailable",
            Reason::InactiveToken => "inactive_token",
            Reason::IntrospectionUnavailable => "introspection_unavailable",
            Reason::KeySetUnavailable => "key_set_unavailable",
        }
    }

    /// Every reason, for metric registration and docs.
    pub const ALL: [Reason; 39] = [
        Reason::Missing,
        Reason::Malformed,
        Reason::TokenTooLarge,
        Reason::AmbiguousCredential,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::LifetimeTooLong,
        Reason::MissingClaim,
        Reason::InvalidClaim,
        Reason::BadSignature,
        Reason::UnknownKid,
        Reason::AlgNotAllowed,
        Reason::UnsupportedCrit,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::UnknownKey,
        Reason::DisabledKey,
        Reason::ExpiredKey,
        Reason::KeyNotYetValid,
        Reason::InsufficientScope,
        Reason::ClaimMismatch,
        Reason::KeyNotAllowed,
        Reason::NoMatchingRule,
        Reason::BadPath,
        Reason::BadHost,
        Reason::BadMethod,
        Reason::MethodOverride,
        Reason::InsecureTransport,
        Reason::JwksUnavailable,
        Reason::DiscoveryUnavailable,
        Reason::InactiveToken,
        Reason::IntrospectionUnavailable,
        Reason::KeySetUnavailable,
        Reason::BadCredentials,
        Reason::DisabledUser,
        Reason::ExpiredUser,
        Reason::TooManyFailures,
        Reason::BasicAuthBusy,
        Reason::UserNotAllowed,
    ];

    /// A short human sentence for `error_description` and the JSON body.
    pub fn description(self) -> &'static str {
        match self {
            Reason::Missing => "credentials are required",
            Reason::Malformed => "the credential is malformed",
            Reason::TokenTooLarge => "the token is too large",
            Reason::AmbiguousCredential => "conflicting credentials were presented",
            Reason::Expired => "the token has expired",
            Reason::NotYetValid => "the token is not yet valid",
            Reason::LifetimeTooLong => "the token lifetime is too long",
            Reason::MissingClaim => "the token lacks a required claim",
            Reason::InvalidClaim => "the token has an invalid claim",
            Reason::BadSignature => "the token signature is invalid",
            Reason::UnknownKid => "the token was signed by an unknown key",
            Reason::AlgNotAllowed => "the token algorithm is not allowed",
            Reason::UnsupportedCrit => "the token has an unsupported critical header",
            Reason::WrongIssuer => "the token issuer is not accepted",
            Reason::WrongAudience => "the token audience is not accepted",
            Reason::UnknownKey => "the API key is not valid",
            Reason::DisabledKey => "the API key is disabled",
            Reason::ExpiredKey => "the API key has expired",
            Reason::KeyNotYetValid => "the API key is not yet valid",
            Reason::BadCredentials => "the user name or password is not valid",
            Reason::DisabledUser => "the user is disabled",
            Reason::ExpiredUser => "the user has expired",
            Reason::TooManyFailures => "too many failed passwords for this user; retry later",
            Reason::BasicAuthBusy => "the password cannot be checked right now; retry later",
            Reason::UserNotAllowed => "the user is not allowed on this route",
            Reason::InsufficientScope => "the credential lacks a required scope",
            Reason::ClaimMismatch => "the token lacks a required claim value",
            Reason::KeyNotAllowed => "the API key is not allowed on this route",
            Reason::NoMatchingRule => "access to this route is denied",
            Reason::BadPath => "the request path is not acceptable",
            Reason::BadHost => "the request authority is not acceptable",
            Reason::BadMethod => "the request method is not acceptable",
            Reason::MethodOverride => "method override headers and parameters are not accepted",
            Reason::InsecureTransport => "credentials are accepted only over TLS (https)",
            Reason::JwksUnavailable => "the token cannot be checked right now; retry later",
            Reason::DiscoveryUnavailable => "the token cannot be checked right now; retry later",
            Reason::InactiveToken => "the token is not active",
            Reason::IntrospectionUnavailable => {
                "the token cannot be checked right now; retry later"
            }
            Reason::KeySetUnavailable => "the API key cannot be checked right now; retry later",
        }
    }

    /// True for reasons that mean "valid credential, not enough rights" (403 rather than 401).
    pub fn is_forbidden(self) -> bool {
        matches!(
            self,
            Reason::InsufficientScope
                | Reason::ClaimMismatch
                | Reason::KeyNotAllowed
                | Reason::UserNotAllowed
                | Reason::NoMatchingRule
                | Reason::BadPath
                | Reason::BadHost
                | Reason::BadMethod
                | Reason::MethodOverride
                | Reason::InsecureTransport
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_documented_in_the_readme() {
        let readme = include_str!("../README.md");
        for r in Reason::ALL {
            let row = format!("| `{}` |", r.code());
            assert!(readme.contains(&row), "README's reason table lacks {row}");
        }
    }

    #[test]
    fn codes_are_unique_and_snake_case() {
        let codes: HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        for c in codes {
            assert!(
                c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c}"
            );
        }
    }
}
