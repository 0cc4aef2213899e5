//! argon2id in its PHC string form (`$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>`, what
//! argon2-cffi, libsodium and the reference CLI write), parsed here and verified with RustCrypto's
//! `argon2` (without its `password-hash` layer: the PHC parser alone is ≈ 7 KB of wasm). Memory
//! (`m`, KiB) and passes (`t`) are capped at configure: a verification allocates `m` KiB, and wasm
//! memory never shrinks.

use super::{same_bytes, Caps, HashError};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;

/// An argon2id hash: its parameters, salt and expected output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argon2idHash {
    params: Params,
    salt: Vec<u8>,
    digest: Vec<u8>,
}

impl Argon2idHash {
    /// Parses an argon2id PHC string (version 19; `m`, `t`, `p` in any order, nothing else;
    /// salt and hash in unpadded standard base64) within `caps`.
    pub fn parse(s: &str, caps: &Caps) -> Result<Argon2idHash, HashError> {
        const FORM: &str = "argon2id hashes are $argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>";
        let malformed = || HashError::Malformed(FORM);
        let fields: Vec<&str> = s.split('$').collect();
        let ["", "argon2id", version, params, salt, digest] = fields.as_slice() else {
            return Err(malformed());
        };
        if *version != "v=19" {
            return Err(HashError::Malformed(
                "argon2id hashes must be version 19 (v=19)",
            ));
        }
        let (mut m, mut t, mut p) = (None, None, None);
        for param in params.split(',') {
            let (name, value) = param.split_once('=').ok_or_else(malformed)?;
            let slot = match name {
                "m" => &mut m,
                "t" => &mut t,
                "p" => &mut p,
                _ => return Err(malformed()),
            };
            let digits =
                !value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit());
            let value: u32 = value
                .parse()
                .ok()
                .filter(|_| digits)
                .ok_or_else(malformed)?;
            if slot.replace(value).is_some() {
                return Err(malformed());
            }
        }
        let (Some(m), Some(t), Some(p)) = (m, t, p) else {
            return Err(malformed());
        };
        let salt = STANDARD_NO_PAD.decode(salt).map_err(|_| malformed())?;
        let digest = STANDARD_NO_PAD.decode(digest).map_err(|_| malformed())?;
        if !(8..=64).contains(&salt.len()) || !(4..=64).contains(&digest.len()) {
            return Err(malformed());
        }
        let params = Params::new(m, t, p, Some(digest.len())).map_err(|_| malformed())?;
        for (limit, value, max) in [
            ("max_argon2_memory_kib", m, caps.max_argon2_memory_kib),
            ("max_argon2_iterations", t, caps.max_argon2_iterations),
        ] {
            if value > max {
                return Err(HashError::OverCap {
                    limit,
                    value: value.into(),
                    max: max.into(),
                });
            }
        }
        Ok(Argon2idHash {
            params,
            salt,
            digest,
        })
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        let mut out = vec![0u8; self.digest.len()];
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        argon
            .hash_password_into(password, &self.salt, &mut out)
            .is_ok()
            && same_bytes(&out, &self.digest)
    }

    pub fn work(&self) -> u64 {
        u64::from(self.params.m_cost()).saturating_mul(self.params.t_cost().into())
    }

    pub fn dummy(&self) -> Argon2idHash {
        Argon2idHash {
            params: self.params.clone(),
            salt: vec![0x5a; self.salt.len()],
            digest: vec![0; self.digest.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The argon2 reference CLI: `echo -n password | argon2 somesalt -id -t 2 -m 8 -p 1` (RFC 9106's
    // own test vectors use secret and associated data, which password hashes do not).
    const REF: &str =
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";

    #[test]
    fn known_vector_and_caps() {
        let h = Argon2idHash::parse(REF, &Caps::default()).unwrap_or_else(|e| unreachable!("{e}"));
        let reordered = REF.replace("m=256,t=2,p=1", "p=1,t=2,m=256");
        assert_eq!(
            Argon2idHash::parse(&reordered, &Caps::default()),
            Ok(h.clone())
        );
        assert!(h.verify(b"password"));
        assert!(!h.verify(b"passwore"));
        assert!(!h.dummy().verify(b"password"));
        let small = Caps {
            max_argon2_memory_kib: 128,
            ..Caps::default()
        };
        assert_eq!(
            Argon2idHash::parse(REF, &small),
            Err(HashError::OverCap {
                limit: "max_argon2_memory_kib",
                value: 256,
                max: 128
            })
        );
        let few = Caps {
            max_argon2_iterations: 1,
            ..Caps::default()
        };
        assert!(matches!(
            Argon2idHash::parse(REF, &few),
            Err(HashError::OverCap {
                limit: "max_argon2_iterations",
                ..
            })
        ));
        for bad in [
            "$argon2id$v=16$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ",
            "$argon2id$v=19$m=256,t=2,p=1,x=3$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,m=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=+256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$garbage",
        ] {
            assert!(Argon2idHash::parse(bad, &Caps::default()).is_err(), "{bad}");
        }
    }
}
