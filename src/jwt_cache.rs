//! Verified-token cache: a repeated token skips signature verification (the slow part in wasm).
//!
//! - Keyed by the SHA-256 of the token (a collision-resistant hash: a forged token must never hit a
//!   valid token's entry), per provider and per key-set version, so a key rotation invalidates it.
//! - Holds the outcome of the *signature* check only: valid claims, or "bad signature" (which makes a
//!   flood of one forged token cheap). Time (`exp`/`nbf`), issuer, audience and scopes are evaluated
//!   again on every request by the caller.
//! - Bounded in entries and bytes; the oldest entries are evicted first. One cache per VM: sharing
//!   verified claims across VMs through shared data would cost a host copy per lookup, more than a
//!   local miss costs after the first request on each worker.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

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
    provider: u32,
    keys_version: u64,
    value: Cached<T>,
    bytes: usize,
}

/// A bounded cache of signature outcomes.
#[derive(Debug)]
pub struct JwtCache<T> {
    map: HashMap<[u8; 32], Entry<T>>,
    order: VecDeque<[u8; 32]>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl<T> JwtCache<T> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        JwtCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_entries,
            max_bytes,
            hits: 0,
            misses: 0,
        }
    }

    /// The cache key of a token.
    pub fn key(token: &str) -> [u8; 32] {
        hmac_sha256::Hash::hash(token.as_bytes())
    }

    /// The remembered outcome for this token, provider and key-set version.
    pub fn get(&mut self, key: &[u8; 32], provider: u32, keys_version: u64) -> Option<Cached<T>> {
        let hit = self
            .map
            .get(key)
            .filter(|e| e.provider == provider && e.keys_version == keys_version)
            .map(|e| match &e.value {
                Cached::Verified(c) => Cached::Verified(c.clone()),
                Cached::BadSignature => Cached::BadSignature,
            });
        if hit.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        hit
    }

    /// Remembers an outcome; `bytes` is the approximate size of the claims (the token length will do).
    pub fn insert(
        &mut self,
        key: [u8; 32],
        provider: u32,
        keys_version: u64,
        value: Cached<T>,
        bytes: usize,
    ) {
        if self.max_entries == 0 || bytes > self.max_bytes {
            return;
        }
        if let Some(old) = self.map.remove(&key) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
            self.order.retain(|k| k != &key);
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
        self.order.push_back(key);
        self.map.insert(
            key,
            Entry {
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
        let k = JwtCache::<u32>::key("a.b.c");
        assert_eq!(c.get(&k, 0, 1), None);
        c.insert(k, 0, 1, Cached::Verified(Rc::new(7)), 100);
        assert_eq!(c.get(&k, 0, 1), Some(Cached::Verified(Rc::new(7))));
        assert_eq!(c.get(&k, 0, 2), None, "a new key set invalidates");
        assert_eq!(
            c.get(&k, 1, 1),
            None,
            "another provider never shares entries"
        );
        assert_eq!((c.hits, c.misses), (1, 3));
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let mut c: JwtCache<u32> = JwtCache::new(3, 250);
        for i in 0..5u8 {
            c.insert([i; 32], 0, 0, Cached::BadSignature, 100);
        }
        assert_eq!(c.len(), 2, "250 bytes hold two 100-byte entries");
        assert_eq!(c.get(&[4; 32], 0, 0), Some(Cached::BadSignature));
        assert_eq!(c.get(&[0; 32], 0, 0), None, "oldest evicted first");
        c.insert([9; 32], 0, 0, Cached::BadSignature, 1000);
        assert_eq!(
            c.get(&[9; 32], 0, 0),
            None,
            "an entry larger than the cache is not stored"
        );
        let mut c: JwtCache<u32> = JwtCache::new(3, 100_000);
        for i in 0..10u8 {
            c.insert([i; 32], 0, 0, Cached::BadSignature, 1);
        }
        assert_eq!(c.len(), 3);
    }
}
