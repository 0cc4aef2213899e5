//! Fast RSA signature verification (RS256/384/512 and PS256/384/512) for wasm32.
//!
//! jwt-simple's pure-Rust RSA backend goes through the `rsa` 0.9 crate with 64-bit digits, which
//! wasm32 emulates, and recomputes the Montgomery parameters on every call (~1.3 ms per RS256
//! verification under V8). This module verifies the same signatures with its own Montgomery
//! arithmetic (CIOS) on 32-bit words (`rsa/montgomery.rs`), with the per-key parameters
//! (`R² mod n`, `-n⁻¹ mod 2^32`) computed once when the key is built.
//!
//! Security notes:
//! - Only public data is processed (public key, message, signature), so the exponentiation need not
//!   be constant time. The final comparisons use `subtle` anyway.
//! - PKCS#1 v1.5 is checked by *encode-and-compare* (RFC 8017 §8.2.2): the expected
//!   `00 01 FF…FF 00 || DigestInfo || H(m)` block is built and compared in full with `s^e mod n`.
//!   The decrypted block is never parsed, which rules out the classic lax-ASN.1 / garbage-tail
//!   forgeries.
//! - PSS follows RFC 8017 §9.1.2 (EMSA-PSS-VERIFY) with the JWA (RFC 7518 §3.5) profile: MGF1 with
//!   the message hash, salt length equal to the hash length, trailer `0xbc`.
//! - No input can make these functions panic: malformed input yields `false` (verification) or a
//!   [`RsaKeyError`] (key construction).

mod montgomery;

use montgomery::{less_than, to_be_bytes, Limbs, Monty};
use subtle::ConstantTimeEq;

/// Smallest accepted modulus, in bits (NIST SP 800-131A / RFC 7518 §3.3 minimum).
pub const MIN_MODULUS_BITS: usize = 2048;
/// Largest accepted modulus, in bits (bounds the work an attacker-supplied JWKS can cause).
pub const MAX_MODULUS_BITS: usize = 8192;
/// Largest accepted public exponent: 2³³ − 1, the same bound as the `rsa` crate used by jwt-simple.
pub const MAX_PUBLIC_EXPONENT: u64 = (1 << 33) - 1;

/// Why a public key was rejected by [`RsaPublicKey::from_components`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaKeyError {
    /// The modulus (after stripping leading zero bytes) is shorter than [`MIN_MODULUS_BITS`].
    ModulusTooSmall { bits: usize },
    /// The modulus is longer than [`MAX_MODULUS_BITS`].
    ModulusTooLarge { bits: usize },
    /// The modulus is even, so it cannot be an RSA modulus (and Montgomery arithmetic needs it odd).
    ModulusEven,
    /// The exponent is empty, zero, 1 or even.
    ExponentInvalid,
    /// The exponent is larger than [`MAX_PUBLIC_EXPONENT`].
    ExponentTooLarge,
}

impl core::fmt::Display for RsaKeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ModulusTooSmall { bits } => {
                write!(
                    f,
                    "RSA modulus of {bits} bits is below the {MIN_MODULUS_BITS}-bit minimum"
                )
            }
            Self::ModulusTooLarge { bits } => {
                write!(
                    f,
                    "RSA modulus of {bits} bits is above the {MAX_MODULUS_BITS}-bit maximum"
                )
            }
            Self::ModulusEven => f.write_str("RSA modulus is even"),
            Self::ExponentInvalid => f.write_str("RSA public exponent must be odd and at least 3"),
            Self::ExponentTooLarge => {
                write!(f, "RSA public exponent is above {MAX_PUBLIC_EXPONENT}")
            }
        }
    }
}

impl std::error::Error for RsaKeyError {}

/// Message digest used by the signature scheme (and by MGF1 for PSS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// Largest digest length handled (SHA-512).
const MAX_HASH_LEN: usize = 64;

impl Hash {
    /// Digest length in bytes.
    const fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// DER `DigestInfo` prefix (RFC 8017 §9.2 note 1): `SEQUENCE { AlgorithmIdentifier { oid, NULL },
    /// OCTET STRING (hLen) }`, to be followed by the digest itself.
    const fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Self::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Self::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Self::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    /// Digest of the concatenation of `parts`.
    fn digest(self, parts: &[&[u8]]) -> Digest {
        let mut out = [0u8; MAX_HASH_LEN];
        match self {
            Self::Sha256 => {
                let mut h = hmac_sha256::Hash::new();
                parts.iter().for_each(|p| h.update(p));
                copy_prefix(&mut out, &h.finalize());
            }
            Self::Sha384 => {
                let mut h = hmac_sha512::sha384::Hash::new();
                parts.iter().for_each(|p| h.update(p));
                copy_prefix(&mut out, &h.finalize());
            }
            Self::Sha512 => {
                let mut h = hmac_sha512::Hash::new();
                parts.iter().for_each(|p| h.update(p));
                out = h.finalize();
            }
        }
        Digest {
            bytes: out,
            len: self.len(),
        }
    }
}

/// A digest of at most [`MAX_HASH_LEN`] bytes.
struct Digest {
    bytes: [u8; MAX_HASH_LEN],
    len: usize,
}

impl Digest {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// Copies `src` into the start of `dst` (as much as fits).
fn copy_prefix(dst: &mut [u8], src: &[u8]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
}

/// Strips leading zero bytes (big-endian integers in JWKs should not have them, but some do).
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or(&[])
}

/// An RSA public key prepared for repeated signature verification.
///
/// Build it once per key (e.g. per JWKS fetch); each verification then costs one modular
/// exponentiation by `e` (17 Montgomery multiplications for e = 65537) plus hashing.
#[derive(Clone)]
pub struct RsaPublicKey {
    /// Modulus, for the `s < n` check.
    n: Limbs,
    /// Public exponent.
    e: u64,
    /// Montgomery context for `n` (precomputed `R² mod n` and the REDC constant).
    ring: Monty,
    /// Modulus length in bits.
    bits: usize,
    /// Modulus length in bytes (`k` in RFC 8017): the required signature length.
    k: usize,
}

impl core::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.bits)
            .field("e", &self.e)
            .finish()
    }
}

impl RsaPublicKey {
    /// Builds a key from big-endian modulus and exponent bytes (the decoded JWK `n` and `e`).
    ///
    /// Leading zero bytes are ignored. Rejected: a modulus shorter than 2048 or longer than 8192
    /// bits, an even modulus, an even exponent or one below 3, an exponent above 2³³ − 1.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, RsaKeyError> {
        let n = strip_leading_zeros(n);
        let bits = match n.first() {
            Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
            None => 0,
        };
        if bits < MIN_MODULUS_BITS {
            return Err(RsaKeyError::ModulusTooSmall { bits });
        }
        if bits > MAX_MODULUS_BITS {
            return Err(RsaKeyError::ModulusTooLarge { bits });
        }
        if n.last().is_none_or(|&low| low & 1 == 0) {
            return Err(RsaKeyError::ModulusEven);
        }

        let e = strip_leading_zeros(e);
        if e.len() > 8 {
            return Err(RsaKeyError::ExponentTooLarge);
        }
        let e_value = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        if e_value > MAX_PUBLIC_EXPONENT {
            return Err(RsaKeyError::ExponentTooLarge);
        }
        if e_value < 3 || e_value & 1 == 0 {
            return Err(RsaKeyError::ExponentInvalid);
        }

        let n = Limbs::from_be_bytes(n);
        // `Monty::new` requires an odd modulus ≥ 2^32, checked above.
        let ring = Monty::new(&n);
        Ok(Self {
            n,
            e: e_value,
            ring,
            bits,
            k: bits.div_ceil(8),
        })
    }

    /// Modulus length in bits.
    pub fn modulus_bits(&self) -> usize {
        self.bits
    }

    /// RSAVP1 (RFC 8017 §5.2.2) with the length check of §8.2.2 step 1: `s^e mod n` as `k` bytes,
    /// or `None` if the signature is not exactly `k` bytes or not below `n`.
    fn rsavp1(&self, signature: &[u8]) -> Option<Vec<u8>> {
        if signature.len() != self.k {
            return None;
        }
        let mut s = Limbs::from_be_bytes(signature);
        // Same number of limbs as n (the signature has exactly k bytes, as n does).
        s.0.resize(self.n.0.len(), 0);
        if !less_than(&s.0, &self.n.0) {
            return None;
        }
        let m = self.ring.pow(&s.0, self.e);
        // I2OSP(m, k) (m < n, so it fits in k bytes).
        Some(to_be_bytes(&m, self.k))
    }

    /// RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2), as used by JWS RS256/RS384/RS512.
    pub fn verify_pkcs1v15(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let Some(em) = self.rsavp1(signature) else {
            return false;
        };
        let digest = hash.digest(&[message]);
        let prefix = hash.digest_info_prefix();
        // EM = 0x00 || 0x01 || PS (0xff…, at least 8) || 0x00 || T, with |EM| = k.
        let t_len = prefix.len() + digest.len;
        let Some(ps_len) = self.k.checked_sub(t_len + 3) else {
            return false;
        };
        if ps_len < 8 {
            return false;
        }
        let mut expected = Vec::with_capacity(self.k);
        expected.extend_from_slice(&[0x00, 0x01]);
        expected.resize(2 + ps_len, 0xff);
        expected.push(0x00);
        expected.extend_from_slice(prefix);
        expected.extend_from_slice(digest.as_slice());
        expected.len() == em.len() && bool::from(expected.ct_eq(&em))
    }

    /// RSASSA-PSS verification (RFC 8017 §8.1.2 / §9.1.2) with the JWS PS256/PS384/PS512 profile:
    /// MGF1 over the same hash, salt length = hash length, trailer field `0xbc`.
    pub fn verify_pss(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let Some(em_full) = self.rsavp1(signature) else {
            return false;
        };
        let h_len = hash.len();
        let s_len = h_len;
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        // §8.1.2 step 2c: I2OSP(m, emLen). When modBits − 1 is a multiple of 8, emLen = k − 1 and the
        // leading byte of the k-byte block must be zero.
        let Some((extra, em)) = em_full.split_at_checked(self.k - em_len) else {
            return false;
        };
        if extra.iter().any(|&b| b != 0) {
            return false;
        }
        // Step 3: emLen ≥ hLen + sLen + 2 (always true for ≥ 2048-bit keys, checked anyway).
        if em_len < h_len + s_len + 2 {
            return false;
        }
        // Steps 4–5: trailer and split into maskedDB || H.
        let Some((&trailer, rest)) = em.split_last() else {
            return false;
        };
        if trailer != 0xbc {
            return false;
        }
        let Some((masked_db, h)) = rest.split_at_checked(em_len - h_len - 1) else {
            return false;
        };
        // Step 6: the leftmost 8·emLen − emBits bits of maskedDB must be zero.
        let unused_bits = 8 * em_len - em_bits; // 0..=7
        let top_mask = 0xffu8.checked_shr(unused_bits as u32).unwrap_or(0);
        let Some(&first) = masked_db.first() else {
            return false;
        };
        if first & !top_mask != 0 {
            return false;
        }
        // Steps 7–8: DB = maskedDB ⊕ MGF1(H, emLen − hLen − 1), with the unused top bits cleared.
        let mut db = masked_db.to_vec();
        mgf1_xor(hash, h, &mut db);
        if let Some(b) = db.first_mut() {
            *b &= top_mask;
        }
        // Step 10: DB = PS (zeros) || 0x01 || salt.
        let ps_len = em_len - h_len - s_len - 2;
        let Some((ps_and_one, salt)) = db.split_at_checked(ps_len + 1) else {
            return false;
        };
        let Some((&one, ps)) = ps_and_one.split_last() else {
            return false;
        };
        let padding_ok = ps.iter().fold(0u8, |acc, &b| acc | b).ct_eq(&0) & one.ct_eq(&0x01);
        // Steps 2, 12–14: H' = Hash(0x00 × 8 || mHash || salt), compare with H.
        let m_hash = hash.digest(&[message]);
        let h_prime = hash.digest(&[&[0u8; 8], m_hash.as_slice(), salt]);
        let hash_ok = h_prime.as_slice().ct_eq(h);
        bool::from(padding_ok & hash_ok)
    }
}

/// XORs MGF1(seed, mask.len()) (RFC 8017 §B.2.1) into `mask`.
fn mgf1_xor(hash: Hash, seed: &[u8], mask: &mut [u8]) {
    for (counter, chunk) in (0u32..).zip(mask.chunks_mut(hash.len())) {
        let block = hash.digest(&[seed, &counter.to_be_bytes()]);
        chunk
            .iter_mut()
            .zip(block.as_slice())
            .for_each(|(m, b)| *m ^= b);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wycheproof;
