//! EdDSA (Ed25519) signature check, by `ed25519-dalek`.
//!
//! `ed25519-dalek` runs on `curve25519-dalek`'s 32-bit field arithmetic on wasm32, about twice as fast
//! under V8 as `ed25519-compact` (jwt-simple's Ed25519), whose 64-bit limbs wasm emulates.
//!
//! Rules (RFC 8032 §5.1.7, strict): the public key must be a canonical encoding of a point that is not
//! of small order (checked once, when the JWK is read); `S` must be canonical (`S < L`); `R` must
//! decode, not be of small order, and equal the recomputed `[S]B - [k]A` byte for byte. This is the
//! cofactorless equation: it differs from `ed25519-compact`'s cofactored one only on signatures a key
//! holder crafts with small-order components, which both refuse or accept without any forgery being
//! possible. The tests check agreement with `ed25519-compact` on random keys and signatures, valid
//! and mutated, and run Wycheproof's Ed25519 vectors.

use ed25519_dalek::{Signature, VerifyingKey};

/// An Ed25519 public key from a JWK (`crv: Ed25519`, `x`).
#[derive(Debug)]
pub struct Ed25519Key(VerifyingKey);

impl Ed25519Key {
    /// From the 32-byte encoding; refuses non-canonical encodings and small-order points (a weak
    /// key would verify signatures anyone can make).
    pub fn from_bytes(x: &[u8]) -> Result<Ed25519Key, &'static str> {
        let bytes: &[u8; 32] = x.try_into().map_err(|_| "Ed25519 key is not 32 bytes")?;
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| "Ed25519 key is not a point")?;
        if key.to_edwards().compress().as_bytes() != bytes {
            return Err("Ed25519 key is not canonically encoded");
        }
        if key.is_weak() {
            return Err("Ed25519 key has small order");
        }
        Ok(Ed25519Key(key))
    }

    /// Checks a JWS EdDSA signature (64 bytes `R || S`) over `input`.
    pub fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <&[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.0
            .verify_strict(input, &Signature::from_bytes(sig))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::hex;

    fn reference(pk: &[u8], input: &[u8], sig: &[u8]) -> bool {
        let (Ok(pk), Ok(sig)) = (
            ed25519_compact::PublicKey::from_slice(pk),
            ed25519_compact::Signature::from_slice(sig),
        ) else {
            return false;
        };
        pk.verify(input, &sig).is_ok()
    }

    fn ours(pk: &[u8], input: &[u8], sig: &[u8]) -> bool {
        Ed25519Key::from_bytes(pk).is_ok_and(|k| k.verify(input, sig))
    }

    #[test]
    fn agrees_with_ed25519_compact_on_valid_and_mutated_signatures() {
        let n = if cfg!(debug_assertions) { 50 } else { 2000 };
        for i in 0..n {
            let kp = ed25519_compact::KeyPair::generate();
            let input = format!("header.payload-{i}").into_bytes();
            let sig = kp.sk.sign(&input, None).to_vec();
            let pk = kp.pk.to_vec();
            assert!(ours(&pk, &input, &sig) && reference(&pk, &input, &sig));
            for bit in [0usize, 9, 255, 256, 300, 500, 511] {
                let mut bad = sig.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    ours(&pk, &input, &bad),
                    reference(&pk, &input, &bad),
                    "bit {bit}"
                );
                assert!(!ours(&pk, &input, &bad), "bit {bit}");
            }
            let mut other = input.clone();
            other[0] ^= 1;
            assert!(!ours(&pk, &other, &sig) && !reference(&pk, &other, &sig));
            let mut other_key = pk.clone();
            other_key[5] ^= 2;
            assert_eq!(
                ours(&other_key, &input, &sig),
                reference(&other_key, &input, &sig)
            );
            assert!(!ours(&pk, &input, &sig[..63]));
        }
    }

    #[test]
    fn weak_and_non_canonical_keys_are_refused() {
        // The identity (y = 1) has small order; y = p + 1 encodes it non-canonically.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(Ed25519Key::from_bytes(&identity).is_err());
        let mut p_plus_one = [0xffu8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert!(Ed25519Key::from_bytes(&p_plus_one).is_err());
        assert!(Ed25519Key::from_bytes(&[0u8; 31]).is_err());
    }

    /// Wycheproof's Ed25519 vectors: valid ones verify, invalid ones do not.
    #[test]
    fn wycheproof_vectors() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/wycheproof/ed25519_test.json"))
                .unwrap();
        let mut run = 0;
        for group in doc["testGroups"].as_array().unwrap() {
            let pk = hex(group["publicKey"]["pk"].as_str().unwrap());
            for t in group["tests"].as_array().unwrap() {
                let (msg, sig) = (
                    hex(t["msg"].as_str().unwrap()),
                    hex(t["sig"].as_str().unwrap()),
                );
                let expected = t["result"] == "valid";
                assert_eq!(ours(&pk, &msg, &sig), expected, "tcId {}", t["tcId"]);
                run += 1;
            }
        }
        assert_eq!(run, 151);
    }
}
