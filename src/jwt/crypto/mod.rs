//! Signature primitives, one file per key family: each takes a public key parsed once (when the key
//! set is read) and answers `true` only for a valid signature over the signing input, on raw bytes.
//!
//! Contract: no JOSE knowledge here (no token, header, claims or JWK parsing: that is [`super`] and
//! [`super::jwk`]); no input can make a check panic (malformed input is `false`, or an error when a
//! key is built); only public data is processed. ES384 and HMAC need no file of their own: they are
//! single calls into `p384` and hmac-sha256/512, made by the verifier.
//!
//! - [`rsa`]: RS256/384/512 and PS256/384/512 on edgeguard's own 32-bit Montgomery arithmetic;
//! - [`es256`]: ES256 with precomputed tables over `p256`'s arithmetic;
//! - [`es512`]: ES512 by the `p521` crate;
//! - [`eddsa`]: EdDSA (Ed25519) by `ed25519-dalek`.

pub mod eddsa;
pub mod es256;
pub mod es512;
pub mod rsa;
