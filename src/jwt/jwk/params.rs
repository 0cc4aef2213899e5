//! The key parameters of each key family, read into verifiers: RSA `n`/`e`, EC `x`/`y`, OKP `x`,
//! oct `k`.
//!
//! Contract: [`parse`] is given a JWK object whose `kty` (and `crv`), `use`, `key_ops` and `alg`
//! [`super`] already checked, and the algorithms it may serve (all of them fitting the key type).
//! It returns one verifier per algorithm the key can verify and the key's public parameters, decoded
//! (for the key set's fingerprint), or why the key is skipped: a short text that never contains key
//! material. The policy is the one [`super`] documents: RSA moduli of 2048..=4096 bits with
//! `e` = 65537; EC coordinates of exactly the curve's length forming a point of the curve (checked
//! by the curve's crate); a canonical Ed25519 point not of small order; oct secrets of at least 256
//! bits, and as long as the hash output for HS384/HS512.

use super::{b64_member, Alg, KeyType, Verifier, MAX_RSA_BITS, MIN_HMAC_BYTES, MIN_RSA_BITS};
use crate::jwt::crypto::eddsa::Ed25519Key;
use crate::jwt::crypto::es256::P256Key;
use crate::jwt::crypto::es512::{self, P521Key};
use crate::jwt::crypto::rsa::RsaPublicKey;
use p384::ecdsa::VerifyingKey as P384Key;
use serde_json::{Map, Value};
use std::rc::Rc;

/// The verifiers of a `kty` key for the algorithms in `wanted`, and its public parameters.
pub(super) fn parse(
    kty: KeyType,
    o: &Map<String, Value>,
    wanted: &[Alg],
) -> Result<(Vec<Verifier>, Vec<Vec<u8>>), String> {
    match kty {
        KeyType::Rsa => rsa(o, wanted),
        KeyType::P256 | KeyType::P384 | KeyType::P521 => ec(kty, o),
        KeyType::Ed25519 => ed25519(o),
        KeyType::Oct => oct(o, wanted),
    }
}

fn invalid(what: &str) -> String {
    format!("invalid {what} key parameters")
}

fn rsa(o: &Map<String, Value>, wanted: &[Alg]) -> Result<(Vec<Verifier>, Vec<Vec<u8>>), String> {
    let n = b64_member(o, "n")?;
    let e = b64_member(o, "e")?;
    let bits = bit_length(&n);
    if bits < MIN_RSA_BITS {
        return Err(format!("RSA modulus shorter than {MIN_RSA_BITS} bits"));
    }
    if bits > MAX_RSA_BITS {
        return Err(format!("RSA modulus longer than {MAX_RSA_BITS} bits"));
    }
    let exponent: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
    if exponent != [1, 0, 1] {
        return Err("RSA public exponent other than 65537".into());
    }
    let key = Rc::new(RsaPublicKey::from_components(&n, &e).map_err(|_| invalid("RSA"))?);
    let verifiers = wanted
        .iter()
        .filter(|a| KeyType::Rsa.algorithms().contains(a))
        .map(|a| Verifier::Rsa(*a, key.clone()))
        .collect();
    Ok((verifiers, vec![n, e]))
}

fn ec(kty: KeyType, o: &Map<String, Value>) -> Result<(Vec<Verifier>, Vec<Vec<u8>>), String> {
    let len = match kty {
        KeyType::P256 => 32,
        KeyType::P384 => 48,
        _ => es512::COORDINATE_BYTES,
    };
    let x = b64_member(o, "x")?;
    let y = b64_member(o, "y")?;
    if x.len() != len || y.len() != len {
        return Err("EC coordinates have the wrong length".into());
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(4u8);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let verifier = match kty {
        KeyType::P256 => Verifier::Es256(Rc::new(
            P256Key::from_sec1_bytes(&point).ok_or_else(|| invalid("EC"))?,
        )),
        KeyType::P384 => Verifier::Es384(Rc::new(
            P384Key::from_sec1_bytes(&point).map_err(|_| invalid("EC"))?,
        )),
        _ => Verifier::Es512(Rc::new(
            P521Key::from_sec1_bytes(&point).ok_or_else(|| invalid("EC"))?,
        )),
    };
    Ok((vec![verifier], vec![x, y]))
}

fn ed25519(o: &Map<String, Value>) -> Result<(Vec<Verifier>, Vec<Vec<u8>>), String> {
    let x = b64_member(o, "x")?;
    if x.len() != 32 {
        return Err("Ed25519 key has the wrong length".into());
    }
    let key = Ed25519Key::from_bytes(&x).map_err(|why| why.to_string())?;
    Ok((vec![Verifier::EdDsa(Rc::new(key))], vec![x]))
}

fn oct(o: &Map<String, Value>, wanted: &[Alg]) -> Result<(Vec<Verifier>, Vec<Vec<u8>>), String> {
    let k = b64_member(o, "k")?;
    if k.len() < MIN_HMAC_BYTES {
        return Err(format!("oct key shorter than {} bits", MIN_HMAC_BYTES * 8));
    }
    let secret = Rc::new(k.clone());
    let mut verifiers = Vec::new();
    for a in wanted {
        let long_enough = match a {
            Alg::HS256 => true,
            Alg::HS384 => k.len() >= 48,
            Alg::HS512 => k.len() >= 64,
            _ => false,
        };
        if long_enough {
            verifiers.push(Verifier::Hmac(*a, secret.clone()));
        }
    }
    if verifiers.is_empty() {
        return Err("oct key shorter than the hash output of its \"alg\"".into());
    }
    Ok((verifiers, vec![k]))
}

fn bit_length(x: &[u8]) -> usize {
    let mut bytes = x.iter().skip_while(|b| **b == 0);
    match bytes.next() {
        None => 0,
        Some(top) => bytes.count() * 8 + (8 - top.leading_zeros() as usize),
    }
}
