//! The shared-data lease and status record of one remote resource, and the protocol every VM follows
//! on it, so that a proxy fetches a resource once per refresh, not once per VM (Envoy worker).
//!
//! The record ([`LeaseRecord`]) names the VM fetching right now (until a deadline, in case it never
//! reports back) and the times of the last success, failure and forced refetch. It is created empty at
//! configure ([`create`]: compare-and-swap guards only an existing key); afterwards every write is a
//! compare-and-swap:
//! - [`acquire`]: a VM that wants to fetch reads the record; if nobody holds a live lease it writes
//!   itself in as holder. Losing the race means another VM fetches.
//! - [`release`]: the holder writes the outcome (success or failure, which drives back-off) and drops
//!   the lease, retrying on conflicts a bounded number of times.

use crate::host::{SharedData, WriteError};

/// Minimum time between two forced refetches (an unknown `kid`) of one resource.
pub const FORCED_REFETCH_MS: u64 = 30_000;

/// How many times [`release`] retries a write that lost a compare-and-swap race.
const RELEASE_TRIES: usize = 8;

/// The lease and status every VM sees for one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseRecord {
    /// VM holding the fetch lease (0: none).
    pub holder: u64,
    /// The lease expires at this time even if its holder never reports back.
    pub lease_until_ms: u64,
    pub last_ok_ms: u64,
    pub last_fail_ms: u64,
    /// Failures since the last success (drives back-off).
    pub failures: u32,
    /// Last forced refetch (an unknown `kid`).
    pub forced_ms: u64,
}

impl LeaseRecord {
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
    pub fn decode(bytes: &[u8]) -> LeaseRecord {
        let text = std::str::from_utf8(bytes).unwrap_or("");
        let mut it = text.split(' ');
        if it.next() != Some("v1") {
            return LeaseRecord::default();
        }
        let mut n = || it.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        LeaseRecord {
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

    /// True when some VM started a forced refetch less than [`FORCED_REFETCH_MS`] ago.
    pub fn forced_recently(&self, now_ms: u64) -> bool {
        self.forced_ms != 0 && now_ms < self.forced_ms.saturating_add(FORCED_REFETCH_MS)
    }
}

/// Reads the record at `key` with its version; no record (or a host error) reads as the default.
pub fn read(shared: &dyn SharedData, key: &str) -> (LeaseRecord, Option<u32>) {
    match shared.get(key) {
        Some((bytes, cas)) => (LeaseRecord::decode(&bytes), Some(cas)),
        None => (LeaseRecord::default(), None),
    }
}

/// Creates the empty record at `key` if there is none (at configure, before any lease is taken).
pub fn create(shared: &dyn SharedData, key: &str) {
    shared.create(key, &LeaseRecord::default().encode());
}

/// What [`acquire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// This VM holds the lease (the record as written): it must fetch, then [`release`].
    Won(LeaseRecord),
    /// Another VM holds a live lease, or won the race to it: its result will be shared.
    Busy(LeaseRecord),
    /// A forced refetch was asked for, but another VM did one recently: its result answers the
    /// request (the record as read).
    AnsweredByOther(LeaseRecord),
}

/// Tries to take the fetch lease for `lease_ms` as VM `vm` (a nonzero random id).
pub fn acquire(
    shared: &dyn SharedData,
    key: &str,
    vm: u64,
    now_ms: u64,
    lease_ms: u64,
    forced: bool,
) -> Acquire {
    let (current, cas) = read(shared, key);
    if current.leased(now_ms) {
        return Acquire::Busy(current);
    }
    if forced && current.forced_recently(now_ms) {
        return Acquire::AnsweredByOther(current);
    }
    let mut next = current;
    next.holder = vm;
    next.lease_until_ms = now_ms.saturating_add(lease_ms);
    if forced {
        next.forced_ms = now_ms;
    }
    match shared.set(key, &next.encode(), cas) {
        Ok(()) => Acquire::Won(next),
        Err(WriteError::Conflict | WriteError::Failed) => Acquire::Busy(current),
    }
}

/// Records the outcome of this VM's fetch and drops its lease (if it still holds it). Returns the
/// record as last written or read. A success resets the failure count; a failure extends back-off.
pub fn release(shared: &dyn SharedData, key: &str, vm: u64, now_ms: u64, ok: bool) -> LeaseRecord {
    let mut last = LeaseRecord::default();
    for _ in 0..RELEASE_TRIES {
        let (mut record, cas) = read(shared, key);
        if record.holder == vm {
            record.holder = 0;
            record.lease_until_ms = 0;
        }
        if ok {
            record.last_ok_ms = now_ms;
            record.failures = 0;
        } else {
            record.last_fail_ms = now_ms;
            record.failures = record.failures.saturating_add(1);
        }
        last = record;
        if shared.set(key, &record.encode(), cas).is_ok() {
            break;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    #[test]
    fn record_round_trips_and_garbage_reads_as_empty() {
        let s = LeaseRecord {
            holder: 7,
            lease_until_ms: 9,
            last_ok_ms: 1,
            last_fail_ms: 2,
            failures: 3,
            forced_ms: 4,
        };
        assert_eq!(LeaseRecord::decode(&s.encode()), s);
        assert_eq!(LeaseRecord::decode(b"garbage"), LeaseRecord::default());
    }

    #[test]
    fn one_vm_wins_the_lease_the_other_waits() {
        let host = MockHost::new(1000);
        create(&host, "k");
        let Acquire::Won(rec) = acquire(&host, "k", 1, 1000, 3000, false) else {
            panic!("first VM must win");
        };
        assert_eq!((rec.holder, rec.lease_until_ms), (1, 4000));
        assert!(matches!(
            acquire(&host, "k", 2, 1500, 3000, false),
            Acquire::Busy(_)
        ));
        // A lease whose holder never reports back expires.
        assert!(matches!(
            acquire(&host, "k", 2, 4001, 3000, false),
            Acquire::Won(_)
        ));
    }

    #[test]
    fn a_lost_compare_and_swap_means_busy() {
        let host = MockHost::new(1000);
        create(&host, "k");
        host.fail_next_cas(1);
        assert!(matches!(
            acquire(&host, "k", 1, 1000, 3000, false),
            Acquire::Busy(_)
        ));
        assert!(matches!(
            acquire(&host, "k", 1, 1000, 3000, false),
            Acquire::Won(_)
        ));
    }

    #[test]
    fn without_a_created_record_both_racers_win() {
        // The Envoy trap the protocol works around: CAS on a missing key is not checked.
        let host = MockHost::new(1000);
        let (_, cas_a) = read(&host, "k");
        let (_, cas_b) = read(&host, "k");
        assert!(host.set("k", b"a", cas_a).is_ok());
        assert!(host.set("k", b"b", cas_b).is_ok());
        // With the record created first, the second writer of the same version loses.
        create(&host, "j");
        let (_, v) = read(&host, "j");
        assert!(host.set("j", b"a", v).is_ok());
        assert_eq!(host.set("j", b"b", v), Err(WriteError::Conflict));
    }

    #[test]
    fn release_records_the_outcome_and_retries_conflicts() {
        let host = MockHost::new(1000);
        create(&host, "k");
        assert!(matches!(
            acquire(&host, "k", 1, 1000, 3000, false),
            Acquire::Won(_)
        ));
        host.fail_next_cas(3);
        let r = release(&host, "k", 1, 1200, false);
        assert_eq!((r.holder, r.failures, r.last_fail_ms), (0, 1, 1200));
        assert_eq!(read(&host, "k").0, r);
        let r = release(&host, "k", 1, 1300, true);
        assert_eq!((r.failures, r.last_ok_ms), (0, 1300));
    }

    #[test]
    fn a_forced_refetch_is_rate_limited_across_vms() {
        let host = MockHost::new(1000);
        create(&host, "k");
        assert!(matches!(
            acquire(&host, "k", 1, 1000, 3000, true),
            Acquire::Won(_)
        ));
        release(&host, "k", 1, 1100, true);
        assert!(matches!(
            acquire(&host, "k", 2, 2000, 3000, true),
            Acquire::AnsweredByOther(_)
        ));
        assert!(matches!(
            acquire(&host, "k", 2, 1000 + FORCED_REFETCH_MS, 3000, true),
            Acquire::Won(_)
        ));
    }
}
