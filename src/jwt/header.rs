//! Step 3 of the check order (see [`super`]): the JOSE header profile of a bearer JWT.
//!
//! Contract: [`check_header`] accepts a header object only when `alg` is a string naming a supported
//! algorithm (never `none`, in any case) that the rules allow, and returns it with the `kid` (a
//! string, if present). Everything else in the header is checked, never used: no extension is
//! implemented (`crit` naming anything, or `b64` other than `true` → `UnsupportedCrit`), `typ` must be
//! `JWT` or `…+jwt`, and `jwk`, `jku`, `x5u`, `x5c`, `x5t`, `x5t#S256`, `cty` are never used to find a
//! key: their shapes are only checked (strings; `x5c` an array of strings), so an embedded `jwk`
//! *object* is `Malformed`, never trusted. jwt-simple's `salt` extension is `Malformed` too.

use super::jwk::Alg;
use super::{JwtError, Rules};
use serde_json::{Map, Value};

/// The token's algorithm and `kid`, or why the header is refused.
pub(super) fn check_header<'a>(
    header: &'a Map<String, Value>,
    rules: &Rules,
) -> Result<(Alg, Option<&'a str>), JwtError> {
    let alg_name = match header.get("alg") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(JwtError::Malformed("alg is not a string")),
        None => return Err(JwtError::Malformed("alg is missing")),
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNotAllowed("alg none is never accepted"));
    }
    let alg = Alg::from_name(alg_name)
        .filter(|a| rules.algorithms.contains(a))
        .ok_or(JwtError::AlgNotAllowed(
            "alg is not allowed for this provider",
        ))?;
    match header.get("crit") {
        None => {}
        Some(Value::Array(names)) if !names.is_empty() && names.iter().all(Value::is_string) => {
            return Err(JwtError::UnsupportedCrit)
        }
        Some(_) => {
            return Err(JwtError::Malformed(
                "crit is not a non-empty array of names",
            ))
        }
    }
    match header.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(_) => return Err(JwtError::UnsupportedCrit),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(JwtError::Malformed("kid is not a string")),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(t))
            if t.eq_ignore_ascii_case("JWT")
                || t.len() > 4
                    && t.get(t.len() - 4..)
                        .is_some_and(|s| s.eq_ignore_ascii_case("+jwt")) => {}
        Some(_) => return Err(JwtError::Malformed("typ is not a JWT type")),
    }
    if header.contains_key("salt") {
        return Err(JwtError::Malformed("salt header is not supported"));
    }
    for name in ["cty", "jku", "jwk", "x5u", "x5t", "x5t#S256"] {
        if header.get(name).is_some_and(|v| !v.is_string()) {
            return Err(JwtError::Malformed(
                "header member has an unsupported type (e.g. an embedded jwk object)",
            ));
        }
    }
    if let Some(x5c) = header.get("x5c") {
        if !x5c
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err(JwtError::Malformed("x5c is not an array of strings"));
        }
    }
    Ok((alg, kid))
}
