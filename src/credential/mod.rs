//! Credentials: the kinds a request can present, the [`Identity`] a verified one yields, and what
//! every kind shares.
//!
//! # Contract
//! - A kind is one file here (`api_key.rs`, `jwt.rs`) whose authenticator implements
//!   [`Authenticator`]: how its credential is checked, the challenge a failure answers with, the
//!   headers it sets upstream besides the common identity headers, and the places it is read from.
//!   The engine and the requirement tree see only [`Kind`], [`Identity`] and [`CredentialState`].
//! - Every kind reads its value through [`presented`]: none is `Missing`, two different values are
//!   `Invalid(ambiguous_credential)` (never pick one). Every configured place of every kind is
//!   stripped from the request that goes upstream, in every spelling; a place that held a verified
//!   credential whose forwarding is configured keeps its exact spelling ([`Context::verified_at`]).
//! - A credential is checked at most once per request, however many requirement leaves name it
//!   ([`RequestCredentials`]).
//! - The identity headers common to every kind (`headers.key_id`, `headers.provider`,
//!   `headers.subject`, `headers.client_id`) are set by the engine from the [`Identity`] fields of the same meaning.

pub mod api_key;
pub mod basic;
pub mod introspected;
pub mod jwt;
pub mod requirement;

use crate::decision::{Denial, Edits};
use crate::events::Events;
use crate::extractor::{extract, Extraction, Found, Source};
use crate::need::Need;
use crate::provider::Provider;
use crate::reason::Reason;
use crate::request::Request;
use crate::resources::{AtOnce, Resources};
use api_key::{ApiKeyAuth, ApiKeys};
use basic::{BasicAuth, BasicUsers, Limits};
use jwt::{JwtAuth, TokenCacheConfig};
use requirement::CredentialRequirement;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A key of the `api_keys` section.
    ApiKey,
    /// A bearer token of a named provider: a JWT verified locally, or a token introspected.
    Jwt,
    /// A user and password of the `basic_auth` section (`Authorization: Basic`).
    Basic,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 3] = [Kind::ApiKey, Kind::Jwt, Kind::Basic];

    /// The public name (`api_key`, `jwt`, `basic`): metric labels, logs.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ApiKey => "api_key",
            Kind::Jwt => "jwt",
            Kind::Basic => "basic",
        }
    }

    /// Whether a credential of this kind can wait for a remote resource (a provider's JWKS, the
    /// remote API-key set). A state of a kind that cannot that says pending or unavailable is
    /// treated as missing: fail closed.
    pub fn can_wait(self) -> bool {
        match self {
            Kind::ApiKey | Kind::Jwt => true,
            Kind::Basic => false,
        }
    }
}

/// How a credential was verified: the method name `plans.by_method` and the published
/// `edgeguard_auth_method` use ([`crate::publish`]). A provider's token is `Jwt` when it was
/// verified locally and `Introspection` when its authorization server vouched for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    ApiKey,
    Jwt,
    Introspection,
    Basic,
}

impl Method {
    /// Every method, in the order `edgeguard_auth_method` joins them.
    pub const ALL: [Method; 4] = [
        Method::ApiKey,
        Method::Jwt,
        Method::Introspection,
        Method::Basic,
    ];

    /// The public name (`api_key`, `jwt`, `introspection`, `basic`).
    pub fn name(self) -> &'static str {
        match self {
            Method::ApiKey => "api_key",
            Method::Jwt => "jwt",
            Method::Introspection => "introspection",
            Method::Basic => "basic",
        }
    }
}

/// Who a verified credential speaks for: what requirements are matched against, what checks see,
/// and what is asserted upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub kind: Kind,
    /// How it was verified (what plans and the published identity name it by).
    pub method: Method,
    /// The named configuration that verified it (a JWT provider), sent as `headers.provider`;
    /// `None` for a kind configured once (the `api_keys` section).
    pub source: Option<String>,
    /// Whom the credential names (a token's `sub`), sent as `headers.subject` when an upstream
    /// would read it byte for byte ([`is_header_exact`]).
    pub subject: Option<String>,
    /// The configured id of the key presented (an API key), sent as `headers.key_id`; what a
    /// requirement's `ids` restrict.
    pub key_id: Option<String>,
    /// The OAuth2 client the token was issued to (an introspection answer's `client_id`), sent as
    /// `headers.client_id` when an upstream would read it byte for byte.
    pub client_id: Option<String>,
    /// What a requirement's `scopes` are matched against.
    pub scopes: Vec<String>,
    /// The verified claims (a token), what a requirement's `claims` are matched against.
    pub claims: Option<Rc<crate::jwt::Claims>>,
    /// The credential's own plan (an API key's `plan`, a provider's `plan_claim`), one of
    /// `plans.names`; see [`crate::plan`].
    /// (A boxed `str`: the identity travels in `CredentialState`, kept small.)
    pub plan: Option<Box<str>>,
}

/// What a request's credential of one kind (and source) turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialState {
    Valid(Identity),
    Missing,
    Invalid(Reason),
    /// The check needs this first (a provider's keys are loading): the request should wait.
    Pending(Need),
    /// The check needed this and it could not be had (the keys could not be loaded): 503.
    Unavailable(Need),
}

/// The credentials a configuration defines, borrowed from it: what requirement leaves may name and
/// what requests are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Configured<'a> {
    /// The `api_keys` section, if configured.
    pub api_keys: Option<&'a ApiKeys>,
    /// JWT providers by name.
    pub providers: &'a BTreeMap<String, Provider>,
    /// The `basic_auth` section, if configured.
    pub basic_auth: Option<&'a BasicUsers>,
}

impl Configured<'_> {
    /// A leaf accepting any valid credential, for each configured one: a key if `api_keys` is
    /// configured, then a token of each provider, then a Basic user if `basic_auth` is.
    pub fn any_valid(&self) -> Vec<CredentialRequirement> {
        let api_key = self
            .api_keys
            .map(|_| CredentialRequirement::any(Kind::ApiKey, None));
        let tokens = self
            .providers
            .keys()
            .map(|p| CredentialRequirement::any(Kind::Jwt, Some(p.clone())));
        let basic = self
            .basic_auth
            .map(|_| CredentialRequirement::any(Kind::Basic, None));
        api_key.into_iter().chain(tokens).chain(basic).collect()
    }
}

/// One credential kind, as the engine drives it. Implemented once per kind, in the kind's file.
pub trait Authenticator {
    /// The state of the request's credential of this kind from `source` (a provider's name; `None`
    /// for a kind configured once). Reads the value through [`presented`].
    fn check(&self, source: Option<&str>, cx: &mut Context<'_>) -> CredentialState;

    /// The local reply when a requirement of this kind is not met for `reason`; `scopes` are those
    /// the requirement asked for (the `scope` attribute of a 403 challenge).
    fn denial(&self, realm: &str, reason: Reason, scopes: &[String]) -> Denial;

    /// Sets the headers this kind sends upstream for an identity it verified, besides the common
    /// identity headers (which the engine sets first).
    fn forward(&self, identity: &Identity, configured: Configured<'_>, edits: &mut Edits<'_>);

    /// Every place credentials of this kind are read from (each is stripped upstream unless it held
    /// a forwarded credential).
    fn sources<'a>(&self, configured: Configured<'a>) -> Vec<&'a Source>;

    /// The headers [`Authenticator::forward`] may set: client copies are removed from every request.
    fn owned_headers<'a>(&self, configured: Configured<'a>) -> Vec<&'a str>;

    /// Whom the request's credential of this kind from `source` names, for the warning that it
    /// was sent over plaintext (see [`exposed`]): `cx` sees the remote resources [`AtOnce`], and
    /// nothing here is part of a decision. By default the kind's own [`Authenticator::check`]: a
    /// valid credential's identity. A kind whose check is costly (a password hash) should name
    /// the credential more cheaply (its user name) rather than pay for a request it refuses.
    fn identify(&self, source: Option<&str>, cx: &mut Context<'_>) -> Option<Identity> {
        match self.check(source, cx) {
            CredentialState::Valid(identity) => Some(identity),
            _ => None,
        }
    }
}

/// The authenticator of every kind, with what each keeps across requests (the JWT kind's
/// verified-token cache, the Basic kind's verified-credential cache and slow-hash budget).
#[derive(Debug)]
pub struct Authenticators {
    api_key: ApiKeyAuth,
    jwt: JwtAuth,
    basic: BasicAuth,
}

impl Authenticators {
    /// `basic`: the `basic_auth` limits, when configured.
    pub fn new(token_cache: TokenCacheConfig, basic: Option<&Limits>) -> Self {
        Authenticators {
            api_key: ApiKeyAuth,
            jwt: JwtAuth::new(token_cache),
            basic: BasicAuth::new(basic.unwrap_or(&Limits::default())),
        }
    }

    /// The authenticator of `kind`.
    pub fn of(&self, kind: Kind) -> &dyn Authenticator {
        match kind {
            Kind::ApiKey => &self.api_key,
            Kind::Jwt => &self.jwt,
            Kind::Basic => &self.basic,
        }
    }
}

/// What the checks of one request read, and what they report.
pub struct Context<'a> {
    pub configured: Configured<'a>,
    pub req: &'a Request,
    /// Seconds since the epoch, from the host.
    pub now: u64,
    /// Remote resources (key sets of remote JWT providers).
    pub resources: &'a dyn Resources,
    /// Side facts for the host (key ids, verified providers, cache use).
    pub events: Events,
    /// Places of verified credentials whose forwarding is configured.
    forwarded: Vec<Source>,
}

impl<'a> Context<'a> {
    pub fn new(
        configured: Configured<'a>,
        req: &'a Request,
        now: u64,
        resources: &'a dyn Resources,
    ) -> Self {
        Context {
            configured,
            req,
            now,
            resources,
            events: Events::default(),
            forwarded: Vec::new(),
        }
    }

    /// A credential found at `found` was verified: if its forwarding is configured (`forward`),
    /// those places keep it upstream; otherwise they are stripped like every credential place.
    pub fn verified_at(&mut self, found: Vec<Found>, forward: bool) {
        if forward {
            self.forwarded.extend(found.into_iter().map(|f| f.source));
        }
    }
}

/// The one credential value a request presents in `sources` (with every place it was found), or
/// the state that ends the check of that kind: none is `Missing`, two different values are
/// `Invalid(ambiguous_credential)` (never pick one). Shared by every credential kind.
// The `Err` is only ever `Missing` or `Invalid`; boxing `CredentialState` (large for its `Valid`
// identity) would cost an allocation on every credential check.
#[allow(clippy::result_large_err)]
pub fn presented(
    sources: &[Source],
    req: &Request,
) -> Result<(String, Vec<Found>), CredentialState> {
    let found = match extract(sources, req) {
        Extraction::Absent => return Err(CredentialState::Missing),
        Extraction::Ambiguous(_) => {
            return Err(CredentialState::Invalid(Reason::AmbiguousCredential))
        }
        Extraction::One(found) => found,
    };
    match found.first() {
        Some(f) => Ok((f.value.clone(), found)),
        None => Err(CredentialState::Missing),
    }
}

/// The credentials of a request, as the requirement tree asks for them.
pub trait Credentials {
    /// The state of the credential of `kind` from `source` (see [`Authenticator::check`]).
    fn credential(&mut self, kind: Kind, source: Option<&str>) -> CredentialState;
}

/// The credentials of one request, each checked at most once.
pub struct RequestCredentials<'a> {
    authenticators: &'a Authenticators,
    cx: Context<'a>,
    checked: Vec<(Kind, Option<String>, CredentialState)>,
}

impl<'a> RequestCredentials<'a> {
    pub fn new(authenticators: &'a Authenticators, cx: Context<'a>) -> Self {
        RequestCredentials {
            authenticators,
            cx,
            checked: Vec::new(),
        }
    }

    /// What the checks reported, and the places of verified credentials whose forwarding is
    /// configured (every other credential place is stripped).
    pub fn finish(self) -> (Events, Vec<Source>) {
        (self.cx.events, self.cx.forwarded)
    }
}

impl Credentials for RequestCredentials<'_> {
    fn credential(&mut self, kind: Kind, source: Option<&str>) -> CredentialState {
        let seen = self
            .checked
            .iter()
            .find(|(k, s, _)| *k == kind && s.as_deref() == source);
        if let Some((_, _, state)) = seen {
            return state.clone();
        }
        let state = self.authenticators.of(kind).check(source, &mut self.cx);
        self.checked
            .push((kind, source.map(str::to_string), state.clone()));
        state
    }
}

/// A credential presented where it must not be (over plaintext, on a rule that requires TLS): its
/// kind and, when it could be told at once and locally, whom it names — for the warning that it
/// must be rotated. Key ids and subjects only, never the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    pub kind: Kind,
    /// The named configuration that verified it (a token's provider).
    pub source: Option<String>,
    /// The API key's id, the token's `sub`; `None` when it could not be identified at once.
    pub id: Option<String>,
}

/// The credentials `req` presents in any configured place, one entry per kind present (`places`:
/// each kind's places), each identified if its kind can tell it locally and at once
/// ([`Authenticator::identify`], by default its check) against `resources` seen [`AtOnce`] (a key
/// set not loaded yet, an introspection not answered yet: unidentified); the side facts of that are
/// dropped. Nothing here waits, and nothing here is part of a decision.
pub fn exposed(
    authenticators: &Authenticators,
    configured: Configured<'_>,
    places: &[(Kind, Vec<Source>)],
    req: &Request,
    now: u64,
    resources: &dyn Resources,
) -> Vec<Exposed> {
    let at_once = AtOnce(resources);
    let leaves = configured.any_valid();
    places
        .iter()
        .filter(|(_, sources)| !matches!(extract(sources, req), Extraction::Absent))
        .map(|(kind, _)| {
            let mut cx = Context::new(configured, req, now, &at_once);
            let identity = leaves
                .iter()
                .filter(|leaf| leaf.kind == *kind)
                .find_map(|leaf| {
                    authenticators
                        .of(*kind)
                        .identify(leaf.source.as_deref(), &mut cx)
                });
            Exposed {
                kind: *kind,
                source: identity.as_ref().and_then(|i| i.source.clone()),
                id: identity.and_then(|i| i.key_id.or(i.subject)),
            }
        })
        .collect()
}

/// The 401 or 403 of a failed requirement, with an RFC 6750-style challenge
/// (`<scheme> realm="<realm>"`, then `error` and `error_description` or `scope`): `invalid_error`
/// is the kind's `error` for a present but invalid credential (`invalid_token`, `invalid_key`).
pub fn challenge_denial(
    scheme: &str,
    invalid_error: &str,
    realm: &str,
    reason: Reason,
    scopes: &[String],
) -> Denial {
    if reason.is_forbidden() {
        let mut c = format!("{scheme} realm=\"{realm}\", error=\"insufficient_scope\"");
        if !scopes.is_empty() {
            c.push_str(&format!(", scope=\"{}\"", scopes.join(" ")));
        }
        Denial::forbidden(reason, Some(c))
    } else if reason == Reason::Missing {
        Denial::unauthorized(reason, format!("{scheme} realm=\"{realm}\""))
    } else {
        Denial::unauthorized(
            reason,
            format!(
                "{scheme} realm=\"{realm}\", error=\"{invalid_error}\", error_description=\"{}\"",
                reason.description()
            ),
        )
    }
}

/// A value an upstream reads byte for byte as edgeguard sent it: non-empty, at most 4096 bytes, no
/// control characters, and no leading or trailing whitespace (HTTP trims it).
pub fn is_header_exact(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 4096
        && !v.chars().any(char::is_control)
        && !v.starts_with([' ', '\t'])
        && !v.ends_with([' ', '\t'])
}
