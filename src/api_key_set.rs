//! An API-key set: the key entries (id, SHA-256 digest, scopes, on/off switch, validity window,
//! plan), the table a presented key is looked up in, and the remote key-set document with its merge
//! into the inline keys.
//!
//! # Contract
//! - A set is built once: the inline keys at configure, a merged set once per fetched document per
//!   VM. A request only looks up: a binary search over the sorted digests, whose timing depends on
//!   the SHA-256 of the presented key (preimage-resistant), never on the key itself, and on no
//!   other secret.
//! - A matched key is checked in this order: `disabled` → `disabled_key`, before `not_before` →
//!   `key_not_yet_valid`, at or after `expires_at` → `expired_key` (Unix seconds, no skew).
//! - The remote document is `{"keys": [entry, ...]}` (other top-level members are ignored); each
//!   entry has the inline form. An entry that is not valid is skipped and logged (by index and id):
//!   its key is refused, the others load. A document that is not such an object fails the fetch.
//! - Merge: every inline key is kept; a remote entry whose id or digest is already taken (by an
//!   inline key or an earlier remote entry) is skipped and logged by id. Logs carry ids, never
//!   digests.

use crate::config_error::ConfigError;
use crate::config_json::{At, FromJson};
use serde_json::Value;
use std::collections::HashSet;

/// Largest accepted time: 9999-12-31T23:59:59Z (larger values are milliseconds by mistake).
pub const MAX_TIME_SECONDS: u64 = 253_402_300_799;

/// Skipped remote entries logged one by one; the rest are counted.
const MAX_SKIPS_LOGGED: usize = 20;

/// JSON form of one key entry (inline in `api_keys.keys`, or in the remote document).
#[derive(Debug)]
pub struct KeyEntryConfig {
    id: String,
    sha256: String,
    scopes: Vec<String>,
    disabled: bool,
    not_before: Option<u64>,
    expires_at: Option<u64>,
    plan: Option<String>,
}

from_json_struct!(KeyEntryConfig {
    id,
    sha256,
    scopes = default,
    disabled = default,
    not_before,
    expires_at,
    plan,
});

/// One key (no secret: only its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    digest: [u8; 32],
    pub scopes: Vec<String>,
    pub disabled: bool,
    /// Refused before this (Unix seconds).
    pub not_before: Option<u64>,
    /// Refused from this on (Unix seconds).
    pub expires_at: Option<u64>,
    /// The key's plan (stored for throttling; key-id charset).
    pub plan: Option<String>,
}

impl KeyEntryConfig {
    /// Validates the entry found at `field` (`api_keys.keys[1]`, `keys[1]`).
    pub fn validate(self, field: &str) -> Result<ApiKey, ConfigError> {
        let f = |sub: &str| format!("{field}.{sub}");
        if !is_key_id(&self.id) {
            return Err(ConfigError::new(
                &f("id"),
                "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'",
            ));
        }
        let digest = parse_digest(&self.sha256).ok_or_else(|| {
            ConfigError::new(&f("sha256"), "must be the 64-hex-digit SHA-256 digest of the key (see `edgeguard hash-key`), not the key itself")
        })?;
        for (j, s) in self.scopes.iter().enumerate() {
            if s.is_empty() || s.contains(char::is_whitespace) {
                return Err(ConfigError::new(
                    &f(&format!("scopes[{j}]")),
                    "scopes are non-empty and contain no spaces",
                ));
            }
        }
        for (name, t) in [
            ("not_before", self.not_before),
            ("expires_at", self.expires_at),
        ] {
            if t.is_some_and(|t| t > MAX_TIME_SECONDS) {
                return Err(ConfigError::new(
                    &f(name),
                    format!("must be Unix seconds (at most {MAX_TIME_SECONDS}), not milliseconds"),
                ));
            }
        }
        if let (Some(nb), Some(exp)) = (self.not_before, self.expires_at) {
            if exp <= nb {
                return Err(ConfigError::new(
                    &f("expires_at"),
                    "must be later than not_before",
                ));
            }
        }
        if let Some(plan) = &self.plan {
            if !is_key_id(plan) {
                return Err(ConfigError::new(
                    &f("plan"),
                    "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'",
                ));
            }
        }
        Ok(ApiKey {
            id: self.id,
            digest,
            scopes: self.scopes,
            disabled: self.disabled,
            not_before: self.not_before,
            expires_at: self.expires_at,
            plan: self.plan,
        })
    }
}

/// The result of looking up a presented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck<'a> {
    Valid(&'a ApiKey),
    Disabled(&'a ApiKey),
    NotYetValid(&'a ApiKey),
    Expired(&'a ApiKey),
    Unknown,
}

/// A set of keys, sorted by digest for lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeySet {
    keys: Vec<ApiKey>,
    /// How many of them came from a remote document.
    remote: usize,
}

/// A remote entry left out of a set, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Index in the document's `keys`.
    pub index: usize,
    /// Its id when readable and valid (never a digest).
    pub id: Option<String>,
    pub why: String,
}

impl ApiKeySet {
    /// The inline keys, already validated one by one; a repeated id or digest is an error naming
    /// the field (`field` is the `keys` array's path).
    pub fn inline(keys: Vec<ApiKey>, field: &str) -> Result<ApiKeySet, ConfigError> {
        let mut b = Builder::default();
        for (i, k) in keys.into_iter().enumerate() {
            if let Err(taken) = b.add(k) {
                return Err(ConfigError::new(
                    &format!("{field}[{i}].{}", taken.field()),
                    taken.problem(),
                ));
            }
        }
        Ok(b.finish(0))
    }

    /// This set (the inline keys) with `remote` entries added: a remote entry whose id or digest is
    /// taken is skipped.
    pub fn merged(&self, remote: Vec<(usize, ApiKey)>) -> (ApiKeySet, Vec<Skipped>) {
        let mut b = Builder::default();
        for k in &self.keys {
            let _ = b.add(k.clone());
        }
        let mut skipped = Vec::new();
        let mut added = 0;
        for (index, k) in remote {
            let id = k.id.clone();
            match b.add(k) {
                Ok(()) => added += 1,
                Err(taken) => skipped.push(Skipped {
                    index,
                    why: taken.problem().to_string(),
                    id: Some(id),
                }),
            }
        }
        (b.finish(self.remote + added), skipped)
    }

    /// Looks up a presented key at `now` (Unix seconds).
    pub fn lookup(&self, presented: &str, now: u64) -> KeyCheck<'_> {
        self.lookup_digest(&sha256(presented.as_bytes()), now)
    }

    /// Looks up the SHA-256 digest of a presented key at `now` (Unix seconds).
    pub fn lookup_digest(&self, digest: &[u8; 32], now: u64) -> KeyCheck<'_> {
        let Ok(i) = self.keys.binary_search_by(|k| k.digest.cmp(digest)) else {
            return KeyCheck::Unknown;
        };
        match self.keys.get(i) {
            None => KeyCheck::Unknown,
            Some(k) if k.disabled => KeyCheck::Disabled(k),
            Some(k) if k.not_before.is_some_and(|t| now < t) => KeyCheck::NotYetValid(k),
            Some(k) if k.expires_at.is_some_and(|t| now >= t) => KeyCheck::Expired(k),
            Some(k) => KeyCheck::Valid(k),
        }
    }

    /// Every key, in digest order.
    pub fn keys(&self) -> &[ApiKey] {
        &self.keys
    }

    /// How many keys came from a remote document.
    pub fn remote_len(&self) -> usize {
        self.remote
    }
}

/// Collects keys in order, refusing a taken id or digest (first wins).
#[derive(Default)]
struct Builder {
    keys: Vec<ApiKey>,
    ids: HashSet<String>,
    digests: HashSet<[u8; 32]>,
}

impl Builder {
    fn add(&mut self, k: ApiKey) -> Result<(), Taken> {
        if self.ids.contains(&k.id) {
            return Err(Taken::Id);
        }
        if !self.digests.insert(k.digest) {
            return Err(Taken::Digest);
        }
        self.ids.insert(k.id.clone());
        self.keys.push(k);
        Ok(())
    }

    /// The set, sorted by digest for lookup.
    fn finish(mut self, remote: usize) -> ApiKeySet {
        self.keys.sort_unstable_by_key(|k| k.digest);
        ApiKeySet {
            keys: self.keys,
            remote,
        }
    }
}

/// Why a key could not join a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    Id,
    Digest,
}

impl Taken {
    fn field(self) -> &'static str {
        match self {
            Taken::Id => "id",
            Taken::Digest => "sha256",
        }
    }

    fn problem(self) -> &'static str {
        match self {
            Taken::Id => "duplicate key id",
            Taken::Digest => "the same digest is configured twice: one key would have two ids",
        }
    }
}

/// Parses a remote key-set document into its valid entries (with their index) and the skipped ones.
/// Err when the body is not a JSON object with a `keys` array.
#[allow(clippy::type_complexity)]
pub fn parse_document(body: &[u8]) -> Result<(Vec<(usize, ApiKey)>, Vec<Skipped>), String> {
    let doc = crate::json::parse_strict(body).map_err(|e| {
        let at = if e.path.is_empty() { "" } else { " at " };
        format!("not JSON{at}{}: {}", e.path, e.message)
    })?;
    let Some(Value::Array(entries)) = doc.as_object().and_then(|o| o.get("keys")) else {
        return Err("not a key-set document: no \"keys\" array".to_string());
    };
    let mut keys = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    let root = At::Root;
    let at_keys = root.key("keys");
    for (index, entry) in entries.iter().enumerate() {
        let at = At::Index(&at_keys, index);
        let result = KeyEntryConfig::from_json(entry, &at)
            .and_then(|e| e.validate(&format!("keys[{index}]")));
        match result {
            Ok(k) => keys.push((index, k)),
            Err(e) => skipped.push(Skipped {
                index,
                id: entry
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| is_key_id(id))
                    .map(str::to_string),
                why: format!("{}: {}", e.field, e.problem),
            }),
        }
    }
    Ok((keys, skipped))
}

/// Logs skipped remote entries by index and id (at most [`MAX_SKIPS_LOGGED`] lines, then a count).
pub fn log_skipped(skipped: &[Skipped]) {
    for s in skipped.iter().take(MAX_SKIPS_LOGGED) {
        log::warn!(
            "edgeguard: api_keys remote: skipped keys[{}] id={}: {}",
            s.index,
            s.id.as_deref().unwrap_or("-"),
            s.why
        );
    }
    if skipped.len() > MAX_SKIPS_LOGGED {
        log::warn!(
            "edgeguard: api_keys remote: {} more entries skipped",
            skipped.len() - MAX_SKIPS_LOGGED
        );
    }
}

/// SHA-256 of a key, as stored in config.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    hmac_sha256::Hash::hash(bytes)
}

/// Lowercase hex SHA-256, the form `edgeguard hash-key` prints.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// 1–64 letters, digits, `.`, `_`, `:`, `-`: key ids and plans (safe in metric names and logs).
pub fn is_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, key: &str, extra: &str) -> String {
        format!(
            r#"{{"id":"{id}","sha256":"{}"{extra}}}"#,
            sha256_hex(key.as_bytes())
        )
    }

    fn inline(entries: &[String]) -> ApiKeySet {
        let doc = format!(r#"{{"keys":[{}]}}"#, entries.join(","));
        let (keys, skipped) =
            parse_document(doc.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(skipped.is_empty(), "{skipped:?}");
        ApiKeySet::inline(keys.into_iter().map(|(_, k)| k).collect(), "keys")
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn validity_window_disabled_first_then_not_before_then_expiry() {
        let set = inline(&[
            entry("win", "k1", r#","not_before":100,"expires_at":200"#),
            entry("off", "k2", r#","disabled":true,"expires_at":50"#),
            entry("plain", "k3", r#","plan":"gold""#),
        ]);
        assert!(matches!(set.lookup("k1", 99), KeyCheck::NotYetValid(k) if k.id == "win"));
        assert!(matches!(set.lookup("k1", 100), KeyCheck::Valid(_)));
        assert!(matches!(set.lookup("k1", 199), KeyCheck::Valid(_)));
        assert!(matches!(set.lookup("k1", 200), KeyCheck::Expired(_)));
        assert!(matches!(set.lookup("k2", 100), KeyCheck::Disabled(_)));
        assert!(
            matches!(set.lookup("k3", u64::MAX), KeyCheck::Valid(k) if k.plan.as_deref() == Some("gold"))
        );
        assert_eq!(set.lookup("k4", 100), KeyCheck::Unknown);
        assert_eq!(set.lookup("", 100), KeyCheck::Unknown);
    }

    #[test]
    fn merge_keeps_inline_ids_and_digests_and_skips_remote_duplicates() {
        let base = inline(&[entry("app", "k1", ""), entry("ops", "k2", "")]);
        let doc = format!(
            r#"{{"version": 3, "keys":[{},{},{},{},{}]}}"#,
            entry("app", "k9", r#","scopes":["x"]"#), // inline id: skipped
            entry("thief", "k1", ""),                 // inline digest: skipped
            entry("new", "k3", r#","scopes":["orders:read"]"#),
            entry("new", "k4", ""),   // repeats an earlier remote id
            entry("other", "k3", ""), // repeats an earlier remote digest
        );
        let (remote, bad) = parse_document(doc.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(bad.is_empty());
        let (set, skipped) = base.merged(remote);
        let ids: Vec<_> = skipped.iter().map(|s| (s.index, s.id.as_deref())).collect();
        assert_eq!(
            ids,
            [
                (0, Some("app")),
                (1, Some("thief")),
                (3, Some("new")),
                (4, Some("other"))
            ]
        );
        assert!(skipped.iter().all(|s| !s.why.contains(&sha256_hex(b"k1"))));
        assert_eq!((set.keys().len(), set.remote_len()), (3, 1));
        assert!(matches!(set.lookup("k1", 0), KeyCheck::Valid(k) if k.id == "app"));
        assert!(matches!(set.lookup("k9", 0), KeyCheck::Unknown));
        assert!(
            matches!(set.lookup("k3", 0), KeyCheck::Valid(k) if k.id == "new" && k.scopes == ["orders:read"])
        );
        // The inline set itself is unchanged.
        assert_eq!(base.keys().len(), 2);
        assert_eq!(base.remote_len(), 0);
    }

    #[test]
    fn bad_remote_entries_are_skipped_and_bad_documents_refused() {
        let doc = format!(
            r#"{{"keys":[{},{},{},{},{},{},{}]}}"#,
            entry("ok", "k1", ""),
            r#"{"id":"plain","sha256":"my-secret-key"}"#,
            entry("a b", "k2", ""),
            entry("ms", "k3", r#","expires_at":1700000000000"#),
            entry("order", "k4", r#","not_before":10,"expires_at":10"#),
            entry("typo", "k5", r#","disable":true"#),
            entry("plan", "k6", r#","plan":"gold plan""#),
        );
        let (keys, skipped) =
            parse_document(doc.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(keys.len(), 1);
        let why: Vec<(usize, Option<&str>, &str)> = skipped
            .iter()
            .map(|s| (s.index, s.id.as_deref(), s.why.as_str()))
            .collect();
        assert!(why[0].2.starts_with("keys[1].sha256"), "{why:?}");
        assert_eq!(why[1].1, None, "an invalid id is not logged as one");
        assert!(why[1].2.starts_with("keys[2].id"), "{why:?}");
        assert!(why[2].2.starts_with("keys[3].expires_at"), "{why:?}");
        assert!(why[3].2.starts_with("keys[4].expires_at"), "{why:?}");
        assert!(why[4].2.starts_with("keys[5].disable"), "{why:?}");
        assert!(why[5].2.starts_with("keys[6].plan"), "{why:?}");
        assert!(!format!("{skipped:?}").contains("my-secret-key"));
        for bad in [
            &b"<html>"[..],
            b"[]",
            b"{}",
            br#"{"keys": {}}"#,
            br#"{"keys": [], "keys": []}"#,
            b"{\"keys\": [",
        ] {
            assert!(
                parse_document(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn inline_duplicates_name_the_field() {
        let keys = |entries: &[String]| {
            let doc = format!(r#"{{"keys":[{}]}}"#, entries.join(","));
            let (keys, _) = parse_document(doc.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
            ApiKeySet::inline(keys.into_iter().map(|(_, k)| k).collect(), "api_keys.keys")
        };
        let e = keys(&[entry("a", "k1", ""), entry("a", "k2", "")]).unwrap_err();
        assert_eq!(e.field, "api_keys.keys[1].id");
        let e = keys(&[entry("a", "k1", ""), entry("b", "k1", "")]).unwrap_err();
        assert_eq!(e.field, "api_keys.keys[1].sha256");
    }
}
