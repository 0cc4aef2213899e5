//! ES512 (ECDSA P-521, SHA-512) signature check, by the RustCrypto `p521` crate.
//!
//! Everything is `p521`'s: parsing and validating the public point (on the curve, not the identity,
//! coordinates in range), the range checks of `r` and `s` (both in `[1, n)`), and the verification
//! equation (SEC 1 §4.1.4) on the SHA-512 digest of the signing input. edgeguard only fixes the JWS
//! encodings (RFC 7518 §3.4): the key's `x` and `y` are 66 bytes each, the signature is the raw
//! 132-byte `r || s` (never DER). High-`s` signatures are accepted, as ECDSA and JWS allow (and as
//! for ES256/ES384).
//!
//! No precomputed tables (unlike [`super::es256`]): each check is `p521`'s own. As for every algorithm, the
//! checks per token are bounded by the number of candidate keys (`jwt::MAX_CANDIDATE_KEYS`), and a
//! provider that does not expect ES512 tokens can leave it out of its `algorithms`.

use p521::ecdsa::signature::hazmat::PrehashVerifier as _;
use p521::ecdsa::{Signature, VerifyingKey};

/// Length of one coordinate (`x` or `y`) of a P-521 point, and of `r` or `s`, in bytes.
pub const COORDINATE_BYTES: usize = 66;
/// Length of a JWS ES512 signature (`r || s`), in bytes.
pub const SIGNATURE_BYTES: usize = 2 * COORDINATE_BYTES;

/// A P-521 public key from a JWK (`kty: EC`, `crv: P-521`).
pub struct P521Key(VerifyingKey);

impl std::fmt::Debug for P521Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P521Key").finish_non_exhaustive()
    }
}

impl P521Key {
    /// From an uncompressed SEC 1 point (`04 || x || y`, 133 bytes, as built from a JWK's `x`, `y`);
    /// `None` for any other length or encoding, a coordinate not below the field prime, or a point
    /// that is not on the curve.
    pub fn from_sec1_bytes(point: &[u8]) -> Option<P521Key> {
        if point.len() != 1 + 2 * COORDINATE_BYTES || point.first() != Some(&4) {
            return None;
        }
        VerifyingKey::from_sec1_bytes(point).ok().map(P521Key)
    }

    /// Checks a JWS ES512 signature (raw 132-byte `r || s`) over `input`. False for any other
    /// length, for `r` or `s` outside `[1, n)`, and for a signature that does not verify.
    pub fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        if sig.len() != SIGNATURE_BYTES {
            return false;
        }
        let Ok(sig) = Signature::from_slice(sig) else {
            return false; // r or s outside [1, n)
        };
        let digest = hmac_sha512::Hash::hash(input);
        self.0.verify_prehash(&digest, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::hex;
    use p521::ecdsa::signature::Signer as _;
    use p521::ecdsa::SigningKey;

    /// The order `n` of P-521's group, big-endian, 66 bytes.
    const N: &str = "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
                     fffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409";
    /// The field prime `p = 2^521 − 1`, big-endian, 66 bytes.
    const P: &str = "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
                     ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    /// A test signing key from `seed` (a secret scalar below 2^520, so always in `[1, n)`).
    fn signing_key(seed: u64) -> SigningKey {
        let mut secret = [0u8; COORDINATE_BYTES];
        secret[1..65].copy_from_slice(&hmac_sha512::Hash::hash(seed.to_be_bytes()));
        secret[65] = 1;
        SigningKey::from_slice(&secret).unwrap()
    }

    /// The key for JWK coordinates `x`, `y` (as the JWKS reader builds it).
    fn from_xy(x: &[u8], y: &[u8]) -> Option<P521Key> {
        P521Key::from_sec1_bytes(&[&[4u8], x, y].concat())
    }

    fn point(sk: &SigningKey) -> Vec<u8> {
        sk.verifying_key().to_sec1_point(false).as_bytes().to_vec()
    }

    fn sign(sk: &SigningKey, input: &[u8]) -> Vec<u8> {
        let sig: Signature = sk.sign(input);
        sig.to_bytes().to_vec()
    }

    #[test]
    fn valid_signatures_verify_and_mutations_do_not() {
        let n = if cfg!(debug_assertions) { 8 } else { 100 };
        for i in 0..n {
            let sk = signing_key(i);
            let p = point(&sk);
            assert_eq!(p.len(), 133);
            let key = from_xy(&p[1..67], &p[67..]).unwrap();
            let input = format!("header.payload-{i}").into_bytes();
            let sig = sign(&sk, &input);
            assert_eq!(sig.len(), SIGNATURE_BYTES);
            assert!(key.verify(&input, &sig));
            for bit in [7usize, 8, 100, 527, 528, 700, 1055] {
                let mut bad = sig.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(!key.verify(&input, &bad), "bit {bit}");
            }
            let mut other = input.clone();
            other[0] ^= 1;
            assert!(!key.verify(&other, &sig));
            let wrong = signing_key(i + 1000);
            assert!(!key.verify(&input, &sign(&wrong, &input)));
        }
    }

    #[test]
    fn edge_scalars_and_lengths_are_refused() {
        let sk = signing_key(1);
        let p = point(&sk);
        let key = P521Key::from_sec1_bytes(&p).unwrap();
        let input = b"header.payload";
        let sig = sign(&sk, input);
        let (r, s) = sig.split_at(COORDINATE_BYTES);
        let n = hex(N);
        let zero = vec![0u8; COORDINATE_BYTES];
        let mut one = zero.clone();
        one[COORDINATE_BYTES - 1] = 1;
        let cases: Vec<Vec<u8>> = vec![
            [zero.as_slice(), s].concat(), // r = 0
            [r, zero.as_slice()].concat(), // s = 0
            [n.as_slice(), s].concat(),    // r = n
            [r, n.as_slice()].concat(),    // s = n
            [one.as_slice(), one.as_slice()].concat(),
            vec![0u8; SIGNATURE_BYTES],
            vec![0xffu8; SIGNATURE_BYTES],
            sig[..SIGNATURE_BYTES - 1].to_vec(),
            [sig.as_slice(), &[0]].concat(),
            [&r[1..], &s[1..]].concat(), // 130 bytes: 65-byte r and s
            Vec::new(),
        ];
        for (i, bad) in cases.iter().enumerate() {
            assert!(!key.verify(input, bad), "case {i}");
        }
        assert!(key.verify(input, &sig));
    }

    #[test]
    fn invalid_public_keys_are_refused() {
        let p = point(&signing_key(2));
        let (x, y) = (&p[1..67], &p[67..]);
        assert!(from_xy(x, y).is_some());
        let mut off = y.to_vec();
        off[65] ^= 1;
        assert!(from_xy(x, &off).is_none(), "not on the curve");
        assert!(from_xy(&x[1..], y).is_none(), "65-byte x");
        assert!(from_xy(x, &[y, &[0]].concat()).is_none(), "67-byte y");
        let zero = [0u8; COORDINATE_BYTES];
        assert!(from_xy(&zero, &zero).is_none(), "identity encoding");
        // x + p encodes the same field element non-canonically: refused (p = 2^521 − 1, so any
        // 66-byte value above it has the top byte 0x01 and must be ≤ p − 1).
        assert!(from_xy(&hex(P), y).is_none(), "x = p");
        let mut big = hex(P);
        big[0] = 0x03;
        assert!(from_xy(&big, y).is_none(), "x ≥ 2^521");
        // compressed and hybrid encodings are not accepted from a JWK
        let mut compressed = vec![2u8 | (p[132] & 1)];
        compressed.extend_from_slice(x);
        assert!(P521Key::from_sec1_bytes(&compressed).is_none());
        let mut other_tag = p.clone();
        other_tag[0] = 6 | (p[132] & 1);
        assert!(P521Key::from_sec1_bytes(&other_tag).is_none());
    }

    /// Wycheproof's ECDSA P-521/SHA-512 vectors (raw `r || s`, as in JWS): every `valid` one verifies
    /// and every `invalid` one is refused. The file has no `acceptable` vectors; should a later copy
    /// have some, the test fails so they get looked at. Each group's JWK form (`publicKeyJwk`, where
    /// the group has one) must also parse through edgeguard's JWKS reader into an ES512-only key.
    #[test]
    fn wycheproof_vectors() {
        use crate::jwt::jwk::{Alg, KeySet};
        use serde_json::json;
        let doc: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/wycheproof/ecdsa_secp521r1_sha512_p1363_test.json"
        ))
        .unwrap();
        let (mut valid, mut invalid, mut jwks) = (0, 0, 0);
        for group in doc["testGroups"].as_array().unwrap() {
            assert_eq!(group["sha"], "SHA-512");
            let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
            let key = P521Key::from_sec1_bytes(&point).unwrap();
            if let Some(jwk) = group.get("publicKeyJwk") {
                let (set, skipped) = KeySet::from_value(&json!({ "keys": [jwk] })).unwrap();
                assert!(skipped.is_empty(), "{skipped:?}");
                let key = &set.keys()[0];
                assert!(key.supports(Alg::ES512) && !key.supports(Alg::ES384));
                jwks += 1;
            }
            for t in group["tests"].as_array().unwrap() {
                let msg = hex(t["msg"].as_str().unwrap());
                let sig = hex(t["sig"].as_str().unwrap());
                let ours = key.verify(&msg, &sig);
                let id = &t["tcId"];
                match t["result"].as_str().unwrap() {
                    "valid" => {
                        assert!(ours, "tcId {id} must verify");
                        valid += 1;
                    }
                    "invalid" => {
                        assert!(!ours, "tcId {id} must not verify");
                        invalid += 1;
                    }
                    other => panic!("tcId {id}: unexpected result {other}"),
                }
            }
        }
        assert_eq!((valid, invalid), (231, 87));
        assert_eq!(jwks, 98, "groups with a JWK form");
    }
}
