//! The request as the core sees it: copied out of the host once, read many times.

/// An HTTP request's head. Header names are compared case-insensitively (the host lowercases them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `:method`
    pub method: String,
    /// `:path` as received, query included.
    pub path: String,
    /// `:authority` (or `host`), port included if the client sent one.
    pub authority: String,
    /// Every header in arrival order, pseudo-headers included. A value that is not UTF-8 is shown
    /// here lossily; its bytes are in `raw`.
    pub headers: Vec<(String, String)>,
    /// `(index into headers, bytes)` of the values that are not UTF-8, so that an edit of such a
    /// header (a cookie strip) keeps every other byte as the client sent it.
    pub raw: Vec<(usize, Vec<u8>)>,
    /// The request has a body (the headers did not end the stream).
    pub has_body: bool,
}

impl Request {
    /// Builds a request from the host's header list as bytes. `end_of_stream`: the headers ended the
    /// stream (no body follows).
    pub fn from_host(headers: Vec<(String, Vec<u8>)>, end_of_stream: bool) -> Self {
        let mut raw = Vec::new();
        let headers = headers
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let v = String::from_utf8(v).unwrap_or_else(|e| {
                    let bytes = e.into_bytes();
                    let lossy = String::from_utf8_lossy(&bytes).into_owned();
                    raw.push((i, bytes));
                    lossy
                });
                (k, v)
            })
            .collect();
        let mut req = Request::from_headers(headers);
        req.raw = raw;
        req.has_body = !end_of_stream;
        req
    }

    /// The bytes of header `i` as the client sent them.
    pub fn value_bytes(&self, i: usize) -> &[u8] {
        if let Some((_, b)) = self.raw.iter().find(|(j, _)| *j == i) {
            return b;
        }
        self.headers.get(i).map_or(&[], |(_, v)| v.as_bytes())
    }

    /// Whether header `name`'s value (any of them) was not UTF-8.
    pub fn is_raw(&self, name: &str) -> bool {
        self.raw.iter().any(|(i, _)| {
            self.headers
                .get(*i)
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case(name))
        })
    }
    /// Builds a request from the host's header list (pseudo-headers `:method`, `:path`, `:authority`).
    pub fn from_headers(headers: Vec<(String, String)>) -> Self {
        let mut req = Request {
            headers,
            ..Default::default()
        };
        req.method = req.header(":method").unwrap_or_default().to_string();
        req.path = req.header(":path").unwrap_or_default().to_string();
        req.authority = req
            .header(":authority")
            .or_else(|| req.header("host"))
            .unwrap_or_default()
            .to_string();
        req
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(p, _)| p)
    }

    /// The raw query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, q)| q)
    }

    /// Every percent-decoded value of query parameter `name` (the name is compared decoded, too).
    pub fn query_values(&self, name: &str) -> Vec<String> {
        let Some(q) = self.query() else {
            return Vec::new();
        };
        q.split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k).as_deref() == Some(name))
                    .then(|| percent_decode(v))
                    .flatten()
            })
            .collect()
    }

    /// Every value of cookie `name` across all `cookie` headers.
    pub fn cookie_values(&self, name: &str) -> Vec<&str> {
        self.header_values("cookie")
            .flat_map(|h| h.split(';'))
            .filter_map(|c| {
                let (k, v) = c.trim().split_once('=')?;
                (k.trim() == name).then(|| v.trim().trim_matches('"'))
            })
            .collect()
    }

    /// A query string without the parameters `drop` selects (given each parameter's raw name). Both
    /// `&` and `;` separate parameters here (some frameworks split on `;`); everything else is kept
    /// byte for byte. `None` when nothing is left.
    pub fn query_without(query: &str, drop: impl Fn(&str) -> bool) -> Option<String> {
        let mut parts: Vec<(&str, &str)> = Vec::new();
        let (mut sep, mut rest) = ("", query);
        loop {
            match rest.find(['&', ';']) {
                Some(i) => {
                    parts.push((sep, rest.get(..i).unwrap_or("")));
                    sep = rest.get(i..=i).unwrap_or("&");
                    rest = rest.get(i + 1..).unwrap_or("");
                }
                None => {
                    parts.push((sep, rest));
                    break;
                }
            }
        }
        let mut out = String::with_capacity(query.len());
        let mut any = false;
        for (sep, part) in parts {
            if drop(part.split_once('=').map_or(part, |(k, _)| k)) {
                continue;
            }
            if any {
                out.push_str(sep);
            }
            out.push_str(part);
            any = true;
        }
        any.then_some(out)
    }

    /// A `cookie` header value without the cookies `drop` selects (given each cookie's name); every
    /// other byte is kept as sent. `None` when nothing is left.
    pub fn cookie_without(value: &[u8], drop: impl Fn(&str) -> bool) -> Option<Vec<u8>> {
        let mut out: Vec<u8> = Vec::with_capacity(value.len());
        for part in value.split(|&b| b == b';') {
            let name_end = part.iter().position(|&b| b == b'=').unwrap_or(part.len());
            let name = String::from_utf8_lossy(part.get(..name_end).unwrap_or(&[]));
            let trimmed = name.trim();
            if trimmed.is_empty() && part.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if drop(trimmed) {
                continue;
            }
            if out.is_empty() {
                let start = part
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(0);
                out.extend_from_slice(part.get(start..).unwrap_or(&[]));
            } else {
                out.push(b';');
                out.extend_from_slice(part);
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// Decodes `%XX` escapes (not `+`). `None` for a broken escape or a result that is not UTF-8: a
/// credential we cannot read unambiguously is treated as absent rather than guessed at.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val)?;
            let lo = bytes.get(i + 2).copied().and_then(hex_val)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes `%XX` escapes the way lenient frameworks do: an escape that is not two hex digits stays
/// as it is, and `+` is a space when `plus_is_space` (query and form names). Never fails.
pub fn percent_decode_lenient(s: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let esc = (b == b'%')
            .then(|| {
                let hi = bytes.get(i + 1).copied().and_then(hex_val)?;
                let lo = bytes.get(i + 2).copied().and_then(hex_val)?;
                Some((hi << 4) | lo)
            })
            .flatten();
        match esc {
            Some(d) => {
                out.push(d);
                i += 3;
            }
            None => {
                out.push(if plus_is_space && b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
    out
}

/// The value of one hex digit.
pub fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, headers: &[(&str, &str)]) -> Request {
        let mut h = vec![
            (":method".into(), "GET".into()),
            (":path".into(), path.into()),
            (":authority".into(), "api.test".into()),
        ];
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Request::from_headers(h)
    }

    #[test]
    fn pseudo_headers() {
        let r = req("/a?b=1", &[]);
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.authority.as_str()),
            ("GET", "/a?b=1", "api.test")
        );
        assert_eq!(r.path_only(), "/a");
    }

    #[test]
    fn query_values_decode() {
        let r = req("/a?x=1&api%5Fkey=a%2Bb&api_key=c&bad=%zz", &[]);
        assert_eq!(r.query_values("api_key"), vec!["a+b", "c"]);
        assert!(r.query_values("bad").is_empty());
        assert!(r.query_values("nope").is_empty());
    }

    #[test]
    fn strip_query_param() {
        let k = |n: &str| n == "k";
        assert_eq!(
            Request::query_without("k=1&x=2&k=3", k).as_deref(),
            Some("x=2")
        );
        assert_eq!(Request::query_without("k=1", k), None);
        assert_eq!(
            Request::query_without("x=1;k=2&y=3", k).as_deref(),
            Some("x=1&y=3")
        );
        assert_eq!(
            Request::query_without("k=2;x=1&y", k).as_deref(),
            Some("x=1&y")
        );
        assert_eq!(
            Request::query_without("a=%zz&&b=+", k).as_deref(),
            Some("a=%zz&&b=+")
        );
        assert_eq!(Request::query_without("x=1&k", k).as_deref(), Some("x=1"));
    }

    #[test]
    fn cookies() {
        let r = req(
            "/",
            &[("cookie", "a=1; at=tok; b=2"), ("cookie", "at=\"q\"")],
        );
        assert_eq!(r.cookie_values("at"), vec!["tok", "q"]);
        let at = |n: &str| n == "at";
        assert_eq!(
            Request::cookie_without(b"a=1; at=tok; b=2", at).as_deref(),
            Some(&b"a=1; b=2"[..])
        );
        assert_eq!(
            Request::cookie_without(b"at=tok;b=\xff\xfe x;c", at).as_deref(),
            Some(&b"b=\xff\xfe x;c"[..])
        );
        assert_eq!(Request::cookie_without(b"at=tok", at), None);
    }
}
