//! Verified-token cache: a repeated token skips signature verification (the slow part in wasm).
//!
//! - Keyed by the token itself: the map is indexed by a keyed SipHash of the token (random keys per
//!   VM, so a client cannot aim at an entry) and each entry keeps the token, compared in constant time
//!   on lookup, so only the very same token can hit an entry (a forged token never reaches a valid
//!   token's outcome). SHA-256 would do the same job at about ten times the cost per request.
//! - Per provider and per key-set fingerprint, so a key rotation invalidates it.
//! - Holds the outcome of the *signature* check only: valid claims, or "bad signature" (which makes a
//!   flood of one forged token cheap). Time (`exp`/`nbf`), issuer, audience and scopes are evaluated
//!   again on every request by the caller.
//! - Bounded in entries and bytes (each entry counts twice its token's length: the token kept for
//!   comparison and its claims); the oldest entries are evicted first. One cache per VM: sharing
//!   verified claims across VMs through shared data would cost a host copy per lookup, more than a
//!   local miss costs after the first request on each worker.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::rc::Rc;

/// Constant-time equality: every byte is looked at whatever differs (a byte-wise fold the compiler
/// vectorizes; `subtle`'s per-byte `Choice` costs several times more on a 1 KB token).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// What the cache remembers about a token's signature.
#[derive(Debug, Clone, PartialEq)]
pub enum Cached<T> {
    /// The signature verified; these are the claims.
    Verified(Rc<T>),
    /// The signature did not verify with this key set.
    BadSignature,
}

#[derive(Debug)]
struct Entry<T> {
    token: Box<[u8]>,
    provider: u32,
    keys_version: u64,
    value: Cached<T>,
    bytes: usize,
}

/// A bounded cache of signature outcomes.
#[derive(Debug)]
pub struct JwtCache<T> {
    /// Keyed SipHash of the token → the entry (a second token with the same hash replaces it).
    map: HashMap<u64, Entry<T>>,
    hasher: RandomState,
    order: VecDeque<u64>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<T> JwtCache<T> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        JwtCache {
            map: HashMap::new(),
            hasher: RandomState::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    fn slot(&self, token: &str) -> u64 {
        self.hasher.hash_one(token.as_bytes())
    }

    /// The remembered outcome for this token, provider and key-set version. Hits and misses are
    /// counted by the caller (the engine's `Events`), not here.
    pub fn get(&self, token: &str, provider: u32, keys_version: u64) -> Option<Cached<T>> {
        self.map
            .get(&self.slot(token))
            .filter(|e| {
                e.provider == provider
                    && e.keys_version == keys_version
                    && same_bytes(&e.token, token.as_bytes())
            })
            .map(|e| match &e.value {
                Cached::Verified(c) => Cached::Verified(c.clone()),
                Cached::BadSignature => Cached::BadSignature,
            })
    }

    /// Remembers the outcome for a token.
    pub fn insert(&mut self, token: &str, provider: u32, keys_version: u64, value: Cached<T>) {
        let bytes = token.len().saturating_mul(2);
        if self.max_entries == 0 || bytes > self.max_bytes {
            return;
        }
        let slot = self.slot(token);
        if let Some(old) = self.map.remove(&slot) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
            self.order.retain(|k| *k != slot);
        }
        while self.map.len() >= self.max_entries
            || self.bytes.saturating_add(bytes) > self.max_bytes
        {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.map.remove(&oldest) {
                self.bytes = self.bytes.saturating_sub(e.bytes);
            }
        }
        self.bytes = self.bytes.saturating_add(bytes);
        self.order.push_back(slot);
        self.map.insert(
            slot,
            Entry {
                token: token.as_bytes().into(),
                provider,
                keys_version,
                value,
                bytes,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_miss_and_invalidation_by_key_set() {
        let mut c: JwtCache<u32> = JwtCache::new(10, 10_000);
        assert_eq!(c.get("a.b.c", 0, 1), None);
        c.insert("a.b.c", 0, 1, Cached::Verified(Rc::new(7)));
        assert_eq!(c.get("a.b.c", 0, 1), Some(Cached::Verified(Rc::new(7))));
        assert_eq!(c.get("a.b.c", 0, 2), None, "a new key set invalidates");
        assert_eq!(
            c.get("a.b.c", 1, 1),
            None,
            "another provider never shares entries"
        );
    }

    #[test]
    fn only_the_same_token_hits() {
        let mut c: JwtCache<u32> = JwtCache::new(10, 10_000);
        c.insert("a.b.c", 0, 1, Cached::Verified(Rc::new(7)));
        for other in ["a.b.d", "a.b.c.", "a.b", "", "A.b.c"] {
            assert_eq!(c.get(other, 0, 1), None, "{other:?}");
        }
    }

    #[test]
    fn a_token_whose_slot_is_taken_is_compared_not_trusted() {
        // Force a slot collision by planting another token's entry under this token's slot.
        let mut c: JwtCache<u32> = JwtCache::new(10, 10_000);
        c.insert("forged.token.x", 0, 1, Cached::Verified(Rc::new(1)));
        let forged_slot = c.slot("forged.token.x");
        let entry = c.map.remove(&forged_slot).unwrap();
        let valid_slot = c.slot("valid.token.y");
        c.map.insert(valid_slot, entry);
        assert_eq!(c.get("valid.token.y", 0, 1), None);
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let t = |i: u8| format!("{}", char::from(b'a' + i)).repeat(50);
        let mut c: JwtCache<u32> = JwtCache::new(3, 250);
        for i in 0..5u8 {
            c.insert(&t(i), 0, 0, Cached::BadSignature);
        }
        assert_eq!(
            c.len(),
            2,
            "250 bytes hold two 50-byte tokens (100 bytes each)"
        );
        assert_eq!(c.get(&t(4), 0, 0), Some(Cached::BadSignature));
        assert_eq!(c.get(&t(0), 0, 0), None, "oldest evicted first");
        let big = "x".repeat(200);
        c.insert(&big, 0, 0, Cached::BadSignature);
        assert_eq!(
            c.get(&big, 0, 0),
            None,
            "an entry larger than the cache is not stored"
        );
        let mut c: JwtCache<u32> = JwtCache::new(3, 100_000);
        for i in 0..10u8 {
            c.insert(&t(i), 0, 0, Cached::BadSignature);
        }
        assert_eq!(c.len(), 3);
    }
}
