//! `{SHA}`: the base64 of an unsalted SHA-1 of the password (htpasswd `-s`, Envoy `basic_auth`).
//! Weak — accepted only with `allow_sha1`, for migrations.

use super::{same_bytes, HashError};
use base64::Engine;

/// A `{SHA}` hash: the 20-byte digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha1Hash {
    digest: [u8; 20],
}

impl Sha1Hash {
    /// Parses `{SHA}<base64 of 20 bytes>`.
    pub fn parse(s: &str) -> Result<Sha1Hash, HashError> {
        let b64 = s.strip_prefix("{SHA}").ok_or(HashError::Unrecognized)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| HashError::Malformed("{SHA} needs the base64 of a 20-byte SHA-1"))?;
        let digest = <[u8; 20]>::try_from(bytes.as_slice())
            .map_err(|_| HashError::Malformed("{SHA} needs the base64 of a 20-byte SHA-1"))?;
        Ok(Sha1Hash { digest })
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        same_bytes(&hmac_sha1_compact::Hash::hash(password), &self.digest)
    }

    pub fn dummy(&self) -> Sha1Hash {
        Sha1Hash { digest: [0; 20] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // htpasswd -nbs u password
        let h = Sha1Hash::parse("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(h.verify(b"password"));
        assert!(!h.verify(b"Password"));
        assert!(!h.dummy().verify(b"password"));
        assert!(Sha1Hash::parse("{SHA}AAAA").is_err());
        assert!(Sha1Hash::parse("{SHA}!!!").is_err());
    }
}
