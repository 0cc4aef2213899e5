//! HTTP Basic's per-user failure counters, shared by every VM of the proxy: a wrong password for a
//! name (configured or not) counts against that name for the current minute of the host clock; at
//! `failures_per_user_per_minute` the name is refused (429 `too_many_failures`) before any slow
//! hash, on every worker.
//!
//! Stored in pre-created [`Slots`] (keys are never deleted; compare-and-swap needs existing
//! keys): one slot per configured user (its counter is never evicted by other names), and a fixed
//! table for every other name (bounded: a flood of names evicts only other unknown names). An
//! entry's id is derived from the name (never a secret); its value is the minute and the count.
//! The core reads the counts through the [`Resources`] port ([`View`]); the plugin records
//! failures after a check, from its events.

use crate::credential::basic::BasicUsers;
use crate::host::{SharedData, WriteError};
use crate::resources::{Introspected, KeyAvailability, Loaded, Resources};
use crate::slots::{Slots, ID_LEN};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Slot keys (and entries per key) of the table for names that are not configured.
const OTHER_SLOTS: u32 = 64;
const OTHER_PER_SLOT: usize = 16;

/// The failure counters of one configuration's Basic users.
#[derive(Debug)]
pub struct Lockout {
    known: Slots,
    other: Slots,
    index: BTreeMap<String, u32>,
}

impl Lockout {
    pub fn new(users: &BasicUsers) -> Self {
        let index: BTreeMap<String, u32> = users
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.name.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let count = u32::try_from(index.len()).unwrap_or(u32::MAX);
        Lockout {
            known: Slots::new("edgeguard.basic.failures.user", count, 1),
            other: Slots::new(
                "edgeguard.basic.failures.other",
                OTHER_SLOTS,
                OTHER_PER_SLOT,
            ),
            index,
        }
    }

    /// Creates every slot key (at configure).
    pub fn create(&self, shared: &dyn SharedData) {
        self.known.create(shared);
        self.other.create(shared);
    }

    /// The table and id of `name`: a configured user's own slot (its index in the id's first
    /// bytes), else the shared table.
    fn id(&self, name: &str) -> (&Slots, [u8; ID_LEN]) {
        let mut id = hmac_sha256::Hash::hash(format!("edgeguard.basic\0{name}").as_bytes());
        match self.index.get(name) {
            Some(i) => {
                if let Some(head) = id.get_mut(..4) {
                    head.copy_from_slice(&i.to_le_bytes());
                }
                (&self.known, id)
            }
            None => (&self.other, id),
        }
    }

    /// Failures of `name` in the minute of `now` (seconds).
    pub fn failures(&self, shared: &dyn SharedData, name: &str, now: u64) -> u32 {
        let (slots, id) = self.id(name);
        slots.get(shared, &id).map_or(0, |v| count_in(&v, now / 60))
    }

    /// Counts one failure of `name` at `now` (seconds).
    pub fn record(&self, shared: &dyn SharedData, name: &str, now: u64) -> Result<(), WriteError> {
        let (slots, id) = self.id(name);
        let minute = now / 60;
        slots.update(shared, &id, |cur| {
            let n = cur.map_or(0, |v| count_in(v, minute)).saturating_add(1);
            let mut v = minute.to_le_bytes().to_vec();
            v.extend_from_slice(&n.to_le_bytes());
            Some(v)
        })
    }
}

/// The count stored in `v` if it is of `minute`, else 0.
fn count_in(v: &[u8], minute: u64) -> u32 {
    let (Some(m), Some(n)) = (v.get(..8), v.get(8..12)) else {
        return 0;
    };
    let mut mb = [0u8; 8];
    mb.copy_from_slice(m);
    let mut nb = [0u8; 4];
    nb.copy_from_slice(n);
    if u64::from_le_bytes(mb) == minute {
        u32::from_le_bytes(nb)
    } else {
        0
    }
}

/// The engine's resource port with the Basic failure counters added to another one.
pub struct View<'a> {
    pub inner: &'a dyn Resources,
    pub lockout: Option<&'a Lockout>,
    pub shared: &'a dyn SharedData,
    /// Seconds since the epoch.
    pub now: u64,
}

impl Resources for View<'_> {
    fn key_set(&self, provider: &str) -> KeyAvailability {
        self.inner.key_set(provider)
    }

    fn refetch_key_set(&self, provider: &str) -> bool {
        self.inner.refetch_key_set(provider)
    }

    fn introspect(&self, provider: &str, token: &str) -> Introspected {
        self.inner.introspect(provider, token)
    }

    fn api_key_set(&self) -> Loaded<Rc<crate::api_key_set::ApiKeySet>> {
        self.inner.api_key_set()
    }

    fn basic_failures(&self, user: &str) -> u32 {
        self.lockout
            .map_or(0, |l| l.failures(self.shared, user, self.now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    fn users(names: &[&str]) -> BasicUsers {
        let users: Vec<String> = names
            .iter()
            .map(|n| format!(r#"{{"name": "{n}", "hash": "{{SHA}}qvTGHdzF6KLavt4PO0gs2a6pQ00="}}"#))
            .collect();
        let json = format!(r#"{{"allow_sha1": true, "users": [{}]}}"#, users.join(","));
        crate::config_json::parse::<crate::credential::basic::BasicAuthConfig>(json.as_bytes())
            .and_then(|c| c.validate("basic_auth"))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn counts_per_name_per_minute_across_vms() {
        let host = MockHost::new(0);
        let other_vm = host.sibling();
        let l = Lockout::new(&users(&["alice", "bob"]));
        l.create(&host);
        let keys = host.shared_keys().len();
        assert_eq!(keys, 2 + OTHER_SLOTS as usize, "every key up front");
        for _ in 0..3 {
            assert!(l.record(&host, "alice", 120).is_ok());
        }
        assert!(l.record(&other_vm, "alice", 130).is_ok());
        assert!(l.record(&other_vm, "mallory", 130).is_ok());
        assert_eq!(l.failures(&host, "alice", 179), 4, "shared by every VM");
        assert_eq!(l.failures(&other_vm, "bob", 179), 0);
        assert_eq!(
            l.failures(&host, "mallory", 150),
            1,
            "unknown names count too"
        );
        assert_eq!(l.failures(&host, "alice", 180), 0, "a new minute");
        assert!(l.record(&host, "alice", 181).is_ok());
        assert_eq!(l.failures(&host, "alice", 181), 1);
        for i in 0..1000 {
            assert!(l.record(&host, &format!("spray{i}"), 181).is_ok());
        }
        assert_eq!(
            l.failures(&host, "alice", 181),
            1,
            "a configured user's counter is its own"
        );
        assert_eq!(host.shared_keys().len(), keys, "no key per name, ever");
    }

    #[test]
    fn the_view_reads_through_the_port() {
        let host = MockHost::new(0);
        let l = Lockout::new(&users(&["alice"]));
        l.create(&host);
        assert!(l.record(&host, "alice", 60).is_ok());
        let inner = crate::testing::FixedResources::none();
        let view = View {
            inner: &inner,
            lockout: Some(&l),
            shared: &host,
            now: 61,
        };
        assert_eq!(view.basic_failures("alice"), 1);
        assert_eq!(inner.basic_failures("alice"), 0, "no port, no count");
    }
}
