//! Password hashes of HTTP Basic users: a configured hash string parsed once, at configure, into a
//! typed [`PasswordHash`] (its family recognised by its prefix, its parameters checked against the
//! [`Caps`]), then verified against presented passwords.
//!
//! # Contract
//! - Families: bcrypt (`$2a$`, `$2b$`, `$2y$`), argon2id (`$argon2id$`, PHC string), SHA-crypt
//!   (`$5$` SHA-256, `$6$` SHA-512) and — only when allowed — `{SHA}` (base64 of an unsalted SHA-1,
//!   Envoy `basic_auth`/htpasswd migrations; weak).
//! - Parameters above the caps are refused at configure ([`HashError::OverCap`]): a verification's
//!   cost (and argon2's memory: wasm memory never shrinks) is bounded by the configuration.
//! - [`PasswordHash::verify`] compares in constant time and never panics; nothing here needs
//!   randomness. [`PasswordHash::dummy`] has the same parameters and cost but no password verifies
//!   against it (what an unknown user's password is checked against).

mod argon2;
mod bcrypt;
mod sha1;
mod sha_crypt;

pub use self::argon2::Argon2idHash;
pub use self::bcrypt::{format_bcrypt, BcryptHash};
pub use self::sha1::Sha1Hash;
pub use self::sha_crypt::ShaCryptHash;

/// Bounds on the hashes a configuration may hold (`basic_auth.limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Highest bcrypt cost (log2 of the rounds).
    pub max_bcrypt_cost: u32,
    /// Highest argon2id memory, in KiB.
    pub max_argon2_memory_kib: u32,
    /// Highest argon2id time cost (passes over the memory).
    pub max_argon2_iterations: u32,
    /// Highest SHA-crypt rounds.
    pub max_sha_crypt_rounds: u32,
    /// Whether `{SHA}` hashes are accepted.
    pub allow_sha1: bool,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_bcrypt_cost: 12,
            max_argon2_memory_kib: 65536,
            max_argon2_iterations: 4,
            max_sha_crypt_rounds: 10_000,
            allow_sha1: false,
        }
    }
}

/// Why a configured hash string is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// No supported family's prefix (a plaintext password, MD5-crypt `$1$`, argon2i, ...).
    Unrecognized,
    /// The family's prefix, but not a well-formed hash of it.
    Malformed(&'static str),
    /// A parameter above its cap: the limit's name and what was asked.
    OverCap {
        limit: &'static str,
        value: u64,
        max: u64,
    },
    /// `{SHA}` without `allow_sha1`.
    Sha1NotAllowed,
}

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashError::Unrecognized => f.write_str(
                "not a supported password hash: bcrypt ($2a$, $2b$, $2y$), argon2id ($argon2id$), SHA-crypt ($5$, $6$) or {SHA} (with allow_sha1); see `edgeguard hash-password`",
            ),
            HashError::Malformed(why) => write!(f, "malformed hash: {why}"),
            HashError::OverCap { limit, value, max } => {
                write!(f, "{value} is above limits.{limit} ({max})")
            }
            HashError::Sha1NotAllowed => {
                f.write_str("{SHA} hashes (unsalted SHA-1) need \"allow_sha1\": true")
            }
        }
    }
}

/// A configured password hash, parsed and within the caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordHash {
    Bcrypt(BcryptHash),
    Argon2id(Argon2idHash),
    ShaCrypt(ShaCryptHash),
    Sha1(Sha1Hash),
}

impl PasswordHash {
    /// Parses a hash string and checks its parameters against `caps`.
    pub fn parse(s: &str, caps: &Caps) -> Result<PasswordHash, HashError> {
        if s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$") {
            BcryptHash::parse(s, caps).map(PasswordHash::Bcrypt)
        } else if s.starts_with("$argon2id$") {
            Argon2idHash::parse(s, caps).map(PasswordHash::Argon2id)
        } else if s.starts_with("$5$") || s.starts_with("$6$") {
            ShaCryptHash::parse(s, caps).map(PasswordHash::ShaCrypt)
        } else if s.starts_with("{SHA}") {
            if !caps.allow_sha1 {
                return Err(HashError::Sha1NotAllowed);
            }
            Sha1Hash::parse(s).map(PasswordHash::Sha1)
        } else {
            Err(HashError::Unrecognized)
        }
    }

    /// Whether `password` is the one this hash was made from (constant-time comparison).
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            PasswordHash::Bcrypt(h) => h.verify(password),
            PasswordHash::Argon2id(h) => h.verify(password),
            PasswordHash::ShaCrypt(h) => h.verify(password),
            PasswordHash::Sha1(h) => h.verify(password),
        }
    }

    /// The family's name, for logs (`bcrypt`, `argon2id`, `sha512-crypt`, `sha256-crypt`, `sha1`).
    pub fn family(&self) -> &'static str {
        match self {
            PasswordHash::Bcrypt(_) => "bcrypt",
            PasswordHash::Argon2id(_) => "argon2id",
            PasswordHash::ShaCrypt(h) => h.family(),
            PasswordHash::Sha1(_) => "sha1",
        }
    }

    /// Whether a verification is slow (counted against `slow_verifies_per_second`): every family
    /// but `{SHA}`.
    pub fn is_slow(&self) -> bool {
        !matches!(self, PasswordHash::Sha1(_))
    }

    /// A rough measure of a verification's work, to pick the most expensive configured hash as
    /// the model of the dummy (bcrypt 2^cost Blowfish key schedules; argon2 memory × passes;
    /// SHA-crypt rounds).
    pub fn work(&self) -> u64 {
        match self {
            PasswordHash::Bcrypt(h) => h.work(),
            PasswordHash::Argon2id(h) => h.work(),
            PasswordHash::ShaCrypt(h) => h.work(),
            PasswordHash::Sha1(_) => 1,
        }
    }

    /// A hash with the same family and parameters that no password verifies against: verifying
    /// it costs what verifying this one costs.
    pub fn dummy(&self) -> PasswordHash {
        match self {
            PasswordHash::Bcrypt(h) => PasswordHash::Bcrypt(h.dummy()),
            PasswordHash::Argon2id(h) => PasswordHash::Argon2id(h.dummy()),
            PasswordHash::ShaCrypt(h) => PasswordHash::ShaCrypt(h.dummy()),
            PasswordHash::Sha1(h) => PasswordHash::Sha1(h.dummy()),
        }
    }
}

/// Constant-time equality of two digests (every byte is looked at).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_recognised_by_prefix() {
        let caps = Caps {
            allow_sha1: true,
            ..Caps::default()
        };
        for s in [
            "secret",
            "$1$abc$def",
            "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
            "",
        ] {
            assert_eq!(
                PasswordHash::parse(s, &caps),
                Err(HashError::Unrecognized),
                "{s}"
            );
        }
        let sha1 = "{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=";
        assert!(matches!(
            PasswordHash::parse(sha1, &caps),
            Ok(PasswordHash::Sha1(_))
        ));
        assert_eq!(
            PasswordHash::parse(sha1, &Caps::default()),
            Err(HashError::Sha1NotAllowed)
        );
    }
}
