//! How the readers after edgeguard spell one name several ways, so that edgeguard can own a name in
//! every spelling.
//!
//! - **Header names**: HTTP compares them case-insensitively, and CGI-style mappings (WSGI, Rack,
//!   PHP, many Go and Node adapters) turn `-` into `_` (`X-Api-Key` and `x_api_key` both become
//!   `HTTP_X_API_KEY`; PHP maps every other non-alphanumeric byte, such as `.`, to `_` too).
//!   [`header_key`] folds all of it: lowercase, every byte other than a letter or digit → `-`.
//! - **Query parameter and cookie names**: frameworks decode them (`%5F`, `+` as space), PHP turns
//!   `.` and spaces into `_` and reads `name[]`/`name[x]` as `name`, ASP.NET compares them
//!   case-insensitively. [`param_key`] folds all of it: percent-decode (`+` as space), lowercase,
//!   `.`, ` ` and `[` → `_`, and a trailing `[...]` dropped.

fn fold_header_byte(b: u8) -> u8 {
    if b.is_ascii_alphanumeric() {
        b.to_ascii_lowercase()
    } else {
        b'-'
    }
}

/// The folded form of a header name: ASCII lowercase, every byte other than a letter or digit → `-`.
pub fn header_key(name: &str) -> String {
    name.bytes()
        .map(|b| char::from(fold_header_byte(b)))
        .collect()
}

/// Whether two header names are the same name for some reader after edgeguard.
pub fn same_header(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| fold_header_byte(x) == fold_header_byte(y))
}

/// The folded form of a query parameter or cookie name (see the module documentation). Bytes that
/// do not decode are kept as they are.
pub fn param_key(name: &str) -> String {
    let mut decoded = percent_decode_lenient(name, true);
    // `name[...]` is read as `name` (an array or a map member) by PHP, Rails and qs.
    if decoded.last() == Some(&b']') {
        if let Some(open) = decoded.iter().position(|&b| b == b'[') {
            decoded.truncate(open);
        }
    }
    decoded
        .iter()
        .map(|&b| match b {
            b'.' | b' ' | b'[' => '_',
            b if b.is_ascii() => char::from(b.to_ascii_lowercase()),
            _ => char::REPLACEMENT_CHARACTER,
        })
        .collect()
}

use crate::request::percent_decode_lenient;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_spellings_fold() {
        assert_eq!(header_key("X_EdgeGuard_Key-ID"), "x-edgeguard-key-id");
        assert!(same_header("x_user_email", "X-User-Email"));
        assert!(same_header("x.edgeguard.key.id", "x-edgeguard-key-id"));
        assert!(!same_header("x-user-email", "x-user-emails"));
    }

    #[test]
    fn param_spellings_fold() {
        for spelling in [
            "api_key",
            "api.key",
            "api+key",
            "api%20key",
            "API_KEY",
            "api_key[]",
            "api_key[0]",
            "api%5Fkey",
            "api%5fkey",
            "Api.Key",
            "api[key",
        ] {
            assert_eq!(param_key(spelling), "api_key", "{spelling}");
        }
        assert_ne!(param_key("apikey"), "api_key");
        assert_ne!(param_key("api-key"), "api_key");
    }
}
