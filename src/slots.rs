//! Bounded shared data per token or per identity, within Envoy's two shared-data traps (see
//! [`crate::host`]): keys can never be deleted, and compare-and-swap does not guard a key that does not
//! exist yet. So a [`Slots`] table is a **fixed** set of keys (`<prefix>.<n>`, `n < count`), all
//! created at configure; an id (a digest — never a secret itself) always maps to the same slot, and a
//! slot holds at most `per_slot` entries, the oldest written dropped first. Memory is bounded by
//! `count × per_slot` entries whatever the traffic; updates are compare-and-swap loops.
//!
//! Users: the per-token introspection cache, per-user failure counters, replay caches.

use crate::host::{SharedData, WriteError};

/// Length of an entry id: a SHA-256 (or keyed-hash) digest.
pub const ID_LEN: usize = 32;

/// How many times [`Slots::update`] retries a write that lost a compare-and-swap race.
const UPDATE_TRIES: usize = 8;

/// A fixed table of shared-data slots (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    prefix: String,
    count: u32,
    per_slot: usize,
}

/// One slot's entries, oldest first.
type Entries = Vec<([u8; ID_LEN], Vec<u8>)>;

impl Slots {
    /// `count` slots (at least 1) of at most `per_slot` entries (at least 1) under `prefix`.
    pub fn new(prefix: &str, count: u32, per_slot: usize) -> Self {
        Slots {
            prefix: prefix.to_string(),
            count: count.max(1),
            per_slot: per_slot.max(1),
        }
    }

    /// Creates every slot key (at configure, so compare-and-swap guards them from the first update).
    pub fn create(&self, shared: &dyn SharedData) {
        for n in 0..self.count {
            shared.create(&self.key_of(n), &[]);
        }
    }

    fn key_of(&self, n: u32) -> String {
        format!("{}.{n}", self.prefix)
    }

    fn key(&self, id: &[u8; ID_LEN]) -> String {
        let mut b = [0u8; 4];
        b.copy_from_slice(&id[..4]);
        self.key_of(u32::from_le_bytes(b) % self.count)
    }

    /// The value stored for `id`, if any.
    pub fn get(&self, shared: &dyn SharedData, id: &[u8; ID_LEN]) -> Option<Vec<u8>> {
        let (bytes, _) = shared.get(&self.key(id))?;
        decode(&bytes)
            .into_iter()
            .find(|(k, _)| k == id)
            .map(|(_, v)| v)
    }

    /// Sets (`Some`) or removes (`None`) the value of `id`, as `f` decides from the current one.
    /// Writing a new id into a full slot drops that slot's oldest entry.
    pub fn update(
        &self,
        shared: &dyn SharedData,
        id: &[u8; ID_LEN],
        f: impl Fn(Option<&[u8]>) -> Option<Vec<u8>>,
    ) -> Result<(), WriteError> {
        let key = self.key(id);
        let mut last = Err(WriteError::Failed);
        for _ in 0..UPDATE_TRIES {
            let (bytes, cas) = match shared.get(&key) {
                Some((b, v)) => (b, Some(v)),
                None => (Vec::new(), None),
            };
            let mut entries = decode(&bytes);
            let current = entries.iter().position(|(k, _)| k == id);
            let next = f(current
                .and_then(|i| entries.get(i))
                .map(|(_, v)| v.as_slice()));
            if let Some(i) = current {
                entries.remove(i);
            }
            if let Some(value) = next {
                while entries.len() >= self.per_slot {
                    entries.remove(0);
                }
                entries.push((*id, value));
            }
            last = shared.set(&key, &encode(&entries), cas);
            if last != Err(WriteError::Conflict) {
                break;
            }
        }
        last
    }
}

/// `[id][u32 length, little-endian][value]` per entry.
fn encode(entries: &Entries) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, value) in entries {
        out.extend_from_slice(id);
        out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Decodes a slot; a damaged tail is dropped (what was read before it is kept).
fn decode(mut bytes: &[u8]) -> Entries {
    let mut out = Vec::new();
    while let (Some(id), Some(len)) = (bytes.get(..ID_LEN), bytes.get(ID_LEN..ID_LEN + 4)) {
        let mut l = [0u8; 4];
        l.copy_from_slice(len);
        let len = u32::from_le_bytes(l) as usize;
        let start = ID_LEN + 4;
        let Some(value) = bytes.get(start..start.saturating_add(len)) else {
            break;
        };
        let mut k = [0u8; ID_LEN];
        k.copy_from_slice(id);
        out.push((k, value.to_vec()));
        bytes = bytes.get(start + len..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    fn id(n: u8) -> [u8; ID_LEN] {
        let mut d = hmac_sha256::Hash::hash(&[n]);
        // Same slot for every id in these tests: slot index is taken from the first 4 bytes.
        d[..4].copy_from_slice(&[0, 0, 0, 0]);
        d
    }

    #[test]
    fn values_round_trip_and_a_full_slot_drops_its_oldest() {
        let host = MockHost::new(0);
        let s = Slots::new("edgeguard.t", 4, 2);
        s.create(&host);
        assert_eq!(
            host.shared_keys().len(),
            4,
            "every slot key exists up front"
        );
        for n in 1..=3 {
            assert!(s.update(&host, &id(n), |_| Some(vec![n])).is_ok());
        }
        assert_eq!(s.get(&host, &id(1)), None, "dropped: the slot holds 2");
        assert_eq!(s.get(&host, &id(2)), Some(vec![2]));
        assert_eq!(s.get(&host, &id(3)), Some(vec![3]));
        assert!(s
            .update(&host, &id(3), |v| v.map(|v| vec![v[0] + 1]))
            .is_ok());
        assert_eq!(s.get(&host, &id(3)), Some(vec![4]));
        assert!(s.update(&host, &id(3), |_| None).is_ok());
        assert_eq!(s.get(&host, &id(3)), None);
        assert_eq!(host.shared_keys().len(), 4, "no key per id, ever");
    }

    #[test]
    fn a_lost_race_is_retried_and_damaged_bytes_are_dropped() {
        let host = MockHost::new(0);
        let s = Slots::new("edgeguard.t", 1, 8);
        s.create(&host);
        host.fail_next_cas(3);
        assert!(s.update(&host, &id(1), |_| Some(b"x".to_vec())).is_ok());
        assert_eq!(s.get(&host, &id(1)), Some(b"x".to_vec()));
        let mut bytes = host.shared_value("edgeguard.t.0").unwrap_or_default();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert!(host.set("edgeguard.t.0", &bytes, None).is_ok());
        assert_eq!(s.get(&host, &id(1)), Some(b"x".to_vec()));
    }
}
