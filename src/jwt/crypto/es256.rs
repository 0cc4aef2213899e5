//! ES256 (ECDSA P-256, SHA-256) signature check with precomputed tables: fast in wasm.
//!
//! Verification computes `u1·G + u2·Q`. The `p256` crate does that with about 256 point doublings
//! and a hundred additions per signature, ~1 ms under V8. Both points are fixed — `G` always, `Q` for
//! as long as the key is in the JWKS — so edgeguard precomputes, for each, the multiples
//! `d·2^(w·i)·P` for every `w`-bit window `i` and digit `d` once, and a verification is then one
//! table lookup and mixed addition per window (32 for `G` with 8-bit windows, 52 for `Q` with 5-bit
//! ones), with no doubling at all.
//!
//! Everything else is `p256`'s: the point and field arithmetic (complete formulas), the parsing and
//! range checks of the key and of `r`, `s` (both in `[1, n)`), scalar inversion and reduction. What
//! is ours is only the table layout and the ECDSA equation (SEC 1 §4.1.4), which
//! [`P256Key::verify_p256_crate`] checks against `p256`'s own verifier in the tests, on thousands of
//! random keys and signatures, valid and mutated.
//!
//! A key's table is ~115 KB, built (the cost of a few verifications) on the key's first use; the
//! generator's (~550 KB) once per VM, by [`prepare`] at configuration when ES256 may be used. Tables are
//! bounded per VM ([`MAX_TABLES`]): a JWKS of many keys, or tokens naming every `kid` in it, cannot
//! make edgeguard hold more; keys beyond the bound are verified by `p256` directly.

use p256::ecdsa::signature::DigestVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::group::{Curve as _, Group as _};
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates as _;
use p256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
use std::cell::{Cell, OnceCell};
use std::sync::OnceLock;

/// Key tables a VM builds at most (the generator's table is extra).
pub const MAX_TABLES: usize = 16;

/// Window width of a key's table: 52 windows of 31 points (~115 KB).
const KEY_WINDOW_BITS: u32 = 5;
/// Window width of the generator's table, built once per VM: 32 windows of 255 points (~550 KB).
const GENERATOR_WINDOW_BITS: u32 = 8;

/// The multiples `d·2^(w·i)·P` for every window `i` and non-zero digit `d < 2^w`, affine, row by row.
struct Table {
    bits: u32,
    points: Vec<AffinePoint>,
}

impl Table {
    fn new(point: ProjectivePoint, bits: u32) -> Table {
        let digits = (1usize << bits) - 1;
        let windows = 256usize.div_ceil(bits as usize);
        let mut projective = Vec::with_capacity(windows * digits);
        let mut base = point;
        for _ in 0..windows {
            let mut multiple = base;
            for _ in 0..digits {
                projective.push(multiple);
                multiple += base;
            }
            // `multiple` is now 2^w·base, the next window's base.
            base = multiple;
        }
        let mut points = vec![AffinePoint::IDENTITY; projective.len()];
        ProjectivePoint::batch_normalize(&projective, &mut points);
        Table { bits, points }
    }

    /// `k·P` for the table's point `P`: one addition per non-zero window digit, no doubling.
    /// Variable time: only public values (signatures, digests, public keys) are multiplied here.
    fn mul(&self, k: &Scalar) -> ProjectivePoint {
        let mut le: [u8; 34] = [0; 34]; // little-endian, two bytes of slack for the last window
        for (dst, src) in le.iter_mut().zip(k.to_bytes().iter().rev()) {
            *dst = *src;
        }
        let w = self.bits as usize;
        let digits = (1usize << w) - 1;
        let mut acc = ProjectivePoint::IDENTITY;
        for (i, row) in self.points.chunks_exact(digits).enumerate() {
            let bit = i * w;
            let byte = |j: usize| u32::from(le.get(bit / 8 + j).copied().unwrap_or(0));
            let window = (byte(0) | byte(1) << 8 | byte(2) << 16) >> (bit % 8);
            let digit = (window as usize) & digits;
            if let Some(p) = digit.checked_sub(1).and_then(|d| row.get(d)) {
                acc += p;
            }
        }
        acc
    }
}

fn generator_table() -> &'static Table {
    static G: OnceLock<Table> = OnceLock::new();
    G.get_or_init(|| Table::new(ProjectivePoint::GENERATOR, GENERATOR_WINDOW_BITS))
}

/// Builds the generator's table now (it is otherwise built on the first ES256 verification), so
/// that cost is not paid by a request.
pub fn prepare() {
    generator_table();
}

thread_local! {
    static TABLES_BUILT: Cell<usize> = const { Cell::new(0) };
}

/// A P-256 public key from a JWK, with its multiples table once it has been used.
pub struct P256Key {
    key: VerifyingKey,
    table: OnceCell<Option<Table>>,
}

impl std::fmt::Debug for P256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P256Key").finish_non_exhaustive()
    }
}

impl P256Key {
    /// From an uncompressed SEC 1 point; `None` if it is not a valid point of the curve.
    pub fn from_sec1_bytes(point: &[u8]) -> Option<P256Key> {
        let key = VerifyingKey::from_sec1_bytes(point).ok()?;
        Some(P256Key {
            key,
            table: OnceCell::new(),
        })
    }

    fn table(&self) -> Option<&Table> {
        self.table
            .get_or_init(|| {
                let built = TABLES_BUILT.with(Cell::get);
                if built >= MAX_TABLES {
                    return None;
                }
                TABLES_BUILT.with(|n| n.set(built + 1));
                Some(Table::new(
                    ProjectivePoint::from(*self.key.as_affine()),
                    KEY_WINDOW_BITS,
                ))
            })
            .as_ref()
    }

    /// Checks a JWS ES256 signature (raw 64-byte `r || s`) over `input`.
    pub fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = Signature::try_from(sig) else {
            return false; // wrong length, or r or s outside [1, n)
        };
        let Some(table) = self.table() else {
            return self.verify_p256_crate(input, &sig);
        };
        let (r, s) = sig.split_scalars();
        let digest = hmac_sha256::Hash::hash(input);
        let z = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest));
        let Some(s_inv) = Option::<Scalar>::from(s.invert_vartime()) else {
            return false;
        };
        let u1 = z * s_inv;
        let u2 = *r * s_inv;
        let point = generator_table().mul(&u1) + table.mul(&u2);
        if bool::from(point.is_identity()) {
            return false;
        }
        let x = point.to_affine().x();
        <Scalar as Reduce<FieldBytes>>::reduce(&x) == *r
    }

    /// The same check by the `p256` crate alone.
    pub fn verify_p256_crate(&self, input: &[u8], sig: &Signature) -> bool {
        self.key
            .verify_digest(
                |d: &mut hmac_sha256::Hash| {
                    d.update(input);
                    Ok(())
                },
                sig,
            )
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::hex;
    use jwt_simple::prelude::*;

    fn keys_and_signatures(n: usize) -> Vec<(P256Key, Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let kp = ES256KeyPair::generate();
                let point = kp.public_key().public_key().to_bytes_uncompressed();
                let key = P256Key::from_sec1_bytes(&point).unwrap();
                let token = kp
                    .sign(Claims::create(Duration::from_secs(60)).with_subject(i))
                    .unwrap();
                let mut parts = token.split('.');
                let (h, p, s) = (
                    parts.next().unwrap(),
                    parts.next().unwrap(),
                    parts.next().unwrap(),
                );
                let signed = format!("{h}.{p}").into_bytes();
                let sig = Base64UrlSafeNoPadding::decode_to_vec(s, None).unwrap();
                (key, signed, sig)
            })
            .collect()
    }

    fn both(key: &P256Key, input: &[u8], sig: &[u8]) -> (bool, bool) {
        let reference = Signature::try_from(sig)
            .map(|s| key.verify_p256_crate(input, &s))
            .unwrap_or(false);
        (key.verify(input, sig), reference)
    }

    #[test]
    fn agrees_with_p256_on_valid_and_mutated_signatures() {
        let n = if cfg!(debug_assertions) { 20 } else { 1000 };
        let mut valid = 0;
        for (key, input, sig) in keys_and_signatures(n) {
            assert_eq!(both(&key, &input, &sig), (true, true));
            valid += 1;
            for bit in [0usize, 7, 100, 255, 256, 300, 511] {
                let mut bad = sig.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(both(&key, &input, &bad), (false, false), "bit {bit}");
            }
            let mut other = input.clone();
            other[0] ^= 1;
            assert_eq!(both(&key, &other, &sig), (false, false));
        }
        assert_eq!(valid, n);
    }

    #[test]
    fn keys_beyond_the_table_bound_verify_the_same() {
        let sigs = keys_and_signatures(MAX_TABLES + 4);
        for (key, input, sig) in &sigs {
            assert!(key.verify(input, sig));
            let mut bad = sig.clone();
            bad[10] ^= 0x40;
            assert!(!key.verify(input, &bad));
        }
        let with_table = sigs
            .iter()
            .filter(|(k, ..)| matches!(k.table.get(), Some(Some(_))));
        assert!(with_table.count() <= MAX_TABLES);
    }

    #[test]
    fn edge_scalars_are_refused() {
        let (key, input, sig) = keys_and_signatures(1).remove(0);
        let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        let one = {
            let mut b = vec![0u8; 32];
            b[31] = 1;
            b
        };
        let cases: Vec<Vec<u8>> = vec![
            [vec![0u8; 32], sig[32..].to_vec()].concat(), // r = 0
            [sig[..32].to_vec(), vec![0u8; 32]].concat(), // s = 0
            [n.clone(), sig[32..].to_vec()].concat(),     // r = n
            [sig[..32].to_vec(), n.clone()].concat(),     // s = n
            [one.clone(), one.clone()].concat(),          // r = s = 1
            vec![0u8; 64],
            sig[..63].to_vec(),
            [sig.clone(), vec![0]].concat(),
            Vec::new(),
        ];
        for (i, bad) in cases.iter().enumerate() {
            assert_eq!(both(&key, &input, bad), (false, false), "case {i}");
        }
    }

    #[test]
    fn table_multiplication_matches_the_group_law() {
        let g = ProjectivePoint::GENERATOR;
        for k in [1u64, 2, 15, 16, 17, 255, 256, 65_535, u64::MAX] {
            let s = Scalar::from(k);
            assert_eq!(generator_table().mul(&s), g * s, "k = {k}");
        }
        let minus_one = -Scalar::ONE;
        assert_eq!(generator_table().mul(&minus_one), -g);
        let p = g * Scalar::from(7u64);
        let big = Scalar::from(u64::MAX) * Scalar::from(u64::MAX) * Scalar::from(12_345u64);
        for bits in [3, 4, 5, 7, 8] {
            let t = Table::new(p, bits);
            for k in [Scalar::ONE, Scalar::from(31u64), minus_one, big, -big] {
                assert_eq!(t.mul(&k), p * k, "w = {bits}");
            }
        }
        assert!(bool::from(
            generator_table().mul(&Scalar::ZERO).is_identity()
        ));
    }

    /// Wycheproof's ECDSA P-256/SHA-256 vectors (raw `r || s`, as in JWS): valid ones verify, invalid
    /// ones do not, and on "acceptable" ones edgeguard agrees with the `p256` crate.
    #[test]
    fn wycheproof_vectors() {
        let doc: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json"
        ))
        .unwrap();
        let mut run = 0;
        for group in doc["testGroups"].as_array().unwrap() {
            let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
            let Some(key) = P256Key::from_sec1_bytes(&point) else {
                continue;
            };
            for t in group["tests"].as_array().unwrap() {
                let msg = hex(t["msg"].as_str().unwrap());
                let sig = hex(t["sig"].as_str().unwrap());
                let (ours, reference) = both(&key, &msg, &sig);
                let id = &t["tcId"];
                match t["result"].as_str().unwrap() {
                    "valid" => assert!(ours, "tcId {id} must verify"),
                    "invalid" => assert!(!ours, "tcId {id} must not verify"),
                    _ => assert_eq!(ours, reference, "tcId {id}"),
                }
                run += 1;
            }
        }
        assert!(run >= 250, "{run} vectors run");
    }
}
