//! bcrypt (`$2a$`, `$2b$`, `$2y$`: the same function for the ≤ 72-byte passwords bcrypt reads):
//! `$2b$<cost>$<22 chars of salt><31 chars of digest>` in bcrypt's own base64. The hash string is
//! parsed here; the `bcrypt` crate's raw function (Blowfish's expensive key schedule) does the work.

use super::{same_bytes, Caps, HashError};
use base64::engine::general_purpose::NO_PAD;
use base64::engine::GeneralPurpose;
use base64::{alphabet, Engine};

/// bcrypt's base64: its own alphabet, no padding.
const B64: GeneralPurpose = GeneralPurpose::new(&alphabet::BCRYPT, NO_PAD);

/// The lowest cost bcrypt defines.
pub const MIN_COST: u32 = 4;

/// A bcrypt hash: cost, 16-byte salt, 23-byte digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BcryptHash {
    cost: u32,
    salt: [u8; 16],
    digest: [u8; 23],
}

impl BcryptHash {
    /// Parses a 60-character bcrypt hash whose cost is at most `caps.max_bcrypt_cost`.
    pub fn parse(s: &str, caps: &Caps) -> Result<BcryptHash, HashError> {
        const FORM: &str = "bcrypt hashes are $2b$NN$ and 53 characters of salt and digest";
        let rest = s
            .get(4..)
            .filter(|_| s.len() == 60 && s.is_ascii())
            .ok_or(HashError::Malformed(FORM))?;
        let (cost, rest) = rest.split_once('$').ok_or(HashError::Malformed(FORM))?;
        if cost.len() != 2 || !cost.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HashError::Malformed(FORM));
        }
        let cost: u32 = cost.parse().map_err(|_| HashError::Malformed(FORM))?;
        if cost < MIN_COST {
            return Err(HashError::Malformed("bcrypt's cost is at least 4"));
        }
        if cost > caps.max_bcrypt_cost {
            return Err(HashError::OverCap {
                limit: "max_bcrypt_cost",
                value: cost.into(),
                max: caps.max_bcrypt_cost.into(),
            });
        }
        let (salt_b64, digest_b64) = (rest.get(..22), rest.get(22..));
        let mut salt = [0u8; 16];
        let mut digest = [0u8; 23];
        let ok = |n: Result<usize, _>, want: usize| matches!(n, Ok(n) if n == want);
        if !ok(B64.decode_slice(salt_b64.unwrap_or(""), &mut salt), 16)
            || !ok(B64.decode_slice(digest_b64.unwrap_or(""), &mut digest), 23)
        {
            return Err(HashError::Malformed(
                "bcrypt salt or digest is not bcrypt base64",
            ));
        }
        Ok(BcryptHash { cost, salt, digest })
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        same_bytes(
            digest(self.cost, self.salt, password)
                .get(..23)
                .unwrap_or(&[]),
            &self.digest,
        )
    }

    pub fn work(&self) -> u64 {
        1u64 << self.cost.min(31)
    }

    pub fn dummy(&self) -> BcryptHash {
        BcryptHash {
            cost: self.cost,
            salt: [0x5a; 16],
            digest: [0; 23],
        }
    }
}

/// bcrypt of `password` (truncated to 72 bytes with its terminating NUL, as every implementation
/// does) under `cost` and `salt`.
fn digest(cost: u32, salt: [u8; 16], password: &[u8]) -> [u8; 24] {
    let mut pass = [0u8; 72];
    let n = password.len().min(72);
    if let (Some(dst), Some(src)) = (pass.get_mut(..n), password.get(..n)) {
        dst.copy_from_slice(src);
    }
    let used = (n + 1).min(72);
    bcrypt::bcrypt(cost, salt, pass.get(..used).unwrap_or(&pass))
}

/// The `$2b$` hash string of `password` under `cost` (4–31) and `salt` (the CLI's
/// `hash-password`; the caller draws the salt).
pub fn format_bcrypt(password: &[u8], cost: u32, salt: [u8; 16]) -> String {
    let cost = cost.clamp(MIN_COST, 31);
    let d = digest(cost, salt, password);
    format!(
        "$2b${cost:02}${}{}",
        B64.encode(salt),
        B64.encode(d.get(..23).unwrap_or(&d))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max: u32) -> Caps {
        Caps {
            max_bcrypt_cost: max,
            ..Caps::default()
        }
    }

    #[test]
    fn known_vectors_of_each_prefix() {
        // From the OpenBSD / Python bcrypt test vectors.
        for (hash, pw) in [
            ("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"),
            ("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"),
            ("$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"),
            ("$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*"),
            ("$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored"),
        ] {
            let h = BcryptHash::parse(hash, &caps(12)).unwrap_or_else(|e| unreachable!("{hash}: {e}"));
            assert!(h.verify(pw.as_bytes()), "{hash}");
            assert!(!h.verify(b"U*U*U"), "{hash}");
            assert!(!h.dummy().verify(pw.as_bytes()));
        }
    }

    #[test]
    fn cost_cap_and_malformed() {
        let h = "$2b$13$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert_eq!(
            BcryptHash::parse(h, &caps(12)),
            Err(HashError::OverCap {
                limit: "max_bcrypt_cost",
                value: 13,
                max: 12
            })
        );
        for bad in [
            "$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",
            "$2b$5$CCCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2b$05$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOé",
        ] {
            assert!(
                matches!(
                    BcryptHash::parse(bad, &caps(12)),
                    Err(HashError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn formatted_hashes_verify() {
        let s = format_bcrypt(b"pa:ss", 4, [7; 16]);
        assert!(s.starts_with("$2b$04$") && s.len() == 60, "{s}");
        let h = BcryptHash::parse(&s, &caps(12)).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(h.verify(b"pa:ss"));
        assert!(!h.verify(b"pa:sS"));
    }
}
