//! Tests for the fast RSA verifier:
//! - key validation errors;
//! - differential tests against jwt-simple (its own signer and verifier) on many keys, messages and
//!   mutated signatures — the two verifiers must agree on every case. Debug builds run a small
//!   sample; `cargo test --release --lib crypto::rsa` runs the full set;
//! - the Montgomery exponentiation against a schoolbook computation.
//!
//! Wycheproof's RSA vectors run beside these, in `rsa/wycheproof.rs`.

use super::*;
use crate::test_support::Rng;
use base64::Engine as _;
use jwt_simple::prelude::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

// ---------------------------------------------------------------------------------------------
// Key validation

/// An odd number of exactly `bits` bits (not a real modulus: validation does not test primality).
fn odd_number(bits: usize) -> Vec<u8> {
    let mut n = vec![0xa5u8; bits.div_ceil(8)];
    let top_bits = bits - (n.len() - 1) * 8;
    n[0] = 0x80u8 >> (8 - top_bits) | 1;
    *n.last_mut().unwrap() |= 1;
    n
}

#[test]
fn key_validation() {
    let e = [1u8, 0, 1];
    for bits in [2048, 2049, 3071, 4096, 8191, 8192] {
        let key = RsaPublicKey::from_components(&odd_number(bits), &e).unwrap();
        assert_eq!(key.modulus_bits(), bits);
    }
    for bits in [8, 1024, 2047] {
        assert_eq!(
            RsaPublicKey::from_components(&odd_number(bits), &e).unwrap_err(),
            RsaKeyError::ModulusTooSmall { bits }
        );
    }
    assert_eq!(
        RsaPublicKey::from_components(&odd_number(8193), &e).unwrap_err(),
        RsaKeyError::ModulusTooLarge { bits: 8193 }
    );
    assert_eq!(
        RsaPublicKey::from_components(&[], &e).unwrap_err(),
        RsaKeyError::ModulusTooSmall { bits: 0 }
    );
    assert_eq!(
        RsaPublicKey::from_components(&[0, 0, 0], &e).unwrap_err(),
        RsaKeyError::ModulusTooSmall { bits: 0 }
    );
    // Leading zero bytes do not count.
    let mut padded = vec![0u8, 0];
    padded.extend(odd_number(2048));
    assert_eq!(
        RsaPublicKey::from_components(&padded, &e)
            .unwrap()
            .modulus_bits(),
        2048
    );
    let mut short = vec![0u8];
    short.extend(odd_number(2040));
    assert!(matches!(
        RsaPublicKey::from_components(&short, &e),
        Err(RsaKeyError::ModulusTooSmall { bits: 2040 })
    ));

    let mut even = odd_number(2048);
    *even.last_mut().unwrap() &= 0xfe;
    assert_eq!(
        RsaPublicKey::from_components(&even, &e).unwrap_err(),
        RsaKeyError::ModulusEven
    );

    let n = odd_number(2048);
    for bad_e in [&[][..], &[0], &[0, 0], &[1], &[2], &[1, 0, 0], &[0, 1]] {
        assert_eq!(
            RsaPublicKey::from_components(&n, bad_e).unwrap_err(),
            RsaKeyError::ExponentInvalid,
            "e = {bad_e:?}"
        );
    }
    for good_e in [
        &[3u8][..],
        &[0, 3],
        &[0, 1, 0, 1],
        &[0xff, 0xff, 0xff, 0xff],
        &[1, 0xff, 0xff, 0xff, 0xff],
    ] {
        assert!(
            RsaPublicKey::from_components(&n, good_e).is_ok(),
            "e = {good_e:?}"
        );
    }
    for big_e in [
        &[2u8, 0, 0, 0, 1][..],
        &[1, 0, 0, 0, 0, 0, 0, 0, 1],
        &[0xff; 16],
    ] {
        assert_eq!(
            RsaPublicKey::from_components(&n, big_e).unwrap_err(),
            RsaKeyError::ExponentTooLarge,
            "e = {big_e:?}"
        );
    }
    assert!(RsaKeyError::ModulusTooSmall { bits: 1024 }
        .to_string()
        .contains("1024"));
}

#[test]
fn garbage_never_verifies() {
    let key = RsaPublicKey::from_components(&odd_number(2049), &[1, 0, 1]).unwrap();
    let k = 257;
    for sig in [
        vec![],
        vec![0u8; 1],
        vec![0u8; k - 1],
        vec![0u8; k],
        vec![1u8; k],
        vec![0xffu8; k],
        vec![0u8; k + 1],
        vec![7u8; 4096],
    ] {
        for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            assert!(!key.verify_pkcs1v15(hash, b"m", &sig));
            assert!(!key.verify_pss(hash, b"m", &sig));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Differential tests against jwt-simple

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

const ALGS: [Alg; 6] = [
    Alg::Rs256,
    Alg::Rs384,
    Alg::Rs512,
    Alg::Ps256,
    Alg::Ps384,
    Alg::Ps512,
];

impl Alg {
    fn hash(self) -> Hash {
        match self {
            Alg::Rs256 | Alg::Ps256 => Hash::Sha256,
            Alg::Rs384 | Alg::Ps384 => Hash::Sha384,
            Alg::Rs512 | Alg::Ps512 => Hash::Sha512,
        }
    }
    fn pss(self) -> bool {
        matches!(self, Alg::Ps256 | Alg::Ps384 | Alg::Ps512)
    }
    fn ours(self, key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
        if self.pss() {
            key.verify_pss(self.hash(), message, signature)
        } else {
            key.verify_pkcs1v15(self.hash(), message, signature)
        }
    }
}

type Signer = Box<dyn Fn(JWTClaims<serde_json::Value>) -> String>;
type Verifier = Box<dyn Fn(&str) -> bool>;

/// jwt-simple's signer and verifier for one algorithm and key.
fn jwt_simple_pair(alg: Alg, der: &[u8], n: &[u8], e: &[u8]) -> (Signer, Verifier) {
    macro_rules! pair {
        ($kp:ty, $pk:ty) => {{
            let kp = <$kp>::from_der(der).unwrap();
            let pk = <$pk>::from_components(n, e).unwrap();
            let sign: Signer = Box::new(move |claims| kp.sign(claims).unwrap());
            let verify: Verifier =
                Box::new(move |token| pk.verify_token::<serde_json::Value>(token, None).is_ok());
            (sign, verify)
        }};
    }
    match alg {
        Alg::Rs256 => pair!(RS256KeyPair, RS256PublicKey),
        Alg::Rs384 => pair!(RS384KeyPair, RS384PublicKey),
        Alg::Rs512 => pair!(RS512KeyPair, RS512PublicKey),
        Alg::Ps256 => pair!(PS256KeyPair, PS256PublicKey),
        Alg::Ps384 => pair!(PS384KeyPair, PS384PublicKey),
        Alg::Ps512 => pair!(PS512KeyPair, PS512PublicKey),
    }
}

struct TestKey {
    name: String,
    der: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
    ours: RsaPublicKey,
}

impl TestKey {
    fn from_pair(name: String, kp: &RS256KeyPair) -> Self {
        let c = kp.public_key().to_components();
        let ours = RsaPublicKey::from_components(&c.n, &c.e).unwrap();
        TestKey {
            name,
            der: kp.to_der().unwrap(),
            n: c.n,
            e: c.e,
            ours,
        }
    }
    fn fixture(file: &str) -> Self {
        let path = format!("{}/tests/rsa_keys/{file}", env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read_to_string(&path).unwrap();
        Self::from_pair(file.to_string(), &RS256KeyPair::from_pem(&pem).unwrap())
    }
    fn generated(bits: usize) -> Self {
        Self::from_pair(
            format!("generated-{bits}"),
            &RS256KeyPair::generate(bits).unwrap(),
        )
    }
}

#[derive(Default, Debug)]
struct Counts {
    /// Valid jwt-simple signatures, checked by both verifiers.
    valid: usize,
    /// Mutated signatures or messages, checked by both verifiers.
    mutated: usize,
    /// Cross-scheme / cross-hash checks (ours only: jwt-simple rejects these on the header `alg`).
    cross: usize,
}

/// Big-endian `k`-byte encoding of `n + delta` (delta ∈ {-1, 0, 1}).
fn near_modulus(n: &[u8], k: usize, delta: i8) -> Vec<u8> {
    let mut v = vec![0u8; k - n.len()];
    v.extend_from_slice(n);
    match delta {
        -1 => *v.last_mut().unwrap() -= 1, // n is odd: no borrow
        1 => *v.last_mut().unwrap() += 1,  // n is odd: no carry out of the low byte
        _ => {}
    }
    v
}

fn differential(key: &TestKey, msgs_per_alg: usize, rng: &mut Rng, counts: &mut Counts) {
    let n = strip_leading_zeros(&key.n).to_vec();
    let k = key.ours.k;
    for alg in ALGS {
        let (sign, verify) = jwt_simple_pair(alg, &key.der, &key.n, &key.e);
        let mut previous: Option<(String, Vec<u8>)> = None;
        for i in 0..msgs_per_alg {
            let claims = Claims::with_custom_claims(
                serde_json::json!({ "d": rng.string(300), "i": i }),
                Duration::from_hours(1),
            );
            let token = sign(claims);
            let (msg, sig_b64) = token.rsplit_once('.').unwrap();
            let sig = B64.decode(sig_b64).unwrap();
            assert_eq!(sig.len(), k);
            let ctx = format!("{} {alg:?} msg {i}", key.name);

            let ours = alg.ours(&key.ours, msg.as_bytes(), &sig);
            let theirs = verify(&token);
            assert!(
                ours && theirs,
                "{ctx}: valid signature: ours {ours}, jwt-simple {theirs}"
            );
            counts.valid += 1;

            // (label, message, signature) cases that both must reject.
            let mut cases: Vec<(String, String, Vec<u8>)> = Vec::new();
            for _ in 0..3 {
                let bit = rng.below(k * 8);
                let mut s = sig.clone();
                s[bit / 8] ^= 1 << (bit % 8);
                cases.push((format!("flip bit {bit}"), msg.to_string(), s));
            }
            for byte in [0, k - 1] {
                let mut s = sig.clone();
                s[byte] ^= 1 << rng.below(8);
                cases.push((format!("flip in byte {byte}"), msg.to_string(), s));
            }
            cases.push(("truncated".into(), msg.into(), sig[..k - 1].to_vec()));
            cases.push(("first byte dropped".into(), msg.into(), sig[1..].to_vec()));
            cases.push(("extended".into(), msg.into(), [&sig[..], &[0]].concat()));
            cases.push((
                "zero-prefixed".into(),
                msg.into(),
                [&[0], &sig[..]].concat(),
            ));
            cases.push(("empty".into(), msg.into(), Vec::new()));
            cases.push(("s = 0".into(), msg.into(), vec![0; k]));
            let mut one = vec![0; k];
            one[k - 1] = 1;
            cases.push(("s = 1".into(), msg.into(), one));
            cases.push(("s = n - 1".into(), msg.into(), near_modulus(&n, k, -1)));
            cases.push(("s = n".into(), msg.into(), near_modulus(&n, k, 0)));
            cases.push(("s = n + 1".into(), msg.into(), near_modulus(&n, k, 1)));
            cases.push(("s = ff..ff".into(), msg.into(), vec![0xff; k]));
            // Message changes: the signature of one message on another (both well-formed tokens),
            // and raw edits of the signed bytes.
            if let Some((prev_msg, prev_sig)) = &previous {
                cases.push((
                    "other message's signature".into(),
                    msg.into(),
                    prev_sig.clone(),
                ));
                cases.push((
                    "signature on other message".into(),
                    prev_msg.clone(),
                    sig.clone(),
                ));
            }
            let mut altered = msg.as_bytes().to_vec();
            let pos = rng.below(altered.len());
            altered[pos] = if altered[pos] == b'A' { b'B' } else { b'A' };
            cases.push((
                format!("message byte {pos} changed"),
                String::from_utf8(altered).unwrap(),
                sig.clone(),
            ));
            cases.push(("message extended".into(), format!("{msg}A"), sig.clone()));
            cases.push((
                "message truncated".into(),
                msg[..msg.len() - 1].to_string(),
                sig.clone(),
            ));

            for (label, m, s) in &cases {
                let ours = alg.ours(&key.ours, m.as_bytes(), s);
                let theirs = verify(&format!("{m}.{}", B64.encode(s)));
                assert_eq!(
                    ours, theirs,
                    "{ctx}: {label}: ours {ours}, jwt-simple {theirs}"
                );
                assert!(!ours, "{ctx}: {label}: accepted");
                counts.mutated += 1;
            }

            // The valid signature under every other scheme/hash must be rejected.
            for other in ALGS.into_iter().filter(|&o| o != alg) {
                assert!(
                    !other.ours(&key.ours, msg.as_bytes(), &sig),
                    "{ctx}: accepted as {other:?}"
                );
                counts.cross += 1;
            }
            previous = Some((msg.to_string(), sig));
        }
    }
}

fn run_differential(keys: &[TestKey], msgs_per_alg: usize, seed: u64) -> Counts {
    let mut rng = Rng(seed);
    let mut counts = Counts::default();
    for key in keys {
        differential(key, msgs_per_alg, &mut rng, &mut counts);
    }
    println!("differential ({} keys): {counts:?}", keys.len());
    counts
}

/// Debug builds: one key, a couple of messages per algorithm. Release builds: the large variants below.
#[test]
fn differential_small() {
    let counts = run_differential(&[TestKey::fixture("rsa2049_1.pem")], 2, 1);
    assert_eq!(counts.valid, 12);
}

fn fixtures(prefix: &str) -> Vec<TestKey> {
    let dir = format!("{}/tests/rsa_keys", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.starts_with(prefix) && f.ends_with(".pem"))
        .collect();
    files.sort();
    files.iter().map(|f| TestKey::fixture(f)).collect()
}

#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds: run with --release")]
fn differential_2048() {
    // 8 OpenSSL-generated fixture keys, a 2049-bit one (emLen = k − 1 in PSS) and 2 generated by
    // jwt-simple itself.
    let mut keys = fixtures("rsa204");
    keys.extend((0..2).map(|_| TestKey::generated(2048)));
    let counts = run_differential(&keys, 20, 2048);
    assert_eq!(counts.valid, keys.len() * 6 * 20);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds: run with --release")]
fn differential_3072() {
    let mut keys = fixtures("rsa307");
    keys.push(TestKey::generated(3072));
    let counts = run_differential(&keys, 12, 3072);
    assert_eq!(counts.valid, keys.len() * 6 * 12);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds: run with --release")]
fn differential_4096() {
    let keys = fixtures("rsa409");
    let counts = run_differential(&keys, 8, 4096);
    assert_eq!(counts.valid, keys.len() * 6 * 8);
}

#[test]
fn key_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone + core::fmt::Debug>() {}
    assert_send_sync::<RsaPublicKey>();
}

/// RSAVP1 (Montgomery exponentiation) against an independent schoolbook computation — ordinary
/// multiplication and division, 16 squarings and one multiplication for e = 65537 — on random
/// signatures and random odd moduli of every size class, including ones jwt-simple cannot load
/// (up to 8192 bits, non-byte-aligned lengths).
#[test]
fn exponentiation_matches_schoolbook() {
    use dashu_int::UBig;
    let mut rng = Rng(65537);
    let cases = if cfg!(debug_assertions) { 12 } else { 300 };
    for i in 0..cases {
        let bits = match i % 4 {
            0 => 2048,
            1 => 2048 + rng.below(6145),
            2 => 8192,
            _ => 4096 - rng.below(8),
        };
        let mut n = odd_number(bits);
        for b in n.iter_mut().skip(1) {
            *b = rng.next() as u8;
        }
        *n.last_mut().unwrap() |= 1;
        let key = RsaPublicKey::from_components(&n, &[1, 0, 1]).unwrap();
        assert_eq!(key.modulus_bits(), bits);
        let k = key.k;
        let mut sig: Vec<u8> = (0..k).map(|_| rng.next() as u8).collect();
        sig[0] &= n[0] >> 1; // keep s < n
        let got = key.rsavp1(&sig).unwrap();

        let (nn, s) = (UBig::from_be_bytes(&n), UBig::from_be_bytes(&sig));
        let mut m = s.clone();
        for _ in 0..16 {
            m = (&m * &m) % &nn;
        }
        m = (m * &s) % &nn;
        let mut want = vec![0u8; k];
        let m = m.to_be_bytes();
        want[k - m.len()..].copy_from_slice(&m);
        assert_eq!(got, want, "case {i}: {bits}-bit modulus");
    }
}
