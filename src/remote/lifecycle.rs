//! The lifecycle of one remote document in one VM: first fetch, timed refresh, forced refetch (an
//! unknown `kid`, rate-limited), back-off after failures, and the stale window during which the last
//! good value is kept. Generic over the value (a key set, a discovery document, a key list).
//!
//! Pure: times (milliseconds since the epoch) come from the caller; the shared [`LeaseRecord`] is
//! read by the caller and handed in through [`Lifecycle::observe`].

use super::lease::LeaseRecord;
use std::cell::Cell;

/// How often a document is refreshed, how long it is kept when refreshes fail, how long a fetch may
/// take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub refresh_ms: u64,
    pub max_stale_ms: u64,
    pub timeout_ms: u64,
}

impl Timing {
    /// How long a fetch lease lasts: the call's timeout and a second for the response to be recorded.
    pub fn lease_ms(&self) -> u64 {
        self.timeout_ms.saturating_add(1000)
    }
}

/// Why a fetch starts (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    Initial,
    Refresh,
    Retry,
    /// A request asked for a refetch (a token named a key the set lacks).
    Forced,
}

impl FetchReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchReason::Initial => "initial",
            FetchReason::Refresh => "refresh",
            FetchReason::Retry => "retry",
            FetchReason::Forced => "unknown_kid",
        }
    }
}

/// A document as requests see it at one instant; derived once per check from the local view.
#[derive(Debug, PartialEq, Eq)]
pub enum Availability<'a, T> {
    /// Fetched less than `refresh_ms` ago.
    Fresh(&'a T),
    /// Older than `refresh_ms` but within `max_stale_ms`: still served while refreshes run or fail.
    Stale(&'a T),
    /// Not usable yet, and a fetch is under way or due.
    Loading,
    /// Not usable (never loaded, or stale beyond `max_stale_ms`) and the last fetch failed.
    Failed,
}

/// One VM's view of one remote document.
#[derive(Debug)]
pub struct Lifecycle<T> {
    pub timing: Timing,
    /// The installed value and when it was fetched.
    value: Option<(T, u64)>,
    /// Shared-data version of the installed value record (to notice new ones).
    pub version: Option<u32>,
    /// The shared lease record as last read; replace it through [`Lifecycle::observe`].
    pub lease: LeaseRecord,
    /// A request asked for a forced refetch; cleared once one starts (a `Cell`: requests see the
    /// lifecycle through a shared view).
    refetch_wanted: Cell<bool>,
}

impl<T> Lifecycle<T> {
    pub fn new(timing: Timing) -> Self {
        Lifecycle {
            timing,
            value: None,
            version: None,
            lease: LeaseRecord::default(),
            refetch_wanted: Cell::new(false),
        }
    }

    /// Installs a value fetched at `fetched_at_ms` (shared-data version `version`).
    pub fn install(&mut self, value: T, fetched_at_ms: u64, version: Option<u32>) {
        self.value = Some((value, fetched_at_ms));
        self.version = version;
    }

    /// Renews the installed value's fetch time (the same document was fetched again).
    pub fn touch(&mut self, fetched_at_ms: u64, version: Option<u32>) {
        if let Some((_, at)) = &mut self.value {
            *at = fetched_at_ms;
            self.version = version;
        }
    }

    /// Whether a value is installed.
    pub fn has_value(&self) -> bool {
        self.value.is_some()
    }

    /// Age of the installed value, if any.
    pub fn age_ms(&self, now_ms: u64) -> Option<u64> {
        self.value
            .as_ref()
            .map(|(_, at)| now_ms.saturating_sub(*at))
    }

    /// True when the shared record says a value newer than the installed one exists.
    pub fn newer_shared(&self, now_ms: u64) -> bool {
        self.lease.last_ok_ms > 0
            && self
                .age_ms(now_ms)
                .is_none_or(|age| now_ms.saturating_sub(age) < self.lease.last_ok_ms)
    }

    /// Back-off after `failures` consecutive failures: 1 s doubling to at most min(refresh, 30 s).
    pub fn backoff_ms(&self) -> u64 {
        let cap = self.timing.refresh_ms.clamp(1000, 30_000);
        let shift = self.lease.failures.saturating_sub(1).min(16);
        (1000u64 << shift).min(cap)
    }

    /// Whether this VM should start a fetch now (lease permitting), and why.
    pub fn fetch_due(&self, now_ms: u64) -> Option<FetchReason> {
        let lease = &self.lease;
        if lease.leased(now_ms) {
            return None;
        }
        if self.refetch_wanted.get() && !lease.forced_recently(now_ms) {
            return Some(FetchReason::Forced);
        }
        if lease.failures > 0 && now_ms < lease.last_fail_ms.saturating_add(self.backoff_ms()) {
            return None;
        }
        let retry = lease.failures > 0;
        let last_ok = self
            .value
            .as_ref()
            .map_or(0, |(_, at)| *at)
            .max(lease.last_ok_ms);
        if last_ok == 0 {
            return Some(if retry {
                FetchReason::Retry
            } else {
                FetchReason::Initial
            });
        }
        if now_ms >= last_ok.saturating_add(self.timing.refresh_ms) {
            return Some(if retry {
                FetchReason::Retry
            } else {
                FetchReason::Refresh
            });
        }
        None
    }

    /// Clears the forced-refetch request once a fetch was started for it.
    pub fn clear_refetch(&self) {
        self.refetch_wanted.set(false);
    }

    /// Takes in the shared record just read. True when requests waiting for this document should be
    /// checked again: the record changed, or this VM's forced-refetch request was answered by a
    /// refetch another VM started (this VM's view was older than the request), so the request must
    /// not start a second one but see the outcome of the first.
    pub fn observe(&mut self, lease: LeaseRecord, now_ms: u64) -> bool {
        let mut changed = lease != self.lease;
        self.lease = lease;
        if self.refetch_wanted.get() && lease.forced_recently(now_ms) {
            self.refetch_wanted.set(false);
            changed = true;
        }
        changed
    }

    /// The document as requests see it at `now_ms`.
    pub fn availability(&self, now_ms: u64) -> Availability<'_, T> {
        if let Some((value, at)) = &self.value {
            let age = now_ms.saturating_sub(*at);
            if age < self.timing.refresh_ms {
                return Availability::Fresh(value);
            }
            if age <= self.timing.max_stale_ms {
                return Availability::Stale(value);
            }
        }
        // Another VM fetched a value this VM has not read yet: it will on its next sync.
        let lease = &self.lease;
        let unread = self.value.is_none() && lease.last_ok_ms > 0 && lease.failures == 0;
        if unread || lease.leased(now_ms) || self.fetch_due(now_ms).is_some() {
            Availability::Loading
        } else {
            Availability::Failed
        }
    }

    /// A request needs a refetch (a token named a key the set lacks): ask for one unless one happened
    /// recently. True when the request should wait for it.
    ///
    /// While a fetch is in flight (this VM's or another's; typically the refetch an earlier request
    /// with the same new `kid` started), the request waits for its result too: the rate limit must not
    /// turn the rotation window into 401s. Once that fetch is done, a `kid` still unknown is refused.
    pub fn want_refetch(&self, now_ms: u64) -> bool {
        if self.lease.leased(now_ms) {
            return true;
        }
        if self.lease.forced_recently(now_ms) {
            return false;
        }
        self.refetch_wanted.set(true);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::lease::FORCED_REFETCH_MS;

    fn timing() -> Timing {
        Timing {
            refresh_ms: 300_000,
            max_stale_ms: 600_000,
            timeout_ms: 2000,
        }
    }

    #[test]
    fn loading_failed_fresh_stale() {
        let mut p: Lifecycle<u8> = Lifecycle::new(timing());
        let t0 = 1_000_000;
        assert_eq!(p.fetch_due(t0), Some(FetchReason::Initial));
        assert_eq!(p.availability(t0), Availability::Loading);
        // someone is fetching: wait, don't fetch
        p.lease = LeaseRecord {
            holder: 1,
            lease_until_ms: t0 + 3000,
            ..Default::default()
        };
        assert_eq!(p.fetch_due(t0), None);
        assert_eq!(p.availability(t0), Availability::Loading);
        // it failed: failed during back-off, then retried
        p.lease = LeaseRecord {
            last_fail_ms: t0 + 100,
            failures: 1,
            ..Default::default()
        };
        assert_eq!(p.availability(t0 + 200), Availability::Failed);
        assert_eq!(p.fetch_due(t0 + 1100), Some(FetchReason::Retry));
        // loaded: fresh, refreshed after refresh_ms, stale meanwhile
        p.lease = LeaseRecord {
            last_ok_ms: t0 + 2000,
            ..Default::default()
        };
        p.install(7, t0 + 2000, Some(1));
        assert_eq!(p.availability(t0 + 2000), Availability::Fresh(&7));
        assert_eq!(p.fetch_due(t0 + 2000 + 299_000), None);
        assert_eq!(p.fetch_due(t0 + 2000 + 300_000), Some(FetchReason::Refresh));
        assert_eq!(p.availability(t0 + 2000 + 300_000), Availability::Stale(&7));
        // server down: stale value kept within max_stale, then fail closed
        p.lease = LeaseRecord {
            last_ok_ms: t0 + 2000,
            last_fail_ms: t0 + 601_500,
            failures: 5,
            ..Default::default()
        };
        assert_eq!(p.availability(t0 + 2000 + 599_000), Availability::Stale(&7));
        assert_eq!(p.availability(t0 + 2000 + 601_000), Availability::Failed);
    }

    #[test]
    fn forced_refetch_is_rate_limited() {
        let mut p: Lifecycle<u8> = Lifecycle::new(timing());
        p.install(0, 1000, None);
        p.lease.last_ok_ms = 1000;
        assert!(p.want_refetch(2000));
        assert_eq!(p.fetch_due(2000), Some(FetchReason::Forced));
        p.clear_refetch();
        p.lease.forced_ms = 2000;
        assert!(!p.want_refetch(3000));
        assert!(p.want_refetch(2000 + FORCED_REFETCH_MS));
    }

    #[test]
    fn a_forced_refetch_waits_for_a_fetch_in_flight_despite_the_rate_limit() {
        let mut p: Lifecycle<u8> = Lifecycle::new(timing());
        p.install(0, 1000, None);
        p.lease.last_ok_ms = 1000;
        assert!(p.want_refetch(2000));
        p.clear_refetch();
        // The refetch started (by this VM or another): lease held, forced_ms set.
        p.lease.holder = 7;
        p.lease.lease_until_ms = 2000 + 3000;
        p.lease.forced_ms = 2000;
        // Later requests with the new kid wait for that fetch instead of failing ...
        assert!(p.want_refetch(2500));
        // ... but do not start another one.
        assert_eq!(p.fetch_due(2500), None);
        // The fetch is done and the kid is still unknown: refused, rate-limited.
        p.lease.holder = 0;
        p.lease.lease_until_ms = 0;
        assert!(!p.want_refetch(3000));
    }

    #[test]
    fn a_refetch_another_vm_started_is_not_repeated() {
        let mut p: Lifecycle<u8> = Lifecycle::new(timing());
        p.install(0, 1000, None);
        p.lease.last_ok_ms = 1000;
        // This VM's view predates another VM's refetch: the request asks for one.
        assert!(p.want_refetch(2000));
        // The next read of shared data shows the other VM's refetch, already done.
        let mut shared = p.lease;
        shared.forced_ms = 1900;
        shared.last_ok_ms = 1950;
        assert!(p.observe(shared, 2100), "waiters must be re-checked");
        assert_eq!(p.fetch_due(2100), None);
        assert!(!p.want_refetch(2100));
        // Even without a fresh read, a recent forced refetch in the known state suppresses it.
        let mut q: Lifecycle<u8> = Lifecycle::new(timing());
        q.install(0, 1000, None);
        q.lease.last_ok_ms = 1000;
        assert!(q.want_refetch(2000));
        q.lease.forced_ms = 1990;
        assert_eq!(q.fetch_due(2000), None);
        // Reading the same state answers the pending request once, then there is nothing new.
        assert!(q.observe(q.lease, 2000));
        assert!(!q.observe(q.lease, 2000));
    }

    #[test]
    fn touch_renews_an_installed_value_only() {
        let mut p: Lifecycle<u8> = Lifecycle::new(timing());
        p.touch(5000, Some(3));
        assert!(!p.has_value());
        assert_eq!(p.version, None, "nothing to renew");
        p.install(7, 1000, Some(1));
        p.touch(400_000, Some(2));
        assert_eq!((p.age_ms(400_000), p.version), (Some(0), Some(2)));
        assert_eq!(p.availability(400_000), Availability::Fresh(&7));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut p: Lifecycle<u8> = Lifecycle::new(timing());
        p.lease.failures = 1;
        assert_eq!(p.backoff_ms(), 1000);
        p.lease.failures = 3;
        assert_eq!(p.backoff_ms(), 4000);
        p.lease.failures = 30;
        assert_eq!(p.backoff_ms(), 30_000);
    }
}
