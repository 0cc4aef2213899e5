//! Tokens of a provider with `introspection`, as a credential: every token when the provider has no
//! key set, otherwise every token that is not a JWT ([`crate::introspection::looks_like_jwt`]).
//!
//! The answer comes from the resource port ([`crate::resources::Resources::introspect`]): cached,
//! or asked for (the request waits: [`Need::Introspection`]), or unavailable (503
//! `introspection_unavailable`, never 401). An inactive token is 401 `inactive_token`; an active
//! one is checked on every use ([`crate::introspection::answer::check`]) and yields an identity like
//! a JWT's: the provider's name, `sub` (else `username`) as subject, `client_id`, the scopes of the
//! provider's scope claims and the answer's members as claims for rules and `claims_to_headers`.

use super::jwt::token_scopes;
use super::{Context, CredentialState, Identity, Kind};
use crate::extractor::Found;
use crate::introspection::answer;
use crate::need::{Need, TokenDigest};
use crate::provider::Provider;
use crate::reason::Reason;
use crate::resources::Introspected;
use serde_json::Value;

/// The state of `token` (found at `found`) as introspected for `provider`.
pub fn check(
    provider: &Provider,
    token: &str,
    found: Vec<Found>,
    cx: &mut Context<'_>,
) -> CredentialState {
    if token.len() > provider.rules.max_token_bytes {
        return CredentialState::Invalid(Reason::TokenTooLarge);
    }
    let need = || Need::Introspection {
        provider: provider.name.clone(),
        token: TokenDigest::of(token),
    };
    let claims = match cx.resources.introspect(&provider.name, token) {
        Introspected::Active(claims) => claims,
        Introspected::Inactive => return CredentialState::Invalid(Reason::InactiveToken),
        Introspected::Pending => return CredentialState::Pending(need()),
        Introspected::Unavailable => return CredentialState::Unavailable(need()),
    };
    if let Err(reason) = answer::check(&claims, &provider.rules, cx.now) {
        return CredentialState::Invalid(reason);
    }
    cx.verified_at(found, provider.forward_token);
    cx.events.verified.push(provider.name.clone());
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
    let subject = text("sub").or_else(|| text("username"));
    if cx.events.subject.is_none() {
        cx.events.subject.clone_from(&subject);
    }
    CredentialState::Valid(Identity {
        kind: Kind::Jwt,
        method: super::Method::Introspection,
        source: Some(provider.name.clone()),
        subject,
        key_id: None,
        client_id: text("client_id"),
        scopes: token_scopes(&claims, &provider.scope_claims),
        plan: provider
            .plan_claim
            .as_ref()
            .and_then(|c| c.lookup(&claims))
            .and_then(Value::as_str)
            .map(Box::from),
        claims: Some(claims),
    })
}
