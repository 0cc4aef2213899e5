//! Verified-credential cache (per VM): a user and password that verified recently are recognised
//! by one keyed hash instead of a slow password hash.
//!
//! - Keyed by HMAC-SHA256 of the user and password under a key drawn once per cache (per VM and
//!   configuration: a new configuration starts an empty cache with a new key), so the map holds no
//!   password and its tags mean nothing outside this VM; a tag is compared in constant time.
//! - Only successes are kept, with the user's index in the configuration and the time they
//!   verified; an entry is good for `ttl` seconds. The user's `disabled`/`expires_at` are checked
//!   again by the caller on every hit.
//! - Bounded in entries, the oldest dropped first; `max_entries` 0 (or `ttl` 0) turns it off.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

/// A keyed tag of a user and password.
pub type Tag = [u8; 32];

#[derive(Debug)]
struct Entry {
    tag: Tag,
    user: usize,
    at: u64,
}

/// The verified-credential cache.
#[derive(Debug)]
pub struct VerifiedCache {
    key: [u8; 32],
    map: HashMap<u64, Entry>,
    order: VecDeque<u64>,
    max_entries: usize,
    ttl: u64,
}

impl VerifiedCache {
    pub fn new(max_entries: usize, ttl: u64) -> Self {
        // 256 bits from std's per-process random SipHash keys (the same source as the JWT cache).
        let random = RandomState::new();
        let mut key = [0u8; 32];
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&random.hash_one(i).to_le_bytes());
        }
        VerifiedCache {
            key,
            map: HashMap::new(),
            order: VecDeque::new(),
            max_entries: if ttl == 0 { 0 } else { max_entries },
            ttl,
        }
    }

    /// The tag of `user` and `password` (the user name length-prefixed: no two pairs share input).
    pub fn tag(&self, user: &str, password: &str) -> Tag {
        let mut mac = hmac_sha256::HMAC::new(self.key);
        mac.update((user.len() as u64).to_le_bytes());
        mac.update(user.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize()
    }

    fn slot(tag: &Tag) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(tag.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(b)
    }

    /// The index of the user whose credential has this tag, if it verified within `ttl` of `now`.
    pub fn get(&self, tag: &Tag, now: u64) -> Option<usize> {
        self.map
            .get(&Self::slot(tag))
            .filter(|e| {
                same_bytes(&e.tag, tag) && now.saturating_sub(e.at) < self.ttl && e.at <= now
            })
            .map(|e| e.user)
    }

    /// Remembers that the credential with `tag` verified as `user` at `now`.
    pub fn insert(&mut self, tag: Tag, user: usize, now: u64) {
        if self.max_entries == 0 {
            return;
        }
        let slot = Self::slot(&tag);
        if self.map.remove(&slot).is_some() {
            self.order.retain(|s| *s != slot);
        }
        while self.map.len() >= self.max_entries {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&oldest);
        }
        self.order.push_back(slot);
        self.map.insert(slot, Entry { tag, user, at: now });
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Constant-time equality of two tags.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_the_same_pair_within_the_ttl() {
        let mut c = VerifiedCache::new(2, 300);
        let t = c.tag("ci-bot", "pw");
        assert_eq!(c.get(&t, 1000), None);
        c.insert(t, 3, 1000);
        assert_eq!(c.get(&t, 1299), Some(3));
        assert_eq!(c.get(&t, 1300), None, "expired after ttl");
        assert_eq!(c.get(&c.tag("ci-bot", "pW"), 1000), None);
        assert_eq!(
            c.get(&c.tag("ci-bo", "tpw"), 1000),
            None,
            "the user name is length-prefixed"
        );
        assert_ne!(
            VerifiedCache::new(2, 300).tag("ci-bot", "pw"),
            t,
            "a key per cache"
        );
    }

    #[test]
    fn bounded_oldest_first_and_off() {
        let mut c = VerifiedCache::new(2, 300);
        let tags: Vec<Tag> = (0..3).map(|i| c.tag("u", &i.to_string())).collect();
        for (i, t) in tags.iter().enumerate() {
            c.insert(*t, i, 10);
        }
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&tags[0], 10), None);
        assert_eq!(c.get(&tags[2], 10), Some(2));
        let mut off = VerifiedCache::new(10, 0);
        off.insert(tags[0], 0, 10);
        assert!(off.is_empty());
    }
}
