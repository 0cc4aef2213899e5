//! Path normalization before rule matching.
//!
//! Rules are matched against a canonical form of the request path so that different spellings of the
//! same resource cannot pick a weaker rule (`/public/../admin`, `//admin`, `/%61dmin`, ...). The
//! normalized path is used **only for matching**: the request goes upstream unchanged.
//!
//! `normalize` takes the `:path` without its query and applies, in order:
//!
//! 1. The path must start with `/` (origin form); otherwise it is refused.
//! 2. Refused outright (fail closed, the request gets `400 bad_path`):
//!    - control characters (`0x00`-`0x1F`, `0x7F`), raw or percent-encoded (`%00`, `%0A`, ...);
//!    - backslashes, raw or encoded (`\`, `%5C`): some servers treat them as `/`;
//!    - an encoded slash (`%2F`, `%2f`): servers disagree on whether it separates segments;
//!    - invalid escapes (`%`, `%4`, `%G1`);
//!    - a `..` segment that would climb above the root (`/..`, `/a/../..`).
//! 3. Percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (`/%61dmin` →
//!    `/admin`, `%2e%2e` → `..`); every other escape is kept with uppercase hex (`%c3%a9` → `%C3%A9`).
//!    Characters that may not appear raw in a path (space, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`,
//!    `[`, `]`, `#` and non-ASCII bytes) are percent-encoded, so the raw and the encoded spelling compare
//!    equal. `%25` (an encoded `%`) is *not* decoded twice.
//! 4. Matrix parameters are removed: in every segment, everything from the first `;` (raw or `%3B`) is
//!    dropped (`/admin;jsessionid=1` → `/admin`, `/public/..;/admin` → `/admin`). Servers such as Tomcat
//!    ignore them, and matching the path without them closes the classic `..;` bypass.
//! 5. Empty segments are collapsed (`//admin` → `/admin`), `.` segments removed and `..` segments
//!    resolved (`/admin/../orders` → `/orders`), after decoding and matrix-parameter removal.
//! 6. A trailing slash is kept (`/orders/` stays `/orders/`; `/orders/.` → `/orders/`).
//!
//! Case is preserved: `/ADMIN` and `/admin` are different paths.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub &'static str);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters allowed raw in a path besides unreserved ones: sub-delims, `:`, `@` (RFC 3986 `pchar`).
fn is_raw_allowed(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    out.push(char::from(
        HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
    ));
    out.push(char::from(
        HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'),
    ));
}

/// Step 2-3: one pass over the bytes producing an ASCII string where `/` only appears as a separator,
/// `;` marks matrix parameters and every other byte is either a safe literal or an uppercase escape.
fn canonical_chars(path: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = bytes.next().and_then(hex_value);
                let lo = bytes.next().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathError("invalid percent-escape"));
                };
                let d = (hi << 4) | lo;
                if d == b'/' {
                    return Err(PathError("encoded '/' in path"));
                }
                if d == b'\\' {
                    return Err(PathError("encoded '\\' in path"));
                }
                if is_control(d) {
                    return Err(PathError("encoded control character in path"));
                }
                if is_unreserved(d) || d == b';' {
                    out.push(char::from(d));
                } else {
                    push_escaped(&mut out, d);
                }
            }
            b'\\' => return Err(PathError("backslash in path")),
            b if is_control(b) => return Err(PathError("control character in path")),
            b'/' => out.push('/'),
            b if is_raw_allowed(b) => out.push(char::from(b)),
            b => push_escaped(&mut out, b),
        }
    }
    Ok(out)
}

/// Normalizes a request path (query already removed) for matching. See the module documentation.
pub fn normalize(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError("path must start with '/'"));
    }
    let canon = canonical_chars(path)?;
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    // `canon` starts with '/', so the first split item is the empty string before it.
    for raw in canon.split('/').skip(1) {
        let seg = raw.split(';').next().unwrap_or("");
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
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_table() {
        let ok: &[(&str, &str)] = &[
            ("/", "/"),
            ("/orders", "/orders"),
            ("/orders/", "/orders/"),
            ("/orders/1", "/orders/1"),
            // dot segments
            ("/admin/../orders", "/orders"),
            ("/./admin", "/admin"),
            ("/a/./b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/a/..", "/"),
            ("/orders/%2e%2e/admin", "/admin"),
            ("/orders/%2E%2E/admin", "/admin"),
            ("/orders/.%2e/admin", "/admin"),
            ("/orders/%2e/admin", "/orders/admin"),
            // repeated slashes
            ("//admin", "/admin"),
            ("/a//b///c", "/a/b/c"),
            ("/a//", "/a/"),
            ("//", "/"),
            // unreserved decoding, other escapes uppercased
            ("/%61dmin", "/admin"),
            ("/%41DMIN", "/ADMIN"),
            ("/%7e%2D%5f", "/~-_"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/%25", "/%25"),
            ("/%252e%252e/admin", "/%252e%252e/admin"),
            // raw characters that need encoding compare equal to their escapes
            ("/a b", "/a%20b"),
            ("/café", "/caf%C3%A9"),
            ("/{x}", "/%7Bx%7D"),
            // case is preserved
            ("/ADMIN", "/ADMIN"),
            ("/Admin/%61", "/Admin/a"),
            // matrix parameters
            ("/admin;jsessionid=1", "/admin"),
            ("/public/..;/admin", "/admin"),
            ("/public/..%3b/admin", "/admin"),
            ("/public;x/../admin", "/admin"),
            ("/;x/admin", "/admin"),
            ("/a;b/c;d", "/a/c"),
            // sub-delims stay raw
            ("/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="),
            ("/%21", "/%21"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize(input).as_deref(), Ok(*want), "{input}");
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
        ];
        for input in bad {
            assert!(normalize(input).is_err(), "{input:?} should be refused");
        }
    }

    #[test]
    fn normalization_is_idempotent() {
        for p in ["/a/../b//c/%2e/d;x", "/caf%c3%a9/%61", "/x y/", "/%252e"] {
            let once = normalize(p).unwrap_or_default();
            assert_eq!(normalize(&once).as_deref(), Ok(once.as_str()), "{p}");
        }
    }
}
