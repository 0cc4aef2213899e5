//! The one canonical form of a request path: what rules are matched on **and** what goes upstream.
//!
//! A request is read by edgeguard, then by Envoy's router, then by the upstream's framework. If
//! edgeguard matched rules on a cleaned-up spelling while the others act on the raw one, every
//! difference between the spellings is a way around a rule (`/admin/..;/public` matched as `/public`,
//! routed as `/admin`). So edgeguard defines one canonical spelling in which every later reader sees
//! the same resource, matches rules on it, and makes sure that is the spelling that goes upstream:
//! a path already canonical passes unchanged; any other path is refused (`"non_canonical": "reject"`,
//! the default) or rewritten to its canonical form (`"rewrite"`; the adapter then replaces `:path`,
//! and Envoy re-selects the route).
//!
//! # Canonical form
//! A path (the `:path` without its query) is canonical when:
//! - it starts with `/`;
//! - it has no empty segment (`//`) except a trailing slash, and no `.` or `..` segment;
//! - every byte that may appear raw in a path (RFC 3986 `pchar` minus `;`: letters, digits,
//!   `-._~!$&'()*+,=:@`) appears raw, and every other byte appears as a `%XX` escape with uppercase
//!   hex (`%20`, `%C3%A9`). So decoding is a bijection: two canonical paths are equal exactly when
//!   their decoded bytes are, and a framework that decodes the path sees what the rules saw.
//!
//! # Refused in every mode (`400 bad_path`)
//! Spellings that readers after edgeguard interpret differently, so that no rewrite is safe:
//! - control characters, raw or encoded (`%00`, `%0A`, `%7F`);
//! - backslashes, raw or encoded (`\`, `%5C`): some servers treat them as `/`;
//! - an encoded slash (`%2F`): servers disagree on whether it separates segments;
//! - `;`, raw or encoded (`%3B`): Tomcat/Spring/Jetty cut "matrix parameters" at it, Envoy does not;
//! - an encoded `%` followed by two hex digits (`%252e`): a server that decodes twice reads `%2e`;
//! - invalid escapes (`%`, `%4`, `%G1`), a path not in origin form (`*`, `http://…`), and a `..` that
//!   would climb above the root.
//!
//! # Rewriting (`canonicalize`)
//! Escapes of raw-allowed bytes are decoded (`%61` → `a`, `%2e%2e` → `..`), other escapes uppercased,
//! raw bytes that must be escaped are escaped, then empty and `.` segments are dropped and `..`
//! resolved. A trailing slash is kept (`/a/` stays `/a/`, `/a/.` → `/a/`). Case is kept: case folding
//! is a matter of rule matching (see `matcher`), not of spelling.

use crate::request::hex_val as hex_value;
use std::borrow::Cow;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub &'static str);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// What to do with a path that is not canonical but can be made so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NonCanonical {
    /// `400 bad_path` (the default: nothing is reinterpreted).
    #[default]
    Reject,
    /// Replace `:path` with the canonical form before the request continues.
    Rewrite,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Bytes that appear raw in a canonical path segment: RFC 3986 `pchar` without `;`.
pub fn is_raw_allowed(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    for nibble in [b >> 4, b & 0xf] {
        out.push(char::from(
            HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
        ));
    }
}

/// A decoded byte that no spelling may carry, raw or escaped.
fn refused_byte(b: u8) -> Option<PathError> {
    match b {
        b'\\' => Some(PathError("backslash in path")),
        b';' => Some(PathError("';' (matrix parameter) in path")),
        b if is_control(b) => Some(PathError("control character in path")),
        _ => None,
    }
}

/// One pass over the bytes: refuses what is refused in every mode and produces the canonical
/// spelling of each byte (segments still unresolved).
fn canonical_chars(path: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(path.len() + 8);
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError("invalid percent-escape"));
            };
            let d = (hi << 4) | lo;
            if d == b'/' {
                return Err(PathError("encoded '/' in path"));
            }
            if let Some(e) = refused_byte(d) {
                return Err(e);
            }
            if is_raw_allowed(d) {
                out.push(char::from(d));
            } else {
                push_escaped(&mut out, d);
            }
            i += 3;
            continue;
        }
        if let Some(e) = refused_byte(b) {
            return Err(e);
        }
        if b == b'/' || is_raw_allowed(b) {
            out.push(char::from(b));
        } else {
            push_escaped(&mut out, b);
        }
        i += 1;
    }
    // Checked on the output, which is what every later reader sees: `%25` followed by two hex
    // digits is an escape to a server that decodes twice.
    let o = out.as_bytes();
    let double = o.windows(5).any(|w| {
        w.starts_with(b"%25")
            && w.get(3).copied().and_then(hex_value).is_some()
            && w.get(4).copied().and_then(hex_value).is_some()
    });
    if double {
        return Err(PathError("double-encoded escape in path"));
    }
    Ok(out)
}

/// The canonical form of `path` (query already removed): borrowed when `path` is already canonical.
/// See the module documentation for the form and for what is refused.
pub fn canonicalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError("path must start with '/'"));
    }
    if is_plainly_canonical(path) {
        return Ok(Cow::Borrowed(path));
    }
    let canon = canonical_chars(path)?;
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    // `canon` starts with '/', so the first split item is the empty string before it.
    for seg in canon.split('/').skip(1) {
        trailing_slash = false;
        match seg {
            "" | "." => trailing_slash = true,
            ".." => {
                if stack.pop().is_none() {
                    return Err(PathError("'..' above the root"));
                }
                trailing_slash = true;
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(canon.len());
    for s in &stack {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(if out == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(out)
    })
}

/// The common case without allocating: only raw-allowed bytes and `/`, no escape, and no empty,
/// `.` or `..` segment (a trailing slash is fine).
fn is_plainly_canonical(path: &str) -> bool {
    let b = path.as_bytes();
    if !b.iter().all(|&c| c == b'/' || is_raw_allowed(c)) {
        return false;
    }
    if path == "/" {
        return true;
    }
    let inner = path.get(1..).unwrap_or("");
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    !inner.is_empty()
        && inner
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Whether `path` is already in canonical form.
pub fn is_canonical(path: &str) -> bool {
    matches!(canonicalize(path), Ok(Cow::Borrowed(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(p: &str) -> Result<String, PathError> {
        canonicalize(p).map(Cow::into_owned)
    }

    #[test]
    fn canonical_paths_pass_unchanged() {
        for p in [
            "/",
            "/orders",
            "/orders/",
            "/orders/1",
            "/a:b@c!$&'()*+,=",
            "/caf%C3%A9",
            "/a%20b",
            "/%25",
            "/%25x",
            "/%7Bx%7D",
            "/ADMIN",
            "/a/.../b",
            "/a/.x/..y",
        ] {
            assert!(
                matches!(canonicalize(p), Ok(Cow::Borrowed(_))),
                "{p}: {:?}",
                canonicalize(p)
            );
        }
    }

    #[test]
    fn rewrite_table() {
        let ok: &[(&str, &str)] = &[
            ("/admin/../orders", "/orders"),
            ("/./admin", "/admin"),
            ("/a/./b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/a/..", "/"),
            ("/orders/%2e%2e/admin", "/admin"),
            ("/orders/%2E%2E/admin", "/admin"),
            ("/orders/.%2e/admin", "/admin"),
            ("/orders/%2e/admin", "/orders/admin"),
            ("//admin", "/admin"),
            ("/a//b///c", "/a/b/c"),
            ("/a//", "/a/"),
            ("//", "/"),
            ("/%61dmin", "/admin"),
            ("/%41DMIN", "/ADMIN"),
            ("/%7e%2D%5f", "/~-_"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/%21%3a%40", "/!:@"),
            ("/a b", "/a%20b"),
            ("/café", "/caf%C3%A9"),
            ("/{x}", "/%7Bx%7D"),
            ("/a|b^c`[]\"<>", "/a%7Cb%5Ec%60%5B%5D%22%3C%3E"),
            ("/Admin/%61", "/Admin/a"),
        ];
        for (input, want) in ok {
            assert_eq!(canon(input).as_deref(), Ok(*want), "{input}");
        }
    }

    #[test]
    fn refused_paths() {
        let bad: &[&str] = &[
            "",
            "admin",
            "*",
            "http://x/admin",
            "/..",
            "/../admin",
            "/a/../..",
            "/%2e%2e/admin",
            "/admin%2f..",
            "/admin%2F..",
            "/admin%5c..",
            "/admin\\..",
            "/a%00",
            "/a\0",
            "/a%0a",
            "/a\r\nX: y",
            "/a\t",
            "/a%7f",
            "/a%",
            "/a%4",
            "/a%g1",
            "/a%%41",
            "/admin;jsessionid=1",
            "/public/..;/admin",
            "/public/..%3b/admin",
            "/public/..%3B/admin",
            "/;x/admin",
            "/%252e%252e/admin",
            "/a%2541",
        ];
        for input in bad {
            assert!(canonicalize(input).is_err(), "{input:?} should be refused");
        }
    }

    use crate::test_support::Rng;

    const PIECES: &[&str] = &[
        "/", "/", "/", "a", "admin", "public", "ADMIN", ".", "..", "%2e", "%2E", "%2e%2e", ";",
        "%3b", "%3B", "%2f", "%5c", "\\", "%61", "%41", "%25", "%2541", "%", "%zz", "é", "%c3%a9",
        " ", "%20", "~", "%7e", "!", "%21", ":", "@", "+", "%2B", "?", "#", "%00", "\t", "{", "|",
    ];

    /// What an upstream framework sees: the percent-decoded bytes.
    fn decode(p: &str) -> Vec<u8> {
        crate::request::percent_decode_lenient(p, false)
    }

    /// A reference RFC 3986 normalization as Envoy's `normalize_path` + `merge_slashes` apply it
    /// (decode unreserved escapes, uppercase the others, merge slashes, remove dot segments).
    fn envoy_normalize(p: &str) -> String {
        let b = p.as_bytes();
        let mut s = String::new();
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            if c == b'%' {
                if let (Some(hi), Some(lo)) = (
                    b.get(i + 1).copied().and_then(hex_value),
                    b.get(i + 2).copied().and_then(hex_value),
                ) {
                    let d = (hi << 4) | lo;
                    if is_unreserved(d) {
                        s.push(char::from(d));
                    } else {
                        push_escaped(&mut s, d);
                    }
                    i += 3;
                    continue;
                }
            }
            s.push(char::from(c));
            i += 1;
        }
        let mut out: Vec<&str> = Vec::new();
        let segs: Vec<&str> = s.split('/').skip(1).collect();
        let last = segs.len().saturating_sub(1);
        for (n, seg) in segs.iter().enumerate() {
            match *seg {
                "." => {}
                ".." => {
                    out.pop();
                }
                "" if n != last => {}
                x => out.push(x),
            }
        }
        format!("/{}", out.join("/"))
    }

    /// The property the whole module exists for: for random paths, whenever edgeguard lets a path
    /// through (as is, or rewritten), the path that goes upstream is canonical, Envoy's own
    /// normalization leaves it unchanged, and a decoding framework reads exactly the bytes the rules
    /// were matched on (no dot segment, no empty segment, no `;`, no `\`).
    #[test]
    fn property_forwarded_path_is_read_the_same_by_everyone() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut passed = 0;
        for _ in 0..50_000 {
            let n = 1 + rng.next() % 8;
            let mut p = String::from("/");
            for _ in 0..n {
                p.push_str(rng.pick(PIECES));
            }
            let Ok(fwd) = canonicalize(&p) else { continue };
            passed += 1;
            let fwd = fwd.into_owned();
            assert_eq!(canon(&fwd).as_deref(), Ok(fwd.as_str()), "idempotent: {p}");
            assert_eq!(envoy_normalize(&fwd), fwd, "Envoy changes {fwd} (from {p})");
            let decoded = decode(&fwd);
            assert!(
                !decoded.contains(&b';') && !decoded.contains(&b'\\'),
                "{fwd}"
            );
            let text = String::from_utf8_lossy(&decoded);
            let segs: Vec<&str> = text.split('/').skip(1).collect();
            let last = segs.len().saturating_sub(1);
            for (i, s) in segs.iter().enumerate() {
                assert!(*s != "." && *s != "..", "dot segment in {fwd}");
                assert!(!s.is_empty() || i == last, "empty segment in {fwd}");
            }
            // Decoding is a bijection on canonical paths: re-encoding what the upstream read gives
            // back the forwarded spelling, so the rule matched on `fwd` is the rule for the upstream.
            let mut reencoded = String::new();
            for &b in &decoded {
                if b == b'/' || is_raw_allowed(b) {
                    reencoded.push(char::from(b));
                } else {
                    push_escaped(&mut reencoded, b);
                }
            }
            assert_eq!(reencoded, fwd);
        }
        assert!(passed > 1000, "the generator should produce passable paths");
    }
}
