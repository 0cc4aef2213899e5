//! The JWKS lifecycle of remote providers: first fetch, timed refresh, refetch on an unknown `kid`,
//! back-off after failures, and the stale window during which the last good key set is kept.
//!
//! Every Envoy worker runs its own VM, so the state that matters is shared through the host's shared
//! data, under two keys per provider (`<id>` is the provider name and a hash of its cluster, authority
//! and path, so two configurations sharing a VM id never mix their key sets):
//! - `edgeguard.jwks.<id>.keys`: the last good JWKS document and when it was fetched
//!   ([`KeysRecord`]); written only after a successful fetch, read (and parsed) by every VM when its
//!   version changes.
//! - `edgeguard.jwks.<id>.state`: a lease naming the VM that is fetching right now, and the
//!   times of the last success, failure and forced refetch ([`SharedState`]). A VM fetches only when it
//!   holds the lease, so the proxy fetches once per refresh, not once per VM.
//!
//! This module is pure: times (milliseconds since the epoch) come from the caller, and the adapter does
//! the host I/O. The host's compare-and-swap only guards a key that exists, so each VM writes an empty
//! state record at configure if there is none; the first lease is taken on the first tick, after that.

use crate::engine::{KeyAvailability, KeyStore};
use crate::jwk::KeySet;
use crate::provider::RemoteJwks;
use std::cell::Cell;
use std::collections::BTreeMap;

/// Minimum time between two unknown-`kid` refetches of one provider.
pub const UNKNOWN_KID_REFETCH_MS: u64 = 30_000;

/// The lease and status every VM sees for one provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SharedState {
    /// VM holding the fetch lease (0: none).
    pub holder: u64,
    /// The lease expires at this time even if its holder never reports back.
    pub lease_until_ms: u64,
    pub last_ok_ms: u64,
    pub last_fail_ms: u64,
    /// Failures since the last success (drives back-off).
    pub failures: u32,
    /// Last refetch caused by an unknown `kid`.
    pub forced_ms: u64,
}

impl SharedState {
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "v1 {} {} {} {} {} {}",
            self.holder,
            self.lease_until_ms,
            self.last_ok_ms,
            self.last_fail_ms,
            self.failures,
            self.forced_ms
        )
        .into_bytes()
    }

    /// Decodes a record; anything unreadable counts as "no state yet".
    pub fn decode(bytes: &[u8]) -> SharedState {
        let text = std::str::from_utf8(bytes).unwrap_or("");
        let mut it = text.split(' ');
        if it.next() != Some("v1") {
            return SharedState::default();
        }
        let mut n = || it.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        SharedState {
            holder: n(),
            lease_until_ms: n(),
            last_ok_ms: n(),
            last_fail_ms: n(),
            failures: u32::try_from(n()).unwrap_or(u32::MAX),
            forced_ms: n(),
        }
    }

    /// True when some VM is fetching now.
    pub fn leased(&self, now_ms: u64) -> bool {
        self.holder != 0 && self.lease_until_ms > now_ms
    }

    /// True when some VM started an unknown-`kid` refetch less than [`UNKNOWN_KID_REFETCH_MS`] ago.
    pub fn forced_recently(&self, now_ms: u64) -> bool {
        self.forced_ms != 0 && now_ms < self.forced_ms.saturating_add(UNKNOWN_KID_REFETCH_MS)
    }
}

/// A fetched JWKS document and its fetch time, as stored in shared data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysRecord {
    pub fetched_at_ms: u64,
    pub body: Vec<u8>,
}

impl KeysRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{}\n", self.fetched_at_ms).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<KeysRecord> {
        let nl = bytes.iter().position(|&b| b == b'\n')?;
        let head = std::str::from_utf8(bytes.get(..nl)?).ok()?;
        Some(KeysRecord {
            fetched_at_ms: head.parse().ok()?,
            body: bytes.get(nl + 1..)?.to_vec(),
        })
    }
}

/// Why a fetch starts (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    Initial,
    Refresh,
    Retry,
    UnknownKid,
}

impl FetchReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchReason::Initial => "initial",
            FetchReason::Refresh => "refresh",
            FetchReason::Retry => "retry",
            FetchReason::UnknownKid => "unknown_kid",
        }
    }
}

/// One VM's view of one remote provider.
#[derive(Debug)]
pub struct ProviderKeys {
    pub remote: RemoteJwks,
    /// Shared-data key of the key record.
    pub keys_key: String,
    /// Shared-data key of the lease/status record.
    pub state_key: String,
    keys: Option<(KeySet, u64)>,
    /// Shared-data version of the keys record installed (to notice new ones).
    pub keys_version: Option<u32>,
    /// The shared state as last read; replace it through [`ProviderKeys::observe`].
    pub state: SharedState,
    /// An unknown `kid` asked for a refetch; the adapter starts it after the check.
    refetch_wanted: Cell<bool>,
}

impl ProviderKeys {
    pub fn new(provider: &str, remote: RemoteJwks) -> Self {
        let source = format!("{}\n{}\n{}", remote.cluster, remote.authority, remote.path);
        let digest = hmac_sha256::Hash::hash(source.as_bytes());
        let id: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        ProviderKeys {
            keys_key: format!("edgeguard.jwks.{provider}.{id}.keys"),
            state_key: format!("edgeguard.jwks.{provider}.{id}.state"),
            remote,
            keys: None,
            keys_version: None,
            state: SharedState::default(),
            refetch_wanted: Cell::new(false),
        }
    }

    /// Installs a key set fetched at `fetched_at_ms` (shared-data version `version`).
    pub fn install(&mut self, keys: KeySet, fetched_at_ms: u64, version: Option<u32>) {
        self.keys = Some((keys, fetched_at_ms));
        self.keys_version = version;
    }

    /// Age of the installed key set, if any.
    pub fn age_ms(&self, now_ms: u64) -> Option<u64> {
        self.keys.as_ref().map(|(_, at)| now_ms.saturating_sub(*at))
    }

    /// Back-off after `failures` consecutive failures: 1 s doubling to at most min(refresh, 30 s).
    pub fn backoff_ms(&self) -> u64 {
        let cap = (self.remote.refresh_seconds.saturating_mul(1000)).clamp(1000, 30_000);
        let shift = self.state.failures.saturating_sub(1).min(16);
        (1000u64 << shift).min(cap)
    }

    /// Whether this VM should start a fetch now (lease permitting), and why.
    pub fn fetch_due(&self, now_ms: u64) -> Option<FetchReason> {
        if self.state.leased(now_ms) {
            return None;
        }
        let in_backoff = self.state.failures > 0
            && now_ms < self.state.last_fail_ms.saturating_add(self.backoff_ms());
        if self.refetch_wanted.get() && !self.state.forced_recently(now_ms) {
            return Some(FetchReason::UnknownKid);
        }
        let last_ok = self
            .keys
            .as_ref()
            .map(|(_, at)| *at)
            .unwrap_or(0)
            .max(self.state.last_ok_ms);
        if in_backoff {
            return None;
        }
        if self.keys.is_none() && last_ok == 0 {
            return Some(if self.state.failures > 0 {
                FetchReason::Retry
            } else {
                FetchReason::Initial
            });
        }
        if now_ms >= last_ok.saturating_add(self.remote.refresh_seconds.saturating_mul(1000)) {
            return Some(if self.state.failures > 0 {
                FetchReason::Retry
            } else {
                FetchReason::Refresh
            });
        }
        None
    }

    /// Clears the unknown-`kid` request once a fetch was started for it.
    pub fn clear_refetch(&self) {
        self.refetch_wanted.set(false);
    }

    /// Takes in the shared state just read. True when requests waiting for keys should be checked
    /// again: the state changed, or this VM's unknown-`kid` refetch request was answered by a refetch
    /// another VM started (this VM's view was older than the request), so the request must not start a
    /// second one but see the outcome of the first.
    pub fn observe(&mut self, state: SharedState, now_ms: u64) -> bool {
        let mut changed = state != self.state;
        self.state = state;
        if self.refetch_wanted.get() && state.forced_recently(now_ms) {
            self.refetch_wanted.set(false);
            changed = true;
        }
        changed
    }

    /// The key set as requests see it at `now_ms`.
    pub fn availability(&self, now_ms: u64) -> KeyAvailability {
        if let Some((set, at)) = &self.keys {
            if now_ms <= at.saturating_add(self.remote.max_stale_seconds.saturating_mul(1000)) {
                return KeyAvailability::Ready(set.clone());
            }
        }
        // Another VM fetched keys this VM has not read yet: it will on its next tick.
        let unread = self.keys.is_none() && self.state.last_ok_ms > 0 && self.state.failures == 0;
        if unread || self.state.leased(now_ms) || self.fetch_due(now_ms).is_some() {
            KeyAvailability::Loading
        } else {
            KeyAvailability::Unavailable
        }
    }

    /// An unknown `kid` was seen: ask for a refetch unless one happened recently. True when the request
    /// should wait for it.
    ///
    /// While a fetch is in flight (this VM's or another's; typically the refetch an earlier request
    /// with the same new `kid` started), the request waits for its result too: the rate limit must not
    /// turn the rotation window into 401s. Once that fetch is done, a `kid` still unknown is refused.
    pub fn want_refetch(&self, now_ms: u64) -> bool {
        if self.state.leased(now_ms) {
            return true;
        }
        if self.state.forced_recently(now_ms) {
            return false;
        }
        self.refetch_wanted.set(true);
        true
    }
}

/// All remote providers of one VM.
#[derive(Debug, Default)]
pub struct JwksCache {
    pub providers: BTreeMap<String, ProviderKeys>,
}

impl JwksCache {
    /// A [`KeyStore`] view at a given time, for one engine check.
    pub fn at(&self, now_ms: u64) -> CacheAt<'_> {
        CacheAt {
            cache: self,
            now_ms,
            final_check: false,
        }
    }

    /// The view for a request that has waited as long as it may: keys still loading count as
    /// unavailable (503), and no refetch is waited for.
    pub fn at_final(&self, now_ms: u64) -> CacheAt<'_> {
        CacheAt {
            cache: self,
            now_ms,
            final_check: true,
        }
    }
}

/// The cache seen at one instant.
pub struct CacheAt<'a> {
    cache: &'a JwksCache,
    now_ms: u64,
    final_check: bool,
}

impl KeyStore for CacheAt<'_> {
    fn keys(&self, provider: &str) -> KeyAvailability {
        match self
            .cache
            .providers
            .get(provider)
            .map(|p| p.availability(self.now_ms))
        {
            Some(KeyAvailability::Loading) if self.final_check => KeyAvailability::Unavailable,
            Some(a) => a,
            None => KeyAvailability::Unavailable,
        }
    }

    fn refetch_unknown_kid(&self, provider: &str) -> bool {
        !self.final_check
            && self
                .cache
                .providers
                .get(provider)
                .is_some_and(|p| p.want_refetch(self.now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote() -> RemoteJwks {
        RemoteJwks {
            cluster: "c".into(),
            authority: "a".into(),
            path: "/j".into(),
            refresh_seconds: 300,
            timeout_ms: 2000,
            max_stale_seconds: 600,
            max_bytes: 1024,
        }
    }

    #[test]
    fn records_round_trip() {
        let s = SharedState {
            holder: 7,
            lease_until_ms: 9,
            last_ok_ms: 1,
            last_fail_ms: 2,
            failures: 3,
            forced_ms: 4,
        };
        assert_eq!(SharedState::decode(&s.encode()), s);
        assert_eq!(SharedState::decode(b"garbage"), SharedState::default());
        let k = KeysRecord {
            fetched_at_ms: 42,
            body: b"{\"keys\":[]}\n".to_vec(),
        };
        assert_eq!(KeysRecord::decode(&k.encode()), Some(k));
        assert_eq!(KeysRecord::decode(b"x\n{}"), None);
    }

    #[test]
    fn lifecycle() {
        let mut p = ProviderKeys::new("idp", remote());
        let t0 = 1_000_000;
        assert_eq!(p.fetch_due(t0), Some(FetchReason::Initial));
        assert!(matches!(p.availability(t0), KeyAvailability::Loading));
        // someone is fetching: wait, don't fetch
        p.state = SharedState {
            holder: 1,
            lease_until_ms: t0 + 3000,
            ..Default::default()
        };
        assert_eq!(p.fetch_due(t0), None);
        assert!(matches!(p.availability(t0), KeyAvailability::Loading));
        // it failed: unavailable during back-off, then retried
        p.state = SharedState {
            last_fail_ms: t0 + 100,
            failures: 1,
            ..Default::default()
        };
        assert!(matches!(
            p.availability(t0 + 200),
            KeyAvailability::Unavailable
        ));
        assert_eq!(p.fetch_due(t0 + 1100), Some(FetchReason::Retry));
        // loaded: ready, refreshed after refresh_seconds
        p.state = SharedState {
            last_ok_ms: t0 + 2000,
            ..Default::default()
        };
        p.install(KeySet::default(), t0 + 2000, Some(1));
        assert!(matches!(
            p.availability(t0 + 2000),
            KeyAvailability::Ready(_)
        ));
        assert_eq!(p.fetch_due(t0 + 2000 + 299_000), None);
        assert_eq!(p.fetch_due(t0 + 2000 + 300_000), Some(FetchReason::Refresh));
        // server down: stale keys kept within max_stale, then fail closed
        p.state = SharedState {
            last_ok_ms: t0 + 2000,
            last_fail_ms: t0 + 400_000,
            failures: 5,
            ..Default::default()
        };
        assert!(matches!(
            p.availability(t0 + 2000 + 599_000),
            KeyAvailability::Ready(_)
        ));
        assert!(matches!(
            p.availability(t0 + 2000 + 601_000),
            KeyAvailability::Unavailable | KeyAvailability::Loading
        ));
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited() {
        let mut p = ProviderKeys::new("idp", remote());
        p.install(KeySet::default(), 1000, None);
        p.state.last_ok_ms = 1000;
        assert!(p.want_refetch(2000));
        assert_eq!(p.fetch_due(2000), Some(FetchReason::UnknownKid));
        p.clear_refetch();
        p.state.forced_ms = 2000;
        assert!(!p.want_refetch(3000));
        assert!(p.want_refetch(2000 + UNKNOWN_KID_REFETCH_MS));
    }

    #[test]
    fn unknown_kid_waits_for_a_fetch_in_flight_despite_the_rate_limit() {
        let mut p = ProviderKeys::new("idp", remote());
        p.install(KeySet::default(), 1000, None);
        p.state.last_ok_ms = 1000;
        assert!(p.want_refetch(2000));
        p.clear_refetch();
        // The refetch started (by this VM or another): lease held, forced_ms set.
        p.state.holder = 7;
        p.state.lease_until_ms = 2000 + 3000;
        p.state.forced_ms = 2000;
        // Later requests with the new kid wait for that fetch instead of failing ...
        assert!(p.want_refetch(2500));
        // ... but do not start another one.
        assert_eq!(p.fetch_due(2500), None);
        // The fetch is done and the kid is still unknown: refused, rate-limited.
        p.state.holder = 0;
        p.state.lease_until_ms = 0;
        assert!(!p.want_refetch(3000));
    }

    #[test]
    fn a_refetch_another_vm_started_is_not_repeated() {
        let mut p = ProviderKeys::new("idp", remote());
        p.install(KeySet::default(), 1000, None);
        p.state.last_ok_ms = 1000;
        // This VM's view predates another VM's refetch: the request asks for one.
        assert!(p.want_refetch(2000));
        // The next read of shared data shows the other VM's refetch, already done.
        let mut shared = p.state;
        shared.forced_ms = 1900;
        shared.last_ok_ms = 1950;
        assert!(p.observe(shared, 2100), "waiters must be re-checked");
        assert_eq!(p.fetch_due(2100), None);
        assert!(!p.want_refetch(2100));
        // Even without a fresh read, a recent forced refetch in the known state suppresses it.
        let mut q = ProviderKeys::new("idp", remote());
        q.install(KeySet::default(), 1000, None);
        q.state.last_ok_ms = 1000;
        assert!(q.want_refetch(2000));
        q.state.forced_ms = 1990;
        assert_eq!(q.fetch_due(2000), None);
        // Reading the same state answers the pending request once, then there is nothing new.
        assert!(q.observe(q.state, 2000));
        assert!(!q.observe(q.state, 2000));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut p = ProviderKeys::new("idp", remote());
        p.state.failures = 1;
        assert_eq!(p.backoff_ms(), 1000);
        p.state.failures = 3;
        assert_eq!(p.backoff_ms(), 4000);
        p.state.failures = 30;
        assert_eq!(p.backoff_ms(), 30_000);
    }
}
