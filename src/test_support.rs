//! Helpers shared by the unit tests (compiled for tests only).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

/// Decodes a hex string (test vectors; panics on bad input).
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
