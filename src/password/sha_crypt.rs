//! SHA-crypt (`$5$` SHA-256, `$6$` SHA-512; glibc `crypt(3)`): `$6$rounds=N$<salt>$<digest>`
//! (without `rounds=`, 5000), verified with RustCrypto's `sha-crypt`. Rounds are capped at
//! configure.

use super::{Caps, HashError};
use sha_crypt::{PasswordHashRef, PasswordVerifier, ShaCrypt};

/// The rounds SHA-crypt uses when the hash does not say.
const DEFAULT_ROUNDS: u32 = 5000;

/// A SHA-crypt hash string, checked at configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShaCryptHash {
    hash: String,
    rounds: u32,
    sha512: bool,
}

impl ShaCryptHash {
    /// Parses a `$5$`/`$6$` hash within `caps`.
    pub fn parse(s: &str, caps: &Caps) -> Result<ShaCryptHash, HashError> {
        const FORM: &str = "SHA-crypt hashes are $5$ or $6$, [rounds=N$], salt, $ and digest";
        let sha512 = s.starts_with("$6$");
        let body = s.get(3..).ok_or(HashError::Malformed(FORM))?;
        let mut parts: Vec<&str> = body.split('$').collect();
        let rounds = match parts.first().and_then(|p| p.strip_prefix("rounds=")) {
            Some(n) => {
                let n: u32 = n.parse().map_err(|_| HashError::Malformed(FORM))?;
                parts.remove(0);
                n
            }
            None => DEFAULT_ROUNDS,
        };
        let digest_len = if sha512 { 86 } else { 43 };
        let well_formed = matches!(parts.as_slice(), [salt, digest]
            if !salt.is_empty() && salt.len() <= 16 && digest.len() == digest_len
                && digest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/'));
        if !well_formed || !(1000..=999_999_999).contains(&rounds) {
            return Err(HashError::Malformed(FORM));
        }
        if rounds > caps.max_sha_crypt_rounds {
            return Err(HashError::OverCap {
                limit: "max_sha_crypt_rounds",
                value: rounds.into(),
                max: caps.max_sha_crypt_rounds.into(),
            });
        }
        PasswordHashRef::new(s).map_err(|_| HashError::Malformed(FORM))?;
        Ok(ShaCryptHash {
            hash: s.to_string(),
            rounds,
            sha512,
        })
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        let Ok(hash) = PasswordHashRef::new(&self.hash) else {
            return false;
        };
        let verifier = if self.sha512 {
            ShaCrypt::SHA512
        } else {
            ShaCrypt::SHA256
        };
        verifier.verify_password(password, hash).is_ok()
    }

    pub fn family(&self) -> &'static str {
        if self.sha512 {
            "sha512-crypt"
        } else {
            "sha256-crypt"
        }
    }

    pub fn work(&self) -> u64 {
        self.rounds.into()
    }

    /// Same prefix and rounds, a fixed salt, a digest of zero bits.
    pub fn dummy(&self) -> ShaCryptHash {
        let (id, len) = if self.sha512 { ("6", 86) } else { ("5", 43) };
        ShaCryptHash {
            hash: format!(
                "${id}$rounds={}$edgeguarddummy${}",
                self.rounds,
                ".".repeat(len)
            ),
            rounds: self.rounds,
            sha512: self.sha512,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors_and_caps() {
        // The reference test vectors of Ulrich Drepper's SHA-crypt specification.
        for (hash, pw) in [
            ("$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5", "This is just a test"),
            ("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!"),
            ("$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0", "This is just a test"),
        ] {
            let h = ShaCryptHash::parse(hash, &Caps::default()).unwrap_or_else(|e| unreachable!("{hash}: {e}"));
            assert!(h.verify(pw.as_bytes()), "{hash}");
            assert!(!h.verify(b"Hello world"), "{hash}");
            assert!(!h.dummy().verify(pw.as_bytes()), "{hash}");
            assert!(PasswordHashRef::new(&h.dummy().hash).is_ok());
        }
        let slow = "$6$rounds=656000$saltstring$abc";
        assert!(
            ShaCryptHash::parse(slow, &Caps::default()).is_err(),
            "malformed digest"
        );
        let h = format!("$6$rounds=20000$saltstring${}", "a".repeat(86));
        assert_eq!(
            ShaCryptHash::parse(&h, &Caps::default()),
            Err(HashError::OverCap {
                limit: "max_sha_crypt_rounds",
                value: 20000,
                max: 10000
            })
        );
    }
}
