//! SHA-crypt (`$5$` SHA-256, `$6$` SHA-512; glibc `crypt(3)`): `$6$rounds=N$<salt>$<digest>`
//! (without `rounds=`, 5000). The digest is computed by RustCrypto's `sha-crypt` (its raw functions,
//! without the `password-hash`/MCF layer) and written in crypt's own base64 here; rounds are capped
//! at configure.

use super::{same_bytes, Caps, HashError};
use sha_crypt::{sha256_crypt, sha512_crypt, Params};

/// The rounds SHA-crypt uses when the hash does not say.
const DEFAULT_ROUNDS: u32 = 5000;

/// crypt's base64 alphabet.
const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The byte order of the digest's encoding (glibc's `b64_from_24bit` groups, low byte first).
const ORDER_512: [usize; 64] = [
    42, 21, 0, 1, 43, 22, 23, 2, 44, 45, 24, 3, 4, 46, 25, 26, 5, 47, 48, 27, 6, 7, 49, 28, 29, 8,
    50, 51, 30, 9, 10, 52, 31, 32, 11, 53, 54, 33, 12, 13, 55, 34, 35, 14, 56, 57, 36, 15, 16, 58,
    37, 38, 17, 59, 60, 39, 18, 19, 61, 40, 41, 20, 62, 63,
];
const ORDER_256: [usize; 32] = [
    20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27, 8, 28,
    18, 29, 19, 9, 30, 31,
];

/// A SHA-crypt hash, checked at configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShaCryptHash {
    sha512: bool,
    rounds: u32,
    salt: String,
    /// The digest as written in the hash (crypt base64).
    digest: String,
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
                let digits = !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit());
                let n: u32 = n
                    .parse()
                    .ok()
                    .filter(|_| digits)
                    .ok_or(HashError::Malformed(FORM))?;
                parts.remove(0);
                n
            }
            None => DEFAULT_ROUNDS,
        };
        let digest_len = if sha512 { 86 } else { 43 };
        let [salt, digest] = parts.as_slice() else {
            return Err(HashError::Malformed(FORM));
        };
        let well_formed = !salt.is_empty()
            && salt.len() <= 16
            && !salt
                .bytes()
                .any(|b| b == b':' || b == b'\n' || b.is_ascii_control())
            && digest.len() == digest_len
            && digest.bytes().all(|b| ALPHABET.contains(&b));
        if !well_formed || Params::new(rounds).is_err() {
            return Err(HashError::Malformed(FORM));
        }
        if rounds > caps.max_sha_crypt_rounds {
            return Err(HashError::OverCap {
                limit: "max_sha_crypt_rounds",
                value: rounds.into(),
                max: caps.max_sha_crypt_rounds.into(),
            });
        }
        Ok(ShaCryptHash {
            sha512,
            rounds,
            salt: salt.to_string(),
            digest: digest.to_string(),
        })
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        let Ok(params) = Params::new(self.rounds) else {
            return false;
        };
        let salt = self.salt.as_bytes();
        let encoded = if self.sha512 {
            encode(&sha512_crypt(password, salt, params), &ORDER_512)
        } else {
            encode(&sha256_crypt(password, salt, params), &ORDER_256)
        };
        same_bytes(encoded.as_bytes(), self.digest.as_bytes())
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

    /// Same family and rounds, a fixed salt, a digest no password yields (not a multiple of the
    /// encoding's groups).
    pub fn dummy(&self) -> ShaCryptHash {
        ShaCryptHash {
            sha512: self.sha512,
            rounds: self.rounds,
            salt: "edgeguarddummy".into(),
            digest: "!".repeat(self.digest.len()),
        }
    }
}

/// crypt's base64 of `bytes` taken in `order`: groups of three bytes (the first the low one), four
/// characters each, low six bits first; a last group of one or two bytes gives two or three.
fn encode(bytes: &[u8], order: &[usize]) -> String {
    let mut out = String::with_capacity(order.len() * 4 / 3 + 1);
    for group in order.chunks(3) {
        let mut w: u32 = 0;
        for (i, &at) in group.iter().enumerate() {
            w |= u32::from(bytes.get(at).copied().unwrap_or(0)) << (8 * i);
        }
        for _ in 0..=group.len() {
            out.push(char::from(
                ALPHABET.get((w & 0x3f) as usize).copied().unwrap_or(b'.'),
            ));
            w >>= 6;
        }
    }
    out
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
        }
        let slow = "$6$rounds=656000$saltstring$abc";
        assert!(ShaCryptHash::parse(
            "$6$rounds=5000$salt$".to_string().as_str(),
            &Caps::default()
        )
        .is_err());
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
